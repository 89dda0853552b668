"""TF Serving's servables/tensorflow/regressor_test.cc, ported to the replica.

Each C++ TEST_P runs twice, with the signature method-name check off and on
(`check` below), and calls both `Regressor::Regress` and `RunRegress` with
identical expectations; the replica has one Regress path, so each test sends
its request twice (the second time through the servable's cached Session::Run).

The C++ fixture has no model: a FakeSession parses the fed tf.Examples' float
feature `output` into `output:0` ([batch]), `outputPlusOne:0` ([batch, 1], +1)
and `ImproperlySizedOutput:0` ([batch, 1, 10]); the MockSession-based cases
return fixed tensors. Here one real TF1 graph computes exactly those tensors
(`_build_fake_session`), and each test serves it behind the SignatureDefs the
C++ test writes by hand (TensorInfos with names only, method names set only
when the check is on), as `replay.Servable(export_dir, session, meta_graph_def,
method_name_check)`.
"""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import regression_pb2

from tests import models
from tfx_warmup import replay

_CLASSIFY = 'tensorflow/serving/classify'
_REGRESS = 'tensorflow/serving/regress'

# regressor_test.cc's tensor and signature names.
_INPUT = 'input:0'
_OUTPUT = 'output:0'
_OUTPUT_PLUS_ONE = 'outputPlusOne:0'
_IMPROPERLY_SIZED_OUTPUT = 'ImproperlySizedOutput:0'
_OUTPUT_PLUS_ONE_SIGNATURE = 'output_plus_one'
_INVALID_NAMED_SIGNATURE = 'invalid_classification_signature'
_IMPROPERLY_SIZED_OUTPUT_SIGNATURE = 'ImproperlySizedOutputSignature'

# The MockSession cases' fixed outputs.
_MOCK_FLOAT_2 = 'mock_float_2:0'
_MOCK_STRING_1 = 'mock_string_1:0'
_RUN_FAILS = 'run_totally_failed:0'


def _build_fake_session():
  """The FakeSession (and MockSession outputs) of regressor_test.cc as a TF1 graph."""
  serialized = tf.compat.v1.placeholder(tf.string, [None], name='input')
  value = tf.io.parse_example(
      serialized, {'output': tf.io.FixedLenFeature([1], tf.float32)})['output']
  output = tf.reshape(value, [-1], name='output')
  tf.add(value, 1.0, name='outputPlusOne')
  tf.zeros(tf.stack([tf.shape(value)[0], 1, 10]), tf.float32, name='ImproperlySizedOutput')
  tf.constant(np.zeros([2], np.float32), name='mock_float_2')
  tf.constant(np.full([1], b'x', object), tf.string, name='mock_string_1')
  # MockSession's Run returning INTERNAL "Run totally failed": an op failing at run time.
  check = tf.debugging.Assert(tf.equal(tf.size(serialized), -1), ['Run totally failed'])
  with tf.control_dependencies([check]):
    tf.identity(output, name='run_totally_failed')
  sig = tf.compat.v1.saved_model.signature_def_utils
  return {'serving_default': sig.regression_signature_def(serialized, output)}


@pytest.fixture(scope='module')
def fake_session(tmp_path_factory):
  """The loaded graph; tests put their own SignatureDefs in front of its session."""
  model = models.build_graph_model(
      str(tmp_path_factory.mktemp('regressor_test') / '1'), _build_fake_session)
  with replay.load(model) as servable:
    yield servable


@pytest.fixture(params=[False, True], ids=['method_check_off', 'method_check_on'])
def check(request):
  """INSTANTIATE_TEST_SUITE_P(Regressor, RegressorTest, ::testing::Bool())."""
  return request.param


def _signature(inputs, outputs, method_name, check):
  signature = meta_graph_pb2.SignatureDef()
  for alias, name in inputs.items():
    signature.inputs[alias].name = name
  for alias, name in outputs.items():
    signature.outputs[alias].name = name
  if check:
    signature.method_name = method_name
  return signature


def _named_signature(output_scores, is_regression, check):
  """RegressorTest::AddNamedSignatureToSavedModelBundle."""
  if is_regression:
    return _signature({'inputs': _INPUT}, {'outputs': output_scores}, _REGRESS, check)
  return _signature({'inputs': _INPUT}, {'classes': _OUTPUT_PLUS_ONE}, _CLASSIFY, check)


