"""The swap measured under each configuration, side by side, and the config recommended.

Every run is a fresh process (`swap.run`'s jobs in `measure.child`), cases
interleaved run by run so a noisy moment of the machine does not land on one
case. First a calibration
process measures the old version alone: its capacity sets the default rate
(a quarter of it: the headroom a production server keeps, so a queue that forms
is the swap's doing) and its steady p99 the default deadline (4x: what a client
tuned to normal traffic would allow). Then each case's swap
runs `repetitions` times; the figure compared is the serving version's p99
while the new version loads and warms, the median of the runs, with the spread.
"""

import dataclasses
import os
import statistics
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence

from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.errors import SwapError
from tfx_warmup.measure import child
from tfx_warmup.report.model import SwapCase, SwapPhase, SwapSection
from tfx_warmup.serving import platform_config
from tfx_warmup.serving.batching_config import BatchingConfig
from tfx_warmup.swap import cases as cases_lib
from tfx_warmup.measure.figures import percentile
from tfx_warmup.swap.run import CAPACITY_SHARE, PHASES, Calibration, Timeline

DEFAULT_CLIENTS = 2
DEFAULT_REPETITIONS = 3
# Runs per case when none is asked for, overridden from the environment: a smoke run in CI
# (the suite's pipelines, each in a process of its own) measures every case once.
REPETITIONS_ENV = 'TFX_WARMUP_SWAP_REPETITIONS'


def default_repetitions() -> int:
  """DEFAULT_REPETITIONS, or $TFX_WARMUP_SWAP_REPETITIONS when set (a positive integer)."""
  text = os.environ.get(REPETITIONS_ENV, '')
  if not text:
    return DEFAULT_REPETITIONS
  if not text.isdigit() or int(text) < 1:
    raise SwapError(f'{REPETITIONS_ENV}={text!r}: set it to a positive integer (runs per '
                    f'case; default {DEFAULT_REPETITIONS}), or unset it.')
  return int(text)
# Seconds of steady traffic before the swap, on the new version, after the unload.
DEFAULT_PHASE_SECONDS = {'steady': 2.0, 'first': 2.0, 'after': 1.0}
DEADLINE_TIMES_P99 = 4  # the default deadline, in steady p99s
# A candidate is recommended when its median p99 beats the defaults' by this much, and
# beats every run of the defaults: better beyond the spread.
BETTER = 0.9
SUSTAINED = 0.9  # the share of the rate the old version must answer before the swap


@dataclasses.dataclass(frozen=True)
class Traffic:
  """Where the swap's traffic and limits came from."""
  qps: float
  qps_source: str
  deadline_ms: float
  deadline_source: str


def choose_traffic(calibration: Calibration, qps: Optional[float],
                   deadline_ms: Optional[float]) -> Traffic:
  """The rate and deadline: the user's, else derived from the calibration; refuses a deadline
  no request can meet."""
  capacity = calibration.capacity_qps
  if qps is None:
    qps = max(1.0, round(capacity * CAPACITY_SHARE))
    qps_source = (f'a quarter of the old version\'s closed-loop capacity here '
                  f'({capacity:.0f} QPS from {calibration.clients} clients)')
  else:
    qps_source = 'given'
  if deadline_ms is None:
    deadline_ms = round(max(1.0, DEADLINE_TIMES_P99 * calibration.p99_ms), 1)
    deadline_source = (f'{DEADLINE_TIMES_P99}x the old version\'s steady p99 '
                       f'({calibration.p99_ms:.2f} ms at {capacity * CAPACITY_SHARE:.0f} QPS)')
  else:
    deadline_source = 'given'
  if deadline_ms <= calibration.p50_ms:
    raise SwapError(
        f'A deadline of {deadline_ms:g} ms is at or below the old version\'s steady p50 '
        f'({calibration.p50_ms:.2f} ms here): every request would count as late. Pass a '
        f'deadline above it, or leave it out for {DEADLINE_TIMES_P99}x the steady p99 '
        f'({DEADLINE_TIMES_P99 * calibration.p99_ms:.1f} ms).')
  return Traffic(qps, qps_source, deadline_ms, deadline_source)


