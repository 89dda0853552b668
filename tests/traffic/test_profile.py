"""The traffic profile: properties checked on logs whose requests, refusals and junk are known
by construction.

Determinism is checked as for the example sample: across orders, partitions, pickled
accumulators, merge trees and Beam worker counts; the sample against the requests it is
drawn from; the newly-refused accounting against the rule of issue 28 (answered before:
the serving model accepts, or the log holds a successful response).
"""

import json
import os
import pickle
import random
import tempfile
from typing import List, Optional

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from tensorflow_serving.apis import prediction_log_pb2

from tests.combine_fns import accumulate, combine_in_parts, fresh
from tests.traffic.test_requests import SIGNATURES
from tests.traffic.test_requests import entry
from tests.traffic.test_requests import examples_body
from tests.traffic.test_requests import predict_log
from tests.traffic.test_requests import raw_predict_request
from tests.traffic.test_requests import rows
from tfx_warmup.errors import ConfigurationError
from tfx_warmup.serving.errors import RequestError
from tfx_warmup.traffic import profile as profile_lib
from tfx_warmup.traffic import requests
from tfx_warmup.traffic.entry import NotARequest
from tfx_warmup.traffic.entry import TrafficKey

TWO_THREADS = PipelineOptions(direct_running_mode='multi_threading', direct_num_workers=2)
SHAPES = 'age:[1];embedding:[3];hours:[1]'
# The new model dropped 'classify'; the serving one still has it.
NEW = {k: v for k, v in SIGNATURES.items() if k != 'classify'}


def _body(obj) -> bytes:
  return json.dumps(obj).encode()


def _traffic(seed: int = 0):
  """Logged lines of known make-up, shuffled: (entries, the counts they were built with)."""
  rng = random.Random(seed)
  entries, line = [], 0

  def add(**kwargs):
    nonlocal line
    line += 1
    entries.append(entry(source=f'logs/{line % 3}.jsonl:{line}', **kwargs))

  for i in range(300):  # Predict, batch 1..3, distinct values.
    add(body=rows(1 + i % 3, start=float(i)), api='predict')
  for _ in range(40):  # The same body, many times: one candidate for the sample.
    add(body=rows(4, start=-1.0), api='predict', answered=True)
  for i in range(60):  # Classify, batch 2, against the serving model's signature only.
    add(body=examples_body(2, 'classify'), answered=(i % 2 == 0) if i < 20 else None)
  for i in range(25):  # Refused by both: a dtype error whose quoted value varies.
    add(body=_body({'instances': [{'age': [f'old-{i}'], 'hours': [1],
                                   'embedding': [1, 2, 3]}]}),
        answered=True if i < 5 else (False if i < 15 else None))
  for i in range(12):  # Ragged rows, sizes varying: one reason.
    add(body=_body({'instances': [{'age': [1.0] * (i + 2), 'hours': [1],
                                   'embedding': [1, 2, 3]},
                                  {'age': [1.0], 'hours': [1], 'embedding': [1, 2, 3]}]}))
  for _ in range(7):  # An `examples` body nothing names the API of.
    add(body=examples_body(1, 'predict_examples'))
  for i in range(30):  # Lines that are no request.
    line += 1
    entries.append(NotARequest(f'logs/{line % 3}.jsonl:{line}', f'not JSON ({i})'))
  for _ in range(5):  # A PredictionLog with an output_filter.
    add(log=predict_log(raw_predict_request(output_filter=['probabilities'], batch=2)))
  rng.shuffle(entries)
  return entries


def _make_fn(sample_size=4, seed=7, baseline=SIGNATURES, traffic_api=None):
  return lambda: profile_lib.ProfileCombineFn(NEW, baseline, traffic_api, sample_size, seed, 3)


def _save(value, path):
  with open(path, 'wb') as f:
    pickle.dump(value, f)


def _run(entries, options: Optional[PipelineOptions] = None, **kwargs):
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, 'profile.pkl')
    with beam.Pipeline(options=options or PipelineOptions([])) as p:
      _ = (p | beam.Create(entries, reshuffle=True)
           | profile_lib.ProfileTraffic(NEW, **kwargs) | beam.Map(_save, path))
    with open(path, 'rb') as f:
      return pickle.load(f)


@pytest.fixture(scope='module')
def traffic():
  return _traffic()


