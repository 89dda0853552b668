"""Writes and reads `assets.extra/tf_serving_warmup_requests` as TF Serving reads it.

TF Serving reads the file with a plain record reader (saved_model_warmup_util.cc):
it must be an *uncompressed* TFRecord of serialized PredictionLog protos, and a
record that is not one fails the load.
"""

import errno
import io
import os
import zlib
from typing import Iterable, Iterator, List

from google.protobuf import message
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.serving.contract import MAX_RECORDS, warmup_file_path
from tfx_warmup.serving import framing
from tfx_warmup.serving.errors import WarmupReplayError, one_line

__all__ = ['warmup_file_path', 'write_warmup_file', 'read_records', 'read_warmup_file',
           'warmup_records', 'too_many_records', 'read_error', 'check_file']


def write_warmup_file(path: str,
                      records: Iterable[prediction_log_pb2.PredictionLog]) -> int:
  """Writes `records` uncompressed, in order; returns how many were written."""
  tf.io.gfile.makedirs(os.path.dirname(path))
  count = 0
  with tf.io.TFRecordWriter(path) as writer:  # No options: uncompressed.
    for record in records:
      # Deterministic: request inputs are protobuf maps.
      writer.write(record.SerializeToString(deterministic=True))
      count += 1
  return count


def read_records(path: str) -> Iterator[bytes]:
  """Raw records of an uncompressed TFRecord; DataLossError where TF Serving's reader fails.

  The file is checked first (`check_file`): TensorFlow's reader must never see a
  directory, or a record whose header claims more than the file holds.
  """
  check_file(path)
  for record in tf.data.TFRecordDataset(path):
    yield record.numpy()


# Read whole to check the framing up to this size; larger files are checked by seeking.
_IN_MEMORY_BYTES = 64 << 20


def check_file(path: str) -> None:
  """Raises WarmupReplayError for a file TF Serving's record reader must not be given.

  A directory fails TF Serving's load. A record header with a valid CRC and a
  length beyond the file's end (forged, or a damaged file) makes TensorFlow's C++
  reader allocate that length first: a length of 2^40 crashes the reading process,
  here and in TF Serving. Only the first MAX_RECORDS + 1 headers matter: TF Serving
  stops reading there. No file at `path` is a FileNotFoundError.
  """
  if tf.io.gfile.isdir(path):
    raise WarmupReplayError(
        f'FAILED_PRECONDITION: {path} is a directory; TF Serving reads the warmup file as a '
        'file and fails the load. Remove the directory, or write the warmup records there '
        'as one uncompressed TFRecord file (tfx-warmup generate does).', 'FAILED_PRECONDITION')
  try:
    size = tf.io.gfile.stat(path).length
  except tf.errors.NotFoundError as e:  # No file: an OSError, as Python's open raises.
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path) from e
  with tf.io.gfile.GFile(path, 'rb') as f:
    source = io.BytesIO(f.read()) if size <= _IN_MEMORY_BYTES else f
    overrun = framing.first_overrun(source, size, MAX_RECORDS + 1)
  if overrun is not None:
    raise WarmupReplayError(
        f'DATA_LOSS: Warmup {overrun.describe()}: the file is damaged or forged. TF Serving '
        'would refuse (or crash on) this file: its record reader allocates the claimed '
        'length before checking that the file holds it.', 'DATA_LOSS', overrun.record)


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
          f'DATA_LOSS: {one_line(e.message)}. Please verify your warmup data is in '
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


_COMPRESSIONS = (('GZIP', 16 + zlib.MAX_WBITS), ('ZLIB', zlib.MAX_WBITS))
_HEAD_BYTES = 64 << 10


def read_error(path: str, error: WarmupReplayError) -> str:
  """The reader's error (without its status name), naming the compression when that is
  the cause. The compression is told in Python, from the first bytes decompressed:
  TensorFlow's reader never sees a stream whose headers were not checked."""
  message = str(error)
  message = message[len(error.code) + 2:] if message.startswith(f'{error.code}: ') else message
  if tf.io.gfile.isdir(path):
    return message
  with tf.io.gfile.GFile(path, 'rb') as f:
    head = f.read(_HEAD_BYTES)
  for compression, wbits in _COMPRESSIONS:
    try:
      content = zlib.decompressobj(wbits).decompress(head, framing.HEADER_BYTES)
    except zlib.error:
      continue
    if not content or framing.record_length(content) >= 0:
      return (f'The file is {compression}-compressed; TF Serving reads only uncompressed '
              'TFRecords. Rewrite it uncompressed (tfx-warmup generate does).')
  return message
