"""Samples examples with Beam: a seeded, mergeable choice of the most useful records.

Sampling is the one step that must see every record, so it is the one that runs
on the pipeline's Beam runner (as TFDV computes statistics there): one pass,
memory bounded by the sample, partial results merged across workers. Every
record gets a rank, a keyed hash of its bytes, and every strategy keeps records
by rank alone, so the sample depends only on the records and the seed, never on
file order, bundles or worker count. Each strategy is its own small CombineFn
over one helper, `BottomK` (the k lowest-ranked records):

  uniform     the `num_examples` lowest ranks: O(num_examples).
  coverage    groups records by a compact *shape key* (which features are
              present, and a bucket of each one's value count: 0, 1, 2-4,
              5-16, 17+); takes the lowest-ranked record of the most frequent
              shapes first, enough to cover >= 99% of the data and, while
              fewer than half the slots are used, rarer shapes too; then fills
              uniformly. Shape frequencies come from the SHAPE_SAMPLE_SIZE
              lowest-ranked records (every record in smaller data), so only
              those need decoding. O(num_examples + SHAPE_SAMPLE_SIZE).
  stratified  a quota per value of `stratify_feature` (e.g. the label) so rare
              classes appear; leftover slots fill uniformly.
              O(num_examples x distinct values), at most 1000 values.

The output is one list, ordered so that the first records are the most
informative (coverage picks, or strata round-robin): when fewer requests than
examples are built, they use the front of the list. Beam counters (namespace
`tfx_warmup.sample`) show records read per split, records sampled, shapes
decoded, distinct shapes and strata.
"""

import dataclasses
import enum
import hashlib
import heapq
import itertools
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from tfx_warmup.errors import ConfigurationError

METRICS_NAMESPACE = 'tfx_warmup.sample'
# Coverage: shapes covering this share of the data are always represented.
COVERAGE_TARGET = 0.99
MAX_STRATA = 1000
# Coverage: shape statistics come from this many lowest-ranked records (a seeded
# uniform subsample). A shape in 0.02% of the data is seen with probability 96%.
SHAPE_SAMPLE_SIZE = 1 << 14
_BATCH_SIZE = 1024
_MAX_RANK = (1 << 64) - 1
# Value-count buckets of the shape key; code 0 means "feature absent".
_BUCKET_EDGES = np.array([1, 2, 5, 17])  # 0 | 1 | 2-4 | 5-16 | 17+
_BUCKET_NAMES = ('0', '1', '2-4', '5-16', '17+')


class Sampling(str, enum.Enum):
  UNIFORM = 'uniform'
  STRATIFIED = 'stratified'
  COVERAGE = 'coverage'


def _ranks(records: Sequence[bytes], seed: int) -> np.ndarray:
  """Each record's rank, a keyed hash of its bytes, as uint64 (one C call per record, one numpy view)."""
  base = hashlib.blake2b(digest_size=8, key=seed.to_bytes(8, 'little', signed=True))
  digests = []
  for record in records:
    h = base.copy()
    h.update(record)
    digests.append(h.digest())
  return np.frombuffer(b''.join(digests), dtype='>u8').astype(np.uint64)


def _count(name: str, value: int) -> None:
  Metrics.counter(METRICS_NAMESPACE, name).inc(value)


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

  def __init__(self, fn: '_RankedCombineFn', split: str):
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
    _count(f'records_read[{self._split}]', acc.total)
    return acc


class _MergeThenSample(beam.CombineFn):
  """`fn` over accumulators (one per split): merges them, then samples."""

  def __init__(self, fn: '_RankedCombineFn'):
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


def sample_combine_fn(num_examples: int, seed: int, sampling: str = Sampling.UNIFORM.value,
                      stratify_feature: Optional[str] = None,
                      held_back: int = 0) -> '_RankedCombineFn':
  """The CombineFn of `sampling` (see module doc)."""
  sampling = Sampling(sampling)
  if sampling == Sampling.STRATIFIED:
    if not stratify_feature:
      raise ConfigurationError(
          "sampling='stratified' needs stratify_feature, e.g. the label's feature name.")
    return StratifiedCombineFn(num_examples, seed, stratify_feature, held_back)
  if sampling == Sampling.COVERAGE:
    return CoverageCombineFn(num_examples, seed, held_back)
  return UniformCombineFn(num_examples, seed, held_back)


