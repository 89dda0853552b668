"""The Beam sample: size, determinism, short inputs, splits and payload checks."""

import apache_beam as beam
import pytest
from apache_beam.testing import util as beam_util
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2

from tests import models
from tfx_warmup import sample
from tfx_warmup.errors import ExamplesError

RECORDS = [f'record-{i}'.encode() for i in range(500)]


def _expected_sample(records, k, seed):
  return sorted(records, key=lambda r: (sample.sample_key(r, seed), r))[:k]


def _run_sample(records, k, seed):
  with beam.Pipeline() as p:
    result = (p | beam.Create(records, reshuffle=True)
              | sample.SampleExamples(k, seed))
    beam_util.assert_that(result, beam_util.equal_to([_expected_sample(records, k, seed)]))


def test_sample_has_num_examples_in_rank_order():
  _run_sample(RECORDS, 64, seed=0)


def test_sample_is_deterministic_whatever_the_input_order():
  # The expected value is computed from the records alone, so a shuffled input
  # (reshuffle=True, reversed order) must give the identical list.
  _run_sample(list(reversed(RECORDS)), 32, seed=3)


def test_seed_changes_the_sample():
  assert _expected_sample(RECORDS, 32, 0) != _expected_sample(RECORDS, 32, 1)


def test_input_smaller_than_num_examples_is_taken_whole():
  _run_sample(RECORDS[:10], 64, seed=0)


def test_empty_input_gives_an_empty_sample():
  with beam.Pipeline() as p:
    result = p | beam.Create([], reshuffle=False).with_output_types(bytes) | (
        sample.SampleExamples(8, 0))
    beam_util.assert_that(result, beam_util.equal_to([[]]))


def test_sample_is_uniform_across_the_input():
  # Bottom-k over a keyed hash: the first and second half of the data each
  # give roughly half of a large sample.
  chosen = _expected_sample(RECORDS, 200, 0)
  first_half = sum(1 for r in chosen if int(r.split(b'-')[1]) < 250)
  assert 70 < first_half < 130


def test_read_examples_reads_every_chosen_split_gzip_and_uncompressed(tmp_path):
  for gzip in (True, False):
    artifact = models.write_examples_artifact(
        str(tmp_path / f'gzip-{gzip}'),
        {'train': RECORDS[:300], 'eval': RECORDS[300:]}, gzip=gzip, shards=3)
    with beam.Pipeline() as p:
      result = sample.read_examples(p, artifact, ['train', 'eval'])
      beam_util.assert_that(result, beam_util.equal_to(RECORDS))


def test_default_split_is_eval_when_present(tmp_path):
  artifact = models.write_examples_artifact(str(tmp_path), {'train': [], 'eval': []})
  assert sample.choose_splits(artifact, None) == ['eval']
  assert sample.choose_splits(artifact, ['train', 'eval']) == ['train', 'eval']


def test_default_splits_are_all_splits_without_eval(tmp_path):
  artifact = models.write_examples_artifact(str(tmp_path), {'a': [], 'b': []})
  assert sample.choose_splits(artifact, None) == ['a', 'b']


def test_unknown_split_names_the_available_ones(tmp_path):
  artifact = models.write_examples_artifact(str(tmp_path), {'train': []})
  with pytest.raises(ExamplesError, match=r"\['test'\] not in .*\['train'\]"):
    sample.choose_splits(artifact, ['test'])


def test_artifact_without_splits_is_a_clear_error(tmp_path):
  artifact = models.write_examples_artifact(str(tmp_path), {})
  with pytest.raises(ExamplesError, match='has no splits'):
    sample.choose_splits(artifact, None)


def test_parquet_payload_is_refused(tmp_path):
  artifact = models.write_examples_artifact(str(tmp_path), {'train': []})
  examples_utils.set_payload_format(artifact, example_gen_pb2.PayloadFormat.FORMAT_PARQUET)
  with pytest.raises(ExamplesError, match='FORMAT_PARQUET payloads'):
    sample.payload_format(artifact)
