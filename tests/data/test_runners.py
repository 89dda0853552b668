"""Which Beam runners sample, which need a package, and a runner's failure in one line."""

import grpc
import pytest

from tfx_warmup.data import runners
from tfx_warmup.errors import ConfigurationError, ExamplesError, RunnerError


@pytest.mark.parametrize('name,expected', [
    ('DirectRunner', 'DirectRunner'), ('direct', 'DirectRunner'),
    ('SwitchingDirectRunner', 'DirectRunner'), ('prism', 'PrismRunner'),
    ('dataflow', 'DataflowRunner'), ('FlinkRunner', 'FlinkRunner'),
    ('apache_beam.runners.portability.spark_runner.SparkRunner', 'SparkRunner'),
    ('DaskRunner', 'DaskRunner'), ('apache_beam.runners.dask.dask_runner.DaskRunner', 'DaskRunner'),
])
def test_runners_are_known_by_every_name_beam_accepts(name, expected):
  assert runners.known(name).name == expected


@pytest.mark.parametrize('runner', ['DaskRunner', 'dask',
                                    'apache_beam.runners.dask.dask_runner.DaskRunner'])
def test_dask_is_refused_by_name_with_the_reason(runner):
  with pytest.raises(ConfigurationError) as error:
    runners.check_runner([f'--runner={runner}'])
  message = str(error.value)
  assert message.startswith(f'The Beam runner {runner} is not supported: ')
  assert 'no translation for Read' in message and 'does not lift combiners' in message


def test_a_name_beam_does_not_know_lists_the_runners():
  with pytest.raises(ConfigurationError, match=r"Beam has no runner named 'Flinc'\. Use one of "
                                               r'DirectRunner, PrismRunner, DataflowRunner'):
    runners.check_runner(['--runner=Flinc'])


def test_a_class_that_cannot_be_loaded_says_why():
  with pytest.raises(ConfigurationError, match=r"Cannot load the Beam runner no\.such\.Runner: "
                                               r"ModuleNotFoundError: No module named 'no'"):
    runners.check_runner(['--runner=no.such.Runner'])


def test_a_runner_class_of_ones_own_is_accepted():
  runner = runners.check_runner(['--runner=apache_beam.runners.direct.direct_runner.DirectRunner'])
  assert runner.name == 'DirectRunner'
  custom = runners.check_runner(['--runner=tests.data.test_runners.MyRunner'])
  assert custom.name == 'MyRunner' and not custom.remote


class MyRunner:  # A "runner of one's own" for the test above: importable by its full name.
  pass


@pytest.mark.parametrize('args,needed', [
    ([], False),
    (['--direct_running_mode=multi_processing', '--direct_num_workers=2'], False),
    (['--runner=PrismRunner'], False),
    (['--runner=DataflowRunner'], True),
    (['--runner=FlinkRunner'], True),
    (['--runner=PortableRunner', '--job_endpoint=localhost:8099'], True),
    (['--runner=PortableRunner', '--environment_type=LOOPBACK'], False),
    (['--runner=tests.data.test_runners.MyRunner'], False),
])
def test_only_runners_whose_workers_run_elsewhere_need_a_package(args, needed):
  assert runners.needs_package(args) is needed


def test_every_runner_is_in_the_documentation_table():
  table = runners.runners_markdown()
  for runner in runners.RUNNERS:
    assert f'| {runner.name} | {runner.support} |' in table
  assert {r.support for r in runners.RUNNERS} == {runners.TESTED, runners.EXPECTED,
                                                   runners.UNSUPPORTED}


def _fail(error: BaseException, name='FlinkRunner'):
  with pytest.raises(RunnerError) as raised:
    with runners.runner_failures(lambda: name):
      raise error
  return str(raised.value)


def test_a_runner_failure_is_one_line_naming_the_runner_and_the_cause():
  worker = RuntimeError('Pipeline failed.\nTraceback (most recent call last):\n  File "x.py"\n'
                        'ValueError: the real cause\n')
  assert _fail(worker) == ("Beam's FlinkRunner failed while sampling the examples: "
                           'ValueError: the real cause.')
  assert _fail(RuntimeError('x' * 1000)).endswith('(...).')
  assert len(_fail(RuntimeError('word ' * 200))) < 400


def test_a_job_service_that_never_answers_says_where_to_look():
  message = _fail(grpc.FutureTimeoutError(), 'PortableRunner')
  assert message.startswith("Beam's PortableRunner failed while sampling the examples: "
                            'FutureTimeoutError.')
  assert '--job_endpoint' in message


def test_a_pipeline_never_made_is_said_so():
  assert _fail(ValueError('bad option'), None) == (
      'Beam could not make the pipeline that samples the examples: ValueError: bad option.')


def test_errors_already_in_the_users_terms_pass_through():
  with pytest.raises(ExamplesError, match='damaged'):
    with runners.runner_failures(lambda: 'DirectRunner'):
      raise ExamplesError('damaged')
