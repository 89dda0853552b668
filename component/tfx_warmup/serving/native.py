"""TF Serving's C++ load and Session::Run, called in the installed TensorFlow wheel.

The replica's Python session answers what TF Serving would answer; its timings
are Python's too (graph import holds the GIL, a Python call wraps each run). To
time what TF Serving does, this module makes the C++ calls TF Serving makes:

  * `TF_LoadSessionFromSavedModel` is `tensorflow::LoadSavedModel(SessionOptions,
    RunOptions, export_dir, tags)` -- the call saved_model_bundle_factory.cc
    makes, with the RunOptions that carry `session_run_load_threadpool_index`
    -- followed by an import of the MetaGraph into a TF_Graph for name lookup,
    on the calling thread (no inter-op pool);
  * `TF_SessionRun` is `Session::Run(RunOptions, feeds, fetches)` on that session.

Why TensorFlow's C API through ctypes rather than a compiled extension: the
wheel already exports it (libtensorflow_cc.so.2), so nothing is compiled at
install and no machine needs a compiler; and ctypes releases the GIL for the
whole call, so a request timed beside a load waits only on C++.

`NativeSession` is a `session.ServingSession` (`run`, `prepare`/`run_prepared`,
`dtype`, `run_options`, `close`), so a `Servable` runs its requests -- same
checks, same feeds and fetches, same BatchingSession -- through C++ instead of
Python's client; its prepared runs hold their C++ tensors and TF_Outputs, built
once, so a measurement times Session::Run alone.
"""

import ctypes
import functools
import importlib.util
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2

from tfx_warmup.serving.errors import LoadError

_LIBRARY = 'libtensorflow_cc.so.2'
_TSTRING_SIZE = 24  # sizeof(TF_TString), the element of a DT_STRING tensor's buffer
_DT_STRING = 7
_OPAQUE_DTYPES = {20: 'DT_RESOURCE', 21: 'DT_VARIANT'}  # handles, not values


class _Output(ctypes.Structure):  # TF_Output
  _fields_ = [('oper', ctypes.c_void_p), ('index', ctypes.c_int)]


class _Buffer(ctypes.Structure):  # TF_Buffer
  _fields_ = [('data', ctypes.c_void_p), ('length', ctypes.c_size_t),
              ('data_deallocator', ctypes.c_void_p)]


_P = ctypes.c_void_p
_SIGNATURES = {  # name: (restype, argtypes)
    'TF_NewStatus': (_P, []), 'TF_DeleteStatus': (None, [_P]),
    'TF_GetCode': (ctypes.c_int, [_P]), 'TF_Message': (ctypes.c_char_p, [_P]),
    'TF_NewSessionOptions': (_P, []), 'TF_DeleteSessionOptions': (None, [_P]),
    'TF_SetConfig': (None, [_P, ctypes.c_char_p, ctypes.c_size_t, _P]),
    'TF_NewBufferFromString': (ctypes.POINTER(_Buffer), [ctypes.c_char_p, ctypes.c_size_t]),
    'TF_NewBuffer': (ctypes.POINTER(_Buffer), []),
    'TF_DeleteBuffer': (None, [ctypes.POINTER(_Buffer)]),
    'TF_NewGraph': (_P, []), 'TF_DeleteGraph': (None, [_P]),
    'TF_GraphOperationByName': (_P, [_P, ctypes.c_char_p]),
    'TF_OperationNumOutputs': (ctypes.c_int, [_P]),
    'TF_OperationOutputType': (ctypes.c_int, [_Output]),
    'TF_LoadSessionFromSavedModel': (_P, [_P, ctypes.POINTER(_Buffer), ctypes.c_char_p,
                                          ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, _P,
                                          ctypes.POINTER(_Buffer), _P]),
    'TF_SessionRun': (None, [_P, ctypes.POINTER(_Buffer), ctypes.POINTER(_Output),
                             ctypes.POINTER(_P), ctypes.c_int, ctypes.POINTER(_Output),
                             ctypes.POINTER(_P), ctypes.c_int, ctypes.POINTER(_P), ctypes.c_int,
                             ctypes.POINTER(_Buffer), _P]),
    'TF_CloseSession': (None, [_P, _P]), 'TF_DeleteSession': (None, [_P, _P]),
    'TF_AllocateTensor': (_P, [ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_int,
                               ctypes.c_size_t]),
    'TF_DeleteTensor': (None, [_P]), 'TF_TensorType': (ctypes.c_int, [_P]),
    'TF_NumDims': (ctypes.c_int, [_P]), 'TF_Dim': (ctypes.c_int64, [_P, ctypes.c_int]),
    'TF_TensorData': (_P, [_P]), 'TF_TensorByteSize': (ctypes.c_size_t, [_P]),
    'TF_TensorElementCount': (ctypes.c_int64, [_P]),
    'TF_StringInit': (None, [_P]), 'TF_StringDealloc': (None, [_P]),
    'TF_StringCopy': (None, [_P, ctypes.c_char_p, ctypes.c_size_t]),
    'TF_StringGetDataPointer': (_P, [_P]), 'TF_StringGetSize': (ctypes.c_size_t, [_P]),
}


