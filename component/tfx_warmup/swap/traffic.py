"""Open-loop traffic: requests sent on a fixed schedule, whatever the server is doing.

A closed loop (send, wait, send) slows down with the server and hides the
queue a stall builds: that is how a swap looks flat in a naive benchmark. Here
each client owns a fixed schedule (client i of n sends request k at
t0 + (k*n + i) / qps), a request's latency runs from its scheduled time, so a
request held back by a slow one before it counts the wait too (no coordinated
omission). Requests go to whichever version `Target` points at when they are
sent, as TF Serving routes each request to the version it serves then.

The requests are prepared once per version (`ServingSession.prepare`: the
native session converts them to C++ tensors); a send is one ctypes call that
releases the GIL, so the clients and a load in another thread contend as TF
Serving's threads do, on TensorFlow's pools. Under server-side batching a send
goes through the replica's BatchingSession (its splitting and padding).
"""

import dataclasses
import threading
import time
from typing import Callable, List, Optional, Sequence

from tfx_warmup.serving import servable as servable_lib
from tfx_warmup.serving import util


@dataclasses.dataclass
class Sent:
  """One request: when it was due, when it finished (seconds from the run's start)."""
  due: float
  done: float
  version: int
  ok: bool
  error: str = ''

  @property
  def latency_ms(self) -> float:
    return (self.done - self.due) * 1000


class Version:
  """A loaded version and its traffic, ready to send: one call per request, prepared once."""

  def __init__(self, number: int, servable: servable_lib.Servable,
               requests: Sequence[util.Request]):
    self.number = number
    self.servable = servable
    calls = [servable.prepare(r) for r in requests]
    self._prepared = [servable.session.prepare(c.feeds, c.fetches) for c in calls]
    self.in_flight = 0
    self._lock = threading.Lock()
    self._idle = threading.Condition(self._lock)

  def send(self, index: int) -> None:
    """Runs request `index` (modulo the mix); raises what Session::Run raises."""
    self.servable.session.run_prepared(self._prepared[index % len(self._prepared)])

  def enter(self) -> None:
    with self._lock:
      self.in_flight += 1

  def leave(self) -> None:
    with self._lock:
      self.in_flight -= 1
      if not self.in_flight:
        self._idle.notify_all()

  def wait_idle(self) -> None:
    """Returns when no request is running on this version (then it may be unloaded)."""
    with self._lock:
      self._idle.wait_for(lambda: self.in_flight == 0)

  def close(self) -> None:
    for prepared in self._prepared:
      prepared.close()
    self.servable.close()


class Target:
  """The version requests go to; switching it is TF Serving moving traffic."""

  def __init__(self, version: Version):
    self._version = version
    self._lock = threading.Lock()

  def acquire(self) -> Version:
    with self._lock:
      version = self._version
      version.enter()
      return version

  def switch(self, version: Version) -> Version:
    """Points new requests at `version`; returns the one they left."""
    with self._lock:
      old, self._version = self._version, version
      return old


class OpenLoop:
  """`clients` threads sending `qps` requests per second in total until stopped.

  While `lag_limit` is set (seconds), a client that falls that far behind its
  schedule stops and sets `overloaded`: the rate is more than the version can
  answer, and the queue would only grow. The swap lifts the limit at the load,
  where a queue is what is being measured.
  """

  def __init__(self, target: Target, qps: float, clients: int,
               clock: Callable[[], float] = time.perf_counter,
               lag_limit: Optional[float] = None):
    self.target = target
    self.qps = qps
    self.clients = clients
    self.clock = clock
    self.lag_limit = lag_limit
    self.overloaded = False
    self.sent: List[List[Sent]] = [[] for _ in range(clients)]
    self._end = float('inf')  # seconds: requests due from then on are not sent
    self._threads: List[threading.Thread] = []
    self.start_time: Optional[float] = None

  def now(self) -> float:
    """Seconds since the traffic started."""
    return self.clock() - self.start_time

  def start(self) -> None:
    self.start_time = self.clock()
    self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
                     for i in range(self.clients)]
    for thread in self._threads:
      thread.start()

  def stop(self) -> List[Sent]:
    """Ends the schedule now; returns every request due before, by due time.

    A client held up by a slow request still sends the requests that fell due
    meanwhile (late, as a real client's would be): open loop to the end.
    """
    self._end = self.now()
    for thread in self._threads:
      thread.join()
    return sorted((s for client in self.sent for s in client), key=lambda s: s.due)

  def _client(self, client: int) -> None:
    interval = self.clients / self.qps
    k = 0
    log = self.sent[client]
    while True:
      due = (k + client / self.clients) * interval
      if due >= self._end:
        break
      wait = due - self.now()
      if wait > 0:
        time.sleep(wait)
      elif self.lag_limit is not None and -wait > self.lag_limit:
        self.overloaded = True
        break
      version = self.target.acquire()
      try:
        version.send(k * self.clients + client)
        ok, error = True, ''
      except Exception as e:  # noqa: BLE001  (an answer with an error status)
        ok, error = False, f'{type(e).__name__}: {e}'[:200]
      finally:
        version.leave()
      log.append(Sent(due=due, done=self.now(), version=version.number, ok=ok, error=error))
      k += 1


def closed_loop_capacity(version: Version, clients: int, seconds: float) -> float:
  """Requests per second `clients` threads get answered sending back to back."""
  stop = time.perf_counter() + seconds
  counts = [0] * clients

  def client(i: int) -> None:
    k = i
    while time.perf_counter() < stop:
      version.send(k)
      counts[i] += 1
      k += clients

  threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
  start = time.perf_counter()
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  return sum(counts) / (time.perf_counter() - start)
