"""The Classify API (classifier.cc): one serialized-example input, `classes` and/or `scores` out."""

from typing import List, Tuple

import numpy as np
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2

from tfx_warmup.serving import util
from tfx_warmup.serving.contract import CLASSIFY_METHOD

INPUTS = 'inputs'
CLASSES = 'classes'
SCORES = 'scores'


def prepare(signatures: util.Signatures, request: classification_pb2.ClassificationRequest,
            method_name_check: bool, dtype_of: util.DtypeOf) -> util.Call:
  """RunClassify up to its Session::Run."""
  return util.one_shot(signatures, request, classification_pb2.ClassificationResponse(), tensors,
                       fill, method_name_check, dtype_of)


def tensors(signature, method_name_check: bool) -> Tuple[str, List[str]]:
  """PreProcessClassification: (input tensor, output tensors)."""
  if method_name_check and signature.method_name != CLASSIFY_METHOD:
    raise util.invalid(f'Expected classification signature method_name to be '
                       f'{CLASSIFY_METHOD}. Was: {signature.method_name}')
  if len(signature.inputs) != 1:
    raise util.invalid('Expected one input Tensor.')
  if len(signature.outputs) not in (1, 2):
    raise util.invalid(f'Expected one or two output Tensors, found {len(signature.outputs)}')
  if INPUTS not in signature.inputs:
    raise util.invalid(f'No classification inputs found in SignatureDef: {signature}')
  names = [signature.outputs[k].name for k in (CLASSES, SCORES) if k in signature.outputs]
  if not names:
    raise util.invalid('Expected classification signature outputs to contain at least '
                       f'one of "classes" or "scores". Signature was: {signature}')
  return signature.inputs[INPUTS].name, names


def fill(signature, outputs: util.Typed, num_examples: int,
         result: classification_pb2.ClassificationResult) -> None:
  """PostProcessClassificationResult: checks the outputs and writes the classifications."""
  classes = scores = None
  if CLASSES in signature.outputs:
    classes = _checked(outputs[signature.outputs[CLASSES].name], 'classes',
                       types_pb2.DT_STRING, num_examples)
  if SCORES in signature.outputs:
    scores = _checked(outputs[signature.outputs[SCORES].name], 'scores',
                      types_pb2.DT_FLOAT, num_examples)
  if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
    raise util.invalid('Tensors class and score should match in dim_size(1). Got '
                       f'{classes.shape[1]} vs. {scores.shape[1]}')
  num_classes = (classes if classes is not None else scores).shape[1]
  for i in range(num_examples):
    entry = result.classifications.add()
    for c in range(num_classes):
      label = entry.classes.add()
      if classes is not None:  # A proto `string`; TF Serving's C++ never checks UTF-8.
        label.label = classes[i, c].decode('utf-8', 'replace')
      if scores is not None:
        label.score = float(scores[i, c])


def _checked(output, name: str, dtype: int, num_examples: int) -> np.ndarray:
  value, value_dtype = output
  if value.ndim != 2:
    raise util.invalid('Expected Tensor shape: [batch_size num_classes] but got '
                       f'{util.shape_text(value)}')
  if value_dtype != dtype:
    raise util.invalid(f'Expected {name} Tensor of {types_pb2.DataType.Name(dtype)}. '
                       f'Got: {types_pb2.DataType.Name(value_dtype)}')
  if value.shape[0] != num_examples:
    raise util.invalid(f'Expected {name} output batch size of {num_examples}. '
                       f'Got: {value.shape[0]}')
  return value
