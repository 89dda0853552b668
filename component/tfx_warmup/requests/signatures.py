"""Decides, from a SavedModel's SignatureDefs, how a client calls each signature through TF Serving.

The decision is made once, from the MetaGraphDef the loaded servable holds (no
data), and the resulting plans are small values the request builder reads.
"""

import dataclasses
import enum
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tfx.proto import example_gen_pb2

from tfx_warmup.serving.contract import Api
from tfx_warmup.serving.errors import ModelError

CLASSIFY_METHOD = tf.saved_model.CLASSIFY_METHOD_NAME
REGRESS_METHOD = tf.saved_model.REGRESS_METHOD_NAME
PREDICT_METHOD = tf.saved_model.PREDICT_METHOD_NAME
# TF Serving's fixed aliases for the Classify and Regress APIs.
CLASSIFY_INPUTS = tf.saved_model.CLASSIFY_INPUTS
CLASSIFY_OUTPUTS = frozenset(
    [tf.saved_model.CLASSIFY_OUTPUT_CLASSES, tf.saved_model.CLASSIFY_OUTPUT_SCORES])
REGRESS_OUTPUTS = tf.saved_model.REGRESS_OUTPUTS
# TF2 SavedModels list their init op among the signatures; it is not servable.
_INIT_OP_SIGNATURE = '__saved_model_init_op'

_PayloadFormat = example_gen_pb2.PayloadFormat
_STRING = types_pb2.DT_STRING
FLOAT_DTYPES = frozenset([types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE,
                          types_pb2.DT_HALF, types_pb2.DT_BFLOAT16])
INT_DTYPES = frozenset([types_pb2.DT_INT8, types_pb2.DT_INT16,
                        types_pb2.DT_INT32, types_pb2.DT_INT64,
                        types_pb2.DT_UINT8, types_pb2.DT_UINT16,
                        types_pb2.DT_UINT32, types_pb2.DT_UINT64,
                        types_pb2.DT_BOOL])
_TENSOR_DTYPES = FLOAT_DTYPES | INT_DTYPES | {_STRING}


class RequestKind(str, enum.Enum):
  """How a client calls a signature: the TF Serving API, and for Predict how inputs are fed."""
  CLASSIFY = 'classify'
  REGRESS = 'regress'
  # Predict with one DT_STRING input fed a batch of serialized records.
  PREDICT_SERIALIZED = 'predict_serialized'
  # Predict with one tensor per named input, built from example features.
  PREDICT_TENSORS = 'predict_tensors'

  @property
  def api(self) -> Api:
    return {RequestKind.CLASSIFY: Api.CLASSIFY,
            RequestKind.REGRESS: Api.REGRESS}.get(self, Api.PREDICT)

  @property
  def feeds_serialized(self) -> bool:
    """Its requests carry serialized examples, which the signature parses."""
    return self != RequestKind.PREDICT_TENSORS


@dataclasses.dataclass(frozen=True)
class InputSpec:
  """One signature input: its alias, DataType enum and shape (None: unknown rank)."""
  key: str
  dtype: int
  shape: Optional[Tuple[int, ...]]

  @property
  def dtype_name(self) -> str:
    return types_pb2.DataType.Name(self.dtype)

  @property
  def shape_text(self) -> str:
    return 'unknown' if self.shape is None else str(list(self.shape))


@dataclasses.dataclass(frozen=True)
class SignaturePlan:
  """How to warm one signature."""
  name: str
  kind: RequestKind
  inputs: Tuple[InputSpec, ...]
  # Set when the signature's inputs fix the batch dimension: the only size it runs.
  fixed_batch_size: Optional[int] = None
  outputs: Tuple[str, ...] = ()
  # Graph tensors fed; Classify/Regress signatures sharing one can run as a MultiInference.
  input_tensor_names: Tuple[str, ...] = ()

  def batch_sizes(self, requested: Sequence[int]) -> List[int]:
    if self.fixed_batch_size is not None:
      return [self.fixed_batch_size]
    return sorted(set(requested))


@dataclasses.dataclass(frozen=True)
class ModelPlan:
  """The signatures to warm, and why each other signature is left out."""
  usable: Tuple[SignaturePlan, ...]
  skipped: Dict[str, str]


