"""The one declaration of ModelWarmer's parameters, and what is held to it: README, command line."""

import json
import re
import subprocess
import sys

import pytest

from tfx_warmup import cli
from tfx_warmup import parameters
from tfx_warmup.options import WarmupOptions
from tests import pipeline_checks

# Only the component takes these: the command line samples every split and warms every output.
COMPONENT_ONLY = {'splits', 'output_filters'}


def _readme_section(title: str) -> str:
  with open(pipeline_checks.README) as f:
    readme = f.read()
  start = readme.index(f'\n{title}\n')
  end = re.compile(r'\n#{2,3} ').search(readme, start + len(title) + 2).start()
  return readme[start:end]


def test_building_the_parser_imports_neither_tensorflow_nor_tfx():
  """`tfx-warmup --help` starts in well under a second: no TF or TFX import on the way."""
  code = '\n'.join([
      'import contextlib, io, json, sys',
      'from tfx_warmup import cli',
      'parser = cli._parser()',
      "for command in ('generate', 'inspect', 'verify'):",
      '  with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):',
      "    parser.parse_args([command, '--help'])",
      "args = parser.parse_args(['generate', '--model', 'm', '--examples', 'e', '--output', 'o'])",
      'cli._warmup_options(args)',
      "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))",
  ])
  proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                        check=True)
  imported = set(json.loads(proc.stdout))
  assert 'tfx_warmup' in imported
  assert not imported & {'tensorflow', 'tfx', 'apache_beam'}


def test_readme_parameters_table_lists_every_parameter_with_its_default():
  rows = re.findall(r'^\| `(\w+)` \| ([^|]+) \|', _readme_section('### Parameters'), re.M)
  shown = {name: default.strip() for name, default in rows}
  assert shown.pop('model') == shown.pop('examples') == 'required'
  expected = {}
  for p in parameters.PARAMETERS:
    default = list(p.default) if isinstance(p.default, tuple) else p.default
    expected[p.name] = p.default_text or f'`{default!r}`'
  assert shown == expected


def test_readme_command_line_names_every_flag():
  section = _readme_section('## Command line')
  missing = [p.flag.name for p in parameters.PARAMETERS
             if p.flag and not re.search(rf'`{p.flag.name}( [A-Z]+)?`', section)]
  assert not missing


def test_every_parameter_but_the_component_only_ones_has_a_generate_flag():
  assert {p.name for p in parameters.PARAMETERS if not p.flag} == COMPONENT_ONLY


def _generate(*flags: str) -> WarmupOptions:
  args = cli._parser().parse_args(
      ['generate', '--model', 'm', '--examples', 'e', '--output', 'o', *flags])
  return cli._warmup_options(args)


def test_generate_flags_set_the_parameters():
  assert _generate(
      '--num-examples', '9', '--signatures', 'a, b', '--batch-sizes', '1,8', '--tag-set',
      'serve,gpu', '--model-name', 'm', '--seed', '3', '--no-validate', '--measure',
      '--sampling', 'stratified', '--stratify-feature', 'label', '--max-records', '50',
      '--requests-per-combination', '2', '--existing-warmup', 'merge',
      '--num-request-iterations', '3') == WarmupOptions(
          num_examples=9, signature_names=['a', 'b'], batch_sizes=[1, 8],
          tag_set=['serve', 'gpu'], model_name='m', seed=3, validate=False, measure=True,
          sampling='stratified', stratify_feature='label', max_records=50,
          requests_per_combination=2, existing_warmup='merge', num_request_iterations=3)
  assert _generate('--batching-parameters', 'b.txt').batching_parameters_file == 'b.txt'


def test_generate_defaults_are_the_components_but_measuring_is_opt_in():
  """Measuring starts two fresh model loads: the command line asks for it with --measure."""
  assert _generate() == WarmupOptions(measure=False)


@pytest.mark.parametrize('command,flags', [
    ('inspect', ['p', '--batching-parameters', 'b.txt']),
    ('verify', ['p', '--batching-parameters', 'b.txt', '--num-request-iterations', '3']),
])
def test_inspect_and_verify_share_the_declared_flags(command, flags):
  args = cli._parser().parse_args([command, *flags, '--tag-set', 'serve,gpu'])
  assert args.batching_parameters == 'b.txt' and args.tag_set == ['serve', 'gpu']
  if command == 'verify':
    assert args.num_request_iterations == 3


def test_a_bad_flag_value_is_a_usage_error(capsys):
  with pytest.raises(SystemExit):
    _generate('--batch-sizes', '1,x')
  assert 'expected comma-separated integers' in capsys.readouterr().err
