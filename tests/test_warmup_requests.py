"""Warmup records: one per sampled example chunk, signature and batch size; <= 1000."""

import pytest

from tfx_warmup import signatures
from tfx_warmup import warmup_file
from tfx_warmup import warmup_requests
from tfx_warmup.errors import ExamplesError, RecordBudgetError
from tfx_warmup.warmup_file import RecordKey


@pytest.fixture(scope='module')
def tf1_plans(tf1_model_dir):
  return signatures.plan_signatures(tf1_model_dir, ['serve']).usable


def _serialized(examples, n):
  return [e.SerializeToString() for e in examples[:n]]


def test_every_signature_and_batch_size_gets_full_batches(tf1_plans, examples):
  records = warmup_requests.build_warmup_records(
      _serialized(examples, 10), tf1_plans, [1, 4, 32], model_name='m')
  assert warmup_file.summarize(records) == {
      RecordKey(kind, sig, b): n
      for kind, sig in (('classify', 'classify'), ('predict', 'serving_default'),
                        ('regress', 'regress'))
      for b, n in ((1, 10), (4, 3), (32, 1))}
  assert all(getattr(r, r.WhichOneof('log_type')).request.model_spec.name == 'm'
             for r in records)


def test_each_example_is_sent_once_per_batch_size_wrapping_the_last_batch(tf1_plans, examples):
  serialized = _serialized(examples, 10)
  records = warmup_requests.build_warmup_records(
      serialized, [p for p in tf1_plans if p.name == 'serving_default'], [4])
  sent = [v for r in records for v in r.predict_log.request.inputs['examples'].string_val]
  assert sent == serialized + serialized[:2]


def test_records_are_deterministic(tf1_plans, examples):
  build = lambda: [r.SerializeToString(deterministic=True) for r in
                   warmup_requests.build_warmup_records(_serialized(examples, 8), tf1_plans, [1, 2])]
  assert build() == build()


def test_empty_sample_is_a_clear_error(tf1_plans):
  with pytest.raises(ExamplesError, match='hold no examples'):
    warmup_requests.build_warmup_records([], tf1_plans, [1])


def test_record_count_and_budget(tf1_plans):
  assert warmup_requests.check_record_budget(tf1_plans, [1, 8, 32], 64) == 3 * (64 + 8 + 2)
  with pytest.raises(RecordBudgetError, match=r"needs 1017 warmup records .*'classify': 300 at "
                                              r'batch 1 \+ 38 at batch 8 \+ 1 at batch 300'):
    warmup_requests.check_record_budget(tf1_plans, [1, 8, 300], 300)
