"""What every seeded sample shares: a rank per record, the k lowest, one CombineFn.

Examples (`data.sample`, one module per strategy) and logged requests
(`traffic.profile`) are sampled alike, so this sits below both.

Every record's rank is a keyed hash of its bytes (the seed is the key), and
every strategy keeps records by rank alone, so a sample depends only on the
records and the seed, never on file order, bundles or worker count. The k
lowest-ranked records of a union are the k lowest of its parts' k lowest
(`BottomK`), so partial results merge across workers in memory bounded by the
sample. `RankedCombineFn` ranks records a batch at a time and leaves each
strategy (uniform, coverage, stratified: one module each) three methods: how a
ranked batch folds in, how two accumulators merge, and what the sample is.
"""

import hashlib
import heapq
import itertools
from typing import Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

# Beam counters of every strategy: records read per split, records sampled, and each
# strategy's own (shapes decoded, distinct shapes, strata).
METRICS_NAMESPACE = 'tfx_warmup.sample'
# Records are ranked (and coverage's shapes decoded) this many at a time.
BATCH_SIZE = 1024


def ranks(records: Sequence[bytes], seed: int) -> np.ndarray:
  """Each record's rank, a keyed hash of its bytes, as uint64.

  One C call per record and one numpy view of all the digests.
  """
  base = hashlib.blake2b(digest_size=8, key=seed.to_bytes(8, 'little', signed=True))
  digests = []
  for record in records:
    h = base.copy()
    h.update(record)
    digests.append(h.digest())
  return np.frombuffer(b''.join(digests), dtype='>u8').astype(np.uint64)


def count(name: str, value: int) -> None:
  """Adds `value` to the counter `name` of the namespace METRICS_NAMESPACE."""
  Metrics.counter(METRICS_NAMESPACE, name).inc(value)


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


class RankedCombineFn(beam.CombineFn):
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
    if len(acc.pending) >= BATCH_SIZE:
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
    count('records_sampled', acc.total)
    return self._sample(acc)

  def _settle(self, acc):
    if acc.pending:
      batch, acc.pending = acc.pending, []
      self._fold_batch(acc, batch)
    return acc

  def _fold_batch(self, acc, batch: List[bytes]) -> None:
    acc.total += len(batch)
    self._fold(acc, batch, ranks(batch, self._seed))

  def _fold(self, acc, batch: List[bytes], ranks: np.ndarray) -> None:
    raise NotImplementedError

  def _merge_into(self, merged, acc) -> None:
    raise NotImplementedError

  def _sample(self, acc) -> List[bytes]:
    raise NotImplementedError


def then_uniform(first: List[bytes], lowest: Iterable[bytes], n: int, k: int) -> List[bytes]:
  """`first`, filled to n records from `lowest` (rank order), then up to k - n more."""
  chosen = set(first)
  fill = list(itertools.islice((r for r in lowest if r not in chosen), k))
  return (first + fill)[:n] + fill[max(0, n - len(first)):][:k - n]
