"""Reads the chosen splits and samples examples with Beam.

The sample is a seeded bottom-k: every record gets a keyed hash of its bytes and
the k smallest hashes win. That is uniform, deterministic for a seed whatever the
file order or worker count, single pass, and mergeable (Beam's Top combiner keeps
at most k elements per worker), so memory is bounded by `num_examples`.
"""

import hashlib
from typing import List, Optional, Sequence, Tuple

import apache_beam as beam
from tfx import types
from tfx.components.util import examples_utils
from tfx.components.util import tfxio_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
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


def read_examples(pipeline: beam.Pipeline, examples: types.Artifact,
                  splits: Sequence[str]) -> beam.PCollection:
  """The serialized records of `splits`, one Beam source per split."""
  per_split = []
  for split in splits:
    tfxio = tfxio_utils.get_split_tfxio(
        examples=[examples], split=split,
        telemetry_descriptors=_TELEMETRY_DESCRIPTORS,
        read_as_raw_records=True, raw_record_column_name=_RAW_RECORD_COLUMN)
    per_split.append(pipeline | f'ReadExamples[{split}]' >> tfxio.RawRecordBeamSource())
  return tuple(per_split) | 'FlattenSplits' >> beam.Flatten()


def sample_key(record: bytes, seed: int) -> bytes:
  """The record's rank in the sample: a keyed hash, stable across machines."""
  return hashlib.blake2b(record, digest_size=8,
                         key=seed.to_bytes(8, 'little', signed=True)).digest()


@beam.ptransform_fn
@beam.typehints.with_input_types(bytes)
@beam.typehints.with_output_types(List[bytes])
def SampleExamples(records: beam.PCollection, num_examples: int,  # pylint: disable=invalid-name
                   seed: int) -> beam.PCollection:
  """One element: the sampled records (at most `num_examples`), in rank order."""
  def by_rank(record: bytes) -> Tuple[bytes, bytes]:
    return sample_key(record, seed), record

  return (records
          | 'Rank' >> beam.Map(by_rank)
          | 'BottomK' >> beam.combiners.Top.Smallest(num_examples)
          | 'DropRank' >> beam.Map(lambda ranked: [record for _, record in ranked]))
