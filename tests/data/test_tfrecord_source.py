"""The component's TFRecord source: Beam's records, and a forged length refused, not allocated."""

import gzip
import io
import resource

import apache_beam as beam
from apache_beam.testing import util as beam_util
import pytest
import tensorflow as tf

from tfx_warmup.data import tfrecord_source
from tfx_warmup.serving import framing

RECORDS = [b'first', b'', b'x' * 70_000, b'last']


def _write(path: str, records, compression: str = '') -> str:
  with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type=compression)) as w:
    for record in records:
      w.write(record)
  return path


@pytest.mark.parametrize('name,compression', [('a.tfrecord', ''), ('a.tfrecord.gz', 'GZIP')])
def test_reads_what_tensorflow_wrote(tmp_path, name, compression):
  _write(str(tmp_path / name), RECORDS, compression)
  _write(str(tmp_path / f'b-{name}'), RECORDS[:1], compression)
  with beam.Pipeline() as p:
    read = p | tfrecord_source.ReadTFRecords(str(tmp_path / '*'))
    beam_util.assert_that(read, beam_util.equal_to(RECORDS + RECORDS[:1]))


def _read_fails(path: str) -> str:
  with pytest.raises(Exception) as error:  # The runner's wrapping of the worker's ValueError.
    with beam.Pipeline() as p:
      _ = p | tfrecord_source.ReadTFRecords(path)
  return str(error.value)


FORGED = framing.header(1 << 40) + bytes(100)


def test_a_forged_length_in_an_uncompressed_shard_names_the_shard_and_the_record(tmp_path):
  good = _write(str(tmp_path / 'good'), [b'abc'])
  path = str(tmp_path / 'shard.tfrecord')
  with open(good, 'rb') as f, open(path, 'wb') as out:
    out.write(f.read() + FORGED)
  message = _read_fails(path)
  assert (f'Not a valid TFRecord. {path}: record 1 (at byte 19) claims 1,099,511,627,776 bytes '
          '(1.0 TiB), but the file holds 131 bytes') in message


def test_a_forged_length_in_a_gzip_shard_is_capped_at_what_protobuf_parses(tmp_path):
  path = str(tmp_path / 'shard.gz')
  with open(path, 'wb') as f:
    f.write(gzip.compress(FORGED))
  assert (f'Not a valid TFRecord. {path}: record 0 (at byte 0) claims 1,099,511,627,776 bytes '
          '(1.0 TiB), more than protobuf can parse as one tf.Example (2 GiB)') in _read_fails(path)


def test_a_gzip_record_shorter_than_its_claim_is_read_in_chunks_not_allocated():
  claim = 1 << 30  # Under the cap: read chunk by chunk until the stream ends.
  stream = io.BytesIO(framing.header(claim) + bytes(1000))
  before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  with pytest.raises(ValueError, match=r'record 0 \(at byte 0\) claims 1,073,741,824 bytes '
                                       r'\(1\.0 GiB\), but the shard ends before them'):
    tfrecord_source.read_record(stream, 'shard.gz', 0, 0, None)
  grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
  assert grown_kb < 2 * tfrecord_source.CHUNK_BYTES // 1024  # Not the claimed GiB.


@pytest.mark.parametrize('damage,expected', [
    (lambda d: d[:5], 'is cut short: 5 of its 12 header bytes'),
    (lambda d: bytes([d[0] ^ 1]) + d[1:], 'Mismatch of length mask'),
    (lambda d: d[:-1] + bytes([d[-1] ^ 1]), 'Mismatch of data mask'),
])
def test_damage_is_named_as_beams_reader_names_it(tmp_path, damage, expected):
  good = _write(str(tmp_path / 'good'), [b'abc'])
  with open(good, 'rb') as f:
    data = damage(f.read())
  with pytest.raises(ValueError, match=expected) as error:
    tfrecord_source.read_record(io.BytesIO(data), 'shard', 0, 0, len(data))
  assert str(error.value).startswith(tfrecord_source.INVALID)
