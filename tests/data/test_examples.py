"""Reading examples: split choice, payload format, every form of path, each shard of each split."""

import os

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.testing import util as beam_util
from tfx.proto import example_gen_pb2

from tests import models
from tfx_warmup.component import artifacts
from tfx_warmup.data import examples as examples_io
from tfx_warmup.errors import ExamplesError

RECORDS = [f'record-{i}'.encode() for i in range(500)]


def _read_all(p, source, splits):
  return tuple(examples_io.read_splits(p, source, splits).values()) | beam.Flatten()


def test_read_splits_reads_every_chosen_split_gzip_and_uncompressed(tmp_path):
  for gzip in (True, False):
    source = artifacts.examples_source(models.write_examples_artifact(
        str(tmp_path / f'gzip-{gzip}'),
        {'train': RECORDS[:300], 'eval': RECORDS[300:]}, gzip=gzip, shards=3))
    with beam.Pipeline() as p:
      beam_util.assert_that(_read_all(p, source, ['train', 'eval']),
                            beam_util.equal_to(RECORDS))


def _source(*splits):
  return examples_io.ExamplesSource('/data', {s: f'/data/{s}/*' for s in splits})


def test_default_split_is_eval_when_present():
  assert _source('train', 'eval').choose_splits(None) == ['eval']
  assert _source('train', 'eval').choose_splits(['train', 'eval']) == ['train', 'eval']


def test_default_splits_are_all_splits_without_eval():
  assert _source('a', 'b').choose_splits(None) == ['a', 'b']


def test_unknown_split_names_the_available_ones():
  with pytest.raises(ExamplesError, match=r"\['test'\] not in .*\['train'\]"):
    _source('train').choose_splits(['test'])


def test_examples_without_splits_are_a_clear_error():
  with pytest.raises(ExamplesError, match='has no splits'):
    _source().choose_splits(None)


def test_parquet_payload_is_refused():
  with pytest.raises(ExamplesError, match='FORMAT_PARQUET payloads'):
    examples_io.ExamplesSource('/data', {'train': '/data/*'},
                               example_gen_pb2.PayloadFormat.FORMAT_PARQUET)


def test_the_sample_round_trips_in_order(tmp_path):
  path = str(tmp_path / 'scratch' / 'sample.tfrecord')
  with beam.Pipeline() as p:
    _ = p | beam.Create([RECORDS[::-1]]) | examples_io.WriteSample(path)
  assert examples_io.read_sample(path) == RECORDS[::-1]


@pytest.mark.parametrize('runner_text', [
    'Not a valid TFRecord: corrupted record at 12',  # in-process runner: the reader's own error
    'Traceback (most recent call last):\n  File "worker.py" ...\n'
    'OSError: Error -3 while decompressing data: invalid block type [while running '
    "'ReadExamples[eval]']",  # a worker process's traceback, re-raised as text
])
def test_corrupt_shard_is_recognised_from_any_runners_text(runner_text):
  with pytest.raises(ExamplesError, match='is corrupt or truncated') as raised:
    with examples_io.reading_errors(_source('eval'), ['eval']):
      raise RuntimeError(runner_text)
  assert 'Traceback' not in str(raised.value)


def test_other_runner_errors_pass_through():
  with pytest.raises(RuntimeError, match='out of memory'):
    with examples_io.reading_errors(_source('eval'), ['eval']):
      raise RuntimeError('worker out of memory')


# -- --examples: every form a user has names the same records ------------------------


def _assert_reads(source, splits, expected) -> None:
  with beam.Pipeline() as p:
    beam_util.assert_that(_read_all(p, source, splits), beam_util.equal_to(list(expected)))


@pytest.fixture
def artifact_dir(tmp_path):
  """An ExampleGen output: Split-train (GZIP, 2 shards) and Split-eval (GZIP)."""
  models.write_examples_artifact(str(tmp_path / 'examples'),
                                 {'train': RECORDS[:300], 'eval': RECORDS[300:]}, shards=2)
  return tmp_path / 'examples'


