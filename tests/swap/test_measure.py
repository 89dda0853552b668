"""The swap's figures: phases, the window p99, the checks on rate and deadline, the choice."""

import json

import pytest

from tfx_warmup.errors import SwapError
from tfx_warmup.report.model import SwapCase
from tfx_warmup.swap import cases
from tfx_warmup.swap import measure
from tfx_warmup.swap.run import Calibration, Timeline


def _timeline(latency_ms_by_phase, qps=100):
  """A timeline: 1 s per phase, `qps` requests per second, each phase's latency fixed."""
  marks, requests, start = {}, [], 0.0
  for phase in ('steady', 'load', 'warmup', 'first', 'after'):
    marks[phase] = start
    for k in range(qps):
      due = start + k / qps
      requests.append([due, due + latency_ms_by_phase[phase] / 1000, 1, 1])
    start += 1.0
  marks['end'] = start
  return Timeline(case='x', marks=marks, requests=requests, load_seconds=1.0,
                  warmup_seconds=1.0, warmup_records=10, errors=[])


_FLAT = {'steady': 1.0, 'load': 1.0, 'warmup': 1.0, 'first': 1.0, 'after': 1.0}


def test_phases_group_requests_by_due_time_and_count_the_late():
  timeline = _timeline(dict(_FLAT, load=5.0, warmup=30.0))
  timeline.requests[150][3] = 0  # An error in the load phase counts as late.
  phases = {p.phase: p for p in measure.phase_stats(timeline, deadline_ms=10.0)}
  assert [phases[p].sent for p in ('steady', 'load', 'warmup', 'first', 'after')] == [100] * 5
  assert phases['load'].answered == 99 and phases['load'].late == 1
  assert phases['warmup'].late == 100 and phases['warmup'].p99_ms == pytest.approx(30.0)
  assert phases['steady'].late == 0 and phases['steady'].max_ms == pytest.approx(1.0)


def test_the_window_is_the_load_and_the_warmup():
  timeline = _timeline(dict(_FLAT, warmup=20.0, first=500.0))
  assert measure.window_p99(timeline) == pytest.approx(20.0)


def _case(name, role, p99s):
  return SwapCase(name=name, role=role, description='', warmup=True,
                  window_p99_ms=sorted(p99s)[len(p99s) // 2], window_p99_ms_runs=p99s,
                  window_seconds=1.0, load_seconds=0.5, warmup_seconds=0.5,
                  warmup_records=10, first_max_ms=1.0, late=0, phases=[])


def test_a_candidate_is_recommended_only_beyond_the_spread():
  defaults = _case('defaults', 'a', [10.0, 11.0, 12.0])
  clearly = _case('load-pool', 'b', [6.0, 7.0, 8.0])
  within = _case('named-pools', 'b', [9.5, 10.5, 13.0])
  assert measure.recommend([defaults, clearly, within]).name == 'load-pool'
  assert measure.recommend([defaults, within]) is None
  text = measure.recommendation_text(defaults, None, [within])
  assert "No candidate measured better than TF Serving's defaults" in text
  assert '11 ms' in text and "'named-pools' 10.5 ms" in text


def test_defaults_come_from_the_calibration():
  calibration = Calibration(capacity_qps=800.0, clients=2, p50_ms=1.0, p99_ms=2.5)
  chosen = measure.choose_traffic(calibration, None, None)
  assert chosen.qps == 200 and chosen.deadline_ms == 10.0  # a quarter of the capacity
  assert '800 QPS' in chosen.qps_source and '4x' in chosen.deadline_source
  given = measure.choose_traffic(calibration, 300, 50)
  assert (given.qps, given.deadline_ms, given.qps_source) == (300, 50, 'given')


def test_a_deadline_at_or_below_steady_p50_is_refused():
  calibration = Calibration(capacity_qps=800.0, clients=2, p50_ms=3.0, p99_ms=5.0)
  with pytest.raises(SwapError, match=r'deadline of 3 ms is at or below .* p50 \(3.00 ms'):
    measure.choose_traffic(calibration, None, 3)


def test_a_rate_the_old_version_cannot_hold_is_refused_with_the_rate_it_held():
  timeline = _timeline(_FLAT, qps=100)
  measure.check_sustained([timeline], qps=100, capacity=500)
  with pytest.raises(SwapError, match='cannot sustain 1000 QPS.*answered 100 per second'):
    measure.check_sustained([timeline], qps=1000, capacity=500)


def test_cases_travel_to_the_child_as_json():
  for case in cases.cases(num_request_iterations=3):
    again = cases.Case.from_json(json.loads(json.dumps(case.to_json())))
    assert again == case
  names = [c.name for c in cases.cases()]
  assert names[0] == 'defaults' and names[-1] == 'no-warmup'
  load_pool = {c.name: c for c in cases.cases()}['load-pool'].server
  assert load_pool.load_pool_index == 1 and load_pool.pools[1].num_threads == 1


def test_no_traffic_is_refused_before_any_process_starts(tmp_path):
  with pytest.raises(SwapError, match='No traffic to send during the swap'):
    measure.measure_swap(str(tmp_path), str(tmp_path), [])


@pytest.mark.parametrize('value,expected', [('', 3), ('1', 1), ('5', 5)])
def test_repetitions_default_from_the_environment(monkeypatch, value, expected):
  monkeypatch.setenv(measure.REPETITIONS_ENV, value)
  assert measure.default_repetitions() == expected


@pytest.mark.parametrize('value', ['0', '-1', 'three'])
def test_a_bad_repetitions_environment_is_named(monkeypatch, value):
  monkeypatch.setenv(measure.REPETITIONS_ENV, value)
  with pytest.raises(SwapError, match='TFX_WARMUP_SWAP_REPETITIONS'):
    measure.default_repetitions()
