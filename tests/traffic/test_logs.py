"""Traffic log files are found, told apart and streamed line by line, whatever they hold."""

import gzip
import os
import tracemalloc

import pytest
import tensorflow as tf

from tfx_warmup.errors import TrafficError
from tfx_warmup.serving import framing
from tfx_warmup.traffic import formats
from tfx_warmup.traffic import logs
from tfx_warmup.traffic.entry import LogEntry
from tfx_warmup.traffic.entry import NotARequest

REST_LINES = [b'{"instances": [[1.0, 2.0]]}',
              b'{"path": "/v1/models/taxi:classify", "body": {"examples": [{"a": 1}]}}']


def _write(path, data: bytes, compress: bool = False) -> str:
  os.makedirs(os.path.dirname(str(path)), exist_ok=True)
  with open(path, 'wb') as f:
    f.write(gzip.compress(data) if compress else data)
  return str(path)


def _write_records(path, records, compress: bool = False) -> str:
  os.makedirs(os.path.dirname(str(path)), exist_ok=True)
  options = tf.io.TFRecordOptions(compression_type='GZIP' if compress else '')
  with tf.io.TFRecordWriter(str(path), options) as writer:
    for record in records:
      writer.write(record)
  return str(path)


def _sample_file(directory, fmt: formats.Format, compress: bool) -> str:
  """A small log of `fmt`: its documented samples, each twice."""
  name = os.path.join(str(directory), f'{fmt.name}-00000')
  samples = fmt.sample_bytes() * 2
  if fmt.framing == formats.TFRECORD:
    return _write_records(name, samples, compress)
  return _write(name, b'\n'.join(samples) + b'\n', compress)


@pytest.mark.parametrize('compress', [False, True], ids=['plain', 'gzip'])
@pytest.mark.parametrize('fmt', formats.FORMATS, ids=lambda f: f.name)
def test_a_log_of_every_format_is_recognised_and_read(tmp_path, fmt, compress):
  path = _sample_file(tmp_path, fmt, compress)  # No suffix: gzip is told by its bytes.
  traffic = logs.resolve_traffic(str(tmp_path / '*'))
  assert traffic.format == fmt.name
  assert traffic.files == (logs.TrafficFile(path, fmt.name, compress),)
  entries = list(traffic.entries())
  assert all(isinstance(e, LogEntry) and e.format == fmt.name for e in entries), entries
  expected = [fmt.parse(s, '') for s in fmt.sample_bytes() * 2]
  assert [(e.body, e.log, e.api) for e in entries] == [(e.body, e.log, e.api)
                                                       for e in expected]
  where = 'record ' if fmt.framing == formats.TFRECORD else ''
  assert [e.source for e in entries] == [f'{path}:{where}{i}'
                                         for i in range(1, len(entries) + 1)]


def test_a_directory_a_file_and_a_glob_name_their_files(tmp_path):
  a = _write(tmp_path / 'logs' / 'a.jsonl', REST_LINES[0] + b'\n')
  b = _write(tmp_path / 'logs' / 'b.jsonl.gz', REST_LINES[1] + b'\n', compress=True)
  os.makedirs(tmp_path / 'logs' / 'sub')
  assert logs.resolve_traffic(str(tmp_path / 'logs')).paths == [a, b]
  assert logs.resolve_traffic(str(tmp_path / 'logs') + '/').paths == [a, b]
  assert logs.resolve_traffic(b).paths == [b]
  assert logs.resolve_traffic(str(tmp_path / 'logs' / '*.gz')).files == (
      logs.TrafficFile(b, 'rest', True),)


def test_an_empty_glob_names_the_glob_and_what_to_pass(tmp_path):
  glob = str(tmp_path / 'nothing-*.jsonl')
  with pytest.raises(TrafficError) as e:
    logs.resolve_traffic(glob)
  assert str(e.value).startswith(
      f"No files match the traffic logs {glob!r}. Pass a glob of log files (quoted: "
      "'logs/requests-*.jsonl.gz'), a log file, or a directory of log files, in one of the "
      'formats: rest (TF Serving REST bodies), vertex (Vertex AI request-response logging)')


def test_two_formats_in_one_glob_are_both_named_with_a_file_of_each(tmp_path):
  rest = _sample_file(tmp_path / 'rest', formats.BY_NAME['rest'], False)
  kserve = _sample_file(tmp_path / 'kserve', formats.BY_NAME['kserve'], True)
  glob = str(tmp_path / '*' / '*')
  with pytest.raises(TrafficError) as e:
    logs.resolve_traffic(glob)
  assert str(e.value) == (
      f"The traffic logs {glob!r} hold two formats: kserve (KServe's payload logger, e.g. "
      f'{kserve}) and rest (TF Serving REST bodies, e.g. {rest}). One glob is read in one '
      "format: narrow it to one format's files.")


