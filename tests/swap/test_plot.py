"""The swap's plot: which cases it draws, and a legend ranked by what the swap costs clients."""

from tests.library.test_swap_apply import swap_section
from tfx_warmup.swap import plot


def test_the_legend_ranks_by_client_cost_and_gives_no_warmup_its_late_requests(tmp_path):
  section, timelines = swap_section('jemalloc')
  chosen = plot.plotted_cases(section)
  # no-warmup has the lowest window p99 (1.5 ms) yet ranks last: its first requests are late.
  assert [c.name for c in chosen] == ['jemalloc', 'defaults', 'no-warmup']
  labels = [plot.legend_label(c) for c in chosen]
  assert labels[0] == '#1 (b) jemalloc: 0 late, p99 2.00 ms during the swap'
  assert labels[2].startswith(f'#{len(section.cases)} (c) no-warmup: 50 late (its first '
                              'requests, cold)')
  path = tmp_path / 'swap.png'
  plot.plot_swap(section, timelines, str(path))
  assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_without_a_recommendation_the_best_ranked_candidate_is_drawn():
  section, _ = swap_section(None)
  best = min((c for c in section.cases if c.role == 'b'), key=lambda c: c.rank)
  assert [c.name for c in plot.plotted_cases(section)] == ['defaults', best.name, 'no-warmup']
