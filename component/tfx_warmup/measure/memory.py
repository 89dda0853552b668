"""The process's resident memory, as the kernel counts it, and its peak over a stretch of time.

Why: at a hot reload TF Serving holds the serving version and the next one in
memory together, and its users see the server's memory double until the
container is OOM-killed (tensorflow/serving #2017, #1346, #1632, #2142). What
the kernel kills on is resident memory at its highest, not at the moments a
report happens to look; so the swap (`swap.run`) reports the resident set at
each phase boundary and its peak over the whole swap.

What Linux offers, all in bytes here:
  * VmRSS (/proc/self/status; the second field of /proc/self/statm, in pages,
    is the same counter): the pages resident now, anonymous + file + shared.
  * VmHWM, the "high water mark": the highest VmRSS since the process started,
    or since it was last reset by writing '5' to /proc/self/clear_refs (Linux
    4.0+; proc(5)). The kernel updates it when RSS grows, so no spike between
    two readings is missed.
  * Some kernels and sandboxes refuse that write (a permission error, or a
    write that changes nothing, as under gVisor). `reset_peak` tells: after a
    reset VmHWM equals VmRSS. Then `PeakTracker` samples /proc/self/statm on a
    thread instead (a 1 us read every SAMPLE_SECONDS), which misses a spike
    shorter than its period: it is the fallback, and the figure says which
    source it came from ('vmhwm' or 'sampled').

A container's limit (the cgroup's memory.max) also counts the page cache of
files read, e.g. a SavedModel's variables; RSS is the process's own share,
which is what the swap changes.

No /proc (not Linux): every reading raises MeasureError naming the cause;
`unavailable_reason()` says so beforehand, for callers that go on without
memory figures.
"""

import os
import threading
import weakref
from typing import Dict, NamedTuple, Optional

from tfx_warmup.errors import MeasureError

STATUS = '/proc/self/status'
STATM = '/proc/self/statm'
CLEAR_REFS = '/proc/self/clear_refs'
RESET_PEAK = '5'  # clear_refs: "reset the peak resident set size to the current value"
# The sampler's period, when the kernel refuses the reset: short enough for the spikes of a
# model load (tensors held for milliseconds or more), long enough that its wake-ups (a 1 us
# read, tens of us holding the GIL; 1.3% of one core in all, measured here) cost the serving
# threads nothing measurable.
SAMPLE_SECONDS = 0.005
# A reset counts as done when VmHWM lands within this of VmRSS in the same reading (the
# kernel's per-CPU RSS counters drift by a few pages; other threads may allocate meanwhile).
RESET_TOLERANCE = 4 << 20
_KIB = 1024


class Status(NamedTuple):
  """VmRSS and VmHWM from /proc/self/status, in bytes."""
  rss: int
  peak: int


def _no_proc(path: str, error: OSError) -> MeasureError:
  return MeasureError(
      f'Cannot read the process\'s memory from {path} ({error.strerror or error}): memory is '
      'measured through Linux\'s /proc, which this system does not have. Measure on Linux, as '
      'TF Serving runs; the latency figures do not need it.')


def read_status(path: Optional[str] = None) -> Status:
  """VmRSS and VmHWM now; MeasureError where /proc (or either line) is missing."""
  path = path or STATUS
  try:
    with open(path) as f:
      text = f.read()
  except OSError as e:
    raise _no_proc(path, e) from None
  fields = {}
  for line in text.splitlines():
    key, _, value = line.partition(':')
    if key in ('VmRSS', 'VmHWM'):
      fields[key] = int(value.split()[0]) * _KIB  # "VmRSS:   13572 kB"
  if len(fields) != 2:
    raise MeasureError(
        f'{path} has no VmRSS/VmHWM lines: this kernel does not report the process\'s resident '
        'memory (a kernel thread, or not Linux). Measure on Linux, as TF Serving runs.')
  return Status(rss=fields['VmRSS'], peak=fields['VmHWM'])


def unavailable_reason() -> Optional[str]:
  """None when memory can be read here, else one line saying why not."""
  try:
    read_status()
  except MeasureError as e:
    return str(e)
  return None


class _Statm:
  """/proc/self/statm held open: one pread per reading (about 1 us), no parsing of status."""

  def __init__(self, path: Optional[str] = None):
    self._fd = -1
    path = path or STATM
    try:
      self._fd = os.open(path, os.O_RDONLY)
    except OSError as e:
      raise _no_proc(path, e) from None
    self._page = os.sysconf('SC_PAGE_SIZE')

  def rss(self) -> int:
    # "size resident shared text lib data dt", in pages.
    return int(os.pread(self._fd, 128, 0).split()[1]) * self._page

  def close(self) -> None:
    if self._fd >= 0:
      os.close(self._fd)
      self._fd = -1

  def __del__(self):
    self.close()


