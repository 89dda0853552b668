"""Writes and reads `assets.extra/tf_serving_warmup_requests` as TF Serving reads it.

TF Serving reads the file with a plain record reader (saved_model_warmup_util.cc):
it must be an *uncompressed* TFRecord of serialized PredictionLog protos, and a
record that is not one fails the load.
"""

import os
from typing import Iterable, Iterator, List

from google.protobuf import message
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
from tfx.dsl.io import fileio

from tfx_warmup.serving.contract import MAX_RECORDS, warmup_file_path
from tfx_warmup.serving.errors import WarmupReplayError

__all__ = ['warmup_file_path', 'write_warmup_file', 'read_records', 'read_warmup_file',
           'warmup_records', 'too_many_records', 'read_error']


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


def read_warmup_file(path: str) -> List[prediction_log_pb2.PredictionLog]:
  """Every record, parsed as TF Serving parses it (uncompressed only)."""
  return list(warmup_records(path))


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
    except message.DecodeError as e:
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
