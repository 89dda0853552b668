"""TF Serving's batching_session_test.cc (and bundle_factory_util_test.cc's batching cases), ported.

Sources (TF Serving 9d981c5): tensorflow_serving/batching/batching_session_test.cc
and servables/tensorflow/bundle_factory_util_test.cc.

The C++ tests drive Session::Run on a BatchingSession wrapped round TensorFlow's
half_plus_two (`tf_half_plus_two_dir`, feeds `x`/`x2`, fetches `y`/`y3`) or
matrix_half_plus_two (`x` [None, 3, 3] -> `y`). Here the same raw runs go to
the replica's `batching_session.BatchingSession` round the replica's session
(`serving.session.Session`, C++ Session::Run semantics: fed shapes are not
checked, names without `:0` mean `:0`), configured by the BatchingParameters
text a server would read (`batching.config_from_text`).

TEST_P's parameter is enable_large_batch_splitting. As the C++ `annotate_options`
does, splitting sets max_execution_batch_size to the case's max_batch_size and
doubles max_batch_size, before the case's own overrides.

The C++ cases often run two or three concurrent requests that form one batch.
The replica models warmup, which sends one request at a time, so each batch
here holds one request: every request of a case is run on its own and checked
against its C++ expectation; what only concurrent co-batched requests show
(padding to another request's shape, a split piece sharing a batch with
another request, queue depths, timeouts, thread pools, RunMetadata costs) is
not ported -- see the notes at each case.

Not ported (N/A):
  * BatchingSessionSignatureTest.TensorSignatureFromSignatureDef(s): the
    replica has no TensorSignature helper; it batches every Run, as the server
    path does (WrapSessionForBatching passes a default scheduler creator, so a
    Run matching no signature is batched too).
  * BatchHandlesSplitError, UnequalTensorShapesWithPaddingTurnedOff: the error
    needs tensors of different shapes from two requests in one batch.
  * EnqueuedLongerThanTimeout (timeout/queueing-only), ThreadPoolOptions
    (thread-pool-only), MultipleSignatures' queue-depth checks (queueing),
    BatchingWithCost / BatchingWithPaddingAndCost's RunMetadata costs.
  * bundle_factory_util_test: GetSessionOptions (the replica takes no
    SessionBundleConfig), GetRunOptions and WrapSessionIgnoreThreadPoolOptions
    (thread-pool-only), GetPerModelBatchingParams (the replica reads no
    per-model batching_params.pbtxt), EstimateResourceFromPath* (resource
    estimation).
"""

import numpy as np
import pytest

from tests.serving import requests as serving_requests
from tfx_warmup.serving import batching_config as batching
from tfx_warmup.serving import batching_session
from tfx_warmup import serving
from tfx_warmup.serving.errors import BatchingError, ServingConfigError

_INT_MAX = 2147483647
_SPLIT = pytest.mark.parametrize('split', [False, True],
                                 ids=['no_splitting', 'large_batch_splitting'])
_PADDING_OFF_MESSAGE = (
    "Tensors with name 'x' from different tasks have different shapes and padding is turned "
    'off. Set pad_variable_length_inputs to true, or ensure that all tensors with the same '
    'name have equal dimensions starting with the first dim.')


half_plus_two = serving_requests.servable_fixture(
    'tf_half_plus_two_dir',
    """CreateHalfPlusTwoSession(): the replica's session of TensorFlow's half_plus_two.""",
    session=True)

matrix_half_plus_two = serving_requests.servable_fixture(
    'matrix_half_plus_two_dir', """CreateMatrixHalfPlusTwoSession().""", session=True)


class _BatchSizeCapturingSession:
  """BatchSizeCapturingSession: records the 0th dim of the first input of every Run."""

  def __init__(self, wrapped):
    self.wrapped = wrapped
    self.batch_sizes = []
    self.feeds = []

  def dtype(self, name):
    return self.wrapped.dtype(name)

  def close(self):
    pass  # The module's session outlives the test.

  def run(self, feeds, fetches):
    self.batch_sizes.append(next(iter(feeds.values())).shape[0])
    self.feeds.append(feeds)
    return self.wrapped.run(feeds, fetches)

  @property
  def latest_batch_size(self):
    return self.batch_sizes[-1] if self.batch_sizes else -1


