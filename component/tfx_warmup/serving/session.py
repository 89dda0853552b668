"""A TF1 session that behaves as TF Serving's C++ `Session::Run` does, not as Python's.

Python's `Session.run` checks each fed value's shape against its placeholder
and converts its dtype before C++ sees it; TF Serving hands tensors straight to
C++ `Session::Run`, which does neither. So Python refuses requests TF Serving
answers (a `[1]` fed to a `[None, 1]` placeholder) and accepts some it refuses
(float64 values converted for a float32 graph). This module therefore:
  * creates the session with TF Serving's session options: a plain ConfigProto,
    so no soft placement (TF2's Python default would place a GPU-pinned graph on
    the CPU), plus the `disable_meta_optimizer` override of
    `assets.extra/saved_model_config.pb`;
  * turns request TensorProtos into tensors with TensorFlow's own C++
    `Tensor::FromProto` (the ParseTensor kernel), so over-long `*_val` lists keep
    their first N values and short ones repeat the last, exactly as there;
  * runs through the C API below the Python client's checks (the call
    `tf.compat.v1.Session` itself makes), so shape and dtype errors are C++'s;
  * writes outputs with `Tensor::AsProtoField`'s layout (`float_val`, not
    `tensor_content`), as TF Serving's Predict does.
"""

import logging
from typing import Dict, List, Optional, Protocol, Sequence

import numpy as np
import tensorflow as tf
from google.protobuf import message as message_lib
from google.protobuf.internal import decoder
from tensorflow.core.framework import resource_handle_pb2
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import config_pb2
from tensorflow.python.client import pywrap_tf_session

from tfx_warmup.serving import protos
from tfx_warmup.serving.errors import TensorParseError

# Where TF Serving reads per-model session overrides (saved_model_config_util.cc).
SAVED_MODEL_CONFIG_PATH = 'assets.extra/saved_model_config.pb'

# Dtypes NumPy cannot hold: fetched through SerializeTensor, kept as element protos.
_OPAQUE_DTYPES = {types_pb2.DT_RESOURCE: resource_handle_pb2.ResourceHandleProto,
                  types_pb2.DT_VARIANT: tensor_pb2.VariantTensorDataProto}

# Tensor::AsProtoField: the repeated field each dtype's values go to.
PROTO_FIELDS = {
    types_pb2.DT_FLOAT: 'float_val', types_pb2.DT_DOUBLE: 'double_val',
    types_pb2.DT_INT32: 'int_val', types_pb2.DT_INT16: 'int_val', types_pb2.DT_INT8: 'int_val',
    types_pb2.DT_UINT8: 'int_val', types_pb2.DT_UINT16: 'int_val',
    types_pb2.DT_QINT8: 'int_val', types_pb2.DT_QUINT8: 'int_val',
    types_pb2.DT_QINT16: 'int_val', types_pb2.DT_QUINT16: 'int_val',
    types_pb2.DT_QINT32: 'int_val',
    types_pb2.DT_INT64: 'int64_val', types_pb2.DT_UINT32: 'uint32_val',
    types_pb2.DT_UINT64: 'uint64_val', types_pb2.DT_BOOL: 'bool_val',
    types_pb2.DT_STRING: 'string_val', types_pb2.DT_HALF: 'half_val',
    types_pb2.DT_BFLOAT16: 'half_val', types_pb2.DT_COMPLEX64: 'scomplex_val',
    types_pb2.DT_COMPLEX128: 'dcomplex_val', types_pb2.DT_RESOURCE: 'resource_handle_val',
    types_pb2.DT_VARIANT: 'variant_val',
}


def session_config(export_dir: str) -> config_pb2.ConfigProto:
  """TF Serving's session options for the model at `export_dir`.

  A default ConfigProto (no soft placement), with `assets.extra/
  saved_model_config.pb`'s `disable_meta_optimizer` applied. Its other session
  overrides configure grappler optimizers that only TF Serving's binary
  registers; an unreadable file is ignored with a warning, as TF Serving does.
  """
  config = config_pb2.ConfigProto()
  path = f'{export_dir.rstrip("/")}/{SAVED_MODEL_CONFIG_PATH}'
  if not tf.io.gfile.exists(path):
    return config
  with tf.io.gfile.GFile(path, 'rb') as f:
    content = f.read()
  saved_model_config = saved_model_config_class()()
  try:
    saved_model_config.ParseFromString(content)
  except message_lib.DecodeError:
    logging.warning('Failed to load saved model config: INTERNAL: Unable to parse '
                    'SavedModelConfig: %s', path)
    return config
  if saved_model_config.HasField('session_overrides'):
    config.graph_options.rewrite_options.disable_meta_optimizer = (
        saved_model_config.session_overrides.disable_meta_optimizer)
  return config


def saved_model_config_class():
  """tensorflow.serving.SavedModelConfig, which the pip packages do not ship.

  Its nested optimizer and TFRT configs are bytes (see `protos`), which parse
  the same wire format.
  """
  return protos.message_class('SavedModelConfig')


