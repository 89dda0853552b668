"""TF Serving's --platform_config_file: what it sets, on the wire and in text, what it refuses."""

import shlex

import pytest
from google.protobuf import text_format
from tensorflow.core.protobuf import config_pb2

from tfx_warmup.serving import batching_config
from tfx_warmup.serving import platform_config as pc
from tfx_warmup.serving import protos
from tfx_warmup.serving import session as serving_session
from tfx_warmup.serving.errors import ServingConfigError

BATCHING = 'max_batch_size { value: 32 } allowed_batch_sizes: 8 allowed_batch_sizes: 32'
SWAP_CONFIG = pc.ServerConfig(pools=(pc.ThreadPool(4), pc.ThreadPool(1, 'loader')),
                              load_pool_index=1, num_request_iterations=3)


def _legacy_config_via_text_format(text):
  """The file's legacy_config, parsed by protobuf alone (not read_platform_config)."""
  platform_map = protos.message_class('PlatformConfigMap')()
  text_format.Parse(text, platform_map, descriptor_pool=protos.pool())
  assert list(platform_map.platform_configs) == ['tensorflow']
  any_config = platform_map.platform_configs['tensorflow'].source_adapter_config
  assert any_config.type_url == (
      'type.googleapis.com/tensorflow.serving.SavedModelBundleSourceAdapterConfig')
  adapter = protos.message_class('SavedModelBundleSourceAdapterConfig')()
  assert any_config.Unpack(adapter)
  return adapter.legacy_config


@pytest.mark.parametrize('parse', [pc.read_platform_config, _legacy_config_via_text_format])
def test_emitted_file_parses_back_with_everything_it_sets(parse):
  text = pc.platform_config_text(SWAP_CONFIG, BATCHING)
  legacy = parse(text)
  pools = legacy.session_config.session_inter_op_thread_pool
  assert [(p.num_threads, p.global_name) for p in pools] == [(4, ''), (1, 'loader')]
  assert legacy.HasField('session_run_load_threadpool_index')
  assert legacy.session_run_load_threadpool_index.value == 1
  assert legacy.enable_model_warmup is True
  assert legacy.model_warmup_options.num_request_iterations.value == 3
  assert legacy.HasField('batching_parameters')
  assert legacy.batching_parameters.max_batch_size.value == 32
  assert list(legacy.batching_parameters.allowed_batch_sizes) == [8, 32]
  # The replica's batching reader takes the batching parameters back as they were given.
  assert batching_config.config_from_text(
      text_format.MessageToString(legacy.batching_parameters)).allowed_batch_sizes == (8, 32)


def test_emitted_file_is_the_any_form_tf_serving_reads():
  text = pc.platform_config_text(SWAP_CONFIG)
  assert text.startswith(f'# {SWAP_CONFIG.describe()}\n')
  assert 'key: "tensorflow"' in text
  assert ('[type.googleapis.com/tensorflow.serving.SavedModelBundleSourceAdapterConfig] {'
          in text)
  assert 'legacy_config {' in text
  assert 'batching_parameters' not in text  # None: server-side batching stays off.


def test_tf_serving_defaults_emit_no_pools_and_no_load_index():
  text = pc.platform_config_text(pc.TF_SERVING_DEFAULTS)
  legacy = pc.read_platform_config(text)
  assert not legacy.HasField('session_config')
  assert not legacy.session_config.session_inter_op_thread_pool
  assert not legacy.HasField('session_run_load_threadpool_index')
  assert 'session_inter_op_thread_pool' not in text
  assert 'session_run_load_threadpool_index' not in text
  # ... but warmup is restated, since the file's proto3 defaults would turn it off.
  assert legacy.enable_model_warmup is True
  assert legacy.model_warmup_options.num_request_iterations.value == 1


def test_a_file_that_leaves_warmup_out_turns_it_off():
  text = ('platform_configs { key: "tensorflow" value { source_adapter_config { '
          '[type.googleapis.com/tensorflow.serving.SavedModelBundleSourceAdapterConfig] '
          '{ legacy_config { session_run_load_threadpool_index { value: 0 } } } } } }')
  legacy = pc.read_platform_config(text)
  assert legacy.enable_model_warmup is False
  assert legacy.HasField('session_run_load_threadpool_index')  # Int32Value: 0 is still set.
  assert not legacy.model_warmup_options.HasField('num_request_iterations')


