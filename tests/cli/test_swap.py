"""`tfx-warmup swap`, driven as a user drives it: the installed command, in a subprocess."""

import json
import os
import shutil

import pytest

from tests.cli.test_cli import _one_line_error, run
from tests.cli.test_cli import data, generated  # noqa: F401  (fixtures this module reuses)
from tfx_warmup import report as report_lib
from tfx_warmup.serving import platform_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope='module')
def swapped(generated, tmp_path_factory):
  """(process, JSON report, output dir) of one `swap --json` run, version N to N+1."""
  warmed = generated[2]
  out = str(tmp_path_factory.mktemp('swap') / 'out')
  plot = os.path.join(os.path.dirname(out), 'swap.png')
  proc = run('swap', '--old', warmed, '--new', warmed, '--output', out, '--repetitions', '1',
             '--plot', plot, '--json')
  assert proc.returncode == 0, proc.stderr
  return proc, json.loads(proc.stdout), out, plot


def test_swap_measures_each_case_through_every_phase(swapped):
  _, report, _, _ = swapped
  swap = report['swap']
  assert [c['name'] for c in swap['cases']] == [
      'defaults', 'load-pool', 'named-pools', 'session-pools', 'no-warmup']
  for case in swap['cases']:
    phases = {p['phase']: p for p in case['phases']}
    assert phases['steady']['sent'] > 0 and phases['first']['sent'] > 0
    assert all(p['answered'] == p['sent'] for p in case['phases'])  # No request failed.
    assert case['window_p99_ms'] > 0 and len(case['window_p99_ms_runs']) == 1
  warmed, cold = swap['cases'][0], swap['cases'][-1]
  assert warmed['warmup_records'] == report['warmup_file']['records'] > 0
  assert cold['warmup_records'] == 0 and cold['warmup_seconds'] == 0
  assert swap['qps'] > 0 and 'capacity' in swap['qps_source']


def test_swap_writes_its_report_the_plot_and_a_parsable_config(swapped):
  _, report, out, plot = swapped
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
                                'fell 1 s behind 100000000 QPS before the swap'),
      'a deadline below p50': (['--old', warmed, '--new', warmed, '--deadline-ms', '0.0001'],
                               'at or below the old version\'s steady p50'),
  }
  for name, (args, expected) in cases.items():
    out = tmp_path / name.replace(' ', '_')
    proc = run('swap', *args, '--output', str(out), '--repetitions', '1')
    assert expected in _one_line_error(proc, 'swap'), name
    assert not out.exists(), name
  assert os.listdir(tmp_path) == ['broken']  # No output, staging or scratch left behind.
