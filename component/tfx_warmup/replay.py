"""An in-process replica of TF Serving's SavedModel load and request path.

No model server runs where pipelines run, so this module answers "would TF
Serving accept this model and this warmup file?" by doing what TF Serving's
TF1-session path does (tensorflow_serving/servables/tensorflow/):
  * load: import the MetaGraph whose tags match, restore the variables, feed
    asset paths and run the init op -- TensorFlow's own SavedModel loader, the
    Python twin of the C++ loader TF Serving links;
  * Classify / Regress / Predict / MultiInference: the same validation, in the
    same order and with the same wording where TF Serving has one, then one
    Session.run per request keyed by (feeds, fetches), so the first request of
    each key pays the same lazy initialisation TF Serving pays;
  * warmup: read assets.extra/tf_serving_warmup_requests as an uncompressed
    TFRecord, at most 1000 records, and fail on the first failing record.
TF Serving's optional method-name check (--enable_signature_method_name_check)
is off by default there and off here.
"""

import dataclasses
import time
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

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

from tfx_warmup import warmup_file
from tfx_warmup.errors import ModelError, WarmupError
from tfx_warmup.warmup_requests import MAX_RECORDS

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


class LoadError(ModelError):
  """TF Serving would fail to load the SavedModel."""


class RequestError(WarmupError):
  """TF Serving would answer the request with an error status."""

  def __init__(self, code: str, message: str):
    super().__init__(f'{code}: {message}')
    self.code = code
    self.message = message


def _invalid(message: str) -> RequestError:
  return RequestError('INVALID_ARGUMENT', message)


def load(saved_model_dir: str, tags: Sequence[str] = ('serve',),
         method_name_check: bool = False) -> 'Servable':
  """Loads `saved_model_dir` into a fresh graph and session, as TF Serving does.

  `method_name_check` mirrors TF Serving's --enable_signature_method_name_check.
  """
  if not fileio.exists(saved_model_dir):
    raise LoadError(f'No SavedModel directory at {saved_model_dir}.')
  graph = tf.Graph()
  session = tf.compat.v1.Session(graph=graph)
  try:
    with graph.as_default():
      meta_graph_def = tf.compat.v1.saved_model.loader.load(
          session, list(tags), saved_model_dir)
  except (tf.errors.OpError, RuntimeError, IOError, ValueError) as e:
    session.close()
    raise LoadError(f'TF Serving would fail to load {saved_model_dir}: '
                    f'{type(e).__name__}: {_message(e)}') from e
  return Servable(saved_model_dir, session, meta_graph_def, method_name_check)


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
  if kind in ('classify_log', 'regress_log', 'predict_log', 'multi_inference_log'):
    return getattr(record, kind).request
  number = prediction_log_pb2.PredictionLog.DESCRIPTOR.fields_by_name[kind].number
  raise RequestError('UNIMPLEMENTED', f'Unsupported log_type for warmup: {number}')


class Servable:
  """A loaded SavedModel answering TF Serving requests."""

  def __init__(self, export_dir: str, session: tf.compat.v1.Session,
               meta_graph_def: meta_graph_pb2.MetaGraphDef,
               method_name_check: bool = False):
    self.export_dir = export_dir
    self.session = session
    self.meta_graph_def = meta_graph_def
    self.method_name_check = method_name_check

  @classmethod
  def for_checks(cls, export_dir: str, meta_graph_def: meta_graph_pb2.MetaGraphDef,
                 method_name_check: bool = False) -> 'Servable':
    """A servable without a session: `prepare` and `check_log` work, `run` does not."""
    return cls(export_dir, None, meta_graph_def, method_name_check)

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
      return self._prepare_one_shot(request, _CLASSIFY, 'classification',
                                    _classification_tensors, _fill_classifications,
                                    classification_pb2.ClassificationResponse())
    if isinstance(request, regression_pb2.RegressionRequest):
      return self._prepare_one_shot(request, _REGRESS, 'regression', _regression_tensors,
                                    _fill_regressions, regression_pb2.RegressionResponse())
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
    """Everything `run_log` checks before running the model."""
    request = log_request(record)
    if request is not None:
      self.prepare(request)

  classify = regress = predict = multi_inference = run

  # -- Classify and Regress (classifier.cc, regressor.cc) ---------------------

  def _prepare_one_shot(self, request, method: str, api: str, tensors, fill, response):
    """TF Serving's one-shot path: validate, feed the serialized examples, post-process."""
    name, signature = self._lookup(request.model_spec.signature_name)
    if self.method_name_check and signature.method_name != method:
      raise _invalid(f'Expected {api} signature method_name to be {method}. '
                     f'Was: {signature.method_name}')
    input_name, output_names = tensors(signature)
    _set_model_spec(response.model_spec, request.model_spec.name, name)
    examples = _serialized_examples(request.input)

    def respond(outputs):
      fill(signature, dict(zip(output_names, outputs)), len(examples), response.result)
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

    def respond(outputs):
      for alias, value in zip(aliases, outputs):
        response.outputs[alias].CopyFrom(tf.make_tensor_proto(value))
      return response
    return _Call(feeds, [signature.outputs[a].name for a in aliases], respond)

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
        input_name, names = _classification_tensors(signature)
      elif task.method_name == _REGRESS:
        input_name, names = _regression_tensors(signature)
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
      outputs = dict(zip(fetch, values))
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
      return self.session.run(fetches, feed_dict=feeds)
    except tf.errors.OpError as e:
      raise RequestError(_code_name(e), _message(e)) from e
    except (ValueError, TypeError) as e:  # Feeds the Python client refuses up front.
      raise _invalid(str(e)) from e