@pytest.fixture(scope='module')
def reference(traffic):
  return profile_lib.profile_entries(traffic, NEW, SIGNATURES, sample_size=4, seed=7,
                                     first_sources=3)


# -- what it counts ---------------------------------------------------------------------------


def test_requests_are_counted_per_combination(reference):
  assert reference.requests_per_key() == {
      TrafficKey('predict', 'serving_default', 1, '', SHAPES): 100,
      TrafficKey('predict', 'serving_default', 2, '', SHAPES): 100,
      TrafficKey('predict', 'serving_default', 3, '', SHAPES): 100,
      TrafficKey('predict', 'serving_default', 4, '', SHAPES): 40,
      TrafficKey('predict', 'serving_default', 2, 'probabilities', SHAPES): 5,
  }
  assert list(reference.combinations)[-1].output_filter == 'probabilities'  # Largest first.
  batch_4 = reference.combinations[TrafficKey('predict', 'serving_default', 4, '', SHAPES)]
  assert (batch_4.answered, batch_4.failed) == (40, 0)
  assert reference.requests == 345
  assert reference.logged_requests == 345 + 60 + 25 + 12 + 7


def test_the_sample_is_bounded_distinct_and_drawn_from_its_combination(reference, traffic):
  sent = {}
  for each in traffic:
    if isinstance(each, NotARequest):
      continue
    try:
      logged = requests.logged_request(each, NEW, api=requests.resolve_api(
          each, [SIGNATURES, NEW]))
    except (RequestError, requests.UnknownApiError):
      continue
    sent.setdefault(logged.key, {}).setdefault(
        logged.log.SerializeToString(deterministic=True), set()).add(each.source)
  for key, combination in reference.combinations.items():
    payloads = [r.log.SerializeToString(deterministic=True) for r in combination.sample]
    assert len(payloads) == min(4, len(sent[key])) and len(set(payloads)) == len(payloads)
    for logged, payload in zip(combination.sample, payloads):
      assert logged.key == key
      assert logged.source in sent[key][payload]
  repeated = reference.combinations[TrafficKey('predict', 'serving_default', 4, '', SHAPES)]
  assert len(repeated.sample) == 1  # Sent 40 times: one request, its smallest source.
  sources = next(iter(sent[TrafficKey('predict', 'serving_default', 4, '', SHAPES)].values()))
  assert repeated.sample[0].source == min(sources, key=profile_lib.source_order)
  assert repeated.sample[0].answered is True


def test_lines_that_are_no_request_are_counted_with_the_first_sources(reference, traffic):
  junk = sorted((e.source for e in traffic if isinstance(e, NotARequest)),
                key=profile_lib.source_order)
  assert reference.not_requests.count == 30
  assert [s for s, _ in reference.not_requests.first] == junk[:3]
  reasons = {e.source: e.reason for e in traffic if isinstance(e, NotARequest)}
  assert all(reasons[s] == r for s, r in reference.not_requests.first)


def test_sources_sort_by_path_then_line():
  assert sorted(['b.jsonl:1', 'a.jsonl:10', 'a.jsonl:9', 'x.gz:record 2', 'x.gz:record 10'],
                key=profile_lib.source_order) == [
      'a.jsonl:9', 'a.jsonl:10', 'b.jsonl:1', 'x.gz:record 2', 'x.gz:record 10']


def test_refusals_are_counted_per_reason_in_tf_servings_words(reference, traffic):
  dtype = ("INVALID_ARGUMENT: Failed to process element: <n> key: age of 'instances' list. "
           'Error: INVALID_ARGUMENT: JSON Value: <value> Type: String is not of expected '
           'type: float')
  ragged = ("INVALID_ARGUMENT: Failed to process element: <n> key: age of 'instances' list. "
            'Error: INVALID_ARGUMENT: Expecting tensor size: <n> but got: <n>')
  dropped = 'INVALID_ARGUMENT: No signature was found with the name: classify'
  assert {reason: r.count for reason, r in reference.refused.items()} == {
      dropped: 60, dtype: 25, ragged: 12}
  assert reference.refused_requests == 97
  example = reference.refused[dtype]
  refused_sources = [e.source for e in traffic
                     if not isinstance(e, NotARequest) and e.body and b'old-' in e.body]
  assert example.source == min(refused_sources, key=profile_lib.source_order)
  body = next(e.body for e in traffic if getattr(e, 'source', '') == example.source)
  an_entry = entry(body=body, source=example.source)
  with pytest.raises(RequestError) as raised:
    requests.logged_request(an_entry, NEW)
  assert example.message == profile_lib.status_text(raised.value)  # The whole message.


