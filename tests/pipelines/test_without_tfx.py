"""The README's "Without TFX" code, run: the library on plain paths, the replica alone."""

import json
import shutil
import subprocess
import sys

import tensorflow as tf

from pipelines import without_tfx
from tfx_warmup import serving


def test_warm_then_verdict(tf1_model_dir, examples, tmp_path, capsys):
  with tf.io.TFRecordWriter(str(tmp_path / 'eval-0.tfrecord')) as writer:
    for example in examples[:64]:
      writer.write(example.SerializeToString())
  out = str(tmp_path / 'warmed')
  report = without_tfx.warm(tf1_model_dir, str(tmp_path / 'eval-*'), out)
  assert f'{report.warmup_file.records} records, replayed in' in capsys.readouterr().out
  assert {r.batch_size for r in report.warmup_file.summary} == {1, 8, 32}
  assert without_tfx.tf_serving_verdict(out) == (
      f'TF Serving would load it and replay {report.warmup_file.records} warmup records')


def test_verdict_on_a_file_tf_serving_refuses(tf1_model_dir, tmp_path):
  model = tmp_path / 'model'
  shutil.copytree(tf1_model_dir, model)
  (model / 'assets.extra').mkdir()
  with tf.io.TFRecordWriter(serving.warmup_file_path(str(model)), 'GZIP') as writer:
    writer.write(b'x')  # TF Serving reads uncompressed files only.
  verdict = without_tfx.tf_serving_verdict(str(model))
  assert verdict.startswith('TF Serving would refuse it: DATA_LOSS')


def test_the_replica_alone_needs_no_tfx_warmup_part_but_serving():
  """A TF Serving user imports `tfx_warmup.serving` only: nothing of the component comes along."""
  code = ('import sys; from tfx_warmup import serving; serving.Servable; serving.replay_warmup; '
          'import json; print(json.dumps(sorted(m for m in sys.modules '
          'if m.startswith("tfx_warmup"))))')
  proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
  loaded = json.loads(proc.stdout.splitlines()[-1])
  assert all(m == 'tfx_warmup' or m.startswith('tfx_warmup.serving') for m in loaded), loaded
