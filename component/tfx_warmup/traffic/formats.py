"""The traffic log formats tfx-warmup reads, said once: recognised, parsed, documented.

Open-source TF Serving logs no requests, so users log around it, each vendor in its own
shape. `FORMATS` is the one table of them, as `data.runners.RUNNERS` is for Beam runners:
the reader (`logs`) recognises a file's format from its first bytes and parses each line
or record with it, the errors name the formats known, `data.file_kinds` names a log
passed where examples belong, and the documentation's format reference (with a sample of
each, parsed by its own format in the tests so it cannot rot) is generated from it.

A format turns one line (JSON lines) or one record (TFRecords) into a `LogEntry`, the
request as the client sent it, or a `NotARequest` saying why it holds none. It does not
parse the request body: `serving.rest_json` does that as TF Serving does, and a body TF
Serving would refuse is a request TF Serving refused, not a line that holds none. So a
line is not a request only when its framing says so: not a JSON object (cut short, plain
text, an array), a response or another event, a payload that is not JSON (CSV), no body.
A body is handed on as the exact bytes that were logged: re-serializing it through
Python's `json` would change what TF Serving reads (`Inf`, duplicate keys, int64 beyond
2^53, numbers too big for a double). So a body inside a line is cut out of it by
`members`, which finds a JSON object's top-level members without parsing their values;
vendors' envelopes, whose payloads are JSON strings, are read with Python's C parser.

Where a log does not say which API a body was sent to (a bare body, an `examples` body
seen by a vendor's endpoint), `LogEntry.api` is None, and the caller takes it from the
signature or `traffic_api`.
"""

import base64
import binascii
import dataclasses
import json
import re
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

from google.protobuf import message as proto_message
from google.protobuf import text_format
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.errors import TrafficError
from tfx_warmup.serving import framing
from tfx_warmup.serving.contract import Api
from tfx_warmup.traffic.entry import LogEntry
from tfx_warmup.traffic.entry import NotARequest

Parsed = Union[LogEntry, NotARequest]
Members = Dict[str, Optional[bytes]]  # a line's top-level members: name -> raw JSON value

LINES = 'JSON lines'
TFRECORD = 'TFRecords'

PREDICT = Api.PREDICT.value
BODY_KEYS = ('instances', 'inputs', 'examples')  # what a TF Serving REST body holds


@dataclasses.dataclass(frozen=True)
class Format:
  """A traffic log format.

  `framing`: LINES (one JSON object per line, blank lines skipped) or TFRECORD.
  `recognised_by` and `reads` say, for the documentation, how a file is recognised and
  how a line becomes a request.
  `recognise`: for LINES, whether a line's top-level members (name -> raw JSON value,
  None for a value the first bytes cut) are of this format; for TFRECORD, whether a
  file's first bytes are. `parse(data, source)`: one line or record into a `LogEntry` or
  a `NotARequest`; `source` is where it is ('path:line'). `what`: a file of it, in
  messages. `samples`: lines (or, for TFRecords, records in protobuf text format) the
  documentation shows and the tests parse. `docs`: where the vendor documents it.
  """
  name: str
  title: str
  description: str
  what: str
  framing: str
  recognised_by: str
  reads: str
  recognise: Callable
  parse: Callable[[bytes, str], Parsed]
  samples: Tuple[str, ...]
  docs: Tuple[str, ...]

  def sample_bytes(self) -> List[bytes]:
    """The samples as the log holds them: a line's bytes, a record's serialized proto."""
    if self.framing == TFRECORD:
      return [text_format.Parse(s, prediction_log_pb2.PredictionLog()).SerializeToString()
              for s in self.samples]
    return [s.encode('utf-8') for s in self.samples]


# -- Top-level members of a JSON object, scanned, not parsed --------------------------

_WS = re.compile(rb'[ \t\n\r]*')
_MEMBER = re.compile(rb'[ \t\n\r]*"([^"\\]*(?:\\.[^"\\]*)*)"[ \t\n\r]*:[ \t\n\r]*', re.S)
_NEXT = re.compile(rb'[ \t\n\r]*(?:(,)|\})')
_CLOSE = re.compile(rb'[ \t\n\r]*\}')
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # after the opening quote
_STRUCTURAL = re.compile(rb'["\[\]{}]')
_SCALAR_END = re.compile(rb'[,}\] \t\n\r]|$')
_CLOSER = {ord('{'): ord('}'), ord('['): ord(']')}


