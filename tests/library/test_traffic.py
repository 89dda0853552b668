"""Warmup from serving traffic logs, the gate against breaking clients, and the profile.

A real model (tests/models.py's TF1 model: 'classify', 'regress', and a Predict
'serving_default' on serialized examples) and REST logs written here, as a gateway
would log calls to TF Serving.
"""

import base64
import json
import os

import pytest
import tensorflow as tf

from tfx_warmup import library
from tfx_warmup.errors import ConfigurationError, RefusedTrafficError, TrafficError
from tfx_warmup.options import WarmupOptions
from tfx_warmup.serving import records as records_lib
from tfx_warmup.serving import warmup_file

from tests import models


def _features(example) -> dict:
  """A tf.Example as TF Serving's REST `examples` takes it."""
  out = {}
  for name, feature in example.features.feature.items():
    kind = feature.WhichOneof('kind')
    values = list(getattr(feature, kind).value)
    if kind == 'bytes_list':
      values = [v.decode() for v in values]
    out[name] = values if len(values) != 1 else values[0]
  return out


def _call(api: str, body: dict, status: int = 200, model: str = 'm') -> str:
  return json.dumps({'path': f'/v1/models/{model}:{api}', 'body': body, 'status': status})


def _log(tmp_path, lines, name='traffic.jsonl') -> str:
  path = tmp_path / name
  path.write_text('\n'.join(lines) + '\n')
  return str(path)


def _traffic(examples) -> list:
  """Classify at batch 1 (most), regress at 3, Predict on serialized examples at 2, junk."""
  lines = []
  for i in range(12):
    lines.append(_call('classify', {'signature_name': 'classify',
                                    'examples': [_features(examples[i])]}))
  for i in range(4):
    lines.append(_call('regress', {'signature_name': 'regress',
                                   'examples': [_features(e) for e in examples[i:i + 3]]}))
  for i in range(3):
    lines.append(_call('predict', {'instances': [
        {'b64': base64.b64encode(e.SerializeToString()).decode()}
        for e in examples[i:i + 2]]}))
  lines.append('{"path": "/v1/models/m:classify", "body": {"exam')  # Cut short.
  return lines


@pytest.fixture(scope='module')
def traffic_log(tmp_path_factory, examples) -> str:
  return _log(tmp_path_factory.mktemp('logs'), _traffic(examples))


def test_warmup_from_logged_requests_covers_what_clients_send(tf1_model_dir, traffic_log,
                                                              tmp_path):
  options = WarmupOptions(traffic_logs=traffic_log, measure=False, model_name='m')
  report = library.warm_model(tf1_model_dir, None, str(tmp_path / 'out'), options)

  records = warmup_file.read_warmup_file(
      os.path.join(str(tmp_path / 'out'), 'assets.extra', 'tf_serving_warmup_requests'))
  keys = {(k.api, k.signature, k.batch_size) for k in map(records_lib.record_key, records)}
  # The batch sizes are the traffic's, not the defaults (1..128).
  assert keys == {('classify', 'classify', 1), ('regress', 'regress', 3),
                  ('predict', 'serving_default', 2)}
  section = report.traffic
  assert section.requests == 19 and section.not_requests == 1
  assert section.not_request_examples[0].startswith(f'{traffic_log}:20: ')
  assert section.coverage == 1.0 and section.payloads == 'requests'
  assert [c.requests for c in section.combinations] == [12, 4, 3]
  assert all(c.warmed for c in section.combinations)
  assert report.validation.ok and report.sample is None
  # Each logged record keeps only what its signature parses (tests/models.py's features).
  assert report.stripping.bytes_after < report.stripping.bytes_before


def test_budget_leaves_the_smallest_combinations_out_and_says_why(tf1_model_dir, traffic_log,
                                                                  tmp_path):
  options = WarmupOptions(traffic_logs=traffic_log, measure=False, max_records=2)
  section = library.warm_model(tf1_model_dir, None, str(tmp_path / 'out'), options).traffic
  assert [(c.requests, c.warmed) for c in section.combinations] == [
      (12, True), (4, True), (3, False)]
  assert section.combinations[2].why_not.startswith('budget')
  assert section.coverage == pytest.approx(16 / 19)


