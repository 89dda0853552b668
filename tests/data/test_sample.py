"""Sampling: properties that hold whatever the implementation, checked on data whose
shapes, strata and frequencies are known by construction.

No test recomputes the ranking the code uses: determinism is checked across
partitions, orders, pickling and worker counts; uniformity statistically (fixed
seeds, wide tolerance); coverage and quotas against how the data was built;
memory by the size of shipped accumulators.
"""

import collections
import functools
import os
import pickle
import random
import tempfile
from typing import Dict, List, Optional, Tuple

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import util as beam_util

from tests.combine_fns import accumulate, combine, combine_in_parts, fresh
from tfx_warmup.data import sample
from tfx_warmup.data.sample import coverage as coverage_lib
from tfx_warmup.errors import ConfigurationError

TWO_WORKERS = PipelineOptions(direct_running_mode='multi_processing', direct_num_workers=2)

# Shapes (features besides 'id' and 'label', and their value counts) and how each is built.
SHAPES: Dict[str, Dict[str, int]] = {
    'common': {'x': 1},
    'pair': {'x': 1, 'y': 2},
    'five': {'x': 5},
    'coupon': {'x': 1, 'coupon': 1},
    'long': {'x': 20},
}


def _example(i: int, features: Dict[str, int], label: Optional[int] = None) -> bytes:
  """Record `i`: an 'id', the given features with that many values each, an optional label."""
  example = tf.train.Example()
  feature = example.features.feature
  feature['id'].int64_list.value.append(i)
  for name, count in features.items():
    feature[name].int64_list.SetInParent()  # Present even when empty.
    feature[name].int64_list.value.extend((i * 7 + j) % 1000 for j in range(count))
  if label is not None:
    feature['label'].int64_list.value.append(label)
  return example.SerializeToString(deterministic=True)  # Map order varies between processes.


def _dataset(counts: Dict[str, int], labels: Optional[Dict[int, int]] = None,
             seed: int = 0) -> Tuple[List[bytes], Dict[bytes, str]]:
  """Records with `counts[shape]` of each shape (and labels drawn with the given weights),
  shuffled; and the shape each record was built with."""
  rng = random.Random(seed)
  records, shape_of = [], {}
  for shape, count in counts.items():
    for _ in range(count):
      label = rng.choices(list(labels), weights=list(labels.values()))[0] if labels else None
      record = _example(len(records), SHAPES[shape], label)
      records.append(record)
      shape_of[record] = shape
  rng.shuffle(records)
  return records, shape_of


def _label(record: bytes) -> int:
  return tf.train.Example.FromString(record).features.feature['label'].int64_list.value[0]


def _save(value, path):
  with open(path, 'wb') as f:
    pickle.dump(value, f)


def _run(records, k, seed, sampling='uniform', stratify_feature=None, held_back=0,
         options=None, splits: Optional[int] = None) -> List[bytes]:
  """The sample, computed by a real Beam pipeline (saved to a file: workers may be
  processes). With `splits`, the records come as that many split-tagged PCollections."""
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, 'sample.pkl')
    with beam.Pipeline(options=options) as p:
      if splits:
        source = {f's{i}': p | f'Create{i}' >> beam.Create(records[i::splits], reshuffle=True)
                  for i in range(splits)}
      else:
        source = p | beam.Create(records, reshuffle=True)
      _ = (source | sample.SampleExamples(k, seed, sampling, stratify_feature, held_back)
           | beam.Map(_save, path))
    with open(path, 'rb') as f:
      return pickle.load(f)


# CombineFns of each strategy; coverage also with a small shape sample, so that a few
# thousand records exercise the subsample (trimming, thresholds, merges of those).
STRATEGIES = {
    'uniform': lambda: sample.sample_combine_fn(16, 7, 'uniform', held_back=8),
    'coverage': lambda: sample.sample_combine_fn(16, 7, 'coverage', held_back=8),
    'coverage-subsampled': lambda: coverage_lib.CoverageCombineFn(16, 7, 8, shape_sample_size=128),
    'stratified': lambda: sample.sample_combine_fn(16, 7, 'stratified', 'label', held_back=8),
}
MIXED = {'common': 1200, 'pair': 500, 'five': 200, 'coupon': 60, 'long': 40}