@pytest.mark.parametrize('data,compress,looks', [
    (b'trip_miles,fare\n1.5,7.25\n', False, "text whose first line starts 'trip_miles,fare'"),
    (b'{"fare": 7.25}\n', True, 'a gzip file holding JSON lines whose objects hold fare'),
])
def test_a_file_of_no_known_format_is_named_with_what_it_looks_like(tmp_path, data, compress,
                                                                   looks):
  _write(tmp_path / 'a.jsonl', REST_LINES[0] + b'\n')
  odd = _write(tmp_path / 'b.log', data, compress)
  with pytest.raises(TrafficError) as e:
    logs.resolve_traffic(str(tmp_path / '*'))
  assert str(e.value).startswith(
      f'{odd} is not a traffic log of a known format: it looks like {looks}. The formats '
      'known: rest (TF Serving REST bodies), vertex')
  assert 'name it with traffic_format' in str(e.value)


def test_tfrecords_of_examples_are_not_taken_for_traffic(tmp_path):
  example = tf.train.Example()
  example.features.feature['x'].float_list.value.append(1.0)
  path = _write_records(tmp_path / 'examples.tfrecord.gz', [example.SerializeToString()], True)
  with pytest.raises(TrafficError, match='it looks like a gzip file holding TFRecords whose '
                     'first record is not a PredictionLog holding a request'):
    logs.resolve_traffic(path)


def test_traffic_format_overrides_what_the_first_bytes_say(tmp_path):
  path = _write(tmp_path / 'odd.log', b'junk first\n{"signature_name": "s"}\n')
  with pytest.raises(TrafficError, match='is not a traffic log of a known format'):
    logs.resolve_traffic(path)
  assert logs.resolve_traffic(path, 'rest').format == 'rest'
  assert [type(e) for e in logs.read_entries(path, 'rest')] == [NotARequest, LogEntry]
  with pytest.raises(TrafficError, match="No traffic log format is called 'csv'"):
    logs.resolve_traffic(path, 'csv')


def test_empty_files_take_the_format_of_the_others_but_not_alone(tmp_path):
  _write(tmp_path / 'a.jsonl', REST_LINES[0] + b'\n')
  empty = _write(tmp_path / 'b.jsonl.gz', b'', compress=True)
  assert logs.resolve_traffic(str(tmp_path / '*')).files[1] == logs.TrafficFile(
      empty, 'rest', True)
  assert list(logs.read_entries(empty, 'rest')) == []
  with pytest.raises(TrafficError, match=r"are empty: 1 file\(s\), none holding a line\. "):
    logs.resolve_traffic(empty)


def test_a_file_unreadable_from_its_first_bytes_is_read_as_the_others_and_says_so(tmp_path):
  good = _write(tmp_path / 'a.jsonl', REST_LINES[0] + b'\n')
  broken = _write(tmp_path / 'b.jsonl.gz', b'\x1f\x8b' + b'\xff' * 64)
  traffic = logs.resolve_traffic(str(tmp_path / '*'))
  assert traffic.paths == [good, broken] and traffic.format == 'rest'
  entries = list(traffic.entries())
  assert entries[1].source == f'{broken}:1'
  assert entries[1].reason.startswith('the gzip stream is damaged (')
  assert entries[1].reason.endswith('); the rest of the file is not read')
  with pytest.raises(TrafficError, match=rf"none holding a line \({broken}: the gzip stream "
                     'is damaged'):
    logs.resolve_traffic(broken)


# -- Lines: malformed, blank, long, damaged ---------------------------------------------


def test_malformed_lines_are_counted_with_their_line_and_reading_goes_on(tmp_path):
  data = (b'\xef\xbb\xbf' + REST_LINES[0] + b'\r\n'  # A BOM and CRLF: still a body.
          b'\n   \n'                                   # Blank lines: skipped, numbered.
          b'{"instances": [1, 2\n'                     # Cut short.
          b'<html>502 Bad Gateway</html>\n'
          + REST_LINES[1])                             # No newline at the end.
  path = _write(tmp_path / 'gateway.jsonl', data)
  entries = list(logs.read_entries(path, 'rest'))
  assert entries[0] == LogEntry(f'{path}:1', 'rest', body=REST_LINES[0])
  assert entries[1:3] == [
      NotARequest(f'{path}:4', 'not a JSON object: 1 bracket(s) not closed (cut short?)'),
      NotARequest(f'{path}:5', 'not a JSON object: not a JSON object')]
  assert (entries[3].source, entries[3].api) == (f'{path}:6', 'classify')
  assert len(entries) == 4


@pytest.mark.parametrize('compress', [False, True], ids=['plain', 'gzip'])
def test_a_line_over_the_limit_is_refused_by_number_and_the_next_is_read(tmp_path,
                                                                        monkeypatch, compress):
  monkeypatch.setattr(logs, 'MAX_LINE_BYTES', 1000)
  monkeypatch.setattr(logs, 'CHUNK_BYTES', 64)
  long_line = b'{"instances": [' + b'1.0, ' * 400 + b'1.0]}'
  exact = b'{"instances": [' + b'1' * (1000 - 17) + b']}'  # At the limit: read.
  path = _write(tmp_path / 'big.jsonl',
                b'\n'.join([REST_LINES[0], long_line, exact, long_line + long_line,
                            REST_LINES[0], long_line]), compress)
  entries = list(logs.read_entries(path, 'rest'))
  refused = 'a line over 1,000 bytes: skipped unread'
  assert entries[1:4:2] == [NotARequest(f'{path}:2', refused), NotARequest(f'{path}:4', refused)]
  assert entries[5] == NotARequest(f'{path}:6', refused)  # The last, without a newline.
  assert [e.body for e in entries[0:5:2]] == [REST_LINES[0], exact, REST_LINES[0]]


