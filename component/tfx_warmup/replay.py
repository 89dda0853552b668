"""An in-process replica of TF Serving's SavedModel load and request path.

No model server runs where pipelines run, so this module answers "would TF
Serving accept this model and this warmup file?" by doing what TF Serving's
TF1-session path does (tensorflow_serving/servables/tensorflow/):
  * load: import the MetaGraph whose tags match, restore the variables, feed
    asset paths and run the init op -- TensorFlow's own SavedModel loader, the
    Python twin of the C++ loader TF Serving links;
    with TF Serving's session options (`serving_session`);
  * Classify / Regress / Predict / MultiInference: the same validation, in the
    same order and with the same wording where TF Serving has one, then one
    C++ Session::Run per request keyed by (feeds, fetches), so the first request
    of each key pays the same lazy initialisation TF Serving pays;
  * server-side batching, when the batching parameters are known: the
    BatchingSession TF Serving wraps the session in (`batching_session`);
  * warmup: read assets.extra/tf_serving_warmup_requests as an uncompressed
    TFRecord, run each record `num_request_iterations` times, count it, then
    fail past 1000 records; the first failing record fails the load.
TF Serving's optional method-name check (--enable_signature_method_name_check)
is off by default there and off here.
"""

import dataclasses
import re
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import input_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.apis import regression_pb2
from tfx.dsl.io import fileio

from tfx_warmup import batching_session
from tfx_warmup import serving_session
from tfx_warmup import warmup_file
from tfx_warmup.batching import BatchingConfig
from tfx_warmup.errors import ConfigurationError, LoadError, RequestError, WarmupReplayError
from tfx_warmup.parameters import MAX_RECORDS
from tfx_warmup.signatures import Api

DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
_CLASSIFY = tf.saved_model.CLASSIFY_METHOD_NAME
_REGRESS = tf.saved_model.REGRESS_METHOD_NAME
_INPUTS = tf.saved_model.CLASSIFY_INPUTS
_CLASSES = tf.saved_model.CLASSIFY_OUTPUT_CLASSES
_SCORES = tf.saved_model.CLASSIFY_OUTPUT_SCORES
_OUTPUTS = tf.saved_model.REGRESS_OUTPUTS
_PREDICT_METHODS = (tf.saved_model.PREDICT_METHOD_NAME, _CLASSIFY, _REGRESS)

Request = Union[classification_pb2.ClassificationRequest,
                regression_pb2.RegressionRequest, predict_pb2.PredictRequest,
                inference_pb2.MultiInferenceRequest]
Response = Union[classification_pb2.ClassificationResponse,
                 regression_pb2.RegressionResponse, predict_pb2.PredictResponse,
                 inference_pb2.MultiInferenceResponse]


def _request_error(error: tf.errors.OpError) -> RequestError:
  """The status TF Serving answers with for an error of Session::Run or its batching."""
  code, message = serving_session.run_error(error)
  return RequestError(code, message, getattr(error, 'tensor', ''))


def _invalid(message: str) -> RequestError:
  return RequestError('INVALID_ARGUMENT', message)


def load(saved_model_dir: str, tags: Sequence[str] = ('serve',),
         method_name_check: bool = False,
         batching: Optional[BatchingConfig] = None) -> 'Servable':
  """Loads `saved_model_dir` into a fresh graph and session, as TF Serving does.

  `method_name_check` mirrors TF Serving's --enable_signature_method_name_check;
  `batching` its --enable_batching with that --batching_parameters_file.
  """
  if not fileio.exists(saved_model_dir):
    raise LoadError(f'No SavedModel directory at {saved_model_dir}.')
  graph = tf.Graph()
  session = tf.compat.v1.Session(graph=graph,
                                 config=serving_session.session_config(saved_model_dir))
  try:
    with graph.as_default():
      meta_graph_def = tf.compat.v1.saved_model.loader.load(
          session, list(tags), saved_model_dir)
  except (tf.errors.OpError, RuntimeError, IOError, ValueError) as e:
    session.close()
    raise load_error(saved_model_dir, e) from e
  serving_session.prime_tensor_parsing(
      info.dtype for signature in meta_graph_def.signature_def.values()
      for info in signature.inputs.values())
  return Servable(saved_model_dir, serving_session.Session(graph, session), meta_graph_def,
                  method_name_check, batching)


