"""TF Serving's config messages that the pip package tensorflow-serving-api lacks.

tensorflow-serving-api ships the request and model-server protos, not the ones
a `--batching_parameters_file`, a `--platform_config_file` or a model's
`assets.extra/saved_model_config.pb` are written in. They are declared here
from field tables (names, numbers, types and labels of tensorflow/serving
@9d981c5), in one private descriptor pool, so those files parse exactly as
strictly as TF Serving parses them and what is written here is what it reads.
`session_config` is TensorFlow's own ConfigProto, its files copied into the pool.

Left out: SessionBundleConfig.in_graph_batching_parameters (BatchingOptions,
not in TF Serving's public protos); the TFRT and grappler configs of
SessionOverrides and SavedModelConfig are bytes, which read the same wire format.
"""

import functools
from typing import Dict, List, Sequence, Tuple

from google.protobuf import any_pb2
from google.protobuf import descriptor
from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory
from google.protobuf import wrappers_pb2
from tensorflow.core.protobuf import config_pb2
from tensorflow.core.protobuf import named_tensor_pb2

PACKAGE = 'tensorflow.serving'

# Field tables: name, number, type (a scalar type or a '.full.MessageName'), label.
# Label 'proto3_optional' is proto3's `optional` (explicit presence).
_BATCHING_PARAMETERS = (
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

_MODEL_WARMUP_OPTIONS = (
    ('num_request_iterations', 1, '.google.protobuf.Int32Value', 'optional'),
    ('num_model_warmup_threads', 2, '.google.protobuf.Int32Value', 'optional'),
    ('model_name', 3, 'string', 'optional'),
    ('model_version', 4, 'int64', 'optional'),
    ('enable_all_batch_sizes_warmup', 5, 'bool', 'optional'),
)

_SESSION_BUNDLE_CONFIG = (
    ('session_target', 1, 'string', 'optional'),
    ('session_config', 2, '.tensorflow.ConfigProto', 'optional'),
    ('batching_parameters', 3, '.tensorflow.serving.BatchingParameters', 'optional'),
    ('session_run_load_threadpool_index', 4, '.google.protobuf.Int32Value', 'optional'),
    ('experimental_transient_ram_bytes_during_load', 5, 'uint64', 'optional'),
    ('saved_model_tags', 6, 'string', 'repeated'),
    ('experimental_fixed_input_tensors', 778, '.tensorflow.NamedTensorProto', 'repeated'),
    ('enable_model_warmup', 779, 'bool', 'optional'),
    ('model_warmup_options', 780, '.tensorflow.serving.ModelWarmupOptions', 'optional'),
    ('enable_session_metadata', 781, 'bool', 'optional'),
    ('remove_unused_fields_from_bundle_metagraph', 782, 'bool', 'optional'),
    ('prefer_tflite_model', 783, 'bool', 'optional'),
    ('resource_estimation_uses_validation_result', 784, 'bool', 'optional'),
    ('num_tflite_interpreters', 785, 'int32', 'optional'),  # Deprecated.
    ('num_tflite_interpreters_per_pool', 786, 'int32', 'optional'),
    ('num_tflite_pools', 787, 'int32', 'optional'),
    ('wrap_session_with_no_threading_params', 788, 'bool', 'optional'),
    ('enable_per_model_batching_params', 789, 'bool', 'optional'),
    ('enable_saved_model_config', 790, 'bool', 'optional'),
    ('mixed_precision', 791, 'string', 'optional'),
)

_SOURCE_ADAPTER_CONFIG = (
    ('legacy_config', 1000, '.tensorflow.serving.SessionBundleConfig', 'optional'),
)

_PLATFORM_CONFIG = (
    ('source_adapter_config', 1, '.google.protobuf.Any', 'optional'),
)

_PLATFORM_CONFIG_MAP = (  # map<string, PlatformConfig>: repeated entries, see _MAP_ENTRIES.
    ('platform_configs', 1, '.tensorflow.serving.PlatformConfigMap.PlatformConfigsEntry',
     'repeated'),
)

_SESSION_OVERRIDES = (
    ('remote_op_remap_config', 1, 'bytes', 'proto3_optional'),  # tools.RemoteOpRemapConfig
    ('batch_op_rewriter_config', 2, 'bytes', 'proto3_optional'),  # BatchOpRewriteConfig
    ('disable_meta_optimizer', 3, 'bool', 'proto3_optional'),
)

_SAVED_MODEL_CONFIG = (
    ('session_overrides', 1, '.tensorflow.serving.SessionOverrides', 'proto3_optional'),
    ('tfrt_runtime_config', 2, 'bytes', 'proto3_optional'),  # tfrt_stub.RuntimeConfigProto
    ('critical', 3, 'bool', 'optional'),
)

# Map fields' entry messages: message -> (entry name, key type, value type).
_MAP_ENTRIES = {
    'PlatformConfigMap': ('PlatformConfigsEntry', 'string', '.tensorflow.serving.PlatformConfig'),
}

# File (named after TF Serving's, under tfx_warmup/) -> its messages, in declaration order.
_FILES = (
    ('tensorflow_serving/servables/tensorflow/session_bundle_config.proto',
     (('ModelWarmupOptions', _MODEL_WARMUP_OPTIONS),
      ('SessionBundleConfig', _SESSION_BUNDLE_CONFIG),
      ('BatchingParameters', _BATCHING_PARAMETERS))),
    ('tensorflow_serving/servables/tensorflow/saved_model_bundle_source_adapter.proto',
     (('SavedModelBundleSourceAdapterConfig', _SOURCE_ADAPTER_CONFIG),)),
    ('tensorflow_serving/config/platform_config.proto',
     (('PlatformConfig', _PLATFORM_CONFIG), ('PlatformConfigMap', _PLATFORM_CONFIG_MAP))),
    ('tensorflow_serving/servables/tensorflow/saved_model_config.proto',
     (('SessionOverrides', _SESSION_OVERRIDES), ('SavedModelConfig', _SAVED_MODEL_CONFIG))),
)

_Field = descriptor_pb2.FieldDescriptorProto


def _add_fields(message: descriptor_pb2.DescriptorProto,
                fields: Sequence[Tuple[str, int, str, str]]) -> None:
  for name, number, type_name, label in fields:
    field = message.field.add(name=name, number=number)
    if label == 'proto3_optional':  # Presence through a synthetic oneof, as protoc makes it.
      field.proto3_optional = True
      field.oneof_index = len(message.oneof_decl)
      message.oneof_decl.add(name=f'_{name}')
    field.label = getattr(_Field, 'LABEL_OPTIONAL' if label == 'proto3_optional'
                          else f'LABEL_{label.upper()}')
    if type_name.startswith('.'):
      field.type = _Field.TYPE_MESSAGE
      field.type_name = type_name
    else:
      field.type = getattr(_Field, f'TYPE_{type_name.upper()}')


def _imported_files() -> List[descriptor.FileDescriptor]:
  """The files the tables refer to, each after its own imports (as a pool needs them)."""
  ordered: Dict[str, descriptor.FileDescriptor] = {}

  def visit(file: descriptor.FileDescriptor) -> None:
    if file.name in ordered:
      return
    for dependency in file.dependencies:
      visit(dependency)
    ordered[file.name] = file

  for file in (wrappers_pb2.DESCRIPTOR, any_pb2.DESCRIPTOR, config_pb2.DESCRIPTOR,
               named_tensor_pb2.DESCRIPTOR):
    visit(file)
  return list(ordered.values())


def _build_pool() -> descriptor_pool.DescriptorPool:
  built = descriptor_pool.DescriptorPool()  # Private: nothing else registers these names here.
  imported = []
  for file in _imported_files():
    file_proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(file_proto)
    built.Add(file_proto)
    imported.append(file_proto.name)
  previous: List[str] = []
  for path, messages in _FILES:
    file_proto = descriptor_pb2.FileDescriptorProto(
        name=f'tfx_warmup/{path}', package=PACKAGE, syntax='proto3',
        dependency=imported + previous)
    for name, fields in messages:
      message = file_proto.message_type.add(name=name)
      _add_fields(message, fields)
      if name in _MAP_ENTRIES:
        entry_name, key_type, value_type = _MAP_ENTRIES[name]
        entry = message.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        _add_fields(entry, (('key', 1, key_type, 'optional'),
                            ('value', 2, value_type, 'optional')))
    built.Add(file_proto)
    previous.append(file_proto.name)
  return built


POOL = _build_pool()
_FACTORY = message_factory.MessageFactory(POOL)  # One factory: one class per message.


def pool() -> descriptor_pool.DescriptorPool:
  """The pool holding these messages, e.g. for text_format's Any expansion."""
  return POOL


@functools.lru_cache(maxsize=None)
def message_class(name: str):
  """The class of message `name` ('SessionBundleConfig' or a full name), from POOL.

  Also serves TensorFlow's messages copied into the pool ('tensorflow.ConfigProto'),
  which are distinct classes from config_pb2's: convert by serializing.
  """
  full_name = name if '.' in name else f'{PACKAGE}.{name}'
  try:
    message_descriptor = POOL.FindMessageTypeByName(full_name)
  except KeyError as e:
    raise KeyError(f'No message {full_name} among the TF Serving protos of '
                   'tfx_warmup.serving.protos.') from e
  return _FACTORY.GetPrototype(message_descriptor)
