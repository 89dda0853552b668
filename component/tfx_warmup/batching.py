"""Reads a TF Serving batching parameters file (--batching_parameters_file).

With server-side batching, TF Serving pads each batch up to one of
`allowed_batch_sizes`, so those are the shapes the model actually runs and the
sizes that need warming; with no allowed sizes listed, batches take any size up
to `max_batch_size`, and powers of two up to it are warmed.

The pip package tensorflow-serving-api does not ship the BatchingParameters
proto, so its schema (field names and numbers of
tensorflow_serving/servables/tensorflow/session_bundle_config.proto) is built
here: the file is parsed exactly as strictly as TF Serving parses it.
"""

import functools
from typing import List

from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory
from google.protobuf import text_format
from google.protobuf import wrappers_pb2
from tfx.dsl.io import fileio

from tfx_warmup.errors import ConfigurationError

_FIELDS = (  # name, number, type, label
    ('max_batch_size', 1, '.google.protobuf.Int64Value', 'optional'),
    ('batch_timeout_micros', 2, '.google.protobuf.Int64Value', 'optional'),
    ('max_enqueued_batches', 3, '.google.protobuf.Int64Value', 'optional'),
    ('num_batch_threads', 4, '.google.protobuf.Int64Value', 'optional'),
    ('thread_pool_name', 5, '.google.protobuf.StringValue', 'optional'),
    ('allowed_batch_sizes', 6, 'int64', 'repeated'),
    ('pad_variable_length_inputs', 7, 'bool', 'optional'),
    ('enable_large_batch_splitting', 8, '.google.protobuf.BoolValue', 'optional'),
    ('max_execution_batch_size', 9, '.google.protobuf.Int64Value', 'optional'),
)


@functools.lru_cache(maxsize=None)
def batching_parameters_class():
  """The tensorflow.serving.BatchingParameters message class."""
  pool = descriptor_pool.DescriptorPool()
  wrappers = descriptor_pb2.FileDescriptorProto()
  wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
  pool.Add(wrappers)
  file_proto = descriptor_pb2.FileDescriptorProto(
      name='tfx_warmup/batching_parameters.proto', package='tensorflow.serving',
      syntax='proto3', dependency=[wrappers.name])
  message = file_proto.message_type.add(name='BatchingParameters')
  for name, number, type_name, label in _FIELDS:
    field = message.field.add(name=name, number=number, label=getattr(
        descriptor_pb2.FieldDescriptorProto, f'LABEL_{label.upper()}'))
    if type_name.startswith('.'):
      field.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
      field.type_name = type_name
    else:
      field.type = getattr(descriptor_pb2.FieldDescriptorProto, f'TYPE_{type_name.upper()}')
  pool.Add(file_proto)
  return message_factory.MessageFactory(pool).GetPrototype(
      pool.FindMessageTypeByName('tensorflow.serving.BatchingParameters'))


def batch_sizes_from_file(path: str) -> List[int]:
  """The batch sizes TF Serving's batching layer executes with this file."""
  if not fileio.exists(path):
    raise ConfigurationError(
        f'batching_parameters_file {path} does not exist. Pass the file given to '
        "TF Serving's --batching_parameters_file.")
  with fileio.open(path, 'r') as f:
    text = f.read()
  return batch_sizes_from_text(text, path)


def batch_sizes_from_text(text: str, source: str = '<text>') -> List[int]:
  params = batching_parameters_class()()
  try:
    text_format.Parse(text, params)
  except text_format.ParseError as e:
    raise ConfigurationError(
        f'{source} is not a valid TF Serving BatchingParameters text proto: '
        f'{str(e).rstrip(".")}. '
        'Fix the file (TF Serving would refuse it too); e.g. '
        '"max_batch_size { value: 128 } allowed_batch_sizes: 32 allowed_batch_sizes: 128".'
    ) from e
  allowed = list(params.allowed_batch_sizes)
  max_size = params.max_batch_size.value if params.HasField('max_batch_size') else None
  if allowed:
    if any(b < 1 for b in allowed) or allowed != sorted(set(allowed)):
      raise ConfigurationError(
          f'{source}: allowed_batch_sizes {allowed} must be positive and increasing, '
          'as TF Serving requires.')
    if max_size is not None and allowed[-1] != max_size:
      raise ConfigurationError(
          f'{source}: the last allowed_batch_sizes entry ({allowed[-1]}) must equal '
          f'max_batch_size ({max_size}), as TF Serving requires.')
    return allowed
  if max_size is None or max_size < 1:
    raise ConfigurationError(
        f'{source} lists no allowed_batch_sizes and no positive max_batch_size, so '
        'the batch sizes to warm are unknown. Add "max_batch_size { value: N }".')
  sizes, size = [], 1
  while size < max_size:
    sizes.append(size)
    size *= 2
  return sizes + [max_size]