# Python's C JSON scanner, used to skip a nested value fast: it reads most bodies, and
# where it cannot (rapidjson's `Inf`, control bytes, non-ASCII offsets, great depth) the
# bracket-matching scan below decides.
_DECODER = json.JSONDecoder()
_SCAN = json.scanner.make_scanner(_DECODER)


def _scanned_end(text: str, i: int) -> int:
  """Where Python's C scanner ends the JSON value at `i` of `text`; -1 if it cannot."""
  try:
    return _SCAN(text, i)[1]
  except (StopIteration, ValueError, RecursionError):
    return -1


class MalformedLineError(ValueError):
  """A line whose JSON framing is broken: what is wrong, in a few words."""


def _string_end(data: bytes, i: int) -> int:
  match = _STRING_REST.match(data, i + 1)
  if match is None:
    raise MalformedLineError('a string is not closed (cut short?)')
  return match.end()


def _value_end(data: bytes, i: int) -> int:
  """Where the JSON value starting at `i` ends; its brackets matched, its strings skipped."""
  first = data[i:i + 1]
  if first == b'"':
    return _string_end(data, i)
  if first in (b'{', b'['):
    closers = []
    j = i
    while True:
      match = _STRUCTURAL.search(data, j)
      if match is None:
        raise MalformedLineError(f"{len(closers)} bracket(s) not closed (cut short?)")
      char = data[match.start()]
      if char == 0x22:  # '"'
        j = _string_end(data, match.start())
        continue
      j = match.end()
      if char in _CLOSER:
        closers.append(_CLOSER[char])
      elif closers[-1] != char:
        raise MalformedLineError(f'a {chr(char)!r} where {chr(closers[-1])!r} belongs, at '
                                 f'byte {match.start()}')
      else:
        closers.pop()
      if not closers:
        return j
  end = _SCALAR_END.search(data, i).start()
  if end == i:
    raise MalformedLineError(f'a value is missing at byte {i}')
  return end


def members(data: bytes, partial: bool = False) -> Iterator[Tuple[str, int, int]]:
  """The top-level members of the JSON object `data` holds: (name, value start, value end).

  Values are skipped, not parsed into Python (a nested value by Python's C scanner, else
  brackets matched and strings skipped), so a line of any size costs a few scans.
  Raises MalformedLineError if `data` is not one JSON object. `partial`: `data` may be
  cut (a file's first bytes); a member whose value is cut is yielded with end -1, and
  the scan stops there without an error.
  """
  text = data.decode('ascii') if data.isascii() else None  # Offsets as the bytes'.
  i = _WS.match(data).end()
  if data[i:i + 1] != b'{':
    raise MalformedLineError('not a JSON object' if data[i:i + 1] else 'empty')
  if _CLOSE.match(data, i + 1):
    return
  i += 1
  while True:
    head = _MEMBER.match(data, i)
    if head is None:
      _no_member(data, i, partial)
      return
    raw_name, i = head.group(1), head.end()
    try:
      name = (json.loads(b'"' + raw_name + b'"') if b'\\' in raw_name
              else raw_name.decode('utf-8', 'surrogateescape'))
    except ValueError:
      raise MalformedLineError(f'a member name is not a JSON string at byte {i}') from None
    try:
      value_end = -1
      if text is not None and data[i:i + 1] in (b'{', b'['):
        value_end = _scanned_end(text, i)
      if value_end < 0:
        value_end = _value_end(data, i)
    except MalformedLineError:
      if partial:
        yield name, i, -1
        return
      raise
    if partial and value_end >= len(data) and data[i:i + 1] not in (b'"', b'{', b'['):
      yield name, i, -1  # A number or literal the cut may have shortened.
      return
    yield name, i, value_end
    after = _NEXT.match(data, value_end)
    if after is None:
      if partial and not data[value_end:].strip():
        return
      raise MalformedLineError(f"no ',' or '}}' after member {name!r}")
    if after.group(1) is None:
      return
    i = after.end()