def tensor_from_proto(proto: tensor_pb2.TensorProto) -> np.ndarray:
  """The tensor C++ `Tensor::FromProto` makes of `proto`, as a NumPy array.

  Raises TensorParseError where FromProto returns false.
  """
  if proto.dtype == types_pb2.DT_INVALID or proto.dtype in _OPAQUE_DTYPES:
    raise TensorParseError(f'unsupported dtype {types_pb2.DataType.Name(proto.dtype)}')
  try:
    dtype = tf.dtypes.as_dtype(proto.dtype)
    return tf.io.parse_tensor(proto.SerializeToString(), dtype).numpy()
  except (tf.errors.OpError, TypeError, ValueError) as e:
    raise TensorParseError(str(e)) from e


def prime_tensor_parsing(dtypes) -> None:
  """Runs `tensor_from_proto` once per dtype, so no request pays for the kernel's creation.

  TF Serving's FromProto is a plain C++ function; here it is an eager kernel,
  created lazily per dtype. Priming at load keeps that cost out of the first
  request measured, with or without warmup.
  """
  for dtype in sorted(set(dtypes) - {types_pb2.DT_INVALID} - set(_OPAQUE_DTYPES)):
    try:
      tensor_from_proto(tensor_pb2.TensorProto(dtype=dtype))
    except TensorParseError:
      pass  # A dtype FromProto cannot read fails the same way in every request.


def tensor_to_proto(value: np.ndarray, dtype: int) -> tensor_pb2.TensorProto:
  """`value` as C++ `Tensor::AsProtoField` writes a tensor of `dtype`."""
  proto = tensor_pb2.TensorProto(dtype=dtype)
  proto.tensor_shape.SetInParent()  # A scalar has an empty shape, not none.
  for size in value.shape:
    proto.tensor_shape.dim.add(size=size)
  field = PROTO_FIELDS.get(dtype)
  if field is None or value.size == 0:
    return proto
  flat = value.reshape(-1)
  if field in ('half_val',):
    values = flat.view(np.uint16).astype(np.int32).tolist()
  elif field in ('scomplex_val', 'dcomplex_val'):
    values = np.stack([flat.real, flat.imag], axis=-1).reshape(-1).tolist()
  elif field in ('string_val', 'resource_handle_val', 'variant_val'):
    values = list(flat)
  else:
    values = flat.tolist()
  getattr(proto, field).extend(values)
  return proto


def run_error(error: tf.errors.OpError) -> tuple:
  """(TF Serving status name, message) of a TensorFlow error."""
  return _CODE_NAMES.get(error.error_code, 'UNKNOWN'), error.message


_CODE_NAMES = {v: k for k, v in vars(tf.errors).items() if k.isupper() and isinstance(v, int)}

# Parse kernels' messages that quote the offending bytes (example_proto_fast_parsing.cc).
_QUOTING_PARSE_ERRORS = ('Could not parse example input', 'Name: ')


def undecodable_error(error: UnicodeDecodeError) -> tf.errors.OpError:
  """The status behind a message TF's Python binding could not decode.

  A C++ status quoting non-UTF-8 request bytes (a corrupt serialized example)
  reaches Python as a UnicodeDecodeError holding the raw message, its code lost.
  The message is recovered with the bytes escaped; the parse kernels that quote
  input raise INVALID_ARGUMENT, anything else is reported as UNKNOWN.
  """
  message = bytes(error.object).decode('utf-8', 'backslashreplace')
  code = (tf.errors.INVALID_ARGUMENT if message.startswith(_QUOTING_PARSE_ERRORS)
          else tf.errors.UNKNOWN)
  return tf.errors.OpError(None, None, message, code)


class PreparedRun(Protocol):
  """One Session::Run's feeds and fetches, made ready once to be run many times."""

  def close(self) -> None:
    """Frees what was made for the run (the native session's C++ tensors)."""


class ServingSession(Protocol):
  """What a `Servable` runs requests on: this module's `Session`, `native.NativeSession`
  (TensorFlow's C++), or `batching_session.BatchingSession` around either.

  `prepare` resolves a run's feeds and fetches once (the native session converts
  the feeds to C++ tensors and looks up its TF_Outputs), so a measurement that
  sends the same request many times times only Session::Run. `run_options` are
  the RunOptions of every run: TF Serving replays warmup with the load's
  (`session_run_load_threadpool_index`), requests with the defaults (None).
  """

  run_options: Optional[config_pb2.RunOptions]

  def dtype(self, name: str) -> int:
    """The graph dtype (DataType enum) of tensor `name`."""

  def run(self, feeds: Dict[str, np.ndarray], fetches: Sequence[str]) -> List[np.ndarray]:
    """C++ `Session::Run(feeds, fetches)`; raises tf.errors.OpError as it fails."""

  def prepare(self, feeds: Dict[str, np.ndarray], fetches: Sequence[str]) -> PreparedRun:
    """`run`'s feeds and fetches, made ready to run many times; close it after."""

  def run_prepared(self, prepared: PreparedRun,
                   keep: bool = False) -> Optional[List[np.ndarray]]:
    """`run` of `prepared`; the outputs only when `keep` (timing needs none)."""

  def close(self) -> None:
    """Unloads the model."""


