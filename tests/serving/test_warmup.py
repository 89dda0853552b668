"""TF Serving's saved_model_warmup_test.cc and saved_model_warmup_util_test.cc, ported.

Sources (TF Serving 9d981c5, tensorflow_serving/servables/tensorflow/):
  * saved_model_warmup_test.cc runs RunSavedModelWarmup against a MockSession
    and the fake signatures of saved_model_warmup_test_util.cc (AddSignatures).
    Here a real TF1 graph has those signatures (tensor names without `:0`,
    as AddSignatures writes them), and a counting wrapper round the replica's
    session stands in for the mock's EXPECT_CALL(Run(_, _, SizeIs(n), ...)).
  * saved_model_warmup_util_test.cc runs RunSavedModelWarmupUntracked with a
    lambda executor and no model. Here `replay_warmup(servable=...)` gets an
    executor object whose `run_log` is that lambda.
Records are AddMixedWarmupData's: regress, classify, predict, multi_inference,
written `n` times as an uncompressed TFRecord (WriteWarmupData).
"""

import os
import threading

import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tests import models
from tests.serving import requests as serving_requests
from tfx_warmup import serving
from tfx_warmup.serving import warmup_file

_REGRESS = 'tensorflow/serving/regress'
_CLASSIFY = 'tensorflow/serving/classify'
_PREDICT = 'tensorflow/serving/predict'


# -- saved_model_warmup_test_util.cc -----------------------------------------------------


def _signature_def(method_name, inputs, outputs):
  """CreateSignatureDef: aliases equal tensor names, without `:0`."""
  signature = meta_graph_pb2.SignatureDef(method_name=method_name)
  for names, infos in ((inputs, signature.inputs), (outputs, signature.outputs)):
    for name, dtype in names:
      infos[name].CopyFrom(meta_graph_pb2.TensorInfo(name=name, dtype=dtype))
  return signature


def _build_add_signatures_graph():
  """AddSignatures' three signatures over a graph that answers them.

  `inputs`: string [None]; `outputs`, `scores`: float [n, 1]; `classes`:
  string [n, 1] -- the mock's float [1, 1] / string [1, 1] answers, per example.
  """
  inputs = tf.compat.v1.placeholder(tf.string, [None], name='inputs')
  rows = tf.stack([tf.size(inputs), 1])
  tf.fill(rows, 0.5, name='outputs')
  tf.fill(rows, 0.25, name='scores')
  tf.fill(rows, 'class', name='classes')
  string, float_ = types_pb2.DT_STRING, types_pb2.DT_FLOAT
  return {
      _REGRESS: _signature_def(_REGRESS, [('inputs', string)], [('outputs', float_)]),
      _CLASSIFY: _signature_def(_CLASSIFY, [('inputs', string)],
                                [('classes', string), ('scores', float_)]),
      _PREDICT: _signature_def(_PREDICT, [('inputs', string)], [('outputs', float_)]),
  }


@pytest.fixture(scope='module')
def fake_signatures_model(tmp_path_factory):
  return models.build_graph_model(str(tmp_path_factory.mktemp('warmup') / '1'),
                                  _build_add_signatures_graph)


def _log(kind):
  """PopulatePredictionLog(kind)."""
  log = prediction_log_pb2.PredictionLog()
  if kind in ('regress_log', 'classify_log'):
    request = getattr(log, kind).request
    request.input.example_list.examples.add()
    request.model_spec.signature_name = _REGRESS if kind == 'regress_log' else _CLASSIFY
  elif kind == 'predict_log':
    _predict_request(log.predict_log.request)
  elif kind == 'predict_streamed_log':
    _predict_request(log.predict_streamed_log.request.add())
  elif kind == 'multi_inference_log':
    request = log.multi_inference_log.request
    request.input.example_list.examples.add()
    serving_requests.add_tasks(request, [(method, method) for method in (_REGRESS, _CLASSIFY)],
                               'test_model')
  elif kind == 'session_run_log':
    log.session_run_log.SetInParent()
  return log


