"""REST bodies into requests, as TF Serving's HTTP handler builds them (util/json_tensor.cc).

Logged REST traffic is JSON; warming from it and checking it against a model both need
the request TF Serving would have built from each body, or the error it would have
answered with. This module is the request half of json_tensor.cc
(FillPredictRequestFromJson, FillClassificationRequestFromJson,
FillRegressionRequestFromJson) and the signature lookup of http_rest_api_handler.cc
(GetInfoMap), on TF Serving 2.18+ (tensorflow/serving@9d981c5):

    request_from_json(api, body, signature) -> PredictRequest | ClassificationRequest
                                               | RegressionRequest

The body is parsed as TF Serving parses it, with rapidjson (`rapidjson.py` says where
that differs from Python's `json` and what the replica does: `Inf`, `-NaN`, deep nesting,
duplicate keys, int64 beyond 2^53, numbers too big for a double, trailing bytes, bytes
that are not UTF-8). Every body TF Serving refuses raises `RequestError` with its status
name and its message text, built as the C++ builds it (`JSON Value: ...` quotes are
rapidjson's PrettyWriter, cut at 256 bytes).

What the request carries:
- `model_spec.signature_name` from the body's `signature_name` (the name and version come
  from the URL in TF Serving, and are left empty here).
- Predict: one tensor per signature input, its dtype from the SignatureDef. Row format
  (`instances`: a list, one item per batch element, each item an object of named inputs
  when the signature has several, else the value itself) batches the items into a tensor
  whose first dimension is their count; every item must have the same shape (ragged
  rows are refused). Columnar format (`inputs`: a value for a one-input signature, or an
  object of named inputs) takes each tensor as written. `{"b64": "..."}` is a DT_STRING
  value, decoded as absl::Base64Unescape decodes (whitespace skipped, padding optional).
- Classify and Regress: `examples` (a list of objects) and an optional `context` object,
  each object a tf.Example: a string is a bytes_list value, `{"b64": ...}` decoded bytes,
  a number with a fraction or exponent (or NaN/Infinity) a float_list value, an integer
  and true/false an int64_list value; a list holds several values of one kind; an empty
  list is a feature with no kind.

Where TF Serving's behaviour depends on protobuf map order (which input it names first,
which input of an `instances` list of `{"b64": ...}` objects it fills when a signature has
several), the replica takes the inputs in sorted order. A name or signature_name that is
not UTF-8 cannot be held by Python's protos (C++ keeps the bytes); the replica refuses it
with INVALID_ARGUMENT and says so. TF Serving fills tensors recursively, so a tensor
nested many thousands deep may crash it; the replica fills any depth.
"""

import binascii
import re
from typing import Dict, List, Mapping, Optional, Union

import numpy as np
from tensorflow.core.example import example_pb2
from tensorflow.core.example import feature_pb2
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from tfx_warmup.serving import rapidjson
from tfx_warmup.serving import session
from tfx_warmup.serving.contract import DEFAULT_SIGNATURE
from tfx_warmup.serving.contract import Api
from tfx_warmup.serving.errors import RequestError
from tfx_warmup.serving.rapidjson import Number
from tfx_warmup.serving.rapidjson import Object

JsonRequest = Union[predict_pb2.PredictRequest, classification_pb2.ClassificationRequest,
                    regression_pb2.RegressionRequest]
SignatureArg = Union[meta_graph_pb2.SignatureDef, Mapping[str, meta_graph_pb2.SignatureDef],
                     None]

_MISSING = object()


def request_from_json(api: Union[str, Api], body: Union[str, bytes],
                      signature: SignatureArg = None) -> JsonRequest:
  """The request TF Serving's REST API builds from `body`; RequestError if it refuses it.

  api: 'predict', 'classify' or 'regress' (the URL's verb).
  body: the request body (bytes as sent; a str is encoded as UTF-8, 'surrogateescape'
    restoring bytes that were not).
  signature: for Predict, the SignatureDef the request targets, or the model's
    signature map (then the body's `signature_name`, or serving_default, picks one, as
    GetInfoMap does). Classify and Regress do not need it: TF Serving builds their
    Examples without the signature.
  """
  api = Api(api)
  if isinstance(body, str):
    body = body.encode('utf-8', 'surrogateescape')
  if api is Api.PREDICT:
    if signature is None:
      raise ValueError('A Predict body needs the SignatureDef (or signature map) it targets.')
    return _predict_request(body, signature)
  if api is Api.CLASSIFY:
    return _classify_regress_request(body, classification_pb2.ClassificationRequest())
  if api is Api.REGRESS:
    return _classify_regress_request(body, regression_pb2.RegressionRequest())
  raise ValueError(f'TF Serving has no REST API for {api.value!r}: '
                   "use 'predict', 'classify' or 'regress'.")


