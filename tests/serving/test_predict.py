"""TF Serving's predict_util_test.cc, ported case by case to the replica.

Source: tensorflow_serving/servables/tensorflow/predict_util_test.cc (TF
Serving 9d981c5). `test_model` is TensorFlow's half_plus_two
(`tf_half_plus_two_dir`), the counter model is testdata/saved_model_counter.
The C++ expected responses carry model_spec.version 123: the replica knows no
servable version (servable-version-only), so the expected protos here are the
C++ ones without `version`. ThreadPoolOptions's response part is
PredictionSuccess's (its thread-pool counting is N/A).
"""

import copy

import pytest
from google.protobuf import text_format
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2

from tests.serving import requests as serving_requests
from tfx_warmup import serving

_MODEL = 'test_model'
_MISSING_X = ('input size does not match signature: 0!=1 len({}) != len({x}). '
              'Sent extra: {}. Missing but required: {x}.')


servable = serving_requests.servable_fixture(
    'tf_half_plus_two_dir', """`test_model`: TensorFlow's half_plus_two, loaded.""")


def _request(signature_name=None, name=_MODEL, inputs=None, output_filter=()):
  request = predict_pb2.PredictRequest(output_filter=list(output_filter))
  if name is not None:
    request.model_spec.name = name
  if signature_name is not None:
    request.model_spec.signature_name = signature_name
  for alias, proto in (inputs or {}).items():
    request.inputs[alias].CopyFrom(proto)
  return request


def _tensor(text):
  return text_format.Parse(text, tensor_pb2.TensorProto())


_X_2 = 'dtype: DT_FLOAT float_val: 2.0'  # No tensor_shape: a scalar, as the C++ builds it.


def _response(text):
  return text_format.Parse(text, predict_pb2.PredictResponse())


def _assert_response(response, expected):
  """EqualsProto, except that an empty tensor_shape counts as absent.

  TF Serving's AsProtoField always sets tensor_shape (`tensor_shape {}` for a
  scalar); the replica leaves it unset -- a divergence pinned on its own by
  test_scalar_output_carries_an_empty_tensor_shape.
  """
  assert _shapes_set(response) == _shapes_set(expected)


def _shapes_set(response):
  copied = type(response)()
  copied.CopyFrom(response)
  for tensor in copied.outputs.values():
    tensor.tensor_shape.SetInParent()
  return copied


def _error(servable, request):
  with pytest.raises(serving.RequestError) as error:
    servable.predict(request)
  return error.value


# -- MissingOrEmptyModelSpec, EmptyInputList ----------------------------------------------


@pytest.mark.parametrize('request_', [
    predict_pb2.PredictRequest(),                                  # (a) empty request
    predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec()),  # (b) name cleared
    predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name='test')),  # (c)
], ids=['empty_request', 'cleared_model_name', 'model_name_test'])
def test_missing_or_empty_model_spec(servable, request_):
  """PredictImplTest.MissingOrEmptyModelSpec: INVALID_ARGUMENT (no inputs are sent).

  The model-name lookup part is N/A (RunPredict ignores the name); the status
  comes from the missing input.
  """
  error = _error(servable, request_)
  assert (error.code, error.message) == ('INVALID_ARGUMENT', _MISSING_X)


def test_empty_input_list(servable):
  """PredictImplTest.EmptyInputList."""
  error = _error(servable, _request())
  assert (error.code, error.message) == ('INVALID_ARGUMENT', _MISSING_X)


def test_input_tensors_dont_match_model_spec_inputs(servable):
  """PredictImplTest.InputTensorsDontMatchModelSpecInputs."""
  request = _request(inputs={
      'unknown_key1': _tensor('dtype: DT_STRING string_val: "any_value" '
                              'tensor_shape { dim { size: 1 } }'),
      'unknown_key2': _tensor('dtype: DT_FLOAT float_val: 1.0 '
                              'tensor_shape { dim { size: 1 } }'),
  })
  error = _error(servable, request)
  assert error.code == 'INVALID_ARGUMENT'
  assert 'Sent extra: {unknown_key1,unknown_key2}' in error.message
  assert 'Missing but required: {x}' in error.message
  assert error.message == (
      'input size does not match signature: 2!=1 len({unknown_key1,unknown_key2}) != '
      'len({x}). Sent extra: {unknown_key1,unknown_key2}. Missing but required: {x}.')


