"""The swap measured under each way of running it, side by side, and the settings recommended.

Every run is a fresh process (`swap.run`'s jobs in `measure.child`), cases
interleaved run by run so a noisy moment of the machine does not land on one
case. First `calibrations` processes measure the old version alone: the median
of their capacities sets the default rate (a quarter of it: the headroom a
production server keeps, so a queue that forms is the swap's doing), the median
of their steady p99s the default deadline (4x: what a client tuned to normal
traffic would allow), and their spread says whether the machine is quiet enough
to compare. Then each case's swap runs `repetitions` times.

The verdict (`swap.verdict`) ranks the cases by what the swap costs clients and
recommends a candidate only beyond the spread; with fewer than 3 runs per case,
or calibration runs whose steady p99 moved more than 3x (the rate and the
deadline would rest on a moment of the machine), nothing is ranked and the
report says why.

The bound: `calibrations + repetitions x cases` processes, plus `2 x repetitions`
when winners of two or more groups are combined (the defaults measured again
beside the combination); each takes the phase seconds (5 s by default) plus
about 5 s to start TensorFlow and load both versions, so the default 3 runs of
the 10 cases of a 2-core machine take 5-6 minutes (benchmark-swap: 4.2 min for 9 on the
demo model, 5.9 min on a 1 GB model). `swap_candidates` leaves groups out.
"""

import dataclasses
import os
import statistics
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from absl import logging
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.errors import SwapError
from tfx_warmup.measure import child
from tfx_warmup.measure.figures import percentile
from tfx_warmup.report.model import SwapCase, SwapMemory, SwapPhase, SwapSection
from tfx_warmup.serving import platform_config
from tfx_warmup.serving.batching_config import BatchingConfig
from tfx_warmup.swap import allocators
from tfx_warmup.swap import cases as cases_lib
from tfx_warmup.swap import verdict
from tfx_warmup.swap.run import CAPACITY_SHARE, PHASES, Calibration, Timeline

DEFAULT_CLIENTS = 2
DEFAULT_REPETITIONS = 3
# Runs per case when none is asked for, overridden from the environment: a smoke run in CI
# (the suite's pipelines, each in a process of its own) measures every case once.
REPETITIONS_ENV = 'TFX_WARMUP_SWAP_REPETITIONS'
# The phases' seconds, 'steady,first,after', overridden from the environment the same way:
# a smoke run needs every phase, not its full length.
PHASE_SECONDS_ENV = 'TFX_WARMUP_SWAP_PHASE_SECONDS'
CALIBRATIONS = 3  # calibration processes, at most (never more than the repetitions)
# Seconds of steady traffic before the swap, on the new version, after the unload.
DEFAULT_PHASE_SECONDS = {'steady': 2.0, 'first': 2.0, 'after': 1.0}
DEADLINE_TIMES_P99 = 4  # the default deadline, in steady p99s
SUSTAINED = 0.9  # the share of the rate the old version must answer before the swap
_MIB = 1024 * 1024
# A swap process takes seconds (about 20 s with 1 GB of variables here); one still running
# after this is stuck, and is stopped rather than left to hold the step forever.
CHILD_TIMEOUT_SECONDS = 900


def default_repetitions() -> int:
  """DEFAULT_REPETITIONS, or $TFX_WARMUP_SWAP_REPETITIONS when set (a positive integer)."""
  text = os.environ.get(REPETITIONS_ENV, '')
  if not text:
    return DEFAULT_REPETITIONS
  if not text.isdigit() or int(text) < 1:
    raise SwapError(f'{REPETITIONS_ENV}={text!r}: set it to a positive integer (runs per '
                    f'case; default {DEFAULT_REPETITIONS}), or unset it.')
  return int(text)


def default_phase_seconds() -> Dict[str, float]:
  """DEFAULT_PHASE_SECONDS, or $TFX_WARMUP_SWAP_PHASE_SECONDS when set ('steady,first,after',
  positive seconds)."""
  text = os.environ.get(PHASE_SECONDS_ENV, '')
  if not text:
    return dict(DEFAULT_PHASE_SECONDS)
  try:
    values = [float(v) for v in text.split(',')]
  except ValueError:
    values = []
  if len(values) != len(DEFAULT_PHASE_SECONDS) or not all(v > 0 for v in values):
    raise SwapError(f'{PHASE_SECONDS_ENV}={text!r}: set it to the seconds of the steady, first '
                    "and after phases, e.g. '2,2,1' (the default), or unset it.")
  return dict(zip(DEFAULT_PHASE_SECONDS, values))


