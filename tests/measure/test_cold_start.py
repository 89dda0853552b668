"""Cold-start measurement in fresh processes, and the figures it reports (to ML Metadata)."""

import pytest
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.errors import LoadError
from tfx_warmup.measure import cold_start as measure
from tfx_warmup.measure import figures
from tfx_warmup.serving import batching_config
from tfx_warmup.serving import warmup_file


def test_a_failing_measurement_process_raises_its_error_as_its_class(tmp_path):
  """The child's LoadError is the parent's LoadError (measure.child), not a line of stderr."""
  requests = str(tmp_path / 'requests')
  warmup_file.write_warmup_file(requests, [])
  missing = str(tmp_path / 'missing')
  with pytest.raises(LoadError) as raised:
    measure.time_in_fresh_process(missing, requests, replay_warmup=False, rounds=1)
  assert type(raised.value) is LoadError
  assert str(raised.value) == f'No SavedModel directory at {missing}.'


def test_percentile_picks_the_nearest_rank():
  values = [float(v) for v in range(1, 101)]
  assert figures.percentile(values, 50) == 51.0
  assert figures.percentile(values, 99) == 99.0
  assert figures.percentile([3.0], 99) == 3.0
  assert figures.percentile([], 50) != figures.percentile([], 50)  # nan: nothing measured


_KEYS = [dict(api='predict', signature='serving_default', batch_size=1, output_filter=''),
         dict(api='classify', signature='classify', batch_size=8, output_filter='')]


def _timing(first, steady, replay_seconds=0.0, replay_records=0):
  """Two requests: round 0 is `first`, rounds 1..3 are `steady` (per request)."""
  return measure.Timing(load_seconds=1.23456, replay_seconds=replay_seconds,
                        replay_records=replay_records, keys=_KEYS,
                        latencies_ms=[first] + [steady] * 3)


def test_the_report_takes_firsts_per_process_and_steady_state_from_both(monkeypatch):
  calls = []

  def fake(model_dir, requests_path, replay_warmup, rounds, tags, batching):
    calls.append((replay_warmup, rounds, batching))
    if replay_warmup:
      return _timing([2.0004, 3.0], [1.0, 4.0], replay_seconds=0.51234, replay_records=12)
    return _timing([50.0, 300.0], [2.0, 6.0])
  monkeypatch.setattr(measure, 'time_in_fresh_process', fake)
  config = batching_config.BatchingConfig(max_batch_size=8, allowed_batch_sizes=(8,))
  live = [prediction_log_pb2.PredictionLog()]
  section = measure.cold_start_report('/m', live, rounds=4, batching=config)

  assert calls == [(False, 4, config), (True, 4, config)]  # Both processes under batching.
  first, second = section.requests
  assert (first.api, first.batch_size, second.signature) == ('predict', 1, 'classify')
  assert (first.first_ms_without_warmup, first.first_ms_with_warmup) == (50.0, 2.0)
  assert (second.first_ms_without_warmup, second.first_ms_with_warmup) == (300.0, 3.0)
  # Steady state: rounds 1.. of both processes, [1, 1, 1, 2, 2, 2] for the first request
  # (nearest rank: index round(0.5 * 5) = 2).
  assert (first.steady_p50_ms, first.steady_p99_ms) == (1.0, 2.0)
  assert (second.steady_p50_ms, second.steady_p99_ms) == (4.0, 6.0)
  assert section.max_first_ms_without_warmup == 300.0
  assert section.max_first_ms_with_warmup == 3.0
  assert section.steady_p50_ms == 2.5  # The median of the rows' p50s.
  assert (section.replay_seconds, section.replay_records) == (0.512, 12)
  assert section.load_seconds == 1.235 and section.rounds == 4
  assert section.batching.allowed_batch_sizes == [8]


def test_without_warmup_only_one_process_runs_and_with_warmup_figures_are_null(monkeypatch):
  calls = []

  def fake(model_dir, requests_path, replay_warmup, rounds, tags, batching):
    calls.append(replay_warmup)
    return _timing([50.0, 300.0], [2.0, 6.0])
  monkeypatch.setattr(measure, 'time_in_fresh_process', fake)
  section = measure.cold_start_report('/m', [prediction_log_pb2.PredictionLog()],
                                      with_warmup=False)
  assert calls == [False]
  assert section.max_first_ms_with_warmup is None
  assert all(r.first_ms_with_warmup is None for r in section.requests)
  assert section.replay_records == 0 and section.batching is None
