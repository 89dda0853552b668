"""The warmup replay TF Serving runs before a version serves (saved_model_warmup_util.cc).

Each record runs `num_request_iterations` times (--num_request_iterations_for_warmup),
is counted, and only then is the 1000-record limit checked, so a failing 1001st
record reports its own error. The first failing record fails the load.
"""

import dataclasses
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence

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
  """What replaying a warmup file did: records run and how long each took."""
  path: str
  records: int
  seconds: float
  record_seconds: List[float]
  summary: Dict[records_lib.RecordKey, int]


def replay_records(servable: servable_lib.Servable,
                   records: Iterable[prediction_log_pb2.PredictionLog],
                   num_request_iterations: int = 1,
                   on_record: Optional[Callable[[], None]] = None,
                   path: str = '') -> ReplayResult:
  """Replays `records` on `servable` as TF Serving's warmup does; raises WarmupReplayError.

  `path` names the file the records come from, in messages; `on_record` is
  called after each record (progress reporting).
  """
  check_iterations(num_request_iterations)
  record_seconds, keys = [], []
  for index, record in enumerate(records):
    key = records_lib.record_key(record)
    start = time.perf_counter()
    try:
      for _ in range(num_request_iterations):
        servable.run_log(record)
    except RequestError as e:
      raise WarmupReplayError(
          f'Warmup record {index} ({key.api}, signature '
          f"'{key.signature}', batch size {key.batch_size}) fails: {e.code}: "
          f'{one_line(e.message)}. TF '
          'Serving would refuse to load this model.', e.code, index, key.signature,
          cause=e) from e
    record_seconds.append(time.perf_counter() - start)
    keys.append(key)
    if len(keys) > MAX_RECORDS:
      raise warmup_file.too_many_records(path or warmup_file_path(servable.export_dir))
    if on_record:
      on_record()
  return ReplayResult(path, len(keys), sum(record_seconds), record_seconds,
                      records_lib.count_keys(keys))


def replay_warmup(saved_model_dir: str, tags: Sequence[str] = ('serve',),
                  servable: Optional[servable_lib.Servable] = None,
                  on_record: Optional[Callable[[], None]] = None,
                  num_request_iterations: int = 1,
                  batching: Optional[BatchingConfig] = None) -> ReplayResult:
  """Reads the model's warmup file and replays it; raises what would fail TF Serving's load.

  No file: nothing to replay, as in TF Serving. Without `servable`, the model is
  loaded (under server-side `batching`, if given) and closed afterwards.
  """
  check_iterations(num_request_iterations)
  path = warmup_file_path(saved_model_dir)
  if not tf.io.gfile.exists(path):
    return ReplayResult(path, 0, 0.0, [], {})
  owned = servable is None
  servable = servable or servable_lib.load(saved_model_dir, tags, batching=batching)
  try:
    return replay_records(servable, warmup_file.warmup_records(path), num_request_iterations,
                          on_record, path)
  finally:
    if owned:
      servable.close()


def check_iterations(num_request_iterations: int) -> None:
  if (not isinstance(num_request_iterations, int) or isinstance(num_request_iterations, bool)
      or num_request_iterations < 1):
    raise ServingConfigError(
        'num_request_iterations must be a positive integer (TF Serving\'s '
        f'--num_request_iterations_for_warmup, default 1), got {num_request_iterations!r}.')
