"""A SavedModel loaded as TF Serving loads it, answering requests as TF Serving answers them.

TF Serving's TF1-session path (saved_model_bundle_factory.cc, then the
handlers): import the MetaGraph whose tags match, restore the variables, feed
asset paths and run the init op -- TensorFlow's own SavedModel loader, the
Python twin of the C++ loader TF Serving links -- in a session made with TF
Serving's session options (`session`). Each request then goes through the
same checks as TF Serving's handler for its API (`classifier`, `regressor`,
`predict`, `multi_inference`) and becomes one C++ Session::Run keyed by
(feeds, fetches), so the first request of each key pays the same lazy
initialisation TF Serving pays; with server-side batching the session is
wrapped in TF Serving's BatchingSession (`batching_session`).

TF Serving's optional method-name check (--enable_signature_method_name_check)
is off by default there and off here.
"""

import re
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.python.saved_model import loader_impl
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.apis import regression_pb2

from tfx_warmup.serving import batching_session
from tfx_warmup.serving import classifier
from tfx_warmup.serving import multi_inference
from tfx_warmup.serving import predict
from tfx_warmup.serving import regressor
from tfx_warmup.serving import session as session_lib
from tfx_warmup.serving import util
from tfx_warmup.serving.batching_config import BatchingConfig
from tfx_warmup.serving.contract import Api
from tfx_warmup.serving.errors import LoadError, RequestError

_HANDLERS = ((classification_pb2.ClassificationRequest, classifier.prepare),
             (regression_pb2.RegressionRequest, regressor.prepare),
             (predict_pb2.PredictRequest, predict.prepare),
             (inference_pb2.MultiInferenceRequest, multi_inference.prepare))


def load(saved_model_dir: str, tags: Sequence[str] = ('serve',),
         method_name_check: bool = False,
         batching: Optional[BatchingConfig] = None) -> 'Servable':
  """Loads `saved_model_dir` into a fresh graph and session, as TF Serving does.

  `method_name_check` mirrors TF Serving's --enable_signature_method_name_check;
  `batching` its --enable_batching with that --batching_parameters_file.
  saved_model.pb is read once: the servable keeps the MetaGraphDef it loaded.
  """
  loader = _loader(saved_model_dir)
  meta_graph_def = _matching_meta_graph(loader, saved_model_dir, tags)
  _check_assets_fed_once(saved_model_dir, meta_graph_def)
  graph = tf.Graph()
  session = tf.compat.v1.Session(graph=graph,
                                 config=session_lib.session_config(saved_model_dir))
  try:
    with graph.as_default():
      loader.load(session, list(tags))
  except (tf.errors.OpError, RuntimeError, IOError, ValueError) as e:
    session.close()
    raise load_error(saved_model_dir, e) from e
  session_lib.prime_tensor_parsing(
      info.dtype for signature in meta_graph_def.signature_def.values()
      for info in signature.inputs.values())
  return Servable(saved_model_dir, session_lib.Session(graph, session), meta_graph_def,
                  method_name_check, batching)


def load_native(saved_model_dir: str, tags: Sequence[str] = ('serve',),
                batching: Optional[BatchingConfig] = None,
                config: Optional[config_pb2.ConfigProto] = None,
                run_options: Optional[config_pb2.RunOptions] = None,
                meta_graph_def: Optional[meta_graph_pb2.MetaGraphDef] = None) -> 'Servable':
  """Loads `saved_model_dir` through TensorFlow's C++, as TF Serving's binary does.

  The servable checks requests as `load`'s does, but loads and runs them with
  C++ `LoadSavedModel` and `Session::Run` (`native`): what to time. `config`
  defaults to TF Serving's session options for the model, `run_options` are the
  load's (session_run_load_threadpool_index); `meta_graph_def`, read beforehand,
  spares a Python parse of saved_model.pb while something else is being timed.
  """
  from tfx_warmup.serving import native  # Ctypes.
  meta_graph_def = meta_graph_def or read_meta_graph(saved_model_dir, tags)
  config = session_lib.session_config(saved_model_dir) if config is None else config
  session = native.NativeSession.load(saved_model_dir, tags, config, run_options)
  return Servable(saved_model_dir, session, meta_graph_def, batching=batching)


def read_meta_graph(saved_model_dir: str,
                    tags: Sequence[str] = ('serve',)) -> meta_graph_pb2.MetaGraphDef:
  """The MetaGraphDef TF Serving would load for `tags`, without loading it."""
  return _matching_meta_graph(_loader(saved_model_dir), saved_model_dir, tags)


def _loader(saved_model_dir: str) -> loader_impl.SavedModelLoader:
  if not tf.io.gfile.exists(saved_model_dir):
    raise LoadError(f'No SavedModel directory at {saved_model_dir}.')
  try:
    return loader_impl.SavedModelLoader(saved_model_dir)
  except (IOError, OSError) as e:
    raise LoadError(
        f'TF Serving would fail to load {saved_model_dir}: it holds no readable '
        f'saved_model.pb or saved_model.pbtxt ({e}). Export the model with '
        'tf.saved_model.save or model.export.') from e


