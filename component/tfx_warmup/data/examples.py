"""Finds and reads the serialized examples to sample from, whatever the runner.

Kept apart from sampling: this is where a user's paths and TFX's Examples
artifacts become an `ExamplesSource` (file patterns by split, and the payload
format), the one thing the library reads; and where a reader's failure on a
damaged shard becomes an error naming the examples -- recognised from the
message any runner reports, since only the in-process runner keeps the
worker's exception class.
"""

import contextlib
import dataclasses
import os
from typing import Dict, Iterator, List, Optional, Sequence

import apache_beam as beam
import tensorflow as tf
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2

from tfx_warmup.data import file_kinds
from tfx_warmup.data import tfrecord_source
from tfx_warmup.errors import ExamplesError

_DEFAULT_SPLIT = 'eval'
_PayloadFormat = example_gen_pb2.PayloadFormat
# Payloads that are serialized protos and so can be sent to TF Serving as is.
SUPPORTED_PAYLOADS = (_PayloadFormat.FORMAT_TF_EXAMPLE,
                      _PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE)


@dataclasses.dataclass(frozen=True)
class ExamplesSource:
  """Serialized examples: a file pattern per split ('.gz' files are GZIP), and their payload.

  `location` is what the user named (an artifact's URI, a path), for messages;
  `form` what it was recognised as.
  """
  location: str
  patterns: Dict[str, str]
  payload_format: int = _PayloadFormat.FORMAT_TF_EXAMPLE
  form: str = 'examples'

  def __post_init__(self):
    if self.payload_format not in SUPPORTED_PAYLOADS:
      raise ExamplesError(
          f'{self.described[0].upper()}{self.described[1:]} holds '
          f'{_PayloadFormat.Name(self.payload_format)} payloads; warmup requests need '
          'serialized tf.Example (or tf.SequenceExample) records. Produce the examples '
          'with an ExampleGen writing FORMAT_TF_EXAMPLE.')

  @property
  def described(self) -> str:
    """How messages name these examples: 'the Examples artifact at ...', 'the glob at ...'."""
    return f'the {self.form} at {self.location}'

  @property
  def splits(self) -> List[str]:
    return list(self.patterns)

  def choose_splits(self, requested: Optional[Sequence[str]]) -> List[str]:
    """Requested splits, else 'eval' when present (closest to live traffic), else all."""
    if not self.patterns:
      raise ExamplesError(
          f'{self.described[0].upper()}{self.described[1:]} has no splits. Point ModelWarmer '
          "at the `examples` output of an ExampleGen (or set the artifact's split_names).")
    if requested:
      missing = [s for s in requested if s not in self.patterns]
      if missing:
        raise ExamplesError(
            f'Split(s) {missing} not in {self.described}; it has {self.splits}. '
            'Fix `splits`.')
      return list(requested)
    return [_DEFAULT_SPLIT] if _DEFAULT_SPLIT in self.patterns else self.splits


# The one split of examples named by a file pattern, a file or a directory of files
# (the CLI's --examples).
FILES_SPLIT = 'examples'
_GLOB_CHARS = frozenset('*?[')
_SPLIT_PREFIX = 'Split-'
# What --examples accepts, for the error that names them all.
EXAMPLES_FORMS = ("a glob of TFRecord files (quoted: 'data/eval-*.gz'), a TFRecord file, a "
                  'directory of TFRecord files, a Split-<name> directory, or an Examples '
                  'artifact (a directory of Split-<name>/ directories)')


def resolve_examples(path: str) -> ExamplesSource:
  """The examples `path` names: a glob, a file, a directory, a split, an artifact's directory.

  Read as TFX reads an ExampleGen output (Split-<name>/ directories): a `.gz`
  suffix means GZIP, anything else uncompressed. For an artifact's directory,
  `ExamplesSource.choose_splits` picks the splits as the component does.
  """
  if '://' not in path:
    path = os.path.abspath(path)
  if _GLOB_CHARS & set(path):
    if not fileio.glob(path):
      raise ExamplesError(f'No files match --examples {path!r}. Pass {EXAMPLES_FORMS}.')
    return _files(path, path, 'glob')
  if not fileio.exists(path):
    raise ExamplesError(f'Nothing at --examples {path!r}. Pass {EXAMPLES_FORMS}.')
  if not fileio.isdir(path):
    return _files(path, path, 'TFRecord file')
  path = path.rstrip('/')
  entries = fileio.listdir(path)
  # Names a directory by its trailing '/' (GCS) or, locally, by asking.
  subdirs = sorted(e.rstrip('/') for e in entries
                   if e.endswith('/') or fileio.isdir(os.path.join(path, e)))
  splits = [d[len(_SPLIT_PREFIX):] for d in subdirs if d.startswith(_SPLIT_PREFIX)]
  if splits:
    return ExamplesSource(path, {s: _all_files(os.path.join(path, _SPLIT_PREFIX + s))
                                 for s in splits}, form='Examples artifact')
  files = [e for e in entries if e.rstrip('/') not in subdirs]
  if not files:
    raise ExamplesError(f'--examples {path!r} is a directory holding no files'
                        + (f' (only directories: {subdirs[:5]})' if subdirs else '')
                        + f'. Pass {EXAMPLES_FORMS}.')
  if subdirs:
    raise ExamplesError(f'--examples {path!r} holds directories {subdirs[:5]} beside its '
                        'files, so it is neither a directory of TFRecord files nor an '
                        "Examples artifact. Pass a glob of the files (e.g. '{path}/*.gz').")
  name = os.path.basename(path)
  if name.startswith(_SPLIT_PREFIX) and len(name) > len(_SPLIT_PREFIX):
    return ExamplesSource(path, {name[len(_SPLIT_PREFIX):]: _all_files(path)},
                          form=f'{name} directory')
  # Named for what it is, not what it should hold: a folder of CSV files is 'the directory'.
  return _files(path, _all_files(path), 'directory')


