"""Finds the SavedModel TF Serving would serve from a path, in every layout TFX or users leave.

TF Serving serves the highest numbered version under a base path; TFX's Trainer
writes a Model artifact (Format-Serving/, or the older Estimator export/ layout);
users point at a SavedModel directly. One resolver serves every entry point.
"""

import dataclasses
import errno
import os
from typing import List, Optional, Tuple

import tensorflow as tf

from tfx_warmup.serving.contract import warmup_file_path
from tfx_warmup.serving.errors import ModelError

# A Model artifact's serving directory: Format-Serving, or serving_model_dir (TFX < 0.23).
_ARTIFACT_DIRS = ('Format-Serving', 'serving_model_dir')
_ESTIMATOR_EXPORT = 'export'
MODEL_FORMS = ('a SavedModel directory (holding saved_model.pb), a Model artifact (holding '
               'Format-Serving/), an Estimator export (export/<name>/<timestamp>/), or a '
               'directory of numbered versions (the highest is served, as TF Serving does)')


@dataclasses.dataclass(frozen=True)
class ModelPath:
  """The SavedModel directory a user's path leads to, and the form it was recognised as."""
  saved_model_dir: str
  form: str


def resolve_model(path: str) -> ModelPath:
  """The SavedModel TF Serving would serve from `path`, in any layout TFX or users leave.

  The one resolver of the executor and every command: a SavedModel directory; a
  Model artifact (Format-Serving/, holding a SavedModel or the old Estimator
  export/<name>/<timestamp>/ layout, as tfx.utils.path_utils.serving_model_path
  reads it); that export layout itself (export/, export/<name>); or any directory
  of numbered versions, where the highest wins as in TF Serving.
  """
  path = path.rstrip('/') or '/'
  if not tf.io.gfile.exists(path):
    raise ModelError(f'No model at {path}. Pass {MODEL_FORMS}.')
  if not tf.io.gfile.isdir(path):
    raise ModelError(f'{path} is a file, not a model directory. Pass {MODEL_FORMS}.')
  if _is_saved_model(path):
    return ModelPath(path, 'SavedModel directory')
  for name in _ARTIFACT_DIRS:
    serving = f'{path}/{name}'
    if tf.io.gfile.isdir(serving):
      if _is_saved_model(serving):
        return ModelPath(serving, 'Model artifact')
      if tf.io.gfile.isdir(f'{serving}/{_ESTIMATOR_EXPORT}'):
        return ModelPath(_estimator_export(f'{serving}/{_ESTIMATOR_EXPORT}'),
                         'Model artifact (Estimator export)')
      raise ModelError(f'{path} is a Model artifact, but its {name}/ holds neither a '
                       f'SavedModel nor an Estimator {_ESTIMATOR_EXPORT}/ directory. Was '
                       'the Trainer run to completion?')
  if path.rsplit('/', 1)[-1] == _ESTIMATOR_EXPORT:
    return ModelPath(_estimator_export(path), 'Estimator export')
  if tf.io.gfile.isdir(f'{path}/{_ESTIMATOR_EXPORT}'):
    return ModelPath(_estimator_export(f'{path}/{_ESTIMATOR_EXPORT}'), 'Estimator export')
  versions = _versions(path)
  if versions:
    parent = path.rsplit('/', 2)[-2] if path.count('/') >= 1 else ''
    return ModelPath(versions[-1], 'Estimator export' if parent == _ESTIMATOR_EXPORT
                     else 'directory of numbered versions')
  raise ModelError(f'{path} is a directory but not a model: no saved_model.pb in it or in '
                   f'any layout tfx-warmup knows. Pass {MODEL_FORMS}.')


def _is_saved_model(path: str) -> bool:
  return any(tf.io.gfile.exists(f'{path}/{name}') for name in (
      tf.saved_model.SAVED_MODEL_FILENAME_PB, tf.saved_model.SAVED_MODEL_FILENAME_PBTXT))


def _subdirs(path: str) -> List[str]:
  """The directories in `path` (on GCS listed with a trailing '/'; elsewhere checked)."""
  try:
    entries = tf.io.gfile.listdir(path)
  except tf.errors.NotFoundError as e:  # Removed since it was found: an OSError, as open's.
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path) from e
  return sorted(e.rstrip('/') for e in entries
                if e.endswith('/') or tf.io.gfile.isdir(f'{path}/{e}'))


def _versions(path: str) -> List[str]:
  """The numbered SavedModel directories under `path`, lowest version first."""
  numbered = sorted((int(d), d) for d in _subdirs(path) if d.isdigit())
  return [f'{path}/{d}' for _, d in numbered if _is_saved_model(f'{path}/{d}')]


def _estimator_export(export_dir: str) -> str:
  """The newest export/<name>/<timestamp>/ SavedModel (Estimator exporters keep several)."""
  names = _subdirs(export_dir)
  if len(names) != 1:
    raise ModelError(
        f'{export_dir} holds {len(names)} exporters ({names}), not one. Pass the one '
        f'TF Serving should serve: {export_dir}/<name>.')
  versions = _versions(f'{export_dir}/{names[0]}')
  if not versions:
    raise ModelError(f'{export_dir}/{names[0]} holds no <timestamp>/saved_model.pb: the '
                     'Estimator export is incomplete. Re-run the Trainer.')
  return versions[-1]


def resolve_warmup_file(path: str) -> Tuple[str, Optional[str]]:
  """(warmup file, SavedModel dir or None) for a warmup file, or a model in any accepted form."""
  if tf.io.gfile.isdir(path):
    model_dir = resolve_model(path).saved_model_dir
    return warmup_file_path(model_dir), model_dir
  if not tf.io.gfile.exists(path):
    raise ModelError(f'No warmup file or model at {path}. Pass a warmup file, or '
                     f'{MODEL_FORMS}.')
  return path, None
