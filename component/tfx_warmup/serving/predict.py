"""The Predict API (predict_util.cc): named input tensors in, all outputs or `output_filter` out."""

from typing import Dict, List, Sequence

import numpy as np
from tensorflow_serving.apis import predict_pb2

from tfx_warmup.serving import session as session_lib
from tfx_warmup.serving import util
from tfx_warmup.serving.contract import CLASSIFY_METHOD, DEFAULT_SIGNATURE
from tfx_warmup.serving.contract import PREDICT_METHOD, REGRESS_METHOD
from tfx_warmup.serving.errors import RequestError, TensorParseError

_PREDICT_METHODS = (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD)


def prepare(signatures: util.Signatures, request: predict_pb2.PredictRequest,
            method_name_check: bool, dtype_of: util.DtypeOf) -> util.Call:
  """RunPredict up to its Session::Run."""
  name = request.model_spec.signature_name or DEFAULT_SIGNATURE
  if name not in signatures:
    raise RequestError('FAILED_PRECONDITION', f'Serving signature key "{name}" not found.')
  signature = signatures[name]
  if method_name_check and signature.method_name not in _PREDICT_METHODS:
    raise RequestError(
        'INTERNAL', 'Expected prediction signature method_name to be one of '
        f'{{{", ".join(_PREDICT_METHODS)}}}. Was: {signature.method_name}')
  response = predict_pb2.PredictResponse()
  util.set_model_spec(response.model_spec, request.model_spec.name, name)
  feeds = _feeds(signature, request)
  aliases = _output_aliases(signature, request.output_filter)
  fetches = [signature.outputs[a].name for a in aliases]

  def respond(outputs):
    for alias, tensor, value in zip(aliases, fetches, outputs):
      response.outputs[alias].CopyFrom(session_lib.tensor_to_proto(value, dtype_of(tensor)))
    return response
  return util.Call(feeds, fetches, respond)


def _feeds(signature, request: predict_pb2.PredictRequest) -> Dict[str, np.ndarray]:
  """PreProcessPrediction: each signature input from the request, or its default."""
  sent, expected = set(request.inputs), set(signature.inputs)
  defaults = _defaults(signature)
  if len(sent) > len(expected) or (len(sent) < len(expected) and not defaults):
    raise util.invalid(
        f'input size does not match signature: {len(sent)}!={len(expected)} '
        f'len({{{",".join(sorted(sent))}}}) != len({{{",".join(sorted(expected))}}}). '
        f'Sent extra: {{{",".join(sorted(sent - expected))}}}. '
        f'Missing but required: {{{",".join(sorted(expected - sent))}}}.')
  feeds = {}
  for alias in sorted(expected):
    info = signature.inputs[alias]
    if alias in request.inputs:
      proto = request.inputs[alias]
    elif alias in defaults:
      proto = defaults[alias]
    else:
      raise util.invalid(
          f'Signature input alias: {alias}(feed name: {info.name}) not found in '
          'request and no default value provided. Inputs expected to be in the '
          f'request {{{",".join(sorted(sent))}}}, or default input alias set: '
          f'{",".join(sorted(defaults))}')
    try:
      # The request's own dtype is fed: a mismatch with the graph is Session::Run's error.
      feeds[info.name] = session_lib.tensor_from_proto(proto)
    except TensorParseError as e:
      raise util.invalid(f'tensor parsing error: {alias}') from e
  unknown = sent - expected
  if sent and unknown:
    raise util.invalid(
        'Inputs contains invalid name. Used request inputs: '
        f'{",".join(sorted(sent & expected))}, request input: {",".join(sorted(sent))}')
  return feeds


def _defaults(signature):
  """The signature's default inputs; none where TensorFlow (2.13, TFX 1.14) has no such field."""
  if 'defaults' not in signature.DESCRIPTOR.fields_by_name:
    return {}
  return signature.defaults


def _output_aliases(signature, output_filter: Sequence[str]) -> List[str]:
  aliases, seen = [], set()
  for alias in output_filter:
    if alias not in signature.outputs:
      raise util.invalid(f'output tensor alias not found in signature: {alias} Outputs '
                         f'expected to be in the set {{{",".join(sorted(signature.outputs))}}}.')
    if alias in seen:
      raise util.invalid(f'duplicate output tensor alias: {alias}')
    seen.add(alias)
    aliases.append(alias)
  return aliases or sorted(signature.outputs)
