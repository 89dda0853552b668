"""TFRecord framing, read as TensorFlow writes it, and a forged length found before TF reads it."""

import io

import pytest
import tensorflow as tf

from tfx_warmup.serving import framing


def _tf_written(tmp_path, records) -> bytes:
  path = str(tmp_path / 'records')
  with tf.io.TFRecordWriter(path) as writer:
    for record in records:
      writer.write(record)
  with open(path, 'rb') as f:
    return f.read()


def test_headers_are_tensorflows(tmp_path):
  data = _tf_written(tmp_path, [b'abc', b'x' * 1000])
  assert data[:framing.HEADER_BYTES] == framing.header(3)
  assert framing.record_length(data[:framing.HEADER_BYTES]) == 3
  second = framing.HEADER_BYTES + 3 + framing.FOOTER_BYTES
  assert framing.record_length(data[second:second + framing.HEADER_BYTES]) == 1000
  assert data[framing.HEADER_BYTES + 3:second] == (
      framing.masked_crc32c(b'abc').to_bytes(4, 'little'))


def test_a_header_whose_crc_does_not_match_is_not_one():
  forged = bytearray(framing.header(5))
  forged[0] ^= 1
  assert framing.record_length(bytes(forged)) == -1
  assert framing.record_length(b'short') == -1


def _scan(data: bytes, most: int = 1001):
  return framing.first_overrun(io.BytesIO(data), len(data), most)


def test_a_forged_length_is_found_where_it_is(tmp_path):
  good = _tf_written(tmp_path, [b'abc', b'defg'])
  overrun = _scan(good + framing.header(1 << 40) + bytes(100))
  assert overrun == framing.Overrun(2, len(good), 1 << 40, len(good) + 112)
  assert overrun.describe() == (f'record 2 (at byte {len(good)}) claims 1,099,511,627,776 '
                                f'bytes (1.0 TiB), but the file holds {len(good) + 112} bytes')


def test_whole_files_and_what_tensorflow_reports_itself_pass(tmp_path):
  good = _tf_written(tmp_path, [b'abc', b'defg'])
  assert _scan(good) is None
  assert _scan(b'') is None
  assert _scan(good + b'\x01\x02') is None  # A cut header: TF says "truncated record".
  assert _scan(bytes(range(40))) is None  # No header at all: TF says "corrupted record".


def test_a_truncated_last_record_is_an_overrun(tmp_path):
  good = _tf_written(tmp_path, [b'abc', b'defg'])
  assert _scan(good[:-2]).record == 1


def test_only_the_headers_tf_serving_reads_are_scanned(tmp_path):
  many = _tf_written(tmp_path, [b'r'] * 5) + framing.header(1 << 40)
  assert _scan(many, most=5) is None
  assert _scan(many, most=6).record == 5


@pytest.mark.parametrize('length,text', [
    (1, '1 byte'), (112, '112 bytes'), (3 << 20, '3,145,728 bytes (3.0 MiB)'),
    (3 << 30, '3,221,225,472 bytes (3.0 GiB)'), (1 << 40, '1,099,511,627,776 bytes (1.0 TiB)'),
])
def test_sizes_are_said_in_bytes_and_in_units(length, text):
  assert framing.size_text(length) == text