class NativeUnavailableError(LoadError):
  """TensorFlow's C API cannot be loaded from the installed wheel."""


def library_path() -> str:
  """Where the installed wheel keeps libtensorflow_cc.so.2 (TensorFlow need not be imported)."""
  spec = importlib.util.find_spec('tensorflow')
  if spec is None or not spec.submodule_search_locations:
    raise NativeUnavailableError(
        'TensorFlow is not installed, so its C++ serving path is not either. '
        'Install tensorflow (tfx-warmup installs it).')
  return os.path.join(list(spec.submodule_search_locations)[0], _LIBRARY)


@functools.lru_cache(maxsize=None)
def _lib() -> ctypes.CDLL:
  path = library_path()
  try:
    lib = ctypes.CDLL(path)
  except OSError as e:
    raise NativeUnavailableError(
        f'Cannot load TensorFlow\'s C API from {path} ({e}); the native timings need the '
        'TensorFlow wheel for this platform (Linux x86-64 or macOS).') from None
  for name, (restype, argtypes) in _SIGNATURES.items():
    try:
      function = getattr(lib, name)
    except AttributeError:
      raise NativeUnavailableError(
          f'{path} does not export {name}: this TensorFlow build lacks the C API the '
          'native timings call. Use the tested TensorFlow (2.16).') from None
    function.restype, function.argtypes = restype, argtypes
  return lib


def unavailable_reason() -> Optional[str]:
  """None when the native core can run here, else one line saying why not."""
  try:
    _lib()
  except NativeUnavailableError as e:
    return str(e)
  return None


_CODE_NAMES = {v: k for k, v in vars(tf.errors).items() if k.isupper() and isinstance(v, int)}


class _Status:
  """A TF_Status, raised as TensorFlow's Python error for its code."""

  def __init__(self):
    self.lib = _lib()
    self.handle = self.lib.TF_NewStatus()

  def __enter__(self) -> '_Status':
    return self

  def __exit__(self, *exc) -> None:
    self.lib.TF_DeleteStatus(self.handle)

  @property
  def code(self) -> int:
    return self.lib.TF_GetCode(self.handle)

  def error(self) -> Optional[tf.errors.OpError]:
    code = self.code
    if code == 0:
      return None
    message = self.lib.TF_Message(self.handle).decode('utf-8', 'backslashreplace')
    return tf.errors.OpError(None, None, message, code)

  def check(self) -> None:
    error = self.error()
    if error is not None:
      raise error


def code_name(error: tf.errors.OpError) -> str:
  return _CODE_NAMES.get(error.error_code, 'UNKNOWN')


class _Bytes:
  """A TF_Buffer holding a copy of `data` (e.g. a serialized RunOptions)."""

  def __init__(self, data: bytes):
    self.lib = _lib()
    self.pointer = self.lib.TF_NewBufferFromString(data, len(data))

  def __del__(self):
    if getattr(self, 'pointer', None):
      self.lib.TF_DeleteBuffer(self.pointer)
      self.pointer = None


def run_options_buffer(run_options: Optional[config_pb2.RunOptions]) -> Optional[_Bytes]:
  """RunOptions as the C API takes them; None (TF's defaults) for an empty or missing one."""
  if run_options is None or run_options.ByteSize() == 0:
    return None
  return _Bytes(run_options.SerializeToString())


