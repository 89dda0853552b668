"""TF Serving's util/json_tensor_test.cc, its JSON-to-request cases ported to the replica.

Source: tensorflow_serving/util/json_tensor_test.cc (TF Serving 9d981c5). Naming rule: a
C++ `TEST(JsontensorTest, SingleUnnamedTensor)` is `test_single_unnamed_tensor` here (the
test name from CamelCase to snake_case, the suite name dropped); a
`TYPED_TEST(ClassifyRegressRequestTest, JsonErrors)` is `test_json_errors`, run once per
API (`api` is 'classify' or 'regress', as the C++ types are ClassificationRequest and
RegressionRequest).

Each test builds the SignatureDef whose inputs the C++ TensorInfoMap lists and calls
`serving.request_from_json`. The C++ `format` out-parameter (kRow / kColumnar) only
decides the shape of the JSON response, so it is not returned and not checked; requests
are compared as EqualsProto compares them (every field, an empty `tensor_shape {}`
included, NaN equal to NaN), and errors by their status and the message fragment the C++
test looks for.

Out of scope, not ported: the response direction (request protos to JSON):
FromJsonSingleTensor, FromJsonSingleScalarTensor, FromJsonSingleBytesTensor,
FromJsonSingleFloatTensorSixDigitPrecision, FromJsonSingleFloatTensorNonFinite,
FromJsonSingleTensorErrors, FromJsonMultipleNamedTensors,
FromJsonMultipleNamedTensorsErrors, FromJsonSingleZeroBatchTensor,
FromJsonMultipleZeroBatchTensors, FromJsonMultipleZeroBatchTensorsErrors, the four
ClassifyRegressnResultTest cases and MakeJsonFromTensors.StatusOK/StatusError.
"""

import pytest
from google.protobuf import text_format
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import regression_pb2

from tfx_warmup import serving


def signature(**dtypes: int) -> meta_graph_pb2.SignatureDef:
  """A SignatureDef whose inputs are the C++ test's TensorInfoMap: name -> dtype."""
  result = meta_graph_pb2.SignatureDef(method_name='tensorflow/serving/predict')
  for name, dtype in dtypes.items():
    result.inputs[name].dtype = dtype
  return result


def assert_proto(actual, expected_text: str) -> None:
  """EqualsProto: the same fields (empty messages included), NaN equal to NaN."""
  expected = text_format.Parse(expected_text, type(actual)())
  assert text_format.MessageToString(actual) == text_format.MessageToString(expected)


def predict(body, sig):
  return serving.request_from_json('predict', body, sig)


def refused(api: str, body, sig=None) -> serving.RequestError:
  with pytest.raises(serving.RequestError) as raised:
    serving.request_from_json(api, body, sig)
  return raised.value


def assert_invalid(error: serving.RequestError, fragment: str) -> None:
  assert error.code == 'INVALID_ARGUMENT'
  assert fragment in error.message


_INT32 = signature(default=types_pb2.DT_INT32)
_FLOAT = signature(default=types_pb2.DT_FLOAT)
_STRING = signature(default=types_pb2.DT_STRING)

_ONE_TO_SIX_3X2 = """
    dtype: DT_INT32
    tensor_shape { dim { size: 3 } dim { size: 2 } }
    int_val: 1 int_val: 2 int_val: 3 int_val: 4 int_val: 5 int_val: 6
"""


def test_single_unnamed_tensor():
  request = predict('{"instances": [[1,2],[3,4],[5,6]]}', _INT32)
  assert len(request.inputs) == 1
  assert_proto(request.inputs['default'], _ONE_TO_SIX_3X2)


def test_deeply_nested_well_formed():
  body = '{"instances":[1], "nested":' + '[' * 500000 + ']' * 500000 + '}'
  request = predict(body, _INT32)
  assert len(request.inputs) == 1


def test_deeply_nested_malformed():
  body = '{"signature_name":' + '[' * 500000 + ']' * 500000 + '}'
  assert_invalid(refused('predict', body, _INT32), 'key must be a string value')


def test_mixed_input_for_float_tensor():
  request = predict('{"instances": [1, 2.0, 3, 4, 5.003, 0.007, 0.0]}', _FLOAT)
  assert len(request.inputs) == 1
  assert_proto(request.inputs['default'], """
      dtype: DT_FLOAT
      tensor_shape { dim { size: 7 } }
      float_val: 1 float_val: 2.0 float_val: 3 float_val: 4 float_val: 5.003
      float_val: 0.007 float_val: 0.0
  """)


def test_mixed_input_for_double_tensor():
  request = predict('{"instances": [1.0, 2, 3, 4, 0.662, 0, 0.0]}',
                    signature(default=types_pb2.DT_DOUBLE))
  assert len(request.inputs) == 1
  assert_proto(request.inputs['default'], """
      dtype: DT_DOUBLE
      tensor_shape { dim { size: 7 } }
      double_val: 1.0 double_val: 2 double_val: 3 double_val: 4 double_val: 0.662
      double_val: 0 double_val: 0.0
  """)


