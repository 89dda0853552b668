"""Finds and reads the records of an Examples artifact, whatever the runner.

Kept apart from sampling: this is where a user's paths and artifacts meet the
files (split choice, payload format, the CLI's file patterns), and where a
reader's failure on a damaged shard becomes an error naming the artifact --
recognised from the message any runner reports, since only the in-process
runner keeps the worker's exception class.
"""

import contextlib
import dataclasses
import os
from typing import Dict, Iterator, List, Optional, Sequence

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.dsl.io import fileio
from tfx.components.util import examples_utils
from tfx.components.util import tfxio_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.utils import json_utils

from tfx_warmup.errors import ExamplesError

_TELEMETRY_DESCRIPTORS = ['ModelWarmer']
_RAW_RECORD_COLUMN = 'raw_record'
_DEFAULT_SPLIT = 'eval'
_PayloadFormat = example_gen_pb2.PayloadFormat
# Payloads that are serialized protos and so can be sent to TF Serving as is.
SUPPORTED_PAYLOADS = (_PayloadFormat.FORMAT_TF_EXAMPLE,
                      _PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE)


def available_splits(examples: types.Artifact) -> List[str]:
  if examples.has_custom_property(examples_utils.CUSTOM_SPLIT_PATTERN_PROPERTY_NAME):
    return list(json_utils.loads(examples.get_string_custom_property(
        examples_utils.CUSTOM_SPLIT_PATTERN_PROPERTY_NAME)))
  return artifact_utils.decode_split_names(examples.split_names)


def choose_splits(examples: types.Artifact,
                  requested: Optional[Sequence[str]]) -> List[str]:
  """Requested splits, else 'eval' when present (closest to live traffic), else all."""
  splits = available_splits(examples)
  if not splits:
    raise ExamplesError(
        f'The Examples artifact at {examples.uri} has no splits. Feed ModelWarmer '
        "the `examples` output of an ExampleGen (or set the artifact's "
        'split_names).')
  if requested:
    missing = [s for s in requested if s not in splits]
    if missing:
      raise ExamplesError(
          f'Split(s) {missing} not in the Examples artifact at {examples.uri}; '
          f'it has {splits}. Fix `splits`.')
    return list(requested)
  return [_DEFAULT_SPLIT] if _DEFAULT_SPLIT in splits else splits


# The one split of an Examples artifact made from a file pattern, a file or a directory of
# files (the CLI's --examples).
FILES_SPLIT = 'examples'
_GLOB_CHARS = frozenset('*?[')
_SPLIT_PREFIX = 'Split-'
# What --examples accepts, for the error that names them all.
EXAMPLES_FORMS = ("a glob of TFRecord files (quoted: 'data/eval-*.gz'), a TFRecord file, a "
                  'directory of TFRecord files, a Split-<name> directory, or an Examples '
                  'artifact (a directory of Split-<name>/ directories)')


@dataclasses.dataclass(frozen=True)
class ExamplesInput:
  """An Examples artifact made from a user's path, and the form the path was recognised as."""
  artifact: types.Artifact
  form: str


def resolve_examples(path: str) -> ExamplesInput:
  """An Examples artifact over what `path` names: a glob, a file, a directory, a split, an artifact.

  Read as TFX reads an ExampleGen output (Split-<name>/ directories, or custom
  split patterns): a `.gz` suffix means GZIP, anything else uncompressed. For an
  artifact, `choose_splits` picks the splits as the component does.
  """
  if '://' not in path:
    path = os.path.abspath(path)
  if _GLOB_CHARS & set(path):
    if not fileio.glob(path):
      raise ExamplesError(f'No files match --examples {path!r}. Pass {EXAMPLES_FORMS}.')
    return ExamplesInput(_from_pattern(path), 'glob')
  if not fileio.exists(path):
    raise ExamplesError(f'Nothing at --examples {path!r}. Pass {EXAMPLES_FORMS}.')
  if not fileio.isdir(path):
    return ExamplesInput(_from_pattern(path), 'TFRecord file')
  path = path.rstrip('/')
  entries = fileio.listdir(path)
  # Names a directory by its trailing '/' (GCS) or, locally, by asking.
  subdirs = sorted(e.rstrip('/') for e in entries
                   if e.endswith('/') or fileio.isdir(os.path.join(path, e)))
  splits = [d[len(_SPLIT_PREFIX):] for d in subdirs if d.startswith(_SPLIT_PREFIX)]
  if splits:
    artifact = _artifact(path, splits)
    return ExamplesInput(artifact, 'Examples artifact')
  files = [e for e in entries if e.rstrip('/') not in subdirs]
  if not files:
    raise ExamplesError(f'--examples {path!r} is a directory holding no files'
                        + (f' (only directories: {subdirs[:5]})' if subdirs else '')
                        + f'. Pass {EXAMPLES_FORMS}.')
  if subdirs:
    raise ExamplesError(f'--examples {path!r} holds directories {subdirs[:5]} beside its '
                        'files, so it is neither a directory of TFRecord files nor an '
                        "Examples artifact. Pass a glob of the files (e.g. '{path}/*.gz').")
  parent, name = os.path.split(path)
  if name.startswith(_SPLIT_PREFIX) and len(name) > len(_SPLIT_PREFIX):
    return ExamplesInput(_artifact(parent, [name[len(_SPLIT_PREFIX):]]),
                         f'{name} directory')
  return ExamplesInput(_from_pattern(os.path.join(path, '*')), 'directory of TFRecord files')