def _options(max_batch_size, split, *, max_execution_batch_size=None, allowed=(),
             pad=False, timeout_micros=None, threads=None, annotate=True):
  """The case's BasicBatchScheduler / BatchingSessionOptions as BatchingParameters text.

  `annotate=False` skips annotate_options' doubling of max_batch_size.
  """
  execution = None
  if split and annotate:  # annotate_options
    execution, max_batch_size = max_batch_size, max_batch_size * 2
  if max_execution_batch_size is not None:
    execution = max_execution_batch_size
  text = [f'max_batch_size {{ value: {max_batch_size} }}',
          f'enable_large_batch_splitting {{ value: {str(split).lower()} }}']
  if execution is not None:
    text.append(f'max_execution_batch_size {{ value: {execution} }}')
  if timeout_micros is not None:
    text.append(f'batch_timeout_micros {{ value: {timeout_micros} }}')
  if threads is not None:
    text.append(f'num_batch_threads {{ value: {threads} }}')
  text += [f'allowed_batch_sizes: {size}' for size in allowed]
  if pad:
    text.append('pad_variable_length_inputs: true')
  return batching.config_from_text(' '.join(text))


def _batching(session, config):
  return batching_session.BatchingSession(session, config)


def _tensor(values, shape, dtype=np.float32):
  return np.array(values, dtype=dtype).reshape(shape)


def _test_request(session, x_values, x_shape, y_values, y_shape):
  """TestRequest: Run({{"x", x}}, {"y"}) and ExpectTensorEqual<float>."""
  outputs = session.run({'x': _tensor(x_values, x_shape)}, ['y'])
  assert len(outputs) == 1
  assert outputs[0].dtype == np.float32
  np.testing.assert_array_equal(outputs[0], _tensor(y_values, y_shape))


def _expect_error(session, feeds, fetches):
  """ExpectError: the (status code, message) Run fails with."""
  with pytest.raises(BatchingError) as error:
    session.run(feeds, fetches)
  return error.value.code, error.value.message


# -- batching_session_test.cc --------------------------------------------------------------


@_SPLIT
def test_basic(half_plus_two, split):
  """BatchingSessionTest.Basic: max 4, {x}->{y}; each 2-unit request on its own."""
  session = _batching(half_plus_two, _options(4, split, timeout_micros=1000000, threads=1))
  _test_request(session, [100.0, 42.0], [2], [52.0, 23.0], [2])
  _test_request(session, [71.5, 18.3], [2], [37.75, 11.15], [2])


@_SPLIT
def test_batching_with_padding(matrix_half_plus_two, split):
  """BatchingSessionTest.BatchingWithPadding: max 2, pad_variable_length_inputs, matrix model.

  The [1, 3, 3] request's answer is ported. The [1, 2, 2] request's padded
  [1, 3, 3] answer needs the other request in its batch (N/A): alone, its
  batch's largest shape is its own, so it is not padded (MergeInputTensors).
  """
  session = _batching(matrix_half_plus_two,
                      _options(2, split, pad=True, timeout_micros=1000000, threads=1))
  _test_request(session, [5, 6, 7, 8, 9, 10, 11, 12, 13], [1, 3, 3],
                [4.5, 5, 5.5, 6, 6.5, 7, 7.5, 8, 8.5], [1, 3, 3])
  _test_request(session, [1, 2, 3, 4], [1, 2, 2], [2.5, 3, 3.5, 4], [1, 2, 2])


def test_batching_with_padding_and_cost(half_plus_two):
  """BatchingSessionTest.BatchingWithPaddingAndCost (TEST, no splitting): the values.

  max 2, padding on, half_plus_two (fed [?, 1]'s x with [1, 3, 3]: no feed
  shape check). The RunMetadata cost split (3.5 / 0.5) is N/A; the [1, 2, 2]
  request's padded answer needs the other request in its batch (N/A).
  """
  capturing = _BatchSizeCapturingSession(half_plus_two)
  session = _batching(capturing, _options(2, False, pad=True, timeout_micros=1000000,
                                          threads=1))
  _test_request(session, [5, 6, 7, 8, 9, 10, 11, 12, 13], [1, 3, 3],
                [4.5, 5, 5.5, 6, 6.5, 7, 7.5, 8, 8.5], [1, 3, 3])
  assert capturing.batch_sizes == [1]