def _no_member(data: bytes, i: int, partial: bool) -> None:
  """Why no member starts at `i` (MalformedLineError); nothing if the cut explains it."""
  i = _WS.match(data, i).end()
  if data[i:i + 1] != b'"':
    if partial and i >= len(data):
      return
    raise MalformedLineError(f'a member has no name at byte {i}')
  try:
    end = _string_end(data, i)
  except MalformedLineError:
    if partial:
      return
    raise
  name = data[i + 1:end - 1].decode('utf-8', 'backslashreplace')
  if partial and _WS.match(data, end).end() >= len(data):
    return
  raise MalformedLineError(f"no ':' after member {name!r}")


def _members(data: bytes) -> Members:
  """A line's top-level members, the first of each name (as TF Serving's FindMember)."""
  found: Members = {}
  for name, start, end in members(data):
    found.setdefault(name, data[start:end])
  return found


def head_members(line: bytes) -> Members:
  """The members of a line the first bytes may cut: a cut value is None. {} if not JSON."""
  found: Members = {}
  try:
    for name, start, end in members(line, partial=True):
      found.setdefault(name, line[start:end] if end >= 0 else None)
  except MalformedLineError:
    pass
  return found


def _string(raw: Optional[bytes]) -> Optional[str]:
  """A raw JSON string value as text; None if absent, null or not a string."""
  if not raw or raw[:1] != b'"':
    return None
  try:
    value = json.loads(raw)
  except ValueError:
    return None
  return value if isinstance(value, str) else None


def _loads(data: bytes) -> Optional[dict]:
  """`data` as a JSON object by Python's C parser; None if it does not read one.

  For vendors' envelopes (BigQuery's rows, SageMaker's captures, CloudEvents), written
  by JSON libraries: their payloads are strings, decoded exactly, so only a raw body
  inside an envelope needs `members`.
  """
  try:
    value = json.loads(data)
  except (ValueError, RecursionError):
    return None
  return value if isinstance(value, dict) else None


def _not_an_object(line: bytes, source: str) -> NotARequest:
  """Why a line Python's parser does not read as an object holds no request."""
  try:
    for _ in members(line):
      pass
  except MalformedLineError as e:
    return NotARequest(source, f'not a JSON object: {e}')
  try:
    json.loads(line)
  except (ValueError, RecursionError) as e:
    return NotARequest(source, f'not the JSON its log writes: {e}')
  return NotARequest(source, 'not a JSON object')


def _raw_member(data: bytes, name: str) -> Optional[bytes]:
  """The raw JSON value of `data`'s first top-level member `name` (data is an object)."""
  for found, start, end in members(data):
    if found == name:
      return data[start:end]
  return None


def _body_api(body: bytes) -> Optional[str]:
  """'predict' for a body a vendor's predict route took; None for an `examples` body.

  Vertex AI, SageMaker and KServe call TF Serving's Predict, unless (SageMaker's
  `tfs-method`, a custom route) they called Classify or Regress: only an `examples`
  body says so, and it cannot say which of the two.
  """
  if b'"examples"' not in body:
    return PREDICT
  try:
    names = {name for name, _, _ in members(body)}
  except MalformedLineError:
    return PREDICT  # TF Serving's parser gives its own verdict on it.
  return None if 'examples' in names and not names & {'instances', 'inputs'} else PREDICT


def _is_error_response(raw: bytes) -> bool:
  """Whether a logged response body is TF Serving's error answer ({"error": ...})."""
  if b'"error"' not in raw:
    return False
  value = _loads(raw)
  if value is not None:
    return 'error' in value
  try:
    return any(name == 'error' for name, _, _ in members(raw))
  except MalformedLineError:
    return False


# -- rest: TF Serving REST bodies -----------------------------------------------------

# TF Serving's route (http_rest_api_handler.cc): the model, an optional version or label,
# the API.
_PATH = re.compile(r'/v1/models/(?P<model>[^/:]+)(?:/versions/(?P<version>\d+)|'
                   r'/labels/(?P<label>[^/:]+))?:(?P<verb>classify|regress|predict)$', re.I)


def _path_api(path: str) -> Optional[Tuple[str, str]]:
  """(model name, API) of a TF Serving REST URL or path; None if it calls no inference API."""
  if '://' in path:
    path = path.split('://', 1)[1]
    path = path[path.find('/'):] if '/' in path else ''
  path = path.split('?', 1)[0]
  match = _PATH.search(path)
  if match is None:
    return None
  return match.group('model'), match.group('verb').lower()