# What C++ reports for an op this TensorFlow build lacks (Python's saver wraps it).
_MISSING_OP = re.compile(r"No OpKernel was registered to support Op '([^']+)'|"
                         r"Op type not registered '([^']+)'")


def load_error(saved_model_dir: str, error: Exception) -> LoadError:
  """Why TF Serving would fail to load the model, in the words that say what to do."""
  message = _message(error)
  missing = _MISSING_OP.search(message)
  if missing:
    op = missing.group(1) or missing.group(2)
    return LoadError(
        f"TF Serving would fail to load {saved_model_dir}: its graph needs op '{op}', which "
        f'TensorFlow {tf.__version__} has no kernel for, so a TF Serving built on it cannot '
        'load the model either. Re-export the model with this TensorFlow version, or serve '
        f'it with the TF Serving release it was exported for. ({missing.group(0)})')
  original = message.split('Original error:', 1)[-1].strip()
  return LoadError(f'TF Serving would fail to load {saved_model_dir}: '
                   f'{type(error).__name__}: {original}')


@dataclasses.dataclass
class _Call:
  """The one Session.run TF Serving makes for a request, and how it builds the response."""
  feeds: Dict[str, np.ndarray]
  fetches: List[str]
  respond: Callable[[List[np.ndarray]], Response]


def log_request(record: prediction_log_pb2.PredictionLog) -> Optional[Request]:
  """The request a warmup record replays; None for an empty record (TF Serving skips it)."""
  kind = record.WhichOneof('log_type')
  if kind is None:
    return None
  if Api.of_log_type(kind) is not None:
    return getattr(record, kind).request
  number = prediction_log_pb2.PredictionLog.DESCRIPTOR.fields_by_name[kind].number
  raise RequestError('UNIMPLEMENTED', f'Unsupported log_type for warmup: {number}')