# -- Warmup replay (saved_model_warmup_util.cc) -----------------------------------


@dataclasses.dataclass
class ReplayResult:
  """What replaying a warmup file did: records run and how long each took."""
  path: str
  records: int
  seconds: float
  record_seconds: List[float]
  summary: Dict[warmup_file.RecordKey, int]


class WarmupReplayError(WarmupError):
  """TF Serving would fail the model load while replaying its warmup file.

  `code` is TF Serving's status; `record` the failing record's index, where one fails.
  """

  def __init__(self, message: str, code: str, record: Optional[int] = None):
    super().__init__(message)
    self.code = code
    self.record = record


def replay_warmup(saved_model_dir: str, tags: Sequence[str] = ('serve',),
                  servable: Optional[Servable] = None,
                  on_record: Optional[Callable[[], None]] = None) -> ReplayResult:
  """Replays the model's warmup file; raises on what would fail TF Serving's load.

  `on_record` is called after each record (progress reporting).
  """
  path = warmup_file.warmup_file_path(saved_model_dir)
  if not fileio.exists(path):
    return ReplayResult(path, 0, 0.0, [], {})
  owned = servable is None
  servable = servable or load(saved_model_dir, tags)
  record_seconds, keys = [], []
  try:
    for index, record in enumerate(warmup_records(path)):
      if index >= MAX_RECORDS:
        raise too_many_records(path)
      key = warmup_file.record_key(record)
      start = time.perf_counter()
      try:
        servable.run_log(record)
      except RequestError as e:
        raise WarmupReplayError(
            f'Warmup record {index} ({key.kind}, signature '
            f"'{key.signature}', batch size {key.batch_size}) fails: {e}. TF "
            'Serving would refuse to load this model.' + explain(e), e.code, index) from e
      record_seconds.append(time.perf_counter() - start)
      keys.append(key)
      if on_record:
        on_record()
  finally:
    if owned:
      servable.close()
  return ReplayResult(path, len(keys), sum(record_seconds), record_seconds,
                      warmup_file.count_keys(keys))


def explain(error: RequestError) -> str:
  """The likely cause and fix of an error that makes a loadable model unservable."""
  if error.code == 'FAILED_PRECONDITION' and 'Could not find variable' in error.message:
    return (' The model loads but its variables are not restored: this is what a '
            'Keras 3 model saved with tf.saved_model.save does in TF Serving '
            '(serving issues 2226, 2250), and every request to it fails. Export '
            'Keras 3 models with model.export(path) or keras.export.ExportArchive; '
            'TFX pipelines can instead use tf_keras (TF_USE_LEGACY_KERAS=1).')
  return ''


def too_many_records(path: str) -> WarmupReplayError:
  return WarmupReplayError(
      f'INVALID_ARGUMENT: Number of warmup records exceeds the maximum '
      f'({MAX_RECORDS}) at {path}. TF Serving refuses to load this model; '
      f'keep at most {MAX_RECORDS} records.', 'INVALID_ARGUMENT', MAX_RECORDS)


