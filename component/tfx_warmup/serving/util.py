"""What TF Serving's request handlers share (util.cc): the Session::Run a request becomes,
the serialized-example input tensor, the response's ModelSpec, the error statuses."""

import dataclasses
from typing import Callable, Dict, List, Mapping, Sequence, Tuple, Union

import numpy as np
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import input_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from tfx_warmup.serving.contract import DEFAULT_SIGNATURE
from tfx_warmup.serving.errors import RequestError

Request = Union[classification_pb2.ClassificationRequest,
                regression_pb2.RegressionRequest, predict_pb2.PredictRequest,
                inference_pb2.MultiInferenceRequest]
Response = Union[classification_pb2.ClassificationResponse,
                 regression_pb2.RegressionResponse, predict_pb2.PredictResponse,
                 inference_pb2.MultiInferenceResponse]
Signatures = Mapping[str, meta_graph_pb2.SignatureDef]
# The graph dtype (DataType enum) of a fetched tensor, which C++ checks outputs against.
DtypeOf = Callable[[str], int]
# Fetched values by tensor name, with their graph dtypes.
Typed = Dict[str, Tuple[np.ndarray, int]]


@dataclasses.dataclass
class Call:
  """The one Session::Run TF Serving makes for a request, and how it builds the response."""
  feeds: Dict[str, np.ndarray]
  fetches: List[str]
  respond: Callable[[List[np.ndarray]], Response]


def invalid(message: str) -> RequestError:
  return RequestError('INVALID_ARGUMENT', message)


def lookup(signatures: Signatures, signature_name: str
           ) -> Tuple[str, meta_graph_pb2.SignatureDef]:
  """The Classify/Regress signature lookup: an empty name is serving_default."""
  name = signature_name or DEFAULT_SIGNATURE
  if name not in signatures:
    raise invalid(f'No signature was found with the name: {name}')
  return name, signatures[name]


def one_shot(signatures: Signatures, request, response, tensors, fill,
             method_name_check: bool, dtype_of: DtypeOf) -> Call:
  """Classify's and Regress's shared path (RunClassify, RunRegress) up to Session::Run.

  Look the signature up, check it (`tensors` gives its input and output tensors),
  feed the serialized examples, and let `fill` check and write the outputs.
  """
  name, signature = lookup(signatures, request.model_spec.signature_name)
  input_name, output_names = tensors(signature, method_name_check)
  set_model_spec(response.model_spec, request.model_spec.name, name)
  examples = serialized_examples(request.input)

  def respond(outputs):
    fill(signature, typed(output_names, outputs, dtype_of), len(examples), response.result)
    return response
  return Call({input_name: examples}, output_names, respond)


def set_model_spec(model_spec, model_name: str, signature_name: str) -> None:
  model_spec.name = model_name
  model_spec.signature_name = signature_name


def serialized_examples(model_input: input_pb2.Input) -> np.ndarray:
  """The 1-D DT_STRING tensor TF Serving feeds to `inputs`; context bytes first."""
  kind = model_input.WhichOneof('kind')
  if kind == 'example_list':
    values = [e.SerializeToString() for e in model_input.example_list.examples]
  elif kind == 'example_list_with_context':
    listed = model_input.example_list_with_context
    context = listed.context.SerializeToString() if listed.HasField('context') else b''
    values = [context + e.SerializeToString() for e in listed.examples]
  else:
    values = []
  if not values:
    raise invalid('Input is empty.')
  return np.array(values, dtype=object)


def typed(names: Sequence[str], values: Sequence[np.ndarray], dtype_of: DtypeOf) -> Typed:
  """Fetched values by tensor name, with their graph dtypes (what C++ checks)."""
  return {n: (v, dtype_of(n)) for n, v in zip(names, values)}


def shape_text(value: np.ndarray) -> str:
  return '[' + ','.join(str(d) for d in value.shape) + ']'