class Servable:
  """A loaded SavedModel answering TF Serving requests."""

  def __init__(self, export_dir: str, session: Optional[serving_session.Session],
               meta_graph_def: meta_graph_pb2.MetaGraphDef,
               method_name_check: bool = False,
               batching: Optional[BatchingConfig] = None):
    """With `batching`, requests run through TF Serving's BatchingSession."""
    self.export_dir = export_dir
    self.session = (batching_session.BatchingSession(session, batching)
                    if batching is not None and session is not None else session)
    self.meta_graph_def = meta_graph_def
    self.method_name_check = method_name_check
    self.batching = batching

  @classmethod
  def for_checks(cls, export_dir: str, meta_graph_def: meta_graph_pb2.MetaGraphDef,
                 method_name_check: bool = False,
                 batching: Optional[BatchingConfig] = None) -> 'Servable':
    """A servable without a session: `prepare` and `check_log` work, `run` does not."""
    return cls(export_dir, None, meta_graph_def, method_name_check, batching)

  @property
  def signatures(self) -> Dict[str, meta_graph_pb2.SignatureDef]:
    return dict(self.meta_graph_def.signature_def)

  def close(self) -> None:
    if self.session is not None:
      self.session.close()

  def __enter__(self) -> 'Servable':
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  def run(self, request: Request) -> Response:
    """Answers any of the four request types TF Serving warms up with."""
    call = self.prepare(request)
    return call.respond(self._session_run(call.feeds, call.fetches))

  def prepare(self, request: Request) -> '_Call':
    """TF Serving's checks of `request` against the signatures, up to its Session.run.

    Needs only the MetaGraphDef (see `for_checks`); raises RequestError as TF
    Serving would answer.
    """
    if isinstance(request, classification_pb2.ClassificationRequest):
      return self._prepare_one_shot(request, _classification_tensors,
                                    _fill_classifications,
                                    classification_pb2.ClassificationResponse())
    if isinstance(request, regression_pb2.RegressionRequest):
      return self._prepare_one_shot(request, _regression_tensors, _fill_regressions,
                                    regression_pb2.RegressionResponse())
    if isinstance(request, predict_pb2.PredictRequest):
      return self._prepare_predict(request)
    if isinstance(request, inference_pb2.MultiInferenceRequest):
      return self._prepare_multi_inference(request)
    raise TypeError(f'Not a TF Serving request: {type(request).__name__}')

  def run_log(self, record: prediction_log_pb2.PredictionLog) -> Optional[Response]:
    """Runs one warmup record as TF Serving's warmup does."""
    request = log_request(record)
    return None if request is None else self.run(request)

  def check_log(self, record: prediction_log_pb2.PredictionLog) -> None:
    """Everything `run_log` checks before running the model (batching admission too)."""
    request = log_request(record)
    if request is None:
      return
    call = self.prepare(request)
    if self.batching is not None:
      try:
        batching_session.check_request(call.feeds, self.batching)
      except batching_session.BatchingError as e:
        raise _request_error(e) from e

  classify = regress = predict = multi_inference = run

  # -- Classify and Regress (classifier.cc, regressor.cc) ---------------------

  def _prepare_one_shot(self, request, tensors, fill, response):
    """TF Serving's one-shot path: validate, feed the serialized examples, post-process."""
    name, signature = self._lookup(request.model_spec.signature_name)
    input_name, output_names = tensors(signature, self.method_name_check)
    _set_model_spec(response.model_spec, request.model_spec.name, name)
    examples = _serialized_examples(request.input)

    def respond(outputs):
      fill(signature, self._typed(output_names, outputs), len(examples), response.result)
      return response
    return _Call({input_name: examples}, output_names, respond)

  def _lookup(self, signature_name: str) -> Tuple[str, meta_graph_pb2.SignatureDef]:
    name = signature_name or DEFAULT_SIGNATURE
    if name not in self.meta_graph_def.signature_def:
      raise _invalid(f'No signature was found with the name: {name}')
    return name, self.meta_graph_def.signature_def[name]

  # -- Predict (predict_util.cc) ------------------------------------------------

  def _prepare_predict(self, request: predict_pb2.PredictRequest) -> '_Call':
    name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    if name not in self.meta_graph_def.signature_def:
      raise RequestError('FAILED_PRECONDITION',
                         f'Serving signature key "{name}" not found.')
    signature = self.meta_graph_def.signature_def[name]
    if self.method_name_check and signature.method_name not in _PREDICT_METHODS:
      raise RequestError(
          'INTERNAL', 'Expected prediction signature method_name to be one of '
          f'{{{", ".join(_PREDICT_METHODS)}}}. Was: {signature.method_name}')
    response = predict_pb2.PredictResponse()
    _set_model_spec(response.model_spec, request.model_spec.name, name)
    feeds = _predict_feeds(signature, request)
    aliases = _predict_output_aliases(signature, request.output_filter)
    fetches = [signature.outputs[a].name for a in aliases]

    def respond(outputs):
      for alias, name, value in zip(aliases, fetches, outputs):
        response.outputs[alias].CopyFrom(
            serving_session.tensor_to_proto(value, self.session.dtype(name)))
      return response
    return _Call(feeds, fetches, respond)

  # -- MultiInference (multi_inference.cc) ---------------------------------------

  def _prepare_multi_inference(self, request: inference_pb2.MultiInferenceRequest) -> '_Call':
    model_name, seen = None, set()
    input_names, output_names, tasks = set(), set(), []
    for task in request.tasks:
      if not task.model_spec.name:
        raise _invalid('Found ModelSpec with an empty model name.')
      if model_name is None:
        model_name = task.model_spec.name
      elif task.model_spec.name != model_name:
        raise _invalid('All ModelSpecs in a MultiInferenceRequest must access '
                       'the same model name.')
      name = task.model_spec.signature_name or DEFAULT_SIGNATURE
      if name in seen:
        raise _invalid(f'Duplicate evaluation of signature: {name}')
      seen.add(name)
      if name not in self.meta_graph_def.signature_def:
        raise _invalid(f'Requested signature not found in model graph: {name}')
      signature = self.meta_graph_def.signature_def[name]
      if task.method_name == _CLASSIFY:
        input_name, names = _classification_tensors(signature, self.method_name_check)
      elif task.method_name == _REGRESS:
        input_name, names = _regression_tensors(signature, self.method_name_check)
      else:
        raise RequestError('UNIMPLEMENTED',
                           f'Unsupported signature method_name: {task.method_name}')
      input_names.add(input_name)
      output_names.update(names)
      tasks.append((task, name, signature))

    examples = _serialized_examples(request.input)
    if not output_names:
      raise _invalid('Must specify at least one target to fetch or execute.')
    fetch = sorted(output_names)

    def respond(values):
      outputs = self._typed(fetch, values)
      response = inference_pb2.MultiInferenceResponse()
      for task, name, signature in tasks:
        result = response.results.add()
        if task.method_name == _CLASSIFY:
          _fill_classifications(signature, outputs, len(examples),
                                result.classification_result)
        else:
          _fill_regressions(signature, outputs, len(examples), result.regression_result)
        _set_model_spec(result.model_spec, task.model_spec.name, name)
      return response
    return _Call({n: examples for n in sorted(input_names)}, fetch, respond)

  def _session_run(self, feeds: Dict[str, np.ndarray],
                   fetches: List[str]) -> List[np.ndarray]:
    try:
      return self.session.run(feeds, fetches)
    except tf.errors.OpError as e:
      raise _request_error(e) from e

  def _typed(self, names: Sequence[str], values: Sequence[np.ndarray]
             ) -> Dict[str, Tuple[np.ndarray, int]]:
    """Fetched values by tensor name, with their graph dtypes (what C++ checks)."""
    return {n: (v, self.session.dtype(n)) for n, v in zip(names, values)}