def _recognise_rest(found: Members) -> bool:
  if found.keys() & set(BODY_KEYS) or 'body' in found:
    return True
  path = _string(found.get('path'))
  return path is not None and _path_api(path) is not None


def _answered(found: Members) -> Optional[bool]:
  """From a wrapper's `status` (an HTTP status), else its `response` (a body)."""
  status = found.get('status')
  if status is not None and status != b'null':
    try:
      code = int(json.loads(status))
    except (ValueError, TypeError):
      return None
    return 200 <= code < 300
  response = found.get('response')
  if response is None or response == b'null':
    return None
  return not _is_error_response(response)


def _is_object(data: bytes) -> bool:
  """Whether Python's C parser reads `data` as one JSON object (fast; False is no verdict)."""
  try:
    text = data.decode('utf-8')
  except UnicodeDecodeError:
    return False
  try:
    value, end = _SCAN(text, 0)
  except (StopIteration, ValueError, RecursionError):
    return False
  return isinstance(value, dict) and end == len(text)


def _parse_rest(line: bytes, source: str) -> Parsed:
  body = line.strip()
  if b'"body"' not in body and b'"path"' not in body and _is_object(body):
    return LogEntry(source, 'rest', body=body)  # A bare body, read at C speed.
  try:
    found = _members(line)
  except MalformedLineError as e:
    return NotARequest(source, f'not a JSON object: {e}')
  if 'body' not in found and 'path' not in found:
    return LogEntry(source, 'rest', body=body)
  raw = found.get('body')
  if raw is None or raw == b'null':
    return NotARequest(source, 'a logged call with no "body"')
  if raw[:1] == b'"':
    text = _string(raw)
    if text is None:
      return NotARequest(source, '"body" is a string that is not valid JSON text')
    body = text.encode('utf-8', 'surrogatepass')
  elif raw[:1] == b'{':
    body = raw
  else:
    return NotARequest(source, '"body" is neither a JSON object nor a string holding one')
  api = model = None
  if 'path' in found:
    path = _string(found['path'])
    called = _path_api(path) if path is not None else None
    if called is None:
      shown = path if path is not None else found['path'].decode('utf-8', 'replace')
      return NotARequest(source, f'path {shown[:200]!r} calls none of TF Serving\'s '
                         'predict, classify or regress APIs')
    model, api = called
  return LogEntry(source, 'rest', body=body, api=api, model_name=model,
                  answered=_answered(found))


# -- vertex: Vertex AI request-response logging, BigQuery rows as JSON lines ----------

_VERTEX_COLUMNS = ('endpoint', 'deployed_model_id', 'logging_time', 'request_id')


def _recognise_vertex(found: Members) -> bool:
  return 'request_payload' in found and bool(found.keys() & set(_VERTEX_COLUMNS))


def _payload_strings(value) -> Optional[List[str]]:
  """A payload column: REPEATED STRING (a list of strings), or one string."""
  if value is None:
    return []
  if isinstance(value, str):
    return [value]
  if isinstance(value, list) and all(isinstance(v, str) for v in value):
    return value
  return None


def _holds_body(payload: bytes) -> bool:
  """Whether a request_payload string is a whole body rather than one instance."""
  if not any(b'"%s"' % key.encode() in payload for key in BODY_KEYS):
    return False
  try:
    return any(name in BODY_KEYS for name, _, _ in members(payload))
  except MalformedLineError:
    return False


def _parse_vertex(line: bytes, source: str) -> Parsed:
  row = _loads(line)
  if row is None:
    return _not_an_object(line, source)
  payload = _payload_strings(row.get('request_payload'))
  if payload is None:
    return NotARequest(source, 'request_payload is not a string or a list of strings')
  if not payload:
    return NotARequest(source, 'a row with no request_payload')
  encoded = [p.encode('utf-8', 'surrogatepass') for p in payload]
  body = encoded[0] if len(encoded) == 1 and _holds_body(encoded[0]) else (
      b'{"instances": [' + b', '.join(encoded) + b']}')
  responses = _payload_strings(row.get('response_payload'))
  return LogEntry(source, 'vertex', body=body, api=_body_api(body),
                  answered=True if responses else None)


# -- sagemaker: SageMaker Data Capture ------------------------------------------------


