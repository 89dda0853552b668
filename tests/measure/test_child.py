"""The measuring child: one process boundary for every measurement, its errors typed across it.

The jobs below run in real child processes (`python -m tfx_warmup.measure.child`),
named as 'module:function', so each test shows what a parent sees.
"""

import os
import signal
import sys

import pytest

from tfx_warmup import errors
from tfx_warmup.measure import child
from tfx_warmup.serving import errors as serving_errors

_HERE = __name__
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_ENV = {'PYTHONPATH': os.pathsep.join(p for p in (_ROOT, os.environ.get('PYTHONPATH')) if p)}


def _run(function, error=errors.MeasureError, env=None, **arguments):
  return child.run_job(f'{_HERE}:{function}', arguments, what='a test job', error=error,
                       env=dict(_ENV, **(env or {})))


# Jobs, run in the child.
def echo(value, name=''):
  return {'value': value, 'environment': os.environ.get(name) if name else None}


def raise_live_request_error():
  raise errors.LiveRequestError("Live request 3 (predict, signature 'serving_default', batch "
                                'size 8) fails: INVALID_ARGUMENT: bad', 'INVALID_ARGUMENT',
                                'serving_default')


def raise_replay_error():
  cause = serving_errors.RequestError('INVALID_ARGUMENT', 'Name: <unknown>, Feature: x')
  raise serving_errors.WarmupReplayError('record 2 fails', 'INVALID_ARGUMENT', 2, 'classify',
                                         cause)


def raise_subclass_of_load_error():
  class ElsewhereError(serving_errors.LoadError):
    pass
  raise ElsewhereError('TF Serving would fail to load /m: no C API')


def raise_undeclared():
  print('something went wrong deep inside', file=sys.stderr)
  raise KeyError('no such thing')


def crash(signal_number):
  print('about to crash', file=sys.stderr, flush=True)
  os.kill(os.getpid(), signal_number)


def test_a_job_gets_its_arguments_and_environment_and_returns_json():
  result = _run('echo', env={'TFX_WARMUP_TEST_VALUE': 'preloaded'},
                value=[1, 'two', {'three': 3.5}], name='TFX_WARMUP_TEST_VALUE')
  assert result == {'value': [1, 'two', {'three': 3.5}], 'environment': 'preloaded'}


def test_a_declared_error_is_raised_again_as_its_class_with_its_attributes():
  with pytest.raises(errors.LiveRequestError) as raised:
    _run('raise_live_request_error')
  assert type(raised.value) is errors.LiveRequestError
  assert str(raised.value) == ("Live request 3 (predict, signature 'serving_default', batch "
                               'size 8) fails: INVALID_ARGUMENT: bad')
  assert (raised.value.code, raised.value.signature) == ('INVALID_ARGUMENT', 'serving_default')


def test_an_error_held_by_another_crosses_too():
  with pytest.raises(serving_errors.WarmupReplayError) as raised:
    _run('raise_replay_error')
  error = raised.value
  assert (str(error), error.code, error.record, error.signature) == (
      'record 2 fails', 'INVALID_ARGUMENT', 2, 'classify')
  assert type(error.cause) is serving_errors.RequestError
  assert (error.cause.code, error.cause.message) == ('INVALID_ARGUMENT',
                                                     'Name: <unknown>, Feature: x')
  assert str(error.cause) == 'INVALID_ARGUMENT: Name: <unknown>, Feature: x'


def test_a_subclass_declared_elsewhere_arrives_as_the_nearest_declared_class():
  with pytest.raises(serving_errors.LoadError, match='no C API') as raised:
    _run('raise_subclass_of_load_error')
  assert type(raised.value) is serving_errors.LoadError


def test_an_undeclared_error_is_the_callers_error_class_naming_the_log():
  with pytest.raises(errors.SwapError) as raised:
    _run('raise_undeclared', error=errors.SwapError)
  message = str(raised.value)
  assert message.startswith("The measuring process (a test job) failed: KeyError: 'no such "
                            "thing'; its stderr ends: ")
  assert "raise KeyError('no such thing')" in message and '\n' not in message  # Where.
  log = message.rsplit('(whole log: ', 1)[1].rstrip(')')
  try:
    with open(log) as f:
      text = f.read()
  finally:
    os.remove(log)
  assert 'something went wrong deep inside' in text and 'Traceback' in text  # All of it.


@pytest.mark.parametrize('signal_number, expected', [
    (signal.SIGSEGV, 'killed by SIGSEGV (exit -11)'),
    (signal.SIGKILL, 'killed by SIGKILL (exit -9: out of memory?)')])
def test_a_crash_without_a_result_says_how_it_ended_and_what_it_printed(signal_number,
                                                                        expected):
  with pytest.raises(errors.MeasureError) as raised:
    _run('crash', signal_number=int(signal_number))
  message = str(raised.value)
  assert type(raised.value) is errors.MeasureError
  assert message.startswith(f'The measuring process (a test job) ended without a result '
                            f'({expected}); its stderr ends: ')
  assert 'about to crash' in message
  os.remove(message.rsplit('(whole log: ', 1)[1].rstrip(')'))


def test_an_unknown_job_is_refused_before_any_process_starts():
  with pytest.raises(ValueError, match="Unknown measuring job 'nope'"):
    child.run_job('nope', {})


def test_every_named_job_resolves_to_a_function():
  for name in child.JOBS:
    assert callable(child.resolve(name)), name


def test_the_exit_status_names_the_signal():
  assert child.exit_status(3) == 'exit 3'
  assert child.exit_status(-signal.SIGABRT) == 'killed by SIGABRT (exit -6)'
