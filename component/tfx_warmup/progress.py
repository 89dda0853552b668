"""Progress of the long steps (sampling, replay, measurement), and a terminal kept for it.

The executor reports each step to `reporter()`. By default a step is two log
lines (start, and done with its duration), which keeps pipeline logs quiet. The
CLI installs `TerminalReporter` when stderr is a terminal, which draws a bar per
step: a counter for steps of known length, an elapsed-time spinner for the rest.
"""

import contextlib
import logging as std_logging  # The standard module; absl's is `logging` here.
import os
import sys
import tempfile
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
    from tqdm import tqdm  # Only the CLI needs it.
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
  global _reporter  # noqa: PLW0603  (one reporter per process)
  previous, _reporter = _reporter, new
  try:
    yield new
  finally:
    _reporter = previous


@contextlib.contextmanager
def library_output_to_log(name: str, verbose: bool = False) -> Iterator[Optional[str]]:
  """Keeps the terminal to our progress and results; yields the log file (None if verbose).

  Unless `verbose`, everything the libraries print goes to a log file: TF's C++
  lines, Python logging and warnings, setuptools' packaging chatter, and the
  output of Beam's worker processes, which inherit file descriptors 1 and 2.
  Our own lines (results, progress bars, the one-line error) and tracebacks of
  real bugs still reach the terminal through `sys.stdout` and `sys.stderr`,
  re-pointed at the original streams.
  """
  if verbose:
    std_logging.getLogger().setLevel(std_logging.INFO)
    yield None
    return
  # A local file by nature (it takes over this process's file descriptors), so
  # tempfile's, not an artifact path.
  log_fd, log_path = tempfile.mkstemp(prefix=f'{name}-', suffix='.log')
  originals = sys.stdout, sys.stderr
  for stream in originals:
    stream.flush()
  terminal_fds = os.dup(1), os.dup(2)
  with os.fdopen(log_fd, 'a', encoding='utf-8') as log:
    for fd in (1, 2):
      os.dup2(log.fileno(), fd)
    terminals = [os.fdopen(terminal_fd, 'w', buffering=1,
                           encoding=getattr(stream, 'encoding', None) or 'utf-8')
                 for terminal_fd, stream in zip(terminal_fds, originals)]
    sys.stdout, sys.stderr = terminals
    root = std_logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_verbosity = logging.get_verbosity()
    root.handlers = [std_logging.StreamHandler(log)]
    root.setLevel(std_logging.INFO)
    logging.set_verbosity(logging.INFO)  # absl's own logger filters before the root does.
    # Libraries' own handlers (TensorFlow's) hold the streams they found at import.
    redirected = [(handler, handler.setStream(log)) for handler in _stream_handlers(originals)]
    std_logging.captureWarnings(True)
    try:
      yield log_path
    finally:
      std_logging.captureWarnings(False)
      for handler, stream in redirected:
        handler.setStream(stream)
      root.handlers, root.level = saved_handlers, saved_level
      logging.set_verbosity(saved_verbosity)
      for terminal, fd in zip(terminals, (1, 2)):
        terminal.flush()
        os.dup2(terminal.fileno(), fd)
        terminal.close()
      sys.stdout, sys.stderr = originals


def _stream_handlers(streams) -> list:
  """Every registered logger's handlers that write to one of `streams`."""
  loggers = [logger for logger in std_logging.root.manager.loggerDict.values()
             if isinstance(logger, std_logging.Logger)]
  return [h for logger in loggers for h in logger.handlers
          if isinstance(h, std_logging.StreamHandler) and h.stream in streams]
