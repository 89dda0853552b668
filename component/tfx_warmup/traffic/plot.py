"""A PNG of the traffic's distribution: each combination's share of the logged requests."""

from tfx_warmup.measure import figures
from tfx_warmup.report.model import TrafficSection

# Combinations drawn; the rest are summed into one bar, so the plot stays readable.
MAX_BARS = 30


def plot_traffic(section: TrafficSection, path: str, title: str = '') -> None:
  """Bars of requests per combination, largest first: warmed, left out, or refused."""
  import matplotlib  # Only plots need it.
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  rows = sorted(section.combinations, key=lambda c: -c.requests)
  shown, rest = rows[:MAX_BARS], rows[MAX_BARS:]
  labels = [_label(c) for c in shown]
  counts = [c.requests for c in shown]
  colors = [_color(c, section.coverage is not None) for c in shown]
  if rest:
    labels.append(f'{len(rest)} more')
    counts.append(sum(c.requests for c in rest))
    colors.append('tab:gray')
  fig, ax = plt.subplots(figsize=(8.0, max(3.0, 0.28 * len(labels) + 1.5)))
  ax.barh(range(len(labels)), counts, color=colors)
  ax.set_yticks(range(len(labels)))
  ax.set_yticklabels(labels, fontsize=7)
  ax.invert_yaxis()
  ax.set_xlabel('logged requests')
  legend = [('tab:red', 'refused by this model')]
  if section.coverage is not None:
    legend = [('tab:green', 'warmed'), ('tab:orange', 'left out')] + legend
  else:
    legend = [('tab:blue', 'accepted')] + legend
  for color, name in legend:
    ax.bar(0, 0, color=color, label=name)
  ax.legend(loc='lower right', fontsize=8)
  ax.set_title(title or f'{section.requests:,} logged requests by combination')
  figures.save_png(fig, path)


def _label(c) -> str:
  fetch = f'[{c.output_filter}]' if c.output_filter else ''
  shapes = f' {c.shapes}' if c.shapes else ''
  return f'{c.api} {c.signature}{fetch}@{c.batch_size}{shapes}'


def _color(c, warming: bool) -> str:
  if c.why_not and c.why_not.startswith('refused'):
    return 'tab:red'
  if not warming:
    return 'tab:blue'
  return 'tab:green' if c.warmed else 'tab:orange'
