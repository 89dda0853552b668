"""Where Python's TensorFlow client and TF Serving's C++ disagree, the replica sides with C++.

Each test pins one divergence of issue 11: the replica must answer as TF
Serving's C++ Session::Run, Tensor::FromProto, session options and warmup loop
do, not as `tf.compat.v1.Session.run` would.
"""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import input_pb2
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tests import models
from tests.cli import command
from tfx_warmup import serving
from tfx_warmup.serving import session as serving_session
from tfx_warmup.serving.errors import ServingConfigError

_SIG = tf.compat.v1.saved_model.signature_def_utils


def _half_plus_two():
  """y = 0.5 x + 2 over a [None] float placeholder, as TF Serving's half_plus_two."""
  x = tf.compat.v1.placeholder(tf.float32, [None], name='x')
  a = tf.compat.v1.get_variable('a', initializer=0.5)
  y = tf.add(a * x, 2.0, name='y')
  return {'serving_default': _SIG.predict_signature_def({'x': x}, {'y': y})}


@pytest.fixture(scope='module')
def half_plus_two(tmp_path_factory):
  return models.build_graph_model(str(tmp_path_factory.mktemp('hp2') / '1'), _half_plus_two)


def _predict(inputs, signature_name='serving_default', output_filter=()):
  request = predict_pb2.PredictRequest(
      model_spec=model_pb2.ModelSpec(name='m', signature_name=signature_name),
      output_filter=list(output_filter))
  for alias, proto in inputs.items():
    request.inputs[alias].CopyFrom(proto)
  return request


def _floats(values, shape):
  proto = tf.make_tensor_proto(0.0, dtype=tf.float32)
  proto.ClearField('float_val')
  proto.tensor_shape.Clear()
  for size in shape:
    proto.tensor_shape.dim.add(size=size)
  proto.float_val.extend(values)
  return proto


# -- 1. Shapes are not checked on feed ------------------------------------------------


@pytest.mark.parametrize('shape,expected', [
    ([3], [2.5, 3.0, 4.5]),        # the placeholder's own shape
    ([3, 1], [[2.5], [3.0], [4.5]]),  # rank 2 into a [None] placeholder: C++ feeds it
])
def test_fed_shapes_are_not_compared_with_the_placeholder(half_plus_two, shape, expected):
  with serving.load(half_plus_two) as servable:
    response = servable.predict(_predict({'x': _floats([1.0, 2.0, 5.0], shape)}))
  np.testing.assert_allclose(tf.make_ndarray(response.outputs['y']), expected)


def test_a_scalar_fed_to_a_vector_placeholder_is_answered(half_plus_two):
  with serving.load(half_plus_two) as servable:
    response = servable.predict(_predict({'x': _floats([1.0], [])}))
  assert list(response.outputs['y'].float_val) == [2.5]
  assert not response.outputs['y'].tensor_shape.dim


# -- 2. Dtype mismatches are Session::Run's --------------------------------------------


def test_dtype_mismatch_is_reported_in_session_run_words(half_plus_two):
  request = _predict({'x': tf.make_tensor_proto([True], dtype=tf.bool)})
  with serving.load(half_plus_two) as servable, pytest.raises(serving.RequestError) as error:
    servable.predict(request)
  assert (error.value.code, error.value.message) == (
      'INVALID_ARGUMENT', 'Expects arg[0] to be float but bool is provided')


def test_signature_dtype_that_differs_from_the_graph_is_refused(tmp_path):
  def build():
    signatures = _half_plus_two()
    signatures['serving_default'].inputs['x'].dtype = types_pb2.DT_DOUBLE  # wrong on purpose
    return signatures
  model = models.build_graph_model(str(tmp_path / 'm'), build)
  # A client following the signature sends doubles; Python would convert them, C++ does not.
  request = _predict({'x': tf.make_tensor_proto([1.0], dtype=tf.float64)})
  with serving.load(model) as servable, pytest.raises(serving.RequestError,
                                                     match='to be float but double'):
    servable.predict(request)


# -- 3. Session options ------------------------------------------------------------------


def test_gpu_pinned_graph_fails_on_a_cpu_host_as_without_soft_placement(tmp_path):
  def build():
    with tf.device('/device:GPU:0'):
      return _half_plus_two()
  model = models.build_graph_model(str(tmp_path / 'gpu'), build, soft_placement=True)
  with pytest.raises(serving.LoadError, match='Cannot assign a device for operation'):
    serving.load(model)


