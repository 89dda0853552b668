"""Reading a logged request with the model: its API, the request TF Serving builds, its key,
and every refusal in TF Serving's words.

The model is a map of SignatureDefs written in Python (what the replica's checks before
Session::Run read); each refusal's text is the replica handler's own, pinned here whole
where this module decides which handler answers.
"""

import json

import pytest
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup import serving
from tfx_warmup.errors import ConfigurationError
from tfx_warmup.errors import TrafficError
from tfx_warmup.errors import USER_ERRORS
from tfx_warmup.serving.errors import RequestError
from tfx_warmup.traffic import requests
from tfx_warmup.traffic.entry import LogEntry
from tfx_warmup.traffic.entry import TrafficKey

PREDICT = 'tensorflow/serving/predict'
CLASSIFY = 'tensorflow/serving/classify'
REGRESS = 'tensorflow/serving/regress'


def signature_def(method: str, inputs: dict, outputs: dict) -> meta_graph_pb2.SignatureDef:
  """A SignatureDef: inputs and outputs as {alias: (dtype, dims)}, tensors named alias:0."""
  result = meta_graph_pb2.SignatureDef(method_name=method)
  for field, infos in ((result.inputs, inputs), (result.outputs, outputs)):
    for alias, (dtype, dims) in infos.items():
      field[alias].name = f'{alias}:0'
      field[alias].dtype = dtype
      for size in dims:
        field[alias].tensor_shape.dim.add(size=size)
  return result


def model_signatures() -> dict:
  """A model as TF Serving sees it: a raw-tensor Predict default, a Predict signature of
  serialized examples, a classifier, a regressor, and a classifier-shaped signature whose
  method name is Predict's."""
  f, i, s = types_pb2.DT_FLOAT, types_pb2.DT_INT64, types_pb2.DT_STRING
  return {
      'serving_default': signature_def(
          PREDICT, {'age': (f, [-1, 1]), 'hours': (i, [-1, 1]), 'embedding': (f, [-1, 3])},
          {'probabilities': (f, [-1, 2]), 'logits': (f, [-1, 2])}),
      'predict_examples': signature_def(PREDICT, {'examples': (s, [-1])},
                                        {'probabilities': (f, [-1, 2])}),
      'classify': signature_def(CLASSIFY, {'inputs': (s, [-1])},
                                {'classes': (s, [-1, 2]), 'scores': (f, [-1, 2])}),
      'regress': signature_def(REGRESS, {'inputs': (s, [-1])}, {'outputs': (f, [-1, 1])}),
      'scores_as_predict': signature_def(PREDICT, {'inputs': (s, [-1])},
                                         {'scores': (f, [-1, 2])}),
  }


SIGNATURES = model_signatures()


def rows(n: int, start: float = 0.0) -> bytes:
  """A row-format body of the default signature, batch `n`."""
  return json.dumps({'instances': [
      {'age': [start + k], 'hours': [k], 'embedding': [0.5, k, 1.5]} for k in range(n)]}).encode()


def examples_body(n: int, signature_name=None) -> bytes:
  body = {'examples': [{'age': 30.5 + k, 'color': 'red'} for k in range(n)]}
  if signature_name is not None:
    body['signature_name'] = signature_name
  return json.dumps(body).encode()


def entry(body=None, log=None, api=None, source='traffic.jsonl:1', **kwargs) -> LogEntry:
  return LogEntry(source=source, format='rest', body=body, log=log, api=api, **kwargs)


def predict_log(request: predict_pb2.PredictRequest) -> prediction_log_pb2.PredictionLog:
  return prediction_log_pb2.PredictionLog(
      predict_log=prediction_log_pb2.PredictLog(request=request))


def raw_predict_request(signature_name='', output_filter=(), batch=2,
                        inputs=('age', 'hours', 'embedding')) -> predict_pb2.PredictRequest:
  request = predict_pb2.PredictRequest(output_filter=list(output_filter))
  request.model_spec.signature_name = signature_name
  values = {'age': ([batch, 1], types_pb2.DT_FLOAT, 'float_val', [30.0] * batch),
            'hours': ([batch, 1], types_pb2.DT_INT64, 'int64_val', [4] * batch),
            'embedding': ([batch, 3], types_pb2.DT_FLOAT, 'float_val', [0.5] * 3 * batch)}
  for alias in inputs:
    dims, dtype, field, data = values[alias]
    tensor = request.inputs[alias]
    tensor.dtype = dtype
    for size in dims:
      tensor.tensor_shape.dim.add(size=size)
    getattr(tensor, field).extend(data)
  return request


def refusal(an_entry: LogEntry, signatures=None, **kwargs) -> RequestError:
  with pytest.raises(RequestError) as raised:
    requests.logged_request(an_entry, SIGNATURES if signatures is None else signatures,
                            **kwargs)
  return raised.value