def _artifact(uri: str, splits: Sequence[str]) -> types.Artifact:
  """An Examples artifact at `uri` with ExampleGen's Split-<name>/ layout."""
  artifact = standard_artifacts.Examples()
  artifact.uri = uri
  artifact.split_names = artifact_utils.encode_split_names(list(splits))
  examples_utils.set_payload_format(artifact, _PayloadFormat.FORMAT_TF_EXAMPLE)
  return artifact


def _from_pattern(pattern: str) -> types.Artifact:
  """One split, FILES_SPLIT, over the files matching `pattern` (TFX custom split patterns)."""
  parts = pattern.split('/')
  fixed = next((i for i, part in enumerate(parts) if _GLOB_CHARS & set(part)), len(parts) - 1)
  artifact = _artifact('/'.join(parts[:fixed]), [FILES_SPLIT])
  artifact.set_string_custom_property(*examples_utils.get_custom_split_patterns_key_and_property(
      {FILES_SPLIT: '/'.join(parts[fixed:])}))
  return artifact


def payload_format(examples: types.Artifact) -> int:
  """The artifact's payload format; refuses formats TF Serving cannot take."""
  fmt = examples_utils.get_payload_format(examples)
  if fmt not in SUPPORTED_PAYLOADS:
    raise ExamplesError(
        f'The Examples artifact at {examples.uri} holds '
        f'{_PayloadFormat.Name(fmt)} payloads; warmup requests need serialized '
        'tf.Example (or tf.SequenceExample) records. Produce the examples with an '
        'ExampleGen writing FORMAT_TF_EXAMPLE.')
  return fmt


# What TFRecord and gzip readers say about a corrupt or truncated shard. Matched in
# the message, which every runner passes on, not in the exception class, which only
# the in-process runner keeps (multi-process and remote runners re-raise their own).
_CORRUPT_SHARD_MESSAGES = ('Not a valid TFRecord', 'Mismatch of length mask',
                           'Mismatch of data mask', 'Compressed file ended',
                           'Error -3 while decompressing', 'Not a gzipped file',
                           'incorrect header check', 'invalid stored block lengths')


@contextlib.contextmanager
def reading_errors(examples: types.Artifact, splits: Sequence[str]) -> Iterator[None]:
  """Turns a runner's failure on a corrupt or truncated shard into an ExamplesError."""
  try:
    yield
  except Exception as e:  # pylint: disable=broad-except  (runners wrap worker errors)
    text = str(e)
    cause = next((m for m in _CORRUPT_SHARD_MESSAGES if m in text), None)
    if cause is None:
      raise
    raise ExamplesError(
        f'A shard of split(s) {list(splits)} in the Examples artifact at {examples.uri} is '
        f'corrupt or truncated ({_reader_message(text, cause)}). Re-run the ExampleGen '
        'that wrote it, or remove the damaged file.') from e


def _reader_message(text: str, cause: str) -> str:
  """The reader's own line from a runner's (possibly multi-line) error text."""
  line = next(l for l in text.splitlines() if cause in l).strip()
  return line[:200]


def read_splits(pipeline: beam.Pipeline, examples: types.Artifact,
                splits: Sequence[str]) -> Dict[str, beam.PCollection]:
  """Split name -> the serialized records of that split, one Beam source per split.

  Kept apart so that the sampler counts each split's records (`records_read[split]`).
  """
  per_split = {}
  for split in splits:
    tfxio = tfxio_utils.get_split_tfxio(
        examples=[examples], split=split,
        telemetry_descriptors=_TELEMETRY_DESCRIPTORS,
        read_as_raw_records=True, raw_record_column_name=_RAW_RECORD_COLUMN)
    per_split[split] = pipeline | f'ReadExamples[{split}]' >> tfxio.RawRecordBeamSource()
  return per_split


def read_examples(pipeline: beam.Pipeline, examples: types.Artifact,
                  splits: Sequence[str]) -> beam.PCollection:
  """The serialized records of `splits`, in one PCollection."""
  return (tuple(read_splits(pipeline, examples, splits).values())
          | 'FlattenSplits' >> beam.Flatten())


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