def _predict_request(request):
  request.model_spec.signature_name = _PREDICT
  request.inputs['inputs'].CopyFrom(tf.make_tensor_proto(['input_value'], dtype=tf.string))


_MIXED = ('regress_log', 'classify_log', 'predict_log', 'multi_inference_log')


def _mixed():
  """AddMixedWarmupData's default records."""
  return [_log(kind) for kind in _MIXED]


def _write_warmup_data(export_dir, records, num_warmup_records):
  """WriteWarmupData: the records, `num_warmup_records` times, at the warmup path."""
  path = warmup_file.warmup_file_path(str(export_dir))
  warmup_file.write_warmup_file(path, list(records) * num_warmup_records)
  return path


def _model_with_warmup(model_dir, tmp_path, records, num_warmup_records):
  target = tmp_path / 'export'
  # The model's files, linked: only assets.extra is the test's own.
  os.makedirs(target)
  for name in os.listdir(model_dir):
    os.symlink(os.path.join(model_dir, name), target / name)
  _write_warmup_data(target, records, num_warmup_records)
  return str(target)


def _replay_error(export_dir, executor=None):
  """The WarmupReplayError of replaying export_dir's warmup (None: the replica's own executor)."""
  with pytest.raises(serving.WarmupReplayError) as error:
    serving.replay_warmup(export_dir, servable=executor)
  return error.value


class _CountingSession:
  """The replica's session, counting Run calls by number of fetches (the mock's SizeIs)."""

  def __init__(self, session):
    self.session = session
    self.runs_by_fetches = {}
    self.lock = threading.Lock()  # Warmup threads run it at once.

  def dtype(self, name):
    return self.session.dtype(name)

  def close(self):
    self.session.close()

  def run(self, feeds, fetches):
    with self.lock:
      self.runs_by_fetches[len(fetches)] = self.runs_by_fetches.get(len(fetches), 0) + 1
    return self.session.run(feeds, fetches)


# -- saved_model_warmup_test.cc -----------------------------------------------------------


@pytest.mark.parametrize('num_model_warmup_threads', [1, 3], ids=['serial', '3_threads'])
@pytest.mark.parametrize('num_request_iterations', [1, 2],
                         ids=['iterations_unset', 'iterations_2'])
def test_mixed_warmup_data(fake_signatures_model, tmp_path, num_request_iterations,
                           num_model_warmup_threads):
  """SavedModelBundleWarmupOptionsTest.MixedWarmupData (TEST_P: num_request_iterations).

  10 x [regress, classify, predict, multi] = 40 records, OK. Session.Run
  calls: 1 fetch (regress, predict) 10*2*iters, 2 fetches (classify: classes,
  scores) 10*iters, 3 (multi: outputs, classes, scores) 10*iters. On 3 warmup
  threads (ModelWarmupOptions.num_model_warmup_threads) the same records run.
  """
  export_dir = _model_with_warmup(fake_signatures_model, tmp_path, _mixed(), 10)
  with serving.load(export_dir) as servable:
    counting = servable.session = _CountingSession(servable.session)
    result = serving.replay_warmup(export_dir, servable=servable,
                                  num_request_iterations=num_request_iterations,
                                  num_model_warmup_threads=num_model_warmup_threads)
  assert result.records == 40
  assert len(result.record_seconds) == 40 and all(s > 0 for s in result.record_seconds)
  assert sum(result.summary.values()) == 40
  assert counting.runs_by_fetches == {1: 10 * 2 * num_request_iterations,
                                      2: 10 * num_request_iterations,
                                      3: 10 * num_request_iterations}