def _recognise_sagemaker(found: Members) -> bool:
  return 'captureData' in found


def _capture_payload(capture) -> Union[bytes, str, None]:
  """A captured payload's bytes; a str says why there are none; None if absent."""
  if capture is None:
    return None
  if not isinstance(capture, dict):
    return 'no payload object'
  encoding = str(capture.get('encoding') or '').upper()
  content_type = str(capture.get('observedContentType') or '')
  data = capture.get('data')
  if not isinstance(data, str):
    return 'no "data" string'
  if encoding == 'BASE64':
    try:
      payload = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
      return '"data" is not valid base64'
  elif encoding == 'JSON':
    payload = data.encode('utf-8', 'surrogatepass')
  else:
    return (f'a {encoding or "?"} payload ({content_type or "no content type"}): TF Serving '
            "takes JSON bodies, so it is not a request tfx-warmup can replay")
  if 'json' not in content_type.lower() and content_type:
    return (f'a payload of content type {content_type!r}: TF Serving takes JSON bodies, '
            'so it is not a request tfx-warmup can replay')
  return payload if payload.strip() else 'an empty payload'


def _parse_sagemaker(line: bytes, source: str) -> Parsed:
  event = _loads(line)
  if event is None:
    return _not_an_object(line, source)
  capture = event.get('captureData')
  capture = capture if isinstance(capture, dict) else {}
  body = _capture_payload(capture.get('endpointInput'))
  if body is None:
    return NotARequest(source, 'a capture with no endpointInput (the output alone)')
  if isinstance(body, str):
    return NotARequest(source, f'endpointInput holds {body}')
  output = _capture_payload(capture.get('endpointOutput'))
  answered = None
  if isinstance(output, bytes):
    answered = not _is_error_response(output)
  return LogEntry(source, 'sagemaker', body=body, api=_body_api(body), answered=answered)


# -- kserve: KServe's payload logger, CloudEvents in the JSON event format -------------

KSERVE_REQUEST = 'org.kubeflow.serving.inference.request'
KSERVE_RESPONSE = 'org.kubeflow.serving.inference.response'


def _recognise_kserve(found: Members) -> bool:
  event_type = _string(found.get('type')) or ''
  return 'specversion' in found and (event_type.startswith('org.kubeflow.serving.')
                                     or 'inferenceservicename' in found)


def _parse_kserve(line: bytes, source: str) -> Parsed:
  event = _loads(line)
  if event is None:
    return _not_an_object(line, source)
  event_type = event.get('type')
  if event_type == KSERVE_RESPONSE:
    return NotARequest(source, 'a response event')
  if event_type != KSERVE_REQUEST:
    return NotARequest(source, f'an event of type {event_type!r}, not {KSERVE_REQUEST}')
  data = event.get('data')
  if isinstance(event.get('data_base64'), str):
    try:
      body = base64.b64decode(event['data_base64'], validate=True)
    except (binascii.Error, ValueError):
      return NotARequest(source, '"data_base64" is not valid base64')
  elif isinstance(data, str):
    body = data.encode('utf-8', 'surrogatepass')
  elif isinstance(data, dict):
    body = _raw_member(line, 'data')  # The bytes the sink wrote, not Python's rewrite.
  else:
    return NotARequest(source, 'a request event with no JSON body in "data" or "data_base64"')
  model = event.get('inferenceservicename')
  return LogEntry(source, 'kserve', body=body, api=_body_api(body),
                  model_name=model if isinstance(model, str) and model else None)


# -- prediction_log: PredictionLog TFRecords ------------------------------------------


def _request_of(log: prediction_log_pb2.PredictionLog):
  """(the log's API, its request, its response) for a log type warmup replays."""
  log_type = log.WhichOneof('log_type')
  api = Api.of_log_type(log_type) if log_type else None
  if api is None:
    return log_type, None, None
  entry = getattr(log, log_type)
  return api, entry.request, entry.response


def _has_request(api: Api, request) -> bool:
  if api is Api.PREDICT:
    return bool(request.inputs)
  if api is Api.MULTI_INFERENCE:
    return bool(request.tasks) and request.input.WhichOneof('kind') is not None
  return request.input.WhichOneof('kind') is not None


