"""A PNG of the serving traffic's latency through a swap, phases shaded, cases overlaid."""

from typing import Dict, List

from tfx_warmup.measure import figures
from tfx_warmup.report.model import SwapSection
from tfx_warmup.swap.run import PHASES, Timeline

_COLORS = {'a': 'tab:red', 'b': 'tab:green', 'c': 'tab:grey'}
_SHADES = {'load': '#f4cccc', 'warmup': '#fce5cd', 'first': '#d9ead3'}


def plot_swap(section: SwapSection, timelines: Dict[str, List[Timeline]], path: str) -> None:
  """Plots, for the defaults, the recommended (else best) candidate and no warmup, the run
  with the median p99: each request's latency at its due time, 0 = the new version's load."""
  import matplotlib  # Only plots need it.
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  by_role = {}
  for case in sorted(section.cases, key=lambda c: c.window_p99_ms):
    if case.role == 'b' and case.name != (section.recommended or case.name):
      continue
    by_role.setdefault(case.role, case)
  fig, ax = plt.subplots(figsize=(9, 4.5))
  shaded = False
  for role in ('a', 'b', 'c'):
    case = by_role.get(role)
    if case is None:
      continue
    runs = timelines[case.name]
    run = runs[case.window_p99_ms_runs.index(case.window_p99_ms)] if (
        case.window_p99_ms in case.window_p99_ms_runs) else runs[0]
    zero = run.marks['load']
    if not shaded:  # The phases of the defaults' run.
      for phase, next_phase in zip(PHASES, PHASES[1:] + ('end',)):
        if phase in _SHADES:
          ax.axvspan(run.marks[phase] - zero, run.marks[next_phase] - zero,
                     color=_SHADES[phase], alpha=0.6, lw=0, label=f'{phase} (defaults)')
      shaded = True
    ax.plot([r[0] - zero for r in run.requests], [(r[1] - r[0]) * 1000 for r in run.requests],
            '.', ms=2.5, color=_COLORS[role],
            label=f'({role}) {case.name}: p99 {case.window_p99_ms:.2f} ms during the swap')
  ax.axhline(section.deadline_ms, color='black', linestyle='--', lw=0.8,
             label=f'deadline {section.deadline_ms:g} ms')
  ax.set_yscale('log')
  ax.set_xlabel('seconds from the start of the new version\'s load')
  ax.set_ylabel('latency from due time (ms, log scale)')
  ax.set_title(f'Serving traffic through a version swap ({section.qps:g} QPS, open loop)')
  ax.legend(fontsize=7, loc='upper right')
  figures.save_png(fig, path)