# -- determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize('strategy', STRATEGIES)
def test_sample_is_the_same_whatever_the_order_partitions_merges_and_shipping(strategy):
  records, _ = _dataset(MIXED, labels={0: 90, 1: 9, 2: 1})
  make_fn = STRATEGIES[strategy]
  reference = combine(make_fn, records)
  assert len(reference) == 24 and len(set(reference)) == 24
  rng = random.Random(11)
  for trial in range(6):
    shuffled = list(records)
    rng.shuffle(shuffled)
    cuts = sorted(rng.sample(range(len(records)), rng.choice([1, 4, 40])))
    parts = [shuffled[a:b] for a, b in zip([0] + cuts, cuts + [len(records)])]
    parts.append([])  # An empty bundle.
    assert combine_in_parts(make_fn, parts, rng, ship=trial % 2 == 0) == reference, trial


@pytest.mark.e2e  # Starts worker processes.
@pytest.mark.parametrize('sampling,feature', [('uniform', None), ('coverage', None),
                                              ('stratified', 'label')])
def test_samples_are_identical_across_worker_counts_and_split_tagging(sampling, feature):
  records, _ = _dataset({'common': 900, 'pair': 400, 'long': 20}, labels={0: 95, 1: 5})
  in_process = _run(records, 24, 7, sampling, feature, held_back=4)
  shuffled = list(records)
  random.Random(5).shuffle(shuffled)
  assert _run(shuffled, 24, 7, sampling, feature, held_back=4, options=TWO_WORKERS,
              splits=3) == in_process


def test_seed_changes_the_sample():
  records = [f'record-{i}'.encode() for i in range(1000)]
  samples = [set(combine(lambda s=s: sample.sample_combine_fn(50, s), records))
             for s in range(3)]
  for a in range(3):
    for b in range(a):
      assert len(samples[a] & samples[b]) < 15  # 2.5 expected by chance.


# -- uniform --------------------------------------------------------------------------------


def test_uniform_sample_gives_every_record_the_same_chance():
  """Over 400 seeds, each of 100 records should be among the 10 picked ~40 times."""
  records = [b'record-%03d' % i + b'.' * (i % 7) for i in range(100)]  # Lengths vary.
  picked = collections.Counter()
  for seed in range(400):
    picked.update(combine(lambda s=seed: sample.sample_combine_fn(10, s), records))
  expected = 400 * 10 / 100
  chi_square = sum((picked[r] - expected) ** 2 / expected for r in records)
  assert chi_square < 170, chi_square  # 99 degrees of freedom: p < 1e-5 beyond 170.
  # Neither the input position nor the record length matters (shares within ~4.5 sd).
  for group in (records[:50], [r for r in records if len(r) % 2], records[::7]):
    share = sum(picked[r] for r in group) / (400 * 10)
    assert abs(share - len(group) / 100) < 0.05, (len(group), share)


def test_input_smaller_than_num_examples_is_taken_whole():
  records, _ = _dataset({'common': 6, 'long': 4})
  for sampling, feature in [('uniform', None), ('coverage', None), ('stratified', 'id')]:
    assert sorted(_run(records, 64, 0, sampling, feature)) == sorted(records)


def test_empty_input_gives_an_empty_sample():
  with beam.Pipeline() as p:
    result = p | beam.Create([]).with_output_types(bytes) | sample.SampleExamples(8, 0)
    beam_util.assert_that(result, beam_util.equal_to([[]]))


# -- coverage -------------------------------------------------------------------------------


def _covered_shapes(chosen, shape_of):
  return [shape_of[r] for r in chosen]


