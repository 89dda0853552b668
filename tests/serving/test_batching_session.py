"""Server-side batching: the replica pads, checks and splits as TF Serving's BatchingSession.

The models here expose what batching does to them: `rows` returns, per row, the
batch size the graph actually ran with, so padding is visible in the answer.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tests import models
from tests.cli import command
from tfx_warmup import serving
from tfx_warmup.library import validation
from tfx_warmup.serving import batching_config as batching
from tfx_warmup.serving import inspection
from tfx_warmup.serving import warmup_file

_SIG = tf.compat.v1.saved_model.signature_def_utils


def _build():
  x = tf.compat.v1.placeholder(tf.float32, [None], name='x')
  scale = tf.compat.v1.placeholder_with_default(tf.constant([1.0]), [None], name='scale')
  rows = tf.fill(tf.shape(x), tf.shape(x)[0], name='rows')
  return {
      'serving_default': _SIG.predict_signature_def({'x': x}, {'y': x * 2.0, 'rows': rows}),
      'two_inputs': _SIG.predict_signature_def({'x': x, 'scale': scale}, {'y': x * scale}),
      'total': _SIG.predict_signature_def({'x': x}, {'sum': tf.reduce_sum(x, keepdims=True)}),
      'version': _SIG.predict_signature_def({'x': x}, {'y': x + 1.0, 'v': tf.constant(3)}),
  }


@pytest.fixture(scope='module')
def model(tmp_path_factory):
  return models.build_graph_model(str(tmp_path_factory.mktemp('batching') / '1'), _build)


def _request(signature='serving_default', **inputs):
  request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=signature))
  for alias, value in inputs.items():
    request.inputs[alias].CopyFrom(tf.make_tensor_proto(value, dtype=tf.float32))
  return request


def _config(text):
  return batching.config_from_text(text)


ALLOWED_4_8 = 'max_batch_size { value: 8 } allowed_batch_sizes: 4 allowed_batch_sizes: 8'


def _answer(model, config, request):
  with serving.load(model, batching=config) as servable:
    return {k: tf.make_ndarray(v) for k, v in servable.predict(request).outputs.items()}


def test_requests_are_padded_to_the_next_allowed_size_and_cut_back(model):
  outputs = _answer(model, _config(ALLOWED_4_8), _request(x=[1.0, 2.0, 3.0]))
  np.testing.assert_array_equal(outputs['rows'], [4, 4, 4])  # the graph ran 4 rows
  np.testing.assert_allclose(outputs['y'], [2.0, 4.0, 6.0])
  unbatched = _answer(model, None, _request(x=[1.0, 2.0, 3.0]))
  np.testing.assert_array_equal(unbatched['rows'], [3, 3, 3])


def test_without_allowed_sizes_batches_run_unpadded(model):
  outputs = _answer(model, _config('max_batch_size { value: 8 }'), _request(x=[1.0] * 5))
  np.testing.assert_array_equal(outputs['rows'], [5] * 5)


@pytest.mark.parametrize('signature,inputs,code,message', [
    ('two_inputs', {'x': 1.0, 'scale': [2.0]}, 'INVALID_ARGUMENT',
     'Batching Run() input tensors must have at least one dimension'),
    ('two_inputs', {'x': [1.0, 2.0], 'scale': [2.0]}, 'INVALID_ARGUMENT',
     'Batching Run() input tensors must have equal 0th-dimension size'),
    ('serving_default', {'x': [1.0] * 9}, 'INVALID_ARGUMENT',
     'Task size 9 is larger than maximum input batch size 8'),
    ('version', {'x': [1.0]}, 'FAILED_PRECONDITION', 'Batched output tensor has 0 dimensions'),
    ('total', {'x': [1.0, 2.0]}, 'FAILED_PRECONDITION',
     "Batched output tensor's 0th dimension does not equal the sum of the 0th dimension "
     'sizes of the input tensors'),
])
def test_batching_refusals_carry_tf_servings_status(model, signature, inputs, code, message):
  with serving.load(model, batching=_config(ALLOWED_4_8)) as servable, pytest.raises(
      serving.RequestError) as error:
    servable.predict(_request(signature, **inputs))
  assert (error.value.code, error.value.message) == (code, message)
  with serving.load(model) as servable:  # Each of them is answered without batching.
    servable.predict(_request(signature, **inputs))


def test_large_batch_splitting_runs_pieces_of_max_execution_batch_size(model):
  config = _config('max_batch_size { value: 16 } max_execution_batch_size { value: 4 } '
                   'enable_large_batch_splitting { value: true }')
  outputs = _answer(model, config, _request(x=list(range(10))))
  np.testing.assert_array_equal(outputs['rows'], [4] * 8 + [2] * 2)
  np.testing.assert_allclose(outputs['y'], np.arange(10) * 2.0)


def test_splitting_still_refuses_requests_over_max_batch_size(model):
  config = _config('max_batch_size { value: 16 } max_execution_batch_size { value: 4 } '
                   'enable_large_batch_splitting { value: true }')
  with serving.load(model, batching=config) as servable, pytest.raises(
      serving.RequestError, match='Task size 17 is larger than maximum input batch size 16'):
    servable.predict(_request(x=[1.0] * 17))


def test_splitting_padded_pieces(model):
  config = _config('max_batch_size { value: 8 } max_execution_batch_size { value: 8 } '
                   'enable_large_batch_splitting { value: true } '
                   'allowed_batch_sizes: 4 allowed_batch_sizes: 8')
  np.testing.assert_array_equal(_answer(model, config, _request(x=[1.0] * 5))['rows'], [8] * 5)


# -- Warmup under batching: replay, inspect, the component and the command line ----------


def _warmup_log(signature, **inputs):
  return prediction_log_pb2.PredictionLog(
      predict_log=prediction_log_pb2.PredictLog(request=_request(signature, **inputs)))


def _with_warmup(model, tmp_path, records):
  return models.copy_with_warmup(model, str(tmp_path / 'warmed'), records)


def test_replay_under_batching_fails_on_the_output_and_the_library_names_the_fix(model,
                                                                                  tmp_path):
  records = [_warmup_log('serving_default', x=[1.0]), _warmup_log('version', x=[1.0])]
  warmed = _with_warmup(model, tmp_path, records)
  assert serving.replay_warmup(warmed).records == 2
  with pytest.raises(serving.WarmupReplayError) as error:
    serving.replay_warmup(warmed, batching=_config(ALLOWED_4_8))
  assert error.value.record == 1 and error.value.code == 'FAILED_PRECONDITION'
  assert 'Batched output tensor has 0 dimensions' in str(error.value)  # TF Serving's words.
  assert error.value.cause.tensor  # The output it concerns, for the advice.
  with serving.load(warmed, batching=_config(ALLOWED_4_8)) as servable:
    with pytest.raises(serving.WarmupReplayError) as explained:
      validation.validate_records(servable, records)
  message = str(explained.value)
  assert "Signature 'version' output 'v'" in message
  assert 'Batched output tensor has 0 dimensions' in message
  assert 'tf.fill([batch_size], value)' in message


def test_inspect_finds_admission_problems_but_only_verify_runs_the_model(model, tmp_path):
  warmed = _with_warmup(model, tmp_path, [_warmup_log('serving_default', x=[1.0] * 9),
                                          _warmup_log('version', x=[1.0])])
  config = _config(ALLOWED_4_8)
  found = inspection.inspect_warmup(warmup_file.warmup_file_path(warmed), warmed,
                                    batching=config).problems
  assert [(p.record, p.code) for p in found] == [(0, 'INVALID_ARGUMENT')]
  assert 'Task size 9' in found[0].message
  assert not inspection.inspect_warmup(warmup_file.warmup_file_path(warmed), warmed).problems
  with pytest.raises(serving.WarmupReplayError, match='Task size 9'):  # verify agrees ...
    serving.replay_warmup(warmed, batching=config)
  del_first = _with_warmup(model, tmp_path / 'second', [_warmup_log('version', x=[1.0])])
  with pytest.raises(serving.WarmupReplayError, match='0 dimensions'):  # ... and finds more.
    serving.replay_warmup(del_first, batching=config)


@pytest.fixture(scope='module')
def versioned_model(tmp_path_factory):
  root = tmp_path_factory.mktemp('versioned')
  models.build_versioned_model(str(root / 'Format-Serving'))
  return str(root)


def _run_executor(model_uri, examples, tmp_path, **options):
  artifact = models.write_examples_artifact(
      str(tmp_path / 'examples'), {'eval': [e.SerializeToString() for e in examples[:64]]})
  return models.run_executor(model_uri, artifact, str(tmp_path / 'out'), **options).uri


def test_model_warmer_refuses_a_scalar_output_under_batching(versioned_model, examples,
                                                             tmp_path):
  path = tmp_path / 'batching.txt'
  path.write_text(ALLOWED_4_8)
  with pytest.raises(serving.WarmupReplayError) as error:
    _run_executor(versioned_model, examples, tmp_path, batching_parameters_file=str(path))
  assert "Signature 'serving_default' output 'model_version'" in str(error.value)
  assert not os.path.exists(tmp_path / 'out') or not os.listdir(tmp_path / 'out')
  assert not [p for p in os.listdir(tmp_path) if p.startswith('out.')]  # no staging left
  # Without server-side batching the same model is warmed.
  out = _run_executor(versioned_model, examples, tmp_path / 'plain')
  assert serving.replay_warmup(os.path.join(out, 'Format-Serving')).records > 0


def test_verify_command_replays_under_batching_parameters(model, tmp_path):
  warmed = _with_warmup(model, tmp_path, [_warmup_log('version', x=[1.0])])
  path = tmp_path / 'batching.txt'
  path.write_text(ALLOWED_4_8)
  assert command.run('verify', warmed).returncode == 0
  result = command.run('verify', warmed, '--batching-parameters', str(path))
  assert result.returncode == 1
  assert "Signature 'version' output 'v'" in result.stderr