# -- Warmup replay (saved_model_warmup_util.cc) -----------------------------------


@dataclasses.dataclass
class ReplayResult:
  """What replaying a warmup file did: records run and how long each took."""
  path: str
  records: int
  seconds: float
  record_seconds: List[float]
  summary: Dict[warmup_file.RecordKey, int]


def replay_warmup(saved_model_dir: str, tags: Sequence[str] = ('serve',),
                  servable: Optional[Servable] = None,
                  on_record: Optional[Callable[[], None]] = None,
                  num_request_iterations: int = 1,
                  batching: Optional[BatchingConfig] = None) -> ReplayResult:
  """Replays the model's warmup file; raises on what would fail TF Serving's load.

  As saved_model_warmup_util.cc does: each record runs `num_request_iterations`
  times (--num_request_iterations_for_warmup), is counted, and only then is the
  1000-record limit checked, so a failing 1001st record reports its own error.
  `batching` (with no `servable`) loads the model under server-side batching.
  `on_record` is called after each record (progress reporting).
  """
  check_iterations(num_request_iterations)
  path = warmup_file.warmup_file_path(saved_model_dir)
  if not fileio.exists(path):
    return ReplayResult(path, 0, 0.0, [], {})
  owned = servable is None
  servable = servable or load(saved_model_dir, tags, batching=batching)
  record_seconds, keys = [], []
  try:
    for index, record in enumerate(warmup_file.warmup_records(path)):
      key = warmup_file.record_key(record)
      start = time.perf_counter()
      try:
        for _ in range(num_request_iterations):
          servable.run_log(record)
      except RequestError as e:
        raise WarmupReplayError(
            f'Warmup record {index} ({key.kind}, signature '
            f"'{key.signature}', batch size {key.batch_size}) fails: {e}. TF "
            'Serving would refuse to load this model.' + explain(e, servable, record),
            e.code, index, key.signature) from e
      record_seconds.append(time.perf_counter() - start)
      keys.append(key)
      if len(keys) > MAX_RECORDS:
        raise warmup_file.too_many_records(path)
      if on_record:
        on_record()
  finally:
    if owned:
      servable.close()
  return ReplayResult(path, len(keys), sum(record_seconds), record_seconds,
                      warmup_file.count_keys(keys))


def check_iterations(num_request_iterations: int) -> None:
  if (not isinstance(num_request_iterations, int) or isinstance(num_request_iterations, bool)
      or num_request_iterations < 1):
    raise ConfigurationError(
        'num_request_iterations must be a positive integer (TF Serving\'s '
        f'--num_request_iterations_for_warmup, default 1), got {num_request_iterations!r}.')


def explain(error: RequestError, servable: Optional[Servable] = None,
            record: Optional[prediction_log_pb2.PredictionLog] = None) -> str:
  """The likely cause and fix of an error that makes a loadable model unservable."""
  if error.code == 'FAILED_PRECONDITION' and 'Could not find variable' in error.message:
    return (' The model loads but its variables are not restored: this is what a '
            'Keras 3 model saved with tf.saved_model.save does in TF Serving '
            '(serving issues 2226, 2250), and every request to it fails. Export '
            'Keras 3 models with model.export(path) or keras.export.ExportArchive; '
            'TFX pipelines can instead use tf_keras (TF_USE_LEGACY_KERAS=1).')
  if error.tensor and servable is not None and record is not None:
    return batching_explanation(error, servable, record)
  return ''


