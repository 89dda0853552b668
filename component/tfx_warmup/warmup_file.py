"""Writes, reads and summarises `assets.extra/tf_serving_warmup_requests`.

TF Serving reads the file with a plain record reader: it must be an
*uncompressed* TFRecord of serialized PredictionLog protos.
"""

import collections
import dataclasses
import os
import warnings
from typing import Dict, FrozenSet, Iterable, Iterator, List, Optional, Tuple

from google.protobuf import message
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tfx.dsl.io import fileio
from tfx.utils import path_utils

from tfx_warmup.errors import ModelError, WarmupReplayError
from tfx_warmup.parameters import MAX_RECORDS
from tfx_warmup.signatures import Api


def warmup_file_path(saved_model_dir: str) -> str:
  return path_utils.warmup_file_path(saved_model_dir)


def write_warmup_file(path: str,
                      records: Iterable[prediction_log_pb2.PredictionLog]) -> int:
  """Writes `records` uncompressed, in order; returns how many were written."""
  fileio.makedirs(os.path.dirname(path))
  count = 0
  with tf.io.TFRecordWriter(path) as writer:  # No options: uncompressed.
    for record in records:
      # Deterministic: request inputs are protobuf maps.
      writer.write(record.SerializeToString(deterministic=True))
      count += 1
  return count


def read_records(path: str) -> Iterator[bytes]:
  """Raw records of an uncompressed TFRecord; DataLossError where TF Serving's reader fails."""
  for record in tf.data.TFRecordDataset(path):
    yield record.numpy()


def merge_records(kept: Iterable[prediction_log_pb2.PredictionLog],
                  added: Iterable[prediction_log_pb2.PredictionLog]
                  ) -> List[prediction_log_pb2.PredictionLog]:
  """`kept` then `added`, each distinct record once (compared as serialized bytes)."""
  seen, merged = set(), []
  for record in list(kept) + list(added):
    key = record.SerializeToString(deterministic=True)
    if key not in seen:
      seen.add(key)
      merged.append(record)
  return merged


def read_warmup_file(path: str) -> List[prediction_log_pb2.PredictionLog]:
  """Parses every record as TF Serving does (uncompressed only)."""
  return [prediction_log_pb2.PredictionLog.FromString(r) for r in read_records(path)]


@dataclasses.dataclass(frozen=True, order=True)
class RecordKey:
  """What a warmup record initialises in TF Serving: API, signature, batch size, fetch set.

  `output_filter` is a Predict request's comma-joined output aliases ('' = all outputs).
  """
  kind: str
  signature: str
  batch_size: int
  output_filter: str = ''


def record_key(record: prediction_log_pb2.PredictionLog) -> RecordKey:
  """The key of a record; `kind` is its API (`signatures.Api`), or the log type it has."""
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
  kind = api.value if api else log_type.replace('_log', '')
  return RecordKey(kind, '+'.join(record_signatures(record)) if api else 'serving_default',
                   batch_size, output_filter)


def record_signatures(record: prediction_log_pb2.PredictionLog) -> Tuple[str, ...]:
  """The signatures a record runs: one, or a MultiInference's tasks; () for no request."""
  log_type = record.WhichOneof('log_type') or ''
  if Api.of_log_type(log_type) is None:
    return ()
  request = getattr(record, log_type).request
  specs = ([t.model_spec for t in request.tasks] if log_type == Api.MULTI_INFERENCE.log_type
           else [request.model_spec])
  return tuple(spec.signature_name or 'serving_default' for spec in specs)


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
  """Record counts per (kind, signature, batch size), sorted."""
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


# -- Reading the file as TF Serving does (saved_model_warmup_util.cc) -----------------


def too_many_records(path: str) -> WarmupReplayError:
  return WarmupReplayError(
      f'INVALID_ARGUMENT: Number of warmup records exceeds the maximum '
      f'({MAX_RECORDS}) at {path}. TF Serving refuses to load this model; '
      f'keep at most {MAX_RECORDS} records.', 'INVALID_ARGUMENT', MAX_RECORDS)


def warmup_records(path: str) -> Iterator[prediction_log_pb2.PredictionLog]:
  """Yields PredictionLogs, failing as TF Serving's record reader does."""
  iterator = read_records(path)
  index = 0
  while True:
    try:
      raw = next(iterator)
    except StopIteration:
      return
    except tf.errors.DataLossError as e:
      raise WarmupReplayError(
          f'DATA_LOSS: {e.message}. Please verify your warmup data is in '
          f'TFRecord format. ({path} must be an uncompressed TFRecord: '
          'TF Serving does not read GZIP/ZLIB warmup files.)', 'DATA_LOSS', index) from e
    try:
      record = prediction_log_pb2.PredictionLog.FromString(raw)
    except Exception as e:  # pylint: disable=broad-except  (DecodeError)
      raise WarmupReplayError(
          f'INVALID_ARGUMENT: Failed to parse warmup record: {_quoted(raw)} from {path} '
          f'(record {index} is not a serialized PredictionLog)', 'INVALID_ARGUMENT',
          index) from e
    index += 1
    yield record


def _quoted(raw: bytes, limit: int = 200) -> str:
  """Record bytes as TF Serving's message quotes them, escaped, and cut past `limit`."""
  text = raw[:limit].decode('utf-8', 'backslashreplace')
  return text + ('…' if len(raw) > limit else '')


def existing_records(saved_model_dir: str, mode: str
                     ) -> List[prediction_log_pb2.PredictionLog]:
  """The input model's own warmup records that existing_warmup `mode` keeps.

  'replace' keeps none. 'keep' and 'merge' read the file as TF Serving does, and
  refuse one TF Serving could not load (compressed, corrupt, over 1000 records).
  """
  if mode == 'replace':
    return []
  path = warmup_file_path(saved_model_dir)
  if not fileio.exists(path):
    if mode == 'keep':
      raise ModelError(f"existing_warmup='keep', but the input model has no warmup file "
                       f"({path}). Use 'replace' or 'merge' to write one.")
    return []
  try:
    records = list(warmup_records(path))
  except WarmupReplayError as e:
    raise ModelError(f"existing_warmup={mode!r}, but the input model's warmup file cannot be "
                     f'loaded by TF Serving: {read_error(path, e)} Use '
                     "existing_warmup='replace' to write a new one.") from e
  if len(records) > MAX_RECORDS:
    raise ModelError(f"existing_warmup={mode!r}, but the input model's warmup file holds "
                     f'{len(records)} records; TF Serving refuses more than {MAX_RECORDS}. '
                     "Use existing_warmup='replace' to write a new one.")
  return records


def read_error(path: str, error: WarmupReplayError) -> str:
  """The reader's error, naming the compression when that is the cause."""
  for compression in ('GZIP', 'ZLIB'):
    try:
      for _ in tf.data.TFRecordDataset(path, compression_type=compression).take(1):
        return (f'The file is {compression}-compressed; TF Serving reads only uncompressed '
                'TFRecords. Rewrite it uncompressed (tfx-warmup generate does).')
    except tf.errors.OpError:
      continue
  return str(error)
