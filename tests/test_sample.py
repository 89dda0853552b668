"""Sampling: uniform, coverage and stratified; determinism."""

import collections
import os
import pickle
import random
import tempfile

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import util as beam_util

from tests import models
from tfx_warmup import sample

RECORDS = [f'record-{i}'.encode() for i in range(500)]


def _expected_uniform(records, k, seed):
  return sorted(records, key=lambda r: (sample.sample_rank(r, seed), r))[:k]


def _save(value, path):
  with open(path, 'wb') as f:
    pickle.dump(value, f)


def _run(records, k, seed, sampling='uniform', stratify_feature=None, options=None):
  """The sample, computed by a real Beam pipeline (saved to a file: workers may be processes)."""
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, 'sample.pkl')
    with beam.Pipeline(options=options) as p:
      _ = (p | beam.Create(records, reshuffle=True)
           | sample.SampleExamples(k, seed, sampling, stratify_feature)
           | beam.Map(_save, path))
    with open(path, 'rb') as f:
      return pickle.load(f)


def test_uniform_sample_has_num_examples_in_rank_order():
  assert _run(RECORDS, 64, seed=0) == _expected_uniform(RECORDS, 64, 0)


def test_uniform_sample_is_deterministic_whatever_the_input_order():
  assert _run(list(reversed(RECORDS)), 32, seed=3) == _expected_uniform(RECORDS, 32, 3)


def test_seed_changes_the_sample():
  assert _expected_uniform(RECORDS, 32, 0) != _expected_uniform(RECORDS, 32, 1)


def test_input_smaller_than_num_examples_is_taken_whole():
  assert _run(RECORDS[:10], 64, seed=0) == _expected_uniform(RECORDS[:10], 64, 0)


def test_empty_input_gives_an_empty_sample():
  with beam.Pipeline() as p:
    result = p | beam.Create([]).with_output_types(bytes) | sample.SampleExamples(8, 0)
    beam_util.assert_that(result, beam_util.equal_to([[]]))


def test_uniform_sample_is_spread_across_the_input():
  chosen = _expected_uniform(RECORDS, 200, 0)
  first_half = sum(1 for r in chosen if int(r.split(b'-')[1]) < 250)
  assert 70 < first_half < 130


def _dataset(count=2000, rare_every=200, seed=0):
  """Examples of one common shape, plus a rare shape (0.5%) with a long 'history'."""
  examples = models.make_examples(count, seed=seed)
  for i, example in enumerate(examples):
    history = example.features.feature['history'].int64_list.value
    del history[:]
    history.extend([1, 2] if i % rare_every else list(range(20)))
  return [e.SerializeToString() for e in examples]


def test_coverage_sample_includes_a_shape_present_in_half_a_percent():
  records = _dataset()
  rare = [r for r in records if 'history:17+' in sample.describe_shape(r)]
  assert len(rare) == 10  # 0.5% of 2000.
  chosen = _run(records, 16, seed=0, sampling='coverage')
  assert len(chosen) == 16 and len(set(chosen)) == 16
  shapes = [sample.describe_shape(r) for r in chosen]
  assert any('history:17+' in s for s in shapes[:2])  # Among the first (coverage) picks.
  # A uniform sample of 16 misses it (P(miss) = 0.995^16 ~ 92%; true for this seed).
  assert not any('history:17+' in sample.describe_shape(r)
                 for r in _run(records, 16, seed=0))


def test_coverage_fills_the_rest_uniformly():
  records = _dataset()
  chosen = _run(records, 64, seed=0, sampling='coverage')
  assert len(chosen) == 64
  counts = collections.Counter(sample.describe_shape(r) for r in chosen)
  assert counts.most_common(1)[0][1] >= 60  # The common shape still dominates.


def test_stratified_sample_gives_a_minority_label_its_quota():
  examples = models.make_examples(1000, seed=1)
  for i, example in enumerate(examples):
    example.features.feature['label'].int64_list.value[:] = [1 if i % 100 == 0 else 0]
  records = [e.SerializeToString() for e in examples]
  chosen = _run(records, 20, seed=0, sampling='stratified', stratify_feature='label')
  labels = [tf.train.Example.FromString(r).features.feature['label'].int64_list.value[0]
            for r in chosen]
  assert labels.count(1) == 10 and labels.count(0) == 10  # Equal quotas for 2 values.
  assert labels[0] == 1  # Rarest stratum first.


def test_stratified_sample_of_a_missing_feature_is_one_stratum():
  records = _dataset(100)
  chosen = _run(records, 10, seed=0, sampling='stratified', stratify_feature='absent')
  assert len(chosen) == 10


@pytest.mark.parametrize('sampling,feature', [('uniform', None), ('coverage', None),
                                              ('stratified', 'color')])
def test_samples_are_identical_across_runs_orders_and_worker_counts(sampling, feature):
  records = _dataset(1500)
  shuffled = list(records)
  random.Random(5).shuffle(shuffled)
  single = _run(records, 24, 7, sampling, feature)
  assert _run(shuffled, 24, 7, sampling, feature) == single
  two_workers = PipelineOptions(direct_running_mode='multi_processing', direct_num_workers=2)
  assert _run(shuffled, 24, 7, sampling, feature, options=two_workers) == single


@pytest.mark.parametrize('sampling,feature', [('uniform', None), ('coverage', None),
                                              ('stratified', 'color')])
def test_held_back_examples_follow_an_unchanged_sample(sampling, feature):
  """Measuring holds examples back; the warmup examples must not change because of it."""
  records = _dataset(800)

  def sampled(held_back):
    fn = sample.SampleCombineFn(16, 1, sample.Sampling(sampling), feature, held_back)
    acc = fn.create_accumulator()
    for record in records:
      acc = fn.add_input(acc, record)
    return fn.extract_output(acc)

  alone, with_held_back = sampled(0), sampled(8)
  assert with_held_back[:16] == alone
  assert len(with_held_back) == 24 and not set(with_held_back[16:]) & set(alone)


def test_merging_accumulators_equals_one_pass():
  records = _dataset(600)
  fn = sample.SampleCombineFn(12, 3, sample.Sampling.COVERAGE)

  def accumulate(part):
    acc = fn.create_accumulator()
    for record in part:
      acc = fn.add_input(acc, record)
    return acc

  one = fn.extract_output(accumulate(records))
  parts = [accumulate(records[i::3]) for i in range(3)]
  assert fn.extract_output(fn.merge_accumulators(parts)) == one


def test_shape_key_fallback_matches_the_vectorized_key():
  records = _dataset(50)
  example = tf.train.Example.FromString(records[0])
  example.features.feature['empty'].int64_list.SetInParent()
  records[0] = example.SerializeToString()
  fn = sample.SampleCombineFn(4, 0, sample.Sampling.COVERAGE)
  assert [int(k) for k in fn._shape_keys(records)] == [  # pylint: disable=protected-access
      sample._shape_key(r) for r in records]  # pylint: disable=protected-access