def test_coverage_takes_every_shape_needed_for_99_percent_most_frequent_first():
  # 60%, 25%, 10%, 4.5%, 0.5%: the first four cover 99.5%; all five fit in half the slots.
  records, shape_of = _dataset({'common': 1200, 'pair': 500, 'five': 200, 'coupon': 90,
                                'long': 10})
  chosen = _run(records, 16, seed=0, sampling='coverage')
  assert len(chosen) == 16 and len(set(chosen)) == 16
  assert _covered_shapes(chosen, shape_of)[:5] == ['common', 'pair', 'five', 'coupon', 'long']
  # The rest is filled uniformly: over several seeds, in the data's proportions.
  rest = collections.Counter()
  for seed in range(8):
    picked = combine(lambda s=seed: sample.sample_combine_fn(16, s, 'coverage'), records)
    rest.update(_covered_shapes(picked[5:], shape_of))
  share = rest['common'] / sum(rest.values())
  assert 0.45 < share < 0.75, rest  # 60% of the data; 88 draws give a 5% sd.


def test_coverage_finds_a_half_percent_shape_that_uniform_sampling_misses():
  records, shape_of = _dataset({'common': 1990, 'long': 10})
  for seed in range(5):
    shapes = _covered_shapes(combine(
        lambda s=seed: sample.sample_combine_fn(16, s, 'coverage'), records), shape_of)
    assert 'long' in shapes[:2], seed
  # A uniform sample of 16 misses it most of the time (P(miss) = 0.995^16 ~ 92%).
  misses = sum('long' not in _covered_shapes(combine(
      lambda s=seed: sample.sample_combine_fn(16, s), records), shape_of) for seed in range(20))
  assert misses >= 12


def test_coverage_picks_rare_shapes_only_until_half_the_slots_are_used():
  """Once 99% is covered, rarer shapes are picked only while fewer than half the
  slots are used; the rest of the sample is uniform."""
  records, _ = _dataset({'common': 4000})  # 99.0% of the data: covered by one pick.
  # 40 one-off shapes (0.025% each): a feature f<i> present in one record each.
  one_offs = {_example(10_000 + i, {'x': 1, f'f{i}': 1}) for i in range(40)}
  chosen = combine(lambda: sample.sample_combine_fn(16, 1, 'coverage'),
                    records + sorted(one_offs))
  # 1 common + 7 one-offs fill half of 16; the uniform fill rarely hits a 1% group.
  assert len(chosen) == 16 and len(one_offs & set(chosen)) in (7, 8)


def test_coverage_of_a_large_dataset_decodes_a_subsample_and_still_covers_every_shape():
  """With more records than the shape sample, only a seeded subsample is decoded, and
  every shape above 0.2% is still among the picks."""
  counts = {'common': 30_000, 'pair': 15_000, 'five': 4_500, 'coupon': 400, 'long': 100}
  records, shape_of = _dataset(counts, seed=3)
  fn = fresh(lambda: coverage_lib.CoverageCombineFn(16, 5, shape_sample_size=4096))
  acc = accumulate(fn, records)
  chosen = fn.extract_output(acc)
  assert set(_covered_shapes(chosen[:5], shape_of)) == set(counts)
  assert acc.decoded < len(records) / 2  # 4096 x (1 + ln(50000 / 4096)) ~ 14,300 expected.


def _keys(records: List[bytes]) -> List[int]:
  decoder = coverage_lib._decoder()
  return coverage_lib._shape_keys(decoder, records).tolist()


def test_shape_key_depends_on_which_features_and_value_count_buckets_only():
  same = [_example(1, {'x': 2}), _example(2, {'x': 4}), _example(3, {'x': 3})]  # Bucket 2-4.
  assert len(set(_keys(same))) == 1
  different = [_example(1, {'x': 1}), _example(1, {'x': 2}), _example(1, {'x': 5}),
               _example(1, {'x': 17}), _example(1, {'x': 0}), _example(1, {}),
               _example(1, {'y': 1})]
  assert len(set(_keys(different))) == len(different)


