"""The verdict on a measured swap: which case costs clients least, whether one beats the defaults
beyond the spread, and what the swap's memory means for the server.

Apart from `swap.measure`, which runs the processes: these rules read only the summarised
cases (`report.model.SwapCase`), so they read, and are tested, alone. A case is judged by
what the swap costs clients: the requests late from the load on (the serving version's
during the window, the new version's in its first seconds), then the serving version's
p99 during the window, medians of the runs. A candidate is recommended only beyond the
spread: at most the defaults' late requests and a window p99 under BETTER x theirs and
under every run of theirs.
"""

import dataclasses
from typing import List, Optional, Sequence, Tuple

from tfx_warmup.errors import SwapMemoryError
from tfx_warmup.report.model import SwapCase, SwapSection

MIN_REPETITIONS_TO_RANK = 3  # fewer runs per case measure without recommending
NOISE_LIMIT = 3.0  # calibration p99s further apart than this (max / min): too noisy to rank
# A candidate is recommended when its median p99 beats the defaults' by this much, and
# beats every run of the defaults: better beyond the spread.
BETTER = 0.9
# The share of the swap's peak (above the baseline) still resident after the unload from
# which the report says the unload gave nothing back.
UNLOAD_KEPT = 0.9


def spread(values: Sequence[float]) -> Optional[float]:
  """max / min of positive figures; None for fewer than two."""
  values = [v for v in values if v and v > 0]
  if len(values) < 2:
    return None
  return max(values) / min(values)


def client_cost(case: SwapCase) -> Tuple[int, float]:
  """What the swap costs clients, to rank by: late requests from the load on, then the window's
  p99 (a case without warmup has a short window and pays in late first requests)."""
  return (case.late, case.window_p99_ms)


def beats(candidate: SwapCase, defaults: SwapCase) -> bool:
  """Better than the defaults beyond the spread: no more late requests, a p99 under BETTER x
  theirs and under every run of theirs."""
  return (candidate.late <= defaults.late and
          candidate.window_p99_ms <= BETTER * defaults.window_p99_ms and
          candidate.window_p99_ms < min(defaults.window_p99_ms_runs))


def best_of(candidates: Sequence[SwapCase], defaults: SwapCase) -> Optional[SwapCase]:
  """The candidate that costs clients least, if it beats the defaults; else None."""
  winners = sorted((c for c in candidates if beats(c, defaults)), key=client_cost)
  return winners[0] if winners else None


def unranked(repetitions: int, calibration_p99s: Sequence[float]) -> Optional[Tuple[str, str]]:
  """('too-few-runs' or 'too-noisy', why) when the runs cannot rank the cases; None when they can.

  Fewer than MIN_REPETITIONS_TO_RANK runs per case would let one noisy run decide. The
  calibration sets the rate and the deadline: if its steady p99 moved more than NOISE_LIMIT
  between runs, every figure rests on a moment of the machine. (Comparisons between cases
  are guarded case by case: a candidate must beat every run of the defaults.)
  """
  if repetitions < MIN_REPETITIONS_TO_RANK:
    return 'too-few-runs', (
        f'{repetitions} run{"s" if repetitions > 1 else ""} per case; a recommendation needs '
        f'at least {MIN_REPETITIONS_TO_RANK}, so that one noisy run cannot decide it.')
  noise = spread(calibration_p99s)
  if noise is not None and noise > NOISE_LIMIT:
    return 'too-noisy', (
        f"the old version's steady p99 moved {noise:.1f}x between the calibration runs "
        f'({[round(p, 2) for p in calibration_p99s]} ms), more than the {NOISE_LIMIT:g}x a '
        'comparison can bear: another process shares these cores. Run it again on a quiet '
        'machine.')
  return None


def ranked(section_cases: Sequence[SwapCase]) -> List[SwapCase]:
  """The cases with their `rank` by client cost (1 is best), in their original order."""
  order = {id(c): i + 1 for i, c in enumerate(sorted(section_cases, key=client_cost))}
  return [dataclasses.replace(c, rank=order[id(c)]) for c in section_cases]


def no_warmup_text(defaults: SwapCase, bare: SwapCase) -> str:
  """In words, what leaving the warmup file out does to clients."""
  window = (f"'no-warmup' shortens the swap's window to {bare.window_seconds:.2f} s (defaults "
            f'{defaults.window_seconds:.2f} s)')
  if client_cost(bare) <= client_cost(defaults):
    return (f'{window}, and its first requests stayed within the deadline here (p99 '
            f'{bare.first_p99_ms:.2f} ms): this model\'s cold start is short at this rate.')
  return (f'{window} but moves the cold start to clients: {bare.late} requests late from the '
          f'load on (defaults {defaults.late}), its first seconds on the new version at p99 '
          f'{bare.first_p99_ms:.2f} ms, worst {bare.first_max_ms:.2f} ms (defaults '
          f'{defaults.first_p99_ms:.2f} ms, worst {defaults.first_max_ms:.2f} ms). It ranks below '
          'the defaults for that reason, however short its window.')