def plan_signatures(
    meta_graph: meta_graph_pb2.MetaGraphDef,
    saved_model_dir: str,
    signature_names: Optional[Sequence[str]] = None,
    payload_format: int = _PayloadFormat.FORMAT_TF_EXAMPLE,
) -> ModelPlan:
  """Plans requests for `signature_names` (default: every usable signature).

  `saved_model_dir` names the model in messages.

  Raises:
    ModelError: a requested signature does not exist or cannot be warmed, or no
      signature at all can be warmed.
  """
  signature_defs = meta_graph.signature_def
  available = sorted(k for k in signature_defs if k != _INIT_OP_SIGNATURE)
  if signature_names:
    missing = [n for n in signature_names if n not in available]
    if missing:
      raise ModelError(
          f'Signature(s) {missing} not found in the SavedModel at '
          f'{saved_model_dir}; it has {available}. Fix signature_names.')
    names = sorted(set(signature_names))
  else:
    names = available

  usable, skipped = [], {}
  for name in names:
    plan_or_reason = plan_signature(name, signature_defs[name], payload_format)
    if isinstance(plan_or_reason, SignaturePlan):
      usable.append(plan_or_reason)
    else:
      skipped[name] = plan_or_reason

  if signature_names and skipped:
    raise ModelError(
        'Requested signature(s) cannot be warmed: ' + _reasons(skipped) +
        '. Remove them from signature_names.')
  if not usable:
    raise ModelError(
        f'No signature of the SavedModel at {saved_model_dir} can be warmed: ' +
        (_reasons(skipped) if skipped else 'it has no signatures') +
        '. Export a serving signature that takes serialized tf.Examples or '
        'named dense tensors.')
  return ModelPlan(usable=tuple(usable), skipped=skipped)


def plan_signature(name: str, signature: meta_graph_pb2.SignatureDef,
                   payload_format: int) -> 'SignaturePlan | str':
  """Returns the plan for one signature, or the reason it cannot be warmed."""
  if not signature.inputs:
    return 'it takes no inputs'
  for key, info in signature.inputs.items():
    if info.WhichOneof('encoding') != 'name':
      return (f"input '{key}' is a sparse or composite tensor; TF Serving's "
              'Predict API feeds dense tensors only')
  inputs = tuple(_input_spec(k, signature.inputs[k]) for k in sorted(signature.inputs))
  needs_tf_example = _classify_or_regress(signature) or not _is_serialized_input(inputs)
  if needs_tf_example and payload_format != _PayloadFormat.FORMAT_TF_EXAMPLE:
    return ('it needs tf.Example payloads but the Examples artifact holds '
            f'{_PayloadFormat.Name(payload_format)}')

  graph = dict(outputs=tuple(sorted(signature.outputs)),
               input_tensor_names=tuple(signature.inputs[i.key].name for i in inputs))
  kind = _classify_or_regress(signature)
  if kind:
    return SignaturePlan(name, kind, inputs, **graph)
  if _is_serialized_input(inputs):
    return SignaturePlan(name, RequestKind.PREDICT_SERIALIZED, inputs, **graph)
  return _plan_tensor_signature(name, inputs, graph)


def _classify_or_regress(signature: meta_graph_pb2.SignatureDef) -> Optional[RequestKind]:
  """The Classify/Regress API fits only TF Serving's fixed one-string-input shape."""
  one_string_input = (list(signature.inputs) == [CLASSIFY_INPUTS] and
                      signature.inputs[CLASSIFY_INPUTS].dtype == _STRING)
  outputs = set(signature.outputs)
  if (signature.method_name == CLASSIFY_METHOD and one_string_input and
      1 <= len(outputs) <= 2 and outputs & CLASSIFY_OUTPUTS):
    return RequestKind.CLASSIFY
  if (signature.method_name == REGRESS_METHOD and one_string_input and
      outputs == {REGRESS_OUTPUTS}):
    return RequestKind.REGRESS
  return None


def _is_serialized_input(inputs: Tuple[InputSpec, ...]) -> bool:
  if len(inputs) != 1 or inputs[0].dtype != _STRING:
    return False
  shape = inputs[0].shape
  return shape is None or shape == (-1,)


def _plan_tensor_signature(name: str, inputs: Tuple[InputSpec, ...],
                           graph: Dict) -> 'SignaturePlan | str':
  fixed_batches = set()
  for spec in inputs:
    if spec.dtype not in _TENSOR_DTYPES:
      return (f"input '{spec.key}' has dtype {spec.dtype_name}, which no "
              'tf.Example feature can be cast to')
    if spec.shape is None:
      continue
    if not spec.shape:
      return (f"input '{spec.key}' is a scalar (shape []); it cannot carry a "
              'batch of examples')
    inner = spec.shape[1:]
    if -1 in inner and inner != (-1,):
      return (f"input '{spec.key}' has shape {spec.shape_text}; only [-1], "
              '[-1, k, ...] and [-1, -1] can be filled from a flat feature')
    if spec.shape[0] != -1:
      fixed_batches.add(spec.shape[0])
  if len(fixed_batches) > 1:
    return f'its inputs fix different batch sizes {sorted(fixed_batches)}'
  return SignaturePlan(name, RequestKind.PREDICT_TENSORS, inputs,
                       fixed_batch_size=fixed_batches.pop() if fixed_batches else None,
                       **graph)


def _input_spec(key: str, info: meta_graph_pb2.TensorInfo) -> InputSpec:
  if info.tensor_shape.unknown_rank:
    shape = None
  else:
    shape = tuple(d.size for d in info.tensor_shape.dim)
  return InputSpec(key=key, dtype=info.dtype, shape=shape)


def _reasons(skipped: Dict[str, str]) -> str:
  return '; '.join(f"'{name}': {reason}" for name, reason in sorted(skipped.items()))
