"""The native core: TF Serving's C++ load and Session::Run, called in the TensorFlow wheel.

The Python replica is the oracle for what each request asks; the native core
must answer every request exactly as it does (same responses, same error
statuses) on TF Serving's test models, and load as TF Serving's bundle factory
does, thread pools and load RunOptions included.
"""

import collections
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import config_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from tests.serving.requests import float_example
from tfx_warmup import serving
from tfx_warmup.serving import native
from tfx_warmup.serving import servable as servable_lib
from tfx_warmup.serving.batching_config import BatchingConfig
from tfx_warmup.serving.errors import LoadError, RequestError
from tfx_warmup.serving.platform_config import ServerConfig, ThreadPool

_EXAMPLES = [float_example(x=1.0, x2=2.0), float_example(x=3.5), float_example(x=-4.0, x2=0.25)]
_METHODS = {'tensorflow/serving/classify': classification_pb2.ClassificationRequest,
            'tensorflow/serving/regress': regression_pb2.RegressionRequest}


def _predict_input(info) -> tf.make_tensor_proto:
  if info.dtype == types_pb2.DT_STRING:
    return tf.make_tensor_proto([e.SerializeToString() for e in _EXAMPLES])
  dims = [d.size for d in info.tensor_shape.dim] or [3]
  shape = [3 if size < 0 else size for size in dims]
  values = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) / 4 - 1
  return tf.make_tensor_proto(values)


def requests_for(meta_graph_def):
  """A request for every signature (and one MultiInference), whatever each one answers."""
  requests = []
  for name, signature in sorted(meta_graph_def.signature_def.items()):
    request_type = _METHODS.get(signature.method_name)
    if request_type is not None:
      request = request_type()
      request.model_spec.signature_name = name
      request.input.example_list.examples.extend(_EXAMPLES)
    else:
      request = predict_pb2.PredictRequest()
      request.model_spec.signature_name = name
      for alias, info in signature.inputs.items():
        request.inputs[alias].CopyFrom(_predict_input(info))
    requests.append(request)
  multi = inference_pb2.MultiInferenceRequest()
  multi.input.example_list.examples.extend(_EXAMPLES)
  for name, signature in sorted(meta_graph_def.signature_def.items()):
    if signature.method_name in _METHODS:
      multi.tasks.add(method_name=signature.method_name).model_spec.signature_name = name
  requests.append(multi)
  wrong_dtype = predict_pb2.PredictRequest()  # An error both must answer alike.
  wrong_dtype.inputs['x'].CopyFrom(tf.make_tensor_proto([True, False]))
  requests.append(wrong_dtype)
  return requests


def _answer(servable, request):
  try:
    return ('ok', servable.run(request))
  except RequestError as e:
    return ('error', e.code, e.message)


@pytest.mark.parametrize('model', ['tf_half_plus_two_dir', 'half_plus_two_script_dir',
                                   'half_plus_two_dir', 'half_plus_three_dir',
                                   'matrix_half_plus_two_dir'])
def test_native_answers_every_request_as_the_replica(model, request):
  model_dir = request.getfixturevalue(model)
  with serving.load(model_dir) as replica, servable_lib.load_native(model_dir) as native_core:
    assert isinstance(native_core.session, native.NativeSession)
    answers = [(_answer(replica, r), _answer(native_core, r))
               for r in requests_for(replica.meta_graph_def)]
  assert any(ours[0] == 'ok' for ours, _ in answers)  # Not only errors compared.
  for ours, theirs in answers:
    assert ours == theirs


def test_native_runs_string_tensors_longer_than_the_inline_buffer(tf_half_plus_two_dir):
  """Serialized examples above TF_TString's 22 inline bytes live on the heap: run them twice."""
  with servable_lib.load_native(tf_half_plus_two_dir) as core:
    examples = np.array([float_example(x=float(i), x2=float(i)).SerializeToString()
                         for i in range(4)], dtype=object)
    assert min(len(e) for e in examples) > 22
    prepared = core.session.prepare({'tf_example:0': examples}, ['y:0'])
    try:
      first = core.session.run_prepared(prepared, keep=True)
      second = core.session.run_prepared(prepared, keep=True)
    finally:
      prepared.close()
  np.testing.assert_array_equal(first[0], [[2.0], [2.5], [3.0], [3.5]])
  np.testing.assert_array_equal(second[0], first[0])


