"""One version swap, performed as TF Serving performs it, in this process.

TF Serving's AvailabilityPreservingPolicy loads (and warms) the new version
while the old one serves, moves traffic to it, then unloads the old one. Here,
with TensorFlow's C++ doing the loads and runs (`serving.native`):

  1. load the old version under the case's config, replay its warmup file as
     its own load did, and send every request once: it has been serving;
  2. open-loop traffic on it (`traffic`), for `steady` seconds;
  3. load the new version with the load RunOptions, then replay its warmup
     file with them, `num_request_iterations` times per record;
  4. move the traffic, wait `first` seconds, unload the old version once its
     last request is answered, and go on for `after` seconds.

Each run is one fresh process, the measuring child's 'swap' job (the
calibration is its 'swap.calibrate'; see `measure.child`): TensorFlow's caches
and named thread pools live as long as the process, as in a server.
"""

import dataclasses
import gc
import time
from typing import Any, Dict, List, Optional, Sequence

from tfx.dsl.io import fileio

from tfx_warmup.errors import SwapError
from tfx_warmup.measure import memory as memory_lib
from tfx_warmup.measure.figures import percentile
from tfx_warmup.serving.batching_config import BatchingConfig
from tfx_warmup.swap.cases import Case

PHASES = ('steady', 'load', 'warmup', 'first', 'after')
CALIBRATION_SECONDS = 1.5
# The default rate, as a share of the old version's closed-loop capacity: the headroom a
# production server keeps, so a queue that forms is the swap's doing.
CAPACITY_SHARE = 0.25
# Seconds a client may fall behind its schedule before the swap: more is a rate the old
# version cannot answer (the queue would grow without end). Never more than half the steady
# phase, or a short one would end before any client could fall that far behind.
LAG_LIMIT = 1.0


@dataclasses.dataclass
class Timeline:
  """What one swap process saw. `marks`: each phase's start, and 'end', in seconds."""
  case: str
  marks: Dict[str, float]
  # Per request: [due s, done s, version (1 old, 2 new), ok 0/1].
  requests: List[List[float]]
  load_seconds: float
  warmup_seconds: float
  warmup_records: int
  errors: List[str]
  # Resident bytes (`measure.memory`): 'baseline' before the old version loads, 'steady' at
  # the 'load' mark, 'loaded' at 'warmup', 'warmed' at 'first', 'unloaded' at 'end', and
  # 'peak' from the steady phase's start to 'end'; empty where /proc is missing.
  memory: Dict[str, int] = dataclasses.field(default_factory=dict)
  peak_source: str = ''  # 'vmhwm' (the kernel's, reset at 'steady'), 'sampled', 'unavailable'


@dataclasses.dataclass
class Calibration:
  """The old version's capacity and latency, alone, under TF Serving's defaults."""
  capacity_qps: float
  clients: int
  p50_ms: float
  p99_ms: float


def _traffic(requests_path: str):
  from tfx_warmup.serving import servable as servable_lib
  from tfx_warmup.serving import warmup_file
  return [r for r in (servable_lib.log_request(log)
                      for log in warmup_file.read_warmup_file(requests_path)) if r is not None]


def _warmup_records(model_dir: str):
  from tfx_warmup.serving import contract, warmup_file
  path = contract.warmup_file_path(model_dir)
  return list(warmup_file.warmup_records(path)) if fileio.exists(path) else []


def _load(model_dir: str, case: Case, tags: Sequence[str], batching, meta_graph_def=None):
  from tfx_warmup.serving import servable as servable_lib
  from tfx_warmup.serving import session as session_lib
  return servable_lib.load_native(
      model_dir, tags, batching, case.server.session_config(session_lib.session_config(model_dir)),
      case.server.load_run_options(), meta_graph_def)


def _replay(servable, records, case: Case) -> float:
  """TF Serving's warmup replay, on the load's RunOptions; its seconds."""
  from tfx_warmup.serving import warmup
  session = servable.session
  session.run_options = case.server.load_run_options()
  start = time.perf_counter()
  try:
    warmup.replay_records(servable, records, case.server.num_request_iterations,
                          num_model_warmup_threads=case.server.num_model_warmup_threads)
  finally:
    session.run_options = None
  return time.perf_counter() - start


def _quiet_gc() -> None:
  # TF Serving has no garbage collector: keep Python's out of the timings.
  gc.collect()
  gc.freeze()
  gc.disable()


