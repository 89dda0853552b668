"""`tfx-warmup` commands as the tests run them: a process each, TensorFlow imported once.

Started with `subprocess`, a command spends about 5 of its 7 seconds importing
TensorFlow, Beam and TFX, and the suite runs about a hundred of them. Here a
multiprocessing forkserver (one per xdist worker) imports them once and forks
each command from there. A command is still a process of its own, as a shell
starts it: its own arguments, environment, working directory, stdout and stderr,
exit status and module state; nothing it does reaches the test's process, and
the measuring children it starts are fresh processes as ever. What only a real
start-up shows (the console script on PATH, what reaches the terminal while
TensorFlow is imported, a terminal) is run through `TFX_WARMUP`, the installed
script, with `subprocess`.
"""

import multiprocessing
import os
import subprocess
import sys
import tempfile
from typing import Dict, List, Mapping, Optional, Sequence

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TFX_WARMUP = os.path.join(os.path.dirname(sys.executable), 'tfx-warmup')  # The installed script.
# A command that runs longer is stuck, not slow: it is killed and the test fails.
TIMEOUT_SECONDS = 900
# What every command imports, imported once in the forkserver (its heaviest imports).
_PRELOAD = ['tests.cli.command', 'tfx_warmup.cli.commands', 'tfx_warmup.library',
            'tfx_warmup.library.swap', 'tfx_warmup.traffic', 'tfx.dsl.io.fileio']
_CONTEXT = multiprocessing.get_context('forkserver')


class Command:
  """`tfx-warmup ARGV` started in a process of its own, with `env` (default: this one's).

  `wait()` gives what `subprocess.run(capture_output=True, text=True)` gives.
  """

  def __init__(self, argv: Sequence[str], env: Optional[Mapping[str, str]] = None):
    self.args = ['tfx-warmup', *argv]
    self._scratch = tempfile.TemporaryDirectory(prefix='tfx-warmup-command-')
    self._out = os.path.join(self._scratch.name, 'stdout')
    self._err = os.path.join(self._scratch.name, 'stderr')
    _start_forkserver()
    self._process = _CONTEXT.Process(target=_main, args=(
        list(argv), dict(os.environ if env is None else env), os.getcwd(), self._out, self._err))
    self._process.start()

  def wait(self) -> subprocess.CompletedProcess:
    try:
      self._process.join(TIMEOUT_SECONDS)
      if self._process.exitcode is None:
        self._process.kill()
        self._process.join()
        raise AssertionError(f'{" ".join(self.args)} ran over {TIMEOUT_SECONDS} s: '
                             f'{_read(self._err)[-3000:]}')
      return subprocess.CompletedProcess(self.args, self._process.exitcode, _read(self._out),
                                         _read(self._err))
    finally:
      self._scratch.cleanup()


def run(*argv: str, env: Optional[Mapping[str, str]] = None) -> subprocess.CompletedProcess:
  """`tfx-warmup ARGV` run to its end: exit status, stdout and stderr as text."""
  return Command(argv, env).wait()


def run_all(commands: Mapping[str, List[str]]) -> Dict[str, subprocess.CompletedProcess]:
  """Each {name: argv} at once (they are slow and independent); {name: CompletedProcess}."""
  started = {name: Command(argv) for name, argv in commands.items()}
  return {name: command.wait() for name, command in started.items()}


def _start_forkserver() -> None:
  """The forkserver, started from the repository root (its imports resolve `tests.`)."""
  from multiprocessing import forkserver
  _CONTEXT.set_forkserver_preload(_PRELOAD)
  cwd, path = os.getcwd(), os.environ.get('PYTHONPATH')
  os.chdir(_REPO)
  os.environ['PYTHONPATH'] = os.pathsep.join(p for p in (_REPO, path) if p)
  try:
    forkserver.ensure_running()
  finally:
    os.chdir(cwd)
    if path is None:
      del os.environ['PYTHONPATH']
    else:
      os.environ['PYTHONPATH'] = path


def _main(argv: List[str], env: Dict[str, str], cwd: str, out: str, err: str) -> None:
  """In the forked process: a shell's start of `tfx-warmup ARGV`, then the command."""
  os.environ.clear()
  os.environ.update(env)
  tempfile.tempdir = None  # Read from TMPDIR again, as a fresh process would.
  os.chdir(cwd)
  for fd, path in ((1, out), (2, err)):
    (sys.stdout if fd == 1 else sys.stderr).flush()
    file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(file, fd)
    os.close(file)
  from tfx_warmup.cli import main
  sys.exit(main(argv))


def _read(path: str) -> str:
  try:
    with open(path, errors='replace') as f:
      return f.read()
  except FileNotFoundError:
    return ''