def test_the_new_models_refusals_split_into_newly_and_already_refused(reference):
  """Newly refused: the serving model accepts it, or the log shows it answered."""
  dropped = reference.refused['INVALID_ARGUMENT: No signature was found with the name: classify']
  assert (dropped.newly_refused, dropped.already_refused) == (60, 0)  # The baseline accepts.
  dtype = next(r for reason, r in reference.refused.items() if 'Type: String' in reason)
  assert (dtype.newly_refused, dtype.already_refused) == (5, 20)  # Answered 5 times.
  assert reference.newly_refused == 60 + 5 + 0
  assert reference.baseline


def test_without_the_serving_model_the_logs_responses_decide(traffic):
  # The new model lacks 'classify', and no serving model says its method: traffic_api does.
  without = profile_lib.profile_entries(traffic, NEW, None, 'classify', sample_size=4, seed=7)
  assert not without.baseline
  dropped = without.refused['INVALID_ARGUMENT: No signature was found with the name: classify']
  # 10 answered, 10 failed, 40 with no response logged (which count: nothing says otherwise).
  assert (dropped.newly_refused, dropped.already_refused) == (50, 10)
  dtype = next(r for reason, r in without.refused.items() if 'Type: String' in reason)
  assert (dtype.newly_refused, dtype.already_refused) == (15, 10)


def test_an_api_nothing_names_is_counted_and_raised_on_demand(reference):
  assert reference.unknown_api.count == 7
  with pytest.raises(requests.UnknownApiError) as raised:
    reference.check_api_known()
  source = reference.unknown_api.first[0][0]
  assert raised.value.source == source
  assert str(raised.value).startswith(f'{source}: ')
  assert '(6 more logged requests are alike)' in str(raised.value)
  named = profile_lib.profile_entries([entry(body=examples_body(1, 'predict_examples'))],
                                      NEW, traffic_api='regress')
  named.check_api_known()
  assert named.unknown_api.count == 0 and named.refused_requests == 1


def test_a_predictionlog_without_a_request_counts_as_no_request():
  log = prediction_log_pb2.PredictionLog()
  log.session_run_log.SetInParent()
  result = profile_lib.profile_entries([entry(log=log, source='w:record 0')], NEW)
  assert result.not_requests.count == 1
  assert result.not_requests.first[0][0] == 'w:record 0'


# -- determinism ----------------------------------------------------------------------------


def test_the_profile_is_the_same_whatever_the_order_partitions_merges_and_shipping(
    reference, traffic):
  rng = random.Random(3)
  for trial in range(6):
    shuffled = list(traffic)
    rng.shuffle(shuffled)
    cuts = sorted(rng.sample(range(len(shuffled)), rng.choice([1, 5, 30])))
    parts = [shuffled[a:b] for a, b in zip([0] + cuts, cuts + [len(shuffled)])] + [[]]
    assert combine_in_parts(_make_fn(), parts, rng, ship=trial % 2 == 0) == reference, trial


def test_merging_leaves_the_other_accumulators_unchanged(traffic):
  fn = fresh(_make_fn())
  first, second = accumulate(fn, traffic[:200]), accumulate(fn, traffic[200:])
  before = pickle.dumps(second)
  fn.merge_accumulators([first, second])
  assert pickle.dumps(second) == before


def test_beam_gives_the_same_profile_on_one_and_two_workers(reference, traffic):
  kwargs = dict(baseline_signatures=SIGNATURES, sample_size=4, seed=7, first_sources=3)
  assert _run(traffic, **kwargs) == reference
  assert _run(list(reversed(traffic)), TWO_THREADS, **kwargs) == reference


def test_the_seed_changes_the_sample_and_only_the_sample(traffic, reference):
  other = profile_lib.profile_entries(traffic, NEW, SIGNATURES, sample_size=4, seed=8,
                                      first_sources=3)
  assert other.requests_per_key() == reference.requests_per_key()
  assert other.refused == reference.refused
  key = TrafficKey('predict', 'serving_default', 1, '', SHAPES)
  assert ({r.source for r in other.combinations[key].sample}
          != {r.source for r in reference.combinations[key].sample})