def _invalid(message: str) -> RequestError:
  return RequestError('INVALID_ARGUMENT', message)


def _text(name: str) -> str:
  """A document string as TF Serving's message shows its bytes."""
  return rapidjson.to_bytes(name).decode('utf-8', 'backslashreplace')


def _quote(value) -> str:
  return rapidjson.debug_string(value)


def _format_error(value, *parts: str) -> RequestError:
  return _invalid(f'JSON Value: {_quote(value)} ' + ''.join(parts))


def _parse(body: bytes) -> Object:
  """ParseJson: the body's document, which must be an object."""
  if not body:
    raise _invalid('JSON Parse error: The document is empty')
  try:
    document = rapidjson.parse(body)
  except rapidjson.ParseError as e:
    raise _invalid(f'JSON Parse error: {e.text} at offset: {e.offset}') from None
  if not isinstance(document, Object):
    raise _format_error(document, 'Is not object')
  return document


def _proto_string(value: str, what: str) -> str:
  """`value` for a proto string field; refused if its bytes are not UTF-8."""
  if not value.isascii() and any('\udc80' <= char <= '\udcff' for char in value):
    raise _invalid(f'{what} {_text(value)!r} is not valid UTF-8: TF Serving keeps such '
                   'bytes in its C++ protos, Python protos cannot hold them, so the replica '
                   'does not build this request.')
  return value


def _fill_signature(document: Object, request: JsonRequest) -> None:
  """FillSignature: the optional `signature_name`, which must be a string."""
  name = document.find('signature_name', _MISSING)
  if name is _MISSING:
    return
  if not isinstance(name, str):
    raise _invalid(f'JSON Value: {_quote(document)} not formatted correctly. '
                   "'signature_name' key must be a string value.")
  request.model_spec.signature_name = _proto_string(name, 'signature_name')


# Predict.


def _predict_request(body: bytes, signature: SignatureArg) -> predict_pb2.PredictRequest:
  """FillPredictRequestFromJson, with GetInfoMap's signature lookup."""
  document = _parse(body)
  request = predict_pb2.PredictRequest()
  _fill_signature(document, request)
  name = request.model_spec.signature_name
  infos = _signature_inputs(signature, name)
  if not infos:
    raise _invalid(f'Failed to get input map for signature: {name or "DEFAULT"}')
  instances = document.find('instances', _MISSING)
  inputs = document.find('inputs', _MISSING)
  if instances is not _MISSING:
    if inputs is not _MISSING:
      raise _format_error(document, "Not formatted correctly expecting only one of 'inputs' or "
                          "'instances' keys to exist ")
    if not isinstance(instances, list):
      raise _format_error(document, "Expecting 'instances' to be an list/array")
    if not instances:
      raise _format_error(document, "No values in 'instances' array")
    _fill_from_instances(instances, infos, request)
  elif inputs is not _MISSING:
    _fill_from_inputs(inputs, infos, request)
  else:
    raise _invalid("Missing 'inputs' or 'instances' key")
  return request


def _signature_inputs(signature: SignatureArg,
                      name: str) -> Mapping[str, meta_graph_pb2.TensorInfo]:
  """GetInfoMap: the inputs of the signature the body names (a SignatureDef is taken as is)."""
  if isinstance(signature, meta_graph_pb2.SignatureDef):
    return signature.inputs
  key = name or DEFAULT_SIGNATURE
  if key not in signature:
    raise _invalid(f'Serving signature name: "{key}" not found in signature def')
  return signature[key].inputs


def _is_b64(value) -> bool:
  """IsValBase64Object: an object whose one member is "b64", a string."""
  return (isinstance(value, Object) and len(value) == 1 and value.members[0][0] == 'b64'
          and isinstance(value.members[0][1], str))


def _is_element_object(value) -> bool:
  return isinstance(value, Object) and not _is_b64(value)


def _key_name(key: str) -> str:
  """`const string& name = kv.name.GetString()`: the key up to its first NUL."""
  return key.split('\0', 1)[0]


