"""The replica without TFX: `tfx_warmup.serving` imports, resolves and replays, tfx unimportable.

TF Serving users who do not run TFX are told (serving/__init__) that they can
use the replica alone. This holds it to that in a fresh Python process where a
meta-path finder refuses `tfx` and every `tfx.*` module before anything is
imported, as if TFX were not installed: every module of the replica imports,
a model is resolved from its base path, its warmup file replayed and inspected,
and a batching parameters file read. The model and its warmup file are built
here, in the test's own process, and the child is given their path.
"""

import json
import os
import subprocess
import sys

from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.apis import regression_pb2
import tensorflow as tf

from tests import models
from tests.serving import requests as serving_requests

# Run first in the child: from here on, `import tfx` fails as if TFX were not installed.
_NO_TFX = r'''
import sys


class _NoTfx:
  """Refuses tfx and its submodules, as if TFX were not installed."""

  def find_spec(self, name, path=None, target=None):
    if name == 'tfx' or name.startswith('tfx.'):
      raise ModuleNotFoundError(f'No module named {name!r} (made unimportable)', name=name)
    return None


sys.meta_path.insert(0, _NoTfx())
'''

_REPLAY = r'''
import importlib
import json
import pkgutil

try:
  import tfx  # The finder above must refuse it, or this test proves nothing.
  tfx_blocked = False
except ImportError:
  tfx_blocked = True

import tfx_warmup.serving as serving
from tfx_warmup.serving import batching_config

modules = sorted(m.name for m in pkgutil.iter_modules(serving.__path__))
for module in modules:
  importlib.import_module(f'tfx_warmup.serving.{module}')

base, batching_file = sys.argv[1:3]
model = serving.resolve_model(base)
result = serving.replay_warmup(model.saved_model_dir)
inspection = serving.inspect_warmup(serving.warmup_file_path(model.saved_model_dir),
                                    model.saved_model_dir)
records = serving.read_warmup_file(serving.warmup_file_path(model.saved_model_dir))
with serving.load(model.saved_model_dir) as servable:
  regressions = [r.value for r in servable.run_log(records[0]).result.regressions]
print(json.dumps({
    'tfx_blocked': tfx_blocked,
    'modules': modules,
    'form': model.form,
    'saved_model_dir': model.saved_model_dir,
    'replayed': result.records,
    'summary': {f'{k.api} {k.signature} {k.batch_size}': n for k, n in result.summary.items()},
    'problems': [p.message for p in inspection.problems],
    'regressions': regressions,
    'batch_sizes': batching_config.config_from_file(batching_file).warmed_batch_sizes(),
    'tfx_modules': sorted(m for m in sys.modules if m == 'tfx' or m.startswith('tfx.')),
    'package_modules': sorted(m for m in sys.modules if m.startswith('tfx_warmup')
                              and not m.startswith('tfx_warmup.serving')),
}))
'''


def _run_without_tfx(code: str, *args: str) -> subprocess.CompletedProcess:
  """`code` in a fresh Python whose tfx is unimportable; its stdout and stderr captured."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  return subprocess.run([sys.executable, '-c', _NO_TFX + code, *args], env=env,
                        capture_output=True, text=True, timeout=600, check=False)


def _warmup_records():
  """Regress (batch 2), classify (batch 1) and Predict (batch 1) records for half_plus_two."""
  example = serving_requests.float_example
  regress = prediction_log_pb2.PredictionLog()
  regress.regress_log.request.CopyFrom(serving_requests.example_request(
      regression_pb2.RegressionRequest, [example(x=1.0), example(x=2.0)], 'regress_x_to_y'))
  classify = prediction_log_pb2.PredictionLog()
  classify.classify_log.request.CopyFrom(serving_requests.example_request(
      classification_pb2.ClassificationRequest, [example(x=3.0)], 'classify_x_to_y'))
  predict = prediction_log_pb2.PredictionLog()
  request = predict_pb2.PredictRequest()
  request.model_spec.signature_name = 'serving_default'
  request.inputs['x'].CopyFrom(tf.make_tensor_proto([[4.0]], dtype=tf.float32))
  predict.predict_log.request.CopyFrom(request)
  return [regress, classify, predict]


def test_the_replica_replays_a_warmup_file_with_tfx_unimportable(tmp_path, half_plus_two_dir):
  base = tmp_path / 'half_plus_two'
  models.copy_with_warmup(half_plus_two_dir, str(base / '7'), _warmup_records())
  batching_file = tmp_path / 'batching.pbtxt'
  batching_file.write_text('max_batch_size { value: 8 } allowed_batch_sizes: 2 '
                           'allowed_batch_sizes: 8')

  child = _run_without_tfx(_REPLAY, str(base), str(batching_file))

  assert child.returncode == 0, child.stderr[-3000:]
  out = json.loads(child.stdout.strip().splitlines()[-1])
  assert out['tfx_blocked']
  assert out['tfx_modules'] == []
  # The replica alone: nothing else of tfx-warmup (compat imports neither TFX nor TensorFlow).
  assert set(out['package_modules']) <= {'tfx_warmup', 'tfx_warmup.compat'}
  assert {'warmup', 'warmup_file', 'model_paths', 'inspection', 'servable', 'session',
          'batching_config', 'native'} <= set(out['modules'])
  assert out['form'] == 'directory of numbered versions'
  assert out['saved_model_dir'] == f'{base}/7'
  assert out['replayed'] == 3
  assert out['summary'] == {'classify classify_x_to_y 1': 1, 'predict serving_default 1': 1,
                            'regress regress_x_to_y 2': 1}
  assert out['problems'] == []
  assert out['regressions'] == [2.5, 3.0]  # y = 0.5 * x + 2.
  assert out['batch_sizes'] == [2, 8]


def test_the_child_fails_where_anything_imports_tfx():
  """The check above can fail: an import of tfx in the child is refused."""
  child = _run_without_tfx('from tfx.dsl.io import fileio\n')
  assert child.returncode != 0
  assert "No module named 'tfx' (made unimportable)" in child.stderr
