"""Loading a model as TF Serving would, with a tag set the model lacks explained in our terms.

The replica says what TF Serving says when no MetaGraph has the tag set it
loads: pass another --saved_model_tags. A tfx-warmup user sets `tag_set`
instead; and the usual cause in TFX is not a tag at all but the wrong export: a
Trainer writes the model TF Serving serves to Format-Serving/ and the
EvalSavedModel TFMA reads (tag set 'eval') to Format-TFMA/. So a load that fails
on the tag set is said again here, naming `tag_set` and, for an EvalSavedModel,
the Format-Serving export to use. Only a failed load reads the tag sets: a good
one costs nothing more.
"""

import contextlib
from typing import Iterator, List, Optional, Sequence

import tensorflow as tf
from tensorflow.python.saved_model import loader_impl
from tfx.utils import path_constants

from tfx_warmup import serving

# The tag set TFMA's EvalSavedModel is exported with (tensorflow_model_analysis's EVAL_TAG).
EVAL_TAG = 'eval'
_TFMA_DIR = 'Format-TFMA'


def load(model_dir: str, tags: Sequence[str] = ('serve',),
         batching: Optional[serving.BatchingConfig] = None) -> serving.Servable:
  """`serving.load`, with a missing tag set explained (see `tag_sets_explained`)."""
  with tag_sets_explained(model_dir, tags):
    return serving.load(model_dir, tags, batching=batching)


@contextlib.contextmanager
def tag_sets_explained(model_dir: Optional[str],
                       tags: Sequence[str] = ('serve',)) -> Iterator[None]:
  """Re-raises a LoadError on a tag set `model_dir` lacks as one in tfx-warmup's terms."""
  try:
    yield
  except serving.LoadError as e:
    message = missing_tag_set(model_dir, tags) if model_dir else None
    if message is None:
      raise
    raise serving.LoadError(message) from e


def missing_tag_set(model_dir: str, tags: Sequence[str]) -> Optional[str]:
  """Why `model_dir` cannot be loaded with `tags`, and the fix; None if it has that tag set."""
  available = _tag_sets(model_dir)
  if available is None or sorted(set(tags)) in available:
    return None
  said = (f'The SavedModel at {model_dir} has no MetaGraph with the tag set '
          f'{sorted(set(tags))} TF Serving would load; it has {available}. ')
  if all(EVAL_TAG in tag_set for tag_set in available):
    serving_export = _serving_export_beside(model_dir)
    return said + (
        "It is an EvalSavedModel, exported for TFMA (a Trainer's Format-TFMA/), which TF "
        'Serving does not serve: warm the model exported for serving, '
        + (f'{serving_export}, ' if serving_export else '')
        + f"the Trainer's {path_constants.SERVING_MODEL_DIR}/ (or the Model artifact holding "
        f"it), rather than setting tag_set to {EVAL_TAG!r}.")
  return said + ('Set tag_set to one of those (the tags TF Serving is started with), or '
                 "export the model with the 'serve' tag.")


def _tag_sets(model_dir: str) -> Optional[List[List[str]]]:
  """The sorted tag sets of the SavedModel's MetaGraphs; None if it cannot be read."""
  try:
    saved_model = loader_impl.parse_saved_model(model_dir)
  except (IOError, OSError, tf.errors.OpError):
    return None
  return [sorted(m.meta_info_def.tags) for m in saved_model.meta_graphs]


def _serving_export_beside(model_dir: str) -> Optional[str]:
  """For a model under a Trainer's Format-TFMA/, the Format-Serving/ beside it, if present."""
  parts = model_dir.rstrip('/').split('/')
  if _TFMA_DIR not in parts:
    return None
  index = len(parts) - 1 - parts[::-1].index(_TFMA_DIR)
  beside = '/'.join(parts[:index] + [path_constants.SERVING_MODEL_DIR])
  return beside if tf.io.gfile.isdir(beside) else None

