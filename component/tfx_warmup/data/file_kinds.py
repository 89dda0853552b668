"""What an examples file that is not TFRecords is, told from its first bytes, and its fix.

A TFRecord reader given a CSV, Parquet, Avro or JSON file, or a gzip file of
one, fails on the first header's checksum, and says only that the file is "not
a valid TFRecord". That reads as a damaged shard, when the file is whole but of
another kind, and the fix is an ExampleGen that converts it. So when a read
fails, the files are looked at (only then: a good read costs nothing) and the
first that is of another kind is named with the ExampleGen that reads it. A log of
serving requests (TF Serving REST bodies, a Vertex AI, SageMaker or KServe log: the
formats of `traffic.formats`) is named as the traffic it is, with the flag that takes it.
"""

import codecs
import dataclasses
import os
import zlib
from typing import Iterable, Optional, Tuple

import tensorflow as tf
from tfx.dsl.io import fileio

from tfx_warmup.serving import framing
from tfx_warmup.traffic import formats

_HEAD_BYTES = 64 * 1024
_GZIP_MAGIC = b'\x1f\x8b'
_CUSTOM = ("FileBasedExampleGen(input_base='{base}', custom_executor_spec=executor_spec."
           'BeamExecutorSpec({module}.Executor)), with {module} from '
           'tfx.components.example_gen.custom_executors,')
_THEN = ' and pass its `examples` output (or its Split-<name> directories) instead.'


@dataclasses.dataclass(frozen=True)
class ForeignFile:
  """A file that is not what a TFRecord reader can read: what it is and the fix."""
  path: str
  kind: str  # 'a CSV file', 'a gzip file holding Parquet', ...
  fix: str

  def describe(self) -> str:
    return f'{self.path} is {self.kind}. {self.fix}'


def identify(path: str, head: bytes) -> Optional[ForeignFile]:
  """What the file at `path` whose first bytes are `head` is, if not readable TFRecords."""
  gzipped = head.startswith(_GZIP_MAGIC)
  content = _gunzip_head(head) if gzipped else head
  if content is None:
    return None  # A damaged gzip stream: the reader's own message says so.
  named_gz = path.endswith('.gz')
  if not content or framing.record_length(content[:framing.HEADER_BYTES]) >= 0:
    if gzipped and not named_gz:
      return ForeignFile(path, 'GZIP-compressed TFRecords without a .gz suffix',
                         'The readers take the compression from the suffix, as TFX does: '
                         'rename it to end in .gz.')
    if named_gz and not gzipped and content:
      return ForeignFile(path, 'uncompressed TFRecords named .gz',
                         'The readers take a .gz suffix to mean GZIP, as TFX does: rename '
                         'it without .gz.')
    return None
  traffic = _traffic_kind(path, content)
  if traffic is not None:
    what = f'a gzip file holding {traffic[0]}' if gzipped else traffic[0]
    return ForeignFile(path, f'{what}, not TFRecords of tf.Examples', traffic[1])
  kind, fix = _kind(content, os.path.dirname(path))
  if kind is None:
    return None
  article = 'an' if kind[0] in 'AEIOU' else 'a'
  what = f'a gzip file holding {kind}' if gzipped else f'{article} {kind} file'
  return ForeignFile(path, f'{what}, not TFRecords of tf.Examples', fix)


def first_foreign(paths: Iterable[str], most: int = 100) -> Optional[ForeignFile]:
  """The first of (at most `most` of) `paths` that is not readable TFRecords."""
  for i, path in enumerate(paths):
    if i == most:
      break
    try:
      with fileio.open(path, 'rb') as f:
        head = f.read(_HEAD_BYTES)
    except (OSError, tf.errors.OpError):  # Gone since the glob: the reader's error stands.
      continue
    found = identify(path, head)
    if found is not None:
      return found
  return None


def _traffic_kind(path: str, content: bytes) -> Optional[Tuple[str, str]]:
  """(what the file is, the fix) if it is a serving traffic log (`traffic.formats`)."""
  fmt = formats.recognise(content)
  if fmt is None:
    return None
  # In ModelWarmer's terms: the command line shows traffic_logs as its flag, --traffic.
  return fmt.what, (f'It is logged serving traffic ({fmt.name} format), not examples: pass '
                    f"it as traffic_logs='{path}', which warms from the requests it holds.")


def _gunzip_head(head: bytes) -> Optional[bytes]:
  try:
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, _HEAD_BYTES)
  except zlib.error:
    return None


def _kind(content: bytes, base: str):
  """(what the content is, the ExampleGen that converts it), or (None, None).

  `base`: the file's directory, the input_base an ExampleGen would read.
  """
  if content.startswith(b'PAR1'):
    return 'Parquet', 'TFX reads Parquet with ' + _CUSTOM.format(
        module='parquet_executor', base=base) + _THEN
  if content.startswith(b'Obj\x01'):
    return ('Avro', 'TFX reads Avro with '
            + _CUSTOM.format(module='avro_executor', base=base) + _THEN)
  text = _text(content)
  if text is None:
    return None, None
  stripped = text.lstrip()
  if stripped[:1] in ('{', '['):
    return 'JSON', ('TFX has no ExampleGen for JSON: write the rows as CSV for CsvExampleGen, '
                    'or as TFRecords of tf.Examples for ImportExampleGen,' + _THEN)
  first_line = stripped.split('\n', 1)[0]
  if ',' in first_line or '\t' in first_line:
    return 'CSV', f"Run CsvExampleGen(input_base='{base}') on it" + _THEN
  if '\n' not in text.strip():  # No lines: as likely a damaged shard as a text file.
    return None, None
  return 'text', ('Examples must be TFRecords of tf.Examples: CsvExampleGen reads CSV, '
                  'ImportExampleGen reads TFRecords,' + _THEN)


def _text(content: bytes) -> Optional[str]:
  """`content` as text if it is UTF-8 without control bytes (a cut last character allowed)."""
  decoder = codecs.getincrementaldecoder('utf-8')()
  try:
    text = decoder.decode(content)
  except UnicodeDecodeError:
    return None
  if any(ord(c) < 32 and c not in '\t\n\r\f' for c in text):
    return None
  return text.lstrip('\ufeff')
