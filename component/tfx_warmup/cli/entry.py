"""`tfx-warmup`: the entry point. Quiet libraries, progress on the terminal, one line per error.

A command line prints its own results: TensorFlow's C++ start-up chatter and
library deprecation warnings are kept out of the terminal (and in the log file)
unless --verbose asks for them. What the user must fix is one line naming the
cause and the fix, and a non-zero exit.
"""

import contextlib
import logging as std_logging
import os
import sys
import tempfile
import warnings
from typing import Iterator, Optional, Sequence

from tfx_warmup import compat
from tfx_warmup import progress
from tfx_warmup.cli.parser import PROG, build_parser
from tfx_warmup.errors import USER_ERRORS


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  _quiet_libraries(args.verbose)
  from tfx_warmup.cli import commands  # After the quiet.
  with progress.library_output_to_log(f'{PROG}-{args.command}', args.verbose) as log_path:
    interactive = sys.stderr.isatty() and not args.verbose
    reporter = progress.TerminalReporter() if interactive else progress.Reporter()
    try:
      with progress.reporting_to(reporter), _scratch_temp_dir():
        status = commands.run(args)
      if log_path and status == 0:  # Nothing went wrong: nothing to look at.
        from tfx.dsl.io import fileio
        fileio.remove(log_path)
      return status
    except USER_ERRORS as e:
      # The whole story (a runner's traceback, TF's text) goes to the log file.
      std_logging.getLogger(PROG).error('%s failed.', args.command, exc_info=e)
      details = f' (library logs: {log_path})' if log_path else ''
      print(f'{PROG} {args.command}: error: {_in_user_terms(e)}{details}', file=sys.stderr)
      return 1


def _in_user_terms(error: Exception) -> str:
  """The error as one line in this command line's words: flags and commands (`cli.terms`)."""
  from tfx_warmup.cli.terms import in_cli_terms
  from tfx_warmup.serving.errors import one_line
  return in_cli_terms(one_line(str(error)))


@contextlib.contextmanager
def _scratch_temp_dir() -> Iterator[None]:
  """The command's process stages in one temporary directory, removed when the command ends.

  Beam's in-process runners leave what they stage (a job server's root, a
  requirements cache) in the system temp directory and never remove it. A command
  line owns its process: it points the process's temp directory (and, through
  TMPDIR, the measuring child processes') at a directory of its own for the
  command's duration. The library does no such thing; a pipeline's runner
  manages its own temp space.
  """
  saved_dir, saved_env = tempfile.tempdir, os.environ.get('TMPDIR')
  with tempfile.TemporaryDirectory(prefix=f'{PROG}-') as scratch:
    tempfile.tempdir = os.environ['TMPDIR'] = scratch
    try:
      yield
    finally:
      tempfile.tempdir = saved_dir
      if saved_env is None:
        del os.environ['TMPDIR']
      else:
        os.environ['TMPDIR'] = saved_env


def _quiet_libraries(verbose: bool) -> None:
  """Before TensorFlow is imported: no C++ start-up lines (errors still come back as Python
  exceptions), TFX's legacy Keras, and no third-party deprecation warnings unless verbose."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  compat.prefer_legacy_keras()
  if not verbose:
    for category in (DeprecationWarning, FutureWarning, UserWarning):
      warnings.filterwarnings('ignore', category=category)


if __name__ == '__main__':
  sys.exit(main())