class Tensor:
  """A TF_Tensor made from a NumPy array, reusable across runs; owns its TF_TStrings."""

  def __init__(self, value: np.ndarray):
    self.lib = _lib()
    value = np.asarray(value)
    dims = (ctypes.c_int64 * value.ndim)(*value.shape)
    if value.dtype.kind in ('O', 'S', 'U'):
      self.strings = value.size
      self.handle = self.lib.TF_AllocateTensor(_DT_STRING, dims, value.ndim,
                                               value.size * _TSTRING_SIZE)
      base = self.lib.TF_TensorData(self.handle)
      for i, item in enumerate(value.reshape(-1)):
        data = item.encode() if isinstance(item, str) else bytes(item)
        element = base + i * _TSTRING_SIZE
        self.lib.TF_StringInit(element)
        self.lib.TF_StringCopy(element, data, len(data))
    else:
      self.strings = 0
      value = np.ascontiguousarray(value)
      dtype = tf.dtypes.as_dtype(value.dtype).as_datatype_enum
      self.handle = self.lib.TF_AllocateTensor(dtype, dims, value.ndim, value.nbytes)
      if value.nbytes:
        ctypes.memmove(self.lib.TF_TensorData(self.handle), value.ctypes.data, value.nbytes)

  def close(self) -> None:
    if self.handle:
      base = self.lib.TF_TensorData(self.handle)
      for i in range(self.strings):
        self.lib.TF_StringDealloc(base + i * _TSTRING_SIZE)
      self.lib.TF_DeleteTensor(self.handle)
      self.handle = None

  __del__ = close


def to_array(lib: ctypes.CDLL, handle: int) -> np.ndarray:
  """A TF_Tensor's values as a NumPy array (a copy)."""
  shape = [lib.TF_Dim(handle, i) for i in range(lib.TF_NumDims(handle))]
  dtype = lib.TF_TensorType(handle)
  data = lib.TF_TensorData(handle)
  if dtype == _DT_STRING:
    count = lib.TF_TensorElementCount(handle)
    values = np.empty(count, dtype=object)
    for i in range(count):
      element = data + i * _TSTRING_SIZE
      values[i] = ctypes.string_at(lib.TF_StringGetDataPointer(element),
                                   lib.TF_StringGetSize(element))
    return values.reshape(shape)
  if dtype in _OPAQUE_DTYPES:
    raise tf.errors.UnimplementedError(
        None, None, f'the native core does not fetch {_OPAQUE_DTYPES[dtype]} tensors')
  numpy_dtype = tf.dtypes.as_dtype(dtype).as_numpy_dtype
  size = lib.TF_TensorByteSize(handle)
  return np.frombuffer(ctypes.string_at(data, size), dtype=numpy_dtype).reshape(shape).copy()


class Prepared:
  """One Session::Run's feeds and fetches, converted once, to run many times."""

  def __init__(self, session: 'NativeSession', feeds: Dict[str, np.ndarray],
               fetches: Sequence[str]):
    self.tensors = [Tensor(value) for value in feeds.values()]
    count = len(self.tensors)
    self.inputs = (_Output * count)(*(session.output(name, 'FeedInputs') for name in feeds))
    self.values = (_P * count)(*(t.handle for t in self.tensors))
    self.outputs = (_Output * len(fetches))(*(session.output(name, 'FetchOutputs')
                                              for name in fetches))
    self.fetches = list(fetches)

  def close(self) -> None:
    for tensor in self.tensors:
      tensor.close()


def _check_load(export_dir: str, error: Optional[tf.errors.OpError],
                what: str = '') -> None:
  """Raises the LoadError TF Serving's load would fail with, if `error`."""
  if error is None:
    return
  # The first line is the cause; the rest names graph nodes ("[[{{node RestoreV2}}]]").
  cause = (error.message.strip().splitlines() or [''])[0]
  raise LoadError(f'TF Serving would fail to load {export_dir}: '
                  f'{what + ": " if what else ""}{code_name(error)}: {cause}') from error


