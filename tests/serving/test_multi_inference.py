"""TF Serving's multi_inference_test.cc, ported case by case to the replica.

Source: tensorflow_serving/servables/tensorflow/multi_inference_test.cc (TF
Serving 9d981c5). The typed suite's TF1 instantiation: TensorFlow's
half_plus_two (`tf_half_plus_two_dir`) with the signature method-name check ON,
as `SetUpTestSuite` sets it for TF1. Every C++ case runs the same request
through TensorFlowMultiInferenceRunner::Infer and RunMultiInference with the
same expectation; the replica has one MultiInference path, so each case is one
call. Expected model_specs drop `version` (servable version 1 in C++;
servable-version-only). Not ported: the TF2 instantiation (needs
saved_model_half_plus_two_tf2_cpu, not built here) and ThreadPoolOptions
(thread-pool-only; its response is ValidSingleSignatureTest's).
"""

import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import inference_pb2

from tests.serving import requests as serving_requests
from tfx_warmup import serving

_MODEL = 'test_model'
_REGRESS = 'tensorflow/serving/regress'
_CLASSIFY = 'tensorflow/serving/classify'
_PREDICT = 'tensorflow/serving/predict'


servable = serving_requests.servable_fixture(
    'tf_half_plus_two_dir', """TensorFlow's half_plus_two, the method-name check on (TF1).""",
    method_name_check=True)


def _request(tasks, x=2.0):
  """AddInput({{"x", x}}) (None: no input) and PopulateTask for each (signature, method[, name])."""
  request = inference_pb2.MultiInferenceRequest()
  if x is not None:
    request.input.example_list.examples.append(serving_requests.float_example(x=x))
  return serving_requests.add_tasks(request, tasks, _MODEL)


@pytest.mark.parametrize('request_,code,fragment', [
    pytest.param(_request([('regress_x_to_y', _REGRESS)], x=None),
                 'INVALID_ARGUMENT', 'Input is empty', id='MissingInputTest'),
    pytest.param(_request([('ThisSignatureDoesNotExist', _REGRESS)]),
                 'INVALID_ARGUMENT', 'signature not found', id='UndefinedSignatureTest'),
    pytest.param(_request([('regress_x_to_y', _REGRESS),
                           ('regress_x_to_y', _REGRESS, 'ModelDoesNotExist')]),
                 'INVALID_ARGUMENT', 'must access the same model name',
                 id='InconsistentModelSpecsInRequestTest'),
    pytest.param(_request([('regress_x_to_y', _REGRESS), ('regress_x_to_y', _REGRESS)]),
                 'INVALID_ARGUMENT', 'Duplicate evaluation of signature: regress_x_to_y',
                 id='EvaluateDuplicateSignaturesTest'),
    pytest.param(_request([('serving_default', _PREDICT)]),
                 'UNIMPLEMENTED', 'Unsupported signature', id='UsupportedSignatureTypeTest'),
])
def test_refused_requests(servable, request_, code, fragment):
  """MultiInferenceTest.{MissingInput,UndefinedSignature,InconsistentModelSpecsInRequest,
  EvaluateDuplicateSignatures,UsupportedSignatureType}Test: code and message fragment."""
  with pytest.raises(serving.RequestError) as error:
    servable.multi_inference(request_)
  assert error.value.code == code
  assert fragment in error.value.message


@pytest.mark.parametrize('request_,message', [
    (_request([('regress_x_to_y', _REGRESS)], x=None), 'Input is empty.'),
    (_request([('ThisSignatureDoesNotExist', _REGRESS)]),
     'Requested signature not found in model graph: ThisSignatureDoesNotExist'),
    (_request([('regress_x_to_y', _REGRESS),
               ('regress_x_to_y', _REGRESS, 'ModelDoesNotExist')]),
     'All ModelSpecs in a MultiInferenceRequest must access the same model name.'),
    (_request([('serving_default', _PREDICT)]),
     'Unsupported signature method_name: tensorflow/serving/predict'),
], ids=['MissingInputTest', 'UndefinedSignatureTest', 'InconsistentModelSpecsInRequestTest',
        'UsupportedSignatureTypeTest'])
def test_refusals_carry_multi_inference_cc_full_text(servable, request_, message):
  """The same cases' full messages, as multi_inference.cc words them."""
  with pytest.raises(serving.RequestError) as error:
    servable.multi_inference(request_)
  assert error.value.message == message


def _results(*results):
  """An expected MultiInferenceResponse: results as (signature_name, result text)."""
  response = inference_pb2.MultiInferenceResponse()
  for signature_name, text in results:
    result = response.results.add()
    result.model_spec.name = _MODEL
    result.model_spec.signature_name = signature_name
    text_format.Merge(text, result)
  return response


_Y_REGRESSION = 'regression_result { regressions { value: 3.0 } }'


@pytest.mark.parametrize('tasks,expected', [
    pytest.param([('regress_x_to_y', _REGRESS)],
                 _results(('regress_x_to_y', _Y_REGRESSION)), id='ValidSingleSignatureTest'),
    pytest.param([('regress_x_to_y', _REGRESS), ('regress_x_to_y2', _REGRESS)],
                 _results(('regress_x_to_y', _Y_REGRESSION),
                          ('regress_x_to_y2', 'regression_result { regressions { value: 4.0 } }')),
                 id='MultipleValidRegressSignaturesTest'),
    pytest.param([('regress_x_to_y', _REGRESS), ('classify_x_to_y', _CLASSIFY)],
                 _results(('regress_x_to_y', _Y_REGRESSION),
                          ('classify_x_to_y',
                           'classification_result { classifications { classes { score: 3.0 } } }')),
                 id='RegressAndClassifySignaturesTest'),
])
def test_valid_requests(servable, tasks, expected):
  """MultiInferenceTest.{ValidSingleSignature,MultipleValidRegressSignatures,
  RegressAndClassifySignatures}Test (and ThreadPoolOptions' response): EqualsProto."""
  response = servable.multi_inference(_request(tasks))
  assert response == expected
