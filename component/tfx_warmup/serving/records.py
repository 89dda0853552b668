"""What a warmup record is to TF Serving: the path it initialises, the signatures it runs,
the features it carries. Read from the PredictionLog alone, without a model."""

import collections
import dataclasses
import warnings
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

from google.protobuf import message
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.serving.contract import DEFAULT_SIGNATURE, Api


@dataclasses.dataclass(frozen=True, order=True)
class RecordKey:
  """What a warmup record initialises in TF Serving: API, signature, batch size, fetch set.

  `api` is the request API (`contract.Api` value), or the log type of a record
  warmup does not replay; `output_filter` is a Predict request's comma-joined
  output aliases ('' = all outputs).
  """
  api: str
  signature: str
  batch_size: int
  output_filter: str = ''


def record_key(record: prediction_log_pb2.PredictionLog) -> RecordKey:
  """The key of a record (see RecordKey)."""
  log_type = record.WhichOneof('log_type') or ''
  api = Api.of_log_type(log_type)
  request = getattr(record, log_type).request if api else None
  output_filter = ''
  if api == Api.PREDICT:
    batch_size = _predict_batch_size(request)
    output_filter = ','.join(request.output_filter)
  elif api is not None:
    batch_size = _input_batch_size(request.input)
  else:
    batch_size = 0
  name = api.value if api else log_type.replace('_log', '')
  return RecordKey(name, '+'.join(record_signatures(record)) if api else DEFAULT_SIGNATURE,
                   batch_size, output_filter)


def record_signatures(record: prediction_log_pb2.PredictionLog) -> Tuple[str, ...]:
  """The signatures a record runs: one, or a MultiInference's tasks; () for no request."""
  log_type = record.WhichOneof('log_type') or ''
  if Api.of_log_type(log_type) is None:
    return ()
  request = getattr(record, log_type).request
  specs = ([t.model_spec for t in request.tasks] if log_type == Api.MULTI_INFERENCE.log_type
           else [request.model_spec])
  return tuple(spec.signature_name or DEFAULT_SIGNATURE for spec in specs)


def record_features(record: prediction_log_pb2.PredictionLog) -> FrozenSet[str]:
  """The feature names a record carries to the model.

  Those of its examples (tf.Example features, SequenceExample context and feature
  lists); for a Predict request, those of each DT_STRING input whose values are
  serialized examples, and the alias of every other input (raw tensors are built
  from the feature of that name).
  """
  log_type = record.WhichOneof('log_type') or ''
  if Api.of_log_type(log_type) is None:
    return frozenset()
  request = getattr(record, log_type).request
  if log_type != Api.PREDICT.log_type:
    kind = request.input.WhichOneof('kind')
    if kind is None:
      return frozenset()
    found = set()
    inputs = getattr(request.input, kind)
    for example in inputs.examples:
      found.update(example.features.feature)
    if kind == 'example_list_with_context':
      found.update(inputs.context.features.feature)
    return frozenset(found)
  found = set()
  for alias, tensor in request.inputs.items():
    names = (serialized_example_features(tensor.string_val)
             if tensor.dtype == types_pb2.DT_STRING else None)
    found.update([alias] if names is None else names)
  return frozenset(found)


def serialized_example_features(values: Iterable[bytes]) -> Optional[FrozenSet[str]]:
  """Feature names of serialized tf.Examples or SequenceExamples; None if a value is not one."""
  found, any_feature = set(), False
  for value in values:
    parsed = parse_example_or_sequence(value)
    if parsed is None:
      return None
    if parsed.context.feature or parsed.feature_lists.feature_list:
      any_feature = True
    found.update(parsed.context.feature)
    found.update(parsed.feature_lists.feature_list)
  return frozenset(found) if any_feature else None


def parse_example_or_sequence(value: bytes) -> Optional[example_pb2.SequenceExample]:
  """A serialized tf.Example or SequenceExample, read as a SequenceExample; None if not a proto.

  A tf.Example's features and a SequenceExample's context are the same field
  (number 1, a Features), so both payloads read, and re-serialize, alike.
  """
  parsed = example_pb2.SequenceExample()
  try:
    with warnings.catch_warnings():  # Text that happens to parse partly warns.
      warnings.simplefilter('ignore', RuntimeWarning)
      parsed.ParseFromString(value)
  except message.DecodeError:
    return None
  return parsed


def features_carried(records: Iterable[prediction_log_pb2.PredictionLog]
                     ) -> Dict[str, List[str]]:
  """{signature (tasks joined by '+'): sorted feature names its records carry}."""
  carried: Dict[str, set] = {}
  for record in records:
    label = '+'.join(record_signatures(record))
    if label:
      carried.setdefault(label, set()).update(record_features(record))
  return {label: sorted(names) for label, names in sorted(carried.items())}


def summarize(records: Iterable[prediction_log_pb2.PredictionLog]) -> Dict[RecordKey, int]:
  """Record counts per (kind, signature, batch size, fetch set), sorted."""
  return count_keys(record_key(r) for r in records)


def count_keys(keys: Iterable[RecordKey]) -> Dict[RecordKey, int]:
  return dict(sorted(collections.Counter(keys).items()))


def _input_batch_size(model_input) -> int:
  kind = model_input.WhichOneof('kind')
  return len(getattr(model_input, kind).examples) if kind else 0


def _predict_batch_size(request) -> int:
  for key in sorted(request.inputs):
    dims = request.inputs[key].tensor_shape.dim
    if dims:
      return dims[0].size
  return 0