def test_field_numbers_on_the_wire():
  """Hand-encoded tags, so a wrong field number or type in the tables fails."""
  expected = (b'\x22\x02\x08\x01'  # 4, length-delimited: Int32Value{value: 1}
              b'\xd8\x30\x01'  # 779, varint: true
              b'\xe2\x30\x04\x0a\x02\x08\x03')  # 780: ModelWarmupOptions{1: Int32Value{3}}
  config = protos.message_class('SessionBundleConfig')()
  config.session_run_load_threadpool_index.value = 1
  config.enable_model_warmup = True
  config.model_warmup_options.num_request_iterations.value = 3
  assert config.SerializeToString() == expected
  assert pc.ServerConfig(load_pool_index=1, num_request_iterations=3).bundle_config(
  ).SerializeToString() == expected

  session = config_pb2.ConfigProto()
  session.session_inter_op_thread_pool.add(num_threads=1)
  with_pools = pc.ServerConfig(pools=(pc.ThreadPool(1),)).bundle_config().SerializeToString()
  wire_session = session.SerializeToString()
  assert with_pools.startswith(b'\x12' + bytes([len(wire_session)]) + wire_session)  # 2

  batching = protos.message_class('SessionBundleConfig')()
  text_format.Parse(f'batching_parameters {{ {BATCHING} }}', batching)
  # 3 {1: Int64Value{32}, 6: packed [8, 32]}: proto3 packs repeated scalars.
  assert batching.SerializeToString() == b'\x1a\x08\x0a\x02\x08\x20\x32\x02\x08\x20'

  adapter = protos.message_class('SavedModelBundleSourceAdapterConfig')()
  adapter.legacy_config.enable_model_warmup = True
  assert adapter.SerializeToString() == b'\xc2\x3e\x03\xd8\x30\x01'  # 1000

  overrides = protos.message_class('SavedModelConfig')()
  overrides.session_overrides.disable_meta_optimizer = False  # proto3 `optional`: kept.
  assert overrides.SerializeToString() == b'\x0a\x02\x18\x00'


def test_load_run_options_as_get_run_options():
  assert pc.ServerConfig(load_pool_index=1).load_run_options() == config_pb2.RunOptions(
      inter_op_thread_pool=1)
  assert pc.TF_SERVING_DEFAULTS.load_run_options() == config_pb2.RunOptions()
  assert pc.TF_SERVING_DEFAULTS.load_run_options().ByteSize() == 0
  assert SWAP_CONFIG.load_run_options().inter_op_thread_pool == 1


def test_session_config_is_a_copy_of_base_with_the_pools():
  base = config_pb2.ConfigProto(intra_op_parallelism_threads=2)
  base.session_inter_op_thread_pool.add(num_threads=7)
  before = base.SerializeToString()
  config = SWAP_CONFIG.session_config(base)
  assert base.SerializeToString() == before
  assert config.intra_op_parallelism_threads == 2
  assert [(p.num_threads, p.global_name) for p in config.session_inter_op_thread_pool] == [
      (4, ''), (1, 'loader')]
  assert pc.TF_SERVING_DEFAULTS.session_config() == config_pb2.ConfigProto()


def test_bundle_config_refuses_bad_batching_text():
  with pytest.raises(ServingConfigError, match='not a valid TF Serving BatchingParameters'):
    SWAP_CONFIG.bundle_config('max_batch_size: 32')


_OTHER_ANY = ('platform_configs { key: "tensorflow" value { source_adapter_config { '
              'type_url: "type.googleapis.com/tensorflow.serving.SessionBundleSourceAdapterConfig" '
              '} } }')


@pytest.mark.parametrize('text,cause', [
    ('platform_configs { key: "tensorflow"', 'not a valid TF Serving PlatformConfigMap'),
    ('session_run_load_threadpool_index { value: 1 }', 'has no field named'),
    ('platform_configs { key: "tflite" value { } }', r'no "tensorflow" platform .*tflite'),
    (_OTHER_ANY, 'SessionBundleSourceAdapterConfig.*not a tensorflow.serving.SavedModelBundle'),
    ('platform_configs { key: "tensorflow" value { } }', "is 'empty', not a"),
])
def test_read_platform_config_errors_name_the_source_cause_and_fix(text, cause):
  with pytest.raises(ServingConfigError, match=cause) as raised:
    pc.read_platform_config(text, '/etc/serving/platform.cfg')
  message = str(raised.value)
  assert message.startswith('/etc/serving/platform.cfg')
  assert 'platform_configs { key: "tensorflow"' in message  # The fix: the form to write.


