"""TFX artifacts in the library's terms: the files of each split, the payload, the SavedModel."""

import os

import pytest
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2

from tests import models
from tfx_warmup import compat
from tfx_warmup.component import artifacts
from tfx_warmup.errors import ExamplesError


def test_split_directories_become_one_pattern_each(tmp_path):
  artifact = models.write_examples_artifact(str(tmp_path), {'train': [b'a'], 'eval': [b'b']})
  source = artifacts.examples_source(artifact)
  assert source.patterns == {'train': os.path.join(str(tmp_path), 'Split-train', '*'),
                             'eval': os.path.join(str(tmp_path), 'Split-eval', '*')}
  assert source.described == f'the Examples artifact at {tmp_path}'
  assert source.choose_splits(None) == ['eval']


def test_custom_split_patterns_are_read_as_tfx_reads_them(tmp_path):
  artifact = models.write_examples_artifact(str(tmp_path), {})
  compat.set_custom_split_patterns(artifact, {'live': 'files/live-*.gz'})
  assert artifacts.examples_source(artifact).patterns == {
      'live': os.path.join(str(tmp_path), 'files/live-*.gz')}


def test_the_payload_format_travels_and_parquet_is_refused(tmp_path):
  artifact = models.write_examples_artifact(str(tmp_path), {'train': []})
  examples_utils.set_payload_format(
      artifact, example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE)
  assert artifacts.examples_source(artifact).payload_format == (
      example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE)
  examples_utils.set_payload_format(artifact, example_gen_pb2.PayloadFormat.FORMAT_PARQUET)
  with pytest.raises(ExamplesError, match='FORMAT_PARQUET payloads'):
    artifacts.examples_source(artifact)


def test_the_saved_model_of_a_model_artifact(tf1_model_dir):
  root = os.path.dirname(tf1_model_dir)  # <root>/Format-Serving
  assert artifacts.saved_model_dir(models.model_artifact(root)) == tf1_model_dir
