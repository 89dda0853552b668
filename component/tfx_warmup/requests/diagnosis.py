"""What a failing record means for the user: the cause in their terms, and the fix.

The replica reports TF Serving's verdict in TF Serving's words. Two kinds of
failure need more: an example/parse mismatch is the data's fault, not the
model's (the examples lack a feature, or hold it with another type or length),
so it is reported as an ExamplesError naming the feature; and a few model
failures have a known cause worth naming (a Keras 3 model saved with
tf.saved_model.save; an output that server-side batching cannot split).
Every path that runs records (the probe, the full replay, the stripping proof,
the measurement) words a mismatch through `data_error`.
"""

import contextlib
import dataclasses
import re
from typing import Iterator, List, Optional, Union

from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.errors import ExamplesError, LiveRequestError, RequestError, WarmupReplayError
from tfx_warmup.serving import servable as servable_lib
from tfx_warmup.serving.contract import DEFAULT_SIGNATURE

# TensorFlow's parse kernels' words: the fast path (example_proto_fast_parsing.cc) for
# dense features, the slow one (example_proto_helper.cc) for VarLen features and the
# words SequenceExample parsing uses. Each pattern: (regex, what its groups are).
_KEY = r"(?:Key|Feature|Context feature|Feature list):? '?([^\s,']+?)'?"
_MISSING = re.compile(r'Feature: (\S+) \(data type: (\w+)\) is required but could not be found')
_MISSING_LIST = re.compile(r"Feature list '([^']+)' is required but could not be found")
_DTYPE_FOUND_NEEDED = re.compile(_KEY + r",(?: Index: \d+\.)?\s+Data types don't match\. "
                                 r'Data type: (\w+) but expected type: (\w+)')
_DTYPE_NEEDED_FOUND = re.compile(_KEY + r"(?:, Index: \d+)?\.\s+Data types don't match\. "
                                 r'Expected type: (\w+)(?:, Actual type: (\w+))?')
_SIZE = re.compile(_KEY + r', Index: \d+\.\s+Number of (?:(\w+) )?values != expected\.\s+'
                   r'[Vv]alues size: (\d+) but output shape: (\[[^\]]*\])')
_COUNT = re.compile(r'Inconsistent max number of elements for feature (\S+): expected (\d+), '
                    r'but found (\d+)')


@dataclasses.dataclass(frozen=True)
class Mismatch:
  """What a signature's parse needs from a feature, and what the examples have."""
  feature: str
  needed: str
  found: str

  def describe(self, holder: str = 'the sampled examples') -> str:
    """The mismatch in the user's terms, true of one signature or several; `holder` is
    what lacks or holds the feature."""
    plural = holder.endswith('s')
    if self.found == 'absent':
      return (f"feature '{self.feature}' is parsed (as {self.needed}), but {holder} "
              f"lack{'' if plural else 's'} it")
    where = 'the examples' if holder == 'the sampled examples' else holder
    return (f"feature '{self.feature}' is parsed as {self.needed}; {where} "
            f"hold{'' if plural else 's'} {self.found}")

  @property
  def likely_cause(self) -> str:
    if self.found == 'absent':
      return 'serving data without the label, or another dataset?'
    return ('examples written with another schema than the model was trained on: another '
            'dataset, or an ExampleGen that typed the feature differently?')

  @property
  def fix(self) -> str:
    return ABSENT_FIX if self.found == 'absent' else SCHEMA_FIX


def diagnose(message: str) -> Optional[Mismatch]:
  """The example/parse mismatch a TF Serving error message reports, if it reports one."""
  missing = _MISSING.search(message)
  if missing:
    return Mismatch(missing.group(1), missing.group(2), 'absent')
  missing_list = _MISSING_LIST.search(message)
  if missing_list:
    return Mismatch(missing_list.group(1), 'a feature list', 'absent')
  dtype = _DTYPE_FOUND_NEEDED.search(message)
  if dtype:
    return Mismatch(dtype.group(1), dtype.group(3), dtype.group(2))
  dtype = _DTYPE_NEEDED_FOUND.search(message)
  if dtype:
    return Mismatch(dtype.group(1), dtype.group(2), dtype.group(3) or 'another type')
  size = _SIZE.search(message)
  if size:
    kind = f'{size.group(2)} of ' if size.group(2) else ''
    return Mismatch(size.group(1), f'{kind}shape {size.group(4)}', _values(size.group(3)))
  count = _COUNT.search(message)
  if count:
    found = int(count.group(3))
    return Mismatch(count.group(1), _values(count.group(2)), _values(found) if found else 'absent')
  return None


def _values(count) -> str:
  return f"{count} value{'' if int(count) == 1 else 's'}"


_POINT = ('Point ModelWarmer at the Examples the model is served with, or leave the '
          'signature out of signature_names.')
