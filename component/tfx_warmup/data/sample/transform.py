"""The sampling as one Beam PTransform over the examples, whatever the strategy.

`SampleExamples` takes the serialized records, or a dict of split name to
records: each split is then accumulated on its own and counted
(`records_read[split]`) without a step per record, and the splits'
accumulators merged. The strategy is a CombineFn of its own module, chosen by
name (`sample_combine_fn`); this module knows nothing of how it picks.
"""

import enum
from typing import Iterable, List, Mapping, Optional

import apache_beam as beam

from tfx_warmup.data.sample import coverage
from tfx_warmup import ranking
from tfx_warmup.data.sample import stratified
from tfx_warmup.data.sample import uniform
from tfx_warmup.errors import ConfigurationError


class Sampling(str, enum.Enum):
  """The strategies, by the name `sampling` takes."""
  UNIFORM = 'uniform'
  STRATIFIED = 'stratified'
  COVERAGE = 'coverage'


def sample_combine_fn(num_examples: int, seed: int, sampling: str = Sampling.UNIFORM.value,
                      stratify_feature: Optional[str] = None,
                      held_back: int = 0) -> ranking.RankedCombineFn:
  """The CombineFn of `sampling`: its own module's (uniform, coverage, stratified)."""
  sampling = Sampling(sampling)
  if sampling == Sampling.STRATIFIED:
    if not stratify_feature:
      raise ConfigurationError(
          "sampling='stratified' needs stratify_feature, e.g. the label's feature name.")
    return stratified.StratifiedCombineFn(num_examples, seed, stratify_feature, held_back)
  if sampling == Sampling.COVERAGE:
    return coverage.CoverageCombineFn(num_examples, seed, held_back)
  return uniform.UniformCombineFn(num_examples, seed, held_back)


class SampleExamples(beam.PTransform):
  """One element: the sampled records (at most `num_examples`), most informative first,
  followed by up to `held_back` more, uniformly chosen among the rest. The first
  `num_examples` do not depend on `held_back`.

  Takes the serialized records, or a dict of split name -> records: each split
  is then accumulated on its own and counted (`records_read[split]`) without a
  step per record, and the splits' accumulators merged. Same sample either way.
  """

  def __init__(self, num_examples: int, seed: int, sampling: str = Sampling.UNIFORM.value,
               stratify_feature: Optional[str] = None, held_back: int = 0):
    super().__init__()
    self._fn = sample_combine_fn(num_examples, seed, sampling, stratify_feature, held_back)

  def expand(self, records) -> beam.PCollection:
    # `records`: a PCollection of bytes, or a dict split -> PCollection. Not annotated:
    # Beam checks an annotated input type and warns on a union with a dict.
    if not isinstance(records, Mapping):
      return records | 'Sample' >> beam.CombineGlobally(self._fn).with_output_types(List[bytes])
    per_split = [records[split] | f'Accumulate[{split}]' >> beam.CombineGlobally(
        _SplitAccumulator(self._fn, split)) for split in sorted(records)]
    return (per_split | 'FlattenSplits' >> beam.Flatten()
            | 'Sample' >> beam.CombineGlobally(_MergeThenSample(self._fn)).with_output_types(
                List[bytes]))


class _SplitAccumulator(beam.CombineFn):
  """`fn` over one split's records; outputs its accumulator and counts the split's records."""

  def __init__(self, fn: ranking.RankedCombineFn, split: str):
    super().__init__()
    self._fn = fn
    self._split = split

  def setup(self) -> None:
    self._fn.setup()

  def create_accumulator(self):
    return self._fn.create_accumulator()

  def add_input(self, acc, record: bytes):
    return self._fn.add_input(acc, record)

  def merge_accumulators(self, accumulators: Iterable):
    return self._fn.merge_accumulators(accumulators)

  def compact(self, acc):
    return self._fn.compact(acc)

  def extract_output(self, acc):
    acc = self._fn.compact(acc)
    ranking.count(f'records_read[{self._split}]', acc.total)
    return acc


class _MergeThenSample(beam.CombineFn):
  """`fn` over accumulators (one per split): merges them, then samples."""

  def __init__(self, fn: ranking.RankedCombineFn):
    super().__init__()
    self._fn = fn

  def setup(self) -> None:
    self._fn.setup()

  def create_accumulator(self):
    return self._fn.create_accumulator()

  def add_input(self, acc, split_acc):
    return self._fn.merge_accumulators([acc, split_acc])

  def merge_accumulators(self, accumulators: Iterable):
    return self._fn.merge_accumulators(accumulators)

  def compact(self, acc):
    return self._fn.compact(acc)

  def extract_output(self, acc) -> List[bytes]:
    return self._fn.extract_output(acc)
