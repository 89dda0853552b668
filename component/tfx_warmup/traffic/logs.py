"""Traffic log files: which they are, what format, and their requests line by line.

Logs run to gigabytes, live on GCS or S3 as often as on disk, come gzipped or not, and
hold whatever a gateway, a vendor or a crash wrote. So reading is defensive:

- files are found and opened through Beam's FileSystems (gs://, s3:// and local paths,
  as the examples are), and each file's format is recognised from its first bytes
  (`formats.recognise`), one format per glob;
- a file is streamed: read in chunks of `CHUNK_BYTES`, gzip told by its magic bytes (not
  its name) and inflated chunk by chunk with a bound on each step, so neither a large
  file nor a gzip bomb is ever held whole;
- a line (or record) longer than `MAX_LINE_BYTES` is refused with its line number and
  skipped to the next newline without being held: memory stays under the limit plus a
  chunk;
- a line that holds no request (malformed, a response, a health check) is a
  `NotARequest` with its reason and 'path:line' (1-based), and reading goes on; a file
  damaged past reading (a gzip stream cut short, a TFRecord header that does not check)
  ends with one that says so.
"""

import dataclasses
import os
import zlib
from typing import BinaryIO, Iterator, List, Optional, Tuple, Union

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
import tensorflow as tf

from tfx_warmup.errors import TrafficError
from tfx_warmup.serving import framing
from tfx_warmup.traffic import formats
from tfx_warmup.traffic.entry import LogEntry
from tfx_warmup.traffic.entry import NotARequest
from tfx_warmup.traffic.formats import Format

MAX_LINE_BYTES = 64 << 20  # a longer line or record is refused unread
CHUNK_BYTES = 1 << 20  # what is read (and inflated) at a time
HEAD_BYTES = 64 << 10  # the first bytes a file's format is told from
_GZIP_MAGIC = b'\x1f\x8b'
_GLOB_CHARS = frozenset('*?[')
_FORMS = ("a glob of log files (quoted: 'logs/requests-*.jsonl.gz'), a log file, or a "
          'directory of log files')


@dataclasses.dataclass(frozen=True)
class TrafficFile:
  """A log file, its format's name, and whether it is gzip (by its magic bytes)."""
  path: str
  format: str
  gzip: bool = False


@dataclasses.dataclass(frozen=True)
class TrafficFiles:
  """The log files a glob names, all of one format (`format`), in path order."""
  pattern: str
  files: Tuple[TrafficFile, ...]

  @property
  def format(self) -> str:
    return self.files[0].format

  @property
  def paths(self) -> List[str]:
    return [f.path for f in self.files]

  def entries(self) -> Iterator[Union[LogEntry, NotARequest]]:
    """Every file's entries, file after file (`read_entries`)."""
    for f in self.files:
      yield from read_entries(f.path, f.format)


class _Damaged(Exception):  # noqa: N818  (a signal to the line reader, not a user's error)
  """The file cannot be read on from here: why."""


def resolve_traffic(glob: str, traffic_format: Optional[str] = None) -> TrafficFiles:
  """The log files `glob` names (a glob, a file or a directory) and their one format.

  Each file's format is recognised from its first bytes; `traffic_format` (a name of
  `formats.FORMATS`) overrides that for every file. Empty files take the others'
  format. TrafficError for: no files, files of two formats, a file of no known format.
  """
  override = formats.by_name(traffic_format) if traffic_format else None
  paths = _match(glob)
  if not paths:
    raise TrafficError(f'No files match the traffic logs {glob!r}. Pass {_FORMS}, in one of '
                       f'the formats: {formats.known_formats()}.')
  files, empty, damage = [], [], []
  for path in paths:
    gzipped, head, damaged = _head(path)
    fmt = override or formats.recognise(head)
    if fmt is None and not head.strip():  # The reader reports a damaged one, line 1.
      empty.append((path, gzipped))
      damage += [f'{path}: {damaged}'] if damaged else []
      continue
    if fmt is None:
      what = formats.looks_like(head)
      raise TrafficError(
          f'{path} is not a traffic log of a known format: it looks like '
          f"{'a gzip file holding ' if gzipped else ''}{what}. The formats known: "
          f'{formats.known_formats()}. If it is one of them, name it with traffic_format; '
          "else convert the log to 'rest' (one TF Serving REST body per line).")
    files.append(TrafficFile(path, fmt.name, gzipped))
  if not files:
    unreadable = f' ({damage[0]})' if damage else ''
    raise TrafficError(f'The traffic logs {glob!r} are empty: {len(empty)} file(s), none '
                       f'holding a line{unreadable}. Pass the logs that hold the requests.')
  _check_one_format(glob, files)
  files += [TrafficFile(path, files[0].format, gzipped) for path, gzipped in empty]
  return TrafficFiles(glob, tuple(sorted(files, key=lambda f: f.path)))