def test_prediction_invalid_tensor(servable):
  """PredictImplTest.PredictionInvalidTensor: a bool fed to float x:0."""
  error = _error(servable, _request(inputs={'x': _tensor('dtype: DT_BOOL bool_val: true')}))
  assert error.code == 'INVALID_ARGUMENT'
  assert 'Expects arg[0] to be float but bool is provided' in error.message


def test_output_filters_dont_match_model_spec_outputs(servable):
  """PredictImplTest.OutputFiltersDontMatchModelSpecOutputs."""
  request = _request(inputs={'x': _tensor(_X_2)}, output_filter=['output_filter'])
  error = _error(servable, request)
  assert error.code == 'INVALID_ARGUMENT'
  assert error.message == ('output tensor alias not found in signature: output_filter '
                           'Outputs expected to be in the set {y}.')
  request.ClearField('output_filter')
  request.output_filter.append('y')
  servable.predict(request)
  request.output_filter.append('y')
  error = _error(servable, request)
  assert (error.code, error.message) == ('INVALID_ARGUMENT',
                                         'duplicate output tensor alias: y')


def test_input_tensors_have_wrong_type(servable):
  """PredictImplTest.InputTensorsHaveWrongType: a string fed to float x:0."""
  request = _request(inputs={'x': _tensor('dtype: DT_STRING string_val: "any_value" '
                                          'tensor_shape { dim { size: 1 } }')},
                     output_filter=['y'])
  error = _error(servable, request)
  assert error.code == 'INVALID_ARGUMENT'
  assert 'to be float but string is provided' in error.message


def test_model_missing_signatures(tmp_path, tf_half_plus_two_dir):
  """PredictImplTest.ModelMissingSignatures (non-OSS in C++; the replica analogue).

  The C++ loads bad_half_plus_two, which has no signatures, and expects
  FAILED_PRECONDITION for an empty request. bad_half_plus_two is not a
  SavedModel the replica can load, so a SavedModel stripped of its signatures
  stands in: the request then fails its signature lookup.
  """
  with serving.load(tf_half_plus_two_dir) as loaded:
    meta_graph_def = copy.deepcopy(loaded.meta_graph_def)
    meta_graph_def.ClearField('signature_def')
    stripped = serving.Servable(tf_half_plus_two_dir, loaded.session, meta_graph_def)
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=_MODEL))
    error = _error(stripped, request)
  assert (error.code, error.message) == (
      'FAILED_PRECONDITION', 'Serving signature key "serving_default" not found.')


_PREDICTION_SUCCESS = '''
  model_spec { name: "test_model" signature_name: "serving_default" }
  outputs { key: "y" value { dtype: DT_FLOAT tensor_shape {} float_val: 3 } }
'''


def test_prediction_success(servable):
  """PredictImplTest.PredictionSuccess (and ThreadPoolOptions' response).

  A scalar x (no tensor_shape) fed to x:0 ([?, 1]) -- C++ Session::Run does not
  check fed shapes; y keeps x's scalar shape.
  """
  response = servable.predict(_request(inputs={'x': _tensor(_X_2)}))
  _assert_response(response, _response(_PREDICTION_SUCCESS))


@pytest.mark.parametrize('signature_name,input_alias,output_alias', [
    ('regress_x2_to_y3', 'inputs', 'outputs'),
    ('classify_x2_to_y3', 'inputs', 'scores'),
], ids=['PredictionWithNamedRegressionSignature',
        'PredictionWithNamedClassificationSignature'])
def test_prediction_with_named_signature(servable, signature_name, input_alias, output_alias):
  """PredictImplTest.PredictionWithNamed{Regression,Classification}Signature."""
  response = servable.predict(_request(signature_name, inputs={input_alias: _tensor(_X_2)}))
  _assert_response(response, _response(f'''
      model_spec {{ name: "test_model" signature_name: "{signature_name}" }}
      outputs {{ key: "{output_alias}" value {{ dtype: DT_FLOAT tensor_shape {{}} float_val: 4 }} }}
  '''))


