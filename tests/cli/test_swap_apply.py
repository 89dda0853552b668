"""`tfx-warmup swap`, `inspect` and `verify` say what to apply: the command, the files, the image.

In this process (`entry.main`, as the installed script runs it), so the swap's phases
can be shortened: one real swap (the allocator group, one run per case, jemalloc
made the winner so that there is something to apply), and the rest with the
measurement replaced by a section built from synthetic runs (`measured`), which
leaves the command line, the report and the files under test.
"""

import json
import math
import os

import pytest

from tests.library.test_run import source  # noqa: F401  (a fixture)
from tests.library.test_swap_apply import JEMALLOC_IN_IMAGE, measured, swap_section  # noqa: F401
from tfx_warmup import library
from tfx_warmup.cli import commands
from tfx_warmup.cli import entry
from tfx_warmup.cli import parser as cli_parser
from tfx_warmup.library import output
from tfx_warmup.library import swap as swap_lib
from tfx_warmup.report import model as report_model
from tfx_warmup.swap import allocators
from tfx_warmup.swap import verdict


@pytest.fixture(scope='module')
def warmed(tmp_path_factory, tf1_model_dir, source):
  """A SavedModel with a warmup file: both versions of the swaps here."""
  out = str(tmp_path_factory.mktemp('swap_cli') / 'warmed')
  return library.warm_model(tf1_model_dir, source, out, library.WarmupOptions(
      num_examples=8, batch_sizes=[1], measure=False)).model


def _swap(capfd, *args: str):
  """(exit status, stdout, stderr) of `tfx-warmup swap ARGS`."""
  status = entry.main(['swap', *args])
  out, err = capfd.readouterr()
  return status, out, err


def test_a_real_swap_prints_and_writes_what_applies_its_allocator(warmed, tmp_path, capfd,
                                                                  monkeypatch):
  if not all(allocators.find(name) for name in ('jemalloc', 'tcmalloc')):
    pytest.fail('jemalloc and tcmalloc are not installed: `make test` installs them as root '
                '(apt-get install libjemalloc2 libtcmalloc-minimal4).')
  # One run per case ranks here, whatever the noise, and jemalloc wins: something to apply.
  monkeypatch.setattr(verdict, 'MIN_REPETITIONS_TO_RANK', 1)
  monkeypatch.setattr(verdict, 'NOISE_LIMIT', math.inf)
  monkeypatch.setattr(verdict, 'beats', lambda case, defaults: case.name == 'jemalloc')
  out = tmp_path / 'out'
  status, stdout, stderr = _swap(capfd, '--old', warmed, '--new', warmed, '--output', str(out),
                                 '--repetitions', '1', '--candidates', 'allocator',
                                 '--model-name', 'ctr', '--plot', str(out / 'latency.png'))
  assert status == 0, stderr
  # Never silent: a line per fresh process (a calibration, then each of the 4 cases).
  progress = [line for line in stderr.splitlines() if line.startswith('tfx-warmup swap: process')]
  assert len(progress) == 5 and 'calibration 1' in progress[0], stderr
  assert "case 'no-warmup' run 1/1" in progress[-1]
  # The table: each case's rank, group and peak memory; what each case is, in words.
  rows = {line.split()[2]: line.split() for line in stdout.splitlines()
          if line[:1].isdigit() and '(' in line}
  assert set(rows) == {'defaults', 'jemalloc', 'tcmalloc', 'no-warmup'}
  assert rows['jemalloc'][3] == 'allocator' and rows['defaults'][3] == '-'
  assert sorted(int(r[0]) for r in rows.values()) == [1, 2, 3, 4]
  assert all(float(r[-1]) > 100 for r in rows.values())  # MiB: TensorFlow and two versions.
  assert "  jemalloc: TF Serving's defaults with jemalloc preloaded (LD_PRELOAD)" in stdout
  assert 'The swap needs ' in stdout and 'Verdict: recommended' in stdout
  # What applies it: the command, the image, the files beside the report.
  command = (f'LD_PRELOAD={JEMALLOC_IN_IMAGE} tensorflow_model_server --port=8500 '
             '--rest_api_port=8501 --model_name=ctr --model_base_path=/models/ctr')
  assert f'Serve with:\n  {command}\n' in stdout
  assert f'  ENV LD_PRELOAD={JEMALLOC_IN_IMAGE}' in stdout
  assert sorted(os.listdir(out)) == ['Dockerfile.serving', 'latency.png', 'swap_report.json',
                                     'tensorflow_model_server.sh']  # The plot once.
  assert (out / 'tensorflow_model_server.sh').read_text().endswith(command + '\n')
  assert (f'Wrote swap_report.json, tensorflow_model_server.sh, Dockerfile.serving to {out}'
          in stdout)