def _signatures(check):
  """RegressorTest::SetUp's MetaGraphDef signatures."""
  return {
      'serving_default': _signature({'inputs': _INPUT}, {'outputs': _OUTPUT}, _REGRESS, check),
      _OUTPUT_PLUS_ONE_SIGNATURE: _named_signature(_OUTPUT_PLUS_ONE, True, check),
      _INVALID_NAMED_SIGNATURE: _named_signature(_OUTPUT_PLUS_ONE, False, check),
      _IMPROPERLY_SIZED_OUTPUT_SIGNATURE: _named_signature(
          _IMPROPERLY_SIZED_OUTPUT, True, check),
  }


def _servable(fake_session, check, signatures=None):
  meta_graph_def = meta_graph_pb2.MetaGraphDef()
  meta_graph_def.CopyFrom(fake_session.meta_graph_def)
  meta_graph_def.ClearField('signature_def')
  for name, signature in (signatures or _signatures(check)).items():
    meta_graph_def.signature_def[name].CopyFrom(signature)
  return replay.Servable(fake_session.export_dir, fake_session.session, meta_graph_def,
                         method_name_check=check)


def _mock_servable(fake_session, check, output):
  """SetUp's signatures, with a MockSession returning the `output` tensor."""
  signatures = _signatures(check)
  signatures['serving_default'].outputs['outputs'].name = output
  return _servable(fake_session, check, signatures)


def _example_with_output(value):
  """RegressorTest::example_with_output: the float feature `output` = [value]."""
  example = tf.train.Example()
  example.features.feature['output'].float_list.value.append(value)
  return example


def _request(examples=None, signature_name=''):
  request = regression_pb2.RegressionRequest()
  request.model_spec.signature_name = signature_name
  if examples is not None:
    request.input.example_list.examples.extend(examples)
  return request


def _result(values):
  result = regression_pb2.RegressionResult()
  for value in values:
    result.regressions.add().value = value
  return result


def _regress_both(servable, request):
  """Regressor::Regress, then RunRegress: both must answer, with equal results."""
  results = [servable.regress(request).result for _ in range(2)]
  assert results[0] == results[1]
  return results[0]


def _fail_both(servable, request):
  """Both calls fail alike; returns the RequestError."""
  errors = []
  for _ in range(2):
    with pytest.raises(replay.RequestError) as error:
      servable.regress(request)
    errors.append(error.value)
  assert (errors[0].code, errors[0].message) == (errors[1].code, errors[1].message)
  return errors[0]


def test_basic_example_list(fake_session, check):
  """regressor_test.cc: RegressorTest.BasicExampleList."""
  result = _regress_both(_servable(fake_session, check),
                         _request([_example_with_output(2.0), _example_with_output(3.0)]))
  assert result == _result([2.0, 3.0])


def test_basic_example_list_with_context(fake_session, check):
  """regressor_test.cc: RegressorTest.BasicExampleListWithContext."""
  request = _request()
  listed = request.input.example_list_with_context
  listed.examples.add()
  listed.examples.add()
  listed.context.CopyFrom(_example_with_output(3.0))
  assert _regress_both(_servable(fake_session, check), request) == _result([3.0, 3.0])


def test_valid_named_signature(fake_session, check):
  """regressor_test.cc: RegressorTest.ValidNamedSignature."""
  result = _regress_both(
      _servable(fake_session, check),
      _request([_example_with_output(2.0), _example_with_output(3.0)],
               _OUTPUT_PLUS_ONE_SIGNATURE))
  assert result == _result([3.0, 4.0])


def test_invalid_named_signature(fake_session, check):
  """regressor_test.cc: RegressorTest.InvalidNamedSignature."""
  error = _fail_both(
      _servable(fake_session, check),
      _request([_example_with_output(2.0), _example_with_output(3.0)],
               _INVALID_NAMED_SIGNATURE))
  assert error.code == 'INVALID_ARGUMENT'
  if check:
    assert error.message == ('Expected regression signature method_name to be '
                             'tensorflow/serving/regress. Was: tensorflow/serving/classify')
  else:
    assert error.message.startswith('No regression outputs found in SignatureDef: ')
    assert 'outputPlusOne:0' in error.message


