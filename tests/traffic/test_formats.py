"""Each traffic log format reads a line into the request a client sent, or says why not."""

import base64
import gzip
import json

import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.data import file_kinds
from tfx_warmup.errors import TrafficError
from tfx_warmup.serving import framing
from tfx_warmup.traffic import formats
from tfx_warmup.traffic.entry import LogEntry
from tfx_warmup.traffic.entry import NotARequest

REST = formats.BY_NAME['rest']
VERTEX = formats.BY_NAME['vertex']
SAGEMAKER = formats.BY_NAME['sagemaker']
KSERVE = formats.BY_NAME['kserve']
PREDICTION_LOG = formats.BY_NAME['prediction_log']


def _record(data: bytes) -> bytes:
  return framing.header(len(data)) + data + framing.masked_crc32c(data).to_bytes(4, 'little')


def _file_head(fmt: formats.Format) -> bytes:
  if fmt.framing == formats.TFRECORD:
    return b''.join(_record(r) for r in fmt.sample_bytes())
  return b'\n'.join(fmt.sample_bytes()) + b'\n'


# -- The table: one entry per format, its samples its own -----------------------------


def test_the_table_holds_the_five_formats_once():
  assert [f.name for f in formats.FORMATS] == ['rest', 'vertex', 'sagemaker', 'kserve',
                                               'prediction_log']
  for fmt in formats.FORMATS:
    assert fmt.samples and fmt.docs and fmt.description and fmt.recognised_by, fmt.name
    assert all(url.startswith('https://') for url in fmt.docs), fmt.name


@pytest.mark.parametrize('fmt', formats.FORMATS, ids=lambda f: f.name)
def test_every_sample_in_the_docs_is_a_request_of_its_own_format(fmt):
  for i, sample in enumerate(fmt.sample_bytes()):
    entry = fmt.parse(sample, f'docs:{i + 1}')
    assert isinstance(entry, LogEntry), entry
    assert entry.format == fmt.name and entry.source == f'docs:{i + 1}'
    assert (entry.body is None) == (fmt.framing == formats.TFRECORD)
    assert (entry.log is None) == (fmt.framing == formats.LINES)


@pytest.mark.parametrize('fmt', formats.FORMATS, ids=lambda f: f.name)
def test_every_sample_file_is_recognised_as_its_own_format(fmt):
  assert formats.recognise(_file_head(fmt)) is fmt
  assert formats.recognise(b'\xef\xbb\xbf' + _file_head(fmt)) is fmt  # A UTF-8 BOM.


@pytest.mark.parametrize('fmt', [f for f in formats.FORMATS if f.framing == formats.LINES],
                         ids=lambda f: f.name)
def test_a_first_line_cut_by_the_head_still_tells_the_format(fmt):
  line = fmt.sample_bytes()[0]
  cut = line[:line.index(b'{', 1) + 5]  # Into the first nested object.
  assert formats.recognise(cut) is fmt, cut


def test_a_malformed_first_line_does_not_hide_the_format_of_the_next():
  head = b'garbage from a crash\n{"instances": [[1' + b'\n' + REST.sample_bytes()[0] + b'\n'
  assert formats.recognise(head) is REST


def test_the_reference_is_generated_from_the_table():
  page = formats.formats_markdown()
  for fmt in formats.FORMATS:
    assert f'### `{fmt.name}`: {fmt.title}' in page
    for sample in fmt.samples:
      assert sample.rstrip('\n') in page
    for url in fmt.docs:
      assert f'<{url}>' in page


def test_a_format_is_named_as_traffic_format_names_it():
  assert formats.by_name('Vertex') is VERTEX
  with pytest.raises(TrafficError, match=r"No traffic log format is called 'bigquery'\. "
                     r'traffic_format is one of: rest \(TF Serving REST bodies\), vertex'):
    formats.by_name('bigquery')


# -- rest -----------------------------------------------------------------------------


def test_a_bare_body_is_the_line_itself_and_names_no_api():
  line = b'  {"instances": [1, 2]}  '
  assert REST.parse(line, 'f:1') == LogEntry('f:1', 'rest', body=b'{"instances": [1, 2]}')


def test_a_body_is_handed_on_as_the_bytes_logged_not_as_python_reads_them():
  """Inf, int64 beyond 2^53, duplicate keys and 1e400 mean to TF Serving what they say."""
  body = (b'{"inputs": {"x": [Inf, -Infinity, NaN]}, "inputs": 1, '
          b'"ids": [9007199254740993], "big": 1e400}')
  for line in (body, b'{"path": "/v1/models/m:predict", "body": ' + body + b'}'):
    assert REST.parse(line, 'f:1').body == body