@pytest.mark.parametrize('form, path, records, splits', [
    ('Examples artifact', '.', RECORDS[300:], ['eval']),  # 'eval' chosen, as the component does
    ('Split-train directory', 'Split-train', RECORDS[:300], ['train']),
    ('Split-train directory', 'Split-train/', RECORDS[:300], ['train']),
    ('glob', 'Split-*/*-00000-*', RECORDS[:300:2] + RECORDS[300::2], ['examples']),
    ('TFRecord file', 'Split-eval/data_tfrecord-00001-of-00002.gz', RECORDS[301::2],
     ['examples']),
])
def test_resolve_examples_names_the_form_and_reads_its_records(artifact_dir, form, path,
                                                                records, splits):
  found = examples_io.resolve_examples(str(artifact_dir / path))
  assert found.form == form
  chosen = found.choose_splits(None)
  assert chosen == splits
  _assert_reads(found, chosen, records)


def test_a_directory_of_plain_and_gzip_files_is_read_whole(tmp_path):
  """'.gz' is GZIP, any other name uncompressed, as ExampleGen and the glob form read them."""
  for name, compression, part in (('a.tfrecord', '', RECORDS[:10]),
                                   ('b.tfrecord.gz', 'GZIP', RECORDS[10:25])):
    with tf.io.TFRecordWriter(str(tmp_path / name),
                              tf.io.TFRecordOptions(compression_type=compression)) as w:
      for record in part:
        w.write(record)
  found = examples_io.resolve_examples(str(tmp_path))
  assert found.form == 'directory'  # Not 'of TFRecord files': it may hold CSV (cli messages).
  _assert_reads(found, found.choose_splits(None), RECORDS[:25])


@pytest.mark.tfx116  # the tfx wheel's test data
def test_tfx_shipped_example_gen_outputs_resolve_as_the_component_reads_them():
  root = models.tfx_testdata('csv_example_gen')
  found = examples_io.resolve_examples(root)
  # Split-train and Split-eval; its 'unlabelled' directory is not a split.
  assert (found.form, found.splits) == ('Examples artifact', ['eval', 'train'])
  assert found.choose_splits(None) == ['eval']
  split = examples_io.resolve_examples(os.path.join(root, 'Split-eval'))
  assert (split.form, split.patterns) == ('Split-eval directory',
                                          {'eval': os.path.join(root, 'Split-eval', '*')})
  penguin = examples_io.resolve_examples(models.tfx_testdata('penguin', 'data'))
  assert penguin.choose_splits(None) == ['eval']
  with beam.Pipeline() as p:
    count = _read_all(p, split, ['eval']) | beam.combiners.Count.Globally()
    beam_util.assert_that(count, lambda n: _assert_positive(n[0]))


def _assert_positive(n: int) -> None:
  assert n > 0, n


@pytest.mark.parametrize('layout, message', [
    ('nothing', 'Nothing at --examples'),
    ('nothing-*.gz', 'No files match --examples'),
    ('empty/', 'a directory holding no files'),
    ('dirs_only/sub/', r"only directories: \['sub'\]"),
    ('mixed/sub/', r"holds directories \['sub'\] beside its files"),
])
def test_a_path_matching_nothing_names_the_accepted_forms(tmp_path, layout, message):
  target = tmp_path / layout.rstrip('/')
  if layout.endswith('/'):
    target.mkdir(parents=True)
  if layout.startswith('mixed'):
    (tmp_path / 'mixed' / 'data.tfrecord').write_bytes(b'')
  path = str(tmp_path / layout.split('/')[0])
  with pytest.raises(ExamplesError, match=message) as raised:
    examples_io.resolve_examples(path)
  if not layout.startswith('mixed'):
    assert 'a Split-<name> directory, or an Examples artifact' in str(raised.value)
