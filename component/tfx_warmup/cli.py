"""tfx-warmup: give a SavedModel TF Serving warmup requests, look inside them, prove them.

The commands run the ModelWarmer component's own code: `generate` runs its
executor on a Model and an Examples artifact made from your paths; `inspect`
and `verify` use the same TF Serving replica the executor validates with.
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import textwrap
import warnings
from typing import Any, Dict, Iterator, List, Optional, Sequence

# A command line prints its own results: no TF C++ start-up chatter (3: errors come back as
# Python exceptions), and no library deprecation warnings unless asked for.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
if '--verbose' not in sys.argv:
  for _category in (DeprecationWarning, FutureWarning, UserWarning):
    warnings.filterwarnings('ignore', category=_category)

# pylint: disable=g-import-not-at-top
from tfx_warmup import options as options_lib
from tfx_warmup import parameters
from tfx_warmup import progress
from tfx_warmup.errors import WarmupError

PROG = 'tfx-warmup'


class UsageError(WarmupError):
  """A command line that cannot work as given."""


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = _parser()
  args = parser.parse_args(argv)
  with progress.library_output_to_log(f'{PROG}-{args.command}', args.verbose) as log_path:
    interactive = sys.stderr.isatty() and not args.verbose
    reporter = progress.TerminalReporter() if interactive else progress.Reporter()
    try:
      with progress.reporting_to(reporter):
        status = args.run(args)
      if log_path and status == 0:  # Nothing went wrong: nothing to look at.
        from tfx.dsl.io import fileio
        fileio.remove(log_path)
      return status
    except WarmupError as e:
      details = f' (library logs: {log_path})' if log_path else ''
      print(f'{PROG} {args.command}: error: {e}{details}', file=sys.stderr)
      return 1


# -- generate ----------------------------------------------------------------------


def generate(args: argparse.Namespace) -> int:
  """Writes a warmed copy of --model to --output, via the component's executor."""
  from tfx.dsl.io import fileio
  from tfx.types import standard_artifacts
  from tfx.utils import path_utils
  from tfx_warmup import component_spec as spec
  from tfx_warmup import executor
  from tfx_warmup import examples_io
  from tfx_warmup import signatures
  from tfx_warmup import warmed_model
  from tfx_warmup import warmup_file

  if fileio.exists(args.output) and fileio.listdir(args.output) and not args.overwrite:
    raise UsageError(f'{args.output} is not empty. Pass --overwrite to replace it, or '
                     'choose another --output.')
  # Both paths are resolved before anything runs; the executor resolves the model alike.
  model_path = signatures.resolve_model(args.model)
  examples = examples_io.resolve_examples(args.examples)
  options = _warmup_options(args)
  model = standard_artifacts.Model()
  model.uri = args.model
  warmed = standard_artifacts.Model()
  warmed.uri = warmed_model.sibling(args.output, 'generating')
  try:
    with tempfile.TemporaryDirectory() as tmp, _temp_dir(tmp):
      context = _beam_context(executor.Executor.Context, args.beam_args, tmp)
      executor.Executor(context).Do(
          {spec.MODEL_KEY: [model], spec.EXAMPLES_KEY: [examples.artifact]},
          {spec.WARMED_MODEL_KEY: [warmed]}, options.to_exec_properties())
    with fileio.open(os.path.join(warmed.uri, warmed_model.REPORT_FILE)) as f:
      report = json.load(f)
    warmed_model.commit(path_utils.serving_model_dir(warmed.uri), args.output)
  finally:
    if fileio.exists(warmed.uri):
      fileio.rmtree(warmed.uri)
  report['model'] = args.output
  report['warmup_file']['path'] = warmup_file.warmup_file_path(args.output)
  if args.json:
    _print_json(report)
  else:
    print(f'Model: {model_path.saved_model_dir} ({model_path.form}); examples: '
          f'{args.examples} ({examples.form}, splits {report["sample"]["splits"]})\n')
    print(_format_report(report))
    print(f'\nWrote the warmed model to {args.output}')
  return 0


# -- inspect -----------------------------------------------------------------------