def batching_explanation(error: RequestError, servable: Servable,
                         record: prediction_log_pb2.PredictionLog) -> str:
  """Names the signature input or output that server-side batching cannot serve, and the fix."""
  request = log_request(record)
  names = _signature_names(request)
  for name in names:
    signature = servable.meta_graph_def.signature_def.get(name)
    if signature is None:
      continue
    for side, infos in (('output', signature.outputs), ('input', signature.inputs)):
      for alias, info in sorted(infos.items()):
        if _same_tensor(info.name, error.tensor):
          return (f" Signature '{name}' {side} '{alias}' ({info.name}) cannot be served "
                  'with server-side batching (--enable_batching): ' + _batching_fix(side, error))
  return ''


def _batching_fix(side: str, error: RequestError) -> str:
  if side == 'output':
    return ('every output must have the batch as its 0th dimension, one row per '
            'example, because TF Serving splits outputs back into requests. Return '
            'it per example (e.g. tf.fill([batch_size], value) or tile it to the '
            'batch), move it to a signature of its own, or serve without batching.')
  return ('every input must have the batch as its 0th dimension and all inputs the '
          'same 0th dimension, because TF Serving concatenates requests along it. '
          'Give the input a batch dimension, or serve without batching.')


def _signature_names(request: Optional[Request]) -> List[str]:
  if request is None:
    return []
  if isinstance(request, inference_pb2.MultiInferenceRequest):
    return [t.model_spec.signature_name or DEFAULT_SIGNATURE for t in request.tasks]
  return [request.model_spec.signature_name or DEFAULT_SIGNATURE]


def _same_tensor(a: str, b: str) -> bool:
  """TensorInfo names may omit ':0', as C++ Session::Run allows."""
  return (a if ':' in a else f'{a}:0') == (b if ':' in b else f'{b}:0')


# -- Helpers mirroring TF Serving's util.cc / classifier.cc / regressor.cc ---------


def _set_model_spec(model_spec, model_name: str, signature_name: str) -> None:
  model_spec.name = model_name
  model_spec.signature_name = signature_name


def _serialized_examples(model_input: input_pb2.Input) -> np.ndarray:
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
    raise _invalid('Input is empty.')
  return np.array(values, dtype=object)


def _classification_tensors(signature, method_name_check: bool) -> Tuple[str, List[str]]:
  """classifier.cc PreProcessClassification: (input tensor, output tensors)."""
  if method_name_check and signature.method_name != _CLASSIFY:
    raise _invalid(f'Expected classification signature method_name to be {_CLASSIFY}. '
                   f'Was: {signature.method_name}')
  if len(signature.inputs) != 1:
    raise _invalid('Expected one input Tensor.')
  if len(signature.outputs) not in (1, 2):
    raise _invalid(f'Expected one or two output Tensors, found {len(signature.outputs)}')
  if _INPUTS not in signature.inputs:
    raise _invalid(f'No classification inputs found in SignatureDef: {signature}')
  names = [signature.outputs[k].name for k in (_CLASSES, _SCORES) if k in signature.outputs]
  if not names:
    raise _invalid('Expected classification signature outputs to contain at least '
                   f'one of "classes" or "scores". Signature was: {signature}')
  return signature.inputs[_INPUTS].name, names


def _regression_tensors(signature, method_name_check: bool) -> Tuple[str, List[str]]:
  """regressor.cc PreProcessRegression: (input tensor, output tensors)."""
  if method_name_check and signature.method_name != _REGRESS:
    raise _invalid(f'Expected regression signature method_name to be {_REGRESS}. '
                   f'Was: {signature.method_name}')
  if len(signature.inputs) != 1:
    raise _invalid('Expected one input Tensor.')
  if len(signature.outputs) != 1:
    raise _invalid('Expected one output Tensor.')
  if _INPUTS not in signature.inputs:
    raise _invalid(f'No regression inputs found in SignatureDef: {signature}')
  if _OUTPUTS not in signature.outputs:
    raise _invalid(f'No regression outputs found in SignatureDef: {signature}')
  return signature.inputs[_INPUTS].name, [signature.outputs[_OUTPUTS].name]