def _check_one_format(glob: str, files: List[TrafficFile]) -> None:
  first = files[0]
  other = next((f for f in files if f.format != first.format), None)
  if other is not None:
    raise TrafficError(
        f'The traffic logs {glob!r} hold two formats: {first.format} '
        f'({formats.BY_NAME[first.format].title}, e.g. {first.path}) and {other.format} '
        f'({formats.BY_NAME[other.format].title}, e.g. {other.path}). One glob is read '
        'in one format: narrow it to one format\'s files.')


def _match(glob: str) -> List[str]:
  """The files `glob` names, sorted: a pattern's matches, a file, or a directory's files."""
  if '://' not in glob:
    glob = os.path.abspath(glob)
  patterns = [glob] if _GLOB_CHARS & set(glob) else [glob.rstrip('/') + '/*', glob]
  for pattern in patterns:
    try:
      found = FileSystems.match([pattern])[0].metadata_list
    except (OSError, ValueError) as e:  # Beam's BeamIOError is an OSError.
      raise TrafficError(f'Cannot list the traffic logs {glob!r}: {e}') from e
    paths = sorted(m.path for m in found if not _is_directory(m.path))
    if paths:
      return paths
  return []


def _is_directory(path: str) -> bool:
  return path.endswith('/') or tf.io.gfile.isdir(path)


# -- Reading, in chunks -----------------------------------------------------------------


def _open(path: str) -> BinaryIO:
  return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _chunks(path: str, chunk_bytes: Optional[int] = None) -> Iterator[bytes]:
  """The file's content in chunks of at most `chunk_bytes` (CHUNK_BYTES), gzip inflated.

  Each inflation step is bounded (zlib's max_length), so a gzip bomb costs time, not
  memory. Concatenated gzip members are read in turn. Raises _Damaged when the file
  cannot be read on.
  """
  chunk_bytes = chunk_bytes or CHUNK_BYTES
  try:
    with _open(path) as f:
      first = f.read(chunk_bytes)
      if not first.startswith(_GZIP_MAGIC):
        while first:
          yield first
          first = f.read(chunk_bytes)
        return
      yield from _inflated(f, first, chunk_bytes)
  except (OSError, EOFError) as e:
    raise _Damaged(f'the file cannot be read on ({type(e).__name__}: {e})') from e


def _inflated(f: BinaryIO, pending: bytes, chunk_bytes: int) -> Iterator[bytes]:
  """The gzip members of `f` (`pending` its bytes read so far), inflated chunk by chunk."""
  inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
  fed = False
  while True:
    if not pending:
      pending = f.read(chunk_bytes)
    if not pending:
      while fed and not inflater.eof:  # What zlib holds of the input it has taken.
        out = inflater.decompress(b'', chunk_bytes)
        if not out:
          raise _Damaged('the gzip stream is cut short')
        yield out
      return
    try:
      out = inflater.decompress(pending, chunk_bytes)
    except zlib.error as e:
      raise _Damaged(f'the gzip stream is damaged ({e})') from e
    fed = True
    pending = inflater.unconsumed_tail
    if out:
      yield out
    if inflater.eof:  # A member ends: another may follow (concatenated gzip).
      pending = inflater.unused_data + pending
      if len(pending) < len(_GZIP_MAGIC):
        pending += f.read(chunk_bytes)
      if not pending.startswith(_GZIP_MAGIC):
        return  # Bytes after the last member (padding): ignored, as `gzip -d` does.
      inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
      fed = False


def _head(path: str) -> Tuple[bool, bytes, Optional[str]]:
  """(gzip?, the first bytes of the content, why no more could be read, if so).

  The first bytes are HEAD_BYTES, or a whole first TFRecord (up to MAX_LINE_BYTES).
  """
  with _open(path) as f:
    gzipped = f.read(2) == _GZIP_MAGIC
  head = bytearray()
  want = HEAD_BYTES
  damaged = None
  try:
    for chunk in _chunks(path, min(CHUNK_BYTES, HEAD_BYTES)):
      head += chunk
      if len(head) >= HEAD_BYTES:
        length = framing.record_length(bytes(head[:framing.HEADER_BYTES]))
        record = framing.HEADER_BYTES + length + framing.FOOTER_BYTES
        want = record if 0 <= length <= MAX_LINE_BYTES else HEAD_BYTES
        if len(head) >= want:
          break
  except _Damaged as e:
    damaged = str(e)  # The format is told from what was read; the reader reports it.
  return gzipped, bytes(head[:max(want, HEAD_BYTES)]), damaged


