"""Uniform sampling: the `num_examples` lowest-ranked records, a seeded uniform sample.

The default, and the fill of the other strategies once their picks are made.
Memory is O(num_examples + held_back): one `BottomK`.
"""

import dataclasses
from typing import List

import numpy as np

from tfx_warmup import ranking


@dataclasses.dataclass
class _UniformAccumulator:
  lowest: ranking.BottomK
  pending: List[bytes] = dataclasses.field(default_factory=list)
  total: int = 0


class UniformCombineFn(ranking.RankedCombineFn):
  """The k lowest-ranked records."""

  def create_accumulator(self) -> _UniformAccumulator:
    return _UniformAccumulator(ranking.BottomK(self._k))

  def _fold(self, acc: _UniformAccumulator, batch: List[bytes], ranks: np.ndarray) -> None:
    acc.lowest.add_batch(ranks, batch)

  def _merge_into(self, merged: _UniformAccumulator, acc: _UniformAccumulator) -> None:
    merged.lowest.update(acc.lowest)

  def _sample(self, acc: _UniformAccumulator) -> List[bytes]:
    return [record for _, record in acc.lowest.ranked()]