def _fill_classifications(signature, outputs: Dict[str, Tuple[np.ndarray, int]],
                          num_examples: int,
                          result: classification_pb2.ClassificationResult) -> None:
  classes = scores = None
  if _CLASSES in signature.outputs:
    classes = _check_classify_output(outputs[signature.outputs[_CLASSES].name],
                                     'classes', types_pb2.DT_STRING, num_examples)
  if _SCORES in signature.outputs:
    scores = _check_classify_output(outputs[signature.outputs[_SCORES].name],
                                    'scores', types_pb2.DT_FLOAT, num_examples)
  if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
    raise _invalid('Tensors class and score should match in dim_size(1). Got '
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


def _check_classify_output(output: Tuple[np.ndarray, int], name: str, dtype: int,
                           num_examples: int) -> np.ndarray:
  value, value_dtype = output
  if value.ndim != 2:
    raise _invalid('Expected Tensor shape: [batch_size num_classes] but got '
                   f'{_shape(value)}')
  if value_dtype != dtype:
    raise _invalid(f'Expected {name} Tensor of {types_pb2.DataType.Name(dtype)}. '
                   f'Got: {types_pb2.DataType.Name(value_dtype)}')
  if value.shape[0] != num_examples:
    raise _invalid(f'Expected {name} output batch size of {num_examples}. '
                   f'Got: {value.shape[0]}')
  return value


def _fill_regressions(signature, outputs: Dict[str, Tuple[np.ndarray, int]],
                      num_examples: int, result: regression_pb2.RegressionResult) -> None:
  value, dtype = outputs[signature.outputs[_OUTPUTS].name]
  if not (value.ndim == 1 or (value.ndim == 2 and value.shape[1] == 1)):
    raise _invalid('Expected output Tensor shape to be either [batch_size] or '
                   f'[batch_size, 1] but got {_shape(value)}')
  if value.shape[0] != num_examples:
    raise _invalid('Input batch size did not match output batch size: '
                   f'{num_examples} vs. {value.shape[0]}')
  if dtype != types_pb2.DT_FLOAT:
    raise _invalid('Expected output Tensor of DT_FLOAT.  Got: '
                   f'{types_pb2.DataType.Name(dtype)}')
  for v in value.reshape(-1)[:num_examples]:
    result.regressions.add().value = float(v)


def _predict_feeds(signature, request: predict_pb2.PredictRequest) -> Dict[str, np.ndarray]:
  sent, expected = set(request.inputs), set(signature.inputs)
  if len(sent) > len(expected) or (len(sent) < len(expected) and not signature.defaults):
    raise _invalid(
        f'input size does not match signature: {len(sent)}!={len(expected)} '
        f'len({{{",".join(sorted(sent))}}}) != len({{{",".join(sorted(expected))}}}). '
        f'Sent extra: {{{",".join(sorted(sent - expected))}}}. '
        f'Missing but required: {{{",".join(sorted(expected - sent))}}}.')
  feeds = {}
  for alias in sorted(expected):
    info = signature.inputs[alias]
    if alias in request.inputs:
      proto = request.inputs[alias]
    elif alias in signature.defaults:
      proto = signature.defaults[alias]
    else:
      raise _invalid(
          f'Signature input alias: {alias}(feed name: {info.name}) not found in '
          'request and no default value provided. Inputs expected to be in the '
          f'request {{{",".join(sorted(sent))}}}, or default input alias set: '
          f'{",".join(sorted(signature.defaults))}')
    try:
      # The request's own dtype is fed: a mismatch with the graph is Session::Run's error.
      feeds[info.name] = serving_session.tensor_from_proto(proto)
    except serving_session.TensorParseError as e:
      raise _invalid(f'tensor parsing error: {alias}') from e
  unknown = sent - expected
  if sent and unknown:
    raise _invalid(
        'Inputs contains invalid name. Used request inputs: '
        f'{",".join(sorted(sent & expected))}, request input: {",".join(sorted(sent))}')
  return feeds


def _predict_output_aliases(signature, output_filter: Sequence[str]) -> List[str]:
  aliases, seen = [], set()
  for alias in output_filter:
    if alias not in signature.outputs:
      raise _invalid(f'output tensor alias not found in signature: {alias} Outputs '
                     f'expected to be in the set {{{",".join(sorted(signature.outputs))}}}.')
    if alias in seen:
      raise _invalid(f'duplicate output tensor alias: {alias}')
    seen.add(alias)
    aliases.append(alias)
  return aliases or sorted(signature.outputs)


def _shape(value: np.ndarray) -> str:
  return '[' + ','.join(str(d) for d in value.shape) + ']'


def _message(error: Exception) -> str:
  return getattr(error, 'message', None) or str(error)
