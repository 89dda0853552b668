"""measure.memory: VmRSS/VmHWM read in bytes, the peak reset, the sampler that stands in for it."""

import gc
import threading
import time

import numpy as np
import pytest

from tfx_warmup.errors import MeasureError
from tfx_warmup.measure import memory

MIB = 1 << 20
SIZE = 200 * MIB


def _touch(size: int = SIZE) -> np.ndarray:
  """`size` bytes of resident memory: np.ones writes every page."""
  return np.ones(size // 8, dtype=np.float64)


def test_status_is_in_bytes_and_the_peak_is_never_below_the_rss():
  status = memory.read_status()
  assert status.rss > 10 * MIB  # This interpreter with numpy and pytest: tens of MiB.
  assert status.peak >= status.rss
  assert abs(memory.rss() - memory.read_status().rss) < 8 * MIB  # statm and VmRSS agree


def test_allocating_raises_the_rss_and_the_peak_by_about_that_much():
  before = memory.read_status()
  block = _touch()
  during = memory.read_status()
  assert during.rss - before.rss == pytest.approx(SIZE, rel=0.1)
  assert during.peak >= during.rss
  del block
  after = memory.read_status()
  assert during.rss - after.rss == pytest.approx(SIZE, rel=0.1)  # glibc unmaps a large block
  assert after.peak >= during.rss - 4 * MIB  # ... and the high water mark keeps it


def test_the_reset_brings_the_peak_down_to_the_rss_or_says_it_did_not():
  del_me = _touch()
  del del_me  # The peak is now ~200 MiB above the RSS.
  assert memory.read_status().peak - memory.rss() > SIZE * 0.9
  if memory.reset_peak():
    status = memory.read_status()
    assert status.peak - status.rss <= memory.RESET_TOLERANCE
    block = _touch()
    assert memory.read_status().peak - status.rss == pytest.approx(SIZE, rel=0.1)
    del block
  else:  # A kernel that refuses: the peak must still be the old one, or the answer lied.
    status = memory.read_status()
    assert status.peak - status.rss > SIZE * 0.9


def test_a_refused_or_ignored_reset_is_detected(tmp_path):
  block = _touch()
  del block  # VmHWM is now well above VmRSS: a reset that did nothing shows.
  assert not memory.reset_peak(str(tmp_path / 'no' / 'such' / 'clear_refs'))  # write refused
  ignored = tmp_path / 'clear_refs'
  assert not memory.reset_peak(str(ignored))  # written, but the kernel never saw it
  assert ignored.read_text() == memory.RESET_PEAK


def test_the_sampler_catches_a_block_freed_before_anyone_looked():
  with memory.PeakTracker(period=0.002, sample=True) as tracker:
    base = memory.rss()
    block = _touch()
    time.sleep(0.05)  # Many periods: the sampler sees it resident.
    del block
    peak = tracker.peak()
    assert tracker.source == 'sampled' and tracker.samples > 5
  assert memory.rss() < base + SIZE / 2  # Freed: only the sampler's max remembers it.
  assert peak - base == pytest.approx(SIZE, rel=0.1)


def test_the_tracker_uses_vmhwm_where_the_reset_works_and_samples_where_refused(monkeypatch):
  reset_works = memory.reset_peak()
  with memory.PeakTracker() as tracker:
    base = memory.rss()
    block = _touch()
    del block
    peak = tracker.peak()
  assert tracker.source == ('vmhwm' if reset_works else 'sampled')
  assert peak - base == pytest.approx(SIZE, rel=0.1)
  monkeypatch.setattr(memory, 'reset_peak', lambda path=None: False)
  with memory.PeakTracker() as refused:
    assert refused.source == 'sampled'
  assert not _sampler_threads()


def test_observed_readings_count_towards_the_peak():
  with memory.PeakTracker() as tracker:
    assert tracker.observe(1 << 50) == 1 << 50
    assert tracker.peak() == 1 << 50


def _sampler_threads():
  return [t for t in threading.enumerate() if t.name == 'tfx-warmup-rss-sampler']


def test_a_tracker_dropped_without_stop_stops_its_thread():
  tracker = memory.PeakTracker(sample=True).start()
  assert len(_sampler_threads()) == 1
  del tracker
  gc.collect()
  for _ in range(100):
    if not _sampler_threads():
      break
    time.sleep(0.01)
  assert not _sampler_threads()


def test_marks_record_each_moment_and_a_peak_above_them():
  marks = memory.Marks()
  marks.take('before')
  marks.start_peak()
  block = _touch()
  marks.take('holding')
  del block
  marks.take('after')
  values = marks.stop()
  assert set(values) == {'before', 'holding', 'after', 'peak'}
  assert values['holding'] - values['before'] == pytest.approx(SIZE, rel=0.1)
  assert values['peak'] >= max(values['before'], values['holding'], values['after'])
  assert marks.source in ('vmhwm', 'sampled')


def test_without_proc_the_error_names_the_cause_and_marks_take_nothing(monkeypatch, tmp_path):
  missing = str(tmp_path / 'proc' / 'self' / 'status')
  monkeypatch.setattr(memory, 'STATUS', missing)
  monkeypatch.setattr(memory, 'STATM', str(tmp_path / 'proc' / 'self' / 'statm'))
  with pytest.raises(MeasureError, match=r"through Linux's /proc.*Measure on Linux"):
    memory.read_status()
  with pytest.raises(MeasureError, match='statm'):
    memory.rss()
  with pytest.raises(MeasureError, match='/proc'):
    memory.PeakTracker().start()
  assert 'Linux' in memory.unavailable_reason()
  marks = memory.Marks()
  marks.take('baseline')
  marks.start_peak()
  assert marks.stop() == {} and marks.source == 'unavailable'


def test_a_status_without_the_lines_is_named(tmp_path):
  status = tmp_path / 'status'
  status.write_text('Name:\tpython\nVmRSS:\t  100 kB\n')
  with pytest.raises(MeasureError, match='no VmRSS/VmHWM'):
    memory.read_status(str(status))
  status.write_text('VmHWM:\t  300 kB\nVmRSS:\t  100 kB\n')
  assert memory.read_status(str(status)) == memory.Status(rss=100 * 1024, peak=300 * 1024)
