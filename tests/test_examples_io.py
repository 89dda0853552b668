"""Reading an Examples artifact: split choice, payload format, every shard of every split."""

import apache_beam as beam
import pytest
from apache_beam.testing import util as beam_util
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2

from tests import models
from tfx_warmup import examples_io
from tfx_warmup.errors import ExamplesError

RECORDS = [f'record-{i}'.encode() for i in range(500)]


def test_read_examples_reads_every_chosen_split_gzip_and_uncompressed(tmp_path):
  for gzip in (True, False):
    artifact = models.write_examples_artifact(
        str(tmp_path / f'gzip-{gzip}'),
        {'train': RECORDS[:300], 'eval': RECORDS[300:]}, gzip=gzip, shards=3)
    with beam.Pipeline() as p:
      result = examples_io.read_examples(p, artifact, ['train', 'eval'])
      beam_util.assert_that(result, beam_util.equal_to(RECORDS))


def test_default_split_is_eval_when_present(tmp_path):
  artifact = models.write_examples_artifact(str(tmp_path), {'train': [], 'eval': []})
  assert examples_io.choose_splits(artifact, None) == ['eval']
  assert examples_io.choose_splits(artifact, ['train', 'eval']) == ['train', 'eval']


def test_default_splits_are_all_splits_without_eval(tmp_path):
  artifact = models.write_examples_artifact(str(tmp_path), {'a': [], 'b': []})
  assert examples_io.choose_splits(artifact, None) == ['a', 'b']


def test_unknown_split_names_the_available_ones(tmp_path):
  artifact = models.write_examples_artifact(str(tmp_path), {'train': []})
  with pytest.raises(ExamplesError, match=r"\['test'\] not in .*\['train'\]"):
    examples_io.choose_splits(artifact, ['test'])


def test_artifact_without_splits_is_a_clear_error(tmp_path):
  artifact = models.write_examples_artifact(str(tmp_path), {})
  with pytest.raises(ExamplesError, match='has no splits'):
    examples_io.choose_splits(artifact, None)


def test_parquet_payload_is_refused(tmp_path):
  artifact = models.write_examples_artifact(str(tmp_path), {'train': []})
  examples_utils.set_payload_format(artifact, example_gen_pb2.PayloadFormat.FORMAT_PARQUET)
  with pytest.raises(ExamplesError, match='FORMAT_PARQUET payloads'):
    examples_io.payload_format(artifact)


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
def test_corrupt_shard_is_recognised_from_any_runners_text(tmp_path, runner_text):
  artifact = models.write_examples_artifact(str(tmp_path), {'eval': []})
  with pytest.raises(ExamplesError, match='is corrupt or truncated') as raised:
    with examples_io.reading_errors(artifact, ['eval']):
      raise RuntimeError(runner_text)
  assert 'Traceback' not in str(raised.value)


def test_other_runner_errors_pass_through(tmp_path):
  artifact = models.write_examples_artifact(str(tmp_path), {'eval': []})
  with pytest.raises(RuntimeError, match='out of memory'):
    with examples_io.reading_errors(artifact, ['eval']):
      raise RuntimeError('worker out of memory')