@_SPLIT
def test_batching_with_large_batch(half_plus_two, split):
  """BatchingSessionTest.BatchingWithLargeBatch: max 3 (split: 6), max_execution_batch_size 2.

  Splitting: the [3, 2, 2] request runs as pieces of 2 and 1 rows, re-joined.
  No splitting: the [4, 2, 2] request fails `Task size 4 is larger than
  maximum input batch size 3` (INVALID_ARGUMENT).
  """
  capturing = _BatchSizeCapturingSession(half_plus_two)
  session = _batching(capturing, _options(3, split, max_execution_batch_size=2,
                                          timeout_micros=1000000, threads=2))
  _test_request(session, [5, 6, 7, 8], [1, 2, 2], [4.5, 5, 5.5, 6], [1, 2, 2])
  if split:
    _test_request(session, list(range(5, 17)), [3, 2, 2],
                  [4.5, 5, 5.5, 6, 6.5, 7, 7.5, 8, 8.5, 9, 9.5, 10], [3, 2, 2])
    assert capturing.batch_sizes == [1, 2, 1]
  else:
    code, message = _expect_error(session, {'x': _tensor(range(5, 21), [4, 2, 2])}, ['y'])
    assert code == 'INVALID_ARGUMENT'
    assert 'Task size 4 is larger than maximum input batch size 3' in message
    assert capturing.batch_sizes == [1]


def test_batching_lazy_split(half_plus_two):
  """BatchingSessionTest.BatchingLazySplit (splitting only): max 2 (-> 4), max_execution 1."""
  session = _batching(half_plus_two, _options(2, True, max_execution_batch_size=1,
                                              timeout_micros=_INT_MAX, threads=1))
  _test_request(session, [5, 6, 7, 8], [1, 2, 2], [4.5, 5, 5.5, 6], [1, 2, 2])
  _test_request(session, [1, 2, 3, 4], [1, 2, 2], [2.5, 3, 3.5, 4.0], [1, 2, 2])


@_SPLIT
def test_batching_with_cost(half_plus_two, split):
  """BatchingSessionTest.BatchingWithCost: the values (RunMetadata costs N/A).

  max 3 (split: 6), max_execution 2. Splitting: [3, 2, 3] runs as 2 + 1 rows.
  """
  capturing = _BatchSizeCapturingSession(half_plus_two)
  session = _batching(capturing, _options(3, split, max_execution_batch_size=2,
                                          timeout_micros=1000000, threads=2))
  _test_request(session, [1, 2, 3, 4, 5, 6], [1, 2, 3], [2.5, 3, 3.5, 4, 4.5, 5], [1, 2, 3])
  if split:
    _test_request(session, list(range(5, 23)), [3, 2, 3],
                  [4.5 + 0.5 * i for i in range(18)], [3, 2, 3])
    assert capturing.batch_sizes == [1, 2, 1]
  else:
    _test_request(session, [5, 6, 7, 8, 9, 10], [1, 2, 3], [4.5, 5, 5.5, 6, 6.5, 7],
                  [1, 2, 3])
    assert capturing.batch_sizes == [1, 1]


@_SPLIT
def test_singleton_batch(half_plus_two, split):
  """BatchingSessionTest.SingletonBatch: max 4, timeout 0."""
  session = _batching(half_plus_two, _options(4, split, timeout_micros=0, threads=1))
  _test_request(session, [100.0, 42.0], [2], [52.0, 23.0], [2])


@_SPLIT
def test_request_that_doesnt_match_signature_gets_run_anyway(half_plus_two, split):
  """BatchingSessionTest.RequestThatDoesntMatchSignatureGetsRunAnyway: the answer.

  C++ batches only {x2}->{y3} and runs the x/y request past the batcher. The
  server path batches every Run (a default scheduler creator), and so does
  the replica; the request is answered either way, [52, 23].
  """
  session = _batching(half_plus_two, _options(100, split, timeout_micros=_INT_MAX))
  _test_request(session, [100.0, 42.0], [2], [52.0, 23.0], [2])


@_SPLIT
def test_request_with_incompatible_input_tensor_sizes(half_plus_two, split):
  """BatchingSessionTest.RequestWithIncompatibleInputTensorSizes: refused before running.

  Default options; input_0 int32 [1], input_1 int32 [2]. (The metrics staying
  unchanged are N/A; the wrapped session not being run is their equivalent.)
  """
  capturing = _BatchSizeCapturingSession(half_plus_two)
  # BasicBatchScheduler's default max_batch_size is 1000, as the server's.
  session = _batching(capturing, _options(batching.DEFAULT_MAX_BATCH_SIZE, split))
  code, message = _expect_error(session, {'input_0': _tensor([3], [1], np.int32),
                                          'input_1': _tensor([5, 7], [2], np.int32)},
                                ['output'])
  assert (code, message) == ('INVALID_ARGUMENT',
                             'Batching Run() input tensors must have equal 0th-dimension size')
  assert capturing.batch_sizes == []


