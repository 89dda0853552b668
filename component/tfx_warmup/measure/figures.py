"""What the measurements share: the percentile they quote and how their plots are written."""

import io
from typing import Sequence

from tfx.dsl.io import fileio


def percentile(sorted_values: Sequence[float], q: float) -> float:
  """The nearest-rank percentile of already sorted values (nan for none)."""
  if not sorted_values:
    return float('nan')
  index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
  return sorted_values[index]


def save_png(fig, path: str) -> None:
  """Writes a matplotlib figure to `path` (any filesystem TFX reads) and closes it."""
  import matplotlib.pyplot as plt  # Only plots need it.
  fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, format='png', dpi=110)
  plt.close(fig)
  with fileio.open(path, 'wb') as f:
    f.write(buffer.getvalue())