class BottomK:
  """The k lowest-ranked (rank, record) pairs seen: a max-heap of negated ranks.

  The bottom-k of a union is the bottom-k of its parts' bottom-ks, so it merges.
  """

  def __init__(self, k: int):
    self.k = k
    self.heap: List[Tuple[int, bytes]] = []

  def __len__(self) -> int:
    return len(self.heap)

  def add(self, rank: int, record: bytes) -> None:
    if len(self.heap) < self.k:
      heapq.heappush(self.heap, (-rank, record))
    elif rank < -self.heap[0][0]:
      heapq.heapreplace(self.heap, (-rank, record))

  def add_batch(self, ranks: np.ndarray, records: Sequence[bytes],
                among: Optional[np.ndarray] = None) -> None:
    """Adds records[i] for i in `among` (default: all); ranks are aligned with records.

    Records ranked at or above the current k-th are skipped in numpy.
    """
    indices = np.arange(len(records)) if among is None else among
    if len(self.heap) >= self.k:
      indices = indices[ranks[indices] < np.uint64(-self.heap[0][0])]
    for i in indices.tolist():
      self.add(int(ranks[i]), records[i])

  def update(self, other: 'BottomK') -> None:
    """Merges `other` in, leaving it unchanged."""
    for neg_rank, record in other.heap:
      self.add(-neg_rank, record)

  def ranked(self) -> List[Tuple[int, bytes]]:
    """(rank, record) pairs, lowest rank first."""
    return sorted((-neg_rank, record) for neg_rank, record in self.heap)


class _RankedCombineFn(beam.CombineFn):
  """Ranks records a batch at a time (the work is in C and numpy) and folds each batch in.

  Each accumulator has `pending` records not yet folded (`_settle` folds all
  that is buffered) and the `total` folded. A strategy says how a ranked batch
  folds in (`_fold`), how another accumulator merges into one it owns
  (`_merge_into`, which must leave the other unchanged) and what the sample is
  (`_sample`). Counters are counted in the accumulator and reported by
  `extract_output`: Beam's lifted combine calls `compact` outside any step's
  metrics scope, where counts are lost.
  """

  def __init__(self, num_examples: int, seed: int, held_back: int):
    super().__init__()
    self._n = num_examples  # What the picks and quotas are computed for.
    self._k = num_examples + held_back  # What each BottomK keeps.
    self._seed = seed

  def add_input(self, acc, record: bytes):
    acc.pending.append(record)
    if len(acc.pending) >= _BATCH_SIZE:
      batch, acc.pending = acc.pending, []
      self._fold_batch(acc, batch)
    return acc

  def merge_accumulators(self, accumulators: Iterable):
    """Merges into the first accumulator; the others are read, never changed."""
    accumulators = iter(accumulators)
    merged = self._settle(next(accumulators))
    for acc in accumulators:
      if acc.pending:
        self._fold_batch(merged, acc.pending)
      merged.total += acc.total
      self._merge_into(merged, acc)
    return merged

  def compact(self, acc):
    """Folds buffered records in before the accumulator is shipped."""
    return self._settle(acc)

  def extract_output(self, acc) -> List[bytes]:
    self._settle(acc)
    _count('records_sampled', acc.total)
    return self._sample(acc)

  def _settle(self, acc):
    if acc.pending:
      batch, acc.pending = acc.pending, []
      self._fold_batch(acc, batch)
    return acc

  def _fold_batch(self, acc, batch: List[bytes]) -> None:
    acc.total += len(batch)
    self._fold(acc, batch, _ranks(batch, self._seed))

  def _fold(self, acc, batch: List[bytes], ranks: np.ndarray) -> None:
    raise NotImplementedError

  def _merge_into(self, merged, acc) -> None:
    raise NotImplementedError

  def _sample(self, acc) -> List[bytes]:
    raise NotImplementedError


