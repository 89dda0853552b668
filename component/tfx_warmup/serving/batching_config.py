"""Reads a TF Serving batching parameters file (--batching_parameters_file).

With server-side batching, TF Serving pads each batch up to one of
`allowed_batch_sizes`, so those are the shapes the model actually runs and the
sizes that need warming; with no allowed sizes listed, batches take any size up
to `max_batch_size`, and powers of two up to it are warmed.

The pip package tensorflow-serving-api does not ship the BatchingParameters
proto, so its schema is declared in `protos`: the file is parsed exactly as
strictly as TF Serving parses it.
"""

import dataclasses
from typing import List, Tuple

from google.protobuf import text_format
import tensorflow as tf

from tfx_warmup.serving import protos
from tfx_warmup.serving.errors import ServingConfigError

def batching_parameters_class():
  """The tensorflow.serving.BatchingParameters message class."""
  return protos.message_class('BatchingParameters')


# TF Serving's defaults where the file leaves a field unset (SharedBatchScheduler::QueueOptions).
DEFAULT_MAX_BATCH_SIZE = 1000
DEFAULT_MAX_ENQUEUED_BATCHES = 10


@dataclasses.dataclass(frozen=True)
class BatchingConfig:
  """What TF Serving's BatchingSession does with a batching parameters file.

  `max_batch_size` is the queue's input_batch_size_limit: a larger request is
  refused. With `enable_large_batch_splitting`, a request is run in pieces of at
  most `max_execution_batch_size`; each executed batch is padded up to the first
  `allowed_batch_sizes` entry that holds it.
  """
  max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
  allowed_batch_sizes: Tuple[int, ...] = ()
  enable_large_batch_splitting: bool = False
  max_execution_batch_size: int = DEFAULT_MAX_BATCH_SIZE
  max_enqueued_batches: int = DEFAULT_MAX_ENQUEUED_BATCHES
  pad_variable_length_inputs: bool = False

  def warmed_batch_sizes(self) -> List[int]:
    """The batch sizes the model executes: the allowed sizes, else powers of two."""
    if self.allowed_batch_sizes:
      return list(self.allowed_batch_sizes)
    sizes, size = [], 1
    while size < self.max_batch_size:
      sizes.append(size)
      size *= 2
    return sizes + [self.max_batch_size]


def config_from_file(path: str) -> BatchingConfig:
  """Reads TF Serving's --batching_parameters_file."""
  if not tf.io.gfile.exists(path):
    raise ServingConfigError(
        f'batching_parameters_file {path} does not exist. Pass the file given to '
        "TF Serving's --batching_parameters_file.")
  with tf.io.gfile.GFile(path, 'r') as f:
    text = f.read()
  return config_from_text(text, path)


def config_from_text(text: str, source: str = '<text>') -> BatchingConfig:
  """Parses a BatchingParameters text proto and checks it as TF Serving's load does."""
  params = batching_parameters_class()()
  try:
    text_format.Parse(text, params)
  except text_format.ParseError as e:
    raise ServingConfigError(
        f'{source} is not a valid TF Serving BatchingParameters text proto: '
        f'{str(e).rstrip(".")}. '
        'Fix the file (TF Serving would refuse it too); e.g. '
        '"max_batch_size { value: 128 } allowed_batch_sizes: 32 allowed_batch_sizes: 128".'
    ) from e
  allowed = tuple(params.allowed_batch_sizes)
  has_max = params.HasField('max_batch_size')
  max_size = params.max_batch_size.value if has_max else DEFAULT_MAX_BATCH_SIZE
  splitting = params.enable_large_batch_splitting.value
  max_execution = (params.max_execution_batch_size.value
                   if params.HasField('max_execution_batch_size') else max_size)
  if max_size < 1:
    raise ServingConfigError(
        f'{source}: max_batch_size must be positive, got {max_size}; TF Serving refuses '
        'to load a model with it ("input_batch_size_limit must be positive").')
  if allowed:
    if allowed[-1] != max_size:  # TF Serving's own load check (WrapSessionForBatching).
      raise ServingConfigError(
          f'{source}: TF Serving refuses to load a model with this file: "Last entry in '
          f'allowed_batch_sizes must match max_batch_size; last entry was {allowed[-1]}; '
          f'expected {max_size}". Make the last allowed_batch_sizes entry equal '
          f'max_batch_size{"" if has_max else " (1000 when unset)"}.')
    if any(b < 1 for b in allowed) or list(allowed) != sorted(set(allowed)):
      raise ServingConfigError(
          f'{source}: allowed_batch_sizes {list(allowed)} must be positive and increasing: '
          'TF Serving pads each batch to the first listed size that holds it, so an '
          'unordered list pads to the wrong sizes.')
  elif not has_max:
    raise ServingConfigError(
        f'{source} lists no allowed_batch_sizes and no positive max_batch_size, so '
        'the batch sizes to warm are unknown. Add "max_batch_size { value: N }".')
  if splitting and max_size < max_execution:
    raise ServingConfigError(
        f'{source}: TF Serving refuses to load a model with this file: with '
        f'enable_large_batch_splitting, max_execution_batch_size ({max_execution}) must '
        f'not exceed max_batch_size ({max_size}).')
  return BatchingConfig(
      max_batch_size=max_size, allowed_batch_sizes=allowed,
      enable_large_batch_splitting=splitting,
      max_execution_batch_size=max_execution if splitting else max_size,
      max_enqueued_batches=(params.max_enqueued_batches.value
                            if params.HasField('max_enqueued_batches')
                            else DEFAULT_MAX_ENQUEUED_BATCHES),
      pad_variable_length_inputs=params.pad_variable_length_inputs)
