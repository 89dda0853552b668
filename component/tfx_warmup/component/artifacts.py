"""TFX artifacts in the library's terms: a Model's SavedModel, an Examples artifact's files.

The one place that reads artifacts, so nothing under `tfx_warmup.library`
knows them: the executor turns its inputs into paths here, then calls the
library as any user would.
"""

import os

from absl import logging
from tfx import types
from tfx.components.util import examples_utils
from tfx.types import artifact_utils

from tfx_warmup import compat
from tfx_warmup.data.examples import ExamplesSource
from tfx_warmup.serving import model_paths


def saved_model_dir(model: types.Artifact) -> str:
  """The SavedModel in a Model artifact: Trainer's layouts, or a bare SavedModel at its URI."""
  found = model_paths.resolve_model(model.uri)
  logging.info('Model: %s (%s).', found.saved_model_dir, found.form)
  return found.saved_model_dir


def examples_source(examples: types.Artifact) -> ExamplesSource:
  """The files of each split of an Examples artifact, as TFX's own readers find them."""
  patterns = compat.custom_split_patterns(examples)
  splits = (list(patterns) if patterns is not None
            else artifact_utils.decode_split_names(examples.split_names))
  return ExamplesSource(
      examples.uri, {split: compat.split_file_pattern(examples, split) for split in splits},
      payload_format=examples_utils.get_payload_format(examples), form='Examples artifact')


def traffic_logs(traffic: types.Artifact) -> str:
  """The files of a traffic artifact (InferenceResult: prediction_logs-*.gz), as a glob."""
  return os.path.join(traffic.uri, '*')