def test_an_any_of_another_known_type_is_refused():
  platform_map = protos.message_class('PlatformConfigMap')()
  platform_map.platform_configs['tensorflow'].source_adapter_config.Pack(
      protos.message_class('SessionBundleConfig')())
  text = text_format.MessageToString(platform_map, descriptor_pool=protos.pool())
  with pytest.raises(ServingConfigError,
                     match=r'^cfg.txt: .*tensorflow.serving.SessionBundleConfig'):
    pc.read_platform_config(text, 'cfg.txt')


def test_server_command_uses_the_platform_config_file():
  command = pc.server_command('ctr', '/models/ctr', SWAP_CONFIG,
                              platform_config_file='/etc/serving/platform config.txt')
  assert "--platform_config_file='/etc/serving/platform config.txt'" in command
  assert '--model_name=ctr' in command
  assert '--model_base_path=/models/ctr' in command
  assert shlex.split(command) == [
      'tensorflow_model_server', '--port=8500', '--rest_api_port=8501', '--model_name=ctr',
      '--model_base_path=/models/ctr', '--platform_config_file=/etc/serving/platform config.txt']


@pytest.mark.parametrize('make', [
    lambda: pc.ThreadPool(num_threads=-1),
    lambda: pc.ThreadPool(num_threads='2'),
    lambda: pc.ServerConfig(num_request_iterations=0),
    lambda: pc.ServerConfig(load_pool_index=-2),
    lambda: pc.ServerConfig(load_pool_index=True),
    lambda: pc.ServerConfig(pools=(4,)),
    lambda: pc.ServerConfig(enable_model_warmup=1),
    lambda: pc.ServerConfig(intra_op_threads=-1),
    lambda: pc.ServerConfig(inter_op_threads=1.5),
    lambda: pc.ServerConfig(inter_op_threads=True),
    lambda: pc.ServerConfig(num_model_warmup_threads=0),
    lambda: pc.ServerConfig(num_model_warmup_threads='4'),
])
def test_server_config_refuses_bad_types_and_negatives(make):
  with pytest.raises(ServingConfigError):
    make()


def test_an_index_past_the_pools_is_left_for_the_load_to_refuse():
  config = pc.ServerConfig(pools=(pc.ThreadPool(1),), load_pool_index=100)
  assert config.bundle_config().session_run_load_threadpool_index.value == 100
  assert config.describe().endswith('load on pool 100 (none such: the load fails)')


@pytest.mark.parametrize('config,line', [
    (pc.TF_SERVING_DEFAULTS, 'one process-wide pool, load on it, with the requests'),
    (pc.ServerConfig(pools=(pc.ThreadPool(), pc.ThreadPool(1)), load_pool_index=1),
     'per-session pools [one thread per core, 1 thread], load on pool 1'),
    (SWAP_CONFIG, "pools [4 threads, 1 thread shared as 'loader'], load on pool 1, warmup x3"),
    (pc.ServerConfig(pools=(pc.ThreadPool(2),), enable_model_warmup=False),
     'per-session pools [2 threads], load on pool 0, with the requests, warmup off'),
    (pc.ServerConfig(intra_op_threads=1, inter_op_threads=2),
     'one process-wide pool, load on it, with the requests, intra-op 1 thread, '
     'inter-op 2 threads'),
    (pc.ServerConfig(num_model_warmup_threads=2),
     'one process-wide pool, load on it, with the requests, warmup on 2 threads'),
    (pc.ServerConfig(num_request_iterations=3, num_model_warmup_threads=2, intra_op_threads=4),
     'one process-wide pool, load on it, with the requests, warmup x3 on 2 threads, '
     'intra-op 4 threads'),
])
def test_describe(config, line):
  assert config.describe() == line


def test_existing_accessors_return_the_shared_classes():
  assert batching_config.batching_parameters_class() is protos.message_class('BatchingParameters')
  assert serving_session.saved_model_config_class() is protos.message_class('SavedModelConfig')
  assert protos.message_class('tensorflow.serving.PlatformConfig') is protos.message_class(
      'PlatformConfig')
  with pytest.raises(KeyError, match='NoSuchConfig'):
    protos.message_class('NoSuchConfig')


THREADS_CONFIG = pc.ServerConfig(intra_op_threads=1, inter_op_threads=3,
                                 num_model_warmup_threads=2)


def test_session_config_sets_the_op_parallelism_when_not_zero():
  base = config_pb2.ConfigProto(intra_op_parallelism_threads=2, inter_op_parallelism_threads=5)
  config = pc.ServerConfig(intra_op_threads=1).session_config(base)
  assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (1, 5)
  config = pc.ServerConfig(inter_op_threads=3).session_config()
  assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (0, 3)
  assert base.intra_op_parallelism_threads == 2  # base is not changed


