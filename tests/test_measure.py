"""Cold-start measurement in fresh processes."""

import pytest

from tfx_warmup import measure
from tfx_warmup import warmup_file


def test_a_failing_measurement_process_reports_its_error(tmp_path):
  requests = str(tmp_path / 'requests')
  warmup_file.write_warmup_file(requests, [])
  with pytest.raises(measure.MeasureError,
                     match=r'measurement process failed \(exit 1\):\nLoadError: No SavedModel'):
    measure.time_in_fresh_process(str(tmp_path / 'missing'), requests,
                                  replay_warmup=False, rounds=1)


def test_percentile_picks_the_nearest_rank():
  values = [float(v) for v in range(1, 101)]
  assert measure._percentile(values, 50) == 51.0  # pylint: disable=protected-access
  assert measure._percentile(values, 99) == 99.0  # pylint: disable=protected-access
  assert measure._percentile([3.0], 99) == 3.0  # pylint: disable=protected-access