def rss() -> int:
  """The resident set now, in bytes (statm's count, the one VmRSS prints)."""
  statm = _Statm()
  try:
    return statm.rss()
  finally:
    statm.close()


def reset_peak(path: Optional[str] = None) -> bool:
  """Resets VmHWM to the current RSS; False when the kernel refused or ignored it."""
  try:
    with open(path or CLEAR_REFS, 'w') as f:
      f.write(RESET_PEAK)
  except OSError:
    return False  # EPERM/EACCES in a locked-down container, EINVAL before Linux 4.0.
  status = read_status()
  return status.peak - status.rss <= RESET_TOLERANCE


class _Sampler:
  """The thread sampling statm; holds no reference to its tracker, so it can stop it."""

  def __init__(self, period: float):
    self.period = period
    self.max = 0
    self.samples = 0
    self._statm = _Statm()
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, name='tfx-warmup-rss-sampler',
                                    daemon=True)

  def start(self) -> None:
    self.max = self._statm.rss()
    self._thread.start()

  def _run(self) -> None:
    while not self._stop.wait(self.period):
      value = self._statm.rss()
      self.samples += 1
      if value > self.max:
        self.max = value

  def stop(self) -> None:
    self._stop.set()
    if self._thread.is_alive():
      self._thread.join()
    self._statm.close()


class PeakTracker:
  """The highest RSS from `start()` on: VmHWM after a reset, else a sampler thread's maximum.

    with PeakTracker() as tracker:
      ...
      peak = tracker.peak()   # bytes; tracker.source is 'vmhwm' or 'sampled'

  `sample=True` samples even where the reset works (to compare the two);
  `observe(value)` folds in a reading taken elsewhere, so the peak is never
  below an RSS the caller reported. A tracker dropped without `stop()` (an
  exception on the way) stops its thread when it is garbage collected.
  """

  def __init__(self, period: float = SAMPLE_SECONDS, sample: Optional[bool] = None):
    self.period = period
    self.sample = sample
    self.source = ''
    self._observed = 0
    self._sampler: Optional[_Sampler] = None
    self._finalizer: Optional[weakref.finalize] = None

  def start(self) -> 'PeakTracker':
    """Resets the peak to the RSS now (or starts sampling); MeasureError without /proc."""
    read_status()  # Fails first, and clearly, where /proc is missing.
    if self.sample is not True and reset_peak():
      self.source = 'vmhwm'
    else:
      self.source = 'sampled'
      self._sampler = _Sampler(self.period)
      self._sampler.start()
      self._finalizer = weakref.finalize(self, self._sampler.stop)  # Holds the sampler only.
    return self

  def observe(self, value: int) -> int:
    """Folds `value` (an RSS read elsewhere) into the peak; returns it."""
    self._observed = max(self._observed, value)
    return value

  def peak(self) -> int:
    """The highest RSS since `start()`, in bytes."""
    if not self.source:
      raise RuntimeError('PeakTracker.peak() before start()')
    if self._sampler is not None:
      return max(self._observed, self._sampler.max, rss())
    return max(self._observed, read_status().peak)

  @property
  def samples(self) -> int:
    """Readings the sampler took (0 when the peak is VmHWM)."""
    return self._sampler.samples if self._sampler is not None else 0

  def stop(self) -> int:
    """Stops the sampler, if any; the peak."""
    value = self.peak()
    if self._finalizer is not None:
      self._finalizer()  # Runs the sampler's stop once.
    return value

  def __enter__(self) -> 'PeakTracker':
    return self.start()

  def __exit__(self, *exc) -> None:
    if self._finalizer is not None:
      self._finalizer()


class Marks:
  """RSS at named moments and the peak from `start_peak()` on, for one run's report.

  Where /proc is missing, takes nothing (`values` stays empty, `source` is
  'unavailable'): a run's other figures do not depend on it.
  """

  def __init__(self, period: float = SAMPLE_SECONDS):
    self.unavailable = unavailable_reason()
    self.values: Dict[str, int] = {}
    self.source = 'unavailable' if self.unavailable else ''
    self._statm = None if self.unavailable else _Statm()
    self._tracker = None if self.unavailable else PeakTracker(period)

  def take(self, name: str) -> None:
    """Records the RSS now as `name` (a statm read: about a microsecond)."""
    if self._statm is not None:
      value = self._statm.rss()
      self.values[name] = value
      self._tracker.observe(value)

  def start_peak(self) -> None:
    """The peak counts from now."""
    if self._tracker is not None:
      self._tracker.start()
      self.source = self._tracker.source

  def stop(self, name: str = 'peak') -> Dict[str, int]:
    """Records the peak as `name`, stops any sampler; every value taken."""
    if self._tracker is not None and self._tracker.source:
      self.values[name] = self._tracker.stop()
    if self._statm is not None:
      self._statm.close()
      self._statm = None
    return dict(self.values)