def _recognise_prediction_log(head: bytes) -> bool:
  """TFRecords whose first record is a PredictionLog holding a request."""
  length = framing.record_length(head[:framing.HEADER_BYTES])
  data = head[framing.HEADER_BYTES:framing.HEADER_BYTES + length]
  if length < 0 or len(data) < length:
    return False
  log = prediction_log_pb2.PredictionLog()
  try:
    log.ParseFromString(data)
  except (proto_message.DecodeError, RuntimeError, ValueError):
    return False
  api, request, _ = _request_of(log)
  return isinstance(api, Api) and _has_request(api, request)


def _parse_prediction_log(record: bytes, source: str) -> Parsed:
  log = prediction_log_pb2.PredictionLog()
  try:
    log.ParseFromString(record)
  except (proto_message.DecodeError, RuntimeError, ValueError) as e:
    return NotARequest(source, f'not a PredictionLog: {e}')
  api, request, response = _request_of(log)
  if api is None:
    return NotARequest(source, 'a PredictionLog with no log')
  if not isinstance(api, Api):
    return NotARequest(source, f'a {api}, which TF Serving does not replay as warmup')
  spec = (request.tasks[0].model_spec if api is Api.MULTI_INFERENCE and request.tasks
          else getattr(request, 'model_spec', None))
  answered = True if response is not None and response.ByteSize() else None
  return LogEntry(source, 'prediction_log', log=log, api=api.value,
                  model_name=(spec.name or None) if spec is not None else None,
                  answered=answered)


# -- The table ------------------------------------------------------------------------

