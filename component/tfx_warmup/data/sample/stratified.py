"""Stratified sampling: a quota per value of `stratify_feature`, so rare classes appear.

Strata (the feature's values, e.g. the label's) are taken round-robin, rarest
first, each up to an equal quota of `num_examples`; leftover slots fill
uniformly. O(num_examples x distinct values) memory, at most MAX_STRATA values.
"""

import dataclasses
import heapq
from typing import Dict, List, Tuple

import numpy as np

from tfx_warmup import ranking
from tfx_warmup.errors import ConfigurationError

MAX_STRATA = 1000


@dataclasses.dataclass
class _Stratum:
  count: int
  lowest: ranking.BottomK


@dataclasses.dataclass
class _StratifiedAccumulator:
  strata: Dict[Tuple, _Stratum] = dataclasses.field(default_factory=dict)
  pending: List[bytes] = dataclasses.field(default_factory=list)
  total: int = 0


class StratifiedCombineFn(ranking.RankedCombineFn):
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
    import tensorflow as tf
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
    ranking.count('strata', len(acc.strata))
    if not acc.strata:
      return []
    quota = max(1, self._n // len(acc.strata))
    strata = sorted(((s.count, s.lowest.ranked()) for s in acc.strata.values()),
                    key=lambda s: (s[0], s[1][0]))  # Rarest first; ties by lowest rank.
    picks = []
    for i in range(quota):
      picks.extend(ranked[i][1] for _, ranked in strata if i < len(ranked))
    lowest = heapq.merge(*(ranked for _, ranked in strata))
    return ranking.then_uniform(picks, (r for _, r in lowest), self._n, self._k)

  def _stratum(self, acc: _StratifiedAccumulator, value: Tuple) -> _Stratum:
    stratum = acc.strata.get(value)
    if stratum is None:
      if len(acc.strata) >= MAX_STRATA:
        raise ConfigurationError(
            f"stratify_feature '{self._feature}' has more than {MAX_STRATA} "
            'distinct values; stratify on a low-cardinality feature such as the label.')
      stratum = acc.strata[value] = _Stratum(0, ranking.BottomK(self._k))
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
