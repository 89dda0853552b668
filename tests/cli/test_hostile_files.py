"""Hostile and odd files (issue 22), through the installed command.

A model's warmup file may come from anywhere. A record header with a valid CRC
and a length of 2^40 crashed `inspect` and `verify` (segmentation fault inside
TensorFlow's reader); each case here is one line, a non-zero exit, no
traceback, and nothing left behind.
"""

import gzip
import os
import shutil

import pytest

from tests.cli.command import run
from tests.cli.test_cli import _one_line_error
from tfx_warmup.serving import framing
from tfx_warmup.serving import warmup_file

pytestmark = pytest.mark.e2e

FORGED = framing.header(1 << 40) + bytes(100)  # 2^40 with a valid CRC, then 100 zero bytes
FORGED_LINE = ('claims 1,099,511,627,776 bytes (1.0 TiB), but the file holds 112 bytes: the file '
               'is damaged or forged. TF Serving would refuse (or crash on) this file')


def _model_with_warmup(tmp_path, source: str, name: str, data: bytes = None) -> str:
  model = str(tmp_path / name)
  shutil.copytree(source, model)
  path = warmup_file.warmup_file_path(model)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if data is None:
    os.makedirs(path)  # A directory where the file should be.
  else:
    with open(path, 'wb') as f:
      f.write(data)
  return model


def _no_traceback_and_one(proc, text: str) -> str:
  assert proc.returncode == 1, proc.stderr
  assert 'Traceback' not in proc.stderr + proc.stdout
  lines = [line for line in (proc.stdout + proc.stderr).splitlines() if text in line]
  assert len(lines) == 1, proc.stdout + proc.stderr
  return lines[0]


def test_inspect_of_a_forged_length_is_one_line_not_a_crash(tmp_path, tf1_model_dir):
  model = _model_with_warmup(tmp_path, tf1_model_dir, 'forged', FORGED)
  line = _no_traceback_and_one(run('inspect', model), FORGED_LINE)
  assert line.strip().startswith('record 0: DATA_LOSS: Warmup record 0 (at byte 0) claims')


def test_verify_of_a_forged_length_is_one_line_not_a_crash(tmp_path, tf1_model_dir):
  model = _model_with_warmup(tmp_path, tf1_model_dir, 'forged', FORGED)
  line = _no_traceback_and_one(run('verify', model), FORGED_LINE)
  assert line.startswith('tfx-warmup verify: FAILED: DATA_LOSS: Warmup record 0')


@pytest.mark.parametrize('mode', ['keep', 'merge'])
def test_existing_warmup_of_a_forged_file_fails_before_any_sampling(tmp_path, tf1_model_dir,
                                                                    mode):
  model = _model_with_warmup(tmp_path, tf1_model_dir, 'forged', FORGED)
  # The examples are forged too: the warmup file's error, not theirs, proves it came first.
  examples = tmp_path / 'examples.tfrecord'
  examples.write_bytes(FORGED)
  output = tmp_path / 'out'
  line = _one_line_error(run('generate', '--model', model, '--examples', str(examples),
                             '--output', str(output), '--existing-warmup', mode), 'generate')
  assert (f"--existing-warmup {mode}, but the input model's warmup file cannot be loaded by TF "
          f'Serving: DATA_LOSS: Warmup record 0 (at byte 0) {FORGED_LINE}') in line
  assert not output.exists() and not [p for p in os.listdir(tmp_path) if p.startswith('out.')]


@pytest.mark.parametrize('name,data,said', [
    ('shard.tfrecord', FORGED, 'claims 1,099,511,627,776 bytes (1.0 TiB), but the file holds '
                               '112 bytes'),
    ('shard.tfrecord.gz', None, 'claims 1,099,511,627,776 bytes (1.0 TiB), more than protobuf '
                                'can parse as one tf.Example (2 GiB)'),
])
def test_a_forged_examples_shard_names_the_shard_and_the_record(tmp_path, tf1_model_dir, name,
                                                                data, said):
  shard = tmp_path / 'examples' / name
  shard.parent.mkdir()
  shard.write_bytes(gzip.compress(FORGED) if data is None else data)
  output = tmp_path / 'out'
  temp = tmp_path / 'tmp'
  temp.mkdir()
  proc = run('generate', '--model', tf1_model_dir, '--examples', str(shard), '--output',
             str(output), env={**os.environ, 'TMPDIR': str(temp)})
  line = _one_line_error(proc, 'generate')
  assert 'MemoryError' not in line
  assert f'(Not a valid TFRecord. {shard}: record 0 (at byte 0) {said})' in line
  assert not output.exists() and not [p for p in os.listdir(tmp_path) if p.startswith('out.')]
  log = line.rsplit('(library logs: ', 1)[1].rstrip(')')
  assert os.listdir(temp) == [os.path.basename(log)]


def test_inspect_of_a_directory_where_the_file_should_be_is_one_line(tmp_path, tf1_model_dir):
  model = _model_with_warmup(tmp_path, tf1_model_dir, 'dir', None)
  line = _no_traceback_and_one(run('inspect', model), 'is a directory')
  assert 'FAILED_PRECONDITION' in line and 'TF Serving reads the warmup file as a file' in line


def test_inspect_of_random_bytes_gives_the_verdict_without_tensorflows_wrapping(tmp_path,
                                                                               tf1_model_dir):
  noise = bytes((i * 7919 + 13) % 251 for i in range(300))
  model = _model_with_warmup(tmp_path, tf1_model_dir, 'noise', noise)
  proc = run('inspect', model)
  line = _no_traceback_and_one(proc, 'corrupted record at 0')
  assert '{{function_node' not in proc.stdout and '[Op:' not in proc.stdout
  assert line.strip().startswith('record 0: DATA_LOSS: corrupted record at 0')