def test_a_sample_size_of_zero_keeps_counts_only(traffic, reference):
  counts = profile_lib.profile_entries(traffic, NEW, SIGNATURES, sample_size=0)
  assert counts.requests_per_key() == reference.requests_per_key()
  assert all(not c.sample for c in counts.combinations.values())
  with pytest.raises(ConfigurationError):
    profile_lib.ProfileCombineFn(NEW, sample_size=-1)


def test_reasons_beyond_the_cap_are_counted_together_exactly(monkeypatch):
  """The kept reasons are the smallest by text, so every partition keeps the same ones."""
  monkeypatch.setattr(profile_lib, 'MAX_REASONS', 3)
  entries = [entry(body=_body({'signature_name': f'v{i % 6}', 'instances': [1.0]}),
                   source=f'a:{i}') for i in range(60)]
  reference = profile_lib.profile_entries(entries, NEW)
  assert [r.count for r in reference.refused.values()] == [30, 10, 10, 10]
  assert list(reference.refused)[0] == profile_lib.OTHER_REASONS
  assert sorted(list(reference.refused)[1:]) == sorted(
      f'INVALID_ARGUMENT: Serving signature name: "v{i}" not found in signature def'
      for i in range(3))
  rng = random.Random(1)
  for _ in range(4):
    shuffled = list(entries)
    rng.shuffle(shuffled)
    parts = [shuffled[i::5] for i in range(5)]
    assert combine_in_parts(lambda: profile_lib.ProfileCombineFn(NEW), parts, rng) == reference


# -- after the profile ---------------------------------------------------------------------


def test_with_refused_moves_a_combination_into_the_refused_table(reference):
  key = TrafficKey('predict', 'serving_default', 3, '', SHAPES)
  error = RequestError('INVALID_ARGUMENT', 'Matrix size-incompatible: In[0]: [3,5]')
  moved = reference.with_refused(key, error, baseline_accepts=False)
  assert key not in moved.combinations and key in reference.combinations  # A new profile.
  assert moved.requests == reference.requests - 100
  assert moved.refused_requests == reference.refused_requests + 100
  refusal = moved.refused['INVALID_ARGUMENT: Matrix size-incompatible: In[0]: [3,5]']
  assert (refusal.count, refusal.newly_refused, refusal.already_refused) == (100, 0, 100)
  assert refusal.source == min((r.source for r in reference.combinations[key].sample),
                               key=profile_lib.source_order)
  assert moved.refused_combinations[key] == profile_lib.RefusedCombination(
      'INVALID_ARGUMENT: Matrix size-incompatible: In[0]: [3,5]', 100)
  assert list(moved.refused)[0].endswith('Matrix size-incompatible: In[0]: [3,5]')  # Largest.


def test_with_refused_counts_newly_refused_by_the_serving_model_and_the_log(reference):
  answered = TrafficKey('predict', 'serving_default', 4, '', SHAPES)  # 40, all answered.
  unknown = TrafficKey('predict', 'serving_default', 2, 'probabilities', SHAPES)  # 5, none.
  for key, accepts, newly in ((answered, False, 40), (unknown, False, 0), (unknown, True, 5),
                              (unknown, None, 5)):
    moved = reference.with_refused(key, 'INTERNAL: graph', baseline_accepts=accepts)
    assert moved.refused['INTERNAL: graph'].newly_refused == newly, (key, accepts)
  twice = (reference.with_refused(answered, 'INTERNAL: graph')
           .with_refused(unknown, 'INTERNAL: graph'))
  assert twice.refused['INTERNAL: graph'].count == 45
  with pytest.raises(KeyError):
    twice.with_refused(answered, 'INTERNAL: graph')


def test_the_profile_round_trips_through_json_and_pickle(reference):
  moved = reference.with_refused(TrafficKey('predict', 'serving_default', 1, '', SHAPES),
                                 'INTERNAL: x')
  for value in (reference, moved):
    assert profile_lib.TrafficProfile.from_dict(json.loads(json.dumps(value.to_dict()))) == value
    assert pickle.loads(pickle.dumps(value)) == value


# -- reasons ---------------------------------------------------------------------------------