class _Tensor:
  """A tensor being filled: its dtype and the values written so far."""

  def __init__(self, dtype: int):
    self.dtype = dtype
    self.values: List = []

  def write(self, proto: tensor_pb2.TensorProto, dims: List[int]) -> None:
    proto.dtype = self.dtype
    proto.tensor_shape.SetInParent()
    for size in dims:
      proto.tensor_shape.dim.add(size=size)
    if not self.values:
      return
    field = session.PROTO_FIELDS[self.dtype]
    if self.dtype == types_pb2.DT_FLOAT:
      getattr(proto, field).extend(_float32s(self.values))
    else:
      getattr(proto, field).extend(self.values)


def _float32s(doubles: List[float]) -> List[float]:
  """GetFloat(): each double cast to float (beyond float's range: +-inf)."""
  with np.errstate(over='ignore'):
    return np.asarray(doubles, dtype=np.float64).astype(np.float32).tolist()


_INT32_TYPES = (types_pb2.DT_INT32, types_pb2.DT_INT16, types_pb2.DT_INT8, types_pb2.DT_UINT8)


def dtype_string(dtype: int) -> str:
  """DataTypeString: 'float', 'int64', 'string', 'float_ref', ..."""
  if dtype == types_pb2.DT_INVALID:
    return 'INVALID'
  try:
    return types_pb2.DataType.Name(dtype)[3:].lower()
  except ValueError:
    return f'unknown dtype enum ({dtype})'


def _json_type(value) -> str:
  """JsonTypeString."""
  if value is None:
    return 'Null'
  if value is True:
    return 'True'
  if value is False:
    return 'False'
  if isinstance(value, Object):
    return 'Object'
  if isinstance(value, list):
    return 'Array'
  if isinstance(value, str):
    return 'String'
  return 'Number'


def _type_error(value, dtype: int) -> RequestError:
  return _invalid(f'JSON Value: {_quote(value)} Type: {_json_type(value)} '
                  f'is not of expected type: {dtype_string(dtype)}')


def _tensor_value(value, dtype: int):
  """AddValueToTensor: the value a JSON scalar adds to a tensor of `dtype`."""
  is_number = isinstance(value, Number)
  if dtype in (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE):
    if not is_number:
      raise _type_error(value, dtype)
    return value.as_double()
  if dtype in _INT32_TYPES:
    ok = is_number and value.is_int
  elif dtype == types_pb2.DT_STRING:
    if not isinstance(value, str):
      raise _type_error(value, dtype)
    return rapidjson.to_bytes(value)
  elif dtype == types_pb2.DT_INT64:
    ok = is_number and value.is_int64
  elif dtype == types_pb2.DT_BOOL:
    if not isinstance(value, bool):
      raise _type_error(value, dtype)
    return value
  elif dtype == types_pb2.DT_UINT32:
    ok = is_number and value.is_uint
  elif dtype == types_pb2.DT_UINT64:
    ok = is_number and value.is_uint64
  else:
    raise RequestError('UNIMPLEMENTED', f'Conversion of JSON Value: {_quote(value)} '
                       f'to type: {dtype_string(dtype)}')
  if not ok:
    raise _type_error(value, dtype)
  return value.value


def _base64(value: Object) -> bytes:
  """JsonDecodeBase64Object: the bytes of a {"b64": ...} object."""
  if not _is_b64(value):
    raise _invalid(f'JSON Value: {_quote(value)} not formatted correctly for base64 data')
  decoded = base64_unescape(rapidjson.to_bytes(value.members[0][1]))
  if decoded is None:
    raise _invalid('Unable to base64 decode')
  return decoded


def _dense_shape(value) -> List[int]:
  """GetDenseTensorShape: the sizes of the first list at each depth."""
  dims = []
  while isinstance(value, list):
    dims.append(len(value))
    if not value:
      break
    value = value[0]
  return dims


def _fill_tensor(value, dims: List[int], tensor: _Tensor) -> int:
  """FillTensorProto: append `value`'s scalars to `tensor`, checked against `dims`.

  Returns the number of values added. Depth first, left to right, as the C++ recursion
  visits them (so the first error is the same), but without recursion.
  """
  rank = len(dims)
  count = 0
  dtype = tensor.dtype
  stack = [(value, 0)]
  while stack:
    item, level = stack.pop()
    if not isinstance(item, list):
      if level != rank:
        raise _invalid(f'JSON Value: {_quote(item)} found at incorrect level: {level + 1} '
                       f'in the JSON DOM. Expected at level: {rank}')
      if isinstance(item, Object):
        if dtype != types_pb2.DT_STRING:
          raise _type_error(item, dtype)
        tensor.values.append(_base64(item))
      else:
        tensor.values.append(_tensor_value(item, dtype))
      count += 1
      continue
    if level >= rank:
      raise _invalid(f'Encountered list at unexpected level: {level} expected < {rank}')
    if len(item) != dims[level]:
      raise _invalid(f'Encountered list at unexpected size: {len(item)} at level: {level} '
                     f'expected size: {dims[level]}')
    stack.extend((element, level + 1) for element in reversed(item))
  return count