def inspect(args: argparse.Namespace) -> int:
  """Prints what a warmup file holds; exits 1 if TF Serving would reject it."""
  from tfx_warmup import inspection
  from tfx_warmup import signatures
  path, model_dir = inspection.resolve(args.path)
  if args.model and not model_dir:
    model_dir = signatures.resolve_model(args.model).saved_model_dir
  if args.batching_parameters and not model_dir:
    raise UsageError('--batching-parameters checks records against the model: pass a '
                     'model directory, or --model with a bare warmup file.')
  result = inspection.inspect_warmup(path, model_dir, args.tag_set, _batching(args))
  report = result.report()
  if args.json:
    _print_json(report)
  elif not result.exists:
    print(f'No warmup file: {path} does not exist. TF Serving loads the model without '
          'one and warms nothing: the first request of each signature and batch size pays '
          f'its cold start.\n`{PROG} verify {args.path}` proves the load (add --measure '
          f'--requests FILE to time the cold start); `{PROG} generate` writes a warmup file.')
  else:
    print(_format_report(report, outputs_column=True))
    if not result.problems:
      print(f'\nTF Serving would accept all {sum(result.summary.values())} records'
            + ('.' if model_dir else
               ' (signatures not checked: pass --model or a model directory).'))
  return 1 if result.problems else 0


# -- verify ------------------------------------------------------------------------


def verify(args: argparse.Namespace) -> int:
  """Replays the model's warmup file as TF Serving would; optionally measures it."""
  from tfx.dsl.io import fileio
  from tfx_warmup import executor
  from tfx_warmup import latency_plot
  from tfx_warmup import report as report_lib
  from tfx_warmup import signatures
  from tfx_warmup import warmup_file
  from tfx_warmup.errors import WarmupReplayError

  measure = args.measure or bool(args.plot)
  model_dir = signatures.resolve_model(args.model).saved_model_dir
  path = warmup_file.warmup_file_path(model_dir)
  if not fileio.exists(path):
    return _verify_cold_model(args, model_dir, path, measure)
  records = list(warmup_file.warmup_records(path))
  summary = warmup_file.summarize(records)
  validation = cold_start = None
  try:
    validation = executor.validate(model_dir, args.tag_set, sum(summary.values()),
                                   args.num_request_iterations, _batching(args))
  except WarmupReplayError as e:
    validation = {'error': str(e), 'code': e.code, 'record': e.record}
  if 'error' not in validation and measure:
    with tempfile.TemporaryDirectory() as tmp:
      live = args.requests or _one_record_per_key(path, os.path.join(tmp, 'live_requests'))
      cold_start = executor.measure_cold_start(model_dir, live, args.tag_set)
    if args.plot:
      latency_plot.plot_first_requests(cold_start, args.plot,
                                       title=f'First requests after loading {model_dir}')
  report = report_lib.build_report(summary, model=model_dir, warmup_path=path,
                                   validation=validation, cold_start=cold_start,
                                   features=warmup_file.features_carried(records))
  if args.json:
    _print_json(report)
  elif 'error' in validation:
    print(f'{PROG} verify: FAILED: {validation["error"]}', file=sys.stderr)
  else:
    print(_format_report(report))
    print(f'\nOK: TF Serving would load {model_dir} and replay its '
          f'{validation["records"]} warmup records ({validation["seconds"]:.2f} s).')
    if args.plot:
      print(f'Latency plot: {args.plot}')
  return 1 if 'error' in validation else 0


@contextlib.contextmanager
def _temp_dir(path: str) -> Iterator[None]:
  """Points `tempfile` at `path`: what Beam stages for a run (its runner probe, its
  requirements cache) is then removed with the run's own temporary directory."""
  saved, tempfile.tempdir = tempfile.tempdir, path
  try:
    yield
  finally:
    tempfile.tempdir = saved


