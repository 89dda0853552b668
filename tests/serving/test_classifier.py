"""TF Serving's servables/tensorflow/classifier_test.cc, ported to the replica.

Each C++ TEST_P runs twice, with the signature method-name check off and on
(`check` below), and calls both `Classifier::Classify` and `RunClassify` with
identical expectations; the replica has one Classify path, so each test sends
its request twice (the second time through the servable's cached Session::Run).

The C++ fixture has no model: a FakeSession parses the fed tf.Examples (bytes
feature `class`, float feature `score`) and returns them as `output:0` /
`score:0`, and the MockSession-based cases return fixed tensors. Here one real
TF1 graph computes exactly those tensors (`_build_fake_session`), and each test
serves it behind the SignatureDefs the C++ test writes by hand (TensorInfos with
names only, method names set only when the check is on), as
`serving.Servable(export_dir, session, meta_graph_def, method_name_check)`.
"""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import classification_pb2

from tests.serving import models as serving_models
from tests.serving import requests as serving_requests

_CLASSIFY = 'tensorflow/serving/classify'
_REGRESS = 'tensorflow/serving/regress'

# classifier_test.cc's tensor and signature names.
_INPUT = 'input:0'
_CLASS = 'output:0'
_OUTPUT_PLUS_ONE = 'outputPlusOne:0'
_SCORE = 'score:0'
_IMPROPERLY_SIZED_SCORES = 'ImproperlySizedScores:0'
_OUTPUT_PLUS_ONE_SIGNATURE = 'output_plus_one'
_INVALID_NAMED_SIGNATURE = 'invalid_regression_signature'
_IMPROPERLY_SIZED_SCORES_SIGNATURE = 'ImproperlySizedScoresSignature'

# The MockSession cases' fixed outputs, as graph constants: name -> (dtype, shape).
_MOCK_TENSORS = {
    'mock_classes_string_1x2': (tf.string, [1, 2]),
    'mock_classes_string_2x2': (tf.string, [2, 2]),
    'mock_classes_float_2x2': (tf.float32, [2, 2]),
    'mock_scores_float_1x2': (tf.float32, [1, 2]),
    'mock_scores_float_2x2': (tf.float32, [2, 2]),
    'mock_scores_float_2x3': (tf.float32, [2, 3]),
    'mock_scores_string_2x2': (tf.string, [2, 2]),
}
_RUN_FAILS = 'run_totally_failed:0'


def _build_fake_session():
  """The FakeSession (and MockSession outputs) of classifier_test.cc as a TF1 graph."""
  serialized = tf.compat.v1.placeholder(tf.string, [None], name='input')
  parsed = tf.io.parse_example(serialized, {
      'class': tf.io.VarLenFeature(tf.string),
      'score': tf.io.VarLenFeature(tf.float32),
  })
  classes = tf.sparse.to_dense(parsed['class'], default_value='', name='output')
  scores = tf.sparse.to_dense(parsed['score'], name='score')
  tf.add(scores, 1.0, name='outputPlusOne')
  shape = tf.shape(scores)
  tf.zeros(tf.stack([shape[0], shape[1], 10]), tf.float32, name='ImproperlySizedScores')
  for name, (dtype, size) in _MOCK_TENSORS.items():
    value = np.zeros(size, np.float32) if dtype == tf.float32 else np.full(size, b'x', object)
    tf.constant(value, dtype, name=name)
  serving_models.run_totally_failed(serialized, scores)
  sig = tf.compat.v1.saved_model.signature_def_utils
  return {'serving_default': sig.classification_signature_def(serialized, classes, scores)}


fake_session = serving_requests.graph_servable_fixture('classifier_test', _build_fake_session)

check = serving_requests.method_check_fixture(
    """INSTANTIATE_TEST_SUITE_P(Classifier, ClassifierTest, ::testing::Bool()).""")


def _named_signature(output_scores, is_classification, check):
  """ClassifierTest::AddNamedSignatureToSavedModelBundle."""
  if is_classification:
    return serving_models.signature_by_names(
        {'inputs': _INPUT}, {'scores': output_scores, 'classes': _CLASS}, _CLASSIFY, check)
  return serving_models.signature_by_names(
      {'inputs': _INPUT}, {'outputs': output_scores}, _REGRESS, check)


def _signatures(check):
  """ClassifierTest::SetUp's MetaGraphDef signatures."""
  return {
      'serving_default': serving_models.signature_by_names(
          {'inputs': _INPUT}, {'classes': _CLASS, 'scores': _SCORE}, _CLASSIFY, check),
      _OUTPUT_PLUS_ONE_SIGNATURE: _named_signature(_OUTPUT_PLUS_ONE, True, check),
      _INVALID_NAMED_SIGNATURE: _named_signature(_OUTPUT_PLUS_ONE, False, check),
      _IMPROPERLY_SIZED_SCORES_SIGNATURE: _named_signature(
          _IMPROPERLY_SIZED_SCORES, True, check),
  }


