"""Progress of the long steps: sampling, replay, measurement.

The executor reports each step to `reporter()`. By default a step is two log
lines (start, and done with its duration), which keeps pipeline logs quiet. The
CLI installs `TerminalReporter` when stderr is a terminal, which draws a bar per
step: a counter for steps of known length, an elapsed-time spinner for the rest.
"""

import contextlib
import os
import sys
import threading
import time
from typing import Callable, Iterator, Optional

from absl import logging

Advance = Callable[..., None]


class Reporter:
  """Logs each step's start and duration."""

  @contextlib.contextmanager
  def stage(self, label: str, total: Optional[int] = None) -> Iterator[Advance]:
    """A step of `total` units (None: unknown); yields a function to call per unit done."""
    logging.info('%s%s...', label, f' ({total})' if total else '')
    start = time.perf_counter()
    yield lambda n=1: None
    logging.info('%s: done in %.1f s.', label, time.perf_counter() - start)


class TerminalReporter(Reporter):
  """A tqdm bar per step, on stderr."""

  def __init__(self, stream=None, refresh_seconds: float = 0.25):
    self._stream = stream or sys.stderr
    self._refresh_seconds = refresh_seconds

  @contextlib.contextmanager
  def stage(self, label: str, total: Optional[int] = None) -> Iterator[Advance]:
    from tqdm import tqdm  # pylint: disable=g-import-not-at-top  (only the CLI needs it)
    columns, lines = self._size()
    bar = tqdm(total=total, desc=label, file=self._stream, leave=True,
               ncols=columns, nrows=lines,
               bar_format=None if total else '{desc}: {elapsed}')
    done = threading.Event()
    # Steps of unknown length (a Beam pipeline) get no updates: redraw the clock.
    ticker = threading.Thread(target=self._tick, args=(bar, done), daemon=True)
    ticker.start()
    try:
      yield bar.update
    finally:
      done.set()
      ticker.join()
      bar.close()

  def _size(self):
    """The terminal's size; 100x24 where it reports 0x0 (a bare pty: tqdm would draw nothing)."""
    try:
      size = os.get_terminal_size(self._stream.fileno())
    except (AttributeError, OSError, ValueError):
      return 100, 24
    return size.columns or 100, size.lines or 24

  def _tick(self, bar, done: threading.Event) -> None:
    while not done.wait(self._refresh_seconds):
      bar.refresh()


_reporter: Reporter = Reporter()


def reporter() -> Reporter:
  return _reporter


@contextlib.contextmanager
def reporting_to(new: Reporter) -> Iterator[Reporter]:
  """Sends progress to `new` inside the block."""
  global _reporter
  previous, _reporter = _reporter, new
  try:
    yield new
  finally:
    _reporter = previous