@pytest.mark.parametrize('message,expected', [
    ('JSON Parse error: Invalid value. at offset: 17',
     'JSON Parse error: Invalid value. at offset: <n>'),
    ('JSON Value: {\n    "instances": 3\n} Expecting \'instances\' to be an list/array',
     "JSON Value: <value> Expecting 'instances' to be an list/array"),
    ('JSON Value: [1, 2] Is not object', 'JSON Value: <value> Is not object'),
    ("Failed to process element: 1 of 'instances' list. JSON object: {\n    \"a\": 1\n} keys "
     'must be equal to: a,b',
     "Failed to process element: <n> of 'instances' list. JSON object: <value> keys must be "
     'equal to: a,b'),
    ("Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: Encountered "
     'list at unexpected size: 3 at level: 1 expected size: 4',
     "Failed to process element: <n> of 'instances' list. Error: INVALID_ARGUMENT: Encountered "
     'list at unexpected size: <n> at level: 1 expected size: <n>'),
    ('Expecting shape [2,1] but got: [3]', 'Expecting shape <shape> but got: <shape>'),
    ('Expecting object but got list at item 12 of input list',
     'Expecting object but got list at item <n> of input list'),
    ('Serving signature name: "v1" not found in signature def',
     'Serving signature name: "v1" not found in signature def'),
    ('output tensor alias not found in signature: logit Outputs expected to be in the set '
     '{logits,probabilities}.', 'output tensor alias not found in signature: logit Outputs '
     'expected to be in the set {logits,probabilities}.'),
])
def test_normalise_reason_drops_only_what_varies_per_request(message, expected):
  assert profile_lib.normalise_reason(message) == expected


def test_one_mistake_with_different_values_is_one_reason():
  """Strings of any content for an int64 input are one reason; a boolean is another."""
  reasons: List[str] = []
  for value in ('"x"', '"a longer string, with Type: and Is not object in it"', '"3"', 'true'):
    body = ('{"instances": [{"age": [1.0], "hours": [%s], "embedding": [1, 2, 3]}]}'
            % value).encode()
    with pytest.raises(RequestError) as raised:
      requests.logged_request(entry(body=body), NEW)
    reasons.append(profile_lib.normalise_reason(profile_lib.status_text(raised.value)))
  assert len(set(reasons[:3])) == 1, reasons
  assert reasons[0].endswith('JSON Value: <value> Type: String is not of expected type: int64')
  assert reasons[3].endswith('JSON Value: <value> Type: True is not of expected type: int64')


# -- through the log readers ----------------------------------------------------------------


def test_a_rest_log_file_read_by_the_readers_is_profiled_in_beam(tmp_path):
  """End to end: a JSON-lines file of logged calls and bare bodies, read by `traffic.logs`,
  profiled by the PTransform; each line's fate known by construction."""
  from tfx_warmup.traffic import logs
  call = {'path': '/v1/models/ctr/versions/3:classify', 'status': 200,
          'body': {'signature_name': 'classify', 'examples': [{'age': 30.5}, {'age': 41.0}]}}
  lines = [json.dumps(call),
           rows(2).decode(),
           rows(2, start=5.0).decode(),
           '{"instances": [1.0, 2.0',  # Cut short: TF Serving's parser refuses it.
           json.dumps({'signature_name': 'predict_v1', 'instances': [1.0]}),
           json.dumps({'path': '/v1/models/ctr:regress', 'status': 400,
                       'body': {'signature_name': 'regress', 'examples': [{'age': 1.0}]}})]
  path = tmp_path / 'requests.jsonl'
  path.write_text('\n'.join(lines) + '\n')
  files = logs.resolve_traffic(str(path))
  entries = list(files.entries())
  result = _run(entries, TWO_THREADS, baseline_signatures=SIGNATURES, sample_size=2, seed=1)
  assert result == profile_lib.profile_entries(entries, NEW, SIGNATURES, sample_size=2, seed=1)
  assert result.requests_per_key() == {
      TrafficKey('predict', 'serving_default', 2, '', SHAPES): 2,
      TrafficKey('regress', 'regress', 1): 1}
  classify = result.refused['INVALID_ARGUMENT: No signature was found with the name: classify']
  assert (classify.count, classify.newly_refused, classify.source) == (1, 1, f'{path}:1')
  assert sum(r.count for r in result.refused.values()) + result.not_requests.count == 3
  sample = result.combinations[TrafficKey('regress', 'regress', 1)].sample
  assert [(r.source, r.answered) for r in sample] == [(f'{path}:6', False)]
  assert sample[0].log.regress_log.request.model_spec.name == 'ctr'
