"""A logged request read by the model: the request TF Serving would have built, or its refusal.

A log says what a client sent; only the model can say what TF Serving made of it.
`logged_request` answers that for one `LogEntry`, with the replica's own code, so the
profile, the warmup and the compatibility gate all read a log line the same way:

1. The API. TF Serving knows it from the URL. A log that kept no URL leaves it to the
   body: `instances`/`inputs` only Predict accepts, so such a body is a Predict request.
   An `examples` body is Classify or Regress; the API is then taken from the first that
   says: the signature's method name (TF Serving's Classify runs only a signature shaped
   as a classifier, Regress one shaped as a regressor: their method names say which),
   then `traffic_api`. When none says, `UnknownApiError` names the line and the fix.
2. The request: a REST body goes through `serving.request_from_json`, TF Serving's JSON
   conversion, and is wrapped in the PredictionLog a warmup file would hold (request
   only); a PredictionLog is used as is.
3. TF Serving's checks before the model runs (signature lookup, input names and count,
   output_filter aliases, Classify's and Regress's signature shapes): the replica's
   handlers (`serving.predict`, `classifier`, `regressor`, `multi_inference`) up to their
   Session::Run, nothing run. A refusal is `RequestError` in TF Serving's words. What
   only the graph finds (a shape the model cannot take) is left to a replay.

The result carries the `TrafficKey`: what the request initialises in TF Serving.
"""

from typing import Mapping, Optional, Sequence, Union

from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.errors import ConfigurationError
from tfx_warmup.errors import TrafficError
from tfx_warmup.serving import classifier
from tfx_warmup.serving import multi_inference
from tfx_warmup.serving import predict
from tfx_warmup.serving import rapidjson
from tfx_warmup.serving import regressor
from tfx_warmup.serving import rest_json
from tfx_warmup.serving.contract import CLASSIFY_METHOD
from tfx_warmup.serving.contract import DEFAULT_SIGNATURE
from tfx_warmup.serving.contract import REGRESS_METHOD
from tfx_warmup.serving.contract import Api
from tfx_warmup.serving.records import record_key
from tfx_warmup.traffic.entry import LogEntry
from tfx_warmup.traffic.entry import LoggedRequest
from tfx_warmup.traffic.entry import TrafficKey
from tfx_warmup.traffic.entry import shapes_text

Signatures = Mapping[str, meta_graph_pb2.SignatureDef]

# The APIs a REST body can be sent to (TF Serving's REST verbs), and `traffic_api` can name.
REST_APIS = (Api.PREDICT, Api.CLASSIFY, Api.REGRESS)
_METHOD_APIS = {CLASSIFY_METHOD: Api.CLASSIFY, REGRESS_METHOD: Api.REGRESS}
_HANDLERS = {Api.PREDICT: predict.prepare, Api.CLASSIFY: classifier.prepare,
             Api.REGRESS: regressor.prepare, Api.MULTI_INFERENCE: multi_inference.prepare}
_MISSING = object()


class UnknownApiError(TrafficError):
  """A logged body that Classify and Regress could both have received, and nothing says which.

  `source` is the entry's 'file:line'.
  """

  def __init__(self, message: str, source: str):
    super().__init__(message)
    self.source = source


class NotARequestError(ValueError):
  """A logged PredictionLog that holds no request TF Serving answers or warms with."""

  def __init__(self, source: str, reason: str):
    super().__init__(f'{source}: {reason}')
    self.source = source
    self.reason = reason


def check_traffic_api(traffic_api: Optional[str]) -> Optional[Api]:
  """`traffic_api` as an Api; ConfigurationError for a name TF Serving's REST API lacks."""
  if traffic_api is None:
    return None
  try:
    api = Api(traffic_api)
  except ValueError:
    api = None
  if api not in REST_APIS:
    raise ConfigurationError(
        f'traffic_api={traffic_api!r} is not an API of TF Serving\'s REST server: use '
        f"{', '.join(repr(a.value) for a in REST_APIS)} (the verb of the URL the logged "
        'requests were sent to).')
  return api


