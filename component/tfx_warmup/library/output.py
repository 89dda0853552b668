"""Writes the warmed model into a staging directory and moves it into place only when complete.

Everything (the SavedModel copy, its warmup file, the report) is built in a
temporary directory beside the target; on success it is moved into place in
one step, on any failure it is removed. A failed run never leaves a
half-written model for Pusher, or for a user's --output.
"""

import contextlib
import dataclasses
import os
import re
import uuid
from typing import Iterator, Optional, Sequence

import tensorflow as tf
from absl import logging
from tensorflow_serving.apis import prediction_log_pb2
from tfx.dsl.io import fileio
from tfx.utils import io_utils
from tfx.utils import path_constants

from tfx_warmup.errors import OutputError
from tfx_warmup.report.model import WarmupReport
from tfx_warmup.serving import warmup_file
from tfx_warmup.serving.contract import warmup_file_path

REPORT_FILE = 'warmup_report.json'


@dataclasses.dataclass(frozen=True)
class Layout:
  """How a warmed model is laid out in its output directory: the caller's choice, not a guess.

  `model_subdir` is where the SavedModel goes ('' : the output directory is the
  SavedModel). `files_beside`: the report (`warmup_report.json`) and, with a swap
  measured, the recommended platform config and its plot are written beside the
  SavedModel; only a layout with a subdirectory has room for them, since nothing
  may go inside the SavedModel a Pusher or TF Serving copies whole.
  """
  name: str
  model_subdir: str = ''
  files_beside: bool = False

  def __post_init__(self):
    if self.files_beside and not self.model_subdir:
      raise ValueError(f'Layout {self.name!r}: files beside the SavedModel need a '
                       'model_subdir, or they would be written inside it.')

  def model_dir(self, output_dir: str) -> str:
    """Where the SavedModel goes in `output_dir`."""
    return os.path.join(output_dir, self.model_subdir) if self.model_subdir else output_dir


# A plain directory: the output directory is the warmed SavedModel, and nothing else.
SAVED_MODEL = Layout('SavedModel directory')
# TFX's Model artifact, as Trainer writes it and Pusher reads it: the SavedModel in
# Format-Serving/, the report (and the swap's config and plot) beside it.
MODEL_ARTIFACT = Layout('Model artifact', path_constants.SERVING_MODEL_DIR, files_beside=True)


@dataclasses.dataclass(frozen=True)
class StagedOutput:
  """The staging directory (the SavedModel at its `model_subdir`), and a scratch one beside it.

  `scratch_dir` holds working files (the sample Beam hands back) that are never
  moved into place.
  """
  root: str
  model_subdir: str = ''
  scratch_dir: str = ''

  @property
  def model_dir(self) -> str:
    """Where the SavedModel copy goes."""
    return os.path.join(self.root, self.model_subdir) if self.model_subdir else self.root

  def write_model(self, source_model_dir: str,
                  records: Optional[Sequence[prediction_log_pb2.PredictionLog]]) -> None:
    """Copies the SavedModel and writes `records` as its warmup file.

    `records` None keeps the source's own warmup file byte for byte
    (existing_warmup='keep'); otherwise the source's file is not copied.
    """
    existing = warmup_file_path(source_model_dir)
    try:
      io_utils.copy_dir(source_model_dir, self.model_dir, deny_regex_patterns=(
          [] if records is None else [re.escape(existing) + '$']))
      if records is not None:
        warmup_file.write_warmup_file(warmup_file_path(self.model_dir), records)
    except (OSError, tf.errors.OpError) as e:
      raise _unwritable(self.root, e) from e

  def write_report(self, report: WarmupReport) -> None:
    with fileio.open(os.path.join(self.root, REPORT_FILE), 'w') as f:
      f.write(report.to_json())


@contextlib.contextmanager
def staged_output(target: str, model_subdir: str = '') -> Iterator[StagedOutput]:
  """Yields a staging area for `target`; commits it there on success, removes it on failure.

  The staging directory is a sibling of `target`, so committing is one
  directory move; if the body raises, `target` is left as it was.
  """
  staged = StagedOutput(sibling(target, 'incomplete'), model_subdir,
                        sibling(target, 'scratch'))
  try:
    try:
      fileio.makedirs(staged.scratch_dir)
    except (OSError, tf.errors.OpError) as e:
      raise _unwritable(target, e) from e
    yield staged
    fileio.rmtree(staged.scratch_dir)
    commit(staged.root, target)
  finally:
    for directory in (staged.scratch_dir, staged.root):
      if fileio.exists(directory):
        fileio.rmtree(directory)


def _unwritable(where: str, error: Exception) -> OutputError:
  return OutputError(f'Cannot write the warmed model beside {where}: '
                     f'{type(error).__name__}: {error}. Check that the location exists, is a '
                     'directory you can write to, and has space.')


def commit(staged_dir: str, target: str) -> None:
  """Moves `staged_dir` to `target`, replacing what is there.

  A previous `target` (TFX hands executors an empty one) is first moved aside,
  so an interruption leaves either the old contents, or nothing, at `target`.
  """
  previous = None
  if fileio.exists(target):
    previous = sibling(target, 'replaced')
    fileio.rename(target, previous)
  fileio.rename(staged_dir, target)
  if previous:
    fileio.rmtree(previous)


def sibling(path: str, label: str) -> str:
  return f'{path.rstrip("/")}.{label}-{uuid.uuid4().hex[:8]}'


def warn_replaced(source_model_dir: str) -> None:
  """Logs that the input model's own warmup file is not carried over."""
  existing = warmup_file_path(source_model_dir)
  if fileio.exists(existing):
    logging.warning('The input model already has a warmup file (%s); it is replaced by the '
                    'one tfx-warmup builds.', existing)


def report_beside(model_dir: str) -> Optional[WarmupReport]:
  """The report a Model artifact holds beside the SavedModel at `model_dir`, if any.

  None as well for a report of another schema version, whose figures are not read.
  """
  path = os.path.join(os.path.dirname(model_dir.rstrip('/')), REPORT_FILE)
  if not fileio.exists(path):
    return None
  try:
    with fileio.open(path) as f:
      return WarmupReport.from_json(f.read())
  except ValueError:
    return None