def warmup_records(path: str) -> Iterator[prediction_log_pb2.PredictionLog]:
  """Yields PredictionLogs, failing as TF Serving's record reader does."""
  iterator = warmup_file.read_records(path)
  index = 0
  while True:
    try:
      raw = next(iterator)
    except StopIteration:
      return
    except tf.errors.DataLossError as e:
      raise WarmupReplayError(
          f'DATA_LOSS: {_message(e)}. Please verify your warmup data is in '
          f'TFRecord format. ({path} must be an uncompressed TFRecord: '
          'TF Serving does not read GZIP/ZLIB warmup files.)', 'DATA_LOSS', index) from e
    try:
      record = prediction_log_pb2.PredictionLog.FromString(raw)
    except Exception as e:  # pylint: disable=broad-except  (DecodeError)
      raise WarmupReplayError(
          f'INVALID_ARGUMENT: Failed to parse warmup record {index} from {path}: '
          'it is not a serialized PredictionLog.', 'INVALID_ARGUMENT', index) from e
    index += 1
    yield record


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


def _classification_tensors(signature) -> Tuple[str, List[str]]:
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


def _regression_tensors(signature) -> Tuple[str, List[str]]:
  if len(signature.inputs) != 1:
    raise _invalid('Expected one input Tensor.')
  if len(signature.outputs) != 1:
    raise _invalid('Expected one output Tensor.')
  if _INPUTS not in signature.inputs:
    raise _invalid(f'No regression inputs found in SignatureDef: {signature}')
  if _OUTPUTS not in signature.outputs:
    raise _invalid(f'No regression outputs found in SignatureDef: {signature}')
  return signature.inputs[_INPUTS].name, [signature.outputs[_OUTPUTS].name]


def _fill_classifications(signature, outputs: Dict[str, np.ndarray], num_examples: int,
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


def _check_classify_output(value: np.ndarray, name: str, dtype: int,
                           num_examples: int) -> np.ndarray:
  if value.ndim != 2:
    raise _invalid('Expected Tensor shape: [batch_size num_classes] but got '
                   f'{_shape(value)}')
  if _dtype(value) != dtype:
    raise _invalid(f'Expected {name} Tensor of {types_pb2.DataType.Name(dtype)}. '
                   f'Got: {types_pb2.DataType.Name(_dtype(value))}')
  if value.shape[0] != num_examples:
    raise _invalid(f'Expected {name} output batch size of {num_examples}. '
                   f'Got: {value.shape[0]}')
  return value


def _fill_regressions(signature, outputs: Dict[str, np.ndarray], num_examples: int,
                      result: regression_pb2.RegressionResult) -> None:
  value = outputs[signature.outputs[_OUTPUTS].name]
  if not (value.ndim == 1 or (value.ndim == 2 and value.shape[1] == 1)):
    raise _invalid('Expected output Tensor shape to be either [batch_size] or '
                   f'[batch_size, 1] but got {_shape(value)}')
  if value.shape[0] != num_examples:
    raise _invalid('Input batch size did not match output batch size: '
                   f'{num_examples} vs. {value.shape[0]}')
  if _dtype(value) != types_pb2.DT_FLOAT:
    raise _invalid('Expected output Tensor of DT_FLOAT.  Got: '
                   f'{types_pb2.DataType.Name(_dtype(value))}')
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
      value = tf.make_ndarray(proto)
    except Exception as e:  # pylint: disable=broad-except
      raise _invalid(f'tensor parsing error: {alias}') from e
    if proto.dtype != info.dtype:
      # TF's Session::Run refuses a feed whose dtype differs from the graph's.
      raise _invalid(
          f"Input '{alias}' is {types_pb2.DataType.Name(proto.dtype)} but the "
          f'signature expects {types_pb2.DataType.Name(info.dtype)}')
    feeds[info.name] = value
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


def _dtype(value: np.ndarray) -> int:
  if value.dtype == object or value.dtype.kind in ('S', 'U'):
    return types_pb2.DT_STRING
  return tf.dtypes.as_dtype(value.dtype).as_datatype_enum


def _shape(value: np.ndarray) -> str:
  return '[' + ','.join(str(d) for d in value.shape) + ']'


# Canonical status names (FAILED_PRECONDITION, ...) as TF Serving reports them.
_CODE_NAMES = {v: k for k, v in vars(tf.errors).items() if k.isupper() and isinstance(v, int)}


def _code_name(error: tf.errors.OpError) -> str:
  return _CODE_NAMES.get(error.error_code, 'UNKNOWN')


def _message(error: Exception) -> str:
  return getattr(error, 'message', None) or str(error)
