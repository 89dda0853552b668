"""The swap's figures: phases, the window p99, the checks on rate and deadline, the choice."""

import dataclasses
import json

import pytest

from tfx_warmup.errors import SwapError
from tfx_warmup.report.model import SwapCase, SwapSection
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


def _case(name, role, p99s, late=0, group='', first_p99_ms=1.0, first_max_ms=1.0,
          window_seconds=1.0):
  return SwapCase(name=name, role=role, description='', warmup=role != 'c',
                  window_p99_ms=sorted(p99s)[len(p99s) // 2], window_p99_ms_runs=p99s,
                  window_seconds=window_seconds, load_seconds=0.5, warmup_seconds=0.5,
                  warmup_records=10, first_max_ms=first_max_ms, late=late, phases=[],
                  group=group or ('pools' if role == 'b' else ''), first_p99_ms=first_p99_ms)


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
  every = cases.cases(num_request_iterations=3, cores=4)
  every += (cases.combine([every[1], every[4], every[6]], 3),)
  for case in every:
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


@pytest.mark.parametrize('value,expected', [
    ('', {'steady': 2.0, 'first': 2.0, 'after': 1.0}),
    ('0.7,0.7,0.3', {'steady': 0.7, 'first': 0.7, 'after': 0.3})])
def test_phase_seconds_default_from_the_environment(monkeypatch, value, expected):
  monkeypatch.setenv(measure.PHASE_SECONDS_ENV, value)
  assert measure.default_phase_seconds() == expected


@pytest.mark.parametrize('value', ['1,1', '0,1,1', 'a,b,c', '1,1,1,1'])
def test_a_bad_phase_seconds_environment_is_named(monkeypatch, value):
  monkeypatch.setenv(measure.PHASE_SECONDS_ENV, value)
  with pytest.raises(SwapError, match="TFX_WARMUP_SWAP_PHASE_SECONDS=.*e.g. '2,2,1'"):
    measure.default_phase_seconds()


@pytest.mark.parametrize('value', ['0', '-1', 'three'])
def test_a_bad_repetitions_environment_is_named(monkeypatch, value):
  monkeypatch.setenv(measure.REPETITIONS_ENV, value)
  with pytest.raises(SwapError, match='TFX_WARMUP_SWAP_REPETITIONS'):
    measure.default_repetitions()


def test_each_group_adds_its_candidates_between_the_defaults_and_no_warmup():
  names = [c.name for c in cases.cases(num_request_iterations=2, cores=4)]
  assert names == ['defaults', 'load-pool', 'named-pools', 'session-pools', 'jemalloc',
                   'tcmalloc', 'intra-op-1', 'inter-op-1', 'warmup-threads', 'iterations-1',
                   'no-warmup']
  assert [c.name for c in cases.cases(groups=('allocator',), cores=1)] == [
      'defaults', 'jemalloc', 'tcmalloc', 'no-warmup']  # one core: no warmup threads
  by_name = {c.name: c for c in cases.cases(num_request_iterations=2, cores=4)}
  assert by_name['warmup-threads'].server.num_model_warmup_threads == 4
  assert by_name['intra-op-1'].server.intra_op_threads == 1
  assert by_name['inter-op-1'].server.inter_op_threads == 1
  assert by_name['iterations-1'].server.num_request_iterations == 1
  assert by_name['jemalloc'].allocator == 'jemalloc' and by_name['jemalloc'].server == (
      by_name['defaults'].server)


def test_the_combination_takes_each_winner_s_own_settings():
  by_name = {c.name: c for c in cases.cases(num_request_iterations=3, cores=4)}
  combined = cases.combine([by_name['load-pool'], by_name['jemalloc'], by_name['intra-op-1']],
                           3)
  assert combined.allocator == 'jemalloc' and combined.group == 'combined'
  assert combined.server.load_pool_index == 1 and combined.server.intra_op_threads == 1
  assert combined.server.num_request_iterations == 3
  assert combined.parts == ('load-pool', 'jemalloc', 'intra-op-1')
  once = cases.combine([by_name['tcmalloc'], by_name['iterations-1']], 3)
  assert once.server.num_request_iterations == 1 and once.allocator == 'tcmalloc'


def _memory_timeline(peak_mib, steady_mib=500, warmed_mib=700, unloaded_mib=600):
  timeline = _timeline(_FLAT)
  mib = 1024 * 1024
  timeline.memory = {'baseline': 300 * mib, 'steady': steady_mib * mib,
                     'loaded': 650 * mib, 'warmed': warmed_mib * mib,
                     'unloaded': unloaded_mib * mib, 'peak': peak_mib * mib}
  timeline.peak_source = 'vmhwm'
  return timeline


def test_memory_is_summarized_in_mib_with_the_new_version_s_footprint():
  memory = measure.memory_summary([_memory_timeline(800), _memory_timeline(900),
                                   _memory_timeline(820)])
  assert memory.peak_mib == 820 and memory.peak_mib_runs == [800, 900, 820]
  assert memory.new_version_mib == 200 and memory.baseline_mib == 300
  assert memory.peak_source == 'vmhwm'
  assert memory.models_peak_mib == 520 and memory.models_steady_mib == 200
  assert measure.memory_summary([_memory_timeline(800), _timeline(_FLAT)]) is None


def _section(memory_limit_mib, peak_mib=820, unloaded_mib=600):
  case = dataclasses.replace(_case('defaults', 'a', [1.0]), memory=measure.memory_summary(
      [_memory_timeline(peak_mib, unloaded_mib=unloaded_mib)]))
  return SwapSection(old_model='o', new_model='n', qps=10, qps_source='', clients=2,
                     capacity_qps=40, deadline_ms=5, deadline_source='', repetitions=3,
                     phase_seconds={}, cases=[case], recommended=None, recommendation='',
                     platform_config=None, server_command=None,
                     memory_limit_mib=memory_limit_mib)


def test_a_missing_allocator_is_left_out_with_how_to_install_it(monkeypatch):
  from tfx_warmup.swap import allocators
  monkeypatch.setattr(allocators, 'find', lambda name, search_dirs=None: None)
  kept, envs, notes = measure.available_cases(cases.cases(groups=('allocator', 'threads'),
                                                          cores=2))
  assert [c.name for c in kept] == ['defaults', 'intra-op-1', 'inter-op-1', 'warmup-threads',
                                    'no-warmup']
  assert len(notes) == 2 and 'apt-get install libjemalloc2' in notes[0]
  assert envs['intra-op-1'] == {'TF_NUM_INTRAOP_THREADS': '1'} and envs['defaults'] == {}
  assert envs['inter-op-1'] == {'TF_NUM_INTEROP_THREADS': '1'}


def test_a_found_allocator_is_preloaded_in_its_child():
  from tfx_warmup.swap import allocators
  path = allocators.find('jemalloc')
  if path is None:
    pytest.fail('libjemalloc.so.2 is not installed: `make install` installs it '
                '(apt-get install libjemalloc2).')
  kept, envs, notes = measure.available_cases(cases.cases(groups=('allocator',)))
  assert envs['jemalloc'] == {'LD_PRELOAD': path} and not any('jemalloc' in n for n in notes)