def read_entries(path: str, traffic_format: Union[str, Format]
                 ) -> Iterator[Union[LogEntry, NotARequest]]:
  """The requests of the log at `path`, one per line (or record), streamed.

  Every line (record) that holds no request is a NotARequest with its 'path:line'
  and the reason; blank lines are skipped. The file is never held whole.
  """
  fmt = traffic_format if isinstance(traffic_format, Format) else formats.by_name(
      traffic_format)
  if fmt.framing == formats.TFRECORD:
    yield from _records(path, fmt)
    return
  for number, read in _lines(_chunks(path)):
    source = f'{path}:{number}'
    if isinstance(read, _Damaged):
      yield NotARequest(source, f'{read}; the rest of the file is not read')
      return
    if read is None:
      yield NotARequest(source, f'a line over {framing.size_text(MAX_LINE_BYTES)}: skipped '
                        'unread')
      continue
    line = read.lstrip(b'\xef\xbb\xbf') if number == 1 else read  # A UTF-8 BOM.
    if line.endswith(b'\r'):
      line = line[:-1]
    if line.strip():
      yield fmt.parse(line, source)


def _lines(chunks: Iterator[bytes], limit: Optional[int] = None
           ) -> Iterator[Tuple[int, Union[bytes, None, _Damaged]]]:
  """(1-based line number, the line without its newline), from chunks of the file.

  A line over `limit` bytes (MAX_LINE_BYTES) is (number, None): its bytes are dropped as
  they arrive, up to the next newline. A failure to read on is (number, _Damaged).
  """
  limit = MAX_LINE_BYTES if limit is None else limit
  number, parts, size, skipping = 0, [], 0, False
  try:
    for chunk in chunks:
      start = 0
      while True:
        newline = chunk.find(b'\n', start)
        end = len(chunk) if newline < 0 else newline
        if not skipping:
          if size + end - start > limit:
            skipping, parts, size = True, [], 0
          elif end > start:
            parts.append(chunk[start:end])
            size += end - start
        if newline < 0:
          break
        number += 1
        yield number, None if skipping else b''.join(parts)
        parts, size, skipping = [], 0, False
        start = newline + 1
  except _Damaged as e:
    yield number + 1, e
    return
  if skipping or parts:
    yield number + 1, None if skipping else b''.join(parts)


class _Stream:
  """read(n) over a file's chunks, holding at most n bytes more than a chunk."""

  def __init__(self, chunks: Iterator[bytes]):
    self._chunks = chunks
    self._buffer = b''

  def read(self, count: int) -> bytes:
    parts, have = [], 0
    while have < count:
      if not self._buffer:
        self._buffer = next(self._chunks, b'')
        if not self._buffer:
          break
      piece = self._buffer[:count - have]
      self._buffer = self._buffer[len(piece):]
      parts.append(piece)
      have += len(piece)
    return b''.join(parts)

  def skip(self, count: int) -> int:
    """Drops `count` bytes, a chunk at a time; how many there were."""
    skipped = 0
    while skipped < count:
      piece = self.read(min(count - skipped, CHUNK_BYTES))
      if not piece:
        break
      skipped += len(piece)
    return skipped


def _records(path: str, fmt: Format) -> Iterator[Union[LogEntry, NotARequest]]:
  """Each TFRecord of the file parsed by `fmt`; its damage as NotARequest, 1-based."""
  stream = _Stream(_chunks(path))
  index = 0
  try:
    while True:
      header = stream.read(framing.HEADER_BYTES)
      if not header:
        return
      index += 1
      source = f'{path}:record {index}'
      if len(header) < framing.HEADER_BYTES:
        yield NotARequest(source, 'the file ends inside its header: cut short')
        return
      length = framing.record_length(header)
      if length < 0:
        yield NotARequest(source, 'its header does not check (not TFRecords from here, or '
                          'damaged); the rest of the file is not read')
        return
      if length > MAX_LINE_BYTES:
        whole = length + framing.FOOTER_BYTES
        if stream.skip(whole) < whole:
          yield NotARequest(source, f'claims {framing.size_text(length)}, but the file '
                            'ends before them')
          return
        yield NotARequest(source, f'a record of {framing.size_text(length)}, over '
                          f'{framing.size_text(MAX_LINE_BYTES)}: skipped unread')
        continue
      body = stream.read(length + framing.FOOTER_BYTES)
      if len(body) < length + framing.FOOTER_BYTES:
        yield NotARequest(source, f'claims {framing.size_text(length)}, but the file ends '
                          'before them: cut short')
        return
      data, crc = body[:length], body[length:]
      if framing.masked_crc32c(data) != int.from_bytes(crc, 'little'):
        yield NotARequest(source, 'its checksum does not match: the record is damaged')
        continue
      yield fmt.parse(data, source)
  except _Damaged as e:
    yield NotARequest(f'{path}:record {index or 1}', f'{e}; the rest of the file is not read')