def resolve_api(entry: LogEntry, signature_maps: Sequence[Signatures],
                traffic_api: Optional[str] = None) -> Api:
  """The API `entry` was sent to (see the module docstring); UnknownApiError if none says.

  `signature_maps`: the models whose signatures may say it, first that says wins (the
  profile passes the version clients were served, then the new one).
  """
  if entry.api is not None:
    return Api(entry.api)
  if entry.log is not None:
    api = Api.of_log_type(entry.log.WhichOneof('log_type') or '')
    if api is None:
      raise NotARequestError(entry.source, _not_a_request_reason(entry.log))
    return api
  # A key 'examples' is in the bytes as written, or escaped: neither, and no parse is needed.
  if b'examples' not in entry.body and b'\\' not in entry.body:
    return Api.PREDICT
  document = _document(entry.body)
  if document is None or 'examples' not in document:
    return Api.PREDICT  # Only Predict reads `instances`/`inputs`; junk is refused alike.
  name = document.find('signature_name', _MISSING)
  name = name if isinstance(name, str) else DEFAULT_SIGNATURE
  name = name or DEFAULT_SIGNATURE
  for signatures in signature_maps:
    if signatures is not None and name in signatures:
      api = _METHOD_APIS.get(signatures[name].method_name)
      if api is not None:
        return api
  fallback = check_traffic_api(traffic_api)
  if fallback is not None:
    return fallback
  known = [s for s in signature_maps if s is not None and name in s]
  why = (f"whose method name is {known[0][name].method_name!r}" if known
         else 'which the model does not have')
  raise UnknownApiError(
      f"{entry.source}: this logged body holds 'examples', which TF Serving's Classify and "
      f"Regress APIs both accept, and the log does not say which it was sent to: it kept no "
      f"URL, and it calls signature '{name}', {why}. Name the API of the logged requests "
      "with traffic_api='classify' or 'regress' (--traffic-api on the command line), or "
      'log the URL with each body.', entry.source)


def logged_request(entry: LogEntry, signatures: Signatures,
                   traffic_api: Optional[str] = None,
                   api: Optional[Union[str, Api]] = None) -> LoggedRequest:
  """`entry` as TF Serving would have received it, served by a model with `signatures`.

  signatures: the model's {name: SignatureDef}.
  traffic_api: the API of requests whose log does not say it (see `resolve_api`).
  api: the API when the caller has resolved it already (the profile resolves it once
    for both the new and the serving model).
  Raises RequestError as TF Serving would answer the request, UnknownApiError when the
  API cannot be told, NotARequestError for a PredictionLog holding no request.
  """
  api = Api(api) if api is not None else resolve_api(entry, [signatures], traffic_api)
  if entry.log is not None:
    log = entry.log
  else:
    if api not in REST_APIS:
      raise ValueError(f'{entry.source}: TF Serving has no REST API {api.value!r}; a log '
                       'format gave a body this API.')
    log = _wrap(api, rest_json.request_from_json(api, entry.body, signatures),
                entry.model_name)
  request = getattr(log, api.log_type).request
  _HANDLERS[api](signatures, request, False, _no_dtype)
  return LoggedRequest(traffic_key(log), log, entry.source, entry.answered)


def traffic_key(log: prediction_log_pb2.PredictionLog) -> TrafficKey:
  """The record's `RecordKey` fields, and for a Predict request its raw-tensor shapes."""
  key = record_key(log)
  shapes = ''
  if log.WhichOneof('log_type') == Api.PREDICT.log_type:
    shapes = shapes_text(tuple(
        (alias, tuple(d.size for d in tensor.tensor_shape.dim[1:]))
        for alias, tensor in log.predict_log.request.inputs.items()
        if not _serialized_examples(tensor)))
  return TrafficKey(key.api, key.signature, key.batch_size, key.output_filter, shapes)


def _serialized_examples(tensor) -> bool:
  """A rank-1 DT_STRING tensor: serialized examples' form, whose only dimension is the batch."""
  return tensor.dtype == types_pb2.DT_STRING and len(tensor.tensor_shape.dim) <= 1


def _document(body: bytes):
  """The body's JSON object as TF Serving's parser reads it; None if it is not one."""
  try:
    document = rapidjson.parse(body)
  except rapidjson.ParseError:
    return None
  return document if isinstance(document, rapidjson.Object) else None


def _wrap(api: Api, request, model_name: Optional[str]) -> prediction_log_pb2.PredictionLog:
  """The request in the PredictionLog a warmup file holds; the model's name from the URL."""
  if model_name:
    request.model_spec.name = model_name
  if api == Api.PREDICT:
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request))
  if api == Api.CLASSIFY:
    return prediction_log_pb2.PredictionLog(
        classify_log=prediction_log_pb2.ClassifyLog(request=request))
  return prediction_log_pb2.PredictionLog(
      regress_log=prediction_log_pb2.RegressLog(request=request))


def _not_a_request_reason(log: prediction_log_pb2.PredictionLog) -> str:
  kind = log.WhichOneof('log_type')
  if kind is None:
    return 'a PredictionLog with no request (no log type set)'
  return (f'a PredictionLog of type {kind}, which TF Serving does not warm with: only '
          'classify_log, regress_log, predict_log and multi_inference_log hold requests '
          'a warmup replays')


def _no_dtype(tensor_name: str) -> int:
  """The handlers' output-dtype lookup, used only to build a response: none is built here."""
  raise AssertionError(f'no response is built for a logged request ({tensor_name})')

