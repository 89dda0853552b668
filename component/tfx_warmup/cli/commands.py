"""The commands: each calls the library and the replica directly, as any user's code would.

`generate` is `library.warm_model` on the paths given; `inspect` is the
replica's `inspect_warmup`; `verify` loads the model as TF Serving would,
replays its warmup file through the library's validation, and optionally
measures. Each returns the exit status and prints its report (text, or JSON
with --json).
"""

import argparse
import sys
from typing import List

# pylint: disable=g-import-not-at-top  (the heavy imports wait until a command runs)
from tfx_warmup.cli.parser import PROG, options_from_args
from tfx_warmup.errors import UsageError


def generate(args: argparse.Namespace) -> int:
  """Writes a warmed copy of --model to --output."""
  from tfx.dsl.io import fileio
  from tfx_warmup import library
  from tfx_warmup.report import text

  if fileio.exists(args.output) and fileio.listdir(args.output) and not args.overwrite:
    raise UsageError(f'{args.output} is not empty. Pass --overwrite to replace it, or '
                     'choose another --output.')
  model = library.resolve_model(args.model)  # Both paths resolved before anything runs.
  examples = library.resolve_examples(args.examples)
  options = options_from_args(args)
  report = library.warm_model(model.saved_model_dir, examples, args.output, options,
                              make_pipeline=_beam_pipeline_factory(args.beam_args))
  if args.json:
    print(report.to_json())
  else:
    print(f'Model: {model.saved_model_dir} ({model.form}); examples: {args.examples} '
          f'({examples.form}, splits {report.sample.splits})\n')
    print(text.format_report(report))
    print(f'\nWrote the warmed model to {args.output}')
  return 0


def inspect(args: argparse.Namespace) -> int:
  """Prints what a warmup file holds; exits 1 if TF Serving would reject it."""
  from tfx_warmup import serving
  from tfx_warmup.report import WarmupReport, text, warmup_file_section
  from tfx_warmup.serving import model_paths

  path, model_dir = model_paths.resolve_warmup_file(args.path)
  if args.model and not model_dir:
    model_dir = model_paths.resolve_model(args.model).saved_model_dir
  if args.batching_parameters and not model_dir:
    raise UsageError('--batching-parameters checks records against the model: pass a '
                     'model directory, or --model with a bare warmup file.')
  result = serving.inspect_warmup(path, model_dir, args.tag_set, _batching(args))
  report = WarmupReport(
      model=model_dir,
      warmup_file=warmup_file_section(path if result.exists else None, result.records,
                                      result.problems))
  if args.json:
    print(report.to_json())
  elif not result.exists:
    print(f'No warmup file: {path} does not exist. TF Serving loads the model without '
          'one and warms nothing: the first request of each signature and batch size pays '
          f'its cold start.\n`{PROG} verify {args.path}` proves the load (add --measure '
          f'--requests FILE to time the cold start); `{PROG} generate` writes a warmup file.')
  else:
    print(text.format_report(report, outputs_column=True))
    if not result.problems:
      print(f'\nTF Serving would accept all {report.warmup_file.records} records'
            + ('.' if model_dir else
               ' (signatures not checked: pass --model or a model directory).'))
    if model_dir:
      _print_swap_lines(model_dir)
  return 1 if result.problems else 0


def verify(args: argparse.Namespace) -> int:
  """Replays the model's warmup file as TF Serving would at load time; optionally measures."""
  from tfx.dsl.io import fileio
  from tfx_warmup import library
  from tfx_warmup import serving
  from tfx_warmup.library import validation as validation_lib
  from tfx_warmup.measure import plot
  from tfx_warmup.report import WarmupReport, text, warmup_file_section

  measure = args.measure or bool(args.plot)
  model_dir = serving.resolve_model(args.model).saved_model_dir
  path = serving.warmup_file_path(model_dir)
  has_file = fileio.exists(path)
  if measure and not has_file and not args.requests:
    raise UsageError(
        f'{model_dir} has no warmup file ({path}), so there are no records to time. Pass '
        '--requests FILE (a TFRecord of PredictionLogs, e.g. TF Serving request logs) to '
        f'measure its cold start, or run `{PROG} generate --measure` on your examples to '
        'measure it without and with warmup.')
  batching = _batching(args)
  cold_start = None
  records = []
  with serving.load(model_dir, args.tag_set, batching=batching) as servable:
    try:
      if has_file:
        records = serving.read_warmup_file(path)
      validation = validation_lib.validate_records(servable, records,
                                                   args.num_request_iterations, path,
                                                   examples=None)
    except serving.WarmupReplayError as e:
      validation = validation_lib.failed_validation(e, args.num_request_iterations, batching)
  if validation.ok and measure:
    live = (serving.read_warmup_file(args.requests) if args.requests
            else _one_record_per_key(records))
    cold_start = library.measure_cold_start(model_dir, live, args.tag_set, batching,
                                            with_warmup=has_file)
    if args.plot:
      plot.plot_first_requests(cold_start, args.plot, title=(
          f'First requests after loading {model_dir}' + ('' if has_file else ' (no warmup)')))
  report = WarmupReport(model=model_dir,
                        warmup_file=warmup_file_section(path if has_file else None, records),
                        validation=validation, cold_start=cold_start)
  if args.json:
    print(report.to_json())
  elif not validation.ok:
    print(f'{PROG} verify: FAILED: {validation.error}', file=sys.stderr)
  elif not has_file:
    if cold_start:
      print(text.format_report(report) + '\n')
    print(f'No warmup file: {path} does not exist. TF Serving loads {model_dir} (just '
          'loaded in the replica) and warms nothing: the first request of each signature and '
          f'batch size pays its cold start. `{PROG} generate` writes a warmup file.')
  else:
    print(text.format_report(report))
    print(f'\nOK: TF Serving would load {model_dir} and replay its '
          f'{validation.records} warmup records ({validation.seconds:.2f} s).')
    _print_swap_lines(model_dir)
  if args.plot and cold_start and not args.json:
    print(f'Latency plot: {args.plot}')
  return 0 if validation.ok else 1


