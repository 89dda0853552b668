"""TF Serving's servables/tensorflow/util_test.cc, ported to the replica (TF1 session path).

* InputUtilTest: `InputToSerializedExampleTensor` is, in the replica, the
  serialized-examples tensor Classify, Regress and MultiInference feed to the
  signature's `inputs` tensor. `Servable.prepare(request)` stops right before
  Session::Run and exposes that feed, so each case runs for all three request
  kinds against a MetaGraphDef alone (`Servable.for_checks`, no session).
* ModelSpecTest: `MakeModelSpec` is what fills every response's model_spec; the
  cases run through real responses of TF Serving's half_plus_two testdata model.
* SignatureMethodNameCheckFeature.SetGet: the replica's `method_name_check`.

Not ported (N/A on the replica): ExampleCountsTest.Simple (metrics-only);
ModelSpecTest.OptionalVersion and the version halves of EmptySignature and
AllOptionalSet (servable-version-only: the replica knows no version; its
signature half is OptionalSignature's); ResourceEstimatorTest (resource
estimation); GetMapKeysTest and SetDifferenceTEST (C++ container helpers).
"""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import input_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from tests.serving import models as serving_models
from tests.serving import requests as serving_requests
from tfx_warmup import serving

_CLASSIFY = 'tensorflow/serving/classify'
_REGRESS = 'tensorflow/serving/regress'
_KINDS = ('classify', 'regress', 'multi_inference')

# -- InputUtilTest ------------------------------------------------------------------------


def _int64_example(key, value):
  example = tf.train.Example()
  example.features.feature[key].int64_list.value.append(value)
  return example


def example_a():
  return _int64_example('a', 11)


def example_b():
  return _int64_example('b', 22)


def example_c(value=33):
  return _int64_example('c', value)


@pytest.fixture(scope='module')
def for_checks():
  """A MetaGraphDef whose classify and regress signatures read serialized Examples."""
  meta_graph_def = meta_graph_pb2.MetaGraphDef()
  for name, output, method_name in (('classify', {'scores': 'score:0'}, _CLASSIFY),
                                    ('regress', {'outputs': 'output:0'}, _REGRESS)):
    meta_graph_def.signature_def[name].CopyFrom(
        serving_models.signature_by_names({'inputs': 'input:0'}, output, method_name))
  return serving.Servable.for_checks('/nonexistent/util_test', meta_graph_def)


def _request(kind, model_input):
  if kind == 'classify':
    request = classification_pb2.ClassificationRequest(input=model_input)
    request.model_spec.signature_name = 'classify'
  elif kind == 'regress':
    request = regression_pb2.RegressionRequest(input=model_input)
    request.model_spec.signature_name = 'regress'
  else:
    request = serving_requests.add_tasks(inference_pb2.MultiInferenceRequest(input=model_input),
                                         (('classify', _CLASSIFY), ('regress', _REGRESS)), 'm')
  return request


def _input_to_serialized_example_tensor(servable, kind, model_input):
  """The tensor fed to the signature's `inputs`: TF Serving's InputToSerializedExampleTensor."""
  feeds = servable.prepare(_request(kind, model_input)).feeds
  assert list(feeds) == ['input:0']
  tensor = feeds['input:0']
  assert tensor.ndim == 1  # TensorShape({num_examples}), DT_STRING.
  return tensor


def _assert_input_is_empty(servable, kind, model_input):
  with pytest.raises(serving.RequestError) as error:
    servable.prepare(_request(kind, model_input))
  assert (error.value.code, error.value.message) == ('INVALID_ARGUMENT', 'Input is empty.')


def _parse(serialized):
  return tf.train.Example.FromString(serialized)


def _features_with_context_c(servable, kind, examples):
  """The fed features of two `examples` listed with context example_c() (the tensor's size is 2)."""
  model_input = serving_requests.fill_input(input_pb2.Input(), 'example_list_with_context',
                                            examples, context=example_c())
  tensor = _input_to_serialized_example_tensor(servable, kind, model_input)
  assert tensor.size == 2
  return _parse(tensor[0]).features.feature, _parse(tensor[1]).features.feature


