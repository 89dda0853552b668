"""The warmup replay TF Serving runs before a version serves (saved_model_warmup_util.cc).

Each record runs `num_request_iterations` times (--num_request_iterations_for_warmup),
is counted, and only then is the 1000-record limit checked, so a failing 1001st
record reports its own error. The first failing record fails the load.

With `num_model_warmup_threads` > 1 (ModelWarmupOptions, platform config file
only), saved_model_warmup_util.cc schedules that many tasks on a thread pool,
each pulling the next record from the one reader under a mutex and running it
outside it; the first error stops every task from reading more, and the limit is
checked before each read. So does the replay here: a session's Run releases the
GIL, so the records overlap as they do in TF Serving, and the swap measures what
the threads cost the serving version.
"""

import dataclasses
import threading
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.serving import records as records_lib
from tfx_warmup.serving import servable as servable_lib
from tfx_warmup.serving import warmup_file
from tfx_warmup.serving.batching_config import BatchingConfig
from tfx_warmup.serving.contract import MAX_RECORDS, warmup_file_path
from tfx_warmup.serving.errors import RequestError, ServingConfigError, WarmupReplayError
from tfx_warmup.serving.errors import one_line


@dataclasses.dataclass
class ReplayResult:
  """What replaying a warmup file did: records run and how long each took.

  `seconds` is the records' times added up when they run one at a time, and the
  replay's wall time when they overlap on threads; `record_seconds` is each
  record's own time, in the file's order.
  """
  path: str
  records: int
  seconds: float
  record_seconds: List[float]
  summary: Dict[records_lib.RecordKey, int]


def replay_records(servable: servable_lib.Servable,
                   records: Iterable[prediction_log_pb2.PredictionLog],
                   num_request_iterations: int = 1,
                   on_record: Optional[Callable[[], None]] = None,
                   path: str = '',
                   num_model_warmup_threads: int = 1) -> ReplayResult:
  """Replays `records` on `servable` as TF Serving's warmup does; raises WarmupReplayError.

  `path` names the file the records come from, in messages; `on_record` is
  called after each record (progress reporting; under a lock when threaded).
  `num_model_warmup_threads` > 1 runs records on that many threads, which
  `servable` must allow (the replica's sessions do, as TensorFlow's do).
  """
  check_iterations(num_request_iterations)
  check_warmup_threads(num_model_warmup_threads)
  if num_model_warmup_threads > 1:
    return _replay_threaded(servable, records, num_request_iterations, on_record, path,
                            num_model_warmup_threads)
  record_seconds, keys = [], []
  for index, record in enumerate(records):
    key, seconds = _run_record(servable, record, index, num_request_iterations)
    record_seconds.append(seconds)
    keys.append(key)
    if len(keys) > MAX_RECORDS:
      raise _too_many_records(servable, path)
    if on_record:
      on_record()
  return ReplayResult(path, len(keys), sum(record_seconds), record_seconds,
                      records_lib.count_keys(keys))


def _run_record(servable, record: prediction_log_pb2.PredictionLog, index: int,
                num_request_iterations: int) -> Tuple[records_lib.RecordKey, float]:
  """One record, `num_request_iterations` times: its key and seconds; a failure is the
  WarmupReplayError TF Serving's load would fail with."""
  key = records_lib.record_key(record)
  start = time.perf_counter()
  try:
    for _ in range(num_request_iterations):
      servable.run_log(record)
  except RequestError as e:
    raise _record_error(index, key, e) from e
  return key, time.perf_counter() - start


def _record_error(index: int, key: records_lib.RecordKey, error: RequestError):
  return WarmupReplayError(
      f'Warmup record {index} ({key.api}, signature '
      f"'{key.signature}', batch size {key.batch_size}) fails: {error.code}: "
      f'{one_line(error.message)}. TF '
      'Serving would refuse to load this model.', error.code, index, key.signature,
      cause=error)


def _too_many_records(servable, path: str) -> WarmupReplayError:
  return warmup_file.too_many_records(path or warmup_file_path(servable.export_dir))