class _Prepared:
  """A run's feeds and fetches resolved to graph outputs (nothing to free)."""

  def __init__(self, feed_dict: Dict, targets: List, fetches: Sequence[str]):
    self.feed_dict = feed_dict
    self.targets = targets
    self.fetches = list(fetches)

  def close(self) -> None:
    pass


class Session:
  """One TF1 graph and session, run as TF Serving runs it (a `ServingSession`)."""

  def __init__(self, graph: tf.Graph, session: tf.compat.v1.Session):
    self.graph = graph
    self.session = session
    self.run_options: Optional[config_pb2.RunOptions] = None
    self._serialized: Dict[str, tf.Tensor] = {}

  def close(self) -> None:
    self.session.close()

  def dtype(self, name: str) -> int:
    """The graph dtype (DataType enum) of tensor `name`."""
    return self._tensor(name, 'FetchOutputs').dtype.base_dtype.as_datatype_enum

  def run(self, feeds: Dict[str, np.ndarray], fetches: Sequence[str]) -> List[np.ndarray]:
    """C++ `Session::Run(feeds, fetches)`; raises tf.errors.OpError as it fails.

    Tensor names may omit `:0`, as in C++. Resource and variant outputs come back
    as arrays of their element protos (ResourceHandleProto, VariantTensorDataProto).
    """
    return self.run_prepared(self.prepare(feeds, fetches), keep=True)

  def prepare(self, feeds: Dict[str, np.ndarray], fetches: Sequence[str]) -> _Prepared:
    """The run's tensors looked up once; raises NotFoundError for a name the graph lacks."""
    feed_dict = {self._tensor(name, 'FeedInputs')._as_tf_output(): value  # noqa: SLF001  (tf.Session's own run path)
                 for name, value in feeds.items()}
    targets = [self._fetchable(name) for name in fetches]
    outputs = [t._as_tf_output() for t in targets]  # noqa: SLF001  (tf.Session's own run path)
    return _Prepared(feed_dict, outputs, fetches)

  def run_prepared(self, prepared: _Prepared,
                   keep: bool = False) -> Optional[List[np.ndarray]]:
    """`run` of `prepared`, with `run_options`; the outputs only when `keep`."""
    options = (pywrap_tf_session.TF_NewBufferFromString(self.run_options.SerializeToString())
               if self.run_options is not None and self.run_options.ByteSize() else None)
    try:
      outputs = self.session._call_tf_sessionrun(  # noqa: SLF001  (tf.Session's own run path)
          options, prepared.feed_dict, prepared.targets, [], None)
    except UnicodeDecodeError as e:
      raise undecodable_error(e) from e
    finally:
      if options is not None:
        pywrap_tf_session.TF_DeleteBuffer(options)
    if not keep:
      return None
    return [self._opaque(name, value) if name in self._serialized else _as_array(value)
            for name, value in zip(prepared.fetches, outputs)]

  def _tensor(self, name: str, stage: str) -> tf.Tensor:
    full = name if ':' in name else f'{name}:0'
    try:
      return self.graph.get_tensor_by_name(full)
    except (KeyError, ValueError) as e:
      message = (f'FeedInputs: unable to find feed output {name}' if stage == 'FeedInputs'
                 else f'FetchOutputs node {name}: not found')
      raise tf.errors.NotFoundError(None, None, message) from e

  def _fetchable(self, name: str) -> tf.Tensor:
    tensor = self._tensor(name, 'FetchOutputs')
    if tensor.dtype.base_dtype.as_datatype_enum not in _OPAQUE_DTYPES:
      return tensor
    if name not in self._serialized:
      with self.graph.as_default():
        self._serialized[name] = tf.io.serialize_tensor(tensor)
      self.session._extend_graph()  # noqa: SLF001  (tf.Session's own run path)
    return self._serialized[name]

  def _opaque(self, name: str, serialized: bytes) -> np.ndarray:
    """Element protos of a SerializeTensor result (its tensor_content encodes the list:
    a varint length per element, then the serialized elements)."""
    proto = tensor_pb2.TensorProto.FromString(serialized)
    shape = [d.size for d in proto.tensor_shape.dim]
    count = int(np.prod(shape, dtype=np.int64))
    element_class = _OPAQUE_DTYPES[self.dtype(name)]
    content, position, sizes = proto.tensor_content, 0, []
    for _ in range(count):
      size, position = decoder._DecodeVarint(content, position)  # noqa: SLF001  (protobuf's varint decoder)
      sizes.append(size)
    values = np.empty(count, dtype=object)
    for i, size in enumerate(sizes):
      values[i] = element_class.FromString(content[position:position + size])
      position += size
    return values.reshape(shape)


def _as_array(value) -> np.ndarray:
  """Fetched values as arrays: the C API returns 0-d strings as bytes, 0-d numbers as scalars."""
  if isinstance(value, bytes):
    return np.array(value, dtype=object)
  return np.asarray(value)