def _servable(fake_session, check, signatures=None):
  return serving_requests.with_signatures(fake_session, signatures or _signatures(check), check)


def _mock_servable(fake_session, check, classes, scores):
  """SetUp's signatures, with a MockSession returning `classes` and `scores` tensors."""
  signatures = _signatures(check)
  signatures['serving_default'].outputs['classes'].name = classes
  signatures['serving_default'].outputs['scores'].name = scores
  return _servable(fake_session, check, signatures)


def _example(class_scores):
  """ClassifierTest::example: bytes feature `class` and float feature `score`."""
  example = tf.train.Example()
  features = example.features.feature
  features['class'].bytes_list.value.extend([c.encode() for c, _ in class_scores])
  features['score'].float_list.value.extend([s for _, s in class_scores])
  return example


def _request(examples=None, signature_name=''):
  return serving_requests.example_request(classification_pb2.ClassificationRequest, examples,
                                          signature_name)


def _two_examples():
  return [_example([('dos', 2), ('uno', 1)]), _example([('cuatro', 4), ('tres', 3)])]


def _result(classifications):
  """A ClassificationResult from [[(label, score), ...], ...]; None leaves a field unset."""
  result = classification_pb2.ClassificationResult()
  for classes in classifications:
    entry = result.classifications.add()
    for label, score in classes:
      cls = entry.classes.add()
      if label is not None:
        cls.label = label
      if score is not None:
        cls.score = score
  return result


# Classifier::Classify, then RunClassify: both must answer with equal results, or fail alike.
_classify_both, _fail_both = serving_requests.both_paths('classify')


def test_example_list(fake_session, check):
  """classifier_test.cc: ClassifierTest.ExampleList."""
  result = _classify_both(_servable(fake_session, check), _request(_two_examples()))
  assert result == _result([[('dos', 2), ('uno', 1)], [('cuatro', 4), ('tres', 3)]])


def test_example_list_with_context(fake_session, check):
  """classifier_test.cc: ClassifierTest.ExampleListWithContext."""
  request = _request()
  serving_requests.fill_input(request.input, 'example_list_with_context',
                              [tf.train.Example(), tf.train.Example()],
                              context=_example([('dos', 2), ('uno', 1)]))
  result = _classify_both(_servable(fake_session, check), request)
  assert result == _result([[('dos', 2), ('uno', 1)], [('dos', 2), ('uno', 1)]])


def test_example_list_with_context_duplicate_features(fake_session, check):
  """classifier_test.cc: ClassifierTest.ExampleListWithContext_DuplicateFeatures."""
  request = _request()
  serving_requests.fill_input(request.input, 'example_list_with_context',
                              [tf.train.Example(), _example([('tres', 3), ('cuatro', 4)])],
                              context=_example([('uno', 1), ('dos', 2)]))
  result = _classify_both(_servable(fake_session, check), request)
  assert result == _result([[('uno', 1), ('dos', 2)], [('tres', 3), ('cuatro', 4)]])


def test_classes_only(fake_session, check):
  """classifier_test.cc: ClassifierTest.ClassesOnly."""
  signatures = _signatures(check)
  del signatures['serving_default'].outputs['scores']
  result = _classify_both(_servable(fake_session, check, signatures),
                          _request(_two_examples()))
  assert result == _result([[('dos', None), ('uno', None)],
                            [('cuatro', None), ('tres', None)]])


def test_scores_only(fake_session, check):
  """classifier_test.cc: ClassifierTest.ScoresOnly."""
  signatures = _signatures(check)
  del signatures['serving_default'].outputs['classes']
  result = _classify_both(_servable(fake_session, check, signatures),
                          _request(_two_examples()))
  assert result == _result([[(None, 2), (None, 1)], [(None, 4), (None, 3)]])


def test_zero_scores_are_present(fake_session, check):
  """classifier_test.cc: ClassifierTest.ZeroScoresArePresent."""
  signatures = _signatures(check)
  del signatures['serving_default'].outputs['classes']
  result = _classify_both(_servable(fake_session, check, signatures),
                          _request([_example([('minus', -1), ('zero', 0), ('one', 1)])]))
  assert len(result.classifications) == 1
  classification = result.classifications[0]
  assert len(classification.classes) == 3
  for cls, expected in zip(classification.classes, [-1, 0, 1]):
    assert abs(cls.score - expected) <= 1e-7


def test_valid_named_signature(fake_session, check):
  """classifier_test.cc: ClassifierTest.ValidNamedSignature."""
  result = _classify_both(_servable(fake_session, check),
                          _request(_two_examples(), _OUTPUT_PLUS_ONE_SIGNATURE))
  assert result == _result([[('dos', 3), ('uno', 2)], [('cuatro', 5), ('tres', 4)]])


