"""The command line's shared inputs: the examples as files, and one `generate` run.

`generated` is what several modules drive further (`inspect`, `verify`, `swap`). It
is session-scoped so each xdist worker runs `generate` at most once: as a module
fixture it ran once per module per worker, and `--maxschedchunk 1` hands a module's
tests to both workers. No test writes into `data` or the warmed copy: a test that
changes a model copies it first (`cp -r` into its own tmp_path).
"""

import json

import pytest

from tests.cli.command import run
from tests.cli.test_cli import _write_tfrecord


@pytest.fixture(scope='session')
def data(tmp_path_factory, examples):
  """Examples as a user has them: plain and GZIP TFRecord shards."""
  root = tmp_path_factory.mktemp('cli_data')
  serialized = [e.SerializeToString() for e in examples]
  _write_tfrecord(str(root / 'eval-0.tfrecord'), serialized[:100])
  _write_tfrecord(str(root / 'eval-1.tfrecord.gz'), serialized[100:], 'GZIP')
  return root


@pytest.fixture(scope='session')
def generated(data, keras_model_dir):
  """(process, JSON report, output dir) of one `generate --json` run."""
  output = str(data / 'warmed')
  proc = run('generate', '--model', keras_model_dir, '--examples', str(data / 'eval-*'),
             '--output', output, '--batch-sizes', '1,8', '--json')
  assert proc.returncode == 0, proc.stderr
  return proc, json.loads(proc.stdout), output