def test_emitted_file_carries_the_parallelism_and_warmup_threads():
  legacy = pc.read_platform_config(pc.platform_config_text(THREADS_CONFIG))
  assert legacy.HasField('session_config')
  assert legacy.session_config.intra_op_parallelism_threads == 1
  assert legacy.session_config.inter_op_parallelism_threads == 3
  assert not legacy.session_config.session_inter_op_thread_pool
  assert legacy.model_warmup_options.num_model_warmup_threads.value == 2
  assert legacy.model_warmup_options.num_request_iterations.value == 1
  # One warmup thread is TF Serving's default (an unset Int32Value): not written.
  one = pc.ServerConfig(intra_op_threads=1).bundle_config()
  assert not one.model_warmup_options.HasField('num_model_warmup_threads')
  assert one.session_config.intra_op_parallelism_threads == 1


def test_warmup_threads_field_on_the_wire():
  """ModelWarmupOptions.num_model_warmup_threads is field 2, an Int32Value."""
  wire = pc.ServerConfig(num_model_warmup_threads=4).bundle_config().SerializeToString()
  # 779: true, then 780: ModelWarmupOptions{1: Int32Value{1}, 2: Int32Value{4}}.
  assert wire == b'\xd8\x30\x01' b'\xe2\x30\x08\x0a\x02\x08\x01\x12\x02\x08\x04'


@pytest.mark.parametrize('config,needs', [
    (pc.TF_SERVING_DEFAULTS, False),
    (pc.ServerConfig(intra_op_threads=1, inter_op_threads=2), False),
    (pc.ServerConfig(enable_model_warmup=False), False),
    (pc.ServerConfig(num_request_iterations=4), False),
    (pc.ServerConfig(pools=(pc.ThreadPool(),)), True),
    (pc.ServerConfig(load_pool_index=-1), True),
    (pc.ServerConfig(num_model_warmup_threads=2), True),
])
def test_needs_platform_config_only_for_what_no_flag_sets(config, needs):
  assert config.needs_platform_config() is needs


def test_server_command_without_a_file_passes_the_flags():
  config = pc.ServerConfig(intra_op_threads=1, inter_op_threads=2, num_request_iterations=3)
  command = pc.server_command('ctr', '/models/my ctr', config, platform_config_file=None,
                              batching_parameters_file='/etc/batching.txt')
  assert shlex.split(command) == [
      'tensorflow_model_server', '--port=8500', '--rest_api_port=8501', '--model_name=ctr',
      '--model_base_path=/models/my ctr', '--tensorflow_intra_op_parallelism=1',
      '--tensorflow_inter_op_parallelism=2', '--num_request_iterations_for_warmup=3',
      '--enable_batching=true', '--batching_parameters_file=/etc/batching.txt']
  assert shlex.split(pc.server_command('m', '/m', pc.TF_SERVING_DEFAULTS,
                                       platform_config_file=None, port=9000,
                                       rest_api_port=9001)) == [
      'tensorflow_model_server', '--port=9000', '--rest_api_port=9001', '--model_name=m',
      '--model_base_path=/m']
  assert '--enable_model_warmup=false' in pc.server_command(
      'm', '/m', pc.ServerConfig(enable_model_warmup=False, num_request_iterations=2),
      platform_config_file=None)


def test_server_command_with_a_file_passes_none_of_the_flags_it_ignores():
  """main.cc: the parallelism flags are "ignored if --platform_config_file is non-empty"."""
  command = pc.server_command('ctr', '/models/ctr', THREADS_CONFIG,
                              platform_config_file='/cfg.txt',
                              batching_parameters_file='/etc/batching.txt')
  assert shlex.split(command)[-1] == '--platform_config_file=/cfg.txt'
  for flag in ('parallelism', 'warmup', 'batching'):
    assert flag not in command


def test_server_command_preloads_the_allocator_in_one_shell_line():
  command = pc.server_command('ctr', '/models/ctr', pc.TF_SERVING_DEFAULTS,
                              platform_config_file=None, preload='/usr/lib/lib jemalloc.so.2')
  assert command.startswith("LD_PRELOAD='/usr/lib/lib jemalloc.so.2' tensorflow_model_server ")
  assert '\n' not in command


def test_server_command_refuses_a_config_only_a_file_can_say():
  with pytest.raises(ServingConfigError, match='only from a --platform_config_file.*'
                     'platform_config_text'):
    pc.server_command('ctr', '/models/ctr', pc.ServerConfig(num_model_warmup_threads=2),
                      platform_config_file=None)