# -- the API ---------------------------------------------------------------------------------


def test_the_logs_api_comes_first_even_against_the_signatures_method():
  """A URL's :regress on a classify signature is what the client sent: Regress refuses it."""
  error = refusal(entry(examples_body(1, 'classify'), api='regress'), traffic_api='classify')
  assert (error.code, error.message) == ('INVALID_ARGUMENT', 'Expected one output Tensor.')


@pytest.mark.parametrize('name,api', [('classify', 'classify'), ('regress', 'regress')])
def test_an_examples_body_without_url_takes_the_signatures_method_before_traffic_api(name, api):
  other = 'regress' if api == 'classify' else 'classify'
  logged = requests.logged_request(entry(examples_body(3, name)), SIGNATURES, traffic_api=other)
  assert logged.key == TrafficKey(api, name, 3)
  assert logged.log.WhichOneof('log_type') == f'{api}_log'


def test_an_examples_body_takes_traffic_api_when_the_signature_does_not_say():
  logged = requests.logged_request(entry(examples_body(2, 'scores_as_predict')), SIGNATURES,
                                   traffic_api='classify')
  assert logged.key == TrafficKey('classify', 'scores_as_predict', 2)


@pytest.mark.parametrize('name,why', [
    ('predict_examples', "method name is 'tensorflow/serving/predict'"),
    ('predict_v1', 'which the model does not have'),
    (None, "signature 'serving_default', whose method name is"),
])
def test_an_examples_body_nothing_names_the_api_of_is_an_error_naming_line_and_fix(name, why):
  with pytest.raises(requests.UnknownApiError) as raised:
    requests.logged_request(entry(examples_body(1, name), source='logs/a.jsonl:17'), SIGNATURES)
  message = str(raised.value)
  assert message.startswith('logs/a.jsonl:17: ')
  assert raised.value.source == 'logs/a.jsonl:17'
  assert why in message
  assert "traffic_api='classify' or 'regress'" in message and '--traffic-api' in message
  assert isinstance(raised.value, TrafficError) and isinstance(raised.value, USER_ERRORS)


def test_instances_and_inputs_bodies_are_predict_requests_whatever_the_signature():
  """Only Predict reads `instances`/`inputs`; Predict answers a classify signature too."""
  body = json.dumps({'signature_name': 'classify',
                     'instances': [{'b64': 'AAAA'}, {'b64': 'AQID'}]}).encode()
  logged = requests.logged_request(entry(body), SIGNATURES, traffic_api='regress')
  assert logged.key == TrafficKey('predict', 'classify', 2)
  columnar = json.dumps({'inputs': {'age': [[1.0]], 'hours': [[2]],
                                    'embedding': [[1, 2, 3]]}}).encode()
  assert requests.logged_request(entry(columnar), SIGNATURES).key.api == 'predict'


def test_a_body_that_is_no_json_object_is_refused_as_every_api_refuses_it():
  for body in (b'', b'instances = [1]', b'[1, 2]'):
    error = refusal(entry(body))
    assert error.code == 'INVALID_ARGUMENT'
    assert error.message.startswith('JSON')


def test_a_predictionlog_names_its_own_api():
  log = predict_log(raw_predict_request())
  assert requests.resolve_api(entry(log=log), [SIGNATURES]) == serving.Api.PREDICT


def test_the_first_signature_map_that_says_names_the_api():
  """The serving model's method speaks for a signature the new model dropped."""
  new = {k: v for k, v in SIGNATURES.items() if k != 'classify'}
  an_entry = entry(examples_body(1, 'classify'))
  assert requests.resolve_api(an_entry, [SIGNATURES, new]) == serving.Api.CLASSIFY
  error = refusal(an_entry, new, api=requests.resolve_api(an_entry, [SIGNATURES, new]))
  assert error.message == 'No signature was found with the name: classify'
  with pytest.raises(requests.UnknownApiError):
    requests.resolve_api(an_entry, [new])


@pytest.mark.parametrize('value', ['multi_inference', 'Predict', 'grpc'])
def test_traffic_api_must_be_a_rest_verb(value):
  with pytest.raises(ConfigurationError, match='traffic_api'):
    requests.check_traffic_api(value)


# -- the request and its key ----------------------------------------------------------------


def test_a_rest_body_becomes_tf_servings_request_in_a_predictionlog_with_its_key():
  body = rows(3)
  logged = requests.logged_request(
      entry(body, api='predict', model_name='ctr', answered=True, source='x.jsonl:4'),
      SIGNATURES)
  expected = serving.request_from_json('predict', body, SIGNATURES)
  expected.model_spec.name = 'ctr'  # The URL's model name.
  assert logged.log == predict_log(expected)
  assert logged.key == TrafficKey('predict', 'serving_default', 3, '',
                                  'age:[1];embedding:[3];hours:[1]')
  assert (logged.source, logged.answered) == ('x.jsonl:4', True)


