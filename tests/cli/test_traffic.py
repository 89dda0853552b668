"""`tfx-warmup profile` and `generate --traffic`, through the installed command."""

import json
import os

import pytest
import tensorflow as tf

from tests.cli.command import run
from tests.library.test_traffic import _call, _features, _log, _traffic
from tfx_warmup.traffic import FORMATS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope='module')
def traffic_log(tmp_path_factory, examples) -> str:
  return _log(tmp_path_factory.mktemp('cli_logs'), _traffic(examples))


@pytest.mark.parametrize('log_format', [f.name for f in FORMATS])
def test_profile_reads_every_format_of_the_table(log_format, tf1_model_dir, tmp_path):
  """Each format's documented sample, as its log holds it, read and recognised."""
  fmt = next(f for f in FORMATS if f.name == log_format)
  path = tmp_path / 'log'
  if fmt.framing == 'TFRecords':
    with tf.io.TFRecordWriter(str(path)) as writer:
      for record in fmt.sample_bytes():
        writer.write(record)
  else:
    path.write_bytes(b'\n'.join(fmt.sample_bytes()) + b'\n')
  proc = run('profile', '--model', tf1_model_dir, '--traffic', str(path), '--json')
  assert proc.returncode in (0, 1), proc.stderr  # 1: the samples' features are not this model's.
  traffic = json.loads(proc.stdout)['traffic']
  assert traffic['formats'] == {log_format: 1}
  assert traffic['requests'] == len(fmt.sample_bytes()) - traffic['not_requests']
  assert traffic['requests'] >= 1


def test_profile_prints_the_traffic_by_share_and_plots_it(tf1_model_dir, traffic_log,
                                                          tmp_path):
  plot = str(tmp_path / 'traffic.png')
  proc = run('profile', '--model', tf1_model_dir, '--traffic', traffic_log, '--plot', plot)
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.splitlines()
  assert lines[0].startswith(f'Traffic: 19 logged requests in {traffic_log} (rest); 1 lines')
  table = [line.split() for line in lines if line.startswith(('classify', 'regress',
                                                              'predict'))]
  assert [(row[0], row[2], row[5], row[6]) for row in table] == [
      ('classify', '1', '12', '63.2%'), ('regress', '3', '4', '21.1%'),
      ('predict', '2', '3', '15.8%')]
  assert 'This model would refuse none of the logged requests.' in proc.stdout
  assert os.path.getsize(plot) > 1000


def test_generate_from_traffic_alone_and_the_gate(tf1_model_dir, examples, tmp_path):
  out = str(tmp_path / 'warmed')
  proc = run('generate', '--model', tf1_model_dir, '--traffic', _log(tmp_path, _traffic(
      examples)), '--output', out, '--json')
  assert proc.returncode == 0, proc.stderr
  report = json.loads(proc.stdout)
  assert report['traffic']['coverage'] == 1.0 and report['warmup_file']['records'] == 3

  broken = _log(tmp_path, _traffic(examples) + [
      _call('classify', {'signature_name': 'classify_v1',
                         'examples': [_features(examples[0])]})], name='broken.jsonl')
  out = str(tmp_path / 'refused')
  proc = run('generate', '--model', tf1_model_dir, '--traffic', broken, '--output', out)
  assert proc.returncode == 1
  error = [line for line in proc.stderr.splitlines() if 'error:' in line]
  assert len(error) == 1 and 'would refuse 1 of 20 logged requests (5.0%)' in error[0]
  assert '--max-refused-traffic' in error[0]  # The fix, in the command line's words.
  assert not os.path.exists(out)
  proc = run('profile', '--model', tf1_model_dir, '--traffic', broken)
  assert proc.returncode == 1 and 'would refuse this model' in proc.stdout


def test_rest_traffic_passed_as_examples_says_traffic_takes_it(tf1_model_dir, traffic_log,
                                                               tmp_path):
  proc = run('generate', '--model', tf1_model_dir, '--examples', traffic_log, '--output',
             str(tmp_path / 'out'))
  assert proc.returncode == 1
  assert '--traffic' in proc.stderr and 'TF Serving REST' in proc.stderr
