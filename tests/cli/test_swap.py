"""`tfx-warmup swap`, driven as a user drives it: the installed command, in a subprocess.

A swap is several fresh processes (a calibration, then each case), so the module
measures one, once: the checks of what it measured and of what it wrote are one
test (as two tests sharing a module fixture, the swap ran on each xdist worker that
took one of them). The refusals run at once: each is a command of its own.
"""

import json
import os
import shutil

import pytest

from tests.cli.command import run, run_all
from tests.cli.test_cli import _one_line_error
from tfx_warmup import report as report_lib
from tfx_warmup.serving import platform_config

pytestmark = pytest.mark.e2e


def test_swap_measures_every_case_and_writes_its_report_plot_and_config(generated, tmp_path):
  """One `swap --json` run, version N to N+1: what it measured, then what it wrote."""
  warmed = generated[2]
  out = str(tmp_path / 'out')
  plot = str(tmp_path / 'swap.png')
  proc = run('swap', '--old', warmed, '--new', warmed, '--output', out, '--repetitions', '1',
             '--candidates', '', '--plot', plot, '--json')
  assert proc.returncode == 0, proc.stderr
  report = json.loads(proc.stdout)
  _check_each_case_through_every_phase(report)
  _check_the_report_the_plot_and_a_parsable_config(report, out, plot)


def _check_each_case_through_every_phase(report) -> None:
  swap = report['swap']
  # No candidates: the defaults and no warmup, every phase of each (the candidates' runs are
  # tests/cli/test_swap_apply.py's).
  assert [c['name'] for c in swap['cases']] == ['defaults', 'no-warmup']
  for case in swap['cases']:
    phases = {p['phase']: p for p in case['phases']}
    assert phases['steady']['sent'] > 0 and phases['first']['sent'] > 0
    assert all(p['answered'] == p['sent'] for p in case['phases'])  # No request failed.
    assert case['window_p99_ms'] > 0 and len(case['window_p99_ms_runs']) == 1
  warmed, cold = swap['cases'][0], swap['cases'][-1]
  assert warmed['warmup_records'] == report['warmup_file']['records'] > 0
  assert cold['warmup_records'] == 0 and cold['warmup_seconds'] == 0
  assert swap['qps'] > 0 and 'capacity' in swap['qps_source']
  assert swap['verdict'] == 'too-few-runs' and swap['recommended'] is None  # one run each
  assert 'Measured, not ranked: 1 run per case' in swap['recommendation']


def _check_the_report_the_plot_and_a_parsable_config(report, out: str, plot: str) -> None:
  with open(os.path.join(out, 'swap_report.json')) as f:
    assert report_lib.WarmupReport.from_json(f.read()).swap.cases
  with open(plot, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  config_path = os.path.join(out, 'platform_config.pbtxt')
  if report['swap']['recommended'] is None:  # Nothing measured better: no file to follow.
    assert not os.path.exists(config_path) and report['swap']['platform_config'] is None
    return
  with open(config_path) as f:
    bundle = platform_config.read_platform_config(f.read(), config_path)
  assert bundle.enable_model_warmup
  assert '--platform_config_file=' in report['swap']['server_command']


def test_swap_refuses_bad_input_in_one_line_leaving_nothing(generated, tmp_path):
  warmed = generated[2]
  broken = str(tmp_path / 'broken')
  shutil.copytree(warmed, broken)
  for name in os.listdir(os.path.join(broken, 'variables')):
    with open(os.path.join(broken, 'variables', name), 'wb') as f:
      f.write(b'not a checkpoint')
  cases = {
      'no old version': (['--old', str(tmp_path / 'missing'), '--new', warmed],
                         'No model at'),
      'a new version that will not load': (['--old', warmed, '--new', broken],
                                           'TF Serving would fail to load'),
      'a rate it cannot hold': (['--old', warmed, '--new', warmed, '--qps', '100000000'],
                                # Half the suite's 0.5 s steady phase: the lag that stops it.
                                'fell 0.25 s behind 100000000 QPS before the swap'),
      'a deadline below p50': (['--old', warmed, '--new', warmed, '--deadline-ms', '0.0001'],
                               'at or below the old version\'s steady p50'),
  }
  outputs = {name: tmp_path / name.replace(' ', '_') for name in cases}
  procs = run_all({name: ['swap', *args, '--output', str(outputs[name]), '--repetitions', '1']
                   for name, (args, _) in cases.items()})  # At once: each is independent.
  for name, (_, expected) in cases.items():
    assert expected in _one_line_error(procs[name], 'swap'), name
    assert not outputs[name].exists(), name
  assert os.listdir(tmp_path) == ['broken']  # No output, staging or scratch left behind.
