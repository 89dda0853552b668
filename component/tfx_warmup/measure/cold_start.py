"""Measures the cold start that a warmup file removes.

Every measurement runs in a fresh Python process (`measure.child`, job
'cold_start'): TensorFlow keeps process-wide caches (oneDNN primitives, thread
pools), so a second load in the same process would look warm even without
warmup. The child process loads the model as TF Serving does (under
server-side batching when the run has it), optionally replays its warmup file,
then sends live requests in order for a number of rounds and reports each
latency. TensorFlow's C++ loads and runs the model (`serving.native`), so the
latencies are TF Serving's, not Python's. The live requests reach the child in
a file: the only way into a fresh process.
"""

import dataclasses
import gc
import os
import statistics
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.errors import LiveRequestError, RequestError
from tfx_warmup.measure import child
from tfx_warmup.measure.figures import percentile
from tfx_warmup.report.model import ColdStartRow, ColdStartSection, batching_section
from tfx_warmup.serving.batching_config import BatchingConfig
from tfx_warmup.serving.errors import one_line

# What a row's first-request figure is: the requests run in order after one load, so it
# depends on the rows before it. Said in every report, since the table invites reading
# each row as if it had been measured alone.
FIRST_MS_MEANING = (
    "each request's first latency after one load, sent in the listed order: a request that "
    'shares graph parts (parse ops, layers, kernels) with one sent before it pays only what '
    'that one left uninitialised, so the first of each family carries the shared cost; '
    'max_first_ms_* is the worst a client of this model meets')

# Rounds of the live requests per measurement: the first is the cold one, the
# rest give the steady state.
DEFAULT_ROUNDS = 30


@dataclasses.dataclass
class Timing:
  """What one fresh process saw: load and replay time, then latency per request and round."""
  load_seconds: float
  replay_seconds: float
  replay_records: int
  keys: List[Dict]  # One per live request: kind, signature, batch_size.
  latencies_ms: List[List[float]]  # [round][request]


def time_in_this_process(model_dir: str, requests_path: str, replay_warmup: bool,
                         rounds: int, tags: Sequence[str],
                         batching: Optional[BatchingConfig] = None) -> Timing:
  """Load, optionally replay the warmup file, then time each live request's Session::Run.

  TensorFlow's C++ loads the model and runs every request (`serving.native`),
  so the figures are TF Serving's, not Python's; the replica's request checks
  and response building run outside the timer (TF Serving's are C++, cheap and
  not lazily initialised). With server-side batching a request is timed through
  the replica's BatchingSession, its padding and splitting included.
  """
  # Keeps the parent light.
  import tensorflow as tf
  from tfx_warmup import serving
  from tfx_warmup.serving import records
  from tfx_warmup.serving import servable as servable_lib
  live = serving.read_warmup_file(requests_path)
  start = time.perf_counter()
  servable = servable_lib.load_native(model_dir, tags, batching=batching)
  load_seconds = time.perf_counter() - start
  calls = []
  for index, record in enumerate(live):
    try:
      calls.append(servable.prepare(servable_lib.log_request(record)))
    except RequestError as e:
      raise _live_request_error(index, record, e) from e
  session = servable.session
  prepared = [session.prepare(c.feeds, c.fetches) for c in calls]
  # TF Serving has no garbage collector: keep Python's out of the timings (a full
  # collection over TensorFlow's heap costs ~130 ms and lands on a random request).
  gc.collect()
  gc.freeze()
  gc.disable()
  with servable:
    replayed = (serving.replay_warmup(model_dir, tags, servable=servable)
                if replay_warmup else None)
    latencies = []
    for _ in range(rounds):
      row = []
      for index, handle in enumerate(prepared):
        start = time.perf_counter()
        try:
          session.run_prepared(handle)
        except (tf.errors.OpError, RequestError) as e:
          raise _live_request_error(index, live[index], e) from e
        row.append((time.perf_counter() - start) * 1000)
      latencies.append(row)
    for p in prepared:
      p.close()
  return Timing(load_seconds=load_seconds,
                replay_seconds=replayed.seconds if replayed else 0.0,
                replay_records=replayed.records if replayed else 0,
                keys=[dataclasses.asdict(records.record_key(r)) for r in live],
                latencies_ms=latencies)