def test_prediction_with_customized_signatures(counter_dir):
  """PredictImplTest.PredictionWithCustomizedSignatures: the counter model, in order.

  get_counter 0, incr_counter 1, reset_counter 0, incr_counter (filter
  ["output"]) 1, incr_counter_by(3) 4 -- each a DT_FLOAT scalar (the
  signature's DT_FLOAT_REF is never what a fetched tensor carries).
  """
  calls = [
      ('get_counter', {}, (), 0.0),
      ('incr_counter', {}, (), 1.0),
      ('reset_counter', {}, (), 0.0),
      ('incr_counter', {}, ('output',), 1.0),
      ('incr_counter_by', {'delta': _tensor('dtype: DT_FLOAT float_val: 3')}, (), 4.0),
  ]
  with serving.load(counter_dir) as counter:  # One fresh session: the state is the test's.
    for signature_name, inputs, output_filter, value in calls:
      response = counter.predict(_request(signature_name, inputs=inputs,
                                          output_filter=output_filter))
      expected = _response(f'''
          model_spec {{ name: "test_model" signature_name: "{signature_name}" }}
          outputs {{ key: "output"
                     value {{ dtype: DT_FLOAT tensor_shape {{}} float_val: {value} }} }}
      ''')
      _assert_response(response, expected)


@pytest.mark.parametrize('check,method_name,ok', [
    (True, 'tensorflow/serving/predict', True),
    (True, 'not/supported/method', False),
    (False, 'tensorflow/serving/predict', True),
    (False, 'not/supported/method', True),
])
def test_method_name_check(servable, tf_half_plus_two_dir, check, method_name, ok):
  """PredictImplTest.MethodNameCheck, on a copy of the meta graph (real session)."""
  meta_graph_def = copy.deepcopy(servable.meta_graph_def)
  meta_graph_def.signature_def['serving_default'].method_name = method_name
  patched = serving.Servable(tf_half_plus_two_dir, servable.session, meta_graph_def,
                            method_name_check=check)
  request = _request(inputs={'x': _tensor(_X_2)})
  if ok:
    assert list(patched.predict(request).outputs['y'].float_val) == [3.0]
  else:
    error = _error(patched, request)
    assert error.code == 'INTERNAL'
    assert error.message == (
        'Expected prediction signature method_name to be one of {tensorflow/serving/predict, '
        'tensorflow/serving/classify, tensorflow/serving/regress}. Was: not/supported/method')


def test_fetched_outputs_are_never_ref_typed(counter_dir):
  """PredictionWithCustomizedSignatures' dtype is DT_FLOAT, though TensorInfo says DT_FLOAT_REF."""
  with serving.load(counter_dir) as counter:
    signature = counter.meta_graph_def.signature_def['get_counter']
    assert signature.outputs['output'].dtype == types_pb2.DT_FLOAT_REF
    response = counter.predict(_request('get_counter'))
  assert response.outputs['output'].dtype == types_pb2.DT_FLOAT


@pytest.mark.parametrize('signature_name,inputs,alias,value', [
    ('serving_default', {'x': _X_2}, 'y', 3.0),
    ('regress_x2_to_y3', {'inputs': _X_2}, 'outputs', 4.0),
    ('classify_x2_to_y3', {'inputs': _X_2}, 'scores', 4.0),
], ids=['PredictionSuccess', 'PredictionWithNamedRegressionSignature',
        'PredictionWithNamedClassificationSignature'])
def test_scalar_output_carries_an_empty_tensor_shape(servable, signature_name, inputs, alias,
                                                     value):
  """PredictionSuccess / PredictionWithNamed*Signature's exact proto: `tensor_shape {}` is set.

  EqualsProto (MessageDifferencer) tells a set empty submessage from an unset one.
  """
  response = servable.predict(_request(signature_name,
                                       inputs={k: _tensor(v) for k, v in inputs.items()}))
  assert response == _response(f'''
      model_spec {{ name: "test_model" signature_name: "{signature_name}" }}
      outputs {{ key: "{alias}" value {{ dtype: DT_FLOAT tensor_shape {{}} float_val: {value} }} }}
  ''')
  assert response.outputs[alias].HasField('tensor_shape')