def phase_stats(timeline: Timeline, deadline_ms: float) -> List[SwapPhase]:
  """Per phase, the requests due in it: counts and latency percentiles."""
  marks = timeline.marks
  bounds = [(phase, marks[phase], marks[next_phase])
            for phase, next_phase in zip(PHASES, PHASES[1:] + ('end',))]
  rows = []
  for phase, start, end in bounds:
    due = [r for r in timeline.requests if start <= r[0] < end]
    latencies = sorted((r[1] - r[0]) * 1000 for r in due)
    answered = sum(1 for r in due if r[3])
    late = sum(1 for r in due if not r[3] or (r[1] - r[0]) * 1000 > deadline_ms)
    rows.append(SwapPhase(
        phase=phase, seconds=round(end - start, 3), sent=len(due), answered=answered,
        late=late, p50_ms=_rounded(percentile(latencies, 50)),
        p99_ms=_rounded(percentile(latencies, 99)), max_ms=_rounded(latencies[-1])
        if latencies else None))
  return rows


def window_p99(timeline: Timeline) -> float:
  """The serving version's p99 over requests due while the new version loads and warms."""
  start, end = timeline.marks['load'], timeline.marks['first']
  return percentile(sorted((r[1] - r[0]) * 1000 for r in timeline.requests
                           if start <= r[0] < end), 99)


