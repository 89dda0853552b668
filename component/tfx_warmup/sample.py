"""Samples examples with Beam: a seeded, mergeable choice of the most useful records.

Every record gets a rank: a keyed hash of its bytes. Three strategies, all one
pass, mergeable across workers (a CombineFn), deterministic for a seed whatever
the file order or worker count, and bounded in memory:

  uniform     the `num_examples` lowest ranks (bottom-k): O(num_examples).
  coverage    groups records by a compact *shape key* (which features are
              present, and a bucket of each one's value count: 0, 1, 2-4,
              5-16, 17+); takes the lowest-ranked record of the most frequent
              shapes first, enough to cover >= 99% of the data and, while
              fewer than half the slots are used, rarer shapes too; then fills
              uniformly. O(num_examples + distinct shapes).
  stratified  a quota per value of `stratify_feature` (e.g. the label) so rare
              classes appear; leftover slots fill uniformly.
              O(num_examples x distinct values), at most 1000 values.

The output is one list, ordered so that the first records are the most
informative (coverage picks, or strata round-robin): when fewer requests than
examples are built, they use the front of the list.
"""

import dataclasses
import enum
import hashlib
import heapq
from typing import Dict, List, Optional, Tuple

import apache_beam as beam
import numpy as np

from tfx_warmup.errors import ConfigurationError

# Coverage: shapes covering this share of the data are always represented.
COVERAGE_TARGET = 0.99
MAX_STRATA = 1000
_BATCH_SIZE = 1024
# Value-count buckets of the shape key; code 0 means "feature absent".
_BUCKET_EDGES = np.array([1, 2, 5, 17])  # 0 | 1 | 2-4 | 5-16 | 17+
_BUCKET_NAMES = ('0', '1', '2-4', '5-16', '17+')


class Sampling(str, enum.Enum):
  UNIFORM = 'uniform'
  STRATIFIED = 'stratified'
  COVERAGE = 'coverage'


def sample_rank(record: bytes, seed: int) -> int:
  """The record's rank: a keyed 64-bit hash, stable across machines and runs."""
  return int(_ranks([record], seed)[0])


def _ranks(records: List[bytes], seed: int) -> np.ndarray:
  """sample_rank of each record, as uint64 (one C call per record, one numpy view)."""
  base = hashlib.blake2b(digest_size=8, key=seed.to_bytes(8, 'little', signed=True))
  digests = []
  for record in records:
    h = base.copy()
    h.update(record)
    digests.append(h.digest())
  return np.frombuffer(b''.join(digests), dtype='>u8').astype(np.uint64)


@beam.ptransform_fn
@beam.typehints.with_input_types(bytes)
@beam.typehints.with_output_types(List[bytes])
def SampleExamples(records: beam.PCollection, num_examples: int, seed: int,  # pylint: disable=invalid-name
                   sampling: str = Sampling.UNIFORM.value,
                   stratify_feature: Optional[str] = None,
                   held_back: int = 0) -> beam.PCollection:
  """One element: the sampled records (at most `num_examples`), most informative first,
  followed by up to `held_back` more, uniformly chosen among the rest. The first
  `num_examples` do not depend on `held_back`."""
  return records | 'Sample' >> beam.CombineGlobally(
      SampleCombineFn(num_examples, seed, Sampling(sampling), stratify_feature, held_back))


@dataclasses.dataclass
class _Accumulator:
  # Records not yet folded in: work is done per batch, in C and numpy.
  pending: List[bytes] = dataclasses.field(default_factory=list)
  total: int = 0
  # Max-heap (negated ranks) of the num_examples lowest (rank, record) pairs.
  lowest: List[Tuple[int, bytes]] = dataclasses.field(default_factory=list)
  # Coverage: shape key -> [count, lowest rank, its record].
  shapes: Dict[int, list] = dataclasses.field(default_factory=dict)
  # Stratified: value -> (count, max-heap like `lowest`).
  strata: Dict[Tuple, list] = dataclasses.field(default_factory=dict)