FORMATS = (
    Format(
        'rest', 'TF Serving REST bodies',
        'The bodies clients POST to TF Serving\'s REST API, one per line: as a proxy, '
        'gateway or application logs them.',
        'TF Serving REST traffic (JSON lines of request bodies)', LINES,
        'a line is a JSON object holding `instances`, `inputs` or `examples` (a body), or '
        '`body` or a TF Serving `path` (a logged call)',
        'a line is a body (its API then comes from the signature or `traffic_api`), or a '
        "logged call: `path` (TF Serving's URL path, or the whole URL: it names the model and "
        'the API), `body` (the body, as a JSON object or a string holding it), and optionally '
        "`status` (the HTTP status answered) or `response` (the body answered; TF Serving's "
        '`{"error": ...}` is a refusal), which say whether it was answered',
        _recognise_rest, _parse_rest,
        ('{"signature_name": "serving_default", "instances": [{"trip_miles": 1.5, '
         '"company": "Flash Cab"}]}',
         '{"path": "/v1/models/taxi/versions/3:classify", "body": {"signature_name": '
         '"classification", "examples": [{"trip_miles": 1.5, "company": "Flash Cab"}]}, '
         '"status": 200}'),
        ('https://www.tensorflow.org/tfx/serving/api_rest',)),
    Format(
        'vertex', 'Vertex AI request-response logging',
        "A Vertex AI endpoint's request-response logging: the BigQuery table's rows, "
        'exported as JSON lines (`bq extract --destination_format NEWLINE_DELIMITED_JSON`).',
        'a Vertex AI request-response log (BigQuery rows as JSON lines)', LINES,
        'a line is a JSON object holding `request_payload` and one of the table\'s other '
        'columns (`endpoint`, `deployed_model_id`, `logging_time`, `request_id`)',
        '`request_payload` (REPEATED STRING) holds the request as JSON strings: one string '
        'holding `instances`, `inputs` or `examples` is the whole body; otherwise each string '
        'is one instance, and together they are one Predict body `{"instances": [...]}`. '
        'A row with a `response_payload` was answered',
        _recognise_vertex, _parse_vertex,
        ('{"endpoint": "projects/123/locations/us-central1/endpoints/456", '
         '"deployed_model_id": "789", "logging_time": "2024-05-01 12:00:00.123456 UTC", '
         '"request_id": "4242", "request_payload": ["{\\"trip_miles\\": 1.5, '
         '\\"company\\": \\"Flash Cab\\"}"], "response_payload": ["{\\"scores\\": '
         '[0.1, 0.9]}"]}',),
        ('https://cloud.google.com/vertex-ai/docs/predictions/online-prediction-logging',
         'https://cloud.google.com/bigquery/docs/exporting-data')),
    Format(
        'sagemaker', 'SageMaker Data Capture',
        "A SageMaker endpoint's Data Capture files (S3, JSON lines): each line the "
        'captured input and output, the payload as JSON text or base64.',
        'a SageMaker Data Capture log', LINES,
        'a line is a JSON object holding `captureData`',
        '`captureData.endpointInput.data` is the body, as JSON text (`encoding` JSON) or '
        'base64 (BASE64, the default); a CSV or other non-JSON payload is not a request. An '
        '`endpointOutput` says it was answered, unless it is TF Serving\'s `{"error": ...}`',
        _recognise_sagemaker, _parse_sagemaker,
        ('{"captureData": {"endpointInput": {"observedContentType": "application/json", '
         '"mode": "INPUT", "data": "{\\"instances\\": [[1.5, 2.0]]}", "encoding": "JSON"}, '
         '"endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", '
         '"data": "eyJwcmVkaWN0aW9ucyI6IFtbMC45XV19", "encoding": "BASE64"}}, '
         '"eventMetadata": {"eventId": "4651a1bf-4b00-4248-a309-4a18b11e4277", '
         '"inferenceTime": "2024-05-01T12:00:00Z"}, "eventVersion": "0"}',
         '{"captureData": {"endpointInput": {"observedContentType": "application/json", '
         '"mode": "INPUT", "data": "eyJpbnN0YW5jZXMiOiBbeyJ0cmlwX21pbGVzIjogMS41LCAiY29tc'
         'GFueSI6ICJGbGFzaCBDYWIifV19", "encoding": "BASE64"}}, "eventMetadata": '
         '{"eventId": "8f45e35c-fa44-40d2-8ed3-1bcab3a596f3", "inferenceTime": '
         '"2024-05-01T12:00:01Z"}, "eventVersion": "0"}'),
        ('https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture.html',
         'https://docs.aws.amazon.com/sagemaker/latest/APIReference/'
         'API_DataCaptureConfig.html')),
    Format(
        'kserve', "KServe's payload logger",
        "KServe's inference logger sends each request and response as a CloudEvent; a sink "
        'that writes them in the CloudEvents JSON event format, one per line, gives this '
        'file. Request events (`org.kubeflow.serving.inference.request`) of the v1 '
        'protocol are requests; response events are counted as lines that are not.',
        'a KServe payload log (CloudEvents as JSON lines)', LINES,
        'a line is a JSON object holding `specversion`, and a `type` of KServe\'s '
        '(`org.kubeflow.serving.*`) or an `inferenceservicename`',
        "a request event's `data` (the JSON body itself, or a string holding it) or "
        '`data_base64` is the body, `inferenceservicename` the model; response events and '
        'others are not requests (a request event does not say whether it was answered)',
        _recognise_kserve, _parse_kserve,
        ('{"specversion": "1.0", "type": "org.kubeflow.serving.inference.request", '
         '"source": "http://localhost:9081/", "id": "e58f1edd-43bc-42f6-a10a-d1adb5cab831", '
         '"time": "2024-05-01T12:00:00Z", "datacontenttype": "application/json", '
         '"inferenceservicename": "taxi", "namespace": "default", "component": "predictor", '
         '"endpoint": "", "data": {"instances": [[1.5, 2.0]]}}',),
        ('https://kserve.github.io/website/docs/model-serving/predictive-inference/logger/'
         'basic-logger',
         'https://github.com/cloudevents/spec/blob/main/cloudevents/formats/'
         'json-format.md')),
    Format(
        'prediction_log', 'PredictionLog TFRecords',
        "TFX BulkInferrer's `InferenceResult` (`prediction_logs-*.gz`) or another "
        "version's warmup file: TFRecords (plain or GZIP) of PredictionLog protos.",
        'PredictionLog TFRecords', TFRECORD,
        'TFRecords whose first record is a PredictionLog holding a request',
        'each record is a request as TF Serving received it; its log type names the API '
        '(`classify_log`, `regress_log`, `predict_log`, `multi_inference_log`; others are not '
        'replayed); a record with a response (BulkInferrer writes them) was answered',
        _recognise_prediction_log, _parse_prediction_log,
        ('classify_log {\n'
         '  request {\n'
         '    model_spec { name: "taxi" signature_name: "classification" }\n'
         '    input { example_list { examples { features {\n'
         '      feature { key: "trip_miles" value { float_list { value: 1.5 } } }\n'
         '    } } } }\n'
         '  }\n'
         '  response { result { classifications { classes { label: "1" score: 0.9 } } } }\n'
         '}\n',),
        ('https://www.tensorflow.org/tfx/guide/bulkinferrer',
         'https://www.tensorflow.org/tfx/serving/saved_model_warmup',
         'https://github.com/tensorflow/serving/blob/master/tensorflow_serving/apis/'
         'prediction_log.proto')),
)
BY_NAME = {f.name: f for f in FORMATS}