@dataclasses.dataclass(frozen=True)
class Traffic:
  """Where the swap's traffic and limits came from."""
  qps: float
  qps_source: str
  deadline_ms: float
  deadline_source: str


def median_calibration(runs: Sequence[Calibration]) -> Calibration:
  """The median of each figure over the calibration runs."""
  return Calibration(capacity_qps=statistics.median(r.capacity_qps for r in runs),
                     clients=runs[0].clients,
                     p50_ms=statistics.median(r.p50_ms for r in runs),
                     p99_ms=statistics.median(r.p99_ms for r in runs))


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


def memory_summary(timelines: Sequence[Timeline]) -> Optional[SwapMemory]:
  """Medians of the runs' memory marks, in MiB; None when a run could not read them."""
  runs = [t.memory for t in timelines]
  if not runs or not all(runs):
    return None

  def mib(key: str, above: Optional[str] = None) -> float:
    """The runs' median of mark `key` (less mark `above`), in MiB."""
    return round(statistics.median(r[key] - (r[above] if above else 0) for r in runs) / _MIB, 1)

  return SwapMemory(
      baseline_mib=mib('baseline'), steady_mib=mib('steady'), loaded_mib=mib('loaded'),
      warmed_mib=mib('warmed'), unloaded_mib=mib('unloaded'), peak_mib=mib('peak'),
      peak_mib_runs=[round(r['peak'] / _MIB, 1) for r in runs],
      new_version_mib=mib('warmed', above='steady'), peak_source=timelines[0].peak_source,
      models_peak_mib=mib('peak', above='baseline'),
      models_steady_mib=mib('steady', above='baseline'))


