"""Warmup files that are not ours: refused in one line, never handed to TensorFlow's reader.

Without the framing check, reading the forged file below crashes this process
(TensorFlow's C++ reader allocates the claimed terabyte): a regression fails the
test run loudly.
"""

import gzip
import os
import zlib

import pytest

from tfx_warmup import serving
from tfx_warmup.serving import framing
from tfx_warmup.serving import inspection
from tfx_warmup.serving import warmup_file

FORGED = framing.header(1 << 40) + bytes(100)  # 2^40 with a valid CRC, then 100 zero bytes
FORGED_LINE = ('Warmup record 0 (at byte 0) claims 1,099,511,627,776 bytes (1.0 TiB), but the '
               'file holds 112 bytes: the file is damaged or forged. TF Serving would refuse '
               '(or crash on) this file: its record reader allocates the claimed length before '
               'checking that the file holds it.')


@pytest.fixture
def path(tmp_path) -> str:
  return str(tmp_path / 'tf_serving_warmup_requests')


def _write(path: str, data: bytes) -> str:
  with open(path, 'wb') as f:
    f.write(data)
  return path


def test_a_forged_length_is_refused_before_tensorflow_reads_it(path):
  with pytest.raises(serving.WarmupReplayError) as error:
    warmup_file.read_warmup_file(_write(path, FORGED))
  assert str(error.value) == f'DATA_LOSS: {FORGED_LINE}'
  assert error.value.code == 'DATA_LOSS' and error.value.record == 0


def test_a_forged_length_after_good_records_names_its_record(path, tmp_path):
  record = _first_record(tmp_path)
  _write(path, record * 3 + FORGED)
  with pytest.raises(serving.WarmupReplayError) as error:
    warmup_file.read_warmup_file(path)
  assert error.value.record == 3
  assert f'record 3 (at byte {3 * len(record)})' in str(error.value)


def _first_record(tmp_path) -> bytes:
  from tensorflow_serving.apis import prediction_log_pb2
  one = str(tmp_path / 'one')
  log = prediction_log_pb2.PredictionLog()
  log.predict_log.request.model_spec.signature_name = 'serving_default'
  warmup_file.write_warmup_file(one, [log])
  with open(one, 'rb') as f:
    return f.read()


def test_inspect_lists_the_forged_record_as_a_problem(path):
  result = inspection.inspect_warmup(_write(path, FORGED))
  assert [(p.record, p.code, p.message) for p in result.problems] == [
      (0, 'DATA_LOSS', FORGED_LINE)]


def test_a_directory_is_refused_in_one_line(path):
  os.makedirs(path)
  with pytest.raises(serving.WarmupReplayError) as error:
    warmup_file.read_warmup_file(path)
  assert error.value.code == 'FAILED_PRECONDITION'
  assert str(error.value).startswith(f'FAILED_PRECONDITION: {path} is a directory; TF Serving '
                                     'reads the warmup file as a file and fails the load.')
  problem, = inspection.inspect_warmup(path).problems
  assert problem.code == 'FAILED_PRECONDITION' and 'is a directory' in problem.message


def test_a_missing_file_is_an_os_error_naming_it(path):
  """As tfx's fileio raised (an IOError), so `except OSError` callers keep working."""
  with pytest.raises(FileNotFoundError) as error:
    warmup_file.read_warmup_file(path)
  assert error.value.filename == path and isinstance(error.value, OSError)
  # Where the file is optional, TF Serving's way: no file, nothing replayed, no problem.
  assert inspection.inspect_warmup(path).exists is False


def test_random_bytes_get_tf_servings_verdict_without_tensorflows_wrapping(path):
  _write(path, bytes((i * 7919) % 251 for i in range(300)))
  problem, = inspection.inspect_warmup(path).problems
  assert problem.code == 'DATA_LOSS'
  assert problem.message.startswith('corrupted record at 0')
  assert '{{function_node' not in problem.message and '[Op:' not in problem.message
  assert 'name: ' not in problem.message and '\n' not in problem.message


@pytest.mark.parametrize('compress,name', [(gzip.compress, 'GZIP'), (zlib.compress, 'ZLIB')])
def test_a_compressed_forged_file_is_named_compressed_without_tensorflow_reading_it(
    path, compress, name):
  """The compression is told from the first bytes decompressed in Python: TF's reader,
  given the stream, would allocate the forged length inside it."""
  problem, = inspection.inspect_warmup(_write(path, compress(FORGED))).problems
  assert problem.message.startswith(f'The file is {name}-compressed; TF Serving reads only '
                                    'uncompressed TFRecords.')