def test_a_long_line_is_never_held_whole():
  """A 32 MiB line against a 64 KiB limit: memory follows the limit, not the line."""
  piece = b'1.0, ' * 1024

  def chunks():
    yield b'{"instances": [1]}\n{"instances": ['
    for _ in range(32 * 1024 * 1024 // len(piece)):
      yield piece
    yield b'1.0]}\n{"instances": [2]}\n'

  tracemalloc.start()
  try:
    lines = [(n, line) for n, line in logs._lines(chunks(), limit=64 << 10)]
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  assert lines == [(1, b'{"instances": [1]}'), (2, None), (3, b'{"instances": [2]}')]
  assert peak < 1 << 20, f'{peak:,} bytes at the peak'


def test_a_gzip_stream_cut_short_ends_with_a_line_that_says_so(tmp_path):
  data = gzip.compress(b''.join(line + b'\n' for line in REST_LINES * 2000))
  path = _write(tmp_path / 'cut.jsonl.gz', data[:len(data) // 2])
  entries = list(logs.read_entries(path, 'rest'))
  last = entries[-1]
  assert isinstance(last, NotARequest)
  assert last.reason == 'the gzip stream is cut short; the rest of the file is not read'
  assert all(isinstance(e, LogEntry) for e in entries[:-1]) and len(entries) > 1
  assert last.source == f'{path}:{int(entries[-2].source.rsplit(":", 1)[1]) + 1}'


def test_concatenated_gzip_members_are_read_in_turn(tmp_path):
  path = _write(tmp_path / 'joined.gz', gzip.compress(REST_LINES[0] + b'\n')
                + gzip.compress(REST_LINES[1] + b'\n'))
  assert logs.resolve_traffic(path).files[0].gzip
  assert [e.body for e in logs.read_entries(path, 'rest')] == [
      REST_LINES[0], b'{"examples": [{"a": 1}]}']


def test_a_gzip_bomb_is_inflated_a_chunk_at_a_time(tmp_path, monkeypatch):
  monkeypatch.setattr(logs, 'MAX_LINE_BYTES', 1 << 16)
  path = _write(tmp_path / 'bomb.gz', b' ' * (64 << 20) + b'\n' + REST_LINES[0], compress=True)
  tracemalloc.start()
  try:
    entries = list(logs.read_entries(path, 'rest'))
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  assert entries == [NotARequest(f'{path}:1', 'a line over 65,536 bytes: skipped unread'),
                     LogEntry(f'{path}:2', 'rest', body=REST_LINES[0])]
  assert peak < 8 << 20, f'{peak:,} bytes at the peak'


# -- TFRecords --------------------------------------------------------------------------


def _prediction_logs():
  return formats.BY_NAME['prediction_log'].sample_bytes() * 3


def test_a_damaged_record_is_refused_and_the_next_is_read(tmp_path):
  path = _write_records(tmp_path / 'warmup', _prediction_logs())
  data = bytearray(open(path, 'rb').read())
  data[20] ^= 0xff  # Inside the first record's data.
  _write(tmp_path / 'warmup', bytes(data))
  entries = list(logs.read_entries(path, 'prediction_log'))
  assert entries[0] == NotARequest(f'{path}:record 1',
                                   'its checksum does not match: the record is damaged')
  assert [e.source for e in entries[1:]] == [f'{path}:record 2', f'{path}:record 3']


def test_a_cut_or_forged_tfrecord_ends_the_file_with_a_line_that_says_why(tmp_path,
                                                                         monkeypatch):
  path = _write_records(tmp_path / 'warmup', _prediction_logs())
  whole = open(path, 'rb').read()
  _write(tmp_path / 'warmup', whole[:-10])
  cut = list(logs.read_entries(path, 'prediction_log'))
  assert cut[-1].source == f'{path}:record 3' and cut[-1].reason.endswith('cut short')
  first = framing.HEADER_BYTES + len(_prediction_logs()[0]) + framing.FOOTER_BYTES
  _write(tmp_path / 'warmup', whole[:first] + b'\x00' * 40)
  assert list(logs.read_entries(path, 'prediction_log'))[-1] == NotARequest(
      f'{path}:record 2', 'its header does not check (not TFRecords from here, or damaged); '
      'the rest of the file is not read')
  monkeypatch.setattr(logs, 'MAX_LINE_BYTES', 16)
  _write(tmp_path / 'warmup', whole)
  big = list(logs.read_entries(path, 'prediction_log'))
  assert [e.reason for e in big] == [big[0].reason] * 3
  assert big[0].reason.startswith('a record of ') and big[0].reason.endswith(
      'over 16 bytes: skipped unread')
