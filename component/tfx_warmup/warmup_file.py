"""Writes, reads and summarises `assets.extra/tf_serving_warmup_requests`.

TF Serving reads the file with a plain record reader: it must be an
*uncompressed* TFRecord of serialized PredictionLog protos.
"""

import collections
import dataclasses
import os
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
from tfx.dsl.io import fileio
from tfx.utils import path_utils

_REQUEST_KINDS = ('classify_log', 'regress_log', 'predict_log', 'multi_inference_log')


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
  kind = record.WhichOneof('log_type') or ''
  request = getattr(record, kind).request if kind in _REQUEST_KINDS else None
  output_filter = ''
  if kind == 'predict_log':
    signature = request.model_spec.signature_name
    batch_size = _predict_batch_size(request)
    output_filter = ','.join(request.output_filter)
  elif kind == 'multi_inference_log':
    signature = '+'.join(t.model_spec.signature_name for t in request.tasks)
    batch_size = _input_batch_size(request.input)
  elif request is not None:
    signature = request.model_spec.signature_name
    batch_size = _input_batch_size(request.input)
  else:
    signature, batch_size = '', 0
  return RecordKey(kind.replace('_log', ''), signature or 'serving_default', batch_size,
                   output_filter)


def summarize(records: Iterable[prediction_log_pb2.PredictionLog]) -> Dict[RecordKey, int]:
  """Record counts per (kind, signature, batch size), sorted."""
  return count_keys(record_key(r) for r in records)


def count_keys(keys: Iterable[RecordKey]) -> Dict[RecordKey, int]:
  return dict(sorted(collections.Counter(keys).items()))


def format_summary(summary: Dict[RecordKey, int], outputs_column: Optional[bool] = None) -> str:
  """A text table; the outputs column shows when asked, or when any record filters outputs."""
  if outputs_column is None:
    outputs_column = any(k.output_filter for k in summary)
  header = ('kind', 'signature', 'batch size') + (('outputs',) if outputs_column else ()) + (
      'records',)
  rows = [header] + [
      (k.kind, k.signature, str(k.batch_size)) + ((k.output_filter or 'all',) if outputs_column
                                                  else ()) + (str(n),)
      for k, n in summary.items()]
  rows.append(('total',) + ('',) * (len(header) - 2) + (str(sum(summary.values())),))
  return format_table(rows)


def format_table(rows: Sequence[Sequence[str]]) -> str:
  """Left-aligned columns, a rule under the header row."""
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  lines = ['  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
  lines.insert(1, '  '.join('-' * w for w in widths))
  return '\n'.join(lines)


def _input_batch_size(model_input) -> int:
  kind = model_input.WhichOneof('kind')
  return len(getattr(model_input, kind).examples) if kind else 0


def _predict_batch_size(request) -> int:
  for key in sorted(request.inputs):
    dims = request.inputs[key].tensor_shape.dim
    if dims:
      return dims[0].size
  return 0