def _matching_meta_graph(loader: loader_impl.SavedModelLoader, saved_model_dir: str,
                         tags: Sequence[str]) -> meta_graph_pb2.MetaGraphDef:
  wanted = set(tags)
  for meta_graph in loader.saved_model.meta_graphs:
    if set(meta_graph.meta_info_def.tags) == wanted:
      return meta_graph
  available = [sorted(m.meta_info_def.tags) for m in loader.saved_model.meta_graphs]
  raise LoadError(
      f'The SavedModel at {saved_model_dir} has no MetaGraph with tag set '
      f'{sorted(wanted)}; it has {available}. Pass the tag set TF Serving loads '
      "(--saved_model_tags) as one of those, or export the model with the 'serve' tag.")


def _check_assets_fed_once(saved_model_dir: str,
                           meta_graph_def: meta_graph_pb2.MetaGraphDef) -> None:
  """C++ LoadSavedModel feeds each asset_file_def entry to the restore and init ops.

  A tensor listed twice (put in ASSET_FILEPATHS by hand and again by a lookup
  table's initializer) is fed twice, which C++ Session::Run refuses, so TF
  Serving fails the load; Python's loader keys the feeds by name and hides it.
  """
  seen = set()
  for name in _asset_tensor_names(meta_graph_def):
    if name in seen:
      raise LoadError(
          f'TF Serving would fail to load {saved_model_dir}: INVALID_ARGUMENT: Endpoint '
          f'"{name}" fed more than once. The MetaGraph lists that asset tensor twice '
          '(e.g. added to ASSET_FILEPATHS by hand, and again by a lookup table\'s '
          'initializer); export the model with each asset listed once.')
    seen.add(name)


def _asset_tensor_names(meta_graph_def: meta_graph_pb2.MetaGraphDef) -> List[str]:
  """The asset tensors C++ feeds (loader_util GetAssetFileDefs): the MetaGraph's
  asset_file_def, else the TF1 builder's 'saved_model_assets' collection."""
  if meta_graph_def.asset_file_def:
    return [a.tensor_info.name for a in meta_graph_def.asset_file_def]
  names = []
  if 'saved_model_assets' not in meta_graph_def.collection_def:
    return names
  for value in meta_graph_def.collection_def['saved_model_assets'].any_list.value:
    asset = meta_graph_pb2.AssetFileDef()
    value.Unpack(asset)
    names.append(asset.tensor_info.name)
  return names


# What C++ reports for an op this TensorFlow build lacks (Python's saver wraps it).
_MISSING_OP = re.compile(r"No OpKernel was registered to support Op '([^']+)'|"
                         r"Op type not registered '([^']+)'")


def load_error(saved_model_dir: str, error: Exception) -> LoadError:
  """Why TF Serving would fail to load the model, in the words that say what to do."""
  message = getattr(error, 'message', None) or str(error)
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


def log_request(record: prediction_log_pb2.PredictionLog) -> Optional[util.Request]:
  """The request a warmup record replays; None for an empty record (TF Serving skips it)."""
  kind = record.WhichOneof('log_type')
  if kind is None:
    return None
  if Api.of_log_type(kind) is not None:
    return getattr(record, kind).request
  number = prediction_log_pb2.PredictionLog.DESCRIPTOR.fields_by_name[kind].number
  raise RequestError('UNIMPLEMENTED', f'Unsupported log_type for warmup: {number}')


def request_error(error: tf.errors.OpError) -> RequestError:
  """The status TF Serving answers with for an error of Session::Run."""
  code, message = session_lib.run_error(error)
  return RequestError(code, message)


class Servable:
  """A loaded SavedModel answering TF Serving requests."""

  def __init__(self, export_dir: str, session: Optional[session_lib.ServingSession],
               meta_graph_def: meta_graph_pb2.MetaGraphDef,
               method_name_check: bool = False,
               batching: Optional[BatchingConfig] = None):
    """`session`: the replica's `session.Session`, `native.NativeSession`, or None (checks
    only). With `batching`, requests run through TF Serving's BatchingSession, itself a
    `ServingSession`."""
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

  def run(self, request: util.Request) -> util.Response:
    """Answers any of the four request types TF Serving warms up with."""
    call = self.prepare(request)
    return call.respond(self._session_run(call.feeds, call.fetches))

  classify = regress = predict = multi_inference = run

  def prepare(self, request: util.Request) -> util.Call:
    """TF Serving's checks of `request` against the signatures, up to its Session::Run.

    Needs only the MetaGraphDef (see `for_checks`); raises RequestError as TF
    Serving would answer.
    """
    for request_type, handler in _HANDLERS:
      if isinstance(request, request_type):
        return handler(self.meta_graph_def.signature_def, request, self.method_name_check,
                       self._dtype)
    raise TypeError(f'Not a TF Serving request: {type(request).__name__}')

  def run_log(self, record: prediction_log_pb2.PredictionLog) -> Optional[util.Response]:
    """Runs one warmup record as TF Serving's warmup does."""
    request = log_request(record)
    return None if request is None else self.run(request)

  def check_log(self, record: prediction_log_pb2.PredictionLog) -> None:
    """Everything `run_log` checks before running the model (batching admission too)."""
    request = log_request(record)
    if request is None:
      return
    call = self.prepare(request)
    if self.batching is not None:  # Its BatchingError is the status TF Serving answers.
      batching_session.check_request(call.feeds, self.batching)

  def _dtype(self, name: str) -> int:
    return self.session.dtype(name)

  def _session_run(self, feeds: Dict[str, np.ndarray],
                   fetches: List[str]) -> List[np.ndarray]:
    try:
      return self.session.run(feeds, fetches)
    except tf.errors.OpError as e:
      raise request_error(e) from e
