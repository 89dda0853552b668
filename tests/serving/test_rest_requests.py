"""TF Serving's REST handler, its request-parsing cases, and the replica's exact texts.

Source: tensorflow_serving/model_servers/http_rest_api_handler_test.cc (TF Serving
9d981c5). Naming rule as in test_json_tensor.py: `TEST_F(HttpRestApiHandlerTest,
PredictRequestErrors)` is `test_predict_request_errors`. The C++ test serves TensorFlow's
half_plus_two; its SignatureDefs are written here in Python (`_HALF_PLUS_TWO`) and passed
as the signature map, so the handler's GetInfoMap lookup runs. Each ported test checks the
request each body becomes, or the error; running the request is the Predict, Regress and
Classify replicas' concern (test_predict.py, test_regressor.py, test_classifier.py).

Not ported, because they concern the URL, not the body: kPathRegex, UnsupportedApiCalls,
PredictModelNameVersionErrors and PredictRequestErrors' "Nonexistent version label" case
(routing and model lookup); GetStatus and GetModelMetadata (GET, no body).

The tests after the ported ones pin whole messages (the C++ tests check fragments), and
each case where Python's `json` module reads a body otherwise than TF Serving.
"""

import json

import pytest
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from tests.serving.test_json_tensor import assert_proto
from tests.serving.test_json_tensor import signature
from tfx_warmup import serving


def _half_plus_two():
  signatures = {}
  for name, method, inputs in (
      ('serving_default', 'predict', {'x': types_pb2.DT_FLOAT}),
      ('regress_x_to_y', 'regress', {'inputs': types_pb2.DT_STRING}),
      ('regress_x2_to_y3', 'regress', {'inputs': types_pb2.DT_FLOAT}),
      ('classify_x_to_y', 'classify', {'inputs': types_pb2.DT_STRING})):
    signatures[name] = signature(**inputs)
    signatures[name].method_name = f'tensorflow/serving/{method}'
  return signatures


_HALF_PLUS_TWO = _half_plus_two()


def _refused(api, body, sig=_HALF_PLUS_TWO) -> serving.RequestError:
  with pytest.raises(serving.RequestError) as raised:
    serving.request_from_json(api, body, sig)
  return raised.value


def test_predict_request_errors():
  error = _refused('predict', '')
  assert error.code == 'INVALID_ARGUMENT'
  assert 'JSON Parse error: The document is empty' in error.message
  error = _refused('predict', 'instances = [1, 2]')
  assert error.code == 'INVALID_ARGUMENT'
  assert 'JSON Parse error: Invalid value' in error.message
  error = _refused('predict', '{ "instances": ["x", "y"] }')
  assert error.code == 'INVALID_ARGUMENT'
  assert 'not of expected type: float' in error.message
  error = _refused('predict', '{ "signature_name": 100 }')
  assert error.code == 'INVALID_ARGUMENT'
  assert "'signature_name' key must be a string value." in error.message


def _predict(body):
  return serving.request_from_json('predict', body, _HALF_PLUS_TWO)


def test_predict():
  assert_proto(_predict('{"instances": [[1.0, 2.0], [3.0, 4.0]]}'), """
      inputs { key: "x" value { dtype: DT_FLOAT
        tensor_shape { dim { size: 2 } dim { size: 2 } }
        float_val: 1 float_val: 2 float_val: 3 float_val: 4 } }
  """)
  for body in ('{"instances": [1.0, 2.0]}',) * 2:  # Specific version; version label.
    assert_proto(_predict(body), """
        inputs { key: "x" value { dtype: DT_FLOAT tensor_shape { dim { size: 2 } }
          float_val: 1 float_val: 2 } }
    """)
  assert_proto(_predict('{"signature_name": "serving_default", "instances": [3.0, 4.0]}'), """
      model_spec { signature_name: "serving_default" }
      inputs { key: "x" value { dtype: DT_FLOAT tensor_shape { dim { size: 2 } }
        float_val: 3 float_val: 4 } }
  """)
  assert_proto(_predict('{"signature_name": "serving_default", "inputs": [3.0, 4.0]}'), """
      model_spec { signature_name: "serving_default" }
      inputs { key: "x" value { dtype: DT_FLOAT tensor_shape { dim { size: 2 } }
        float_val: 3 float_val: 4 } }
  """)


