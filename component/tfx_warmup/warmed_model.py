"""Stages the output artifact and moves it into place only when complete.

Everything (the SavedModel copy, the report) is built in a temporary directory
beside the artifact's directory; on success it is moved into place in one step,
on any failure it is removed. A failed run never leaves a half-written model for
Pusher.
"""

import contextlib
import dataclasses
import json
import os
import re
import uuid
from typing import Any, Dict, Iterator

import tensorflow as tf
from absl import logging
from tfx.dsl.io import fileio
from tfx.utils import io_utils
from tfx.utils import path_utils

from tfx_warmup import warmup_file
from tfx_warmup.errors import OutputError

REPORT_FILE = 'warmup_report.json'
_SCRATCH = '.scratch'


@dataclasses.dataclass(frozen=True)
class StagedOutput:
  """Paths inside the staging directory."""
  root: str

  @property
  def model_dir(self) -> str:
    """Where the SavedModel copy goes (Format-Serving, so Pusher finds it)."""
    return path_utils.serving_model_dir(self.root)

  @property
  def scratch_dir(self) -> str:
    """Working files that are never moved into the artifact."""
    return os.path.join(self.root, _SCRATCH)

  def write_report(self, report: Dict[str, Any]) -> None:
    with fileio.open(os.path.join(self.root, REPORT_FILE), 'w') as f:
      f.write(json.dumps(report, indent=2, sort_keys=True))


@contextlib.contextmanager
def staged_output(saved_model_dir: str, artifact_uri: str,
                  copy_warmup: bool = False) -> Iterator[StagedOutput]:
  """Yields a staging area holding a copy of `saved_model_dir`; commits it on success.

  The staging directory is a sibling of `artifact_uri`, so committing is one
  directory move; if the body raises, it is removed and `artifact_uri` is left
  as it was. The input's own warmup file is copied only if `copy_warmup`.
  """
  existing = warmup_file.warmup_file_path(saved_model_dir)
  if fileio.exists(existing) and not copy_warmup:
    logging.warning('The input model already has a warmup file (%s); it is '
                    'replaced by the one ModelWarmer builds.', existing)
  staged = StagedOutput(sibling(artifact_uri, 'incomplete'))
  try:
    try:
      io_utils.copy_dir(saved_model_dir, staged.model_dir,
                        deny_regex_patterns=[] if copy_warmup else [re.escape(existing) + '$'])
      fileio.makedirs(staged.scratch_dir)
    except (OSError, tf.errors.OpError) as e:
      raise OutputError(f'Cannot write the warmed model beside {artifact_uri}: '
                        f'{type(e).__name__}: {e}. Check that the location exists, is a '
                        'directory you can write to, and has space.') from e
    yield staged
    fileio.rmtree(staged.scratch_dir)
    commit(staged.root, artifact_uri)
  finally:
    if fileio.exists(staged.root):
      fileio.rmtree(staged.root)


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