def test_swap_json_without_output_carries_the_command_and_the_config(warmed, capfd, measured):
  calls, _ = measured
  status, stdout, stderr = _swap(capfd, '--old', warmed, '--new', warmed, '--json',
                                 '--candidates', 'pools,allocator', '--memory-limit', '2Gi')
  assert status == 0, stderr
  assert calls[0]['groups'] == ['pools', 'allocator'] and calls[0]['memory_limit_mib'] == 2048
  swap = json.loads(stdout)['swap']
  assert swap['recommended'] == 'combined'
  assert swap['server_command'].startswith(f'LD_PRELOAD={JEMALLOC_IN_IMAGE} ')
  assert '--platform_config_file=/config/platform_config.pbtxt' in swap['server_command']
  assert 'session_run_load_threadpool_index' in swap['platform_config_text']
  assert swap['dockerfile'].startswith('FROM tensorflow/serving')
  assert swap['platform_config'] is None and swap['files'] == []
  assert 'written' not in swap['recommendation']
  assert 'tfx-warmup swap: process 1: ' in stderr  # Piped: a line per process.


def test_swap_text_without_output_shows_the_config_to_save(warmed, capfd, measured):
  status, stdout, _ = _swap(capfd, '--old', warmed, '--new', warmed)
  assert status == 0
  assert 'Serve with the command and platform config below.' in stdout
  assert 'Platform config (save it where --platform_config_file points):' in stdout
  assert '    session_run_load_threadpool_index {' in stdout
  assert 'Wrote' not in stdout and 'written beside' not in stdout
  assert 'Note: With server-side batching' in stdout


def test_a_swap_past_the_memory_limit_exits_1_in_one_line_writing_nothing(warmed, tmp_path,
                                                                          capfd, measured):
  _, settings = measured
  settings['peak_mib'] = 900
  out = tmp_path / 'out'
  status, stdout, stderr = _swap(capfd, '--old', warmed, '--new', warmed, '--output', str(out),
                                 '--memory-limit', '512Mi')
  assert status == 1 and stdout == ''
  errors = [line for line in stderr.splitlines() if line.startswith('tfx-warmup swap: error:')]
  assert len(errors) == 1 and 'The swap needs 900 MiB at peak' in errors[0]
  assert 'past the limit of 512 MiB' in errors[0] and 'OOM-killed' in errors[0]
  assert not out.exists()


@pytest.mark.parametrize('flag, value, expected', [
    ('--candidates', 'pools,gpu', "--candidates must be a list of ['pools', 'allocator', "
                                  "'threads']"),
    ('--memory-limit', 'lots', '--memory-limit must be a memory size such as'),
])
def test_bad_swap_flags_are_refused_by_the_parameter_s_own_check(flag, value, expected, capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli_parser.build_parser().parse_args(['swap', '--old', 'a', '--new', 'b', flag, value])
  assert exit_info.value.code == 2
  assert expected in capsys.readouterr().err


def test_no_candidates_measures_the_defaults_alone():
  args = cli_parser.build_parser().parse_args(
      ['swap', '--old', 'a', '--new', 'b', '--candidates', ''])
  assert args.candidates == [] and args.memory_limit is None
  default = cli_parser.build_parser().parse_args(['swap', '--old', 'a', '--new', 'b'])
  assert default.candidates == ['pools', 'allocator', 'threads']


def test_inspect_and_verify_print_the_command_the_files_and_the_dockerfile(tmp_path, capsys):
  section = swap_lib.write_server_config(swap_section('combined')[0], str(tmp_path), 'ctr')
  model_dir = tmp_path / 'Format-Serving'
  model_dir.mkdir()
  (tmp_path / output.REPORT_FILE).write_text(report_model.WarmupReport(
      warmup_file=report_model.warmup_file_section(None, []), swap=section).to_json())
  commands._print_swap_lines(str(model_dir))
  printed = capsys.readouterr().out
  assert printed.startswith('Version swap, measured when it was warmed: ')
  assert f'    {section.server_command}\n' in printed
  assert f"  Platform config: {tmp_path / 'platform_config.pbtxt'}" in printed
  assert f"TF Serving's image with the allocator ({tmp_path / 'Dockerfile.serving'}):" in printed
  assert f'    ENV LD_PRELOAD={JEMALLOC_IN_IMAGE}\n' in printed
  assert str(tmp_path / 'tensorflow_model_server.sh') in printed
