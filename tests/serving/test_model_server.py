"""The request cases of TF Serving's tensorflow_model_server_test.py, ported to the replica.

Source: tensorflow_serving/model_servers/tensorflow_model_server_test.py and
test_util/tensorflow_model_server_test_base.py (TF Serving 9d981c5). Those tests
start a real server; here the same gRPC requests go to the replica loaded
with the same model: testdata/saved_model_half_plus_two_cpu
(`half_plus_two_dir`) served as 'default', and half_plus_three for
testGoodModelConfig. `_VerifyModelSpec` checks name and signature_name; its
version check (123) is servable-version-only (N/A).

The shape-related point: the model-server tests feed x as a [1] tensor (and,
with batch_input, [1, 1]) to half_plus_two's x:0, whose static shape is
[?, 1]; TF Serving's C++ Session::Run does not check fed shapes.

Not ported (N/A): testClassifyTf2 / testRegressTf2 / testMultiInferenceTf2 and
test_tf_saved_model_save*, test_sequential_keras_saved_model_save,
test_distrat_sequential_keras_saved_model_save (TF2 models, not built here);
the REST cases (testPredictREST's and testPredictColumnarREST's gRPC
equivalent, x = [2, 3, 4], is ported; testClassifyREST / testRegressREST's
gRPC equivalents are testClassify / testRegress); the config-file part of
testGoodModelConfig; testGetModelStatus, testGetModelMetadata(+REST),
testGetStatusREST, testBadModelConfig, testModelConfigReload(+ZeroPollPeriod),
testGoodGrpcChannelArgs, testPrometheusEndpoint, testPredictUDS,
testPredictOnTfLite, testPredictWithSignatureDefOnTfLite, the profiler and
tf_text tests (server / config / TFLite / metadata), and _TestBadModel (not
run by TF Serving).
"""

import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from tests.serving import requests as serving_requests

half_plus_two = serving_requests.servable_fixture(
    'half_plus_two_dir', """testdata/saved_model_half_plus_two_cpu, served as 'default'.""")

half_plus_three = serving_requests.servable_fixture(
    'half_plus_three_dir', """testdata/saved_model_half_plus_three (testGoodModelConfig).""")


def _predict_request(model_name='default', specify_output=True, batch_input=False,
                     signature_name='serving_default'):
  """VerifyPredictRequest's request: x = DT_FLOAT [1] (or [1, 1]) holding 2.0."""
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = signature_name
  request.inputs['x'].dtype = types_pb2.DT_FLOAT
  request.inputs['x'].float_val.append(2.0)
  request.inputs['x'].tensor_shape.dim.add().size = 1
  if batch_input:
    request.inputs['x'].tensor_shape.dim.add().size = 1
  if specify_output:
    request.output_filter.append('y')
  return request


def _verify_predict(servable, expected_output, **kwargs):
  """VerifyPredictRequest's checks (the version one aside)."""
  request = _predict_request(**kwargs)
  result = servable.predict(request)
  assert 'y' in result.outputs
  assert result.outputs['y'].dtype == types_pb2.DT_FLOAT
  assert len(result.outputs['y'].float_val) == 1
  assert result.outputs['y'].float_val[0] == expected_output
  _verify_model_spec(result.model_spec, request.model_spec.name,
                     request.model_spec.signature_name)
  return result


def _verify_model_spec(model_spec, name, signature_name):
  assert model_spec.name == name
  assert model_spec.signature_name == signature_name


@pytest.mark.parametrize('specify_output', [True, False], ids=['output_filter_y', 'no_filter'])
def test_predict_saved_model(half_plus_two, specify_output):
  """testPredictSavedModel (_TestPredict -> VerifyPredictRequest): x [1] = [2.0] -> y [3.0].

  _TestPredict sends the request with output_filter ["y"]; testGoodModelConfig
  sends it without too (specify_output=False). y keeps x's [1] shape.
  """
  result = _verify_predict(half_plus_two, 3.0, specify_output=specify_output)
  assert [d.size for d in result.outputs['y'].tensor_shape.dim] == [1]