def calibrate(old_dir: str, requests_path: str, case: Case, clients: int,
              tags: Sequence[str] = ('serve',),
              batching: Optional[BatchingConfig] = None) -> Calibration:
  """The old version's closed-loop capacity, then its latency at CAPACITY_SHARE of it."""
  from tfx_warmup.swap import traffic as traffic_lib
  requests = _traffic(requests_path)
  servable = _load(old_dir, case, tags, batching)
  _replay(servable, _warmup_records(old_dir), case)
  version = traffic_lib.Version(1, servable, requests)
  for i in range(2 * len(requests)):
    version.send(i)
  _quiet_gc()
  capacity = traffic_lib.closed_loop_capacity(version, clients, CALIBRATION_SECONDS)
  loop = traffic_lib.OpenLoop(traffic_lib.Target(version), capacity * CAPACITY_SHARE,
                              clients)
  loop.start()
  time.sleep(CALIBRATION_SECONDS)
  latencies = sorted(s.latency_ms for s in loop.stop())
  version.close()
  return Calibration(capacity_qps=capacity, clients=clients,
                     p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99))


def swap(old_dir: str, new_dir: str, requests_path: str, case: Case, qps: float,
         clients: int, steady: float, first: float, after: float,
         tags: Sequence[str] = ('serve',),
         batching: Optional[BatchingConfig] = None) -> Timeline:
  """Performs the swap from `old_dir` to `new_dir` under `case`, traffic running throughout."""
  from tfx_warmup.serving import servable as servable_lib
  from tfx_warmup.swap import traffic as traffic_lib
  requests = _traffic(requests_path)
  # Read before anything is timed: TF Serving parses these in C++, here Python would.
  new_meta = servable_lib.read_meta_graph(new_dir, tags)
  new_records = _warmup_records(new_dir) if case.warmup else []

  memory = memory_lib.Marks()  # Each reading is one ~1 us read of /proc/self/statm.
  memory.take('baseline')
  old_servable = _load(old_dir, case, tags, batching)
  if case.warmup:
    _replay(old_servable, _warmup_records(old_dir), case)
  old = traffic_lib.Version(1, old_servable, requests)
  for i in range(2 * len(requests)):
    old.send(i)
  _quiet_gc()
  memory.start_peak()
  lag_limit = min(LAG_LIMIT, steady / 2)
  loop = traffic_lib.OpenLoop(traffic_lib.Target(old), qps, clients, lag_limit=lag_limit)
  marks = {'steady': 0.0}
  loop.start()
  time.sleep(steady)
  loop.lag_limit = None  # From the load on, a queue is what is measured.
  if loop.overloaded:
    sent = loop.stop()
    memory.stop()
    held = sum(1 for s in sent if s.done <= steady) / steady
    raise SwapError(
        f'The old version cannot sustain the rate asked on this machine: it fell '
        f'{lag_limit:g} s behind {qps:.0f} QPS before the swap, answering {held:.0f} per '
        'second. Lower the rate, or leave it out for a quarter of its measured capacity.')

  memory.take('steady')
  marks['load'] = loop.now()
  new_servable = _load(new_dir, case, tags, batching, new_meta)
  marks['warmup'] = loop.now()
  memory.take('loaded')
  warmup_seconds = _replay(new_servable, new_records, case) if new_records else 0.0
  marks['first'] = loop.now()
  memory.take('warmed')
  new = traffic_lib.Version(2, new_servable, requests)
  loop.target.switch(new)
  time.sleep(first)

  marks['after'] = loop.now()
  old.wait_idle()
  old.close()  # TF Serving unloads the old version once the new one serves.
  time.sleep(after)
  marks['end'] = loop.now()
  memory.take('unloaded')
  memory_figures = memory.stop()
  sent = loop.stop()
  new.close()
  errors = sorted({s.error for s in sent if not s.ok})
  return Timeline(case=case.name, marks={k: round(v, 6) for k, v in marks.items()},
                  requests=[[round(s.due, 6), round(s.done, 6), s.version, int(s.ok)]
                            for s in sent],
                  load_seconds=round(marks['warmup'] - marks['load'], 6),
                  warmup_seconds=round(warmup_seconds, 6),
                  warmup_records=len(new_records), errors=errors[:5],
                  memory=memory_figures, peak_source=memory.source)


def calibrate_job(old_dir: str, requests_path: str, case: Dict[str, Any], clients: int,
                  tags: Sequence[str], batching: Optional[Dict[str, Any]] = None
                  ) -> Dict[str, Any]:
  """The measuring child's 'swap.calibrate' job: `calibrate` on JSON arguments."""
  return dataclasses.asdict(calibrate(old_dir, requests_path, Case.from_json(case), clients,
                                      tags, _batching(batching)))


def swap_job(old_dir: str, new_dir: str, requests_path: str, case: Dict[str, Any],
             qps: float, clients: int, phase_seconds: Dict[str, float],
             tags: Sequence[str], batching: Optional[Dict[str, Any]] = None
             ) -> Dict[str, Any]:
  """The measuring child's 'swap' job: `swap` on JSON arguments."""
  return dataclasses.asdict(swap(
      old_dir, new_dir, requests_path, Case.from_json(case), qps, clients,
      phase_seconds['steady'], phase_seconds['first'], phase_seconds['after'], tags,
      _batching(batching)))


def _batching(fields: Optional[Dict[str, Any]]) -> Optional[BatchingConfig]:
  return BatchingConfig(**fields) if fields else None