def test_regress():
  body = '{"signature_name": "regress_x_to_y", "examples": [ { "x": 80.0 } ] }'
  for _ in range(3):  # Latest version; specific version; version label.
    assert_proto(serving.request_from_json('regress', body, _HALF_PLUS_TWO), """
        model_spec { signature_name: "regress_x_to_y" }
        input { example_list { examples { features {
          feature { key: "x" value { float_list { value: 80 } } } } } } }
    """)


def test_classify():
  for x in (20.0, 10.0):  # Latest version; version label.
    body = f'{{"signature_name": "classify_x_to_y", "examples": [ {{ "x": {x} }} ] }}'
    assert_proto(serving.request_from_json('classify', body), f"""
        model_spec {{ signature_name: "classify_x_to_y" }}
        input {{ example_list {{ examples {{ features {{
          feature {{ key: "x" value {{ float_list {{ value: {x} }} }} }} }} }} }} }}
    """)


# Beyond TF Serving's tests: whole messages, as the C++ composes them.
_INT32 = signature(default=types_pb2.DT_INT32)
_TWO = signature(a=types_pb2.DT_INT32, b=types_pb2.DT_INT32)
_ELEMENT_2 = "Failed to process element: 2 of 'instances' list. Error: INVALID_ARGUMENT: "
_ELEMENT_0 = "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "

_PREDICT_MESSAGES = [
    (b'   ', _INT32, 'JSON Parse error: The document is empty. at offset: 3'),
    ('instances = [1, 2]', _INT32, 'JSON Parse error: Invalid value. at offset: 0'),
    ('[1, 2]', _INT32, 'JSON Value: [1, 2] Is not object'),
    ('{ "signature_name": 100 }', _INT32, 'JSON Value: {\n    "signature_name": 100\n} not '
     "formatted correctly. 'signature_name' key must be a string value."),
    ('{"instances": 5}', _INT32,
     'JSON Value: {\n    "instances": 5\n} Expecting \'instances\' to be an list/array'),
    ('{"instances": []}', _INT32,
     'JSON Value: {\n    "instances": []\n} No values in \'instances\' array'),
    ('{"instances": [1], "inputs": [1]}', _INT32,
     'JSON Value: {\n    "instances": [1],\n    "inputs": [1]\n} Not formatted correctly '
     "expecting only one of 'inputs' or 'instances' keys to exist "),
    ('{}', _INT32, "Missing 'inputs' or 'instances' key"),
    ('{"instances": [[1,2],[3,4],[5,6,7]]}', _INT32,
     _ELEMENT_2 + 'Expecting tensor size: 2 but got: 3'),
    ('{"instances": [[1,2],[3,4],[[5,6]]]}', _INT32,
     _ELEMENT_2 + 'Expecting shape [2] but got: [1,2]'),
    ('{"instances": [[1, [2]]]}', _INT32,
     _ELEMENT_0 + 'Encountered list at unexpected level: 1 expected < 1'),
    ('{"instances": [[[1], 2]]}', _INT32,
     _ELEMENT_0 + 'JSON Value: 2 found at incorrect level: 2 in the JSON DOM. '
     'Expected at level: 2'),
    ('{"instances": [[[1], [2, 3]]]}', _INT32,
     _ELEMENT_0 + 'Encountered list at unexpected size: 2 at level: 1 expected size: 1'),
    ('{"instances": [2147483648]}', _INT32,
     _ELEMENT_0 + 'JSON Value: 2147483648 Type: Number is not of expected type: int32'),
    ('{"instances": [NaN]}', _INT32,  # rapidjson's writer refuses NaN: an empty quote.
     _ELEMENT_0 + 'JSON Value:  Type: Number is not of expected type: int32'),
    ('{"instances": [1]}', _TWO, 'instances is a plain list, but expecting list of objects as '
     'multiple input tensors required as per tensorinfo_map'),
    ('{"inputs": [1]}', _TWO, 'inputs is a plain value/list, but expecting an object as '
     'multiple input tensors required as per tensorinfo_map'),
    ('{"inputs": {"a": [1], "c": 2}}', _TWO, "Missing named input: b in 'inputs' object."),
    ('{"instances": [{"a": 1, "c": 2}]}', _TWO,
     "Failed to process element: 0 key: c of 'instances' list. Error: INVALID_ARGUMENT: "
     'JSON object: does not have named input: c'),
    ('{"instances": [{"a": 1}]}', _TWO, "Failed to process element: 0 of 'instances' list. "
     'JSON object: {\n    "a": 1\n} keys must be equal to: a,b'),
    ('{"instances": [{"b64": "a"}]}', signature(s=types_pb2.DT_STRING),
     _ELEMENT_0 + 'Unable to base64 decode'),
    ('{"instances": [{"b64": "aGk="}]}', signature(f=types_pb2.DT_FLOAT),
     _ELEMENT_0 + 'JSON Value: {\n    "b64": "aGk="\n} Type: Object is not of expected type: '
     'float'),
    ('{"inputs": [{"x": 1}]}', signature(s=types_pb2.DT_STRING),
     'JSON Value: {\n    "x": 1\n} not formatted correctly for base64 data'),
    ('{"instances": [1.5]}', signature(h=types_pb2.DT_HALF),
     "Failed to process element: 0 of 'instances' list. Error: UNIMPLEMENTED: Conversion of "
     'JSON Value: 1.5 to type: half'),
    ('{"signature_name": "foo", "instances": [1]}', _HALF_PLUS_TWO,
     'Serving signature name: "foo" not found in signature def'),
    ('{"instances": [1]}', meta_graph_pb2.SignatureDef(),
     'Failed to get input map for signature: DEFAULT'),
    ('{"instances": [1e309]}', _INT32,
     'JSON Parse error: Number too big to be stored in double. at offset: 15'),
]