def _assert_a_then_b(servable, kind, model_input):
  """The fed tensor is example_a, example_b serialized, unchanged."""
  tensor = _input_to_serialized_example_tensor(servable, kind, model_input)
  assert tensor.size == 2
  assert _parse(tensor[0]) == example_a()
  assert _parse(tensor[1]) == example_b()


@pytest.mark.parametrize('kind', _KINDS)
def test_empty_kind_not_set(for_checks, kind):
  """util_test.cc: InputUtilTest.Empty_KindNotSet."""
  _assert_input_is_empty(for_checks, kind, input_pb2.Input())


@pytest.mark.parametrize('kind', _KINDS)
def test_empty_example_list(for_checks, kind):
  """util_test.cc: InputUtilTest.Empty_ExampleList."""
  model_input = serving_requests.fill_input(input_pb2.Input(), 'example_list')
  _assert_input_is_empty(for_checks, kind, model_input)


@pytest.mark.parametrize('kind', _KINDS)
def test_empty_example_list_with_context(for_checks, kind):
  """util_test.cc: InputUtilTest.Empty_ExampleListWithContext."""
  model_input = serving_requests.fill_input(input_pb2.Input(), 'example_list_with_context')
  _assert_input_is_empty(for_checks, kind, model_input)


@pytest.mark.parametrize('kind', _KINDS)
def test_example_list(for_checks, kind):
  """util_test.cc: InputUtilTest.ExampleList."""
  model_input = serving_requests.fill_input(input_pb2.Input(), 'example_list',
                                            [example_a(), example_b()])
  _assert_a_then_b(for_checks, kind, model_input)


@pytest.mark.parametrize('kind', _KINDS)
def test_example_list_with_context(for_checks, kind):
  """util_test.cc: InputUtilTest.ExampleListWithContext."""
  first, second = _features_with_context_c(for_checks, kind, [example_a(), example_b()])
  assert first['c'] == example_c().features.feature['c']
  assert first['a'] == example_a().features.feature['a']
  assert second['c'] == example_c().features.feature['c']
  assert second['b'] == example_b().features.feature['b']


@pytest.mark.parametrize('kind', _KINDS)
def test_example_list_with_overriding_context(for_checks, kind):
  """util_test.cc: InputUtilTest.ExampleListWithOverridingContext."""
  first, second = _features_with_context_c(for_checks, kind, [example_a(), example_c(64)])
  assert first['c'] == example_c().features.feature['c']
  assert first['a'] == example_a().features.feature['a']
  assert second['c'] == example_c(64).features.feature['c']


@pytest.mark.parametrize('kind', _KINDS)
def test_example_list_with_context_no_context(for_checks, kind):
  """util_test.cc: InputUtilTest.ExampleListWithContext_NoContext."""
  model_input = serving_requests.fill_input(input_pb2.Input(), 'example_list_with_context',
                                            [example_a(), example_b()])
  _assert_a_then_b(for_checks, kind, model_input)


@pytest.mark.parametrize('kind', _KINDS)
def test_example_list_with_context_only_context(for_checks, kind):
  """util_test.cc: InputUtilTest.ExampleListWithContext_OnlyContext."""
  model_input = serving_requests.fill_input(input_pb2.Input(), 'example_list_with_context',
                                            context=example_c())
  _assert_input_is_empty(for_checks, kind, model_input)


@pytest.mark.parametrize('kind', _KINDS)
def test_request_num_examples_streamz(for_checks, kind):
  """util_test.cc: InputUtilTest.RequestNumExamplesStreamz (the counts; no streamz)."""
  input_1 = serving_requests.fill_input(input_pb2.Input(), 'example_list',
                                        [example_a(), example_b()])
  assert _input_to_serialized_example_tensor(for_checks, kind, input_1).size == 2
  input_2 = serving_requests.fill_input(input_pb2.Input(), 'example_list', [example_c()])
  assert _input_to_serialized_example_tensor(for_checks, kind, input_2).size == 1


# -- ModelSpecTest --------------------------------------------------------------------------

_API_SIGNATURES = {  # The half_plus_two signature each API is asked for.
    'classify': 'classify_x_to_y',
    'regress': 'regress_x_to_y',
    'predict': 'serving_default',
    'multi_inference': 'classify_x_to_y',
}
_APIS = tuple(_API_SIGNATURES)


half_plus_two = serving_requests.servable_fixture(
    'tf_half_plus_two_dir', """TensorFlow's half_plus_two, loaded.""")