def recommendation_text(defaults: SwapCase, best: Optional[SwapCase],
                        candidates: Sequence[SwapCase], verdict: str = '',
                        reason: str = '') -> str:
  """The verdict in words, with the figures it rests on."""
  figures = ', '.join(f"'{c.name}' {c.window_p99_ms:.2f} ms" for c in candidates)
  if verdict in ('too-few-runs', 'too-noisy'):
    return (f'Measured, not ranked: {reason} The figures (window p99, medians): defaults '
            f'{defaults.window_p99_ms:.2f} ms, {figures}.')
  if best is not None:  # Where its settings are is the library's to say (files or not).
    return (f"'{best.name}' keeps the serving version's p99 at {best.window_p99_ms:.2f} ms while "
            f'the next version loads and warms, against {defaults.window_p99_ms:.2f} ms with '
            f"TF Serving's defaults (runs {defaults.window_p99_ms_runs} vs "
            f'{best.window_p99_ms_runs}; late requests {best.late} vs {defaults.late}).')
  return (f"No candidate measured better than TF Serving's defaults here (p99 "
          f'{defaults.window_p99_ms:.2f} ms, runs {defaults.window_p99_ms_runs}; {figures}): '
          'none had a median under 0.9x theirs, under every run of theirs, with no more late '
          'requests. Keep the defaults.')


def served_case(section: SwapSection) -> SwapCase:
  """The case the user would serve with: the recommended one, else the defaults."""
  name = section.recommended or next(c.name for c in section.cases if c.role == 'a')
  return next(c for c in section.cases if c.name == name)


def size(mib: float) -> str:
  """'520 MiB', or '1.52 GiB' from 1 GiB on."""
  return f'{mib / 1024:.2f} GiB' if mib >= 1024 else f'{mib:.0f} MiB'


def memory_headline(section: SwapSection) -> Optional[str]:
  """'The swap needs X GiB at peak, Y GiB steady', for the settings the user would serve with."""
  case = served_case(section)
  memory = case.memory
  if memory is None:
    return None
  return (f'The swap needs {size(memory.models_peak_mib)} at peak, '
          f'{size(memory.models_steady_mib)} steady, above the runtime ({case.name}; '
          f'the new version adds {memory.new_version_mib:.0f} MiB). The measuring process '
          f'peaked at {memory.peak_mib:.0f} MiB, {memory.baseline_mib:.0f} MiB of it the '
          "interpreter and TensorFlow before any model loaded; TF Serving's own runtime takes "
          'the place of that baseline.')


def unload_note(section: SwapSection) -> Optional[str]:
  """Says so when the old version's unload gave no memory back: the server stays at its peak."""
  memory = served_case(section).memory
  if memory is None or memory.models_peak_mib <= 0:
    return None
  kept = (memory.unloaded_mib - memory.baseline_mib) / memory.models_peak_mib
  if kept < UNLOAD_KEPT:
    return None
  return (f'After the old version unloaded, the process kept {kept:.0%} of the swap\'s peak '
          f'({memory.unloaded_mib:.0f} of {memory.peak_mib:.0f} MiB): TensorFlow\'s CPU '
          'allocator (oneDNN\'s, on by default on x86) keeps freed memory for the next load, '
          'so a server stays at the swap\'s peak after it. Size the container for the peak, '
          'not the steady figure.')


def check_memory_limit(section: SwapSection) -> None:
  """Fails the step when the served settings' swap peaks past `memory_limit_mib`, as the OOM
  kill of a container with that limit would fail the reload."""
  limit = section.memory_limit_mib
  if limit is None:
    return
  case = served_case(section)
  if case.memory is None:
    raise SwapMemoryError(
        f'swap_memory_limit is {limit:g} MiB, but the swap\'s memory could not be measured '
        'here (no /proc): measure it on Linux, or leave the limit out.')
  if case.memory.peak_mib > limit:
    raise SwapMemoryError(
        f'The swap needs {case.memory.peak_mib:.0f} MiB at peak ({case.name}: old and new '
        f'versions resident together; steady {case.memory.steady_mib:.0f} MiB, the new version '
        f'{case.memory.new_version_mib:.0f} MiB, runs {case.memory.peak_mib_runs}), past the '
        f'limit of {limit:g} MiB: a server with that limit would be OOM-killed at the reload. '
        f'(The peak is the measuring process\'s: {case.memory.baseline_mib:.0f} MiB of it is '
        'the interpreter and TensorFlow, where TF Serving has its own runtime; the versions '
        f'need {case.memory.models_peak_mib:.0f} MiB above it.) '
        'Raise the container\'s memory, shrink the model, or serve the new version from a '
        'fresh server instead of swapping.', peak_mib=case.memory.peak_mib, limit_mib=limit)
