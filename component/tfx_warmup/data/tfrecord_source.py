"""Reads TFRecord shards in Beam, checking each record's length before reading it.

Beam's own TFRecord reader trusts a header's length: given one with a valid CRC
and a length of 2^40 (a forged or damaged shard) it asks for a terabyte and dies
of MemoryError deep inside a worker. This source reads the same framing (the
format is in `serving.framing`) with two guards that cost a comparison per record:

- an uncompressed shard's size is known, so a length that runs past its end is
  refused before anything is read;
- a gzip shard is a stream of unknown length, so a record is read in chunks of
  at most `CHUNK_BYTES` (memory follows the bytes that exist, not the claim) and
  never past `MAX_RECORD_BYTES`, the most protobuf can parse as one tf.Example.

Its errors start "Not a valid TFRecord", as Beam's do, and name the shard and the
record's offset; `data.examples.reading_errors` turns them into the user's error
on any runner.
"""

from typing import BinaryIO, Iterator, Optional

import apache_beam as beam
from apache_beam.io import filebasedsource
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tfx_warmup.serving import framing

CHUNK_BYTES = 16 << 20
MAX_RECORD_BYTES = (2 << 30) - 1  # protobuf's limit on one serialized message
_RECORD_OVERHEAD = framing.HEADER_BYTES + framing.FOOTER_BYTES
INVALID = 'Not a valid TFRecord'  # What Beam's reader says; reading_errors matches it.


class ReadTFRecords(beam.PTransform):
  """The serialized records of every file `pattern` matches; '.gz' files are GZIP."""

  def __init__(self, pattern: str):
    super().__init__()
    self._pattern = pattern

  def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
    return pbegin | beam.io.Read(_TFRecordSource(self._pattern))


class _TFRecordSource(filebasedsource.FileBasedSource):
  """One unsplittable range per file, as Beam's TFRecord source."""

  def __init__(self, pattern: str):
    super().__init__(pattern, compression_type=CompressionTypes.AUTO, splittable=False,
                     validate=False)

  def read_records(self, file_name: str, offset_range_tracker) -> Iterator[bytes]:
    compressed = (CompressionTypes.detect_compression_type(file_name)
                  != CompressionTypes.UNCOMPRESSED)
    size = None if compressed else (
        FileSystems.match([file_name])[0].metadata_list[0].size_in_bytes)
    offset, index = 0, 0
    with self.open_file(file_name) as f:
      while True:
        if not offset_range_tracker.try_claim(offset):
          raise RuntimeError(f'Unable to claim position: {offset}')
        record = read_record(f, file_name, index, offset, size)
        if record is None:
          return
        offset += _RECORD_OVERHEAD + len(record)
        index += 1
        yield record


def read_record(f: BinaryIO, name: str, index: int, offset: int,
                size: Optional[int]) -> Optional[bytes]:
  """The next record of `f` (at `offset`; `size` the file's, if known); None at the end.

  Raises ValueError naming `name` and the record before reading a length the
  file cannot hold.
  """
  header = f.read(framing.HEADER_BYTES)
  if not header:
    return None
  where = f'{name}: record {index} (at byte {offset:,})'
  if len(header) < framing.HEADER_BYTES:
    raise ValueError(f'{INVALID}. {where} is cut short: {len(header)} of its '
                     f'{framing.HEADER_BYTES} header bytes')
  length = framing.record_length(header)
  if length < 0:
    raise ValueError(f'{INVALID}. Mismatch of length mask: {where}')
  if size is not None and offset + _RECORD_OVERHEAD + length > size:
    overrun = framing.Overrun(index, offset, length, size)
    raise ValueError(f'{INVALID}. {name}: {overrun.describe()}')
  if length > MAX_RECORD_BYTES:
    raise ValueError(f'{INVALID}. {where} claims {framing.size_text(length)}, more than '
                     'protobuf can parse as one tf.Example (2 GiB)')
  body = _read_exactly(f, length + framing.FOOTER_BYTES)
  if body is None:
    raise ValueError(f'{INVALID}. {where} claims {framing.size_text(length)}, but the '
                     'shard ends before them')
  data, crc = body[:length], body[length:]
  if framing.masked_crc32c(data) != int.from_bytes(crc, 'little'):
    raise ValueError(f'{INVALID}. Mismatch of data mask: {where}')
  return data


def _read_exactly(f: BinaryIO, count: int) -> Optional[bytes]:
  """`count` bytes of `f`, read in chunks so memory follows what exists; None if fewer."""
  data = f.read(min(count, CHUNK_BYTES))
  if len(data) == count:  # Nearly every record: one read.
    return data
  chunks, left = [data], count - len(data)
  while left:
    chunk = f.read(min(left, CHUNK_BYTES))
    if not chunk:
      return None
    chunks.append(chunk)
    left -= len(chunk)
  return b''.join(chunks)