@pytest.mark.parametrize('kind,field_number', [
    ('session_run_log', 5),
    ('predict_streamed_log', 7),
], ids=['UnsupportedLogType_SessionRun', 'UnsupportedLogType_PredictStreamed'])
def test_unsupported_log_type(fake_signatures_model, tmp_path, kind, field_number):
  """SavedModelBundleWarmupTest.UnsupportedLogType_{SessionRun,PredictStreamed}.

  10 such records: UNIMPLEMENTED `Unsupported log_type for warmup` (TF
  Serving's full text ends with the oneof field's number), at the first one.
  """
  error = _replay_error(_model_with_warmup(fake_signatures_model, tmp_path, [_log(kind)], 10))
  assert error.code == 'UNIMPLEMENTED'
  assert 'Unsupported log_type for warmup' in str(error)
  assert f'Unsupported log_type for warmup: {field_number}' in str(error)
  assert error.record == 0


# -- saved_model_warmup_util_test.cc --------------------------------------------------------


class _Executor:
  """The tests' lambda executor: counts the records it runs, returns `status` (None = OK)."""

  def __init__(self, status=None):
    self.status = status
    self.calls = 0
    self.lock = threading.Lock()  # FakeRunWarmupRequest's mutex: warmup threads call at once.

  def run_log(self, record):
    with self.lock:
      self.calls += 1
    if self.status is not None:
      raise serving.RequestError(*self.status)

  def close(self):
    raise AssertionError('replay_warmup must not close a servable it was given')


def _export_dir(tmp_path):
  """A base path with an assets.extra directory, as each util test makes first."""
  os.makedirs(tmp_path / 'base' / 'assets.extra')
  return str(tmp_path / 'base')


def _assert_replays(export_dir, num_records, num_model_warmup_threads=1):
  """Warmup is OK with `num_records` records, each run once by the tests' executor."""
  executor = _Executor()
  assert serving.replay_warmup(export_dir, servable=executor,
                               num_model_warmup_threads=num_model_warmup_threads
                               ).records == num_records
  assert executor.calls == num_records


def _write_malformed_records(export_dir, num_records):
  """`num_records` x "malformed_record" TFRecords at the warmup path; returns the path."""
  path = warmup_file.warmup_file_path(export_dir)
  with tf.io.TFRecordWriter(path) as writer:
    for _ in range(num_records):
      writer.write(b'malformed_record')
  return path


@pytest.mark.parametrize('num_warmup_threads', [1, 3], ids=['serial', 'parallel_3_threads'])
def test_warmup_state_registration(tmp_path, num_warmup_threads):
  """RunSavedModelWarmupTest.WarmupStateRegistration (TEST_P: parallel warmup).

  1 (serial) or 3 (parallel, kNumWarmupThreads = 3 threads) predict records:
  OK, the executor runs each once. The warmup-state registry is N/A (it
  serves batching ops' all-batch-sizes warmup).
  """
  export_dir = _export_dir(tmp_path)
  _write_warmup_data(export_dir, [_log('predict_log')], num_warmup_threads)
  _assert_replays(export_dir, num_warmup_threads, num_warmup_threads)


def test_no_warmup_data_file(tmp_path):
  """RunSavedModelWarmupUntrackedTest.NoWarmupDataFile: OK, no request run."""
  _assert_replays(_export_dir(tmp_path), 0)


def test_warmup_data_file_empty(tmp_path):
  """RunSavedModelWarmupUntrackedTest.WarmupDataFileEmpty: a 0-record file is OK."""
  export_dir = _export_dir(tmp_path)
  path = _write_warmup_data(export_dir, [], 0)
  assert os.path.exists(path)
  _assert_replays(export_dir, 0)


def test_unsupported_file_format(tmp_path):
  """RunSavedModelWarmupUntrackedTest.UnsupportedFileFormat: serialized logs, no TFRecord framing.

  10 x PredictionLog{session_run_log {}} appended raw: DATA_LOSS, `Please
  verify your warmup data is in TFRecord format`.
  """
  export_dir = _export_dir(tmp_path)
  with open(warmup_file.warmup_file_path(export_dir), 'wb') as f:
    f.write(_log('session_run_log').SerializeToString() * 10)
  error = _replay_error(export_dir, _Executor())
  assert error.code == 'DATA_LOSS'
  assert 'Please verify your warmup data is in TFRecord format' in str(error)