def summarize(case: cases_lib.Case, timelines: Sequence[Timeline],
              deadline_ms: float) -> SwapCase:
  """One case's runs: medians, the spread, and the phases of its median run."""
  p99s = [window_p99(t) for t in timelines]
  median_run = sorted(zip(p99s, range(len(p99s))))[len(p99s) // 2][1]
  stats = [phase_stats(t, deadline_ms) for t in timelines]
  first = [next(p for p in s if p.phase == 'first') for s in stats]
  late = [sum(p.late for p in s if p.phase != 'steady') for s in stats]
  first_p99s = [p.p99_ms for p in first if p.p99_ms is not None]
  return SwapCase(
      name=case.name, role=case.role, description=case.description, warmup=case.warmup,
      group=case.group, allocator=case.allocator, parts=list(case.parts),
      window_p99_ms=_rounded(statistics.median(p99s)),
      window_p99_ms_runs=[_rounded(p) for p in p99s],
      window_seconds=_rounded(statistics.median(
          t.marks['first'] - t.marks['load'] for t in timelines), 3),
      load_seconds=_rounded(statistics.median(t.load_seconds for t in timelines), 3),
      warmup_seconds=_rounded(statistics.median(t.warmup_seconds for t in timelines), 3),
      warmup_records=timelines[0].warmup_records * case.server.num_request_iterations,
      first_max_ms=_rounded(statistics.median(p.max_ms or 0.0 for p in first)),
      first_p99_ms=_rounded(statistics.median(first_p99s)) if first_p99s else None,
      late=int(statistics.median(late)),
      phases=stats[median_run], memory=memory_summary(timelines))


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


def run_child(job: str, arguments: Dict[str, Any], what: str,
              env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
  """Runs the swap's `job` ('swap.calibrate' or 'swap') in a fresh process; its JSON result.

  The child's own errors come back as their class (a LoadError of a version that
  will not load, a SwapError of a rate the old version cannot hold); any other
  failure is a SwapError naming `what` was being measured, and so is a process
  still running after CHILD_TIMEOUT_SECONDS (stopped: a queue that never drains).
  """
  return child.run_job(job, arguments, what=what, error=SwapError, env=env,
                       timeout=CHILD_TIMEOUT_SECONDS)


def available_cases(chosen: Sequence[cases_lib.Case]
                    ) -> Tuple[List[cases_lib.Case], Dict[str, Dict[str, str]], List[str]]:
  """The cases whose allocator is found here, each one's child environment, and the notes on
  those left out (which library is missing, how to install it)."""
  kept, envs, notes = [], {}, []
  for case in chosen:
    env: Dict[str, str] = {}
    if case.allocator != cases_lib.GLIBC:
      path = allocators.find(case.allocator)
      problem = None if path else allocators.missing_note(case.allocator)
      if path:
        failure = allocators.check_preload(path)
        if failure:
          problem = f"'{case.name}' was not measured: preloading {path} fails ({failure})."
      if problem:
        notes.append(problem)
        continue
      env = allocators.child_env(case.allocator, path)
    kept.append(case)
    envs[case.name] = dict(env, **thread_env(case.server))
  return kept, envs, notes


def thread_env(server: platform_config.ServerConfig) -> Dict[str, str]:
  """The thread counts as TensorFlow's environment variables too: its intra-op pool is
  process-wide, made by the first session (or eager context) that runs, as the flag makes
  it in TF Serving."""
  env = {}
  if server.intra_op_threads:
    env['TF_NUM_INTRAOP_THREADS'] = str(server.intra_op_threads)
  if server.inter_op_threads:
    env['TF_NUM_INTEROP_THREADS'] = str(server.inter_op_threads)
  return env


def process_count(num_cases: int, repetitions: int) -> int:
  """Processes before any combination: calibrations, then every case `repetitions` times."""
  return min(CALIBRATIONS, repetitions) + repetitions * num_cases


def measure_swap(old_dir: str, new_dir: str,
                 live: Sequence[prediction_log_pb2.PredictionLog], *,
                 qps: Optional[float] = None, deadline_ms: Optional[float] = None,
                 repetitions: Optional[int] = None, clients: int = DEFAULT_CLIENTS,
                 phase_seconds: Optional[Dict[str, float]] = None,
                 tags: Sequence[str] = ('serve',),
                 batching: Optional[BatchingConfig] = None,
                 num_request_iterations: int = 1,
                 groups: Sequence[str] = cases_lib.GROUPS,
                 memory_limit_mib: Optional[float] = None,
                 on_process: Optional[Callable[[str], None]] = None,
                 keep_timelines: Optional[Dict[str, List[Timeline]]] = None) -> SwapSection:
  """Swaps `old_dir` -> `new_dir` under each case, `repetitions` times, traffic from `live`.

  `groups` are the candidate groups measured (`cases.GROUPS`); `on_process` is
  called after each process with a line on what it measured; `keep_timelines`,
  if given, receives every run's Timeline by case (for plots). Raises SwapError
  naming the cause: a version that will not load, a rate the old version cannot
  sustain, a deadline at or below its steady p50; SwapMemoryError when the peak
  of the swap the report recommends passes `memory_limit_mib`.
  """
  from tfx_warmup import serving
  if not live:
    raise SwapError('No traffic to send during the swap: the examples hold none beyond the '
                    'warmup sample. Give more examples, or lower num_examples.')
  phase_seconds = dict(default_phase_seconds(), **(phase_seconds or {}))
  repetitions = repetitions or default_repetitions()
  chosen, envs, not_measured = available_cases(
      cases_lib.cases(num_request_iterations, groups))
  done = on_process or (lambda line: None)
  processes = 0
  with tempfile.TemporaryDirectory() as tmp:
    requests_path = os.path.join(tmp, 'traffic')
    serving.write_warmup_file(requests_path, live)
    common = {'old_dir': old_dir, 'requests_path': requests_path, 'clients': clients,
              'tags': list(tags),
              'batching': dataclasses.asdict(batching) if batching else None}
    calibrations = []
    for i in range(min(CALIBRATIONS, repetitions)):
      calibrations.append(Calibration(**run_child(
          'swap.calibrate', dict(common, case=chosen[0].to_json()), 'the old version alone')))
      processes += 1
      done(f'calibration {i + 1}: the old version alone, capacity '
           f'{calibrations[-1].capacity_qps:.0f} QPS, steady p99 '
           f'{calibrations[-1].p99_ms:.2f} ms')
    calibration = median_calibration(calibrations)
    traffic = choose_traffic(calibration, qps, deadline_ms)
    timelines: Dict[str, List[Timeline]] = {c.name: [] for c in chosen}

    def run(case: cases_lib.Case, repetition: int) -> None:
      nonlocal processes
      timeline = Timeline(**run_child(
          'swap', dict(common, new_dir=new_dir, case=case.to_json(), qps=traffic.qps,
                       phase_seconds=phase_seconds), f"case '{case.name}'", envs[case.name]))
      timelines.setdefault(case.name, []).append(timeline)
      processes += 1
      peak = timeline.memory.get('peak') if timeline.memory else None
      window = timeline.marks['first'] - timeline.marks['load']
      done(f"case '{case.name}' run {repetition + 1}/{repetitions}: window p99 "
           f'{window_p99(timeline):.2f} ms over {window:.2f} s'
           + (f', peak {peak / _MIB:.0f} MiB' if peak else ''))
      if case.role == 'a':  # Fail fast on a rate the old version cannot hold.
        check_sustained(timelines[case.name], traffic.qps, calibration.capacity_qps)

    for repetition in range(repetitions):
      for case in chosen:
        run(case, repetition)

    summaries = {c.name: summarize(c, timelines[c.name], traffic.deadline_ms) for c in chosen}
    calibration_p99s = [c.p99_ms for c in calibrations]
    noise = verdict.spread(calibration_p99s)
    said, reason = verdict.unranked(repetitions, calibration_p99s) or ('keep-defaults', '')
    defaults = summaries[chosen[0].name]
    best = None
    if not reason:
      group_bests = (verdict.best_of([summaries[c.name] for c in chosen if c.group == g],
                                     defaults) for g in cases_lib.GROUPS if g in groups)
      winners = [w for w in group_bests if w]
      if len(winners) >= 2:  # The winners together, the defaults measured again beside them.
        combined = cases_lib.combine([next(c for c in chosen if c.name == w.name)
                                      for w in winners], num_request_iterations)
        envs[combined.name] = dict(
            next((envs[w.name] for w in winners if w.allocator != cases_lib.GLIBC), {}),
            **thread_env(combined.server))
        for repetition in range(repetitions):
          run(chosen[0], repetition)
          run(combined, repetition)
        chosen.insert(len(chosen) - 1, combined)
        summaries[chosen[0].name] = defaults = summarize(
            chosen[0], timelines[chosen[0].name], traffic.deadline_ms)
        summaries[combined.name] = summarize(combined, timelines[combined.name],
                                             traffic.deadline_ms)
        winners.append(summaries[combined.name])
      best = verdict.best_of(winners, defaults)
      said = 'recommended' if best else 'keep-defaults'
  if keep_timelines is not None:
    keep_timelines.update(timelines)
  ordered = verdict.ranked([summaries[c.name] for c in chosen])
  defaults = ordered[0]
  candidates = [c for c in ordered if c.role == 'b']
  text = verdict.recommendation_text(defaults, best, candidates, said, reason)
  bare = next((c for c in ordered if c.role == 'c'), None)
  if bare is not None and bare.first_p99_ms is not None and defaults.first_p99_ms is not None:
    text += ' ' + verdict.no_warmup_text(defaults, bare)
  notes = list(not_measured)
  if batching is not None:
    notes.append(BATCHING_NOTE)
  section = SwapSection(
      old_model=old_dir, new_model=new_dir, qps=traffic.qps, qps_source=traffic.qps_source,
      clients=clients, capacity_qps=round(calibration.capacity_qps, 1),
      deadline_ms=traffic.deadline_ms, deadline_source=traffic.deadline_source,
      repetitions=repetitions, phase_seconds=phase_seconds, cases=ordered,
      recommended=best.name if best else None, recommendation=text,
      platform_config=None, server_command=None, verdict=said,
      calibration_p99_ms_runs=[_rounded(c.p99_ms) for c in calibrations],
      calibration_spread=_rounded(noise, 2) if noise else None, not_measured=not_measured,
      processes=processes, memory_limit_mib=memory_limit_mib, notes=notes)
  kept = verdict.unload_note(section)
  section = dataclasses.replace(section, memory=verdict.memory_headline(section),
                                notes=notes + ([kept] if kept else []))
  logging.info('Swap: %s', section.recommendation)
  return section


BATCHING_NOTE = (
    "With server-side batching, each live request runs alone through the replica's "
    'BatchingSession (checked, split and padded as TF Serving does), never merged with other '
    "clients' requests nor held for batch_timeout_micros: the queueing across clients is left "
    'out, so these p99s are lower bounds of what batching adds.')


def recommended_case(section: SwapSection,
                     num_request_iterations: int = 1) -> Optional[cases_lib.Case]:
  """The Case of the recommended settings, if any (the combination rebuilt from its parts)."""
  if not section.recommended:
    return None
  every = {c.name: c for c in cases_lib.cases(num_request_iterations)}
  if section.recommended in every:
    return every[section.recommended]
  case = next(c for c in section.cases if c.name == section.recommended)
  return cases_lib.combine([every[name] for name in case.parts], num_request_iterations)


def _rounded(value: float, digits: int = 3) -> Optional[float]:
  return None if value is None or value != value else round(value, digits)