def test_float_tensor_with_precision_loss():
  """b/181409782: 1435774380 and 1435774380.0 both lose precision in a float, alike."""
  for body in ('{"instances": [1435774380]}', '{"instances": [1435774380.0]}'):
    request = predict(body, _FLOAT)
    assert len(request.inputs) == 1
    assert_proto(request.inputs['default'], """
        dtype: DT_FLOAT
        tensor_shape { dim { size: 1 } }
        float_val: 1435774380
    """)


# absl::Substitute("$0", double) writes six significant digits: these are the bodies the
# C++ test sends for std::numeric_limits<double>::max() and ::min().
_DOUBLE_MAX_SIX_DIGITS = '1.79769e+308'
_DOUBLE_MIN_SIX_DIGITS = '2.22507e-308'


def test_float_tensor_that_exceeds_max_returns_inf():
  for text, value in ((_DOUBLE_MAX_SIX_DIGITS, 'inf'), ('-' + _DOUBLE_MAX_SIX_DIGITS, '-inf')):
    request = predict(f'{{ "instances": [{text}] }}', _FLOAT)
    assert len(request.inputs) == 1
    assert_proto(request.inputs['default'], f"""
        dtype: DT_FLOAT
        tensor_shape {{ dim {{ size: 1 }} }}
        float_val: {value}
    """)


def test_float_tensor_that_exceeds_min_returns_zero():
  for text, value in ((_DOUBLE_MIN_SIX_DIGITS, '0'), ('-' + _DOUBLE_MIN_SIX_DIGITS, '-0')):
    request = predict(f'{{ "instances": [{text}] }}', _FLOAT)
    assert len(request.inputs) == 1
    assert_proto(request.inputs['default'], f"""
        dtype: DT_FLOAT
        tensor_shape {{ dim {{ size: 1 }} }}
        float_val: {value}
    """)
  # EqualsProto tells -0 from 0 by its bytes; so does this.
  assert str(request.inputs['default'].float_val[0]) == '-0.0'


def test_single_unnamed_tensor_with_signature():
  request = predict('{"signature_name": "predict_images", "instances": [[1,2]]}', _INT32)
  assert request.model_spec.signature_name == 'predict_images'
  assert len(request.inputs) == 1
  assert_proto(request.inputs['default'], """
      dtype: DT_INT32
      tensor_shape { dim { size: 1 } dim { size: 2 } }
      int_val: 1 int_val: 2
  """)


def test_tensor_from_non_null_terminated_buffer():
  body = b'{"instances": [[1,2],[3,4],[5,6]]}X'
  request = predict(body[:-1], _INT32)  # The C++ passes a string_view without the 'X'.
  assert len(request.inputs) == 1
  assert_proto(request.inputs['default'], _ONE_TO_SIX_3X2)


def test_single_unnamed_tensor_base64_scalars():
  request = predict('{"instances": [ { "b64" : "aGVsbG8=" }, { "b64": "d29ybGQ=" } ]}', _STRING)
  assert len(request.inputs) == 1
  assert_proto(request.inputs['default'], """
      dtype: DT_STRING
      tensor_shape { dim { size: 2 } }
      string_val: "hello" string_val: "world"
  """)


def test_single_unnamed_tensor_base64_lists():
  request = predict('{"instances": [ [{ "b64" : "aGVsbG8=" }], [{ "b64": "d29ybGQ=" }] ]}',
                    _STRING)
  assert len(request.inputs) == 1
  assert_proto(request.inputs['default'], """
      dtype: DT_STRING
      tensor_shape { dim { size: 2 } dim { size: 1 } }
      string_val: "hello" string_val: "world"
  """)


def test_single_named_tensor_base64():
  request = predict("""{"instances": [
      {"default": [ [{ "b64" : "aGVsbG8=" }], [{ "b64": "d29ybGQ=" }] ]}
  ]}""", _STRING)
  assert len(request.inputs) == 1
  assert_proto(request.inputs['default'], """
      dtype: DT_STRING
      tensor_shape { dim { size: 1 } dim { size: 2 } dim { size: 1 } }
      string_val: "hello" string_val: "world"
  """)