def _files(location: str, pattern: str, form: str) -> ExamplesSource:
  return ExamplesSource(location, {FILES_SPLIT: pattern}, form=form)


def _all_files(directory: str) -> str:
  return os.path.join(directory, '*')


# What TFRecord and gzip readers say about a corrupt or truncated shard. Matched in
# the message, which every runner passes on, not in the exception class, which only
# the in-process runner keeps (multi-process and remote runners re-raise their own).
_CORRUPT_SHARD_MESSAGES = ('Not a valid TFRecord', 'Mismatch of length mask',
                           'Mismatch of data mask', 'Compressed file ended',
                           'Error -3 while decompressing', 'Not a gzipped file',
                           'incorrect header check', 'invalid stored block lengths')


@contextlib.contextmanager
def reading_errors(source: ExamplesSource, splits: Sequence[str]) -> Iterator[None]:
  """Turns a runner's failure on a file it cannot read as TFRecords into an ExamplesError:
  a file of another kind (CSV, Parquet, ...) named with its ExampleGen, else a damaged shard."""
  try:
    yield
  except Exception as e:
    text = str(e)
    cause = next((m for m in _CORRUPT_SHARD_MESSAGES if m in text), None)
    if cause is None:
      raise
    foreign = file_kinds.first_foreign(
        path for split in splits for path in sorted(fileio.glob(source.patterns[split])))
    if foreign is not None:
      within = f' (in {source.described})' if source.location != foreign.path else ''
      raise ExamplesError(f'{foreign.describe()}{within}') from e
    raise ExamplesError(
        f'A shard of split(s) {list(splits)} in {source.described} is '
        f'corrupt or truncated ({_reader_message(text, cause)}). Re-run the ExampleGen '
        'that wrote it, or remove the damaged file.') from e


def _reader_message(text: str, cause: str) -> str:
  """The reader's own line from a runner's (possibly multi-line) error text."""
  line = next(each for each in text.splitlines() if cause in each).strip()
  return line[:400]


def read_splits(pipeline: beam.Pipeline, source: ExamplesSource,
                splits: Sequence[str]) -> Dict[str, beam.PCollection]:
  """Split name -> the serialized records of that split, one Beam source per split.

  Kept apart so that the sampler counts each split's records (`records_read[split]`).
  The compression follows each file's suffix, as TFX's readers do; each record's
  length is checked before it is read (`tfrecord_source`).
  """
  return {split: pipeline | f'ReadExamples[{split}]' >> tfrecord_source.ReadTFRecords(
      source.patterns[split]) for split in splits}


class WriteSample(beam.PTransform):
  """Writes the one sampled list of records to `path`, in order, for the executor to read.

  The sample leaves Beam as a file because the runner may be remote (the path is
  in the staging area beside the output artifact, which workers can reach).
  """

  def __init__(self, path: str):
    super().__init__()
    self._path = path

  def expand(self, sampled: beam.PCollection) -> beam.PCollection:
    return sampled | beam.Map(write_sample, self._path)


def write_sample(records: Sequence[bytes], path: str) -> int:
  """Writes `records` as an uncompressed TFRecord; returns how many."""
  fileio.makedirs(os.path.dirname(path))
  with tf.io.TFRecordWriter(path) as writer:
    for record in records:
      writer.write(record)
  return len(records)


def read_sample(path: str) -> List[bytes]:
  """The records `write_sample` wrote, in order."""
  return [r.numpy() for r in tf.data.TFRecordDataset(path)]