def swap(args: argparse.Namespace) -> int:
  """Measures the swap --old -> --new; writes the config that keeps it flat to --output."""
  import os
  import tempfile
  from tfx.dsl.io import fileio
  from tfx_warmup import serving
  from tfx_warmup.library import output
  from tfx_warmup.library import swap as swap_lib
  from tfx_warmup.report import WarmupReport, text, warmup_file_section

  if args.output and fileio.exists(args.output) and fileio.listdir(args.output) and (
      not args.overwrite):
    raise UsageError(f'{args.output} is not empty. Pass --overwrite to replace it, or '
                     'choose another --output.')
  if args.repetitions < 1:
    raise UsageError(f'--repetitions must be at least 1, got {args.repetitions}.')
  old = serving.resolve_model(args.old).saved_model_dir
  new = serving.resolve_model(args.new).saved_model_dir
  path = serving.warmup_file_path(new)
  records = serving.read_warmup_file(path) if fileio.exists(path) else []
  if not records and not args.requests:
    raise UsageError(
        f'{new} has no warmup file ({path}), so there is no traffic to send. Pass '
        f'--requests FILE (a TFRecord of PredictionLogs), or warm it first with `{PROG} '
        'generate`.')
  live = serving.read_warmup_file(args.requests) if args.requests else _one_record_per_key(
      records)
  with tempfile.TemporaryDirectory() as scratch:
    target = args.output or os.path.join(scratch, 'swap')
    with output.staged_output(target) as staged:  # Nothing at --output unless all succeeds.
      fileio.makedirs(staged.root)
      section = swap_lib.measure_swap(
          old, new, live, qps=args.qps, deadline_ms=args.deadline_ms, tags=args.tag_set,
          batching=_batching(args), num_request_iterations=args.num_request_iterations,
          repetitions=args.repetitions,
          plot_path=os.path.join(staged.root, swap_lib.PLOT_FILE) if args.plot else None)
      if args.output:
        section = swap_lib.write_server_config(section, staged.root, args.model_name,
                                               args.batching_parameters,
                                               args.num_request_iterations)
      report = WarmupReport(model=new, warmup_file=warmup_file_section(
          path if records else None, records), swap=section)
      with fileio.open(os.path.join(staged.root, swap_lib.REPORT_FILE), 'w') as f:
        f.write(report.to_json())
    if args.plot:
      fileio.copy(os.path.join(target, swap_lib.PLOT_FILE), args.plot, overwrite=True)
  if args.json:
    print(report.to_json())
  else:
    print(text.format_swap(section))
    if args.output:
      print(f'\nWrote {swap_lib.REPORT_FILE}'
            + (f' and {section.platform_config}' if section.platform_config else '')
            + f' to {args.output}')
  return 0


def _print_swap_lines(model_dir: str) -> None:
  """The swap measured when the model was warmed, from the Model artifact's report, if any."""
  import os
  from tfx.dsl.io import fileio
  from tfx_warmup.library import output
  from tfx_warmup.library import swap as swap_lib
  from tfx_warmup.report import WarmupReport
  root = os.path.dirname(model_dir.rstrip('/'))  # A Model artifact: Format-Serving/'s parent.
  path = os.path.join(root, output.REPORT_FILE)
  if not fileio.exists(path):
    return
  try:
    with fileio.open(path) as f:
      swap = WarmupReport.from_json(f.read()).swap
  except ValueError:  # Another schema version: its swap figures are not read.
    return
  if swap is None:
    return
  print(f'Version swap, measured when it was warmed: {swap.recommendation}')
  if swap.platform_config:
    print(f'  {os.path.join(root, swap_lib.PLATFORM_CONFIG_FILE)}; serve with: '
          f'{swap.server_command}')


def _one_record_per_key(records: List) -> List:
  """Live traffic for --measure: the first record of each kind, signature and batch size."""
  from tfx_warmup.serving import records as records_lib
  chosen = {}
  for record in records:
    chosen.setdefault(records_lib.record_key(record), record)
  return list(chosen.values())


def _batching(args: argparse.Namespace):
  """The server-side batching of --batching-parameters, if given."""
  if not args.batching_parameters:
    return None
  from tfx_warmup.serving import batching_config
  return batching_config.config_from_file(args.batching_parameters)


def _beam_pipeline_factory(beam_args: List[str]):
  """Makes the Beam pipeline that samples: a local runner as is, a remote one packaged.

  The runner is checked first (`data.runners`: Dask is refused, a misspelt name is
  one line). Only a runner whose workers run elsewhere (Dataflow, Flink, Spark, a
  job server) gets TFX's packaging flags (an sdist of the installed package),
  unless --setup_file, --extra_package or a container image already provides it.
  """
  import apache_beam as beam
  from tfx_warmup.data import runners
  args = list(beam_args) or ['--direct_num_workers=1']
  runners.check_runner(args)
  if runners.needs_package(args):
    from tfx.utils import dependency_utils
    args = dependency_utils.make_beam_dependency_flags(args)
  return lambda: beam.Pipeline(argv=args)


def run(args: argparse.Namespace) -> int:
  return {'generate': generate, 'inspect': inspect, 'verify': verify,
          'swap': swap}[args.command](args)

