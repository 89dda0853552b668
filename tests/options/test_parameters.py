"""ModelWarmer's parameters, declared once, and what is held to it: options, spec, docs, CLI."""

import dataclasses
import json
import pathlib
import re
import subprocess
import sys

import pytest

import tfx_warmup
from tfx_warmup.cli import parser as cli_parser
from tfx_warmup.options import parameters
from tfx_warmup.options.warmup_options import WarmupOptions
from tests.pipelines import checks as pipeline_checks

# Only the component takes these: the command line samples every split and warms every output.
# The swap's: the command line measures it with `tfx-warmup swap`.
COMPONENT_ONLY = {'splits', 'output_filters', 'measure_swap', 'swap_qps', 'swap_deadline_ms',
                  'swap_candidates', 'swap_memory_limit'}


def _cli_page_section(title: str) -> str:
  with open(pipeline_checks.CLI_DOC) as f:
    readme = '\n' + f.read()
  start = readme.index(f'\n{title}\n')
  end = re.compile(r'\n#{2,3} ').search(readme, start + len(title) + 2).start()
  return readme[start:end]


def test_building_the_parser_imports_neither_tensorflow_nor_tfx():
  """`tfx-warmup --help` starts in well under a second: no TF or TFX import on the way."""
  code = '\n'.join([
      'import contextlib, io, json, sys',
      'from tfx_warmup.cli import parser as cli_parser',
      'parser = cli_parser.build_parser()',
      "for command in ('generate', 'inspect', 'verify'):",
      '  with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):',
      "    parser.parse_args([command, '--help'])",
      "args = parser.parse_args(['generate', '--model', 'm', '--examples', 'e', '--output', 'o'])",
      'cli_parser.options_from_args(args)',
      "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))",
  ])
  proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                        check=True)
  imported = set(json.loads(proc.stdout))
  assert 'tfx_warmup' in imported
  assert not imported & {'tensorflow', 'tfx', 'apache_beam'}


def test_cli_page_names_every_flag():
  section = _cli_page_section('# Command line')
  missing = [p.flag.name for p in parameters.PARAMETERS
             if p.flag and not re.search(rf'`{p.flag.name}( [A-Z]+)?`', section)]
  assert not missing


def test_every_parameter_but_the_component_only_ones_has_a_generate_flag():
  assert {p.name for p in parameters.PARAMETERS if not p.flag} == COMPONENT_ONLY


def _generate(*flags: str) -> WarmupOptions:
  args = cli_parser.build_parser().parse_args(
      ['generate', '--model', 'm', '--examples', 'e', '--output', 'o', *flags])
  return cli_parser.options_from_args(args)


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
  args = cli_parser.build_parser().parse_args([command, *flags, '--tag-set', 'serve,gpu'])
  assert args.batching_parameters == 'b.txt' and args.tag_set == ['serve', 'gpu']
  if command == 'verify':
    assert args.num_request_iterations == 3


def test_a_bad_flag_value_is_a_usage_error(capsys):
  with pytest.raises(SystemExit):
    _generate('--batch-sizes', '1,x')
  assert 'expected comma-separated integers' in capsys.readouterr().err


def test_parameters_are_read_back_from_the_warmup_options_fields():
  """Each field declares its parameter: name, type and default are the field's own."""
  fields = dataclasses.fields(WarmupOptions)
  assert [(f.name, f.type, f.default) for f in fields] == [
      (p.name, p.annotation, p.default) for p in parameters.PARAMETERS]
  assert all(p.help and p.doc for p in parameters.PARAMETERS)


def test_each_parameter_is_written_in_one_place():
  """A parameter's help and doc stand only in its field: the spec, docstring and flags derive."""
  package = pathlib.Path(tfx_warmup.__file__).parent
  sources = {path.relative_to(package).as_posix(): path.read_text()
             for path in package.rglob('*.py')}
  for p in parameters.PARAMETERS:
    for text in {p.help, p.doc} - {'sampling seed', 'how to sample', 'examples to sample'}:
      # The literal's opening: a fragment on one source line, before any formatted number.
      start = re.split(r'\d', text)[0][:45]
      assert [path for path, source in sources.items()
              if f"'{start}" in source or f'"{start}' in source] == [
                  'options/warmup_options.py'], (p.name, start)


def test_spec_parameters_are_the_declared_ones():
  from tfx_warmup.component import spec  # TFX: only this test needs it
  assert {name: (p.type, p.optional) for name, p in spec.ModelWarmerSpec.PARAMETERS.items()} == {
      p.name: (p.encoding.exec_type, p.default is None) for p in parameters.PARAMETERS}
  assert not [name for name in vars(spec) if name.endswith('_KEY') and name not in (
      'MODEL_KEY', 'EXAMPLES_KEY', 'BASELINE_MODEL_KEY', 'TRAFFIC_KEY', 'WARMED_MODEL_KEY')]


@pytest.mark.parametrize('message,expected', [
    ('leave the signature out of signature_names.', 'leave the signature out of --signatures.'),
    ("Use existing_warmup='replace' instead", 'Use --existing-warmup replace instead'),
    ('lower num_examples to measure', 'lower --num-examples to measure'),
    ('the chosen splits hold no examples', 'the chosen splits hold no examples'),  # Prose.
    ('Fix `seed`.', 'Fix --seed.'),  # A one-word name only in backticks.
    ('set validate=False', 'set validate=False'),  # --no-validate would read backwards.
    ('No files match /data/batch_sizes/eval-*', 'No files match /data/batch_sizes/eval-*'),
    ('see my_signature_names_list', 'see my_signature_names_list'),
])
def test_messages_name_parameters_by_their_flags_for_the_command_line(message, expected):
  assert parameters.in_flag_terms(message) == expected