class SampleCombineFn(beam.CombineFn):
  """Combines serialized records into the sample (see module doc), a batch at a time."""

  def __init__(self, num_examples: int, seed: int, sampling: Sampling,
               stratify_feature: Optional[str] = None, held_back: int = 0):
    super().__init__()
    if sampling == Sampling.STRATIFIED and not stratify_feature:
      raise ConfigurationError(
          "sampling='stratified' needs stratify_feature, e.g. the label's feature name.")
    self._n = num_examples  # What the picks and quotas are computed for.
    self._k = num_examples + held_back  # What each heap keeps.
    self._seed = seed
    self._sampling = sampling
    self._stratify_feature = stratify_feature
    self._stratify_dtype = None
    self._decoder = None

  def create_accumulator(self) -> _Accumulator:
    return _Accumulator()

  def add_input(self, acc: _Accumulator, record: bytes) -> _Accumulator:
    acc.pending.append(record)
    if len(acc.pending) >= _BATCH_SIZE:
      self._fold(acc)
    return acc

  def compact(self, acc: _Accumulator) -> _Accumulator:
    self._fold(acc)
    return acc

  def _fold(self, acc: _Accumulator) -> None:
    """Folds the pending records into the accumulator, a batch at a time."""
    batch, acc.pending = acc.pending, []
    if not batch:
      return
    ranks = _ranks(batch, self._seed)
    acc.total += len(batch)
    _keep_lowest_batch(acc.lowest, ranks, batch, self._k)
    if self._sampling == Sampling.COVERAGE:
      keys = self._shape_keys(batch)
      order = np.lexsort((ranks, keys))  # By key, then rank: first of each key is its lowest.
      unique, first, counts = np.unique(keys[order], return_index=True, return_counts=True)
      for key, index, count in zip(unique.tolist(), order[first].tolist(), counts.tolist()):
        _add_shape(acc.shapes, key, count, int(ranks[index]), batch[index])
    elif self._sampling == Sampling.STRATIFIED:
      for value, indices in self._strata_of(batch).items():
        stratum = self._stratum(acc, value)
        stratum[0] += len(indices)
        _keep_lowest_batch(stratum[1], ranks[indices], [batch[i] for i in indices.tolist()],
                           self._k)

  def merge_accumulators(self, accumulators) -> _Accumulator:
    merged = _Accumulator()
    for acc in accumulators:
      self._fold(acc)
      merged.total += acc.total
      for neg_rank, record in acc.lowest:
        _keep_lowest(merged.lowest, -neg_rank, record, self._k)
      for key, (count, rank, record) in acc.shapes.items():
        _add_shape(merged.shapes, key, count, rank, record)
      for value, (count, heap) in acc.strata.items():
        stratum = self._stratum(merged, value)
        stratum[0] += count
        for neg_rank, record in heap:
          _keep_lowest(stratum[1], -neg_rank, record, self._k)
    return merged

  def extract_output(self, acc: _Accumulator) -> List[bytes]:
    self._fold(acc)
    lowest = [record for _, record in sorted((-n, r) for n, r in acc.lowest)]
    if self._sampling == Sampling.COVERAGE:
      first = self._coverage_picks(acc)
    elif self._sampling == Sampling.STRATIFIED:
      first = self._strata_picks(acc)
    else:
      first = []
    chosen = set(first)
    fill = [r for r in lowest if r not in chosen]
    sampled = (first + fill)[:self._n]
    return sampled + fill[max(0, self._n - len(first)):][:self._k - self._n]

  def _coverage_picks(self, acc: _Accumulator) -> List[bytes]:
    by_frequency = sorted(acc.shapes.values(), key=lambda e: (-e[0], e[1], e[2]))
    picks, covered = [], 0
    for count, _, record in by_frequency:
      if len(picks) >= self._n or (covered >= COVERAGE_TARGET * acc.total and
                                   len(picks) >= self._n // 2):
        break
      picks.append(record)
      covered += count
    return picks

  def _strata_picks(self, acc: _Accumulator) -> List[bytes]:
    """Round-robin over strata (rarest first), each up to an equal quota."""
    if not acc.strata:
      return []
    quota = max(1, self._n // len(acc.strata))
    strata = []
    for count, heap in acc.strata.values():
      ranked = sorted((-neg_rank, record) for neg_rank, record in heap)
      strata.append((count, ranked[0], [record for _, record in ranked[:quota]]))
    strata.sort(key=lambda s: (s[0], s[1]))  # Rarest first; ties by lowest rank.
    picks = []
    for i in range(quota):
      picks.extend(s[2][i] for s in strata if i < len(s[2]))
    return picks

  def _stratum(self, acc: _Accumulator, value: Tuple) -> list:
    if value not in acc.strata:
      if len(acc.strata) >= MAX_STRATA:
        raise ConfigurationError(
            f"stratify_feature '{self._stratify_feature}' has more than {MAX_STRATA} "
            'distinct values; stratify on a low-cardinality feature such as the label.')
      acc.strata[value] = [0, []]
    return acc.strata[value]

  def _decode(self, batch: List[bytes]):
    if self._decoder is None:
      from tfx_bsl.coders import example_coder  # pylint: disable=g-import-not-at-top
      self._decoder = example_coder.ExamplesToRecordBatchDecoder()
    return self._decoder.DecodeBatch(batch)

  def _shape_keys(self, batch: List[bytes]) -> np.ndarray:
    """One uint64 per record: a sum of (feature, count bucket) fingerprints."""
    try:
      record_batch = self._decode(batch)
    except Exception:  # pylint: disable=broad-except  (e.g. a feature's type varies)
      return np.array([_shape_key(r) for r in batch], dtype=np.uint64)
    keys = np.zeros(len(batch), dtype=np.uint64)
    for name, column in zip(record_batch.schema.names, record_batch.columns):
      if not hasattr(column, 'value_lengths'):
        continue  # A NullArray: the feature has no values anywhere in this batch.
      lengths = column.value_lengths()
      present = ~np.asarray(lengths.is_null(), dtype=bool)
      codes = np.where(present, 1 + np.searchsorted(
          _BUCKET_EDGES, lengths.fill_null(0).to_numpy(zero_copy_only=False), side='right'),
                       0)
      keys += _shape_fingerprints(name)[codes]
    return keys

  def _strata_of(self, batch: List[bytes]) -> Dict[Tuple, np.ndarray]:
    """Stratum (the feature's values, () when absent) -> indices of its records."""
    rows, values = self._stratum_values(batch)
    counts = np.bincount(rows, minlength=len(batch))
    if len(values) and (counts == 1).all():  # One value each (a label): group in numpy.
      unique, inverse = np.unique(np.asarray(values), return_inverse=True)
      order = np.argsort(inverse, kind='stable')
      bounds = np.cumsum(np.bincount(inverse, minlength=len(unique)))[:-1]
      return {(v,): idx for v, idx in zip(unique.tolist(), np.split(order, bounds))}
    per_row: List[list] = [[] for _ in batch]
    for row, value in zip(rows.tolist(), values):
      per_row[row].append(value)
    groups: Dict[Tuple, List[int]] = {}
    for i, value in enumerate(per_row):
      groups.setdefault(tuple(value), []).append(i)
    return {k: np.array(v) for k, v in groups.items()}

  def _stratum_values(self, batch: List[bytes]):
    """(row index, value) pairs of the stratify feature: two aligned sequences.

    TF's fast parser reads the one feature and skips the rest, several times
    faster than decoding whole examples. The feature's dtype is found once.
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    for dtype in ([self._stratify_dtype] if self._stratify_dtype else
                  [tf.int64, tf.string, tf.float32]):
      try:
        parsed = tf.io.parse_example(
            batch, {self._stratify_feature: tf.io.VarLenFeature(dtype)})[self._stratify_feature]
      except tf.errors.InvalidArgumentError:
        continue
      values = parsed.values.numpy().tolist()
      if values:  # A batch without the feature says nothing about its type.
        self._stratify_dtype = dtype
      return parsed.indices.numpy()[:, 0], values
    raise ConfigurationError(
        f"stratify_feature '{self._stratify_feature}' holds values of a type that changes "
        'between examples; stratify on a feature with one type (e.g. the label).')


def _keep_lowest_batch(heap: List, ranks: np.ndarray, records: List[bytes], k: int) -> None:
  """_keep_lowest for a batch; records at or above the heap's worst are skipped in numpy."""
  if len(heap) >= k:
    candidates = np.flatnonzero(ranks < np.uint64(-heap[0][0])).tolist()
  else:
    candidates = range(len(records))
  for i in candidates:
    _keep_lowest(heap, int(ranks[i]), records[i], k)


def _keep_lowest(heap: List, rank: int, record: bytes, k: int) -> None:
  """Keeps the k lowest (rank, record) pairs in a max-heap of negated ranks."""
  if len(heap) < k:
    heapq.heappush(heap, (-rank, record))
  elif rank < -heap[0][0]:
    heapq.heapreplace(heap, (-rank, record))


def _add_shape(shapes: Dict[int, list], key: int, count: int, rank: int,
               record: bytes) -> None:
  entry = shapes.get(key)
  if entry is None:
    shapes[key] = [count, rank, record]
    return
  entry[0] += count
  if (rank, record) < (entry[1], entry[2]):
    entry[1], entry[2] = rank, record


_FINGERPRINTS: Dict[str, np.ndarray] = {}


def _shape_fingerprints(name: str) -> np.ndarray:
  """Per count bucket of feature `name`, a 64-bit fingerprint (0 when absent)."""
  if name not in _FINGERPRINTS:
    _FINGERPRINTS[name] = np.array([0] + [
        int.from_bytes(hashlib.blake2b(f'{name}\0{b}'.encode(), digest_size=8).digest(),
                       'little') for b in _BUCKET_NAMES], dtype=np.uint64)
  return _FINGERPRINTS[name]


def _shape_codes(example_bytes: bytes) -> Dict[str, int]:
  """Feature name -> count bucket code (1..5) of each feature with a value list."""
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  codes = {}
  for name, feature in example_pb2.Example.FromString(example_bytes).features.feature.items():
    kind = feature.WhichOneof('kind')
    if kind:
      count = len(getattr(feature, kind).value)
      codes[name] = 1 + int(np.searchsorted(_BUCKET_EDGES, count, side='right'))
  return codes


def _shape_key(example_bytes: bytes) -> int:
  """The same key as SampleCombineFn._shape_keys, one example at a time."""
  return sum(int(_shape_fingerprints(name)[code])
             for name, code in _shape_codes(example_bytes).items()) % (1 << 64)


def describe_shape(example_bytes: bytes) -> str:
  """The shape key of one tf.Example, readable: 'age:1 history:2-4 ...'."""
  return ' '.join(f'{name}:{_BUCKET_NAMES[code - 1]}'
                  for name, code in sorted(_shape_codes(example_bytes).items()))