@pytest.mark.parametrize('path,model,api', [
    ('/v1/models/taxi:predict', 'taxi', 'predict'),
    ('/v1/models/taxi/versions/12:classify', 'taxi', 'classify'),
    ('/v1/models/taxi/labels/stable:regress', 'taxi', 'regress'),
    ('/v1/models/taxi:PREDICT', 'taxi', 'predict'),
    ('http://serving:8501/v1/models/taxi:predict?trace=1', 'taxi', 'predict'),
])
def test_the_path_names_the_model_and_the_api(path, model, api):
  line = json.dumps({'path': path, 'body': {'instances': [1]}}).encode()
  entry = REST.parse(line, 'f:3')
  assert (entry.model_name, entry.api, entry.body) == (model, api, b'{"instances": [1]}')


@pytest.mark.parametrize('path', ['/v1/models/taxi/metadata', '/v1/models/taxi:explain',
                                  '/healthz', '/v1/models/taxi/versions/x:predict'])
def test_a_path_that_calls_no_inference_api_is_not_a_request(path):
  line = json.dumps({'path': path, 'body': {'instances': [1]}}).encode()
  entry = REST.parse(line, 'f:4')
  assert entry == NotARequest('f:4', f"path {path!r} calls none of TF Serving's predict, "
                              'classify or regress APIs')


def test_a_body_logged_as_a_string_is_its_text():
  line = json.dumps({'path': '/v1/models/m:classify', 'body': '{"examples": [{"a": 1}]}'})
  assert REST.parse(line.encode(), 'f:1').body == b'{"examples": [{"a": 1}]}'


@pytest.mark.parametrize('extra,answered', [
    ({}, None), ({'status': 200}, True), ({'status': 204}, True), ({'status': 400}, False),
    ({'status': 503, 'response': {'predictions': [1]}}, False),
    ({'response': {'predictions': [1]}}, True),
    ({'response': {'error': 'Serving signature name: "x" not found'}}, False),
    ({'response': None}, None),
])
def test_status_then_response_say_whether_it_was_answered(extra, answered):
  line = json.dumps({'path': '/v1/models/m:predict', 'body': {'instances': [1]}, **extra})
  assert REST.parse(line.encode(), 'f:1').answered is answered


@pytest.mark.parametrize('line,reason', [
    (b'{"instances": [[1, 2], [3', 'not a JSON object: 2 bracket(s) not closed (cut short?)'),
    (b'{"instances": "abc', 'not a JSON object: a string is not closed (cut short?)'),
    (b'GET /healthz 200', 'not a JSON object: not a JSON object'),
    (b'[{"instances": [1]}]', 'not a JSON object: not a JSON object'),
    (b'{"instances": [1}]}', "not a JSON object: a '}' where ']' belongs, at byte 16"),
    (b'{"instances": [1]]}', "not a JSON object: no ',' or '}' after member 'instances'"),
    (b'{"instances" [1]}', "not a JSON object: no ':' after member 'instances'"),
    (b'{"instances": [1] "x": 2}', "not a JSON object: no ',' or '}' after member 'instances'"),
    (b'{"path": "/v1/models/m:predict"}', 'a logged call with no "body"'),
    (b'{"path": "/v1/models/m:predict", "body": [1]}',
     '"body" is neither a JSON object nor a string holding one'),
])
def test_a_malformed_line_is_not_a_request_and_says_why(line, reason):
  assert REST.parse(line, 'logs/a.jsonl:7') == NotARequest('logs/a.jsonl:7', reason)


# -- vertex ---------------------------------------------------------------------------


def _vertex_row(payload, response=None) -> bytes:
  row = {'endpoint': 'projects/1/locations/us-central1/endpoints/2', 'deployed_model_id': '3',
         'logging_time': '2024-05-01 12:00:00 UTC', 'request_id': '4',
         'request_payload': payload, 'response_payload': response}
  return json.dumps(row).encode()


def test_a_vertex_row_of_instances_is_one_predict_body_of_them_all():
  entry = VERTEX.parse(_vertex_row(['{"a": 1}', '[1, 2]'], ['{"scores": [1]}']), 'v:1')
  assert entry.body == b'{"instances": [{"a": 1}, [1, 2]]}'
  assert (entry.api, entry.answered) == ('predict', True)


def test_a_vertex_row_holding_a_whole_body_is_that_body():
  body = '{"signature_name": "s", "instances": [{"a": 9007199254740993}]}'
  entry = VERTEX.parse(_vertex_row([body]), 'v:1')
  assert (entry.body, entry.api, entry.answered) == (body.encode(), 'predict', None)
  examples = VERTEX.parse(_vertex_row(['{"examples": [{"a": 1}]}']), 'v:2')
  assert examples.api is None  # Classify or Regress: the signature says which.