def test_shape_key_of_a_record_does_not_depend_on_its_batch():
  """A feature whose type varies makes a batch undecodable: records are then keyed
  alone, with the same keys they get in any batch; non-Examples get a key too."""
  as_bytes = tf.train.Example()
  as_bytes.features.feature['id'].int64_list.value.append(9)
  as_bytes.features.feature['x'].bytes_list.value.extend([b'a', b'b'])
  records = [_example(1, {'x': 2}), as_bytes.SerializeToString(), _example(2, {'y': 20}),
             b'\xff not an example']
  alone = [_keys([r])[0] for r in records]
  assert _keys(records) == alone
  assert alone[0] == alone[1]  # Same features and counts; the type is not part of a shape.
  assert len(set(alone[1:])) == 3


def test_coverage_samples_records_that_are_not_examples_instead_of_failing():
  records, _ = _dataset({'common': 300})
  chosen = combine(lambda: sample.sample_combine_fn(8, 0, 'coverage'),
                    records + [b'\xff garbage', b'\n\x05abc'])
  assert len(chosen) == 8


def _describe_shape(example_bytes: bytes) -> str:
  """The shape key of one tf.Example, readable: 'age:1 history:2-4 ...'."""
  batch = coverage_lib._decoder().DecodeBatch([example_bytes])
  codes = {name: int(c[0]) for name, c in coverage_lib._bucket_codes(batch)}
  names = coverage_lib._BUCKET_NAMES
  return ' '.join(f'{name}:{names[code - 1]}' for name, code in sorted(codes.items()) if code)


def test_describe_shape_names_each_feature_and_its_count_bucket():
  assert _describe_shape(_example(1, {'x': 3, 'y': 20, 'z': 0})) == (
      'id:1 x:2-4 y:17+ z:0')


# -- stratified -----------------------------------------------------------------------------


def test_stratified_sample_gives_each_value_an_equal_quota_rarest_first():
  records, _ = _dataset({'common': 3000}, labels={0: 90, 1: 9, 2: 1}, seed=4)
  assert collections.Counter(map(_label, records))[2] >= 10
  chosen = _run(records, 30, seed=0, sampling='stratified', stratify_feature='label')
  labels = [_label(r) for r in chosen]
  assert collections.Counter(labels) == {0: 10, 1: 10, 2: 10}
  assert labels[:6] == [2, 1, 0, 2, 1, 0]  # Round-robin, rarest value first.


def test_stratified_sample_takes_a_small_stratum_whole_and_fills_uniformly():
  records, _ = _dataset({'common': 2000}, labels={0: 1}, seed=2)
  rare = [_example(50_000 + i, {'x': 1}, label=1) for i in range(3)]
  chosen = combine(lambda: sample.sample_combine_fn(30, 0, 'stratified', 'label'),
                    records + rare)
  assert len(chosen) == 30 and set(rare) <= set(chosen)
  assert collections.Counter(map(_label, chosen)) == {0: 27, 1: 3}


def test_records_without_the_feature_are_a_stratum_of_their_own():
  records, _ = _dataset({'common': 500}, labels={0: 1})
  unlabelled = [_example(60_000 + i, {'x': 1}) for i in range(5)]
  chosen = combine(lambda: sample.sample_combine_fn(10, 0, 'stratified', 'label'),
                    records + unlabelled)
  assert len(set(chosen) & set(unlabelled)) == 5


def test_stratifying_on_a_feature_with_more_than_1000_values_is_refused():
  records = [_example(i, {}, label=i) for i in range(1200)]
  with pytest.raises(ConfigurationError, match='more than 1000 distinct values'):
    combine(lambda: sample.sample_combine_fn(10, 0, 'stratified', 'label'), records)


def test_stratified_without_a_feature_is_refused():
  with pytest.raises(ConfigurationError, match='needs stratify_feature'):
    sample.SampleExamples(10, 0, 'stratified')


# -- held back, merging, memory ---------------------------------------------------------------


@pytest.mark.parametrize('sampling,feature', [('uniform', None), ('coverage', None),
                                              ('stratified', 'label')])
def test_held_back_examples_follow_an_unchanged_sample(sampling, feature):
  """Measuring holds examples back; the warmup examples must not change because of it."""
  records, _ = _dataset({'common': 600, 'pair': 150, 'long': 50}, labels={0: 9, 1: 1})

  def sampled(held_back):
    return combine(lambda: sample.sample_combine_fn(16, 1, sampling, feature, held_back),
                    records)

  alone, with_held_back = sampled(0), sampled(8)
  assert with_held_back[:16] == alone
  assert len(with_held_back) == 24 and not set(with_held_back[16:]) & set(alone)