def test_invalid_named_signature(fake_session, check):
  """classifier_test.cc: ClassifierTest.InvalidNamedSignature."""
  error = _fail_both(_servable(fake_session, check),
                     _request(_two_examples(), _INVALID_NAMED_SIGNATURE))
  assert error.code == 'INVALID_ARGUMENT'
  if check:
    assert error.message == ('Expected classification signature method_name to be '
                             'tensorflow/serving/classify. Was: tensorflow/serving/regress')
  else:
    assert error.message.startswith(
        'Expected classification signature outputs to contain at least one of '
        '"classes" or "scores". Signature was: ')


def test_malformed_scores(fake_session, check):
  """classifier_test.cc: ClassifierTest.MalformedScores."""
  error = _fail_both(_servable(fake_session, check),
                     _request(_two_examples(), _IMPROPERLY_SIZED_SCORES_SIGNATURE))
  assert error.code == 'INVALID_ARGUMENT'
  assert error.message == 'Expected Tensor shape: [batch_size num_classes] but got [2,2,10]'


def test_missing_classification_signature(fake_session, check):
  """classifier_test.cc: ClassifierTest.MissingClassificationSignature."""
  signatures = _signatures(check)
  signatures['serving_default'] = meta_graph_pb2.SignatureDef()
  error = _fail_both(_servable(fake_session, check, signatures),
                     _request([_example([('dos', 2)])]))
  assert error.code == 'INVALID_ARGUMENT'
  assert error.message == (
      'Expected classification signature method_name to be tensorflow/serving/classify. '
      'Was: ' if check else 'Expected one input Tensor.')


def test_empty_input(fake_session, check):
  """classifier_test.cc: ClassifierTest.EmptyInput."""
  request = _request()
  serving_requests.fill_input(request.input)  # Touch input.
  serving_requests.assert_input_is_empty(_fail_both(_servable(fake_session, check), request))


def test_empty_example_list(fake_session, check):
  """classifier_test.cc: ClassifierTest.EmptyExampleList."""
  request = _request()
  serving_requests.fill_input(request.input, 'example_list')  # Touch ExampleList.
  serving_requests.assert_input_is_empty(_fail_both(_servable(fake_session, check), request))


def test_empty_example_list_with_context(fake_session, check):
  """classifier_test.cc: ClassifierTest.EmptyExampleListWithContext."""
  request = _request()
  serving_requests.fill_input(request.input, 'example_list_with_context',
                              context=_example([('dos', 2)]))
  serving_requests.assert_input_is_empty(_fail_both(_servable(fake_session, check), request))


def test_runs_fails(fake_session, check):
  """classifier_test.cc: ClassifierTest.RunsFails."""
  servable = _mock_servable(fake_session, check, _CLASS, _RUN_FAILS)
  error = _fail_both(servable, _request([_example([('dos', 2)])]))
  assert 'Run totally failed' in str(error)


@pytest.mark.parametrize('case,classes,scores,fragment,message', [
    ('ClassesIncorrectTensorBatchSize', 'mock_classes_string_1x2:0', 'mock_scores_float_2x2:0',
     'batch size', 'Expected classes output batch size of 2. Got: 1'),
    ('ClassesIncorrectTensorType', 'mock_classes_float_2x2:0', 'mock_scores_float_2x2:0',
     'Expected classes Tensor of DT_STRING', 'Expected classes Tensor of DT_STRING. Got: DT_FLOAT'),
    ('ScoresIncorrectTensorBatchSize', 'mock_classes_string_2x2:0', 'mock_scores_float_1x2:0',
     'batch size', 'Expected scores output batch size of 2. Got: 1'),
    ('ScoresIncorrectTensorType', 'mock_classes_string_2x2:0', 'mock_scores_string_2x2:0',
     'Expected scores Tensor of DT_FLOAT', 'Expected scores Tensor of DT_FLOAT. Got: DT_STRING'),
    ('MismatchedNumberOfTensorClasses', 'mock_classes_string_2x2:0', 'mock_scores_float_2x3:0',
     'Tensors class and score should match in dim_size(1). Got 2 vs. 3',
     'Tensors class and score should match in dim_size(1). Got 2 vs. 3'),
])
def test_mock_session_outputs_are_validated(fake_session, check, case, classes, scores,
                                            fragment, message):
  """classifier_test.cc: ClassifierTest.{ClassesIncorrectTensorBatchSize,
  ClassesIncorrectTensorType, ScoresIncorrectTensorBatchSize, ScoresIncorrectTensorType,
  MismatchedNumberOfTensorClasses} (`case`): a MockSession returns fixed tensors.
  """
  del case  # Names the C++ case in the test id.
  serving_requests.assert_invalid_argument(
      _fail_both(_mock_servable(fake_session, check, classes, scores), _request(_two_examples())),
      fragment, message)


def test_method_name_check(fake_session, check):
  """classifier_test.cc: ClassifierTest.MethodNameCheck (RunClassify only)."""
  serving_requests.assert_method_name_check(
      lambda signatures: _servable(fake_session, check, signatures), _signatures(check), check,
      ('classify', 'classification', _CLASSIFY), _request([_example([('dos', 2), ('uno', 1)])]),
      _result([[('dos', 2), ('uno', 1)]]))