def test_a_load_pool_index_beyond_the_pools_fails_the_load(tf_half_plus_two_dir):
  """bundle_factory_test TestRunOptionsError: pools {default, 1 thread}; index 100 fails."""
  pools = (ThreadPool(), ThreadPool(num_threads=1))
  with pytest.raises(LoadError, match='Invalid inter_op_thread_pool: 100'):
    servable_lib.load_native(
        tf_half_plus_two_dir, config=ServerConfig(pools=pools).session_config(),
        run_options=config_pb2.RunOptions(inter_op_thread_pool=100))
  config = ServerConfig(pools=pools, load_pool_index=1)
  with servable_lib.load_native(tf_half_plus_two_dir, config=config.session_config(),
                                run_options=config.load_run_options()) as core:
    request = regression_pb2.RegressionRequest()
    request.model_spec.signature_name = 'regress_x_to_y'
    request.input.example_list.examples.extend(_EXAMPLES)
    answer = core.run(request)
  assert [r.value for r in answer.result.regressions] == [2.5, 3.75, 0.0]


class _Counting:
  """TensorFlow's C API, counting each call: what a load allocates and frees."""

  def __init__(self, lib):
    self._lib = lib
    self.calls = collections.Counter()

  def __getattr__(self, name):
    function = getattr(self._lib, name)

    def counted(*args):
      self.calls[name] += 1
      return function(*args)
    return counted

  def assert_nothing_left(self):
    for new, delete in (('TF_NewGraph', 'TF_DeleteGraph'),
                        ('TF_NewSessionOptions', 'TF_DeleteSessionOptions'),
                        ('TF_NewStatus', 'TF_DeleteStatus')):
      assert self.calls[new] == self.calls[delete] >= 1, (new, self.calls)


@pytest.fixture
def counting(monkeypatch):
  counted = _Counting(native._lib())
  monkeypatch.setattr(native, '_lib', lambda: counted)
  return counted


def test_a_missing_model_fails_with_tensorflows_status(tmp_path, counting):
  (tmp_path / 'saved_model.pb').write_bytes(b'not a SavedModel')
  with pytest.raises(LoadError, match='TF Serving would fail to load'):
    native.NativeSession.load(str(tmp_path))
  counting.assert_nothing_left()


class _Unparseable:
  """A session config whose bytes TF_SetConfig cannot parse (a truncated field tag)."""

  def SerializeToString(self):  # noqa: N802  (the proto method's name)
    return b'\xff\xff\xff'


def test_a_session_config_tensorflow_refuses_is_a_load_error_with_the_graph_freed(
    tf_half_plus_two_dir, counting):
  with pytest.raises(LoadError) as raised:
    native.NativeSession.load(tf_half_plus_two_dir, config=_Unparseable())
  assert type(raised.value) is LoadError
  assert str(raised.value) == (
      f'TF Serving would fail to load {tf_half_plus_two_dir}: its session config '
      '(ConfigProto) is refused: INVALID_ARGUMENT: Unparseable ConfigProto')
  assert counting.calls['TF_SetConfig'] == 1
  assert counting.calls['TF_LoadSessionFromSavedModel'] == 0  # Refused before the load.
  counting.assert_nothing_left()


def test_a_loaded_session_frees_its_graph_when_closed(tf_half_plus_two_dir, counting):
  native.NativeSession.load(tf_half_plus_two_dir).close()
  counting.assert_nothing_left()
  assert counting.calls['TF_DeleteSession'] == 1