class NativeSession:
  """A SavedModel loaded and run by TensorFlow's C++ (a `session.ServingSession`)."""

  def __init__(self, lib: ctypes.CDLL, session: int, graph: int, export_dir: str):
    self.lib = lib
    self.handle = session
    self.graph = graph
    self.export_dir = export_dir
    self._run_options: Optional[config_pb2.RunOptions] = None
    self._run_options_buffer: Optional[_Bytes] = None
    self._outputs: Dict[str, _Output] = {}

  @property
  def run_options(self) -> Optional[config_pb2.RunOptions]:
    """RunOptions of every run: TF Serving's warmup replay runs with the load's
    (session_run_load_threadpool_index), requests with the defaults (None)."""
    return self._run_options

  @run_options.setter
  def run_options(self, value: Optional[config_pb2.RunOptions]) -> None:
    self._run_options = value
    self._run_options_buffer = run_options_buffer(value)

  @classmethod
  def load(cls, export_dir: str, tags: Sequence[str] = ('serve',),
           config: Optional[config_pb2.ConfigProto] = None,
           run_options: Optional[config_pb2.RunOptions] = None) -> 'NativeSession':
    """`LoadSavedModel(SessionOptions{config}, run_options, export_dir, tags)`.

    Raises LoadError with TensorFlow's status when the load fails (e.g. a
    RunOptions.inter_op_thread_pool beyond the configured pools).
    """
    lib = _lib()
    options = lib.TF_NewSessionOptions()
    graph = lib.TF_NewGraph()
    try:
      with _Status() as status:
        if config is not None:
          serialized = config.SerializeToString()
          lib.TF_SetConfig(options, serialized, len(serialized), status.handle)
          _check_load(export_dir, status.error(), 'its session config (ConfigProto) is refused')
        tag_array = (ctypes.c_char_p * len(tags))(*(t.encode() for t in tags))
        run = run_options_buffer(run_options)
        session = lib.TF_LoadSessionFromSavedModel(
            options, run.pointer if run else None, export_dir.encode(), tag_array, len(tags),
            graph, None, status.handle)
        _check_load(export_dir, status.error())
    except BaseException:
      lib.TF_DeleteGraph(graph)  # No session owns it yet.
      raise
    finally:
      lib.TF_DeleteSessionOptions(options)
    return cls(lib, session, graph, export_dir)

  def output(self, name: str, stage: str = 'FetchOutputs') -> _Output:
    """The TF_Output of tensor `name` ('op' or 'op:index'), as Session::Run resolves it."""
    if name not in self._outputs:
      op_name, _, index = name.partition(':')
      operation = self.lib.TF_GraphOperationByName(self.graph, op_name.encode())
      position = int(index) if index.isdigit() else 0
      if not operation or position >= self.lib.TF_OperationNumOutputs(operation):
        message = (f'FeedInputs: unable to find feed output {name}' if stage == 'FeedInputs'
                   else f'FetchOutputs node {name}: not found')
        raise tf.errors.NotFoundError(None, None, message)
      self._outputs[name] = _Output(operation, position)
    return self._outputs[name]

  def dtype(self, name: str) -> int:
    """The graph dtype (DataType enum) of tensor `name`."""
    return self.lib.TF_OperationOutputType(self.output(name))

  def prepare(self, feeds: Dict[str, np.ndarray], fetches: Sequence[str]) -> Prepared:
    return Prepared(self, feeds, fetches)

  def run_prepared(self, prepared: Prepared,
                   keep: bool = False) -> Optional[List[np.ndarray]]:
    """Session::Run of `prepared`, with `run_options`; the outputs only when `keep` (timing
    needs none)."""
    count = len(prepared.fetches)
    results = (_P * count)()
    run_options = self._run_options_buffer
    with _Status() as status:
      self.lib.TF_SessionRun(self.handle, run_options.pointer if run_options else None,
                             prepared.inputs, prepared.values, len(prepared.tensors),
                             prepared.outputs, results, count, None, 0, None, status.handle)
      error = status.error()
    if error is not None:
      raise error
    try:
      return [to_array(self.lib, handle) for handle in results] if keep else None
    finally:
      for handle in results:
        if handle:
          self.lib.TF_DeleteTensor(handle)

  def run(self, feeds: Dict[str, np.ndarray], fetches: Sequence[str]) -> List[np.ndarray]:
    """C++ `Session::Run(feeds, fetches)`; raises tf.errors.OpError as it fails."""
    prepared = self.prepare(feeds, fetches)
    try:
      return self.run_prepared(prepared, keep=True)
    finally:
      prepared.close()

  def close(self) -> None:
    """Unloads the model: closes and deletes the session, then its graph."""
    if self.handle:
      with _Status() as status:
        self.lib.TF_CloseSession(self.handle, status.handle)
        self.lib.TF_DeleteSession(self.handle, status.handle)
      self.lib.TF_DeleteGraph(self.graph)
      self.handle = None