@pytest.mark.parametrize('strategy', STRATEGIES)
def test_merge_changes_no_accumulator_but_the_first(strategy):
  records, _ = _dataset(MIXED, labels={0: 90, 1: 10})
  fn = fresh(STRATEGIES[strategy])
  # Uncompacted: their pending (and, for coverage, undecoded) records must be read, not folded.
  accumulators = [accumulate(fn, records[i::4]) for i in range(4)]
  before = [pickle.dumps(acc) for acc in accumulators[1:]]
  fn.merge_accumulators(accumulators)
  assert [pickle.dumps(acc) for acc in accumulators[1:]] == before


@functools.lru_cache(maxsize=None)
def _spread_shapes(count: int) -> List[bytes]:
  """Records with many distinct shapes: a random subset of 14 features each."""
  rng = random.Random(count)
  return [_example(i, {f'f{j}': rng.choice([1, 3]) for j in range(14) if rng.random() < 0.5},
                   label=rng.randrange(3)) for i in range(count)]


# Records an accumulator keeps: k = 24 (per stratum for stratified, 3 strata), plus one
# per distinct shape in the shape sample (of 128) for coverage.
RECORDS_KEPT = {'uniform': 24, 'coverage-subsampled': 24 + 128, 'stratified': 3 * 24}


@pytest.mark.parametrize('strategy', RECORDS_KEPT)
def test_shipped_accumulators_stay_the_same_size_as_data_grows(strategy):
  records = _spread_shapes(24_000)
  fn = fresh(STRATEGIES[strategy])
  acc, sizes = fn.create_accumulator(), {}
  for i, record in enumerate(records, 1):
    acc = fn.add_input(acc, record)
    if i in (3_000, 24_000):
      sizes[i] = len(pickle.dumps(fn.compact(acc)))
      if strategy.startswith('coverage'):  # Shipped trimmed: one entry per sampled record.
        assert len(acc.shapes) <= 128 and len(acc.shapes.firsts) <= 128
  mean = sum(len(r) for r in records) / len(records)
  # The records kept, 16-byte entries of the shape sample, and a little overhead.
  bound = RECORDS_KEPT[strategy] * (mean + 60) + 128 * 16 + 2048
  assert sizes[24_000] < bound, sizes
  assert sizes[24_000] < 1.3 * sizes[3_000], sizes


# -- counters -------------------------------------------------------------------------------


def _counters(records_by_split: Dict[str, List[bytes]], sampling: str,
              feature: Optional[str] = None) -> Dict[str, int]:
  pipeline = beam.Pipeline()
  source = {split: pipeline | f'Create[{split}]' >> beam.Create(records)
            for split, records in records_by_split.items()}
  _ = source | sample.SampleExamples(8, 0, sampling, feature)
  result = pipeline.run()
  result.wait_until_finish()
  query = result.metrics().query(MetricsFilter().with_namespace(sample.METRICS_NAMESPACE))
  return {c.key.metric.name: c.committed for c in query['counters']}


def test_counters_show_records_per_split_distinct_shapes_and_strata():
  train, _ = _dataset({'common': 300, 'pair': 100, 'long': 5}, labels={0: 9, 1: 1})
  evaluation, _ = _dataset({'common': 150, 'five': 50}, labels={0: 1}, seed=1)
  splits = {'train': train, 'eval': evaluation}
  coverage = _counters(splits, 'coverage')
  assert coverage['records_read[train]'] == 405 and coverage['records_read[eval]'] == 200
  assert coverage['records_sampled'] == 605 and coverage['distinct_shapes'] == 4
  assert coverage['shapes_decoded'] == 605  # Fewer records than the shape sample: all.
  stratified = _counters(splits, 'stratified', 'label')
  assert stratified['strata'] == 2 and stratified['records_sampled'] == 605
