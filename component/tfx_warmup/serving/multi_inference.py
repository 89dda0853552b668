"""The MultiInference API (multi_inference.cc): Classify/Regress tasks sharing one input."""

from tensorflow_serving.apis import inference_pb2

from tfx_warmup.serving import classifier
from tfx_warmup.serving import regressor
from tfx_warmup.serving import util
from tfx_warmup.serving.contract import CLASSIFY_METHOD, DEFAULT_SIGNATURE, REGRESS_METHOD
from tfx_warmup.serving.errors import RequestError


def prepare(signatures: util.Signatures, request: inference_pb2.MultiInferenceRequest,
            method_name_check: bool, dtype_of: util.DtypeOf) -> util.Call:
  """RunMultiInference up to its one Session::Run over every task's outputs."""
  model_name, seen = None, set()
  input_names, output_names, tasks = set(), set(), []
  for task in request.tasks:
    if not task.model_spec.name:
      raise util.invalid('Found ModelSpec with an empty model name.')
    if model_name is None:
      model_name = task.model_spec.name
    elif task.model_spec.name != model_name:
      raise util.invalid('All ModelSpecs in a MultiInferenceRequest must access '
                         'the same model name.')
    name = task.model_spec.signature_name or DEFAULT_SIGNATURE
    if name in seen:
      raise util.invalid(f'Duplicate evaluation of signature: {name}')
    seen.add(name)
    if name not in signatures:
      raise util.invalid(f'Requested signature not found in model graph: {name}')
    signature = signatures[name]
    if task.method_name == CLASSIFY_METHOD:
      input_name, names = classifier.tensors(signature, method_name_check)
    elif task.method_name == REGRESS_METHOD:
      input_name, names = regressor.tensors(signature, method_name_check)
    else:
      raise RequestError('UNIMPLEMENTED',
                         f'Unsupported signature method_name: {task.method_name}')
    input_names.add(input_name)
    output_names.update(names)
    tasks.append((task, name, signature))

  examples = util.serialized_examples(request.input)
  if not output_names:
    raise util.invalid('Must specify at least one target to fetch or execute.')
  fetch = sorted(output_names)

  def respond(values):
    outputs = util.typed(fetch, values, dtype_of)
    response = inference_pb2.MultiInferenceResponse()
    for task, name, signature in tasks:
      result = response.results.add()
      if task.method_name == CLASSIFY_METHOD:
        classifier.fill(signature, outputs, len(examples), result.classification_result)
      else:
        regressor.fill(signature, outputs, len(examples), result.regression_result)
      util.set_model_spec(result.model_spec, task.model_spec.name, name)
    return response
  return util.Call(dict.fromkeys(sorted(input_names), examples), fetch, respond)
