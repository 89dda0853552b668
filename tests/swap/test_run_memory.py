"""A real swap's memory figures (swap.run): one per phase boundary and a peak above them all.

The model carries a 64 MiB variable, so each version's share of the resident
set stands out from the interpreter's and TensorFlow's own.
"""

import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from tests import models
from tfx_warmup import serving
from tfx_warmup.measure import child
from tfx_warmup.measure import memory
from tfx_warmup.swap import cases

MIB = 1 << 20
ROWS, DIM = 16384, 1024  # float32: 64 MiB of variables
VARIABLES = ROWS * DIM * 4


def _build(export_dir: str) -> str:
  def build():
    examples = tf.compat.v1.placeholder(tf.string, [None], name='examples')
    row = tf.io.parse_example(examples, {'row': tf.io.FixedLenFeature([], tf.int64)})['row']
    table = tf.compat.v1.get_variable(
        'table', shape=[ROWS, DIM], dtype=tf.float32,
        initializer=tf.compat.v1.random_uniform_initializer(-1.0, 1.0, seed=0))
    score = tf.reduce_sum(tf.nn.embedding_lookup(table, row % ROWS), 1)
    return {'serving_default': tf.compat.v1.saved_model.signature_def_utils
            .predict_signature_def({'examples': examples}, {'score': score})}
  return models.build_graph_model(export_dir, build)


def _record(rows) -> prediction_log_pb2.PredictionLog:
  record = prediction_log_pb2.PredictionLog()
  request = record.predict_log.request
  request.model_spec.signature_name = 'serving_default'
  request.inputs['examples'].CopyFrom(tf.make_tensor_proto([
      tf.train.Example(features=tf.train.Features(feature={'row': tf.train.Feature(
          int64_list=tf.train.Int64List(value=[r]))})).SerializeToString() for r in rows]))
  return record


@pytest.fixture(scope='module')
def swapped(tmp_path_factory):
  """The Timeline (as JSON) of one swap of the model to itself, under TF Serving's defaults."""
  root = tmp_path_factory.mktemp('memory_swap')
  model = _build(str(root / 'model'))
  serving.write_warmup_file(serving.warmup_file_path(model), [_record([1]), _record([2, 3])])
  requests = str(root / 'traffic')
  serving.write_warmup_file(requests, [_record([5]), _record([6, 7, 8])])
  return child.run_job('swap', {
      'old_dir': model, 'new_dir': model, 'requests_path': requests,
      'case': cases.cases()[0].to_json(), 'qps': 50, 'clients': 1,
      'phase_seconds': {'steady': 0.5, 'first': 0.5, 'after': 0.3}, 'tags': ['serve'],
      'batching': None})


def test_a_swap_reports_the_rss_at_each_boundary_and_the_peak(swapped):
  figures = swapped['memory']
  assert set(figures) == {'baseline', 'steady', 'loaded', 'warmed', 'unloaded', 'peak'}
  assert swapped['peak_source'] == ('vmhwm' if memory.reset_peak() else 'sampled')
  # The peak (from the steady phase on) is at least every RSS read in that time.
  assert figures['peak'] >= max(figures[k] for k in ('steady', 'loaded', 'warmed', 'unloaded'))
  # Each version's variables are resident while it is loaded.
  assert figures['steady'] - figures['baseline'] > 0.8 * VARIABLES
  assert figures['loaded'] - figures['steady'] > 0.8 * VARIABLES
  assert figures['peak'] - figures['steady'] > 0.8 * VARIABLES
  # No figure about the unload: TensorFlow's oneDNN CPU allocator (on by default on x86)
  # keeps the old version's freed tensors in its pool for the next load, so RSS need not drop.


def test_the_memory_readings_leave_the_timing_marks_as_they_were(swapped):
  marks = swapped['marks']
  assert list(marks) == ['steady', 'load', 'warmup', 'first', 'after', 'end']
  assert swapped['load_seconds'] == pytest.approx(marks['warmup'] - marks['load'], abs=1e-5)
  assert not swapped['errors']
