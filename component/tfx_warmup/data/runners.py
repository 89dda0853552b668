"""Which Beam runners sample the examples, what each needs, and its failures in one line.

Sampling is one read per split (a Beam `Read` of TFRecord shards) and one combiner whose
accumulators have a fixed size, merged across workers. A runner must translate
the read and lift the combiner for that to hold; Beam's DaskRunner does neither
(it translates only Create, ParDo, GroupByKey and Flatten), so it is refused by
name before anything runs rather than failing while Dask builds its graph. The
table here is said once: the command line and the executor check a runner
against it, the command line packages tfx-warmup only for runners whose
workers need it, and the documentation's runner list is generated from it.
"""

import contextlib
import dataclasses
import importlib
import re
from typing import Iterator, Optional, Sequence

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import PortableOptions
from apache_beam.options.pipeline_options import StandardOptions

from tfx_warmup.errors import ConfigurationError, RunnerError, USER_ERRORS

TESTED = 'tested'
EXPECTED = 'expected to work'
UNSUPPORTED = 'not supported'

DEFAULT_RUNNER = 'DirectRunner'


@dataclasses.dataclass(frozen=True)
class Runner:
  """A Beam runner as tfx-warmup sees it.

  `remote`: its workers run outside this installation, so they need tfx-warmup
  installed (the command line adds TFX's packaging flags, unless the workers'
  environment is this process: --environment_type=LOOPBACK). `how`: the flags
  it runs with, or why it is not supported.
  """
  name: str
  support: str
  remote: bool
  how: str


RUNNERS = (
    Runner('DirectRunner', TESTED, False,
           'the default, in this process; with worker processes: '
           '`--direct_running_mode=multi_processing --direct_num_workers=N`'),
    Runner('PrismRunner', EXPECTED, False,
           "Beam's portable local runner: `--runner=PrismRunner` (it fetches its binary on "
           'first use)'),
    Runner('DataflowRunner', EXPECTED, True,
           '`--runner=DataflowRunner --project=P --region=R --temp_location=gs://...`, and '
           '`--sdk_container_image=IMAGE` holding tfx-warmup (this repository\'s Dockerfile)'),
    Runner('FlinkRunner', EXPECTED, True,
           '`--runner=FlinkRunner --flink_master=HOST:PORT` (its job server jar is fetched '
           'from Maven), or a running job server: `--runner=PortableRunner '
           '--job_endpoint=HOST:PORT`'),
    Runner('SparkRunner', EXPECTED, True,
           '`--runner=SparkRunner --spark_master_url=spark://HOST:PORT`, or a running job '
           'server: `--runner=PortableRunner --job_endpoint=HOST:PORT`'),
    Runner('PortableRunner', EXPECTED, True,
           '`--job_endpoint=HOST:PORT` of a Flink or Spark job server; workers need '
           'tfx-warmup (`--environment_type=DOCKER --environment_config=IMAGE`)'),
    Runner('DaskRunner', UNSUPPORTED, True,
           "Beam's DaskRunner has no translation for Read, which every Examples read uses, "
           'and does not lift combiners: sampling would become a group-by on one key, a '
           'whole split in one task, and its memory would no longer be bounded. Use '
           'DirectRunner with worker processes, or a Flink, Spark or Dataflow runner'),
)
BY_NAME = {r.name.lower(): r for r in RUNNERS}
# Beam's other names for the same runners.
_ALIASES = {'direct': 'directrunner', 'switchingdirectrunner': 'directrunner',
            'bundlebaseddirectrunner': 'directrunner', 'fnapirunner': 'directrunner',
            'testdirectrunner': 'directrunner', 'testdataflowrunner': 'dataflowrunner'}


def runner_name(beam_args: Sequence[str]) -> str:
  """The runner `beam_args` name, as given (Beam's default when none is)."""
  return PipelineOptions(list(beam_args)).view_as(StandardOptions).runner or DEFAULT_RUNNER


def known(name: str) -> Optional[Runner]:
  """The table's entry for a runner named as Beam accepts it (short, lower case, dotted)."""
  key = name.rsplit('.', 1)[-1].lower()
  key = _ALIASES.get(key, key)
  return BY_NAME.get(key) or BY_NAME.get(_ALIASES.get(key + 'runner', key + 'runner'))