class _Batch:
  """The tensors of an `instances` list: values so far, and each input's item size and shape."""

  def __init__(self, infos: Mapping[str, meta_graph_pb2.TensorInfo]):
    self.infos = infos
    self.tensors: Dict[str, _Tensor] = {}
    self.sizes: Dict[str, int] = {}
    self.shapes: Dict[str, List[int]] = {}

  def add(self, item, name: str) -> None:
    """AddInstanceItem."""
    if name not in self.infos:
      raise _invalid(f'JSON object: does not have named input: {_text(name)}')
    tensor = self.tensors.setdefault(name, _Tensor(self.infos[name].dtype))
    dims = _dense_shape(item)
    size = _fill_tensor(item, dims, tensor)
    if name not in self.sizes:
      self.sizes[name] = size
      self.shapes[name] = dims
    elif self.sizes[name] != size:
      raise _invalid(f'Expecting tensor size: {self.sizes[name]} but got: {size}')
    elif self.shapes[name] != dims:
      raise _invalid(f'Expecting shape {_shape_string(self.shapes[name])} '
                     f'but got: {_shape_string(dims)}')


def _shape_string(dims: List[int]) -> str:
  return '[' + ','.join(map(str, dims)) + ']'


def _status(error: RequestError) -> str:
  """absl::Status::ToString."""
  return f'{error.code}: {error.message}'


def _fill_from_instances(instances: list, infos, request: predict_pb2.PredictRequest) -> None:
  """FillTensorMapFromInstancesList: the row format."""
  if not isinstance(instances[0], Object) and len(infos) > 1:
    raise _invalid('instances is a plain list, but expecting list of objects as multiple '
                   'input tensors required as per tensorinfo_map')
  elements_are_objects = _is_element_object(instances[0])
  input_names = sorted(infos)
  batch = _Batch(infos)
  for index, element in enumerate(instances):
    if elements_are_objects:
      if not _is_element_object(element):
        raise _invalid(f'Expecting object but got list at item {index} of input list')
      keys = set()
      for key, value in element.members:
        name = _key_name(key)
        keys.add(name)
        try:
          batch.add(value, name)
        except RequestError as e:
          raise _invalid(f'Failed to process element: {index} key: {_text(name)} of '
                         f"'instances' list. Error: {_status(e)}") from None
      if keys != set(input_names):
        raise _invalid(f"Failed to process element: {index} of 'instances' list. JSON object: "
                       f"{_quote(element)} keys must be equal to: {','.join(input_names)}")
    else:
      if _is_element_object(element):
        raise _invalid(f'Expecting value/list but got object at item {index} of input list')
      try:
        batch.add(element, input_names[0])
      except RequestError as e:
        raise _invalid(f"Failed to process element: {index} of 'instances' list. "
                       f'Error: {_status(e)}') from None
  for name, tensor in batch.tensors.items():
    tensor.write(request.inputs[name], [len(instances)] + batch.shapes[name])


def _fill_from_inputs(inputs, infos, request: predict_pb2.PredictRequest) -> None:
  """FillTensorMapFromInputsMap: the columnar format."""
  if not isinstance(inputs, Object) or _is_b64(inputs):
    if len(infos) > 1:
      raise _invalid('inputs is a plain value/list, but expecting an object as multiple input '
                     'tensors required as per tensorinfo_map')
    named = [(sorted(infos)[0], inputs)]
  else:
    named = []
    for name in sorted(infos):
      value = inputs.find(name, _MISSING)
      if value is _MISSING:
        raise _invalid(f"Missing named input: {name} in 'inputs' object.")
      named.append((name, value))
  for name, value in named:
    tensor = _Tensor(infos[name].dtype)
    dims = _dense_shape(value)
    _fill_tensor(value, dims, tensor)
    tensor.write(request.inputs[name], dims)


# Classify and Regress.