def _live_request_error(index: int, record: prediction_log_pb2.PredictionLog,
                        error: Exception) -> LiveRequestError:
  """Which live request failed, with TF Serving's status for it."""
  from tfx_warmup.serving import records
  from tfx_warmup.serving import servable as servable_lib
  status = (error if isinstance(error, RequestError) else servable_lib.request_error(error))
  key = records.record_key(record)
  return LiveRequestError(
      f"Live request {index} ({key.api}, signature '{key.signature}', batch size "
      f'{key.batch_size}) fails in the measurement: {status.code}: {one_line(status.message)}',
      status.code, key.signature)


def job(model_dir: str, requests_path: str, replay_warmup: bool, rounds: int,
        tags: Sequence[str], batching: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
  """The measuring child's 'cold_start' job: `time_in_this_process` on JSON arguments."""
  return dataclasses.asdict(time_in_this_process(
      model_dir, requests_path, replay_warmup, rounds, tags,
      BatchingConfig(**batching) if batching else None))


def time_in_fresh_process(model_dir: str, requests_path: str, replay_warmup: bool,
                          rounds: int = DEFAULT_ROUNDS,
                          tags: Sequence[str] = ('serve',),
                          batching: Optional[BatchingConfig] = None) -> Timing:
  """Runs `time_in_this_process` in a new Python process and returns its Timing.

  Raises the child's error as its own class (LiveRequestError, LoadError, ...), or
  MeasureError for a process that failed otherwise.
  """
  result = child.run_job('cold_start', {
      'model_dir': model_dir, 'requests_path': requests_path,
      'replay_warmup': replay_warmup, 'rounds': rounds, 'tags': list(tags),
      'batching': dataclasses.asdict(batching) if batching else None,
  }, what=f"cold start, {'with' if replay_warmup else 'without'} the warmup replay")
  return Timing(**result)


def cold_start_report(model_dir: str,
                      live: Sequence[prediction_log_pb2.PredictionLog],
                      rounds: int = DEFAULT_ROUNDS,
                      tags: Sequence[str] = ('serve',),
                      batching: Optional[BatchingConfig] = None,
                      on_process: Optional[Callable[[], None]] = None,
                      with_warmup: bool = True) -> ColdStartSection:
  """First-request latency of the `live` requests without and with warmup, plus steady state.

  Both processes load the model under server-side `batching`, when given, as TF
  Serving would serve it.
  `on_process` is called after each of the two measurement processes (progress).
  `with_warmup=False` (a model with no warmup file: there is nothing to compare)
  runs only the process without warmup; the "with warmup" figures are then None.
  """
  from tfx_warmup import serving
  with tempfile.TemporaryDirectory() as tmp:
    requests_path = os.path.join(tmp, 'live_requests')
    serving.write_warmup_file(requests_path, live)
    timings = []
    for replay in ((False, True) if with_warmup else (False,)):
      timings.append(time_in_fresh_process(model_dir, requests_path, replay, rounds, tags,
                                           batching))
      if on_process:
        on_process()
  cold, warm = timings[0], (timings[1] if with_warmup else None)
  rows = []
  for i, key in enumerate(cold.keys):
    steady = sorted(r[i] for r in cold.latencies_ms[1:] + (warm.latencies_ms[1:] if warm else []))
    rows.append(ColdStartRow(
        **key,
        first_ms_without_warmup=round(cold.latencies_ms[0][i], 3),
        first_ms_with_warmup=round(warm.latencies_ms[0][i], 3) if warm else None,
        steady_p50_ms=round(percentile(steady, 50), 3),
        steady_p99_ms=round(percentile(steady, 99), 3)))
  return ColdStartSection(
      rounds=rounds,
      load_seconds=round((warm or cold).load_seconds, 3),
      replay_seconds=round(warm.replay_seconds, 3) if warm else 0.0,
      replay_records=warm.replay_records if warm else 0,
      requests=rows,
      max_first_ms_without_warmup=max(r.first_ms_without_warmup for r in rows),
      max_first_ms_with_warmup=max(r.first_ms_with_warmup for r in rows) if warm else None,
      steady_p50_ms=round(statistics.median(r.steady_p50_ms for r in rows), 3),
      batching=batching_section(batching),
      first_ms_meaning=FIRST_MS_MEANING)
