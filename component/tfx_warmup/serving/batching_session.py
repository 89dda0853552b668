"""TF Serving's server-side batching (`--enable_batching`) around a session.

With batching on, TF Serving wraps the model's session in a BatchingSession
(tensorflow_serving/batching/batching_session.cc, wired by
bundle_factory_util.cc:WrapSessionForBatching): every Session::Run is queued,
padded and checked before and after the model runs. Warmup replays through the
same wrapper, so a model can answer every warmup record without batching and
fail its load with it -- a scalar output (a `model_version` constant) being the
classic case. Warmup requests run one at a time, so each executed batch holds
one request, which makes the behaviour exact here:
  * the request's size is the 0th dimension its inputs share; no input, a
    rank-0 input or unequal 0th dimensions are refused (INVALID_ARGUMENT);
  * a request larger than `max_batch_size` is refused; with large-batch
    splitting it runs in pieces of `max_execution_batch_size`;
  * each executed batch is padded to the first allowed batch size that holds
    it, by repeating its first row;
  * every fetched output must have a 0th dimension equal to the padded size
    (FAILED_PRECONDITION otherwise), and the padding rows are cut off.
"""

from typing import Dict, List, Optional, Sequence

import numpy as np

from tfx_warmup.serving.batching_config import BatchingConfig
from tfx_warmup.serving.errors import BatchingError


def _invalid(message: str, tensor: str = '') -> BatchingError:
  return BatchingError('INVALID_ARGUMENT', message, tensor)


def _failed_precondition(message: str, tensor: str) -> BatchingError:
  return BatchingError('FAILED_PRECONDITION', message, tensor)


def check_request(feeds: Dict[str, np.ndarray], config: BatchingConfig) -> int:
  """Everything batching checks before the model runs; returns the request's size.

  The size is the 0th dimension the inputs share (batching_util.h:
  ComputeTensorBatchSize); the queue then admits it (SharedBatchScheduler's
  Queue::Schedule into an empty queue, as warmup's one request at a time finds it).
  """
  if not feeds:
    raise _invalid('Batching Run() must have at least one input tensor')
  size = None
  for name, value in feeds.items():
    if np.ndim(value) == 0:
      raise _invalid('Batching Run() input tensors must have at least one dimension', name)
    if size is None:
      size = value.shape[0]
    elif value.shape[0] != size:
      raise _invalid('Batching Run() input tensors must have equal 0th-dimension size', name)
  if size > config.max_batch_size:
    raise _invalid(f'Task size {size} is larger than maximum input batch size '
                   f'{config.max_batch_size}')
  if config.enable_large_batch_splitting:
    capacity = config.max_enqueued_batches * config.max_execution_batch_size
    if size > capacity:
      raise BatchingError(
          'UNAVAILABLE',
          'The batch scheduling queue to which this task was submitted is full; task '
          f'size is {size} but scheduling capacity is only {capacity} '
          f'(num_enqueued_batches=0, max_enqueued_batches={config.max_enqueued_batches}, '
          'open_batch_size=0)')
  return size


class _Prepared:
  """A request's feeds and fetches: each run is queued, padded and checked anew."""

  def __init__(self, feeds: Dict[str, np.ndarray], fetches: Sequence[str]):
    self.feeds = feeds
    self.fetches = list(fetches)

  def close(self) -> None:
    pass


class BatchingSession:
  """Runs requests through `session` (a `session.ServingSession`) as TF Serving batches them.

  Itself a `ServingSession`: a prepared request still goes through the batching
  (its padding and splitting are part of what each run costs).
  """

  def __init__(self, session, config: BatchingConfig):
    self.session = session
    self.config = config

  @property
  def run_options(self):
    """The wrapped session's RunOptions (TF Serving's warmup runs with the load's)."""
    return self.session.run_options

  @run_options.setter
  def run_options(self, value) -> None:
    self.session.run_options = value

  def dtype(self, name: str) -> int:
    return self.session.dtype(name)

  def prepare(self, feeds: Dict[str, np.ndarray], fetches: Sequence[str]) -> _Prepared:
    return _Prepared(feeds, fetches)

  def run_prepared(self, prepared: _Prepared,
                   keep: bool = False) -> Optional[List[np.ndarray]]:
    outputs = self.run(prepared.feeds, prepared.fetches)
    return outputs if keep else None

  def close(self) -> None:
    self.session.close()

  def run(self, feeds: Dict[str, np.ndarray], fetches: Sequence[str]) -> List[np.ndarray]:
    size = check_request(feeds, self.config)
    pieces = self.execution_batches(size)
    results, start = [], 0
    for piece in pieces:
      results.append(self._run_padded(
          {name: value[start:start + piece] for name, value in feeds.items()}, fetches, piece))
      start += piece
    if len(results) == 1:
      return results[0]
    return [np.concatenate([r[i] for r in results]) for i in range(len(fetches))]

  def execution_batches(self, size: int) -> List[int]:
    """How many rows each executed batch takes from a request of `size` rows."""
    limit = self.config.max_execution_batch_size
    if not self.config.enable_large_batch_splitting or size <= limit:
      return [size]
    return [limit] * (size // limit) + ([size % limit] if size % limit else [])

  def padded_size(self, size: int) -> int:
    """RoundToLowestAllowedBatchSize: the first allowed size that holds `size`."""
    for allowed in self.config.allowed_batch_sizes:
      if allowed >= size:
        return allowed
    return size

  def _run_padded(self, feeds: Dict[str, np.ndarray], fetches: Sequence[str],
                  size: int) -> List[np.ndarray]:
    padded = self.padded_size(size)
    if padded > size:
      feeds = {name: np.concatenate([value] + [value[:1]] * (padded - size))
               for name, value in feeds.items()}
    outputs = self.session.run(feeds, fetches)
    for name, value in zip(fetches, outputs):
      if np.ndim(value) == 0:
        raise _failed_precondition('Batched output tensor has 0 dimensions', name)
      if value.shape[0] != padded:
        raise _failed_precondition(
            "Batched output tensor's 0th dimension does not equal the sum of the 0th "
            'dimension sizes of the input tensors', name)
    return [value[:size] for value in outputs]
