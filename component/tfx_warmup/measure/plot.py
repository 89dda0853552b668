"""A PNG of per-request latency right after a model load, without and with warmup."""

from tfx_warmup.measure import figures
from tfx_warmup.report.model import ColdStartSection


def plot_first_requests(cold_start: ColdStartSection, path: str, title: str = '') -> None:
  """Plots `cold_start_report`'s first-request latencies to `path` (PNG)."""
  import matplotlib  # Only plots need it.
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  rows = cold_start.requests
  order = range(1, len(rows) + 1)
  fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(rows) + 2), 4.5))
  ax.plot(order, [r.first_ms_without_warmup for r in rows], 'o-', color='tab:red',
          label='without warmup')
  if all(r.first_ms_with_warmup is not None for r in rows):  # None: no warmup file.
    ax.plot(order, [r.first_ms_with_warmup for r in rows], 'o-', color='tab:green',
            label='with warmup')
  ax.axhline(cold_start.steady_p50_ms, color='grey', linestyle='--',
             label=f'steady state p50 ({cold_start.steady_p50_ms:.2f} ms)')
  ax.set_yscale('log')
  ax.set_xlabel('request after the model loads (signature @ batch size)')
  ax.set_ylabel('latency (ms, log scale)')
  ax.set_xticks(list(order))
  ax.set_xticklabels([f'{r.signature}@{r.batch_size}' for r in rows], rotation=60,
                     ha='right', fontsize=7)
  ax.set_title(title or 'First request of each kind after load')
  ax.legend()
  figures.save_png(fig, path)
