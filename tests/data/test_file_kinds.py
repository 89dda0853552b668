"""A file that is not TFRecords is named for what it is, with the ExampleGen that reads it."""

import gzip
import io

import fastavro
import pyarrow
import pyarrow.parquet
import pytest
import tensorflow as tf

from tfx_warmup.data import file_kinds

CSV = b'trip_miles,fare,company\n1.5,7.25,Flash Cab\n'


def _parquet() -> bytes:
  out = io.BytesIO()
  pyarrow.parquet.write_table(pyarrow.table({'fare': [7.25, 3.5]}), out)
  return out.getvalue()


def _avro() -> bytes:
  out = io.BytesIO()
  schema = {'type': 'record', 'name': 'Trip', 'fields': [{'name': 'fare', 'type': 'double'}]}
  fastavro.writer(out, schema, [{'fare': 7.25}])
  return out.getvalue()


def _tfrecord(tmp_path) -> bytes:
  path = str(tmp_path / 'records')
  with tf.io.TFRecordWriter(path) as writer:
    writer.write(tf.train.Example().SerializeToString())
  with open(path, 'rb') as f:
    return f.read()


@pytest.mark.parametrize('name,head,kind,fix', [
    ('data.csv', CSV, 'a CSV file', "Run CsvExampleGen(input_base='/in') on it"),
    ('data.tsv', b'\xef\xbb\xbfa\tb\n1\t2\n', 'a CSV file', 'CsvExampleGen'),
    ('data.parquet', _parquet(), 'a Parquet file', 'parquet_executor'),
    ('data.avro', _avro(), 'an Avro file', 'avro_executor'),
    ('rows.json', b'  {"fare": 7.25}\n{"fare": 3.5}\n', 'a JSON file',
     'TFX has no ExampleGen for JSON'),
    ('rows.json', b'[{"fare": 7.25}]', 'a JSON file', 'CsvExampleGen'),
    ('notes.txt', b'hello world\nand more\n', 'a text file', 'ImportExampleGen reads TFRecords'),
    ('data.csv.gz', gzip.compress(CSV, mtime=0), 'a gzip file holding CSV', 'CsvExampleGen'),
    ('data.gz', gzip.compress(_parquet()), 'a gzip file holding Parquet', 'parquet_executor'),
    # Named, not by their bytes: Avro's sync marker and gzip's time differ between xdist
    # workers, which must collect the same tests.
], ids=['csv', 'tsv', 'parquet', 'avro', 'json-lines', 'json-array', 'text', 'csv-gzip',
        'parquet-gzip'])
def test_other_kinds_are_named_with_the_example_gen_that_reads_them(name, head, kind, fix):
  found = file_kinds.identify(f'/in/{name}', head)
  assert found.kind == f'{kind}, not TFRecords of tf.Examples'
  assert fix in found.fix
  assert found.describe().startswith(f'/in/{name} is {kind}, not TFRecords of tf.Examples. ')


def test_tfrecords_are_not_foreign_however_they_are_compressed(tmp_path):
  records = _tfrecord(tmp_path)
  assert file_kinds.identify('/in/data.tfrecord', records) is None
  assert file_kinds.identify('/in/data.tfrecord.gz', gzip.compress(records)) is None
  assert file_kinds.identify('/in/empty', b'') is None


def test_a_suffix_that_lies_about_the_compression_is_named(tmp_path):
  records = _tfrecord(tmp_path)
  assert 'rename it to end in .gz' in file_kinds.identify('/in/data', gzip.compress(records)).fix
  assert 'rename it without .gz' in file_kinds.identify('/in/data.gz', records).fix


def test_unknown_binary_and_damaged_gzip_are_left_to_the_readers_message():
  assert file_kinds.identify('/in/x', bytes(range(256)) * 4) is None
  assert file_kinds.identify('/in/x.gz', b'\x1f\x8b' + b'\x00' * 30) is None
  assert file_kinds.identify('/in/x.gz', b'x' * 50) is None  # No lines: a damaged shard.


def test_the_first_foreign_file_among_many_is_found(tmp_path):
  good = tmp_path / 'a.tfrecord'
  good.write_bytes(_tfrecord(tmp_path))
  bad = tmp_path / 'b.csv'
  bad.write_bytes(CSV)
  found = file_kinds.first_foreign([str(good), str(tmp_path / 'gone'), str(bad)])
  assert found.path == str(bad)
  assert file_kinds.first_foreign([str(good)]) is None
