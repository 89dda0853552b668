"""The `tfx-warmup` command line's arguments: plain argparse, no TensorFlow, so `--help` is instant.

The generated CLI reference (docs) is built from `build_parser()`.
"""

import argparse
import textwrap
from typing import Optional

from tfx_warmup.options import parameters
from tfx_warmup.options.parameter import Parameter

PROG = 'tfx-warmup'
DESCRIPTION = ('tfx-warmup: give a SavedModel TF Serving warmup requests, look inside them, '
               'prove them.')

_EXAMPLES = {
    'generate': """\
        examples:
          tfx-warmup generate --model models/ctr/3 --examples 'data/eval-*.tfrecord.gz' \\
              --output warmed/ctr/3 --batch-sizes 1,8,32
          tfx-warmup generate --model gs://b/models/ctr/3 --examples 'gs://b/eval/*' \\
              --output gs://b/serving/ctr/3 --beam-arg=--direct_num_workers=4 --json
          tfx-warmup generate --model pipeline/Trainer/model/7 \\
              --examples pipeline/CsvExampleGen/examples/1 --output warmed/7
          tfx-warmup generate --model models/ctr/3 --traffic 'logs/requests-*.jsonl.gz' \\
              --output warmed/ctr/3             # the logged requests themselves
        exit status: 1 if the model would refuse more logged requests answered today than
        --max-refused-traffic (nothing is written).
        """,
    'profile': """\
        examples:
          tfx-warmup profile --model models/ctr/3 --traffic 'logs/requests-*.jsonl.gz'
          tfx-warmup profile --model models/ctr/3 --traffic 'bq-export/*.json' \\
              --baseline models/ctr/2 --plot traffic.png --json
        exit status: 1 if the model would refuse more logged requests answered today than
        --max-refused-traffic (what `generate --traffic` would refuse to write), else 0.
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
    'swap': """\
        examples:
          tfx-warmup swap --old models/ctr/2 --new warmed/ctr/3 --output swap/
          tfx-warmup swap --old models/ctr/2 --new warmed/ctr/3 --qps 400 --deadline-ms 20 \\
              --requests traffic.tfrecord --output swap/ --plot swap/latency.png
          tfx-warmup swap --old models/ctr/2 --new warmed/ctr/3 --candidates allocator \\
              --memory-limit 4Gi --json         # print only; the command is in the JSON
        writes: swap/swap_report.json and, when a candidate measured better than TF Serving's
        defaults, what applies it: swap/tensorflow_model_server.sh (the command),
        swap/platform_config.pbtxt (when a setting has no flag), swap/Dockerfile.serving (when
        an allocator is recommended).
        exit status: 1 if the swap cannot be measured, or its peak memory passes
        --memory-limit (nothing is written).
        """,
}


_MODEL_HELP = ('a SavedModel directory, a Model artifact (holding Format-Serving/), an '
               'Estimator export (export/<name>/<timestamp>/), or a directory of numbered '
               'versions (the highest)')


def build_parser() -> argparse.ArgumentParser:
  """The whole command line; each command's `run` default names its function in `commands`."""
  parser = argparse.ArgumentParser(
      prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog=textwrap.dedent('''\
          examples:
            tfx-warmup generate --model SAVED_MODEL --examples 'data/*.tfrecord' --output OUT
            tfx-warmup inspect OUT
            tfx-warmup verify OUT --measure --plot cold_start.png
          Run `tfx-warmup COMMAND --help` for each command's options.'''))
  commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')

  def command(name: str, help_text: str) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=help_text, description=help_text,
                              epilog=textwrap.dedent(_EXAMPLES[name]),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.add_argument('--json', action='store_true',
                     help='print the report as JSON (the schema of warmup_report.json)')
    _add_parameter_flag(sub, 'tag_set')
    sub.add_argument('--verbose', action='store_true',
                     help='show TF, Beam and progress logs instead of progress bars')
    return sub

  gen = command('generate',
                'Write a copy of a SavedModel with warmup requests built from your examples, '
                'replayed in the TF Serving replica before anything is written.')
  gen.add_argument('--model', required=True, help=_MODEL_HELP)
  gen.add_argument('--examples',
                   help="tf.Examples: a quoted glob of TFRecord files, a file, a directory of "
                        "them, a Split-<name> directory, or an Examples artifact (a directory "
                        "of Split-<name>/; its 'eval' split if it has one, else all). '.gz' "
                        'files are GZIP, others uncompressed. Not needed with --traffic, '
                        'whose logged requests become the records')
  gen.add_argument('--output', required=True, help='directory for the warmed SavedModel')
  gen.add_argument('--overwrite', action='store_true', help='replace a non-empty --output')
  for p in parameters.PARAMETERS:
    if p.flag and p.name != 'tag_set':  # Every command has --tag-set.
      _add_parameter_flag(gen, p.name)
  gen.add_argument('--baseline', help='the version being served: requests it answers that '
                   '--model would refuse count against --max-refused-traffic')
  _add_beam_args(gen)

  pro = command('profile',
                'What clients send, from serving traffic logs: requests per API, signature, '
                'batch size, fetch set and shape, by share; and which ones the model would '
                'refuse.')
  pro.add_argument('--model', required=True, help=_MODEL_HELP)
  pro.add_argument('--baseline', help='the version being served, to tell requests the model '
                   'would newly refuse from those refused already')
  pro.add_argument('--plot', help='write a PNG of the requests per combination')
  _add_parameter_flag(pro, 'traffic_logs', 'serving traffic logs: a quoted glob (.gz read)',
                      required=True)
  for name in ('traffic_format', 'traffic_api', 'max_refused_traffic', 'seed'):
    _add_parameter_flag(pro, name)
  _add_beam_args(pro)

  ins = command('inspect',
                'Show the records of a warmup file (or of a SavedModel\'s) by kind, '
                'signature, batch size and outputs, and what TF Serving would reject.')
  ins.add_argument('path', help='a warmup file, or a model holding one: ' + _MODEL_HELP)
  ins.add_argument('--model', help='check a bare warmup file against this model')
  _add_parameter_flag(ins, 'batching_parameters_file',
                      "TF Serving's --batching_parameters_file; records are also checked "
                      "against that server-side batching's admission rules (needs the model)")

  ver = command('verify',
                "Replay a SavedModel's warmup file as TF Serving would at load time.")
  ver.add_argument('model', help=_MODEL_HELP + '. Without a warmup file, verify proves the '
                   'model loads (TF Serving then warms nothing) and exits 0')
  ver.add_argument('--measure', action='store_true',
                   help=parameters.BY_NAME['measure'].help + ', per signature and batch size')
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

  swp = command('swap',
                "Measure a version swap as TF Serving performs it: the serving version's "
                'latency while the next one loads and replays its warmup file, under TF '
                "Serving's defaults and candidate settings (thread pools, the allocator, thread "
                'counts), each in fresh processes; print, and with --output write, the server '
                'command, platform config and Dockerfile of the settings that keep it flat.')
  swp.add_argument('--old', required=True, help='the version being served: ' + _MODEL_HELP)
  swp.add_argument('--new', required=True, help='the version to swap to (its warmup file is '
                   'replayed)')
  swp.add_argument('--output', help='directory for swap_report.json and the files that apply '
                   'the recommendation (default: print only)')
  swp.add_argument('--overwrite', action='store_true', help='replace a non-empty --output')
  swp.add_argument('--qps', type=int, help=parameters.BY_NAME['swap_qps'].help)
  swp.add_argument('--deadline-ms', type=float,
                   help=parameters.BY_NAME['swap_deadline_ms'].help)
  swp.add_argument('--requests',
                   help='a TFRecord of PredictionLogs to send as traffic (default: one record '
                        "of each kind, signature and batch size in the new version's warmup "
                        'file)')
  swp.add_argument('--repetitions', type=int,
                   help='fresh-process runs per case (default 3, or '
                        '$TFX_WARMUP_SWAP_REPETITIONS)')
  swp.add_argument('--plot', help='write a PNG of the latency through the swap')
  # The swap's own parameters (component-only, so no Flag of theirs): help and check as declared.
  groups = parameters.BY_NAME['swap_candidates'].default
  _add_checked_flag(swp, 'swap_candidates', '--candidates', 'GROUPS', as_list=True,
                    default=list(groups), suffix=", comma-separated; '' for none (default "
                    + ','.join(groups) + ')')
  _add_checked_flag(swp, 'swap_memory_limit', '--memory-limit', 'SIZE')
  _add_parameter_flag(swp, 'batching_parameters_file',
                      "TF Serving's --batching_parameters_file; both versions serve under "
                      'that server-side batching')
  _add_parameter_flag(swp, 'num_request_iterations')
  _add_parameter_flag(swp, 'model_name', 'the model name in the server command')
  return parser


def _add_checked_flag(sub: argparse.ArgumentParser, name: str, flag: str, metavar: str,
                      as_list: bool = False, default=None, suffix: str = '') -> None:
  """A flag for a parameter declared without one: its help as declared, its value (the text,
  or a comma-separated list) held to the parameter's own check."""
  p = parameters.BY_NAME[name]

  def parse(text: str):
    value = [v.strip() for v in text.split(',') if v.strip()] if as_list else text
    problem = p.check(p, value)
    if problem:
      raise argparse.ArgumentTypeError(problem.replace(name, flag))
    return value

  sub.add_argument(flag, metavar=metavar, type=parse, default=default,
                   dest=flag[2:].replace('-', '_'), help=(p.help + suffix).replace('%', '%%'))


def _add_beam_args(sub: argparse.ArgumentParser) -> None:
  sub.add_argument('--beam-arg', action='append', default=[], dest='beam_args',
                   help='a Beam pipeline argument, e.g. --beam-arg=--direct_num_workers=4 '
                        '(repeatable)')


def _add_parameter_flag(sub: argparse.ArgumentParser, name: str,
                        help_text: Optional[str] = None, required: bool = False) -> None:
  """The flag of a ModelWarmer parameter, as `parameters` declares it."""
  p = parameters.BY_NAME[name]
  text = (help_text or p.flag.help or p.help).replace('%', '%%')  # argparse formats it.
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
      type=p.flag.parse or {int: int, float: float}.get(p.encoding.exec_type),
      default=list(p.default) if isinstance(p.default, tuple) else p.default,
      required=required)


def _dest(p: Parameter) -> str:
  """The flag's attribute in the parsed arguments: --batch-sizes -> batch_sizes."""
  return p.name if p.flag.action else p.flag.name[2:].replace('-', '_')


def options_from_args(args: argparse.Namespace):
  """The WarmupOptions of `generate`'s flags; parameters without a flag take their default."""
  from tfx_warmup.options import WarmupOptions
  return WarmupOptions(**{p.name: getattr(args, _dest(p))
                          for p in parameters.PARAMETERS if p.flag})