@_SPLIT
def test_allowed_batch_sizes_no_padding_needed(half_plus_two, split):
  """BatchingSessionTest.AllowedBatchSizesNoPaddingNeeded: max 4, allowed {2, 4}: batch 2.

  With splitting the C++ options (max 8, max_execution 4, allowed {2, 4}) are
  not a valid server file (WrapSessionForBatching wants the last allowed size
  to equal max_batch_size), so max_batch_size stays 4 there; the executed
  batches are the same. (Metrics +2/+2/+0: N/A.)
  """
  capturing = _BatchSizeCapturingSession(half_plus_two)
  config = _options(4, False, allowed=(2, 4), timeout_micros=0, threads=1) if not split else (
      _options(4, True, max_execution_batch_size=4, allowed=(2, 4), timeout_micros=0,
               threads=1, annotate=False))
  session = _batching(capturing, config)
  _test_request(session, [100.0, 42.0], [2], [52.0, 23.0], [2])
  assert capturing.latest_batch_size == 2


@_SPLIT
def test_allowed_batch_sizes_require_padding(half_plus_two, split):
  """BatchingSessionTest.AllowedBatchSizesRequirePadding: max 4, allowed {1, 3, 4}: batch 3.

  The padding row repeats the (last) task's first row; it is cut from the
  answer. Splitting: as in AllowedBatchSizesNoPaddingNeeded, max_batch_size
  stays 4. (Metrics and descriptors: N/A.)
  """
  capturing = _BatchSizeCapturingSession(half_plus_two)
  config = _options(4, False, allowed=(1, 3, 4), timeout_micros=0, threads=1) if not split else (
      _options(4, True, max_execution_batch_size=4, allowed=(1, 3, 4), timeout_micros=0,
               threads=1, annotate=False))
  session = _batching(capturing, config)
  _test_request(session, [100.0, 42.0], [2], [52.0, 23.0], [2])
  assert capturing.latest_batch_size == 3
  np.testing.assert_array_equal(capturing.feeds[-1]['x'], _tensor([100.0, 42.0, 100.0], [3]))


@_SPLIT
def test_unsorted_allowed_batch_sizes_rejected(split):
  """BatchingSessionTest.UnsortedAllowedBatchSizesRejected: max 4, allowed {4, 2}: refused."""
  with pytest.raises(ServingConfigError):
    _options(4, split, allowed=(4, 2))


def test_unsorted_allowed_batch_sizes_rejected_with_tf_serving_message():
  """UnsortedAllowedBatchSizesRejected (no splitting): TF Serving's message.

  Both CreateBasicBatchingSession and the server's WrapSessionForBatching
  check the last entry first: `Last entry in allowed_batch_sizes must match
  max_batch_size; last entry was 2; expected 4` (INVALID_ARGUMENT).
  """
  with pytest.raises(ServingConfigError) as error:
    _options(4, False, allowed=(4, 2))
  assert ('Last entry in allowed_batch_sizes must match max_batch_size; last entry was 2; '
          'expected 4') in str(error.value)


def test_final_allowed_batch_size_larger_than_max_batch_size_rejected():
  """BatchingSessionTest.FinalAllowedBatchSizeLargerThanMaxBatchSizeRejected (no splitting).

  max 4, allowed {2, 8}: INVALID_ARGUMENT naming max_batch_size. The
  splitting variant (max 8, max_execution 4, allowed {2, 8}) is refused by
  CreateBasicBatchingSession only; the server path (WrapSessionForBatching)
  accepts it, as the replica does: N/A.
  """
  with pytest.raises(ServingConfigError) as error:
    _options(4, False, allowed=(2, 8))
  assert 'max_batch_size' in str(error.value)
  assert ('Last entry in allowed_batch_sizes must match max_batch_size; last entry was 8; '
          'expected 4') in str(error.value)


@_SPLIT
def test_different_order_for_input_and_output_tensors(half_plus_two, split):
  """BatchingSessionTest.DifferentOrderForInputAndOutputTensors: max 6, {x, x2}->{y, y3}.

  Feeds in either order; outputs come back in the requested order.
  """
  session = _batching(half_plus_two, _options(6, split, timeout_micros=1000000, threads=1))
  input0, input1 = _tensor([8.0, 6.0], [2]), _tensor([100.0, 42.0], [2])
  expected0, expected1 = _tensor([6.0, 5.0], [2]), _tensor([53.0, 24.0], [2])
  for feeds, fetches, expected in [
      ({'x': input0, 'x2': input1}, ['y', 'y3'], [expected0, expected1]),
      ({'x2': input1, 'x': input0}, ['y3', 'y'], [expected1, expected0]),
      ({'x2': input1, 'x': input0}, ['y', 'y3'], [expected0, expected1]),
  ]:
    outputs = session.run(feeds, fetches)
    assert len(outputs) == 2
    for output, want in zip(outputs, expected):
      np.testing.assert_array_equal(output, want)