def test_serialized_examples_have_no_shapes_in_the_key():
  body = json.dumps({'signature_name': 'predict_examples',
                     'instances': [{'b64': 'AAAA'}] * 4}).encode()
  assert requests.logged_request(entry(body), SIGNATURES).key == TrafficKey(
      'predict', 'predict_examples', 4, '', '')


def test_a_raw_tensor_shape_is_part_of_the_key():
  """Another non-batch shape is another key (TF Serving would accept either here)."""
  wide = json.dumps({'instances': [{'age': [1.0, 2.0], 'hours': [1], 'embedding': [1, 2, 3]}]})
  assert requests.logged_request(entry(wide.encode()), SIGNATURES).key.shapes == (
      'age:[2];embedding:[3];hours:[1]')


def test_a_classify_body_becomes_a_classify_log():
  logged = requests.logged_request(entry(examples_body(2), api='classify'),
                                   {'serving_default': SIGNATURES['classify']})
  assert logged.key == TrafficKey('classify', 'serving_default', 2)
  expected = serving.request_from_json('classify', examples_body(2))
  assert logged.log.classify_log.request == expected
  assert not logged.log.classify_log.HasField('response')


def test_a_predictionlog_is_used_as_is_and_keyed_with_its_output_filter():
  log = predict_log(raw_predict_request(output_filter=['probabilities'], batch=5))
  log.predict_log.response.outputs['probabilities'].dtype = types_pb2.DT_FLOAT
  logged = requests.logged_request(entry(log=log, api='predict'), SIGNATURES)
  assert logged.log is log
  assert logged.key == TrafficKey('predict', 'serving_default', 5, 'probabilities',
                                  'age:[1];embedding:[3];hours:[1]')


def test_a_predictionlog_without_a_request_is_not_a_request():
  log = prediction_log_pb2.PredictionLog()
  log.session_run_log.SetInParent()
  with pytest.raises(requests.NotARequestError) as raised:
    requests.logged_request(entry(log=log, source='bulk.gz:record 3'), SIGNATURES)
  assert raised.value.source == 'bulk.gz:record 3'
  assert 'session_run_log' in raised.value.reason
  with pytest.raises(requests.NotARequestError, match='no log type'):
    requests.logged_request(entry(log=prediction_log_pb2.PredictionLog()), SIGNATURES)


# -- what the model refuses ------------------------------------------------------------------


def test_a_signature_the_model_lacks_is_refused_in_tf_servings_words_per_api():
  body = json.dumps({'signature_name': 'predict_v1', 'instances': [1.0]}).encode()
  error = refusal(entry(body, api='predict'))
  assert (error.code, error.message) == (
      'INVALID_ARGUMENT', 'Serving signature name: "predict_v1" not found in signature def')
  error = refusal(entry(examples_body(1, 'predict_v1'), api='classify'))
  assert error.message == 'No signature was found with the name: predict_v1'
  log = predict_log(raw_predict_request(signature_name='predict_v1'))
  error = refusal(entry(log=log))
  assert (error.code, error.message) == ('FAILED_PRECONDITION',
                                         'Serving signature key "predict_v1" not found.')


def test_input_names_and_dtypes_the_signature_does_not_take_are_refused():
  renamed = json.dumps({'instances': [{'age_years': [1.0], 'hours': [1],
                                       'embedding': [1, 2, 3]}]}).encode()
  error = refusal(entry(renamed))
  assert 'does not have named input: age_years' in error.message
  wrong_type = json.dumps({'instances': [{'age': ['old'], 'hours': [1],
                                          'embedding': [1, 2, 3]}]}).encode()
  error = refusal(entry(wrong_type))
  assert error.message.endswith('Type: String is not of expected type: float')


def test_a_predictionlog_missing_an_input_or_fetching_an_alias_the_signature_lacks():
  missing = predict_log(raw_predict_request(inputs=('age', 'hours')))
  error = refusal(entry(log=missing))
  assert error.code == 'INVALID_ARGUMENT'
  assert error.message.startswith('input size does not match signature: 2!=3')
  assert 'Missing but required: {embedding}' in error.message
  fetch = predict_log(raw_predict_request(output_filter=['probabilities', 'logit']))
  error = refusal(entry(log=fetch))
  assert error.message.startswith('output tensor alias not found in signature: logit')


def test_classify_and_regress_refuse_a_signature_of_the_other_shape():
  error = refusal(entry(examples_body(1, 'regress'), api='classify'))
  assert error.message.startswith('Expected classification signature outputs to contain at '
                                  'least one of "classes" or "scores"')
  error = refusal(entry(examples_body(1, 'classify'), api='regress'))
  assert error.message == 'Expected one output Tensor.'
