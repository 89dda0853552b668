"""The one fresh process every measurement runs in, and the parent's side of it.

TensorFlow keeps process-wide caches (oneDNN primitives, kernels, named thread
pools) for the life of a process, so a load measured after another one in the
same process looks warm. Every measurement therefore runs in a new Python
process: the cold start (`measure.cold_start`), the swap's calibration and
each swap (`swap.run`), and what comes next (traffic replay, memory measured
under an LD_PRELOADed allocator: `run_job(..., env=...)`). Only the process
boundary lives here; what each job measures stays in its own module.

A job is a function of JSON arguments that returns a JSON value, named in
`JOBS` (or as 'module:function'). The child writes its result, or the error it
raised, as JSON; the parent raises the same error class again, so a
LiveRequestError or LoadError in the child is one in the parent, with its
attributes (`code`, `signature`, ...). An error of no class the package
declares, or a child that dies without a result (a segfault, an OOM kill),
becomes a MeasureError (or the `error` class the caller names, e.g. SwapError)
with the exit status, the tail of the child's stderr and where its whole log
was kept.

  python -m tfx_warmup.measure.child JOB --arguments JSON|@FILE --result FILE
"""

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import traceback
from typing import Any, Dict, List, Mapping, Optional, Type

from tfx_warmup import errors as errors_lib
from tfx_warmup.serving import errors as serving_errors

# Every job a measuring child runs, by name: 'module:function'. Resolved in the child
# only, so the parent imports none of them (and `measure` never imports `swap`).
JOBS: Dict[str, str] = {
    'cold_start': 'tfx_warmup.measure.cold_start:job',
    'swap.calibrate': 'tfx_warmup.swap.run:calibrate_job',
    'swap': 'tfx_warmup.swap.run:swap_job',
}

# Environment every child gets unless the caller overrides it: TensorFlow's C++ log
# lines would bury the child's own stderr.
DEFAULT_ENV = {'TF_CPP_MIN_LOG_LEVEL': '2'}
# Lines of a failed child's stderr quoted in the error (the whole log is kept in a file).
STDERR_TAIL_LINES = 5
_TAIL_CHARS = 1500
_ERROR_KEY = '__error__'  # marks an exception held in another one's attribute


def run_job(job: str, arguments: Mapping[str, Any], *, what: str = '',
            error: Type[errors_lib.MeasureError] = errors_lib.MeasureError,
            env: Optional[Mapping[str, str]] = None,
            timeout: Optional[float] = None) -> Any:
  """Runs `job` on `arguments` in a fresh Python process; its JSON result.

  `what` names the run in error messages ('the old version alone'); `env` is
  added to this process's environment (LD_PRELOAD, MALLOC_CONF, ...). Raises the
  child's own error again, as its class; `error` (MeasureError by default) for an
  undeclared error or a child that ended without a result.
  """
  if job not in JOBS and ':' not in job:
    raise ValueError(f"Unknown measuring job '{job}': one of {sorted(JOBS)}, or "
                     "'module:function'.")
  label = what or job
  with tempfile.TemporaryDirectory(prefix='tfx-warmup-child-') as tmp:
    arguments_path = os.path.join(tmp, 'arguments.json')
    result_path = os.path.join(tmp, 'result.json')
    log_path = os.path.join(tmp, 'stderr.log')
    with open(arguments_path, 'w') as f:
      json.dump(dict(arguments), f)
    command = [sys.executable, '-m', 'tfx_warmup.measure.child', job,
               '--arguments', '@' + arguments_path, '--result', result_path]
    child_env = dict(os.environ, **DEFAULT_ENV)
    child_env.update(env or {})
    with open(log_path, 'w') as log:
      try:
        proc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=child_env,
                              check=False, timeout=timeout)
      except subprocess.TimeoutExpired:
        raise error(f'The measuring process ({label}) did not finish within {timeout:g} s '
                    f'and was stopped; {_log_note(log_path)}') from None
    outcome = _read_json(result_path)
    if outcome is not None and 'result' in outcome and proc.returncode == 0:
      return outcome['result']
    if outcome is not None and 'error' in outcome:
      raised = decode_error(outcome)
      if raised is not None:
        raise raised
      raise error(f"The measuring process ({label}) failed: {outcome['error']}: "
                  f"{serving_errors.one_line(outcome.get('message', ''))}; "
                  f'{_log_note(log_path)}')
    raise error(f'The measuring process ({label}) ended without a result '
                f'({exit_status(proc.returncode)}); {_log_note(log_path)}')