def _write_saved_model_config(model_dir, disable_meta_optimizer=None, raw=None):
  config = serving_session.saved_model_config_class()()
  if disable_meta_optimizer is not None:
    config.session_overrides.disable_meta_optimizer = disable_meta_optimizer
  path = os.path.join(model_dir, serving_session.SAVED_MODEL_CONFIG_PATH)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'wb') as f:
    f.write(config.SerializeToString() if raw is None else raw)


def test_saved_model_config_overrides_the_meta_optimizer(half_plus_two, tmp_path):
  model = str(tmp_path / 'm')
  shutil.copytree(half_plus_two, model)
  config = serving_session.session_config(model)
  assert not config.graph_options.rewrite_options.disable_meta_optimizer
  _write_saved_model_config(model, disable_meta_optimizer=True)
  config = serving_session.session_config(model)
  assert config.graph_options.rewrite_options.disable_meta_optimizer
  with serving.load(model) as servable:  # ... and the model still answers under it.
    response = servable.predict(_predict({'x': _floats([2.0], [1])}))
    assert list(response.outputs['y'].float_val) == [3.0]


def test_unreadable_saved_model_config_is_ignored_as_tf_serving_does(half_plus_two, tmp_path,
                                                                     caplog):
  model = str(tmp_path / 'm')
  shutil.copytree(half_plus_two, model)
  _write_saved_model_config(model, raw=b'\xff\xff garbage')
  assert serving_session.session_config(model) == serving_session.session_config(half_plus_two)
  assert 'Unable to parse SavedModelConfig' in caplog.text


# -- 4. Tensor::FromProto, TensorInfo names and dtypes, opaque outputs -------------------


@pytest.mark.parametrize('values,expected', [
    ([1.0, 2.0, 5.0, 8.0, 9.0], [2.5, 3.0, 4.5]),  # over-long: the first N are kept
    ([1.0], [2.5, 2.5, 2.5]),                      # short: the last value repeats
])
def test_value_lists_are_read_as_tensor_from_proto_reads_them(half_plus_two, values, expected):
  with serving.load(half_plus_two) as servable:
    response = servable.predict(_predict({'x': _floats(values, [3])}))
  assert list(response.outputs['y'].float_val) == expected


def test_tensor_content_of_the_wrong_size_is_a_tensor_parsing_error(half_plus_two):
  proto = tf.make_tensor_proto(np.array([1.0, 2.0, 3.0], np.float32))
  proto.tensor_shape.dim[0].size = 2
  with serving.load(half_plus_two) as servable, pytest.raises(
      serving.RequestError, match='INVALID_ARGUMENT: tensor parsing error: x'):
    servable.predict(_predict({'x': proto}))


def test_outputs_are_written_as_proto_fields_not_tensor_content(half_plus_two):
  with serving.load(half_plus_two) as servable:
    y = servable.predict(_predict({'x': _floats([1.0, 2.0], [2])})).outputs['y']
  assert y.dtype == types_pb2.DT_FLOAT and not y.tensor_content
  assert list(y.float_val) == [2.5, 3.0]


def test_tensor_info_without_port_or_dtype_is_accepted(half_plus_two, tmp_path):
  model = str(tmp_path / 'm')
  shutil.copytree(half_plus_two, model)
  path = os.path.join(model, 'saved_model.pb')
  saved_model = saved_model_pb2.SavedModel.FromString(open(path, 'rb').read())
  signature = saved_model.meta_graphs[0].signature_def['serving_default']
  signature.inputs['x'].name = 'x'  # no ':0'
  signature.inputs['x'].ClearField('dtype')  # TF's Builder refuses this; TF Serving does not.
  signature.outputs['y'].name = 'y'
  with open(path, 'wb') as f:
    f.write(saved_model.SerializeToString())
  with serving.load(model) as servable:
    response = servable.predict(_predict({'x': _floats([4.0], [1])}))
  assert list(response.outputs['y'].float_val) == [4.0]


def test_resource_and_variant_outputs_are_serialized(tmp_path):
  def build():
    signatures = _half_plus_two()
    x = tf.compat.v1.get_default_graph().get_tensor_by_name('x:0')
    tensor_list = tf.raw_ops.TensorListFromTensor(
        tensor=x, element_shape=tf.constant([], tf.int32))
    handle = tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[], shared_name='h')
    signatures['serving_default'] = _SIG.predict_signature_def(
        {'x': x}, {'list': tensor_list, 'handle': handle})
    return signatures
  model = models.build_graph_model(str(tmp_path / 'm'), build)
  with serving.load(model) as servable:
    response = servable.predict(_predict({'x': _floats([1.0, 2.0], [2])}))
  assert response.outputs['list'].dtype == types_pb2.DT_VARIANT
  assert len(response.outputs['list'].variant_val) == 1
  assert response.outputs['handle'].dtype == types_pb2.DT_RESOURCE
  assert response.outputs['handle'].resource_handle_val[0].name == 'h'