def test_too_many_warmup_records(tmp_path):
  """RunSavedModelWarmupUntrackedTest.TooManyWarmupRecords: 1001 x 4 mixed records.

  INVALID_ARGUMENT `Number of warmup records exceeds the maximum` (TF Serving:
  `... (1000) at <path>`), raised after record #1001 has run.
  """
  export_dir = _export_dir(tmp_path)
  path = _write_warmup_data(export_dir, _mixed(), 1000 + 1)
  executor = _Executor()
  error = _replay_error(export_dir, executor)
  assert error.code == 'INVALID_ARGUMENT'
  assert 'Number of warmup records exceeds the maximum' in str(error)
  assert f'Number of warmup records exceeds the maximum (1000) at {path}' in str(error)
  assert executor.calls == 1001


def test_unparsable_record(tmp_path):
  """RunSavedModelWarmupUntrackedTest.UnparsableRecord: 10 x "malformed_record" TFRecords.

  INVALID_ARGUMENT `Failed to parse warmup record`, before any request runs.
  """
  export_dir = _export_dir(tmp_path)
  _write_malformed_records(export_dir, 10)
  executor = _Executor()
  error = _replay_error(export_dir, executor)
  assert error.code == 'INVALID_ARGUMENT'
  assert 'Failed to parse warmup record' in str(error)
  assert executor.calls == 0


def test_run_success(tmp_path):
  """RunSavedModelWarmupUntrackedTest.RunSuccess: 5 x 4 mixed records, executor OK."""
  export_dir = _export_dir(tmp_path)
  _write_warmup_data(export_dir, _mixed(), 5)
  _assert_replays(export_dir, 20)


def test_run_failure(tmp_path):
  """RunSavedModelWarmupUntrackedTest.RunFailure: the executor fails INVALID_ARGUMENT `Run failed`.

  Warmup fails with that status at the first record.
  """
  export_dir = _export_dir(tmp_path)
  _write_warmup_data(export_dir, _mixed(), 10)
  executor = _Executor(('INVALID_ARGUMENT', 'Run failed'))
  error = _replay_error(export_dir, executor)
  assert error.code == 'INVALID_ARGUMENT'
  assert 'Run failed' in str(error)
  assert (error.record, executor.calls) == (0, 1)


def test_run_failure_of_a_real_request(fake_signatures_model, tmp_path):
  """RunFailure with the replica's own executor: a record whose request fails INVALID_ARGUMENT.

  The mixed records then a predict record with an unknown input alias: warmup
  fails with the request's status, at that record.
  """
  bad = _log('predict_log')
  bad.predict_log.request.inputs['unknown'].CopyFrom(tf.make_tensor_proto([1.0]))
  export_dir = _model_with_warmup(fake_signatures_model, tmp_path, _mixed() + [bad], 1)
  error = _replay_error(export_dir)
  assert error.code == 'INVALID_ARGUMENT'
  assert error.record == 4
  assert 'input size does not match signature: 2!=1' in str(error)


def test_unparsable_record_full_message(tmp_path):
  """UnparsableRecord's TF Serving text: `Failed to parse warmup record: <record> from <path>`."""
  export_dir = _export_dir(tmp_path)
  path = _write_malformed_records(export_dir, 1)
  error = _replay_error(export_dir, _Executor())
  assert f'Failed to parse warmup record: malformed_record from {path}' in str(error)


# -- num_model_warmup_threads > 1: the threaded branch of RunSavedModelWarmupUntracked -------


def test_warmup_threads_run_records_at_once(tmp_path):
  """Each of 3 records waits for the other two: only 3 threads at once get past it."""
  export_dir = _export_dir(tmp_path)
  _write_warmup_data(export_dir, [_log('predict_log')], 3)
  barrier = threading.Barrier(3, timeout=10)  # One at a time: BrokenBarrierError.
  lock, inside, most = threading.Lock(), [0], [0]

  class _Waiting(_Executor):

    def run_log(self, record):
      with lock:
        inside[0] += 1
        most[0] = max(most[0], inside[0])
      barrier.wait()
      with lock:
        inside[0] -= 1
      super().run_log(record)

  executor = _Waiting()
  result = serving.replay_warmup(export_dir, servable=executor, num_model_warmup_threads=3)
  assert (result.records, executor.calls, len(result.record_seconds)) == (3, 3, 3)
  assert most[0] == 3  # All three records were running at once.


