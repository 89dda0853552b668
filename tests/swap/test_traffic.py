"""Open-loop traffic: a stall shows as the queue it builds, not as a pause in sending."""

import threading
import time

import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from tfx_warmup import serving
from tfx_warmup.serving import servable as servable_lib
from tfx_warmup.serving.batching_config import BatchingConfig
from tfx_warmup.swap import traffic


class _FakeVersion:
  """Answers in `service` seconds, except request `slow_index`, which takes `stall`."""

  def __init__(self, number, service=0.001, stall=0.0, slow_index=-1):
    self.number = number
    self.service, self.stall, self.slow_index = service, stall, slow_index
    self.sent = []
    self.in_flight = 0
    self._lock = threading.Lock()

  def send(self, index):
    self.sent.append(index)
    time.sleep(self.stall if index == self.slow_index else self.service)

  def enter(self):
    with self._lock:
      self.in_flight += 1

  def leave(self):
    with self._lock:
      self.in_flight -= 1


def _run(version, qps, seconds, clients=1):
  loop = traffic.OpenLoop(traffic.Target(version), qps, clients)
  loop.start()
  time.sleep(seconds)
  return loop.stop()


def test_a_stall_delays_the_requests_queued_behind_it():
  """Closed loop would report one slow request; open loop reports the ones due meanwhile."""
  sent = _run(_FakeVersion(1, stall=0.2, slow_index=10), qps=200, seconds=0.6)
  late = [s for s in sent if s.latency_ms > 50]
  assert len(late) >= 20  # ~0.2 s x 200 QPS were due while request 10 ran.
  assert all(s.ok for s in sent)


def test_every_request_due_before_the_end_is_sent():
  """A client held up by a stall still sends what fell due: the count matches the rate."""
  sent = _run(_FakeVersion(1, stall=0.3, slow_index=5), qps=100, seconds=0.5, clients=2)
  assert 45 <= len(sent) <= 55
  dues = [s.due for s in sent]
  assert dues == sorted(dues) and len(set(dues)) == len(dues)


def test_switching_the_target_moves_new_requests():
  old, new = _FakeVersion(1), _FakeVersion(2)
  loop = traffic.OpenLoop(traffic.Target(old), 200, 2)
  loop.start()
  time.sleep(0.2)
  assert loop.target.switch(new) is old
  time.sleep(0.2)
  sent = loop.stop()
  versions = [s.version for s in sent]
  switch = versions.index(2)
  assert set(versions[:switch]) == {1} and versions.count(1) < len(versions)
  assert all(v == 2 for v in versions[switch + 2:])  # In-flight ones may still finish on 1.


def test_errors_are_counted_not_raised():
  class Failing(_FakeVersion):
    def send(self, index):
      raise RuntimeError('INVALID_ARGUMENT: boom')
  sent = _run(Failing(1), qps=100, seconds=0.2)
  assert sent and not any(s.ok for s in sent)
  assert sent[0].error == 'RuntimeError: INVALID_ARGUMENT: boom'


def test_a_client_that_falls_behind_the_lag_limit_stops_and_says_so():
  """Before the swap, a rate the version cannot answer ends the run instead of queueing
  without end; once the limit is lifted, the same lag is measured."""
  loop = traffic.OpenLoop(traffic.Target(_FakeVersion(1, service=0.01)), 1000, 1,
                          lag_limit=0.1)
  loop.start()
  time.sleep(0.5)
  assert loop.overloaded
  sent = loop.stop()
  assert len(sent) < 100  # It stopped, instead of owing 500 requests.
  calm = traffic.OpenLoop(traffic.Target(_FakeVersion(1)), 100, 1, lag_limit=0.1)
  calm.start()
  time.sleep(0.3)
  calm.stop()
  assert not calm.overloaded


@pytest.mark.parametrize('batching', [None, BatchingConfig(max_batch_size=8,
                                                           allowed_batch_sizes=(4, 8))],
                         ids=['plain', 'batching'])
@pytest.mark.parametrize('load', [serving.load, servable_lib.load_native],
                         ids=['python', 'native'])
def test_a_version_sends_its_prepared_requests_on_any_session(tf_half_plus_two_dir, load,
                                                              batching):
  """Version prepares each request once on whichever session serves (ServingSession)."""
  request = regression_pb2.RegressionRequest()
  request.model_spec.signature_name = 'regress_x_to_y'
  request.input.example_list.examples.add().features.feature['x'].float_list.value.append(1.0)
  wrong = predict_pb2.PredictRequest()  # Prepared fine; Session::Run refuses it.
  wrong.model_spec.signature_name = 'serving_default'
  wrong.inputs['x'].CopyFrom(tf.make_tensor_proto([[1.0]], dtype=tf.float64))
  version = traffic.Version(1, load(tf_half_plus_two_dir, batching=batching),
                            [request, wrong])
  try:
    for index in (0, 2, 4):  # Modulo the mix: the regression each time.
      version.send(index)
    with pytest.raises(tf.errors.OpError):
      version.send(3)
  finally:
    version.close()