def exit_status(returncode: int) -> str:
  """'exit 1', or 'killed by SIGSEGV (exit -11)' for a signal."""
  if returncode >= 0:
    return f'exit {returncode}'
  try:
    name = signal.Signals(-returncode).name
  except ValueError:
    name = f'signal {-returncode}'
  hint = ': out of memory?' if -returncode == signal.SIGKILL else ''
  return f'killed by {name} (exit {returncode}{hint})'


def _read_json(path: str) -> Optional[Dict[str, Any]]:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None  # Never written, or cut short by the crash.


def _log_note(log_path: str) -> str:
  """The last lines of the child's stderr, on one line, and where the whole log is kept."""
  with open(log_path, errors='backslashreplace') as f:
    text = f.read()
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  tail = ' | '.join(lines[-STDERR_TAIL_LINES:]) or '(nothing)'
  if len(tail) > _TAIL_CHARS:
    tail = '...' + tail[-_TAIL_CHARS:]
  descriptor, kept = tempfile.mkstemp(prefix='tfx-warmup-child-', suffix='.log')
  with os.fdopen(descriptor, 'w') as f:
    f.write(text)
  return f'its stderr ends: {tail} (whole log: {kept})'


def _registry() -> Dict[str, Type[BaseException]]:
  """The error classes the package declares, by 'module.Class': those a child may raise."""
  classes = {}
  for module in (errors_lib, serving_errors):
    for value in vars(module).values():
      if (isinstance(value, type) and issubclass(value, BaseException) and
          value.__module__ in (errors_lib.__name__, serving_errors.__name__)):
        classes[f'{value.__module__}.{value.__qualname__}'] = value
  return classes


def _qualified(cls: type) -> str:
  return f'{cls.__module__}.{cls.__qualname__}'


def encode_error(exception: BaseException) -> Dict[str, Any]:
  """`exception` as JSON: its class, module and message, its args and attributes.

  `bases` lists its classes' names up the MRO, so the parent can raise the
  nearest class it declares when the exact one is not (a subclass of LoadError
  in another module arrives as a LoadError).
  """
  cls = type(exception)
  args = list(exception.args)
  if not _json_safe(args):
    args = [str(exception)]
  attributes = {}
  for name, value in vars(exception).items():
    if isinstance(value, BaseException):
      attributes[name] = {_ERROR_KEY: encode_error(value)}
    elif _json_safe(value):
      attributes[name] = value
  return {'error': cls.__qualname__, 'module': cls.__module__, 'message': str(exception),
          'args': args, 'attributes': attributes,
          'bases': [_qualified(c) for c in cls.__mro__[1:]]}


def decode_error(data: Mapping[str, Any]) -> Optional[BaseException]:
  """The error `encode_error` wrote, as its own class (or the nearest declared one); None for
  a class the package does not declare."""
  registry = _registry()
  names = [f"{data.get('module')}.{data.get('error')}"] + list(data.get('bases', ()))
  cls = next((registry[n] for n in names if n in registry), None)
  if cls is None:
    return None
  exception = cls.__new__(cls)
  exception.args = tuple(data.get('args') or [data.get('message', '')])
  for name, value in (data.get('attributes') or {}).items():
    held = isinstance(value, dict) and set(value) == {_ERROR_KEY}
    setattr(exception, name, decode_error(value[_ERROR_KEY]) if held else value)
  return exception


def _json_safe(value: Any) -> bool:
  try:
    json.dumps(value)
  except (TypeError, ValueError):
    return False
  return True


def resolve(job: str):
  """The function a job name stands for ('module:function' names it directly)."""
  module_name, _, function = JOBS.get(job, job).partition(':')
  return getattr(importlib.import_module(module_name), function)


def main(argv: Optional[List[str]] = None) -> int:
  """The child: runs one job, writes {'result': ...} or the error as JSON."""
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('job', help=f"one of {', '.join(sorted(JOBS))}, or 'module:function'")
  parser.add_argument('--arguments', default='{}',
                      help="the job's keyword arguments as JSON, or @FILE holding them")
  parser.add_argument('--result', required=True, help='where to write the JSON outcome')
  args = parser.parse_args(argv)
  text = args.arguments
  if text.startswith('@'):
    with open(text[1:]) as f:
      text = f.read()
  try:
    outcome = json.dumps({'result': resolve(args.job)(**json.loads(text))})
    code = 0
  except Exception as e:  # noqa: BLE001  (the parent raises it again)
    traceback.print_exc()  # The log, for an error the parent does not declare.
    outcome = json.dumps(encode_error(e))
    code = 1
  with open(args.result, 'w') as f:
    f.write(outcome)
  return code


if __name__ == '__main__':
  sys.exit(main())