def _regress(core):
  request = regression_pb2.RegressionRequest()
  request.model_spec.signature_name = 'regress_x_to_y'
  request.input.example_list.examples.extend(_EXAMPLES)
  return core.prepare(request)


@pytest.mark.parametrize('batching', [None, BatchingConfig(max_batch_size=8,
                                                           allowed_batch_sizes=(4, 8))],
                         ids=['plain', 'batching'])
@pytest.mark.parametrize('load', [serving.load, servable_lib.load_native],
                         ids=['python', 'native'])
def test_every_session_runs_a_prepared_call_again_and_takes_run_options(
    tf_half_plus_two_dir, load, batching):
  """The ServingSession protocol: what a measurement sends, whichever session serves."""
  with load(tf_half_plus_two_dir, batching=batching) as core:
    session = core.session
    call = _regress(core)
    expected = session.run(call.feeds, call.fetches)
    prepared = session.prepare(call.feeds, call.fetches)
    try:
      first = session.run_prepared(prepared, keep=True)
      second = session.run_prepared(prepared, keep=True)
      assert session.run_prepared(prepared) is None  # Timing keeps no outputs.
      session.run_options = config_pb2.RunOptions(inter_op_thread_pool=7)
      with pytest.raises(tf.errors.OpError, match='Invalid inter_op_thread_pool: 7'):
        session.run_prepared(prepared)
      session.run_options = None
      again = session.run_prepared(prepared, keep=True)
    finally:
      prepared.close()
  np.testing.assert_array_equal(expected[0].reshape(-1), [2.5, 3.75, 0.0])
  for outputs in (first, second, again):
    np.testing.assert_array_equal(outputs[0], expected[0])


def test_the_load_releases_the_gil(tf_half_plus_two_dir):
  """A Python thread keeps running while C++ loads: what lets traffic run beside a load."""
  ticks = []
  stop = threading.Event()

  def tick():
    while not stop.is_set():
      ticks.append(time.perf_counter())
      time.sleep(0.001)

  thread = threading.Thread(target=tick)
  thread.start()
  try:
    start = time.perf_counter()
    session = native.NativeSession.load(tf_half_plus_two_dir)
    end = time.perf_counter()
    session.close()
  finally:
    stop.set()
    thread.join()
  assert sum(1 for t in ticks if start < t < end) >= 2


def test_without_the_c_api_one_line_says_why(monkeypatch, tmp_path):
  monkeypatch.setattr(native, 'library_path', lambda: str(tmp_path / 'libtensorflow_cc.so.2'))
  native._lib.cache_clear()
  try:
    reason = native.unavailable_reason()
  finally:
    native._lib.cache_clear()
  assert reason.startswith("Cannot load TensorFlow's C API from ")
  assert '\n' not in reason


def test_an_asset_listed_twice_fails_the_load_in_both(tmp_path):
  """C++ feeds every asset_file_def entry: a tensor listed twice is fed twice, and refused."""
  export_dir = str(tmp_path / 'twice' / '1')
  with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as sess:
    vocab = tmp_path / 'vocab.txt'
    vocab.write_text('a\nb\n')
    path = tf.constant(str(vocab), name='vocab')
    tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS, path)
    table = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(  # Adds it again.
        path, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE, tf.int64,
        tf.lookup.TextFileIndex.LINE_NUMBER), default_value=-1)
    key = tf.compat.v1.placeholder(tf.string, [None], name='key')
    ids = table.lookup(key)
    builder = tf.compat.v1.saved_model.Builder(export_dir)
    builder.add_meta_graph_and_variables(
        sess, ['serve'], signature_def_map={
            'serving_default': tf.compat.v1.saved_model.predict_signature_def(
                {'key': key}, {'id': ids})},
        assets_collection=tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS),
        main_op=tf.compat.v1.tables_initializer())
    builder.save()
  for load in (serving.load, servable_lib.load_native):
    with pytest.raises(LoadError, match='Endpoint "vocab:0" fed more than once'):
      load(export_dir)
