"""The commands: each parses its flags, calls the library once, and prints what it returned.

`generate` is `library.warm_model`, `verify` `library.verify_model`, `swap`
`library.swap_models`, each returning the typed report; `inspect` is the
replica's `inspect_warmup`. Nothing here decides what to measure or write:
a command prints the report (text in the command line's words, `cli.terms`,
or JSON with --json) and returns the exit status. The one rule of the command
line itself, that a non-empty --output is replaced only with --overwrite, is
`run`'s.
"""

import argparse
import sys
from typing import List

# Each command imports TensorFlow, TFX and Beam when it runs: `--help` needs none of them.
from tfx_warmup.cli.parser import PROG, options_from_args
from tfx_warmup.cli.terms import in_cli_terms
from tfx_warmup.errors import UsageError


def generate(args: argparse.Namespace) -> int:
  """Writes a warmed copy of --model to --output."""
  from tfx_warmup import library

  options = options_from_args(args)
  if not args.examples and not (args.traffic and options.traffic_payloads == 'requests'):
    raise UsageError('Pass --examples (your tf.Examples), or --traffic (serving logs, whose '
                     'logged requests become the records).')
  model = library.resolve_model(args.model)  # The paths resolved before anything runs.
  examples = library.resolve_examples(args.examples) if args.examples else None
  baseline = library.resolve_model(args.baseline).saved_model_dir if args.baseline else None
  report = library.warm_model(model.saved_model_dir, examples, args.output, options,
                              layout=library.SAVED_MODEL,
                              make_pipeline=_beam_pipeline_factory(args.beam_args),
                              baseline_model_dir=baseline)
  if args.json:
    print(report.to_json())
    return 0
  source = (f'examples: {args.examples} ({examples.form}, splits {report.sample.splits})'
            if report.sample else f'traffic: {args.traffic}')
  print(f'Model: {model.saved_model_dir} ({model.form}); {source}\n')
  print(_text(report))
  print(f'\nWrote the warmed model to {args.output}')
  return 0


def inspect(args: argparse.Namespace) -> int:
  """Prints what a warmup file holds; exits 1 if TF Serving would reject it."""
  from tfx_warmup import library
  from tfx_warmup import serving
  from tfx_warmup.report import WarmupReport, warmup_file_section
  from tfx_warmup.serving import model_paths

  path, model_dir = model_paths.resolve_warmup_file(args.path)
  if args.model and not model_dir:
    model_dir = library.resolve_model(args.model).saved_model_dir
  if args.batching_parameters and not model_dir:
    raise UsageError('--batching-parameters checks records against the model: pass a '
                     'model directory, or --model with a bare warmup file.')
  with library.tag_sets_explained(model_dir, args.tag_set):
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
    print(_text(report, outputs_column=True))
    if not result.problems:
      print(f'\nTF Serving would accept all {report.warmup_file.records} records'
            + ('.' if model_dir else
               ' (signatures not checked: pass --model or a model directory).'))
    if model_dir:
      _print_swap_lines(model_dir)
  return 1 if result.problems else 0


def verify(args: argparse.Namespace) -> int:
  """Replays the model's warmup file as TF Serving would at load time; optionally measures."""
  from tfx_warmup import library
  from tfx_warmup.serving.contract import warmup_file_path

  model_dir = library.resolve_model(args.model).saved_model_dir
  report = library.verify_model(
      model_dir, tags=args.tag_set, batching_parameters_file=args.batching_parameters,
      num_request_iterations=args.num_request_iterations, measure=args.measure,
      requests=args.requests, plot_path=args.plot)
  validation, cold_start = report.validation, report.cold_start
  if args.json:
    print(report.to_json())
  elif not validation.ok:
    print(f'{PROG} verify: FAILED: {in_cli_terms(validation.error)}', file=sys.stderr)
  elif report.warmup_file.path is None:
    if cold_start:
      print(_text(report) + '\n')
    print(f'No warmup file: {warmup_file_path(model_dir)} does not exist. TF Serving loads '
          f'{model_dir} (just loaded in the replica) and warms nothing: the first request of '
          f'each signature and batch size pays its cold start. `{PROG} generate` writes a '
          'warmup file.')
  else:
    print(_text(report))
    print(f'\nOK: TF Serving would load {model_dir} and replay its '
          f'{validation.records} warmup records ({validation.seconds:.2f} s).')
    _print_swap_lines(model_dir)
  if args.plot and cold_start and not args.json:
    print(f'Latency plot: {args.plot}')
  return 0 if validation.ok else 1