def test_warmup_threads_stop_reading_at_the_first_failure(tmp_path):
  """RunFailure on 3 threads: the status fails the warmup; no thread reads past it."""
  export_dir = _export_dir(tmp_path)
  _write_warmup_data(export_dir, _mixed(), 10)
  executor = _Executor(('INVALID_ARGUMENT', 'Run failed'))
  with pytest.raises(serving.WarmupReplayError) as error:
    serving.replay_warmup(export_dir, servable=executor, num_model_warmup_threads=3)
  assert error.value.code == 'INVALID_ARGUMENT'
  assert 'Run failed' in str(error.value)
  assert error.value.record in (0, 1, 2)
  assert 1 <= executor.calls <= 3


def test_warmup_threads_fail_on_a_real_request(fake_signatures_model, tmp_path):
  """A real model's bad record fails the threaded replay with its own status and index."""
  bad = _log('predict_log')
  bad.predict_log.request.inputs['unknown'].CopyFrom(tf.make_tensor_proto([1.0]))
  export_dir = _model_with_warmup(fake_signatures_model, tmp_path, _mixed() * 3 + [bad], 1)
  with serving.load(export_dir) as servable:
    with pytest.raises(serving.WarmupReplayError) as error:
      serving.replay_warmup(export_dir, servable=servable, num_model_warmup_threads=3)
  assert error.value.code == 'INVALID_ARGUMENT'
  assert error.value.record == 12
  assert 'input size does not match signature: 2!=1' in str(error.value)


@pytest.mark.parametrize('num_records', [1001, 4 * 1001])
def test_warmup_threads_refuse_too_many_records(tmp_path, num_records):
  """TooManyWarmupRecords on 3 threads: refused, and no thread reads once 1001 have run.

  TF Serving checks the count before each read, so its threads may reach the end
  of a file of 1001-1003 records first; the replica refuses those too.
  """
  export_dir = _export_dir(tmp_path)
  path = _write_warmup_data(export_dir, [_log('predict_log')], num_records)
  executor = _Executor()
  with pytest.raises(serving.WarmupReplayError) as error:
    serving.replay_warmup(export_dir, servable=executor, num_model_warmup_threads=3)
  assert error.value.code == 'INVALID_ARGUMENT'
  assert f'Number of warmup records exceeds the maximum (1000) at {path}' in str(error.value)
  assert 1001 <= executor.calls <= 1003


def test_warmup_threads_fail_on_an_unparsable_record(tmp_path):
  """UnparsableRecord on 3 threads: the reader's error fails the replay, nothing runs."""
  export_dir = _export_dir(tmp_path)
  _write_malformed_records(export_dir, 10)
  executor = _Executor()
  with pytest.raises(serving.WarmupReplayError) as error:
    serving.replay_warmup(export_dir, servable=executor, num_model_warmup_threads=3)
  assert 'Failed to parse warmup record' in str(error.value)
  assert executor.calls == 0


def test_warmup_threads_report_progress_once_per_record(tmp_path):
  export_dir = _export_dir(tmp_path)
  _write_warmup_data(export_dir, _mixed(), 5)
  calls = []
  result = serving.replay_warmup(export_dir, servable=_Executor(),
                                 on_record=lambda: calls.append(1), num_model_warmup_threads=4)
  assert result.records == len(calls) == 20


@pytest.mark.parametrize('threads', [0, -1, True, 2.0, '2'])
def test_warmup_threads_must_be_a_positive_int(tmp_path, threads):
  with pytest.raises(serving.ServingConfigError, match='num_model_warmup_threads'):
    serving.replay_warmup(_export_dir(tmp_path), servable=_Executor(),
                          num_model_warmup_threads=threads)
