"""A PNG of the serving traffic's latency through a swap, phases shaded, cases overlaid.

Three cases are drawn: the defaults, the recommended candidate (else the
best-ranked one) and no warmup. The legend lists them by rank, what the swap
costs clients (late requests from the load on, then the window's p99), not by
the window's p99 alone: no-warmup's window is the shortest, and its late first
requests are what it costs, so the legend says how many.
"""

from typing import Dict, List, Optional

from tfx_warmup.measure import figures
from tfx_warmup.report.model import SwapCase, SwapSection
from tfx_warmup.swap.run import PHASES, Timeline

_COLORS = {'a': 'tab:red', 'b': 'tab:green', 'c': 'tab:grey'}
_SHADES = {'load': '#f4cccc', 'warmup': '#fce5cd', 'first': '#d9ead3'}


def plotted_cases(section: SwapSection) -> List[SwapCase]:
  """The defaults, the recommended candidate (else the best-ranked one), no warmup: by rank."""
  def rank(case: SwapCase) -> int:
    return case.rank if case.rank is not None else len(section.cases) + 1

  candidates = [c for c in section.cases if c.role == 'b']
  chosen: List[Optional[SwapCase]] = [
      next((c for c in section.cases if c.role == 'a'), None),
      next((c for c in candidates if c.name == section.recommended), None)
      or min(candidates, key=rank, default=None),
      next((c for c in section.cases if c.role == 'c'), None)]
  return sorted((c for c in chosen if c is not None), key=rank)


def legend_label(case: SwapCase) -> str:
  """'#2 (a) defaults: 12 late, p99 3.10 ms during the swap'."""
  rank = f'#{case.rank} ' if case.rank is not None else ''
  late = f'{case.late} late' + (' (its first requests, cold)' if not case.warmup else '')
  return f'{rank}({case.role}) {case.name}: {late}, p99 {case.window_p99_ms:.2f} ms during the swap'


def plot_swap(section: SwapSection, timelines: Dict[str, List[Timeline]], path: str) -> None:
  """Plots `plotted_cases`, each the run with the median p99: each request's latency at its
  due time, 0 = the new version's load."""
  import matplotlib  # Only plots need it.
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(figsize=(9, 4.5))
  chosen = [(case, _median_run(case, timelines.get(case.name)))
            for case in plotted_cases(section)]
  chosen = [(case, run) for case, run in chosen if run is not None]
  shaded = next(((c, r) for c, r in chosen if c.role == 'a'), chosen[0] if chosen else None)
  if shaded:  # The phases of one run: the defaults'.
    case, run = shaded
    for phase, next_phase in zip(PHASES, PHASES[1:] + ('end',)):
      if phase in _SHADES:
        ax.axvspan(run.marks[phase] - run.marks['load'], run.marks[next_phase] - run.marks['load'],
                   color=_SHADES[phase], alpha=0.6, lw=0, label=f'{phase} ({case.name})')
  for case, run in chosen:
    zero = run.marks['load']
    ax.plot([r[0] - zero for r in run.requests], [(r[1] - r[0]) * 1000 for r in run.requests],
            '.', ms=2.5, color=_COLORS.get(case.role, 'tab:blue'), label=legend_label(case))
  ax.axhline(section.deadline_ms, color='black', linestyle='--', lw=0.8,
             label=f'deadline {section.deadline_ms:g} ms')
  ax.set_yscale('log')
  ax.set_xlabel('seconds from the start of the new version\'s load')
  ax.set_ylabel('latency from due time (ms, log scale)')
  ax.set_title(f'Serving traffic through a version swap ({section.qps:g} QPS, open loop); '
               'legend by rank: late requests, then p99', fontsize=9)
  ax.legend(fontsize=7, loc='best')
  figures.save_png(fig, path)


def _median_run(case: SwapCase, runs: Optional[List[Timeline]]) -> Optional[Timeline]:
  """The run whose window p99 is the case's median (the first run if none matches)."""
  if not runs:
    return None
  p99s = case.window_p99_ms_runs
  if case.window_p99_ms in p99s and len(p99s) == len(runs):
    return runs[p99s.index(case.window_p99_ms)]
  return runs[0]