@_SPLIT
def test_multiple_signatures(half_plus_two, split):
  """BatchingSessionTest.MultipleSignatures: {x}->{y} and {x2}->{y3}, each max 4: the answers.

  Two requests per signature; queue-depth checks are N/A (queueing).
  """
  session = _batching(half_plus_two, _options(4, split, timeout_micros=1000000, threads=1))
  for _ in range(2):
    outputs = session.run({'x': _tensor([100.0, 42.0], [2])}, ['y'])
    assert len(outputs) == 1
    np.testing.assert_array_equal(outputs[0], _tensor([52.0, 23.0], [2]))
    outputs = session.run({'x2': _tensor([100.0, 42.0], [2])}, ['y3'])
    assert len(outputs) == 1
    np.testing.assert_array_equal(outputs[0], _tensor([53.0, 24.0], [2]))


@_SPLIT
def test_subset_output_tensors(half_plus_two, split):
  """BatchingSessionTest.SubsetOutputTensors: max 6, {x, x2}->{y, y3}; fetch y, y3, y."""
  session = _batching(half_plus_two, _options(6, split, timeout_micros=1000000, threads=1))
  input0, input1 = _tensor([8.0, 6.0], [2]), _tensor([100.0, 42.0], [2])
  for feeds, fetch, expected in [
      ({'x': input0, 'x2': input1}, 'y', [6.0, 5.0]),
      ({'x2': input1, 'x': input0}, 'y3', [53.0, 24.0]),
      ({'x2': input1, 'x': input0}, 'y', [6.0, 5.0]),
  ]:
    outputs = session.run(feeds, [fetch])
    assert len(outputs) == 1
    np.testing.assert_array_equal(outputs[0], _tensor(expected, [2]))


# -- bundle_factory_util_test.cc ---------------------------------------------------------------


def _test_single_request(session, input_batch_size=2):
  """test_util::TestSingleRequest: Run x:0 = float [n] iota(100) -> y:0 = (100 + i) / 2 + 2."""
  outputs = session.run({'x:0': np.arange(100, 100 + input_batch_size, dtype=np.float32)},
                        ['y:0'])
  assert len(outputs) == 1
  np.testing.assert_array_equal(
      outputs[0], np.array([(100.0 + i) / 2 + 2 for i in range(input_batch_size)], np.float32))


def test_wrap_session(half_plus_two):
  """BundleFactoryUtilTest.WrapSession: the loaded session answers TestSingleRequest.

  x:0 ([?, 1]) is fed a 1-D [2]: no feed shape check; [52, 52.5].
  """
  _test_single_request(half_plus_two)


def test_wrap_session_for_batching(tf_half_plus_two_dir):
  """BundleFactoryUtilTest.WrapSessionForBatching: max_batch_size 2, max_enqueued_batches INT_MAX.

  The model loaded with that batching file; 10 TestSingleRequest(batch 2),
  one at a time (the C++ sends them concurrently as 5 batches).
  """
  config = batching.config_from_text(
      f'max_batch_size {{ value: 2 }} max_enqueued_batches {{ value: {_INT_MAX} }}')
  with serving.load(tf_half_plus_two_dir, batching=config) as servable:
    assert isinstance(servable.session, batching_session.BatchingSession)
    for _ in range(10):
      _test_single_request(servable.session, 2)


def test_wrap_session_for_batching_config_error():
  """BundleFactoryUtilTest.WrapSessionForBatchingConfigError: max 2, allowed {1, 3}: refused.

  TF Serving: INVALID_ARGUMENT `Last entry in allowed_batch_sizes must match
  max_batch_size; last entry was 3; expected 2`.
  """
  with pytest.raises(ServingConfigError) as error:
    batching.config_from_text(
        'max_batch_size { value: 2 } allowed_batch_sizes: 1 allowed_batch_sizes: 3')
  assert ('Last entry in allowed_batch_sizes must match max_batch_size; last entry was 3; '
          'expected 2') in str(error.value)
