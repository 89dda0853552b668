"""TF Serving batching parameters: which batch sizes the server executes, hence warms."""

import os

import pytest

from tests import models
from tfx_warmup.serving import batching_config as batching
from tfx_warmup import serving
from tfx_warmup.serving.errors import ServingConfigError

# As passed to tensorflow_model_server --batching_parameters_file.
BATCHING_FILE = """
max_batch_size { value: 32 }
batch_timeout_micros { value: 1000 }
max_enqueued_batches { value: 100 }
num_batch_threads { value: 4 }
allowed_batch_sizes: 4
allowed_batch_sizes: 16
allowed_batch_sizes: 32
pad_variable_length_inputs: true
enable_large_batch_splitting { value: true }
"""


def test_allowed_batch_sizes_are_warmed():
  assert batching.config_from_text(BATCHING_FILE).warmed_batch_sizes() == [4, 16, 32]


def test_powers_of_two_up_to_max_batch_size_without_allowed_sizes():
  assert batching.config_from_text('max_batch_size { value: 100 }').warmed_batch_sizes() == [
      1, 2, 4, 8, 16, 32, 64, 100]
  assert batching.config_from_text('max_batch_size { value: 1 }').warmed_batch_sizes() == [1]


@pytest.mark.parametrize('text,message', [
    ('max_batch_size: 32', r'not a valid TF Serving BatchingParameters .*Expected "\{"'),
    ('allowed_batch_size: 4', 'has no field named "allowed_batch_size"'),
    ('batch_timeout_micros { value: 5 }', 'no allowed_batch_sizes and no positive max_batch_size'),
    ('max_batch_size { value: 4 } allowed_batch_sizes: 8 allowed_batch_sizes: 4',
     'must be positive and increasing'),
    ('max_batch_size { value: 64 } allowed_batch_sizes: 8 allowed_batch_sizes: 32',
     r'Last entry in allowed_batch_sizes must match max_batch_size; last entry was 32; '
     'expected 64'),
    ('allowed_batch_sizes: 8 allowed_batch_sizes: 32',
     'last entry was 32; expected 1000.* max_batch_size \\(1000 when unset\\)'),
])
def test_malformed_files_are_clear_errors(text, message):
  with pytest.raises(ServingConfigError, match=message):
    batching.config_from_text(text, 'batching.txt').warmed_batch_sizes()


def test_missing_file_is_a_clear_error(tmp_path):
  with pytest.raises(ServingConfigError, match='does not exist'):
    batching.config_from_file(str(tmp_path / 'nope.txt'))


def test_executor_warms_exactly_the_batching_sizes(tf1_model_dir, examples, tmp_path):
  path = tmp_path / 'batching.txt'
  path.write_text(BATCHING_FILE)
  artifact = models.write_examples_artifact(
      str(tmp_path / 'examples'), {'eval': [e.SerializeToString() for e in examples[:64]]})
  warmed = models.run_executor(os.path.dirname(tf1_model_dir), artifact, str(tmp_path / 'out'),
                               batching_parameters_file=str(path), signature_names=['regress'])
  result = serving.replay_warmup(os.path.join(warmed.uri, 'Format-Serving'))
  assert sorted({k.batch_size for k in result.summary}) == [4, 16, 32]