def _verify_cold_model(args: argparse.Namespace, model_dir: str, path: str,
                       measure: bool) -> int:
  """`verify` of a model without a warmup file: TF Serving loads it and warms nothing.

  The load is proven in the replica; --measure times the first requests of
  --requests without warmup (there are no warmup records to derive traffic from).
  """
  from tfx_warmup import executor
  from tfx_warmup import latency_plot
  from tfx_warmup import measure as measure_lib
  from tfx_warmup import replay
  from tfx_warmup import report as report_lib

  if measure and not args.requests:
    raise UsageError(
        f'{model_dir} has no warmup file ({path}), so there are no records to time. Pass '
        '--requests FILE (a TFRecord of PredictionLogs, e.g. TF Serving request logs) to '
        f'measure its cold start, or run `{PROG} generate --measure` on your examples to '
        'measure it without and with warmup.')
  batching = _batching(args)
  with replay.load(model_dir, args.tag_set, batching=batching) as servable:
    validation = executor.validate(model_dir, args.tag_set, 0, args.num_request_iterations,
                                   batching, servable=servable)
  cold_start = None
  if measure:
    with progress.reporter().stage('Measuring cold start (1 fresh process)',
                                   total=1) as advance:
      cold_start = measure_lib.cold_start_report(model_dir, args.requests, tags=args.tag_set,
                                                 on_process=advance, with_warmup=False)
    if args.plot:
      latency_plot.plot_first_requests(
          cold_start, args.plot, title=f'First requests after loading {model_dir} (no warmup)')
  report = report_lib.build_report({}, model=model_dir, warmup_path=None,
                                   validation=validation, cold_start=cold_start)
  if args.json:
    _print_json(report)
    return 0
  if cold_start:
    print(_format_report(report) + '\n')
  print(f'No warmup file: {path} does not exist. TF Serving loads {model_dir} (just '
        'loaded in the replica) and warms nothing: the first request of each signature and '
        f'batch size pays its cold start. `{PROG} generate` writes a warmup file.')
  if args.plot:
    print(f'Latency plot: {args.plot}')
  return 0


def _beam_context(context_class, beam_args: List[str], tmp_dir: str):
  """The executor's Beam context: on a local runner, without TFX's dependency packaging.

  Given Beam arguments, TFX's Beam executor builds an sdist of the installed
  package (tens of MB in the temp directory, seconds of work) for remote
  workers to install. Local runners run this process's own installation, so
  the command builds their pipeline itself; a remote runner (--runner=...)
  keeps TFX's packaging, or whatever --setup_file/--sdk_container_image says.
  """
  import apache_beam as beam
  from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
  args = beam_args or ['--direct_num_workers=1']
  runner = PipelineOptions(args).view_as(StandardOptions).runner
  if runner in (None, 'DirectRunner', 'direct', 'PrismRunner', 'prism'):
    return context_class(beam_pipeline_args=[], tmp_dir=tmp_dir,
                         make_beam_pipeline_fn=lambda: beam.Pipeline(argv=args))
  return context_class(beam_pipeline_args=args, tmp_dir=tmp_dir)


def _batching(args: argparse.Namespace):
  """The server-side batching of --batching-parameters, if given."""
  if not args.batching_parameters:
    return None
  from tfx_warmup import batching
  return batching.config_from_file(args.batching_parameters)


def _one_record_per_key(warmup_path: str, output: str) -> str:
  """Live traffic for --measure: the first record of each kind, signature and batch size."""
  from tfx_warmup import warmup_file
  chosen = {}
  for record in warmup_file.warmup_records(warmup_path):
    chosen.setdefault(warmup_file.record_key(record), record)
  warmup_file.write_warmup_file(output, chosen.values())
  return output


# -- output ------------------------------------------------------------------------