def _then_uniform(first: List[bytes], lowest: Iterable[bytes], n: int, k: int) -> List[bytes]:
  """`first`, filled to n records from `lowest` (rank order), then up to k - n more."""
  chosen = set(first)
  fill = list(itertools.islice((r for r in lowest if r not in chosen), k))
  return (first + fill)[:n] + fill[max(0, n - len(first)):][:k - n]


# -- uniform ------------------------------------------------------------------------------


@dataclasses.dataclass
class _UniformAccumulator:
  lowest: BottomK
  pending: List[bytes] = dataclasses.field(default_factory=list)
  total: int = 0


class UniformCombineFn(_RankedCombineFn):
  """The k lowest-ranked records."""

  def create_accumulator(self) -> _UniformAccumulator:
    return _UniformAccumulator(BottomK(self._k))

  def _fold(self, acc: _UniformAccumulator, batch: List[bytes], ranks: np.ndarray) -> None:
    acc.lowest.add_batch(ranks, batch)

  def _merge_into(self, merged: _UniformAccumulator, acc: _UniformAccumulator) -> None:
    merged.lowest.update(acc.lowest)

  def _sample(self, acc: _UniformAccumulator) -> List[bytes]:
    return [record for _, record in acc.lowest.ranked()]


# -- coverage -----------------------------------------------------------------------------


class ShapeSample:
  """Shape keys of the `size` lowest-ranked records and, per shape, its lowest-ranked record.

  A seeded uniform subsample of the data (all of it when smaller), so shape
  frequencies cost a decode of only the records that can still enter it: those
  ranked at most `threshold`, about size x (1 + ln(records / size)) of them.
  Entries are trimmed back to `size` once there are a quarter more; what is
  kept (by rank, then key) does not depend on the order records came in.
  """

  def __init__(self, size: int):
    self.size = size
    self.ranks = np.empty(0, np.uint64)  # Kept entries, as of the last trim.
    self.keys = np.empty(0, np.uint64)
    self.firsts: Dict[int, Tuple[int, bytes]] = {}  # Shape key -> lowest (rank, record).
    self.threshold = _MAX_RANK  # Records ranked above it cannot enter.
    self._added: List[Tuple[np.ndarray, np.ndarray]] = []  # (ranks, keys) since the last trim.
    self._num_added = 0

  def __len__(self) -> int:
    return len(self.ranks) + self._num_added

  def candidates(self, ranks: np.ndarray) -> np.ndarray:
    """Indices of the ranks that can still enter."""
    if self.threshold >= _MAX_RANK:
      return np.arange(len(ranks))
    return np.flatnonzero(ranks <= np.uint64(self.threshold))

  def add(self, ranks: np.ndarray, keys: np.ndarray, records: Sequence[bytes]) -> None:
    """Adds candidates: aligned ranks, shape keys and records."""
    order = np.lexsort((ranks, keys))  # By key, then rank: the first of each key is its lowest.
    unique, first = np.unique(keys[order], return_index=True)
    for key, i in zip(unique.tolist(), order[first].tolist()):
      self._offer(key, int(ranks[i]), records[i])
    self._added.append((ranks, keys))
    self._num_added += len(ranks)
    if len(self) >= self.size + self.size // 4:
      self.trim()

  def update(self, other: 'ShapeSample') -> None:
    """Merges `other` in, leaving it unchanged."""
    for key, (rank, record) in other.firsts.items():
      self._offer(key, rank, record)
    self._added += [(other.ranks, other.keys), *other._added]  # pylint: disable=protected-access
    self._num_added += len(other)
    self.threshold = min(self.threshold, other.threshold)
    self.trim()

  def trim(self) -> None:
    """Keeps the `size` lowest (rank, key) entries, and the firsts of their shapes."""
    if self._added:
      self.ranks = np.concatenate([self.ranks] + [r for r, _ in self._added])
      self.keys = np.concatenate([self.keys] + [k for _, k in self._added])
      self._added, self._num_added = [], 0
    if len(self.ranks) > self.size:
      keep = np.lexsort((self.keys, self.ranks))[:self.size]
      self.ranks, self.keys = self.ranks[keep], self.keys[keep]
      self.threshold = int(self.ranks[-1])
      live = set(np.unique(self.keys).tolist())
      if len(live) < len(self.firsts):
        self.firsts = {k: v for k, v in self.firsts.items() if k in live}

  def frequencies(self) -> List[Tuple[int, int, bytes]]:
    """(count, rank, record) per shape: its count here and its lowest-ranked record."""
    self.trim()
    keys, counts = np.unique(self.keys, return_counts=True)
    return [(count, *self.firsts[key]) for key, count in zip(keys.tolist(), counts.tolist())]

  def _offer(self, key: int, rank: int, record: bytes) -> None:
    known = self.firsts.get(key)
    if known is None or (rank, record) < known:
      self.firsts[key] = (rank, record)