@pytest.mark.parametrize('body, sig, message', _PREDICT_MESSAGES)
def test_predict_refusals_carry_tf_servings_whole_message(body, sig, message):
  error = _refused('predict', body, sig)
  assert (error.code, error.message) == ('INVALID_ARGUMENT', message)


def test_an_unimplemented_dtype_in_columnar_inputs_is_unimplemented():
  error = _refused('predict', '{"inputs": [1.5]}', signature(h=types_pb2.DT_HALF))
  assert (error.code, error.message) == ('UNIMPLEMENTED',
                                         'Conversion of JSON Value: 1.5 to type: half')


@pytest.mark.parametrize('api', ['classify', 'regress'])
@pytest.mark.parametrize('body, message', [
    ('{"context": {}}', 'JSON Value: {\n    "context": {}\n} When method is classify, key '
     "'examples' is expected and was not found"),
    ('{"examples": []}', 'JSON Value: {\n    "examples": []\n} \'examples\' value is an empty '
     'array'),
    ('{"examples": [{"a": [1, "x"]}]}', 'Unexpected element type in feature: a expecting '
     'type: int64'),
    ('{"examples": [{"a": {"b64": "!"}}]}', 'Unable to base64 decode'),
    ('{"examples": [5]}', 'Example must be JSON object but got JSON Number'),
])
def test_classify_regress_refusals_carry_tf_servings_whole_message(api, body, message):
  error = _refused(api, body, None)
  assert (error.code, error.message) == ('INVALID_ARGUMENT', message)


def test_int64_beyond_2_to_53_stays_exact():
  request = _predict_with('{"instances": [9007199254740993, -9223372036854775808]}',
                          types_pb2.DT_INT64)
  assert list(request.inputs['v'].int64_val) == [9007199254740993, -9223372036854775808]
  request = _predict_with('{"instances": [18446744073709551615]}', types_pb2.DT_UINT64)
  assert list(request.inputs['v'].uint64_val) == [18446744073709551615]
  # 2^63 is a uint64, not an int64; 2^64 is a double, not a uint64.
  error = _refused('predict', '{"instances": [9223372036854775808]}',
                   signature(v=types_pb2.DT_INT64))
  assert error.message == (_ELEMENT_0 + 'JSON Value: 9223372036854775808 Type: Number is not '
                           'of expected type: int64')
  error = _refused('predict', '{"instances": [18446744073709551616]}',
                   signature(v=types_pb2.DT_UINT64))
  assert error.message == (_ELEMENT_0 + 'JSON Value: 18446744073709553000.0 Type: Number is '
                           'not of expected type: uint64')


def _predict_with(body, dtype):
  return serving.request_from_json('predict', body, signature(v=dtype))