def swap(args: argparse.Namespace) -> int:
  """Measures the swap --old -> --new; prints (and writes to --output) what keeps it flat."""
  from tfx_warmup import library
  from tfx_warmup import progress
  from tfx_warmup.library import swap as swap_lib
  from tfx_warmup.report import text

  report = library.swap_models(
      library.resolve_model(args.old).saved_model_dir,
      library.resolve_model(args.new).saved_model_dir, args.output, requests=args.requests,
      qps=args.qps, deadline_ms=args.deadline_ms, tags=args.tag_set,
      batching_parameters_file=args.batching_parameters,
      num_request_iterations=args.num_request_iterations, repetitions=args.repetitions,
      model_name=args.model_name, candidates=args.candidates, memory_limit=args.memory_limit,
      plot_path=args.plot,
      # No progress bar (stderr is not a terminal) and no library log (not --verbose): a
      # line per fresh process, so minutes of measuring are never silent.
      on_process=None if args.verbose or isinstance(
          progress.reporter(), progress.TerminalReporter) else _process_lines())
  if args.json:
    print(report.to_json())
    return 0
  print(in_cli_terms(text.format_swap(report.swap)))
  if args.output:
    print(f'\nWrote {", ".join([swap_lib.REPORT_FILE] + report.swap.files)} to {args.output}')
  if args.plot:
    print(f'Latency plot: {args.plot}')
  return 0


def _process_lines():
  """Prints each line `swap_models` gives on a fresh process to stderr, numbered."""
  count = 0

  def line(text: str) -> None:
    nonlocal count
    count += 1
    print(f'{PROG} swap: process {count}: {text}', file=sys.stderr, flush=True)
  return line


def profile(args: argparse.Namespace) -> int:
  """Prints what clients send (--traffic) to --model; exits 1 where `generate` would refuse."""
  from tfx_warmup import library
  from tfx_warmup.options import WarmupOptions
  from tfx_warmup.report import text

  options = WarmupOptions(traffic_logs=args.traffic, traffic_format=args.traffic_format,
                          traffic_api=args.traffic_api, tag_set=args.tag_set,
                          max_refused_traffic=args.max_refused_traffic, seed=args.seed)
  model_dir = library.resolve_model(args.model).saved_model_dir
  report = library.profile_traffic(
      model_dir, args.traffic, options,
      baseline_model_dir=library.resolve_model(args.baseline).saved_model_dir
      if args.baseline else None,
      make_pipeline=_beam_pipeline_factory(args.beam_args), plot_path=args.plot)
  refused = report.traffic.newly_refused_share > report.traffic.max_refused_traffic
  if args.json:
    print(report.to_json())
    return 1 if refused else 0
  print(in_cli_terms(text.format_traffic(report.traffic)))
  if refused:
    print(f'\n`{PROG} generate --traffic` would refuse this model: more than '
          f'--max-refused-traffic {report.traffic.max_refused_traffic:g} of the logged '
          'requests answered today would be refused.')
  if args.plot:
    print(f'Traffic plot: {args.plot}')
  return 1 if refused else 0


def _text(report, outputs_column=None) -> str:
  """The report's text, its messages in the command line's words."""
  from tfx_warmup.report import text
  return text.format_report(report, outputs_column, terms=in_cli_terms)


def _print_swap_lines(model_dir: str) -> None:
  """The swap measured when the model was warmed, from the Model artifact's report, if any:
  its recommendation, and what applies it (the command, the files beside the report, the
  Dockerfile lines)."""
  import os
  from tfx_warmup.library import output
  from tfx_warmup.report import text
  warmed = output.report_beside(model_dir)
  swap_section = warmed.swap if warmed else None
  if swap_section is None:
    return
  print(f'Version swap, measured when it was warmed: {swap_section.recommendation}')
  root = os.path.dirname(model_dir.rstrip('/'))  # A Model artifact: Format-Serving/'s parent.
  for line in text.format_swap_apply(swap_section, where=root):
    print(f'  {line}')


def _refuse_a_non_empty_output(output: str) -> None:
  """The command line's one rule on --output: what is there is replaced only if asked."""
  from tfx.dsl.io import fileio
  if fileio.exists(output) and fileio.listdir(output):
    raise UsageError(f'{output} is not empty. Pass --overwrite to replace it, or choose '
                     'another --output.')


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


COMMANDS = {'generate': generate, 'profile': profile, 'inspect': inspect, 'verify': verify,
            'swap': swap}


def run(args: argparse.Namespace) -> int:
  """Runs the command `args` names, after the rules every command shares."""
  if getattr(args, 'output', None) and not args.overwrite:
    _refuse_a_non_empty_output(args.output)
  return COMMANDS[args.command](args)