def _classify_regress_request(body: bytes, request):
  """FillClassifyRegressRequestFromJson."""
  document = _parse(body)
  _fill_signature(document, request)
  context = document.find('context', _MISSING)
  has_context = context is not _MISSING
  if has_context:
    target = request.input.example_list_with_context
    target.context.SetInParent()
    _fill_example(context, target.context)
  examples = document.find('examples', _MISSING)
  if examples is _MISSING:
    raise _format_error(document, "When method is classify, key 'examples' is expected and "
                        'was not found')
  if not isinstance(examples, list):
    raise _format_error(document, "Expecting 'examples' value to be an list/array")
  if not examples:
    raise _format_error(document, "'examples' value is an empty array")
  target = (request.input.example_list_with_context if has_context
            else request.input.example_list)
  for value in examples:
    _fill_example(value, target.examples.add())
  return request


_KIND_NAMES = {'bytes_list': 'bytes', 'float_list': 'float', 'int64_list': 'int64'}


def _fill_example(value, example: example_pb2.Example) -> None:
  """MakeExampleFromJsonObject: an object's members as the Example's features."""
  if not isinstance(value, Object):
    raise _invalid(f'Example must be JSON object but got JSON {_json_type(value)}')
  for key, content in value.members:
    name = _key_name(key)
    kind, values = _feature_values(content if isinstance(content, list) else [content], name)
    feature = feature_pb2.Feature()
    if kind == 'float_list':
      feature.float_list.value.extend(_float32s(values))
    elif kind is not None:
      getattr(feature, kind).value.extend(values)
    # The last of duplicate keys wins: the C++ assigns into the feature map.
    example.features.feature[_proto_string(name, 'Feature name')].CopyFrom(feature)


def _feature_values(values: list, name: str):
  """AddValueToFeature for each value: the feature's kind and its values."""
  kind: Optional[str] = None

  def check(wanted: str) -> str:
    if kind not in (None, wanted):
      raise _invalid(f'Unexpected element type in feature: {_text(name)} '
                     f'expecting type: {_KIND_NAMES[kind]}')
    return wanted

  out = []
  for value in values:
    if isinstance(value, bool):
      kind = check('int64_list')
      out.append(1 if value else 0)
    elif isinstance(value, str):
      kind = check('bytes_list')
      out.append(rapidjson.to_bytes(value))
    elif isinstance(value, Number):
      if value.is_double:
        kind = check('float_list')
        out.append(value.value)
      else:
        kind = check('int64_list')
        if not value.is_int64:
          raise _invalid(f'Feature: {_text(name)} has uint64_t element. '
                         'Only int64_t is supported.')
        out.append(value.value)
    elif _is_b64(value):
      kind = check('bytes_list')
      out.append(_base64(value))
    else:  # null, an array, an object other than {"b64": ...}
      raise _invalid(f'Feature: {_text(name)} has element with unexpected JSON type: '
                     f'{_json_type(value)}')
  return kind, out


# absl::Base64Unescape.
_BASE64_ALPHABET = b'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
_BASE64_VALUES = {byte: index for index, byte in enumerate(_BASE64_ALPHABET)}
_ASCII_SPACE = frozenset(b' \t\n\v\f\r')
_PADS = frozenset(b'=.')
# Canonical base64 (whole quanta, '=' padding, no whitespace), which binascii decodes to
# exactly absl's bytes; anything else is decoded by the port below.
_CANONICAL_BASE64 = re.compile(rb'(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?')


def base64_unescape(data: bytes) -> Optional[bytes]:
  """absl::Base64Unescape: the decoded bytes, or None where absl refuses the input.

  The standard alphabet; ASCII whitespace anywhere is skipped; '=' or '.' pads, which
  may be left out, and then only pads and whitespace may follow; a lone trailing
  character is refused; unused low bits of the last character are not checked.
  """
  if _CANONICAL_BASE64.fullmatch(data):  # What clients send: decoded in C, same bytes.
    return binascii.a2b_base64(data)
  bits = 0
  count = 0
  out = bytearray()
  position = 0
  for position, byte in enumerate(data):  # noqa: B007  (read after the loop: where pads start)
    if byte in _ASCII_SPACE:
      continue
    if byte in _PADS:
      break
    digit = _BASE64_VALUES.get(byte)
    if digit is None:
      return None
    bits = (bits << 6) | digit
    count += 1
    if count == 4:
      out += bits.to_bytes(3, 'big')
      bits = count = 0
  else:
    position = len(data)
  if count == 1:
    return None
  if count == 2:
    out.append(bits >> 4)
  elif count == 3:
    out += (bits >> 2).to_bytes(2, 'big')
  expected = {0: 0, 2: 2, 3: 1}[count]
  pads = 0
  for byte in data[position:]:
    if byte in _PADS:
      pads += 1
    elif byte not in _ASCII_SPACE:
      return None
  if pads not in (0, expected):
    return None
  return bytes(out)