# -- 5. MultiInference applies the method-name check ----------------------------------------


def test_multi_inference_checks_method_names_when_enabled(tf1_model_dir, examples):
  request = inference_pb2.MultiInferenceRequest(input=input_pb2.Input(
      example_list=input_pb2.ExampleList(examples=examples[:2])))
  # 'serving_default' is a Predict signature, asked for as a regression.
  request.tasks.add(model_spec=model_pb2.ModelSpec(name='m', signature_name='regress'),
                    method_name=tf.saved_model.REGRESS_METHOD_NAME)
  request.tasks.add(model_spec=model_pb2.ModelSpec(name='m', signature_name='classify'),
                    method_name=tf.saved_model.CLASSIFY_METHOD_NAME)
  with serving.load(tf1_model_dir) as servable:
    assert len(servable.multi_inference(request).results) == 2
  mislabelled = inference_pb2.MultiInferenceRequest()
  mislabelled.CopyFrom(request)
  mislabelled.tasks[1].model_spec.signature_name = 'regress'
  mislabelled.tasks[0].model_spec.signature_name = 'classify'
  mislabelled.tasks[0].method_name = tf.saved_model.REGRESS_METHOD_NAME
  mislabelled.tasks[1].method_name = tf.saved_model.CLASSIFY_METHOD_NAME
  with serving.load(tf1_model_dir, method_name_check=True) as servable, pytest.raises(
      serving.RequestError, match='Expected regression signature method_name to be '
                                 'tensorflow/serving/regress. Was: tensorflow/serving/classify'):
    servable.multi_inference(mislabelled)


# -- 6, 7. The warmup loop: record 1001, num_request_iterations --------------------------


def _predict_log(values):
  return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(
      request=_predict({'x': _floats(values, [len(values)])})))


def _with_warmup(model_dir, tmp_path, records):
  return models.copy_with_warmup(model_dir, str(tmp_path / 'warmed'), records)


def test_a_failing_1001st_record_reports_its_own_status(half_plus_two, tmp_path):
  bad = _predict_log([1.0])
  bad.predict_log.request.inputs['x'].dtype = types_pb2.DT_INT32
  bad.predict_log.request.inputs['x'].int_val.append(1)
  model = _with_warmup(half_plus_two, tmp_path, [_predict_log([1.0])] * 1000 + [bad])
  with pytest.raises(serving.WarmupReplayError, match='Expects arg') as error:
    serving.replay_warmup(model)
  assert error.value.record == 1000


def test_1001_good_records_fail_on_the_limit_after_running(half_plus_two, tmp_path):
  model = _with_warmup(half_plus_two, tmp_path, [_predict_log([1.0])] * 1001)
  with pytest.raises(serving.WarmupReplayError, match=r'exceeds the maximum \(1000\)'):
    serving.replay_warmup(model)
  assert serving.replay_warmup(
      _with_warmup(half_plus_two, tmp_path / 'ok', [_predict_log([1.0])] * 1000)).records == 1000


@pytest.fixture(scope='module')
def run_once_model(tmp_path_factory):
  """A stateful model: its first request passes, every later one fails."""
  def build():
    x = tf.compat.v1.placeholder(tf.float32, [None], name='x')
    calls = tf.compat.v1.get_variable('calls', initializer=0, trainable=False)
    count = calls.assign_add(1)
    check = tf.debugging.Assert(count <= 1, ['model already used'])
    with tf.control_dependencies([check]):
      y = tf.identity(x, name='y')
    return {'serving_default': _SIG.predict_signature_def({'x': x}, {'y': y})}
  return models.build_graph_model(str(tmp_path_factory.mktemp('once') / '1'), build)


def test_num_request_iterations_replays_each_record_that_often(run_once_model, tmp_path):
  model = _with_warmup(run_once_model, tmp_path, [_predict_log([1.0])])
  assert serving.replay_warmup(model).records == 1
  with pytest.raises(serving.WarmupReplayError, match='model already used'):
    serving.replay_warmup(model, num_request_iterations=2)


def test_num_request_iterations_must_be_positive(half_plus_two):
  with pytest.raises(ServingConfigError, match='num_request_iterations_for_warmup'):
    serving.replay_warmup(half_plus_two, num_request_iterations=0)


def test_verify_command_takes_num_request_iterations(run_once_model, tmp_path):
  model = _with_warmup(run_once_model, tmp_path, [_predict_log([1.0])])
  assert command.run('verify', model).returncode == 0
  twice = command.run('verify', model, '--num-request-iterations', '2')
  assert twice.returncode == 1 and 'model already used' in twice.stderr
