"""Running a Beam CombineFn as runners do, for tests of the package's CombineFns.

A runner ships a CombineFn to each worker (pickled, unpickled, set up), adds each
worker's part, may compact and pickle the accumulators, and merges them in any tree.
A CombineFn whose result depends on any of that is wrong; these helpers let a test
try many such runs against one in a single accumulator.
"""

import pickle
import random
from typing import Any, Callable, Iterable, Sequence

import apache_beam as beam


def accumulate(fn: beam.CombineFn, inputs: Iterable[Any]):
  acc = fn.create_accumulator()
  for each in inputs:
    acc = fn.add_input(acc, each)
  return acc


def fresh(make_fn: Callable[[], beam.CombineFn]) -> beam.CombineFn:
  """The CombineFn as a worker gets it: pickled, unpickled, then set up."""
  fn = pickle.loads(pickle.dumps(make_fn()))
  fn.setup()
  return fn


def combine(make_fn: Callable[[], beam.CombineFn], inputs: Iterable[Any]):
  fn = fresh(make_fn)
  return fn.extract_output(accumulate(fn, inputs))


def combine_in_parts(make_fn: Callable[[], beam.CombineFn], parts: Sequence[Sequence[Any]],
                     rng: random.Random, ship: bool = True):
  """As a runner might: each part on its own worker, its accumulator compacted and
  pickled (when `ship`), then merged in a random tree."""
  accumulators = []
  for part in parts:
    fn = fresh(make_fn)
    acc = accumulate(fn, part)
    accumulators.append(pickle.loads(pickle.dumps(fn.compact(acc))) if ship else acc)
  fn = fresh(make_fn)
  while len(accumulators) > 1:
    rng.shuffle(accumulators)
    take = rng.randint(2, len(accumulators))
    accumulators = [fn.merge_accumulators(accumulators[:take])] + accumulators[take:]
  return fn.extract_output(accumulators[0])