def _servable_for(half_plus_two, api, check=False):
  """half_plus_two with the API's signature as both `serving_default` and `classify`."""
  signature = half_plus_two.meta_graph_def.signature_def[_API_SIGNATURES[api]]
  return serving_requests.with_signatures(
      half_plus_two, dict.fromkeys(('serving_default', 'classify'), signature), check)


def _api_request(api, model_name, signature_name):
  """One x = 1.0 request; y = 0.5 * 1 + 2 = 2.5 whichever API answers it."""
  example = serving_requests.float_example(x=1.0)
  if api == 'predict':
    request = predict_pb2.PredictRequest()
    request.inputs['x'].CopyFrom(tf.make_tensor_proto(np.array([[1.0]], np.float32)))
    spec = request.model_spec
  elif api == 'multi_inference':
    request = inference_pb2.MultiInferenceRequest()
    request.input.example_list.examples.append(example)
    spec = request.tasks.add(method_name=_CLASSIFY).model_spec
  else:
    request = (classification_pb2.ClassificationRequest() if api == 'classify'
               else regression_pb2.RegressionRequest())
    request.input.example_list.examples.append(example)
    spec = request.model_spec
  spec.name = model_name
  spec.signature_name = signature_name
  return request


def _answer(servable, api, model_name, signature_name):
  """(response model_spec, y) of one request."""
  response = servable.run(_api_request(api, model_name, signature_name))
  if api == 'predict':
    return response.model_spec, list(response.outputs['y'].float_val)
  if api == 'regress':
    return response.model_spec, [r.value for r in response.result.regressions]
  if api == 'multi_inference':
    result = response.results[0]
    return result.model_spec, [c.score for c in
                               result.classification_result.classifications[0].classes]
  return response.model_spec, [c.score for c in response.result.classifications[0].classes]


@pytest.mark.parametrize('api', _APIS)
def test_model_spec_no_optional(half_plus_two, api):
  """util_test.cc: ModelSpecTest.NoOptional: name "foo", no version.

  (Its empty signature_name has no replica counterpart: every response is
  made with the request's signature, as in TF Serving's callers.)
  """
  model_spec, y = _answer(_servable_for(half_plus_two, api), api, 'foo', 'classify')
  assert model_spec.name == 'foo'
  assert not model_spec.HasField('version')
  assert y == [2.5]


@pytest.mark.parametrize('api', _APIS)
def test_model_spec_optional_signature(half_plus_two, api):
  """util_test.cc: ModelSpecTest.OptionalSignature: signature "classify" is kept."""
  model_spec, y = _answer(_servable_for(half_plus_two, api), api, 'foo', 'classify')
  assert (model_spec.name, model_spec.signature_name) == ('foo', 'classify')
  assert y == [2.5]


@pytest.mark.parametrize('api', _APIS)
def test_model_spec_empty_signature(half_plus_two, api):
  """util_test.cc: ModelSpecTest.EmptySignature: "" becomes serving_default (version N/A)."""
  model_spec, y = _answer(_servable_for(half_plus_two, api), api, 'foo', '')
  assert (model_spec.name, model_spec.signature_name) == ('foo', 'serving_default')
  assert not model_spec.HasField('version')
  assert y == [2.5]


# -- SignatureMethodNameCheckFeature ------------------------------------------------------


def test_signature_method_name_check_feature_set_get(tf_half_plus_two_dir):
  """util_test.cc: SignatureMethodNameCheckFeature.SetGet.

  Set on, get on; set off, get off -- and the setting is the one requests see:
  a Regress on a classification signature fails on its method name only when on.
  """
  request = _api_request('regress', 'foo', 'classify_x_to_y')
  with serving.load(tf_half_plus_two_dir, method_name_check=True) as servable:
    assert servable.method_name_check is True
    with pytest.raises(serving.RequestError, match='Expected regression signature '
                       'method_name to be tensorflow/serving/regress. Was: '
                       'tensorflow/serving/classify'):
      servable.regress(request)
  with serving.load(tf_half_plus_two_dir, method_name_check=False) as servable:
    assert servable.method_name_check is False
    with pytest.raises(serving.RequestError,
                       match='^INVALID_ARGUMENT: No regression outputs found in SignatureDef'):
      servable.regress(request)