@pytest.mark.parametrize('payload,reason', [
    ([], 'a row with no request_payload'), (None, 'a row with no request_payload'),
    ([1, 2], 'request_payload is not a string or a list of strings'),
])
def test_a_vertex_row_without_a_request_says_so(payload, reason):
  assert VERTEX.parse(_vertex_row(payload), 'v:5') == NotARequest('v:5', reason)


# -- sagemaker ------------------------------------------------------------------------


def _capture(data: str, encoding: str, content_type='application/json', output=None) -> bytes:
  capture = {'endpointInput': {'observedContentType': content_type, 'mode': 'INPUT',
                               'data': data, 'encoding': encoding}}
  if output is not None:
    capture['endpointOutput'] = {'observedContentType': 'application/json', 'mode': 'OUTPUT',
                                 'data': output, 'encoding': 'JSON'}
  return json.dumps({'captureData': capture, 'eventMetadata': {'eventId': 'e'},
                     'eventVersion': '0'}).encode()


def test_a_capture_in_base64_or_json_is_its_decoded_body():
  body = b'{"instances": [[1.0, Infinity]]}'
  for line in (_capture(base64.b64encode(body).decode(), 'BASE64'),
               _capture(body.decode(), 'JSON')):
    entry = SAGEMAKER.parse(line, 's:1')
    assert (entry.body, entry.api, entry.answered) == (body, 'predict', None)


def test_a_capture_output_says_whether_it_was_answered():
  ok = _capture('{"instances": [1]}', 'JSON', output='{"predictions": [1]}')
  refused = _capture('{"instances": [1]}', 'JSON', output='{"error": "bad input"}')
  assert SAGEMAKER.parse(ok, 's:1').answered is True
  assert SAGEMAKER.parse(refused, 's:2').answered is False


@pytest.mark.parametrize('line,reason', [
    (_capture('1.5,2.0', 'CSV', 'text/csv'),
     'endpointInput holds a CSV payload (text/csv): TF Serving takes JSON bodies, so it is '
     'not a request tfx-warmup can replay'),
    (_capture('not base64!', 'BASE64'), 'endpointInput holds "data" is not valid base64'),
    (_capture(base64.b64encode(b'\x89PNG').decode(), 'BASE64', 'image/png'),
     "endpointInput holds a payload of content type 'image/png': TF Serving takes JSON "
     'bodies, so it is not a request tfx-warmup can replay'),
    (b'{"captureData": {"endpointOutput": {"data": "{}", "encoding": "JSON"}}}',
     'a capture with no endpointInput (the output alone)'),
])
def test_a_capture_without_a_json_request_says_why(line, reason):
  assert SAGEMAKER.parse(line, 's:9') == NotARequest('s:9', reason)


# -- kserve ---------------------------------------------------------------------------


def _event(event_type=formats.KSERVE_REQUEST, **data) -> bytes:
  event = {'specversion': '1.0', 'type': event_type, 'source': 'http://localhost:9081/',
           'id': 'e1', 'inferenceservicename': 'taxi', 'namespace': 'default', **data}
  return json.dumps(event).encode()


def test_a_request_event_is_its_data_in_any_of_the_three_spellings():
  body = b'{"instances": [[6.8, 2.8]]}'
  for line in (_event(data=json.loads(body)), _event(data=body.decode()),
               _event(data_base64=base64.b64encode(body).decode())):
    entry = KSERVE.parse(line, 'k:1')
    assert json.loads(entry.body) == json.loads(body)
    assert (entry.api, entry.model_name, entry.answered) == ('predict', 'taxi', None)


def test_a_request_event_body_keeps_the_bytes_the_sink_wrote():
  line = (b'{"specversion": "1.0", "type": "org.kubeflow.serving.inference.request", '
          b'"data": {"instances": [1e400, 9007199254740993], "instances": 2}}')
  assert KSERVE.parse(line, 'k:1').body == (
      b'{"instances": [1e400, 9007199254740993], "instances": 2}')


def test_events_that_are_not_requests_say_so():
  assert KSERVE.parse(_event(formats.KSERVE_RESPONSE, data={'predictions': [1]}),
                      'k:2') == NotARequest('k:2', 'a response event')
  assert KSERVE.parse(_event('dev.knative.ping', data={}), 'k:3') == NotARequest(
      'k:3', f"an event of type 'dev.knative.ping', not {formats.KSERVE_REQUEST}")
  assert KSERVE.parse(_event(), 'k:4') == NotARequest(
      'k:4', 'a request event with no JSON body in "data" or "data_base64"')