def test_predict_batch_input(half_plus_two):
  """VerifyPredictRequest(batch_input=True): x [1, 1] = [[2.0]] -> y [[3.0]].

  The request the Keras model-server tests send; here to half_plus_two.
  """
  result = _verify_predict(half_plus_two, 3.0, batch_input=True)
  assert [d.size for d in result.outputs['y'].tensor_shape.dim] == [1, 1]


@pytest.mark.parametrize('model,expected_output', [('half_plus_two', 3.0),
                                                   ('half_plus_three', 4.0)])
@pytest.mark.parametrize('specify_output', [True, False], ids=['output_filter_y', 'no_filter'])
def test_good_model_config(request, model, expected_output, specify_output):
  """testGoodModelConfig's requests: half_plus_two -> 3.0, half_plus_three -> 4.0.

  (Serving both from a model config file is server-only, N/A.)
  """
  servable = request.getfixturevalue(model)
  _verify_predict(servable, expected_output, model_name=model, specify_output=specify_output)


def test_predict_rest_grpc_equivalent(half_plus_two):
  """testPredictREST / testPredictColumnarREST, as gRPC: x [3] = [2, 3, 4] -> [3.0, 3.5, 4.0].

  The REST layer turns {"instances": [2.0, 3.0, 4.0]} (or "inputs") into a
  float [3] tensor for x.
  """
  request = predict_pb2.PredictRequest()
  request.model_spec.name = 'default'
  request.inputs['x'].dtype = types_pb2.DT_FLOAT
  request.inputs['x'].float_val.extend([2.0, 3.0, 4.0])
  request.inputs['x'].tensor_shape.dim.add().size = 3
  result = half_plus_two.predict(request)
  assert list(result.outputs['y'].float_val) == [3.0, 3.5, 4.0]
  assert [d.size for d in result.outputs['y'].tensor_shape.dim] == [3]


def _example_request(request_type, signature_name):
  """A request of model 'default' and `signature_name` with one Example{x: [2.0]}."""
  return serving_requests.example_request(
      request_type, [serving_requests.float_example(x=2.0)], signature_name, 'default')


def test_classify(half_plus_two):
  """testClassify (_TestClassify): classify_x_to_y, Example{x: [2.0]} -> one class, score 3.0."""
  request = _example_request(classification_pb2.ClassificationRequest, 'classify_x_to_y')
  result = half_plus_two.classify(request)
  assert len(result.result.classifications) == 1
  assert len(result.result.classifications[0].classes) == 1
  assert result.result.classifications[0].classes[0].score == 3.0
  _verify_model_spec(result.model_spec, 'default', 'classify_x_to_y')


def test_regress(half_plus_two):
  """testRegress (_TestRegress): regress_x_to_y, one Example{x: [2.0]} -> [3.0]."""
  request = _example_request(regression_pb2.RegressionRequest, 'regress_x_to_y')
  result = half_plus_two.regress(request)
  assert len(result.result.regressions) == 1
  assert result.result.regressions[0].value == 3.0
  _verify_model_spec(result.model_spec, 'default', 'regress_x_to_y')


def test_multi_inference(half_plus_two):
  """testMultiInference (_TestMultiInference): regress_x_to_y and classify_x_to_y.

  Both tasks on one Example{x: [2.0]}.
  """
  request = serving_requests.add_tasks(
      inference_pb2.MultiInferenceRequest(),
      [('regress_x_to_y', 'tensorflow/serving/regress'),
       ('classify_x_to_y', 'tensorflow/serving/classify')], 'default')
  request.input.example_list.examples.append(serving_requests.float_example(x=2.0))
  result = half_plus_two.multi_inference(request)
  assert len(result.results) == 2
  assert result.results[0].regression_result.regressions[0].value == 3.0
  assert result.results[1].classification_result.classifications[0].classes[0].score == 3.0
  for i in range(2):
    _verify_model_spec(result.results[i].model_spec, request.tasks[i].model_spec.name,
                       request.tasks[i].model_spec.signature_name)