def _format_report(report: Dict[str, Any], outputs_column: Optional[bool] = None) -> str:
  """The report as text: records table, problems, validation, cold-start table."""
  from tfx_warmup import report as report_lib
  from tfx_warmup import warmup_file
  rows = report['warmup_file']['summary']
  summary = {warmup_file.RecordKey(r['kind'], r['signature'], r['batch_size'],
                                   r['output_filter']): r['records'] for r in rows}
  parts = [f"Warmup file: {report['warmup_file']['path'] or 'none'}"]
  if summary or report['warmup_file']['path']:
    parts.append(report_lib.format_summary(summary, outputs_column))
  signatures = report.get('signatures') or {}
  for name, reason in (signatures.get('skipped') or {}).items():
    parts.append(f'not warmed: {name}: {reason}')
  features = report['warmup_file']['features']
  if features:
    parts.append('\nFeatures the records carry:')
    parts.append(report_lib.format_table(
        [('signature', 'features')] +
        [(name, ', '.join(names) or '-') for name, names in features.items()]))
  stripping = report.get('stripping')
  if stripping:
    parts.append(
        f"Stripped to what each signature parses: {stripping['bytes_before']:,} -> "
        f"{stripping['bytes_after']:,} bytes; {stripping['records_proven']} stripped records "
        'proven to answer exactly as their whole twins.')
    for name, names in stripping['dropped'].items():
      parts.append(f"stripped from {name}: {', '.join(names)}")
    for name, reason in stripping['whole'].items():
      parts.append(f'whole examples: {name}: {reason}')
  problems = report['warmup_file']['problems']
  if problems:
    parts.append(f'\n{len(problems)} problem(s); TF Serving would refuse this file:')
    parts.extend(f"  record {p['record'] if p['record'] is not None else '-'}: "
                 f"{p['code']}: {p['message']}" for p in problems)
  validation = report.get('validation')
  if validation and 'records' in validation and report['warmup_file']['path']:
    parts.append(f"\nReplayed in the TF Serving replica: {validation['records']} records, "
                 f"{validation['seconds']:.2f} s.")
  cold_start = report.get('cold_start')
  if cold_start and 'requests' in cold_start:
    parts.append('\nCold start (ms; first request after load, in a fresh process):')
    parts.append(report_lib.format_table(
        [('kind', 'signature', 'batch size', 'without warmup', 'with warmup', 'steady p50',
          'steady p99')] +
        [(r['kind'], r['signature'], str(r['batch_size']), f"{r['first_ms_without_warmup']:.2f}",
          _ms(r['first_ms_with_warmup']), f"{r['steady_p50_ms']:.2f}",
          f"{r['steady_p99_ms']:.2f}") for r in cold_start['requests']]))
    parts.append(f"First requests: {cold_start['first_ms_meaning']}.")
  elif cold_start and 'skipped' in cold_start:
    parts.append(f"\nCold start not measured: {cold_start['skipped']}.")
  return '\n'.join(parts)


def _ms(value: Optional[float]) -> str:
  """A latency cell; '-' for a figure not measured (no warmup file to replay)."""
  return '-' if value is None else f'{value:.2f}'


def _print_json(report: Dict[str, Any]) -> None:
  print(json.dumps(report, indent=2, sort_keys=True))


# -- argument parsing ---------------------------------------------------------------


_EXAMPLES = {
    'generate': """\
        examples:
          tfx-warmup generate --model models/ctr/3 --examples 'data/eval-*.tfrecord.gz' \\
              --output warmed/ctr/3 --batch-sizes 1,8,32
          tfx-warmup generate --model gs://b/models/ctr/3 --examples 'gs://b/eval/*' \\
              --output gs://b/serving/ctr/3 --beam-arg=--direct_num_workers=4 --json
          tfx-warmup generate --model pipeline/Trainer/model/7 \\
              --examples pipeline/CsvExampleGen/examples/1 --output warmed/7
        """,
    'inspect': """\
        examples:
          tfx-warmup inspect warmed/ctr/3                   # a SavedModel: signatures checked too
          tfx-warmup inspect warmed/ctr/3/assets.extra/tf_serving_warmup_requests
          tfx-warmup inspect requests.tfrecord --model warmed/ctr/3 --json
        exit status: 0 if TF Serving would accept every record, 1 otherwise.
        """,
    'verify': """\
        examples:
          tfx-warmup verify warmed/ctr/3
          tfx-warmup verify warmed/ctr/3 --measure --plot cold_start.png
          tfx-warmup verify models/ctr/3 --measure --requests requests.tfrecord  # no warmup
        exit status: 0 if TF Serving would load the model and replay every record, 1 otherwise.
        """,
}