def known_formats() -> str:
  """The formats, for messages: "rest (TF Serving REST bodies), vertex (...), ..."."""
  return ', '.join(f'{f.name} ({f.title})' for f in FORMATS)


def by_name(name: str) -> Format:
  """The format called `name`; TrafficError naming the formats known if none is."""
  found = BY_NAME.get(name.strip().lower()) if isinstance(name, str) else None
  if found is None:
    raise TrafficError(f'No traffic log format is called {name!r}. traffic_format is one '
                       f'of: {known_formats()}.')
  return found


# -- Recognising a file from its first bytes ------------------------------------------

_HEAD_LINES = 32  # lines of the first bytes tried: a malformed first line is no verdict


def _lines_of(head: bytes) -> Iterator[bytes]:
  lines = head.split(b'\n')
  for line in lines[:_HEAD_LINES]:
    if line.strip():
      yield line


def recognise(head: bytes) -> Optional[Format]:
  """The format of a file whose first bytes (decompressed) are `head`; None if none.

  TFRecords are told by their first record. A JSON-lines file is told by the first of
  its first lines whose top-level members a format recognises, so a malformed first
  line does not hide the format of the rest.
  """
  head = head.lstrip(b'\xef\xbb\xbf')  # A UTF-8 BOM.
  for fmt in FORMATS:
    if fmt.framing == TFRECORD and fmt.recognise(head):
      return fmt
  if framing.record_length(head[:framing.HEADER_BYTES]) >= 0:
    return None
  line_formats = [f for f in FORMATS if f.framing == LINES]
  for line in _lines_of(head):
    found = head_members(line)
    if not found:
      continue
    for fmt in line_formats:
      if fmt.recognise(found):
        return fmt
  return None


def looks_like(head: bytes) -> str:
  """What a file no format recognises looks like, from its first bytes, for messages."""
  head = head.lstrip(b'\xef\xbb\xbf')
  if not head.strip():
    return 'an empty file'
  if framing.record_length(head[:framing.HEADER_BYTES]) >= 0:
    return ('TFRecords whose first record is not a PredictionLog holding a request '
            '(tf.Examples are examples: pass them as --examples)')
  lines = list(_lines_of(head))
  for line in lines:
    found = head_members(line)
    if found:
      names = ', '.join(list(found)[:8])
      event_type = _string(found.get('type'))
      if 'specversion' in found and event_type:
        return f'CloudEvents of type {event_type!r}'
      return f'JSON lines whose objects hold {names}'
  try:
    text = head.decode('utf-8')
  except UnicodeDecodeError:
    return 'binary data, neither TFRecords nor text'
  first = text.strip().split('\n', 1)[0]
  if first[:1] in ('[', '{'):
    return 'JSON that is not one object per line'
  return f'text whose first line starts {first[:60]!r}'


# -- The documentation's format reference ---------------------------------------------


def formats_markdown() -> str:
  """The documentation's format reference, from FORMATS: one section per format."""
  parts = []
  for fmt in FORMATS:
    docs = ', '.join(f'<{url}>' for url in fmt.docs)
    fence = 'json' if fmt.framing == LINES else 'text'
    what = 'Sample lines' if len(fmt.samples) > 1 else 'A sample line'
    if fmt.framing == TFRECORD:
      what = 'A sample record (protobuf text format)'
    parts += [f'### `{fmt.name}`: {fmt.title}\n',
              f'{fmt.description}\n',
              f'- Framing: {fmt.framing}; gzip (by its magic bytes) or plain.',
              f'- Recognised when {fmt.recognised_by}.',
              f'- Read: {fmt.reads}.',
              f'- Documented by the vendor: {docs}\n',
              f'{what}:\n',
              f'```{fence}', '\n'.join(s.rstrip('\n') for s in fmt.samples), '```\n']
  return '\n'.join(parts)