def test_multiple_named_tensor():
  sig = signature(int_tensor=types_pb2.DT_INT32, str_tensor=types_pb2.DT_STRING,
                  float_tensor=types_pb2.DT_FLOAT, dbl_tensor=types_pb2.DT_DOUBLE)
  request = predict("""{"instances": [
      {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"],
       "float_tensor": [1.0, NaN], "dbl_tensor": [NaN]},
      {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"],
       "float_tensor": [2.0, Infinity], "dbl_tensor": [2.0]}
  ]}""", sig)
  assert len(request.inputs) == 4
  assert_proto(request.inputs['int_tensor'], """
      dtype: DT_INT32
      tensor_shape { dim { size: 2 } dim { size: 3 } dim { size: 2 } }
      int_val: 1 int_val: 2 int_val: 3 int_val: 4 int_val: 5 int_val: 6
      int_val: 7 int_val: 8 int_val: 9 int_val: 0 int_val: 1 int_val: 2
  """)
  assert_proto(request.inputs['str_tensor'], """
      dtype: DT_STRING
      tensor_shape { dim { size: 2 } dim { size: 2 } }
      string_val: "foo" string_val: "bar" string_val: "baz" string_val: "bat"
  """)
  assert_proto(request.inputs['float_tensor'], """
      dtype: DT_FLOAT
      tensor_shape { dim { size: 2 } dim { size: 2 } }
      float_val: 1.0 float_val: NaN float_val: 2.0 float_val: Infinity
  """)
  assert_proto(request.inputs['dbl_tensor'], """
      dtype: DT_DOUBLE
      tensor_shape { dim { size: 2 } dim { size: 1 } }
      double_val: NaN double_val: 2.0
  """)


_INT_TENSOR_1X3X2 = """
    dtype: DT_INT32
    tensor_shape { dim { size: 1 } dim { size: 3 } dim { size: 2 } }
    int_val: 1 int_val: 2 int_val: 3 int_val: 4 int_val: 5 int_val: 6
"""


def test_single_unnamed_tensor_columnar_format():
  sig = signature(int_tensor=types_pb2.DT_INT32)
  request = predict('{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]]}}', sig)
  assert len(request.inputs) == 1
  assert_proto(request.inputs['int_tensor'], _INT_TENSOR_1X3X2)
  # Skip explicitly specifying named input.
  request = predict('{"inputs": [[[1,2],[3,4],[5,6]]]}', sig)
  assert len(request.inputs) == 1
  assert_proto(request.inputs['int_tensor'], _INT_TENSOR_1X3X2)


def test_multiple_named_tensor_columnar_format():
  sig = signature(int_tensor=types_pb2.DT_INT32, str_tensor=types_pb2.DT_STRING,
                  bin_tensor=types_pb2.DT_STRING)
  request = predict("""{"inputs": {
      "int_tensor": [[[1,2],[3,4],[5,6]]],
      "str_tensor": ["foo", "bar"],
      "bin_tensor": { "b64" : "aGVsbG8=" }
  }}""", sig)
  assert len(request.inputs) == 3
  assert_proto(request.inputs['int_tensor'], _INT_TENSOR_1X3X2)
  assert_proto(request.inputs['str_tensor'], """
      dtype: DT_STRING
      tensor_shape { dim { size: 2 } }
      string_val: "foo" string_val: "bar"
  """)
  assert_proto(request.inputs['bin_tensor'], """
      dtype: DT_STRING
      tensor_shape {}
      string_val: "hello"
  """)


def test_single_unnamed_tensor_errors():
  assert_invalid(refused('predict', '', _INT32), 'document is empty')
  assert_invalid(refused('predict', '{"signature_name": 5, "instances": [[1,2],[3,4],[5,6,7]]}',
                         _INT32), 'must be a string value')
  assert_invalid(refused('predict', '{"instances": [[1,2],[3,4],[5,6,7]], '
                                    '"inputs": [[1,2],[3,4],[5,6,7]]}', _INT32),
                 'Not formatted correctly')
  assert_invalid(refused('predict', '{"instances": [[1,2],[3,4],[5,6,7]]}', _INT32),
                 'Expecting tensor size')
  assert_invalid(refused('predict', '{"instances": [[1,2],[3,4],[[5,6]]]}', _INT32),
                 'Expecting shape')
  assert_invalid(refused('predict', '{"instances": [1, [1]]}', _INT32), 'Expecting shape')
  assert_invalid(refused('predict', '{"instances": [[1,2],["a", "b"]]}', _INT32),
                 'not of expected type')


def test_multiple_named_tensor_errors():
  sig = signature(int_tensor=types_pb2.DT_INT32, str_tensor=types_pb2.DT_STRING)
  # Different shapes across int_tensor instances.
  assert_invalid(refused('predict', """{"instances": [
      {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]},
      {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}
  ]}""", sig), 'Expecting shape')
  # Different size/length across int_tensor instances.
  assert_invalid(refused('predict', """{"instances": [
      {"int_tensor": [[1,2],[3,4],[5,6],[7,8]], "str_tensor": ["foo", "bar"]},
      {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"]}
  ]}""", sig), 'Expecting tensor size')
  # First element is an object: the rest must be objects too.
  assert_invalid(refused('predict', """{"instances": [
      {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]},
      [1, 20, 30],
      {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}
  ]}""", sig), 'Expecting object but got list')
  # First element is a list: the rest must be lists too.
  assert_invalid(refused('predict', """{"instances": [
      ["baz", "bar"],
      {"str_tensor": ["baz", "bat"]}
  ]}""", signature(str_tensor=types_pb2.DT_STRING)), 'Expecting value/list but got object')