def summarize(case: cases_lib.Case, timelines: Sequence[Timeline],
              deadline_ms: float) -> SwapCase:
  """One case's runs: medians, the spread, and the phases of its median run."""
  p99s = [window_p99(t) for t in timelines]
  median_run = sorted(zip(p99s, range(len(p99s))))[len(p99s) // 2][1]
  stats = [phase_stats(t, deadline_ms) for t in timelines]
  first = [next(p for p in s if p.phase == 'first').max_ms or 0.0 for s in stats]
  late = [sum(p.late for p in s if p.phase != 'steady') for s in stats]
  return SwapCase(
      name=case.name, role=case.role, description=case.description, warmup=case.warmup,
      window_p99_ms=_rounded(statistics.median(p99s)),
      window_p99_ms_runs=[_rounded(p) for p in p99s],
      window_seconds=_rounded(statistics.median(
          t.marks['first'] - t.marks['load'] for t in timelines), 3),
      load_seconds=_rounded(statistics.median(t.load_seconds for t in timelines), 3),
      warmup_seconds=_rounded(statistics.median(t.warmup_seconds for t in timelines), 3),
      warmup_records=timelines[0].warmup_records * case.server.num_request_iterations,
      first_max_ms=_rounded(statistics.median(first)),
      late=int(statistics.median(late)),
      phases=stats[median_run])


def check_sustained(timelines: Sequence[Timeline], qps: float, capacity: float) -> None:
  """Refuses a rate the old version did not keep up with before the swap."""
  held = []
  for timeline in timelines:
    end = timeline.marks['load']
    held.append(sum(1 for r in timeline.requests if r[1] <= end) / end)
  rate = statistics.median(held)
  if rate < SUSTAINED * qps:
    raise SwapError(
        f'The old version cannot sustain {qps:g} QPS on this machine: before the swap it '
        f'answered {rate:.0f} per second (closed-loop capacity {capacity:.0f}), so the swap '
        f'would measure a queue, not the swap. Lower the rate below {capacity:.0f} QPS, or '
        'leave it out for a quarter of the capacity.')


def recommend(section_cases: Sequence[SwapCase]) -> Optional[SwapCase]:
  """The (b) candidate with the lowest p99, if it beats (a) beyond the spread; else None."""
  defaults = next(c for c in section_cases if c.role == 'a')
  candidates = sorted((c for c in section_cases if c.role == 'b'),
                      key=lambda c: c.window_p99_ms)
  if not candidates:
    return None
  best = candidates[0]
  if (best.window_p99_ms <= BETTER * defaults.window_p99_ms and
      best.window_p99_ms < min(defaults.window_p99_ms_runs)):
    return best
  return None


def recommendation_text(defaults: SwapCase, best: Optional[SwapCase],
                        candidates: Sequence[SwapCase]) -> str:
  if best is not None:
    return (f"'{best.name}' keeps the serving version's p99 at {best.window_p99_ms:g} ms while "
            f'the next version loads and warms, against {defaults.window_p99_ms:g} ms with TF '
            f"Serving's defaults (runs {defaults.window_p99_ms_runs} vs "
            f'{best.window_p99_ms_runs}): serve with the platform config written beside '
            'this report.')
  figures = ', '.join(f"'{c.name}' {c.window_p99_ms:g} ms" for c in candidates)
  return (f"No candidate measured better than TF Serving's defaults here (p99 "
          f'{defaults.window_p99_ms:g} ms, runs {defaults.window_p99_ms_runs}; {figures}): '
          'keep the defaults. On a machine whose cores are all busy serving, a separate load '
          'pool has no idle core to run on.')


def run_child(job: str, arguments: Dict[str, Any], what: str) -> Dict[str, Any]:
  """Runs the swap's `job` ('swap.calibrate' or 'swap') in a fresh process; its JSON result.

  The child's own errors come back as their class (a LoadError of a version that
  will not load, a SwapError of a rate the old version cannot hold); any other
  failure is a SwapError naming `what` was being measured.
  """
  return child.run_job(job, arguments, what=what, error=SwapError)


def measure_swap(old_dir: str, new_dir: str,
                 live: Sequence[prediction_log_pb2.PredictionLog], *,
                 qps: Optional[float] = None, deadline_ms: Optional[float] = None,
                 repetitions: Optional[int] = None, clients: int = DEFAULT_CLIENTS,
                 phase_seconds: Optional[Dict[str, float]] = None,
                 tags: Sequence[str] = ('serve',),
                 batching: Optional[BatchingConfig] = None,
                 num_request_iterations: int = 1,
                 on_process: Optional[Callable[[], None]] = None,
                 keep_timelines: Optional[Dict[str, List[Timeline]]] = None) -> SwapSection:
  """Swaps `old_dir` -> `new_dir` under each case, `repetitions` times, traffic from `live`.

  `keep_timelines`, if given, receives every run's Timeline by case (for plots).
  Raises SwapError naming the cause: a version that will not load, a rate the
  old version cannot sustain, a deadline at or below its steady p50.
  """
  from tfx_warmup import serving
  if not live:
    raise SwapError('No traffic to send during the swap: the examples hold none beyond the '
                    'warmup sample. Give more examples, or lower num_examples.')
  phase_seconds = dict(DEFAULT_PHASE_SECONDS, **(phase_seconds or {}))
  repetitions = repetitions or default_repetitions()
  chosen = list(cases_lib.cases(num_request_iterations))
  with tempfile.TemporaryDirectory() as tmp:
    requests_path = os.path.join(tmp, 'traffic')
    serving.write_warmup_file(requests_path, live)
    common = {'old_dir': old_dir, 'requests_path': requests_path, 'clients': clients,
              'tags': list(tags),
              'batching': dataclasses.asdict(batching) if batching else None}
    calibration = Calibration(**run_child(
        'swap.calibrate', dict(common, case=chosen[0].to_json()), 'the old version alone'))
    if on_process:
      on_process()
    traffic = choose_traffic(calibration, qps, deadline_ms)
    timelines: Dict[str, List[Timeline]] = {c.name: [] for c in chosen}
    for _ in range(repetitions):
      for case in chosen:
        timelines[case.name].append(Timeline(**run_child(
            'swap', dict(common, new_dir=new_dir, case=case.to_json(), qps=traffic.qps,
                         phase_seconds=phase_seconds), f"case '{case.name}'")))
        if on_process:
          on_process()
        if case.role == 'a':  # Fail fast on a rate the old version cannot hold.
          check_sustained(timelines[case.name], traffic.qps, calibration.capacity_qps)
  if keep_timelines is not None:
    keep_timelines.update(timelines)
  summaries = [summarize(c, timelines[c.name], traffic.deadline_ms) for c in chosen]
  best = recommend(summaries)
  return SwapSection(
      old_model=old_dir, new_model=new_dir, qps=traffic.qps, qps_source=traffic.qps_source,
      clients=clients, capacity_qps=round(calibration.capacity_qps, 1),
      deadline_ms=traffic.deadline_ms, deadline_source=traffic.deadline_source,
      repetitions=repetitions, phase_seconds=phase_seconds, cases=summaries,
      recommended=best.name if best else None,
      recommendation=recommendation_text(summaries[0], best,
                                         [c for c in summaries if c.role == 'b']),
      platform_config=None, server_command=None)


def recommended_server(section: SwapSection,
                       num_request_iterations: int = 1) -> Optional[platform_config.ServerConfig]:
  """The ServerConfig of the recommended case, if any."""
  for case in cases_lib.cases(num_request_iterations):
    if case.name == section.recommended:
      return case.server
  return None


def _rounded(value: float, digits: int = 3) -> Optional[float]:
  return None if value is None or value != value else round(value, digits)
