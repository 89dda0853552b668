"""The Regress API (regressor.cc): one serialized-example input, one float `outputs`."""

from typing import List, Tuple

from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import regression_pb2

from tfx_warmup.serving import util
from tfx_warmup.serving.classifier import INPUTS
from tfx_warmup.serving.contract import REGRESS_METHOD

OUTPUTS = 'outputs'


def prepare(signatures: util.Signatures, request: regression_pb2.RegressionRequest,
            method_name_check: bool, dtype_of: util.DtypeOf) -> util.Call:
  """RunRegress up to its Session::Run."""
  return util.one_shot(signatures, request, regression_pb2.RegressionResponse(), tensors, fill,
                       method_name_check, dtype_of)


def tensors(signature, method_name_check: bool) -> Tuple[str, List[str]]:
  """PreProcessRegression: (input tensor, output tensors)."""
  if method_name_check and signature.method_name != REGRESS_METHOD:
    raise util.invalid(f'Expected regression signature method_name to be {REGRESS_METHOD}. '
                       f'Was: {signature.method_name}')
  if len(signature.inputs) != 1:
    raise util.invalid('Expected one input Tensor.')
  if len(signature.outputs) != 1:
    raise util.invalid('Expected one output Tensor.')
  if INPUTS not in signature.inputs:
    raise util.invalid(f'No regression inputs found in SignatureDef: {signature}')
  if OUTPUTS not in signature.outputs:
    raise util.invalid(f'No regression outputs found in SignatureDef: {signature}')
  return signature.inputs[INPUTS].name, [signature.outputs[OUTPUTS].name]


def fill(signature, outputs: util.Typed, num_examples: int,
         result: regression_pb2.RegressionResult) -> None:
  """PostProcessRegressionResult: checks the output and writes the regressions."""
  value, dtype = outputs[signature.outputs[OUTPUTS].name]
  if not (value.ndim == 1 or (value.ndim == 2 and value.shape[1] == 1)):
    raise util.invalid('Expected output Tensor shape to be either [batch_size] or '
                       f'[batch_size, 1] but got {util.shape_text(value)}')
  if value.shape[0] != num_examples:
    raise util.invalid('Input batch size did not match output batch size: '
                       f'{num_examples} vs. {value.shape[0]}')
  if dtype != types_pb2.DT_FLOAT:
    raise util.invalid('Expected output Tensor of DT_FLOAT.  Got: '
                       f'{types_pb2.DataType.Name(dtype)}')
  for v in value.reshape(-1)[:num_examples]:
    result.regressions.add().value = float(v)