def check_runner(beam_args: Sequence[str]) -> Runner:
  """The runner `beam_args` choose; ConfigurationError for one that cannot sample.

  A runner Beam does not know is checked as Beam would load it (its module and
  class importable), so a misspelt name fails here, in one line, before the model
  is loaded.
  """
  name = runner_name(beam_args)
  runner = known(name)
  if runner is not None and runner.support == UNSUPPORTED:
    raise ConfigurationError(f'The Beam runner {name} is not supported: {runner.how}.')
  if runner is not None:
    return runner
  if '.' not in name:
    raise ConfigurationError(
        f'Beam has no runner named {name!r}. Use one of '
        f"{', '.join(r.name for r in RUNNERS if r.support != UNSUPPORTED)}, or the full "
        "name of a PipelineRunner class ('package.module.MyRunner').")
  module, _, cls = name.rpartition('.')
  try:
    getattr(importlib.import_module(module), cls)
  except (ImportError, AttributeError) as e:
    raise ConfigurationError(
        f'Cannot load the Beam runner {name}: {type(e).__name__}: {e}. Install the package '
        'that provides it, or fix --runner.') from e
  return Runner(cls, EXPECTED, False, 'a runner of your own: its workers must import '
                'tfx_warmup (pass --extra_package or --setup_file if they run elsewhere)')


def needs_package(beam_args: Sequence[str]) -> bool:
  """Whether the runner's workers must be given tfx-warmup as a package to install."""
  runner = known(runner_name(beam_args))
  if runner is None or not runner.remote:
    return False
  environment = PipelineOptions(list(beam_args)).view_as(PortableOptions).environment_type
  return (environment or '').upper() != 'LOOPBACK'


# The line of a (possibly multi-line, worker-wrapped) failure that says what went wrong.
_ERROR_LINE = re.compile(r'^\s*((?:[\w.]+\.)?\w*(?:Error|Exception|Exit)\b.*)$', re.M)
_MAX_CAUSE = 300


def cause_line(error: BaseException) -> str:
  """What went wrong, in one line: the last 'SomeError: ...' line of its text, or its type."""
  text = str(error).strip()
  lines = _ERROR_LINE.findall(text)
  line = lines[-1].strip() if lines else next(
      (each.strip() for each in text.splitlines() if each.strip()), '')
  if not line:
    line = type(error).__name__
  elif not lines and not line.startswith(type(error).__name__):
    line = f'{type(error).__name__}: {line}'
  return line if len(line) <= _MAX_CAUSE else line[:_MAX_CAUSE].rsplit(' ', 1)[0] + ' (...)'


@contextlib.contextmanager
def runner_failures(describe_runner) -> Iterator[None]:
  """A failure of the pipeline's runner becomes a RunnerError naming it and the cause.

  `describe_runner()` names the runner once it exists ('DirectRunner'), or returns
  None if the pipeline was never made. Errors the user already has in their terms
  (a damaged shard's ExamplesError) pass through.
  """
  try:
    yield
  except USER_ERRORS:
    raise
  except Exception as e:
    name = describe_runner()
    where = (f"Beam's {name} failed while sampling the examples" if name else
             'Beam could not make the pipeline that samples the examples')
    hint = _hint(e)
    cause = cause_line(e).rstrip('.')
    raise RunnerError(f'{where}: {cause}.{hint}') from e


def _hint(error: BaseException) -> str:
  name = type(error).__name__
  if name == 'FutureTimeoutError':
    return (' No job service answered within --job_server_timeout: check --job_endpoint '
            'and that the job server is running.')
  if 'Unable to fetch remote job server jar' in str(error):
    return (' The runner fetches its job server from Maven: give this machine network '
            'access, or start a job server and use --runner=PortableRunner '
            '--job_endpoint=HOST:PORT.')
  return ''


def runners_markdown() -> str:
  """The documentation's runner list, from RUNNERS."""
  rows = ['| runner | support | how |', '|---|---|---|']
  for runner in RUNNERS:
    rows.append(f'| {runner.name} | {runner.support} | {runner.how} |')
  return '\n'.join(rows) + '\n'