ABSENT_FIX = ('Likely causes: a split or artifact without the label (serving data for a '
              'signature that parses it, such as transform_features), transformed examples fed '
              'to a raw-feature model, or another dataset. ' + _POINT)
SCHEMA_FIX = ('The examples were written with another schema than the one the model parses '
              '(another dataset, or an ExampleGen that inferred another type, as CsvExampleGen '
              'makes a column with a decimal point float). ' + _POINT)
FIX = ABSENT_FIX  # For a signature that cannot be fed for a reason that is no parse mismatch.


def data_error(signature: str, mismatch_or_reason: Union[Mismatch, str],
               examples: str = '') -> ExamplesError:
  """The error for a signature the user asked for that the examples cannot feed.

  `examples` names them ('the glob at ...'), so the message points at the data.
  """
  mismatch = mismatch_or_reason if isinstance(mismatch_or_reason, Mismatch) else None
  reason = mismatch.describe() if mismatch else mismatch_or_reason
  where = f' ({examples})' if examples else ''
  return ExamplesError(f"The examples{where} do not match what signature '{signature}' "
                       f'parses: {reason}. {mismatch.fix if mismatch else FIX}')


@contextlib.contextmanager
def mismatches_blamed_on_data(examples: Optional[str] = '') -> Iterator[None]:
  """A replay or measurement failure that is an example/parse mismatch becomes the
  ExamplesError saying so; `examples` names what the records were built from. None:
  they were not built from examples (a model's own file), so nothing is blamed."""
  try:
    yield
  except (WarmupReplayError, LiveRequestError) as e:
    mismatch = diagnose(str(e)) if examples is not None else None
    if mismatch is None:
      raise
    raise data_error(e.signature or DEFAULT_SIGNATURE, mismatch, examples) from e


def explained(error: WarmupReplayError, servable: Optional[servable_lib.Servable] = None,
              record: Optional[prediction_log_pb2.PredictionLog] = None) -> WarmupReplayError:
  """`error` with the likely cause and fix of a failure that makes a loadable model unservable."""
  advice = explain(error.cause, servable, record) if error.cause else ''
  if not advice:
    return error
  return WarmupReplayError(f'{error}{advice}', error.code, error.record, error.signature,
                           error.cause)


def explain(error: RequestError, servable: Optional[servable_lib.Servable] = None,
            record: Optional[prediction_log_pb2.PredictionLog] = None) -> str:
  """The likely cause and fix of an error that makes a loadable model unservable, or ''."""
  if error.code == 'FAILED_PRECONDITION' and 'Could not find variable' in error.message:
    return (' The model loads but its variables are not restored: this is what a '
            'Keras 3 model saved with tf.saved_model.save does in TF Serving '
            '(serving issues 2226, 2250), and every request to it fails. Export '
            'Keras 3 models with model.export(path) or keras.export.ExportArchive; '
            'TFX pipelines can instead use tf_keras (TF_USE_LEGACY_KERAS=1).')
  if error.tensor and servable is not None and record is not None:
    return batching_explanation(error, servable, record)
  return ''


def batching_explanation(error: RequestError, servable: servable_lib.Servable,
                         record: prediction_log_pb2.PredictionLog) -> str:
  """Names the signature input or output that server-side batching cannot serve, and the fix."""
  request = servable_lib.log_request(record)
  for name in _signature_names(request):
    signature = servable.meta_graph_def.signature_def.get(name)
    if signature is None:
      continue
    for side, infos in (('output', signature.outputs), ('input', signature.inputs)):
      for alias, info in sorted(infos.items()):
        if _same_tensor(info.name, error.tensor):
          return (f" Signature '{name}' {side} '{alias}' ({info.name}) cannot be served "
                  'with server-side batching (--enable_batching): ' + _batching_fix(side))
  return ''


def _batching_fix(side: str) -> str:
  if side == 'output':
    return ('every output must have the batch as its 0th dimension, one row per '
            'example, because TF Serving splits outputs back into requests. Return '
            'it per example (e.g. tf.fill([batch_size], value) or tile it to the '
            'batch), move it to a signature of its own, or serve without batching.')
  return ('every input must have the batch as its 0th dimension and all inputs the '
          'same 0th dimension, because TF Serving concatenates requests along it. '
          'Give the input a batch dimension, or serve without batching.')


def _signature_names(request) -> List[str]:
  if request is None:
    return []
  if hasattr(request, 'tasks'):  # MultiInference
    return [t.model_spec.signature_name or DEFAULT_SIGNATURE for t in request.tasks]
  return [request.model_spec.signature_name or DEFAULT_SIGNATURE]


def _same_tensor(a: str, b: str) -> bool:
  """TensorInfo names may omit ':0', as C++ Session::Run allows."""
  return (a if ':' in a else f'{a}:0') == (b if ':' in b else f'{b}:0')