def test_a_model_that_dropped_a_signature_clients_call_fails_the_gate(
    tf1_model_dir, examples, tmp_path):
  lines = _traffic(examples) + [
      _call('classify', {'signature_name': 'classify_v1',
                         'examples': [_features(examples[0])]}) for _ in range(5)]
  log = _log(tmp_path, lines)
  with pytest.raises(RefusedTrafficError) as raised:
    library.warm_model(tf1_model_dir, None, str(tmp_path / 'out'),
                       WarmupOptions(traffic_logs=log, measure=False))
  message = str(raised.value)
  assert 'would refuse 5 of 24 logged requests (20.8%)' in message
  assert 'classify_v1' in message and f'{log}:21' in message
  assert not os.path.exists(tmp_path / 'out')  # Nothing written.

  # A user who means to break those clients sets the share; the report keeps the counts.
  report = library.warm_model(tf1_model_dir, None, str(tmp_path / 'out'), WarmupOptions(
      traffic_logs=log, measure=False, max_refused_traffic=0.25))
  assert report.traffic.newly_refused == 5
  assert report.traffic.refused[0].requests == 5


def test_requests_refused_already_do_not_count_against_the_gate(tf1_model_dir, examples,
                                                                 tmp_path):
  """Junk a client sends today, answered with an error, is no regression."""
  lines = _traffic(examples) + [
      _call('classify', {'signature_name': 'nope', 'examples': [_features(examples[0])]},
            status=400)]
  report = library.warm_model(tf1_model_dir, None, str(tmp_path / 'out'), WarmupOptions(
      traffic_logs=_log(tmp_path, lines), measure=False))
  assert report.traffic.newly_refused == 0
  assert [r.requests for r in report.traffic.refused] == [1]


def test_logs_of_another_model_are_named_so(tf1_model_dir, tmp_path):
  lines = [_call('predict', {'instances': [{'pixels': [0.0, 1.0]}]}) for _ in range(3)]
  with pytest.raises(RefusedTrafficError, match='accepts none of them: are these the logs '
                                                'of another model'):
    library.warm_model(tf1_model_dir, None, str(tmp_path / 'out'),
                       WarmupOptions(traffic_logs=_log(tmp_path, lines), measure=False))


def test_examples_payloads_warm_the_traffics_combinations_from_examples(
    tf1_model_dir, traffic_log, tmp_path):
  options = WarmupOptions(traffic_logs=traffic_log, traffic_payloads='examples',
                          measure=False, num_examples=16)
  path = str(tmp_path / 'eval.tfrecord')
  with tf.io.TFRecordWriter(path) as writer:
    for example in models.make_examples(40):
      writer.write(example.SerializeToString())
  source = library.resolve_examples(path)
  report = library.warm_model(tf1_model_dir, source, str(tmp_path / 'out'), options)
  keys = {(r.api, r.signature, r.batch_size) for r in report.warmup_file.summary}
  assert keys == {('classify', 'classify', 1), ('regress', 'regress', 3),
                  ('predict', 'serving_default', 2)}
  assert report.traffic.payloads == 'examples' and report.traffic.coverage == 1.0


def test_without_examples_the_records_must_be_the_logged_requests(tf1_model_dir, tmp_path):
  with pytest.raises(ConfigurationError, match="traffic_payloads='requests'"):
    library.warm_model(tf1_model_dir, None, str(tmp_path / 'out'),
                       WarmupOptions(measure=False))


def test_profile_reports_and_plots_without_warming(tf1_model_dir, traffic_log, tmp_path):
  plot = str(tmp_path / 'traffic.png')
  report = library.profile_traffic(tf1_model_dir, traffic_log, plot_path=plot)
  assert report.traffic.requests == 19 and report.traffic.coverage is None
  assert [c.warmed for c in report.traffic.combinations] == [False] * 3
  with open(plot, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_logs_that_hold_no_request_are_refused_with_their_lines(tf1_model_dir, tmp_path):
  log = _log(tmp_path, ['{"path": "/v1/models/m:classify", "body": {"exam', 'not json'])
  with pytest.raises(TrafficError, match=f'No line of the traffic logs {log} is a request '
                                         rf'\(2 lines read, e.g. {log}:1: '):
    library.warm_model(tf1_model_dir, None, str(tmp_path / 'out'),
                       WarmupOptions(traffic_logs=log, measure=False))
  assert not os.path.exists(tmp_path / 'out')


def test_a_model_refusing_every_request_has_nothing_to_warm_even_past_the_gate(
    tf1_model_dir, tmp_path):
  lines = [_call('predict', {'instances': [{'pixels': [0.0, 1.0]}]}) for _ in range(3)]
  with pytest.raises(RefusedTrafficError, match='refuses every logged request'):
    library.warm_model(tf1_model_dir, None, str(tmp_path / 'out'), WarmupOptions(
        traffic_logs=_log(tmp_path, lines), measure=False, max_refused_traffic=1.0))