_MODEL_HELP = ('a SavedModel directory, a Model artifact (holding Format-Serving/), an '
               'Estimator export (export/<name>/<timestamp>/), or a directory of numbered '
               'versions (the highest)')


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog=textwrap.dedent('''\
          examples:
            tfx-warmup generate --model SAVED_MODEL --examples 'data/*.tfrecord' --output OUT
            tfx-warmup inspect OUT
            tfx-warmup verify OUT --measure --plot cold_start.png
          Run `tfx-warmup COMMAND --help` for each command's options.'''))
  commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')

  def command(name: str, run, help_text: str) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=help_text, description=help_text,
                              epilog=textwrap.dedent(_EXAMPLES[name]),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.set_defaults(run=run)
    sub.add_argument('--json', action='store_true',
                     help='print the report as JSON (the schema of warmup_report.json)')
    _add_parameter_flag(sub, 'tag_set')
    sub.add_argument('--verbose', action='store_true',
                     help='show TF, Beam and progress logs instead of progress bars')
    return sub

  gen = command('generate', generate,
                'Write a copy of a SavedModel with warmup requests built from your examples, '
                'replayed in the TF Serving replica before anything is written.')
  gen.add_argument('--model', required=True, help=_MODEL_HELP)
  gen.add_argument('--examples', required=True,
                   help="tf.Examples: a quoted glob of TFRecord files, a file, a directory of "
                        "them, a Split-<name> directory, or an Examples artifact (a directory "
                        "of Split-<name>/; its 'eval' split if it has one, else all). '.gz' "
                        'files are GZIP, others uncompressed')
  gen.add_argument('--output', required=True, help='directory for the warmed SavedModel')
  gen.add_argument('--overwrite', action='store_true', help='replace a non-empty --output')
  for p in parameters.PARAMETERS:
    if p.flag and p.name != 'tag_set':  # Every command has --tag-set.
      _add_parameter_flag(gen, p.name)
  gen.add_argument('--beam-arg', action='append', default=[], dest='beam_args',
                   help='a Beam pipeline argument, e.g. --beam-arg=--direct_num_workers=4 '
                        '(repeatable)')

  ins = command('inspect', inspect,
                'Show the records of a warmup file (or of a SavedModel\'s) by kind, '
                'signature, batch size and outputs, and what TF Serving would reject.')
  ins.add_argument('path', help='a warmup file, or a model holding one: ' + _MODEL_HELP)
  ins.add_argument('--model', help='check a bare warmup file against this model')
  _add_parameter_flag(ins, 'batching_parameters_file',
                      "TF Serving's --batching_parameters_file; records are also checked "
                      "against that server-side batching's admission rules (needs the model)")

  ver = command('verify', verify,
                "Replay a SavedModel's warmup file as TF Serving would at load time.")
  ver.add_argument('model', help=_MODEL_HELP + '. Without a warmup file, verify proves the '
                   'model loads (TF Serving then warms nothing) and exits 0')
  ver.add_argument('--measure', action='store_true',
                   help='measure first-request latency without and with warmup, per '
                        'signature and batch size (two fresh processes)')
  ver.add_argument('--requests',
                   help='with --measure: a TFRecord of PredictionLogs to time (default: one '
                        'record of each kind, signature and batch size in the warmup file; '
                        'required for a model without a warmup file, timed without warmup '
                        'only)')
  ver.add_argument('--plot', help="write a PNG of the first requests' latency without and "
                                  'with warmup (implies --measure)')
  _add_parameter_flag(ver, 'batching_parameters_file',
                      "TF Serving's --batching_parameters_file; the replay runs under that "
                      'server-side batching, as TF Serving with --enable_batching')
  _add_parameter_flag(ver, 'num_request_iterations')
  return parser


def _add_parameter_flag(sub: argparse.ArgumentParser, name: str,
                        help_text: Optional[str] = None) -> None:
  """The flag of a ModelWarmer parameter, as `parameters` declares it."""
  p = parameters.BY_NAME[name]
  text = help_text or p.flag.help or p.help
  if p.flag.action:
    sub.add_argument(p.flag.name, dest=_dest(p), action=p.flag.action, help=text)
    return
  if p.default_text:
    text += f' (default: {p.default_text})'
  elif isinstance(p.default, (list, tuple)):
    text += f' (default {",".join(map(str, p.default))})'
  elif p.default not in (None, ''):
    text += ' (default %(default)s)'
  sub.add_argument(
      p.flag.name, dest=_dest(p), metavar=p.flag.metavar, choices=p.choices, help=text,
      type=p.flag.parse or (int if p.encoding is parameters.INT else None),
      default=list(p.default) if isinstance(p.default, tuple) else p.default)


def _dest(p: parameters.Parameter) -> str:
  """The flag's attribute in the parsed arguments: --batch-sizes -> batch_sizes."""
  return p.name if p.flag.action else p.flag.name[2:].replace('-', '_')


def _warmup_options(args: argparse.Namespace):
  """The WarmupOptions of `generate`'s flags; parameters without a flag take their default."""
  return options_lib.WarmupOptions(**{p.name: getattr(args, _dest(p))
                                      for p in parameters.PARAMETERS if p.flag})


if __name__ == '__main__':
  sys.exit(main())