@pytest.mark.parametrize('fmt', [VERTEX, SAGEMAKER, KSERVE], ids=lambda f: f.name)
def test_a_cut_vendor_line_is_not_a_request_and_says_why(fmt):
  line = fmt.sample_bytes()[0]
  entry = fmt.parse(line[:len(line) // 2], 'v:3')
  assert isinstance(entry, NotARequest) and entry.source == 'v:3'
  assert entry.reason.startswith('not a JSON object: ') and 'cut short' in entry.reason
  assert fmt.parse(b'{"a": 1} trailing', 'v:4').reason.startswith(
      'not the JSON its log writes: Extra data')


# -- prediction_log -------------------------------------------------------------------


@pytest.mark.parametrize('text,api,model', [
    ('predict_log { request { model_spec { name: "m" } inputs { key: "x" value { '
     'dtype: DT_FLOAT float_val: 1 } } } }', 'predict', 'm'),
    ('regress_log { request { input { example_list { examples {} } } } }', 'regress', None),
    ('multi_inference_log { request { tasks { model_spec { name: "mt" } method_name: '
     '"tensorflow/serving/classify" } input { example_list { examples {} } } } }',
     'multi_inference', 'mt'),
])
def test_a_prediction_log_names_its_api_by_its_log_type(text, api, model):
  record = text_format.Parse(text, prediction_log_pb2.PredictionLog()).SerializeToString()
  entry = PREDICTION_LOG.parse(record, 'w:record 1')
  assert (entry.api, entry.model_name, entry.answered) == (api, model, None)
  assert entry.log.SerializeToString() == record


def test_records_that_hold_no_replayable_request_say_so():
  session_run = text_format.Parse('session_run_log {}', prediction_log_pb2.PredictionLog())
  assert PREDICTION_LOG.parse(session_run.SerializeToString(), 'w:record 2') == NotARequest(
      'w:record 2', 'a session_run_log, which TF Serving does not replay as warmup')
  assert PREDICTION_LOG.parse(b'', 'w:record 3') == NotARequest(
      'w:record 3', 'a PredictionLog with no log')
  assert PREDICTION_LOG.parse(b'\xff\xff\xff', 'w:record 4').reason.startswith(
      'not a PredictionLog')


def test_tfrecords_of_examples_are_not_prediction_logs():
  example = tf.train.Example()
  example.features.feature['x'].float_list.value.append(1.5)
  sequence = tf.train.SequenceExample()
  sequence.feature_lists.feature_list['x'].feature.add().float_list.value.append(1.5)
  for record in (example.SerializeToString(), sequence.SerializeToString()):
    assert formats.recognise(_record(record)) is None
    assert 'TFRecords whose first record is not a PredictionLog' in formats.looks_like(
        _record(record))


# -- What a file no format knows looks like, and examples-side wording ----------------


@pytest.mark.parametrize('head,looks', [
    (b'', 'an empty file'),
    (b'{"fare": 7.25, "company": "Flash Cab"}\n', 'JSON lines whose objects hold fare, company'),
    (b'[{"fare": 7.25}]', 'JSON that is not one object per line'),
    (b'trip_miles,fare\n1.5,7.25\n', "text whose first line starts 'trip_miles,fare'"),
    (bytes(range(256)), 'binary data, neither TFRecords nor text'),
    (b'{"specversion": "1.0", "type": "com.example.order"}\n',
     "CloudEvents of type 'com.example.order'"),
])
def test_a_file_of_no_format_is_described_for_what_it_looks_like(head, looks):
  assert formats.recognise(head) is None
  assert formats.looks_like(head) == looks


@pytest.mark.parametrize('fmt', [f for f in formats.FORMATS if f.framing == formats.LINES],
                         ids=lambda f: f.name)
def test_traffic_passed_as_examples_is_named_as_traffic_with_the_flag_that_takes_it(fmt):
  head = _file_head(fmt)
  found = file_kinds.identify('/in/requests.jsonl', head)
  assert found.kind == f'{fmt.what}, not TFRecords of tf.Examples'
  assert found.describe().startswith(f'/in/requests.jsonl is {fmt.what}, not TFRecords')
  assert found.fix == (f'It is logged serving traffic ({fmt.name} format), not examples: '
                       "pass it as traffic_logs='/in/requests.jsonl', which warms from the "
                       'requests it holds.')
  gzipped = file_kinds.identify('/in/requests.jsonl.gz', gzip.compress(head))
  assert gzipped.kind == f'a gzip file holding {fmt.what}, not TFRecords of tf.Examples'


def test_rest_bodies_passed_as_examples_are_no_longer_just_a_json_file():
  found = file_kinds.identify('/in/bodies.json', b'{"instances": [{"fare": 7.25}]}\n')
  assert found.describe() == (
      '/in/bodies.json is TF Serving REST traffic (JSON lines of request bodies), not '
      'TFRecords of tf.Examples. It is logged serving traffic (rest format), not examples: '
      "pass it as traffic_logs='/in/bodies.json', which warms from the requests it holds.")
  rows = file_kinds.identify('/in/rows.json', b'{"fare": 7.25}\n')
  assert rows.kind == 'a JSON file, not TFRecords of tf.Examples'  # Rows are still rows.