@dataclasses.dataclass
class _CoverageAccumulator:
  lowest: BottomK
  shapes: ShapeSample
  pending: List[bytes] = dataclasses.field(default_factory=list)
  total: int = 0
  # Records that can enter `shapes`, decoded a batch at a time (the decoder's cost per
  # call is about that of 200 records) and their ranks.
  undecoded: List[bytes] = dataclasses.field(default_factory=list)
  undecoded_ranks: List[np.ndarray] = dataclasses.field(default_factory=list)
  decoded: int = 0


class CoverageCombineFn(_RankedCombineFn):
  """The most frequent shapes' lowest-ranked records first, then the lowest-ranked records."""

  def __init__(self, num_examples: int, seed: int, held_back: int = 0,
               shape_sample_size: int = SHAPE_SAMPLE_SIZE):
    super().__init__(num_examples, seed, held_back)
    self._shape_sample_size = shape_sample_size
    self._decoder = None

  def setup(self) -> None:
    self._decoder = _decoder()

  def __getstate__(self) -> dict:
    return {**self.__dict__, '_decoder': None}  # A C++ object: rebuilt by setup().

  def create_accumulator(self) -> _CoverageAccumulator:
    return _CoverageAccumulator(BottomK(self._k), ShapeSample(self._shape_sample_size))

  def compact(self, acc: _CoverageAccumulator) -> _CoverageAccumulator:
    self._settle(acc).shapes.trim()
    return acc

  def _settle(self, acc: _CoverageAccumulator) -> _CoverageAccumulator:
    super()._settle(acc)
    if acc.undecoded:
      self._add_shapes(acc, acc.undecoded, acc.undecoded_ranks)
      acc.undecoded, acc.undecoded_ranks = [], []
    return acc

  def _fold(self, acc: _CoverageAccumulator, batch: List[bytes], ranks: np.ndarray) -> None:
    acc.lowest.add_batch(ranks, batch)
    indices = acc.shapes.candidates(ranks)
    acc.undecoded.extend(batch[i] for i in indices.tolist())
    acc.undecoded_ranks.append(ranks[indices])
    if len(acc.undecoded) >= _BATCH_SIZE:
      self._add_shapes(acc, acc.undecoded, acc.undecoded_ranks)
      acc.undecoded, acc.undecoded_ranks = [], []

  def _add_shapes(self, acc: _CoverageAccumulator, records: List[bytes],
                  ranks: List[np.ndarray]) -> None:
    acc.decoded += len(records)
    acc.shapes.add(np.concatenate(ranks), _shape_keys(self._decoder, records), records)

  def _merge_into(self, merged: _CoverageAccumulator, acc: _CoverageAccumulator) -> None:
    merged.lowest.update(acc.lowest)
    merged.shapes.update(acc.shapes)
    merged.decoded += acc.decoded
    if acc.undecoded:
      self._add_shapes(merged, acc.undecoded, acc.undecoded_ranks)

  def _sample(self, acc: _CoverageAccumulator) -> List[bytes]:
    shapes = acc.shapes.frequencies()
    _count('shapes_decoded', acc.decoded)
    _count('distinct_shapes', len(shapes))
    total = len(acc.shapes)
    picks, covered = [], 0
    for count, _, record in sorted(shapes, key=lambda s: (-s[0], s[1], s[2])):
      if len(picks) >= self._n or (covered >= COVERAGE_TARGET * total and
                                   len(picks) >= self._n // 2):
        break
      picks.append(record)
      covered += count
    return _then_uniform(picks, (r for _, r in acc.lowest.ranked()), self._n, self._k)


def _decoder():
  from tfx_bsl.coders import example_coder  # pylint: disable=g-import-not-at-top
  return example_coder.ExamplesToRecordBatchDecoder()


def _bucket_codes(record_batch) -> Iterable[Tuple[str, np.ndarray]]:
  """(feature name, count bucket code per record: 0 when absent) of each decoded column."""
  for name, column in zip(record_batch.schema.names, record_batch.columns):
    if not hasattr(column, 'value_lengths'):
      continue  # A NullArray: the feature has no values anywhere in this batch.
    lengths = column.value_lengths()
    present = ~np.asarray(lengths.is_null(), dtype=bool)
    counts = lengths.fill_null(0).to_numpy(zero_copy_only=False)
    yield name, np.where(present, 1 + np.searchsorted(_BUCKET_EDGES, counts, side='right'), 0)


# The key of a record that is not a tf.Example: sampled like any shape, refused later
# by the request builder with an error that names it.
_UNDECODABLE = int.from_bytes(hashlib.blake2b(b'\0undecodable', digest_size=8).digest(),
                              'little')


def _shape_keys(decoder, records: List[bytes]) -> np.ndarray:
  """One uint64 per record: a sum of (feature, count bucket) fingerprints."""
  try:
    record_batch = decoder.DecodeBatch(records)
  except RuntimeError:  # A feature's type varies in the batch, or a record is not an Example.
    if len(records) == 1:
      return np.array([_UNDECODABLE], dtype=np.uint64)
    return np.concatenate([_shape_keys(decoder, [r]) for r in records])
  keys = np.zeros(len(records), dtype=np.uint64)
  for name, codes in _bucket_codes(record_batch):
    keys += _shape_fingerprints(name)[codes]
  return keys


_FINGERPRINTS: Dict[str, np.ndarray] = {}


def _shape_fingerprints(name: str) -> np.ndarray:
  """Per count bucket of feature `name`, a 64-bit fingerprint (0 when absent)."""
  if name not in _FINGERPRINTS:
    _FINGERPRINTS[name] = np.array([0] + [
        int.from_bytes(hashlib.blake2b(f'{name}\0{b}'.encode(), digest_size=8).digest(),
                       'little') for b in _BUCKET_NAMES], dtype=np.uint64)
  return _FINGERPRINTS[name]


# -- stratified ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Stratum:
  count: int
  lowest: BottomK


@dataclasses.dataclass
class _StratifiedAccumulator:
  strata: Dict[Tuple, _Stratum] = dataclasses.field(default_factory=dict)
  pending: List[bytes] = dataclasses.field(default_factory=list)
  total: int = 0


class StratifiedCombineFn(_RankedCombineFn):
  """Round-robin over the values of a feature (rarest first), then the lowest-ranked records.

  Each stratum keeps its k lowest-ranked records; together they hold the k
  lowest-ranked records overall, so the uniform fill needs nothing more.
  """

  def __init__(self, num_examples: int, seed: int, stratify_feature: str, held_back: int = 0):
    super().__init__(num_examples, seed, held_back)
    self._feature = stratify_feature
    self._tf = None
    self._dtype = None  # The feature's dtype, once a batch has shown it.

  def setup(self) -> None:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self._tf = tf

  def __getstate__(self) -> dict:
    return {**self.__dict__, '_tf': None}  # A module: re-imported by setup().

  def create_accumulator(self) -> _StratifiedAccumulator:
    return _StratifiedAccumulator()

  def _fold(self, acc: _StratifiedAccumulator, batch: List[bytes], ranks: np.ndarray) -> None:
    for value, indices in self._strata_of(batch).items():
      stratum = self._stratum(acc, value)
      stratum.count += len(indices)
      stratum.lowest.add_batch(ranks, batch, indices)

  def _merge_into(self, merged: _StratifiedAccumulator, acc: _StratifiedAccumulator) -> None:
    for value, other in acc.strata.items():
      stratum = self._stratum(merged, value)
      stratum.count += other.count
      stratum.lowest.update(other.lowest)

  def _sample(self, acc: _StratifiedAccumulator) -> List[bytes]:
    """Round-robin over strata (rarest first), each up to an equal quota."""
    _count('strata', len(acc.strata))
    if not acc.strata:
      return []
    quota = max(1, self._n // len(acc.strata))
    strata = sorted(((s.count, s.lowest.ranked()) for s in acc.strata.values()),
                    key=lambda s: (s[0], s[1][0]))  # Rarest first; ties by lowest rank.
    picks = []
    for i in range(quota):
      picks.extend(ranked[i][1] for _, ranked in strata if i < len(ranked))
    lowest = heapq.merge(*(ranked for _, ranked in strata))
    return _then_uniform(picks, (r for _, r in lowest), self._n, self._k)

  def _stratum(self, acc: _StratifiedAccumulator, value: Tuple) -> _Stratum:
    stratum = acc.strata.get(value)
    if stratum is None:
      if len(acc.strata) >= MAX_STRATA:
        raise ConfigurationError(
            f"stratify_feature '{self._feature}' has more than {MAX_STRATA} "
            'distinct values; stratify on a low-cardinality feature such as the label.')
      stratum = acc.strata[value] = _Stratum(0, BottomK(self._k))
    return stratum

  def _strata_of(self, batch: List[bytes]) -> Dict[Tuple, np.ndarray]:
    """Stratum (the feature's values, () when absent) -> indices of its records."""
    rows, values = self._values(batch)
    if len(rows) == len(batch) and (np.bincount(rows, minlength=len(batch)) == 1).all():
      unique, inverse = np.unique(values, return_inverse=True)  # One value each (a label).
      order = np.argsort(inverse, kind='stable')
      bounds = np.cumsum(np.bincount(inverse, minlength=len(unique)))[:-1]
      return {(v,): idx for v, idx in zip(unique.tolist(), np.split(order, bounds))}
    per_row: List[list] = [[] for _ in batch]
    for row, value in zip(rows.tolist(), values.tolist()):
      per_row[row].append(value)
    groups: Dict[Tuple, List[int]] = {}
    for i, value in enumerate(per_row):
      groups.setdefault(tuple(value), []).append(i)
    return {k: np.array(v) for k, v in groups.items()}

  def _values(self, batch: List[bytes]) -> Tuple[np.ndarray, np.ndarray]:
    """(row index, value) of each value of the feature: two aligned arrays.

    TF's fast parser reads the one feature and skips the rest, several times
    faster than decoding whole examples. The feature's dtype is found once.
    """
    tf = self._tf
    for dtype in [self._dtype] if self._dtype else [tf.int64, tf.string, tf.float32]:
      try:
        parsed = tf.io.parse_example(
            batch, {self._feature: tf.io.VarLenFeature(dtype)})[self._feature]
      except tf.errors.InvalidArgumentError:
        continue
      values = parsed.values.numpy()
      if len(values):  # A batch without the feature says nothing about its type.
        self._dtype = dtype
      return parsed.indices.numpy()[:, 0], values
    raise ConfigurationError(
        f"stratify_feature '{self._feature}' holds values of a type that changes "
        'between examples; stratify on a feature with one type (e.g. the label).')
