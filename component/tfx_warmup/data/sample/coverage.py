"""Coverage sampling: a record of each frequent feature shape first, then uniformly.

Records are grouped by a compact *shape key*: which features are present, and
a bucket of each one's value count (0, 1, 2-4, 5-16, 17+), since that is what
changes the shapes a model's graph runs on. The lowest-ranked record of the most
frequent shapes is taken first, enough to cover >= 99% of the data and, while
fewer than half the slots are used, rarer shapes too; the rest fills uniformly.
Shape frequencies come from the SHAPE_SAMPLE_SIZE lowest-ranked records (every
record in smaller data), so only those need decoding: O(num_examples +
SHAPE_SAMPLE_SIZE) memory.
"""

import dataclasses
import hashlib
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

from tfx_warmup import ranking

# Shapes covering this share of the data are always represented.
COVERAGE_TARGET = 0.99
# Shape statistics come from this many lowest-ranked records (a seeded uniform
# subsample). A shape in 0.02% of the data is seen with probability 96%.
SHAPE_SAMPLE_SIZE = 1 << 14
_MAX_RANK = (1 << 64) - 1
# Value-count buckets of the shape key; code 0 means "feature absent".
_BUCKET_EDGES = np.array([1, 2, 5, 17])  # 0 | 1 | 2-4 | 5-16 | 17+
_BUCKET_NAMES = ('0', '1', '2-4', '5-16', '17+')


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
    self._added += [(other.ranks, other.keys), *other._added]  # noqa: SLF001  (an accumulator of the same class)
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
  lowest: ranking.BottomK
  shapes: ShapeSample
  pending: List[bytes] = dataclasses.field(default_factory=list)
  total: int = 0
  # Records that can enter `shapes`, decoded a batch at a time (the decoder's cost per
  # call is about that of 200 records) and their ranks.
  undecoded: List[bytes] = dataclasses.field(default_factory=list)
  undecoded_ranks: List[np.ndarray] = dataclasses.field(default_factory=list)
  decoded: int = 0


class CoverageCombineFn(ranking.RankedCombineFn):
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
    return _CoverageAccumulator(ranking.BottomK(self._k), ShapeSample(self._shape_sample_size))

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
    if len(acc.undecoded) >= ranking.BATCH_SIZE:
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
    ranking.count('shapes_decoded', acc.decoded)
    ranking.count('distinct_shapes', len(shapes))
    total = len(acc.shapes)
    picks, covered = [], 0
    for count, _, record in sorted(shapes, key=lambda s: (-s[0], s[1], s[2])):
      if len(picks) >= self._n or (covered >= COVERAGE_TARGET * total and
                                   len(picks) >= self._n // 2):
        break
      picks.append(record)
      covered += count
    return ranking.then_uniform(picks, (r for _, r in acc.lowest.ranked()), self._n, self._k)


def _decoder():
  from tfx_bsl.coders import example_coder
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