def test_malformed_outputs(fake_session, check):
  """regressor_test.cc: RegressorTest.MalformedOutputs."""
  error = _fail_both(
      _servable(fake_session, check),
      _request([_example_with_output(2.0), _example_with_output(3.0)],
               _IMPROPERLY_SIZED_OUTPUT_SIGNATURE))
  assert error.code == 'INVALID_ARGUMENT'
  assert error.message == ('Expected output Tensor shape to be either [batch_size] or '
                           '[batch_size, 1] but got [2,1,10]')


def test_empty_input(fake_session, check):
  """regressor_test.cc: RegressorTest.EmptyInput."""
  request = _request()
  request.input.SetInParent()  # Touch input.
  error = _fail_both(_servable(fake_session, check), request)
  assert error.code == 'INVALID_ARGUMENT'
  assert 'Input is empty' in error.message


def test_empty_example_list(fake_session, check):
  """regressor_test.cc: RegressorTest.EmptyExampleList."""
  request = _request()
  request.input.example_list.SetInParent()
  error = _fail_both(_servable(fake_session, check), request)
  assert error.code == 'INVALID_ARGUMENT'
  assert 'Input is empty' in error.message


def test_empty_example_list_with_context(fake_session, check):
  """regressor_test.cc: RegressorTest.EmptyExampleListWithContext."""
  request = _request()
  request.input.example_list_with_context.context.CopyFrom(_example_with_output(3))
  error = _fail_both(_servable(fake_session, check), request)
  assert error.code == 'INVALID_ARGUMENT'
  assert 'Input is empty' in error.message


def test_runs_fails(fake_session, check):
  """regressor_test.cc: RegressorTest.RunsFails."""
  error = _fail_both(_mock_servable(fake_session, check, _RUN_FAILS),
                     _request([_example_with_output(2.0)]))
  assert 'Run totally failed' in str(error)


def test_unexpected_output_tensor_size(fake_session, check):
  """regressor_test.cc: RegressorTest.UnexpectedOutputTensorSize."""
  error = _fail_both(_mock_servable(fake_session, check, _MOCK_FLOAT_2),
                     _request([_example_with_output(2.0)]))
  assert 'output batch size' in str(error)
  assert (error.code, error.message) == (
      'INVALID_ARGUMENT', 'Input batch size did not match output batch size: 1 vs. 2')


def test_unexpected_output_tensor_type(fake_session, check):
  """regressor_test.cc: RegressorTest.UnexpectedOutputTensorType."""
  error = _fail_both(_mock_servable(fake_session, check, _MOCK_STRING_1),
                     _request([_example_with_output(2.0)]))
  assert 'Expected output Tensor of DT_FLOAT' in str(error)
  assert (error.code, error.message) == (
      'INVALID_ARGUMENT', 'Expected output Tensor of DT_FLOAT.  Got: DT_STRING')


def test_missing_regression_signature(fake_session, check):
  """regressor_test.cc: RegressorTest.MissingRegressionSignature."""
  signatures = _signatures(check)
  signatures['serving_default'] = meta_graph_pb2.SignatureDef()
  example = tf.train.Example()
  example.features.feature['class'].bytes_list.value.append(b'uno')
  error = _fail_both(_servable(fake_session, check, signatures), _request([example]))
  assert error.code == 'INVALID_ARGUMENT'
  assert error.message == (
      'Expected regression signature method_name to be tensorflow/serving/regress. Was: '
      if check else 'Expected one input Tensor.')


def test_method_name_check(fake_session, check):
  """regressor_test.cc: RegressorTest.MethodNameCheck (RunRegress only)."""
  request = _request([_example_with_output(2.0)])
  signatures = _signatures(check)
  default = signatures['serving_default']

  # Legit method name. Should always work.
  default.method_name = _REGRESS
  assert _servable(fake_session, check, signatures).regress(request).result == _result([2.0])

  # Unsupported method name, then an empty one, fail when the check is enabled.
  for method_name in ('not/supported/method', ''):
    default.method_name = method_name
    servable = _servable(fake_session, check, signatures)
    if check:
      with pytest.raises(replay.RequestError) as error:
        servable.regress(request)
      assert (error.value.code, error.value.message) == (
          'INVALID_ARGUMENT', 'Expected regression signature method_name to be '
          f'tensorflow/serving/regress. Was: {method_name}')
    else:
      assert servable.regress(request).result == _result([2.0])