def test_float_overflow_is_inf_and_double_overflow_is_refused():
  request = _predict_with('{"instances": [1e39, -1e39, 3.5e38]}', types_pb2.DT_FLOAT)
  assert list(request.inputs['v'].float_val) == [float('inf'), float('-inf'), float('inf')]
  request = _predict_with('{"instances": [1.8e308]}', types_pb2.DT_DOUBLE)
  assert list(request.inputs['v'].double_val) == [float('inf')]
  assert json.loads('[0e400]') == [0.0]  # Python reads it; rapidjson refuses the exponent.
  error = _refused('predict', '{"instances": [0e400]}', signature(v=types_pb2.DT_DOUBLE))
  assert error.message == 'JSON Parse error: Number too big to be stored in double. at offset: 15'


def test_inf_spellings_python_refuses_reach_the_tensor():
  body = '{"instances": [Inf, -Inf, -NaN]}'
  with pytest.raises(ValueError):
    json.loads(body)
  values = list(_predict_with(body, types_pb2.DT_FLOAT).inputs['v'].float_val)
  assert values[:2] == [float('inf'), float('-inf')] and values[2] != values[2]


def test_duplicate_keys_as_tf_serving_reads_them():
  # FindMember: the first "instances" and "signature_name".
  request = _predict_with('{"signature_name": "a", "signature_name": "b", '
                          '"instances": [1], "instances": [2, 3]}', types_pb2.DT_INT32)
  assert request.model_spec.signature_name == 'a'
  assert list(request.inputs['v'].int_val) == [1]
  # An Example's feature map: the last one.
  request = serving.request_from_json('classify', '{"examples": [{"a": 1, "a": "x"}]}')
  assert list(request.input.example_list.examples[0].features.feature['a'].bytes_list.value) \
      == [b'x']
  # Within one instance, each member is added: the tensor gets both (and its shape one).
  request = _predict_with('{"instances": [{"v": [1, 2], "v": [3, 4]}]}', types_pb2.DT_INT32)
  assert_proto(request.inputs['v'], """
      dtype: DT_INT32 tensor_shape { dim { size: 1 } dim { size: 2 } }
      int_val: 1 int_val: 2 int_val: 3 int_val: 4
  """)


def test_bytes_around_the_document_as_tf_serving_reads_them():
  for body in (b'{"instances": [1]} trailing', b'{"instances": [1]}\x00[',
               b'\xef\xbb\xbf{"instances": [1]}'):
    assert list(_predict_with(body, types_pb2.DT_INT32).inputs['v'].int_val) == [1]
  error = _refused('predict', b'\xef\xbb\xbf{"instances": [1,]}', signature(v=types_pb2.DT_INT32))
  assert error.message == 'JSON Parse error: Invalid value. at offset: 20'


def test_string_bytes_reach_the_tensor_unvalidated():
  request = _predict_with(b'{"instances": ["\xff\xfe", "\\udc00", "\\u00e9"]}',
                          types_pb2.DT_STRING)
  assert list(request.inputs['v'].string_val) == [b'\xff\xfe', b'\xed\xb0\x80', b'\xc3\xa9']
  error = _refused('predict', '{"instances": ["\\ud800"]}', signature(v=types_pb2.DT_STRING))
  assert error.message == ('JSON Parse error: The surrogate pair in string is invalid. '
                           'at offset: 16')


def test_a_str_body_is_the_same_as_its_utf8_bytes():
  body = '{"instances": ["é", 1]}'
  sig = signature(v=types_pb2.DT_STRING)
  assert _refused('predict', body, sig).message == _refused('predict', body.encode(), sig).message


def test_names_that_are_not_utf8_are_refused_by_the_replica_with_the_reason():
  error = _refused('predict', b'{"signature_name": "\xff", "instances": [1]}', _INT32)
  assert error.code == 'INVALID_ARGUMENT' and 'not valid UTF-8' in error.message


def test_an_api_without_a_rest_verb_is_a_caller_error():
  with pytest.raises(ValueError, match='multi_inference'):
    serving.request_from_json('multi_inference', '{}', _INT32)
  with pytest.raises(ValueError, match='needs the SignatureDef'):
    serving.request_from_json('predict', '{"instances": [1]}')
