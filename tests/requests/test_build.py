"""Warmup records: combinations, the budget rule, MultiInference and output filters."""

import os
import subprocess
import sys

import pytest

from tfx_warmup import serving
from tfx_warmup.requests import signatures
from tfx_warmup.serving import records as records_lib
from tfx_warmup.requests import build as warmup_requests
from tfx_warmup.errors import ConfigurationError, ExamplesError, RecordBudgetError
from tfx_warmup.serving.records import RecordKey
from tfx_warmup.requests.build import plan_combinations


@pytest.fixture(scope='module')
def tf1_plans(tf1_model_dir):
  return signatures.plan_signatures(
      serving.read_meta_graph(tf1_model_dir, ['serve']), tf1_model_dir).usable


def _serialized(examples, n):
  return [e.SerializeToString() for e in examples[:n]]


def _only(plans, *names):
  return [p for p in plans if p.name in names]


def test_every_combination_gets_full_batches_up_to_its_share(tf1_plans, examples):
  combinations = plan_combinations(_only(tf1_plans, 'classify', 'serving_default'),
                                   [1, 4, 32], multi_inference=False)
  records = warmup_requests.build_warmup_records(
      _serialized(examples, 10), combinations, requests_per_combination=5, model_name='m')
  # ceil(10 / b) distinct requests exist; at most 5 per combination are built.
  assert records_lib.summarize(records) == {
      RecordKey(kind, sig, b): n
      for kind, sig in (('classify', 'classify'), ('predict', 'serving_default'))
      for b, n in ((1, 5), (4, 3), (32, 1))}
  assert all(getattr(r, r.WhichOneof('log_type')).request.model_spec.name == 'm'
             for r in records)


def test_consecutive_requests_take_consecutive_examples_wrapping_around(tf1_plans, examples):
  serialized = _serialized(examples, 10)
  combinations = plan_combinations(_only(tf1_plans, 'serving_default'), [4])
  records = warmup_requests.build_warmup_records(serialized, combinations,
                                                 requests_per_combination=None)
  sent = [v for r in records for v in r.predict_log.request.inputs['examples'].string_val]
  assert sent == serialized + serialized[:2]


def test_budget_gives_every_combination_one_record_before_any_gets_a_second(tf1_plans):
  combinations = plan_combinations(tf1_plans, [1, 2, 4])  # 3x3 + MultiInference x3 = 12.
  assert len(combinations) == 12
  counts = warmup_requests.allocate(combinations, num_examples=64,
                                    requests_per_combination=8, max_records=30)
  assert sum(counts) == 30 and min(counts) == 2 and max(counts) == 3
  assert counts == sorted(counts, reverse=True)  # Earlier combinations get the extra.
  # Without a budget squeeze each wants min(8, ceil(64 / b)).
  assert warmup_requests.allocate(combinations, 64, 8, 1000) == [8] * 12
  assert warmup_requests.allocate(combinations, 3, 8, 1000) == [3, 2, 1] * 4


def test_combinations_over_budget_fail_listing_them(tf1_plans):
  combinations = plan_combinations(tf1_plans, [1, 2, 3, 4])
  with pytest.raises(RecordBudgetError, match=r"16 combinations .* max_records is 10 .*"
                                              r"'classify' at batch sizes 1,2,3,4; .*"
                                              r"'classify\+regress' at batch sizes 1,2,3,4"):
    warmup_requests.allocate(combinations, 64, 1, max_records=10)


# Builds the records in a fresh interpreter and prints a digest of their bytes.
_BUILD_IN_A_FRESH_PROCESS = """
import hashlib, sys
from tests import models
from tfx_warmup import serving
from tfx_warmup.requests import signatures
from tfx_warmup.requests import build as warmup_requests
meta_graph = serving.read_meta_graph(sys.argv[1], ['serve'])
plans = signatures.plan_signatures(meta_graph, sys.argv[1]).usable
records = warmup_requests.build_warmup_records(
    # As read from files, example bytes are fixed (a fresh serialization orders maps freely).
    [e.SerializeToString(deterministic=True) for e in models.make_examples(8, seed=7)],
    warmup_requests.plan_combinations(plans, [1, 2]))
print(len(records), hashlib.sha256(
    b''.join(r.SerializeToString(deterministic=True) for r in records)).hexdigest())
"""


def test_records_are_the_same_bytes_in_every_process(tf1_model_dir):
  """Set and dict orders change with Python's hash seed: the records must not."""
  repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  digests = {subprocess.run(
      [sys.executable, '-c', _BUILD_IN_A_FRESH_PROCESS, tf1_model_dir], cwd=repo,
      env={**os.environ, 'PYTHONHASHSEED': seed}, capture_output=True, text=True,
      check=True).stdout for seed in ('1', '2')}
  assert len(digests) == 1 and int(digests.pop().split()[0]) > 0


def test_empty_sample_is_a_clear_error(tf1_plans):
  with pytest.raises(ExamplesError, match='hold no examples'):
    warmup_requests.build_warmup_records([], plan_combinations(tf1_plans, [1]))


def test_multi_inference_records_replay_on_a_two_head_model(tf1_model_dir, tf1_plans, examples):
  """classify and regress read the same tensor: clients may call them together."""
  assert [tuple(p.name for p in g) for g in warmup_requests.multi_inference_groups(tf1_plans)] == [
      ('classify', 'regress')]
  combinations = [c for c in plan_combinations(tf1_plans, [1, 8])
                  if c.api == signatures.Api.MULTI_INFERENCE]
  records = warmup_requests.build_warmup_records(_serialized(examples, 16), combinations,
                                                 requests_per_combination=2)
  assert records_lib.summarize(records) == {
      RecordKey('multi_inference', 'classify+regress', 1): 2,
      RecordKey('multi_inference', 'classify+regress', 8): 2}
  task_names = {t.model_spec.name for r in records for t in r.multi_inference_log.request.tasks}
  assert task_names == {warmup_requests.DEFAULT_MULTI_INFERENCE_MODEL_NAME}
  with serving.load(tf1_model_dir) as servable:
    for record in records:
      response = servable.run_log(record)
      assert [len(r.classification_result.classifications) + len(r.regression_result.regressions)
              for r in response.results] == [record.multi_inference_log.request.input
                                             .example_list.examples.__len__()] * 2


def test_output_filter_records_replay_with_only_those_outputs(tf1_model_dir, tf1_plans, examples):
  combinations = plan_combinations(_only(tf1_plans, 'serving_default'), [2],
                                   {'serving_default': [['logits'], []]})
  assert [c.describe() for c in combinations] == ['serving_default[logits]@2',
                                                  'serving_default@2']
  records = warmup_requests.build_warmup_records(_serialized(examples, 4), combinations,
                                                 requests_per_combination=1)
  with serving.load(tf1_model_dir) as servable:
    assert [sorted(servable.run_log(r).outputs) for r in records] == [
        ['logits'], ['logits', 'probabilities']]


@pytest.mark.parametrize('filters,message', [
    ({'nope': [['logits']]}, "names signature 'nope', which is not warmed"),
    ({'classify': [['scores']]}, 'called through the classify API'),
    ({'serving_default': [['missing']]}, r"names unknown outputs \['missing'\]"),
    ({'serving_default': [['logits', 'logits']]}, 'repeats an alias'),
    ({'serving_default': ['logits']}, "each entry is a list of aliases"),
    ({'serving_default': []}, 'must be a non-empty list'),
])
def test_bad_output_filters_are_refused_before_reading_data(tf1_plans, filters, message):
  with pytest.raises(ConfigurationError, match=message):
    plan_combinations(tf1_plans, [1], filters)
