"""Stages a copy of the SavedModel and moves it into place only when complete.

The copy is built next to its destination under a temporary name; any failure
removes it, so a failed run never leaves a half-written model for Pusher.
"""

import contextlib
import os
import re
import uuid
from typing import Iterator

from absl import logging
from tfx.dsl.io import fileio
from tfx.utils import io_utils

from tfx_warmup import warmup_file


@contextlib.contextmanager
def staged_copy(saved_model_dir: str, destination: str) -> Iterator[str]:
  """Yields a staging copy of `saved_model_dir`; renames it to `destination` on success.

  The input's own warmup file is not copied (ours replaces it, with a warning).
  """
  existing = warmup_file.warmup_file_path(saved_model_dir)
  if fileio.exists(existing):
    logging.warning('The input model already has a warmup file (%s); it is '
                    'replaced by the one ModelWarmer builds.', existing)
  staging = f'{destination.rstrip("/")}.incomplete-{uuid.uuid4().hex[:8]}'
  try:
    io_utils.copy_dir(saved_model_dir, staging,
                      deny_regex_patterns=[re.escape(existing) + '$'])
    yield staging
    if fileio.exists(destination):
      fileio.rmtree(destination)
    fileio.makedirs(os.path.dirname(destination.rstrip('/')))
    fileio.rename(staging, destination)
  finally:
    if fileio.exists(staging):
      fileio.rmtree(staging)