_REQUESTS = {'classify': classification_pb2.ClassificationRequest,
             'regress': regression_pb2.RegressionRequest}


@pytest.fixture(params=sorted(_REQUESTS))
def api(request) -> str:
  """The TYPED_TEST's two request types, by the REST API that builds each."""
  return request.param


def test_request_no_context(api):
  request = serving.request_from_json(api, """{"examples": [
      {"names": [ "foo", "bar" ], "ratings": [ 8.0, 9.0 ], "age": 20},
      {"names": [ "baz" ], "ratings": 6.0}
  ]}""")
  assert isinstance(request, _REQUESTS[api])
  assert_proto(request, """
    input { example_list {
      examples { features {
        feature { key: "names" value { bytes_list { value: "foo" value: "bar" } } }
        feature { key: "ratings" value { float_list { value: 8.0 value: 9.0 } } }
        feature { key: "age" value { int64_list { value: 20 } } }
      } }
      examples { features {
        feature { key: "names" value { bytes_list { value: "baz" } } }
        feature { key: "ratings" value { float_list { value: 6.0 } } }
      } }
    } }
  """)


def test_request_with_context_and_signature(api):
  request = serving.request_from_json(api, """{
      "signature_name": "custom_signture",
      "context": {"query": "pizza", "location": [ "sfo" ]},
      "examples": [
        {"names": [ "foo", "bar" ], "ratings": [ 8.0, 9.0, NaN, Infinity ], "age": 20},
        {"names": [ "baz", { "b64": "aGVsbG8=" } ], "ratings": 6.0,
         "intboolmix": [ 1, true, false ]},
        {"names": "bar", "ratings": -Infinity}
      ]
  }""")
  assert_proto(request, """
    model_spec { signature_name: "custom_signture" }
    input { example_list_with_context {
      context { features {
        feature { key: "query" value { bytes_list { value: "pizza" } } }
        feature { key: "location" value { bytes_list { value: "sfo" } } }
      } }
      examples { features {
        feature { key: "names" value { bytes_list { value: "foo" value: "bar" } } }
        feature { key: "ratings"
                  value { float_list { value: 8.0 value: 9.0 value: NaN value: Infinity } } }
        feature { key: "age" value { int64_list { value: 20 } } }
      } }
      examples { features {
        feature { key: "names" value { bytes_list { value: "baz" value: "hello" } } }
        feature { key: "ratings" value { float_list { value: 6.0 } } }
        feature { key: "intboolmix" value { int64_list { value: 1 value: 1 value: 0 } } }
      } }
      examples { features {
        feature { key: "names" value { bytes_list { value: "bar" } } }
        feature { key: "ratings" value { float_list { value: -Infinity } } }
      } }
    } }
  """)


def test_json_errors(api):
  cases = [
      ('{"signature_name": [ "hello" ], "examples": [ { "names": [ "foo", "bar" ] } ]}',
       "'signature_name' key must be a string"),
      ('{"context": [ { "names": [ "foo", "bar" ] } ]}', 'Example must be JSON object'),
      ('{"examples": { "names": [ "foo", "bar" ] }}', 'list/array'),
      ('{"examples": [ [ { "names": [ "foo", "bar" ] } ] ]}', 'Example must be JSON object'),
      ('{"examples": [ { "names": [ 10, null ] } ]}',
       'names has element with unexpected JSON type: Null'),
      ('{"examples": [ { "names": [ 10, 10.0 ] } ]}', 'feature: names expecting type: int64'),
      ('{"examples": [ { "names": [ 10, { "test": 10 } ] } ]}',
       'names has element with unexpected JSON type: Object'),
      ('{"examples": [ { "names": [ [10], 20 ] } ]}',
       'names has element with unexpected JSON type: Array'),
      ('{"examples": [ { "names": [ 20, 18446744073709551603 ] } ]}',
       'Only int64_t is supported'),
  ]
  for body, fragment in cases:
    assert_invalid(refused(api, body), fragment)


def test_assert_proto_tells_tensors_apart():
  """The comparison above can fail: a value, a NaN, an empty shape each differ."""
  tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[float('nan')])
  with pytest.raises(AssertionError):
    assert_proto(tensor, 'dtype: DT_FLOAT float_val: 1.0')
  with pytest.raises(AssertionError):
    assert_proto(tensor, 'dtype: DT_FLOAT tensor_shape {} float_val: NaN')
  assert_proto(tensor, 'dtype: DT_FLOAT float_val: NaN')