class _Shared:
  """saved_model_warmup_util.cc's SharedState: the one reader and what the tasks did."""

  def __init__(self, records: Iterable[prediction_log_pb2.PredictionLog]):
    self.lock = threading.Lock()
    self.reader = iter(records)
    self.read = 0  # Records taken from the reader, each task's index into the file.
    self.done = 0  # Records run to the end (TF Serving's num_warmup_records).
    self.error: Optional[BaseException] = None  # The first error; it fails the replay.
    self.seconds: Dict[int, float] = {}
    self.keys: Dict[int, records_lib.RecordKey] = {}

  def fail(self, error: BaseException) -> None:
    with self.lock:
      if self.error is None:
        self.error = error


def _replay_threaded(servable, records, num_request_iterations: int,
                     on_record: Optional[Callable[[], None]], path: str,
                     threads: int) -> ReplayResult:
  """The threaded branch of RunSavedModelWarmupUntracked: `threads` tasks, one reader."""
  shared = _Shared(records)

  def task() -> None:
    while True:
      with shared.lock:
        if shared.error is not None:
          return
        if shared.done > MAX_RECORDS:  # Checked before each read, as TF Serving does.
          shared.error = _too_many_records(servable, path)
          return
        try:
          record = next(shared.reader)
        except StopIteration:
          return
        except BaseException as e:  # noqa: BLE001  (the reader's error fails the replay)
          shared.error = e
          return
        index = shared.read
        shared.read += 1
      try:
        key, elapsed = _run_record(servable, record, index, num_request_iterations)
      except BaseException as e:  # noqa: BLE001  (raised again in the calling thread)
        shared.fail(e)
        return
      with shared.lock:
        shared.seconds[index] = elapsed
        shared.keys[index] = key
        shared.done += 1
        if on_record and shared.error is None:
          on_record()

  start = time.perf_counter()
  workers = [threading.Thread(target=task, name=f'Warmup_ThreadPool_{n}', daemon=True)
             for n in range(threads)]
  for worker in workers:
    worker.start()
  for worker in workers:
    worker.join()
  seconds = time.perf_counter() - start
  if shared.error is None and shared.done > MAX_RECORDS:
    # TF Serving's tasks may reach the end of a file of 1001 to 1000 + threads records
    # before one checks the count; the replica refuses them as the serial replay does.
    shared.error = _too_many_records(servable, path)
  if shared.error is not None:
    raise shared.error
  order = sorted(shared.seconds)
  return ReplayResult(path, shared.done, seconds, [shared.seconds[i] for i in order],
                      records_lib.count_keys([shared.keys[i] for i in order]))


def replay_warmup(saved_model_dir: str, tags: Sequence[str] = ('serve',),
                  servable: Optional[servable_lib.Servable] = None,
                  on_record: Optional[Callable[[], None]] = None,
                  num_request_iterations: int = 1,
                  batching: Optional[BatchingConfig] = None,
                  num_model_warmup_threads: int = 1) -> ReplayResult:
  """Reads the model's warmup file and replays it; raises what would fail TF Serving's load.

  No file: nothing to replay, as in TF Serving. Without `servable`, the model is
  loaded (under server-side `batching`, if given) and closed afterwards.
  """
  check_iterations(num_request_iterations)
  check_warmup_threads(num_model_warmup_threads)
  path = warmup_file_path(saved_model_dir)
  if not tf.io.gfile.exists(path):
    return ReplayResult(path, 0, 0.0, [], {})
  owned = servable is None
  servable = servable or servable_lib.load(saved_model_dir, tags, batching=batching)
  try:
    return replay_records(servable, warmup_file.warmup_records(path), num_request_iterations,
                          on_record, path, num_model_warmup_threads)
  finally:
    if owned:
      servable.close()


def check_iterations(num_request_iterations: int) -> None:
  if (not isinstance(num_request_iterations, int) or isinstance(num_request_iterations, bool)
      or num_request_iterations < 1):
    raise ServingConfigError(
        'num_request_iterations must be a positive integer (TF Serving\'s '
        f'--num_request_iterations_for_warmup, default 1), got {num_request_iterations!r}.')


def check_warmup_threads(num_model_warmup_threads: int) -> None:
  if (not isinstance(num_model_warmup_threads, int)
      or isinstance(num_model_warmup_threads, bool) or num_model_warmup_threads < 1):
    raise ServingConfigError(
        'num_model_warmup_threads must be a positive integer (TF Serving\'s '
        'model_warmup_options.num_model_warmup_threads; 1, the default, replays the records '
        f'one at a time), got {num_model_warmup_threads!r}.')
