"""Builds the named tensors of a raw-tensor (Keras-style) Predict request.

Each signature input is filled from the tf.Example feature of the same name:
the dtype is cast from the feature's list type where the cast is lossless in
kind (int -> float is fine, float -> int and bytes -> number are not), and the
shape follows the input's TensorInfo:
  [-1]            one value per example
  [-1, k, ...]    exactly k*... values per example, reshaped
  [-1, -1]        variable length, padded to the longest example of the batch
  unknown rank    [-1] when every example has one value, else [-1, -1]
An example without the feature gets zeros (or empty strings) of the expected
shape; warmup needs the shapes clients send, and a client fills absent
features the same way. A feature absent from every sampled example is an error.
"""

from typing import List, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2

from tfx_warmup.errors import ConversionError
from tfx_warmup.requests.signatures import FLOAT_DTYPES, INT_DTYPES, InputSpec

# Which tf.Example list kinds can fill which signature dtypes.
_COMPATIBLE_KINDS = {
    **dict.fromkeys(FLOAT_DTYPES, ('float_list', 'int64_list')),
    **dict.fromkeys(INT_DTYPES, ('int64_list',)),
    types_pb2.DT_STRING: ('bytes_list',),
}


def check_features_present(examples: Sequence[tf.train.Example],
                           spec: InputSpec, signature_name: str) -> None:
  """Raises unless some sampled example carries the feature `spec` needs."""
  if any(spec.key in ex.features.feature for ex in examples):
    return
  seen = sorted({k for ex in examples for k in ex.features.feature})
  raise ConversionError(
      f"Signature '{signature_name}' input '{spec.key}' needs feature "
      f"'{spec.key}', which none of the {len(examples)} sampled examples has "
      f'(features seen: {seen}). Add the feature to the examples, or leave '
      f"'{signature_name}' out of signature_names.")


def build_tensor(examples: Sequence[tf.train.Example], spec: InputSpec,
                 signature_name: str) -> tensor_pb2.TensorProto:
  """The TensorProto for input `spec` holding one row per example."""
  where = f"signature '{signature_name}' input '{spec.key}'"
  rows = [_typed_values(ex, spec, where) for ex in examples]
  counts = [len(r) for r in rows]
  shape = spec.shape
  if shape is None:
    shape = (-1,) if all(c == 1 for c in counts) else (-1, -1)

  if len(shape) == 2 and shape[1] == -1:
    width = max(counts)
    dense = [r + [_zero(spec.dtype)] * (width - len(r)) for r in rows]
    out_shape = [len(rows), width]
  else:
    per_example = int(np.prod(shape[1:], dtype=np.int64))
    for count in counts:
      if count not in (0, per_example):
        raise ConversionError(
            f"Feature '{spec.key}' has {count} value(s) in an example but "
            f'{where} has shape {spec.shape_text}, which takes {per_example} '
            'per example. Fix the feature in the data, or export the input with '
            'a matching (or variable, -1) shape.')
    dense = [r if r else [_zero(spec.dtype)] * per_example for r in rows]
    out_shape = [len(rows)] + list(shape[1:])

  np_dtype = object if spec.dtype == types_pb2.DT_STRING else (
      tf.dtypes.as_dtype(spec.dtype).as_numpy_dtype)
  array = np.array([v for row in dense for v in row], dtype=np_dtype).reshape(out_shape)
  return tf.make_tensor_proto(array, dtype=spec.dtype, shape=out_shape)


def _typed_values(example: tf.train.Example, spec: InputSpec, where: str) -> List:
  feature = example.features.feature.get(spec.key)
  kind = feature.WhichOneof('kind') if feature is not None else None
  if kind is None:
    return []
  if kind not in _COMPATIBLE_KINDS[spec.dtype]:
    raise ConversionError(
        f"Feature '{spec.key}' is a {kind} but {where} is {spec.dtype_name}; "
        f'a {kind} cannot be cast to it. Make the feature '
        f"{' or '.join(_COMPATIBLE_KINDS[spec.dtype])}, or export the input "
        'with a dtype that matches the data.')
  values = list(getattr(feature, kind).value)
  if spec.dtype in INT_DTYPES and spec.dtype != types_pb2.DT_BOOL and values:
    info = np.iinfo(tf.dtypes.as_dtype(spec.dtype).as_numpy_dtype)
    if min(values) < info.min or max(values) > info.max:
      raise ConversionError(
          f"Feature '{spec.key}' has values outside [{info.min}, {info.max}], "
          f'the range of {where} ({spec.dtype_name}). Fix the data, or export '
          'the input with a wider integer dtype.')
  return values


def _zero(dtype: int):
  return b'' if dtype == types_pb2.DT_STRING else 0
