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
when the check is on), as `serving.Servable(export_dir, session, meta_graph_def,
method_name_check)`.
"""

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import regression_pb2

from tests.serving import models as serving_models
from tests.serving import requests as serving_requests

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
  serving_models.run_totally_failed(serialized, output)
  sig = tf.compat.v1.saved_model.signature_def_utils
  return {'serving_default': sig.regression_signature_def(serialized, output)}


fake_session = serving_requests.graph_servable_fixture('regressor_test', _build_fake_session)

check = serving_requests.method_check_fixture(
    """INSTANTIATE_TEST_SUITE_P(Regressor, RegressorTest, ::testing::Bool()).""")


def _named_signature(output_scores, is_regression, check):
  """RegressorTest::AddNamedSignatureToSavedModelBundle."""
  if is_regression:
    return serving_models.signature_by_names(
        {'inputs': _INPUT}, {'outputs': output_scores}, _REGRESS, check)
  return serving_models.signature_by_names(
      {'inputs': _INPUT}, {'classes': _OUTPUT_PLUS_ONE}, _CLASSIFY, check)


def _signatures(check):
  """RegressorTest::SetUp's MetaGraphDef signatures."""
  return {
      'serving_default': serving_models.signature_by_names(
          {'inputs': _INPUT}, {'outputs': _OUTPUT}, _REGRESS, check),
      _OUTPUT_PLUS_ONE_SIGNATURE: _named_signature(_OUTPUT_PLUS_ONE, True, check),
      _INVALID_NAMED_SIGNATURE: _named_signature(_OUTPUT_PLUS_ONE, False, check),
      _IMPROPERLY_SIZED_OUTPUT_SIGNATURE: _named_signature(
          _IMPROPERLY_SIZED_OUTPUT, True, check),
  }


def _servable(fake_session, check, signatures=None):
  return serving_requests.with_signatures(fake_session, signatures or _signatures(check), check)


def _mock_error(fake_session, check, output):
  """SetUp's signatures, with a MockSession returning the `output` tensor: the error of
  regressing one example (output 2.0)."""
  signatures = _signatures(check)
  signatures['serving_default'].outputs['outputs'].name = output
  return _fail_both(_servable(fake_session, check, signatures),
                    _request([_example_with_output(2.0)]))


def _example_with_output(value):
  """RegressorTest::example_with_output: the float feature `output` = [value]."""
  return serving_requests.float_example(output=value)


def _two_examples():
  return [_example_with_output(2.0), _example_with_output(3.0)]


def _request(examples=None, signature_name=''):
  return serving_requests.example_request(regression_pb2.RegressionRequest, examples,
                                          signature_name)


def _result(values):
  result = regression_pb2.RegressionResult()
  for value in values:
    result.regressions.add().value = value
  return result


# Regressor::Regress, then RunRegress: both must answer with equal results, or fail alike.
_regress_both, _fail_both = serving_requests.both_paths('regress')


def test_basic_example_list(fake_session, check):
  """regressor_test.cc: RegressorTest.BasicExampleList."""
  result = _regress_both(_servable(fake_session, check), _request(_two_examples()))
  assert result == _result([2.0, 3.0])


def test_basic_example_list_with_context(fake_session, check):
  """regressor_test.cc: RegressorTest.BasicExampleListWithContext."""
  request = _request()
  serving_requests.fill_input(request.input, 'example_list_with_context',
                              [tf.train.Example(), tf.train.Example()],
                              context=_example_with_output(3.0))
  assert _regress_both(_servable(fake_session, check), request) == _result([3.0, 3.0])


def test_valid_named_signature(fake_session, check):
  """regressor_test.cc: RegressorTest.ValidNamedSignature."""
  result = _regress_both(_servable(fake_session, check),
                         _request(_two_examples(), _OUTPUT_PLUS_ONE_SIGNATURE))
  assert result == _result([3.0, 4.0])


def test_invalid_named_signature(fake_session, check):
  """regressor_test.cc: RegressorTest.InvalidNamedSignature."""
  error = _fail_both(_servable(fake_session, check),
                     _request(_two_examples(), _INVALID_NAMED_SIGNATURE))
  assert error.code == 'INVALID_ARGUMENT'
  if check:
    assert error.message == ('Expected regression signature method_name to be '
                             'tensorflow/serving/regress. Was: tensorflow/serving/classify')
  else:
    assert error.message.startswith('No regression outputs found in SignatureDef: ')
    assert 'outputPlusOne:0' in error.message


def test_malformed_outputs(fake_session, check):
  """regressor_test.cc: RegressorTest.MalformedOutputs."""
  error = _fail_both(_servable(fake_session, check),
                     _request(_two_examples(), _IMPROPERLY_SIZED_OUTPUT_SIGNATURE))
  assert error.code == 'INVALID_ARGUMENT'
  assert error.message == ('Expected output Tensor shape to be either [batch_size] or '
                           '[batch_size, 1] but got [2,1,10]')


def test_empty_input(fake_session, check):
  """regressor_test.cc: RegressorTest.EmptyInput."""
  request = _request()
  serving_requests.fill_input(request.input)  # Touch input.
  serving_requests.assert_input_is_empty(_fail_both(_servable(fake_session, check), request))


def test_empty_example_list(fake_session, check):
  """regressor_test.cc: RegressorTest.EmptyExampleList."""
  request = _request()
  serving_requests.fill_input(request.input, 'example_list')
  serving_requests.assert_input_is_empty(_fail_both(_servable(fake_session, check), request))


def test_empty_example_list_with_context(fake_session, check):
  """regressor_test.cc: RegressorTest.EmptyExampleListWithContext."""
  request = _request()
  serving_requests.fill_input(request.input, 'example_list_with_context',
                              context=_example_with_output(3))
  serving_requests.assert_input_is_empty(_fail_both(_servable(fake_session, check), request))


def test_runs_fails(fake_session, check):
  """regressor_test.cc: RegressorTest.RunsFails."""
  error = _mock_error(fake_session, check, _RUN_FAILS)
  assert 'Run totally failed' in str(error)


def test_unexpected_output_tensor_size(fake_session, check):
  """regressor_test.cc: RegressorTest.UnexpectedOutputTensorSize."""
  serving_requests.assert_invalid_argument(
      _mock_error(fake_session, check, _MOCK_FLOAT_2), 'output batch size',
      'Input batch size did not match output batch size: 1 vs. 2')


def test_unexpected_output_tensor_type(fake_session, check):
  """regressor_test.cc: RegressorTest.UnexpectedOutputTensorType."""
  serving_requests.assert_invalid_argument(
      _mock_error(fake_session, check, _MOCK_STRING_1), 'Expected output Tensor of DT_FLOAT',
      'Expected output Tensor of DT_FLOAT.  Got: DT_STRING')


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
  serving_requests.assert_method_name_check(
      lambda signatures: _servable(fake_session, check, signatures), _signatures(check), check,
      ('regress', 'regression', _REGRESS), _request([_example_with_output(2.0)]),
      _result([2.0]))
