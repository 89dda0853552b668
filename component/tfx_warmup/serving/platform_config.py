"""The TF Serving settings that decide what a version swap costs the serving version.

TF Serving loads a new version while the old one keeps answering requests.
Both versions' sessions run their graphs on inter-op thread pools: with no
`session_inter_op_thread_pool` listed (the default), every session in the
process shares one pool, so the new version's restore, init ops and warmup
replay compete with the old version's requests. Listing pools in
`session_config` gives each session its own (or a pool named by `global_name`,
shared by every session naming it); requests run on the first,
`session_run_load_threadpool_index` puts the load (LoadSavedModel and the
warmup replay, bundle_factory_util.cc GetRunOptions) on another. The op
parallelism (`intra_op_parallelism_threads`, `inter_op_parallelism_threads`)
sizes TensorFlow's own pools, and `num_model_warmup_threads` replays the warmup
records on that many threads (saved_model_warmup_util.cc).

Which of these a command line can say is model_servers/server.cc's decision:
without `--platform_config_file` it builds the SessionBundleConfig from the
flags (--tensorflow_intra_op_parallelism, --tensorflow_inter_op_parallelism,
--enable_model_warmup, --num_request_iterations_for_warmup, --enable_batching,
--batching_parameters_file); no flag sets the pools, the load pool or the
warmup threads. With the file it ignores all of those flags (main.cc says so
of each) and takes its SessionBundleConfig from the file alone, where proto3
defaults apply: warmup is off unless the file turns it on. So the file written
here restates warmup, its iterations, the parallelism and the batching
parameters, and `server_command` passes either the file or the flags, never
both.
"""
import dataclasses
import shlex
from typing import Optional, Tuple

from google.protobuf import text_format
from tensorflow.core.protobuf import config_pb2

from tfx_warmup.serving import protos
from tfx_warmup.serving.errors import ServingConfigError

# The platform name TF Serving's SavedModel (TF1 session) loader is registered under.
TENSORFLOW_PLATFORM = 'tensorflow'
_ADAPTER_CONFIG = 'SavedModelBundleSourceAdapterConfig'


def _is_int(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _threads(count: int) -> str:
  return f'{count} thread{"s" if count > 1 else ""}'


@dataclasses.dataclass(frozen=True)
class ThreadPool:
  """One ThreadPoolOptionProto of `session_config.session_inter_op_thread_pool`."""
  num_threads: int = 0  # 0: one thread per core (TF's default).
  global_name: str = ''  # '': owned by its session; a name: shared by every session naming it.

  def __post_init__(self):
    if not _is_int(self.num_threads) or self.num_threads < 0:
      raise ServingConfigError(
          f'ThreadPool num_threads must be a non-negative int (0: one per core), got '
          f'{self.num_threads!r}; TensorFlow cannot create a pool of negative size.')
    if not isinstance(self.global_name, str):
      raise ServingConfigError(
          f'ThreadPool global_name must be a str, got {self.global_name!r}.')

  def describe(self) -> str:
    return 'one thread per core' if self.num_threads == 0 else _threads(self.num_threads)


@dataclasses.dataclass(frozen=True)
class ServerConfig:
  """The SessionBundleConfig settings a version swap depends on.

  `load_pool_index` is not checked against `pools`: TF Serving accepts such a
  file and fails the load ("Invalid inter_op_thread_pool: N"). -1 is
  TensorFlow's "on the calling thread".
  """
  pools: Tuple[ThreadPool, ...] = ()  # session_config.session_inter_op_thread_pool
  load_pool_index: Optional[int] = None  # session_run_load_threadpool_index
  enable_model_warmup: bool = True
  num_request_iterations: int = 1
  intra_op_threads: int = 0  # session_config.intra_op_parallelism_threads; 0: TF's default.
  inter_op_threads: int = 0  # session_config.inter_op_parallelism_threads; 0: TF's default.
  num_model_warmup_threads: int = 1  # model_warmup_options.num_model_warmup_threads

  def __post_init__(self):
    pools = tuple(self.pools)
    if not all(isinstance(p, ThreadPool) for p in pools):
      raise ServingConfigError(f'ServerConfig pools must be ThreadPools, got {self.pools!r}.')
    object.__setattr__(self, 'pools', pools)
    if self.load_pool_index is not None and (
        not _is_int(self.load_pool_index) or self.load_pool_index < -1):
      raise ServingConfigError(
          f'ServerConfig load_pool_index must be None, -1 (the calling thread) or a '
          f'pool index, got {self.load_pool_index!r}.')
    if not isinstance(self.enable_model_warmup, bool):
      raise ServingConfigError(
          f'ServerConfig enable_model_warmup must be a bool, got {self.enable_model_warmup!r}.')
    if not _is_int(self.num_request_iterations) or self.num_request_iterations < 1:
      raise ServingConfigError(
          f'ServerConfig num_request_iterations must be an int >= 1, got '
          f'{self.num_request_iterations!r}; to warm nothing, set enable_model_warmup=False.')
    for name, flag in (('intra_op_threads', 'tensorflow_intra_op_parallelism'),
                       ('inter_op_threads', 'tensorflow_inter_op_parallelism')):
      value = getattr(self, name)
      if not _is_int(value) or value < 0:
        raise ServingConfigError(
            f'ServerConfig {name} must be an int >= 0 (TF Serving\'s --{flag}), got '
            f'{value!r}; 0 leaves the choice to TensorFlow (one thread per core), as '
            'TF Serving does by default.')
    if not _is_int(self.num_model_warmup_threads) or self.num_model_warmup_threads < 1:
      raise ServingConfigError(
          f'ServerConfig num_model_warmup_threads must be an int >= 1, got '
          f'{self.num_model_warmup_threads!r}; 1 replays the warmup records one at a time, '
          'as TF Serving does by default.')

  def needs_platform_config(self) -> bool:
    """Whether only a --platform_config_file can say this config (server.cc has no flag).

    The pools, the load pool and the warmup threads have no flag; the op
    parallelism, warmup on/off and its iterations have.
    """
    return bool(self.pools) or self.load_pool_index is not None or (
        self.num_model_warmup_threads > 1)

  def session_config(self,
                     base: Optional[config_pb2.ConfigProto] = None) -> config_pb2.ConfigProto:
    """A copy of `base` (never changed) whose inter-op pools are exactly `pools`.

    A non-zero op parallelism replaces base's; zero leaves base's (0 in a
    default ConfigProto: TensorFlow picks, one thread per core).
    """
    config = config_pb2.ConfigProto()
    if base is not None:
      config.CopyFrom(base)
    del config.session_inter_op_thread_pool[:]
    for pool in self.pools:
      config.session_inter_op_thread_pool.add(
          num_threads=pool.num_threads, global_name=pool.global_name)
    if self.intra_op_threads:
      config.intra_op_parallelism_threads = self.intra_op_threads
    if self.inter_op_threads:
      config.inter_op_parallelism_threads = self.inter_op_threads
    return config

  def load_run_options(self) -> config_pb2.RunOptions:
    """The RunOptions of the load and the warmup replay (GetRunOptions)."""
    options = config_pb2.RunOptions()
    if self.load_pool_index is not None:
      options.inter_op_thread_pool = self.load_pool_index
    return options

  def bundle_config(self, batching_parameters: Optional[str] = None):
    """The SessionBundleConfig message TF Serving would run with.

    `batching_parameters` is BatchingParameters text (a --batching_parameters_file's
    content); given, it turns server-side batching on, as the file's presence does.
    """
    config = protos.message_class('SessionBundleConfig')()
    if self.pools or self.intra_op_threads or self.inter_op_threads:
      config.session_config.MergeFromString(self.session_config().SerializeToString())
    if self.load_pool_index is not None:
      config.session_run_load_threadpool_index.value = self.load_pool_index
    config.enable_model_warmup = self.enable_model_warmup
    config.model_warmup_options.num_request_iterations.value = self.num_request_iterations
    if self.num_model_warmup_threads > 1:
      config.model_warmup_options.num_model_warmup_threads.value = self.num_model_warmup_threads
    if batching_parameters is not None:
      config.batching_parameters.SetInParent()
      try:
        text_format.Parse(batching_parameters, config.batching_parameters)
      except text_format.ParseError as e:
        raise ServingConfigError(
            f'batching_parameters is not a valid TF Serving BatchingParameters text proto: '
            f'{str(e).rstrip(".")}. Pass the content of a --batching_parameters_file, e.g. '
            '"max_batch_size { value: 32 } allowed_batch_sizes: 8 allowed_batch_sizes: 32".'
        ) from e
    return config

  def describe(self) -> str:
    """One short line, e.g. "per-session pools [one thread per core, 1 thread], load on pool 1"."""
    if self.pools:
      named = [p for p in self.pools if p.global_name]
      listed = ', '.join(p.describe() + (f' shared as {p.global_name!r}' if p.global_name
                                         else '') for p in self.pools)
      pools = f'{"pools" if named else "per-session pools"} [{listed}]'
      index = 0 if self.load_pool_index is None else self.load_pool_index
    else:
      pools = 'one process-wide pool'
      index = self.load_pool_index
    if index is None:
      load = 'load on it, with the requests'
    elif index == -1:
      load = 'load on the calling thread'
    elif index >= max(len(self.pools), 1):
      load = f'load on pool {index} (none such: the load fails)'
    else:
      load = f'load on pool {index}' + (', with the requests' if index == 0 else '')
    if not self.enable_model_warmup:
      warmup = ', warmup off'
    else:
      warmup = (f' x{self.num_request_iterations}' if self.num_request_iterations > 1 else ''
                ) + (f' on {self.num_model_warmup_threads} threads'
                     if self.num_model_warmup_threads > 1 else '')
      warmup = f', warmup{warmup}' if warmup else ''
    parallelism = ''.join(
        f', {name} {_threads(value)}' for name, value in (('intra-op', self.intra_op_threads),
                                                         ('inter-op', self.inter_op_threads))
        if value)
    return f'{pools}, {load}{warmup}{parallelism}'


# What tensorflow_model_server does without a platform config file.
TF_SERVING_DEFAULTS = ServerConfig()


def platform_config_text(config: ServerConfig,
                         batching_parameters: Optional[str] = None) -> str:
  """The text PlatformConfigMap to pass as --platform_config_file for `config`."""
  adapter = protos.message_class(_ADAPTER_CONFIG)()
  adapter.legacy_config.CopyFrom(config.bundle_config(batching_parameters))
  platform_map = protos.message_class('PlatformConfigMap')()
  platform_map.platform_configs[TENSORFLOW_PLATFORM].source_adapter_config.Pack(adapter)
  text = text_format.MessageToString(platform_map, descriptor_pool=protos.POOL)
  return f'# {config.describe()}\n{text}'


def read_platform_config(text: str, source: str = '<text>'):
  """The 'tensorflow' platform's SessionBundleConfig (legacy_config) of a platform config file."""
  platform_map = protos.message_class('PlatformConfigMap')()
  example = ('platform_configs { key: "tensorflow" value { source_adapter_config { '
             f'[type.googleapis.com/{protos.PACKAGE}.{_ADAPTER_CONFIG}] '
             '{ legacy_config { ... } } } } }')
  try:
    text_format.Parse(text, platform_map, descriptor_pool=protos.POOL)
  except text_format.ParseError as e:
    raise ServingConfigError(
        f'{source} is not a valid TF Serving PlatformConfigMap text proto: '
        f'{str(e).rstrip(".")}. TF Serving would refuse to start with it; write it as '
        f'{example}.') from e
  if TENSORFLOW_PLATFORM not in platform_map.platform_configs:
    raise ServingConfigError(
        f'{source} configures no "{TENSORFLOW_PLATFORM}" platform (it has '
        f'{sorted(platform_map.platform_configs) or "none"}), so TF Serving could load no '
        f'SavedModel with it. Add {example}.')
  any_config = platform_map.platform_configs[TENSORFLOW_PLATFORM].source_adapter_config
  adapter = protos.message_class(_ADAPTER_CONFIG)()
  if not any_config.Is(adapter.DESCRIPTOR):
    raise ServingConfigError(
        f'{source}: the "{TENSORFLOW_PLATFORM}" platform\'s source_adapter_config is '
        f'{any_config.type_url or "empty"!r}, not a {protos.PACKAGE}.{_ADAPTER_CONFIG}, the '
        f'config of the SavedModel loader. Write it as {example}.')
  any_config.Unpack(adapter)
  return adapter.legacy_config


def server_command(model_name: str, model_base_path: str, config: ServerConfig, *,
                   platform_config_file: Optional[str],
                   preload: Optional[str] = None,
                   batching_parameters_file: Optional[str] = None,
                   port: int = 8500, rest_api_port: int = 8501) -> str:
  """The complete `tensorflow_model_server` shell line that serves the model under `config`.

  `platform_config_file` is the path the server will read `platform_config_text(config)`
  from (None: no file; then `config` must not `needs_platform_config()`). With the
  file, TF Serving ignores the parallelism, warmup and batching flags
  (model_servers/main.cc, server.cc), so none is passed: the file carries them,
  batching parameters included. Without it, each non-default setting becomes its
  flag, and `batching_parameters_file` turns batching on (server.cc refuses the
  file without --enable_batching). `preload`, an allocator library's path,
  becomes an `LD_PRELOAD=` prefix. One line, each argument shell-quoted.
  """
  if platform_config_file is None and config.needs_platform_config():
    raise ServingConfigError(
        f'The server config ({config.describe()}) sets thread pools, a load pool or warmup '
        'threads, which tensorflow_model_server takes only from a --platform_config_file '
        '(model_servers/server.cc has no flag for them); write platform_config_text(config) '
        'to a file and pass its path as platform_config_file.')
  flags = [('port', int(port)), ('rest_api_port', int(rest_api_port)),
           ('model_name', model_name), ('model_base_path', model_base_path)]
  if platform_config_file is not None:
    flags.append(('platform_config_file', platform_config_file))
  else:
    if config.intra_op_threads:
      flags.append(('tensorflow_intra_op_parallelism', config.intra_op_threads))
    if config.inter_op_threads:
      flags.append(('tensorflow_inter_op_parallelism', config.inter_op_threads))
    if not config.enable_model_warmup:
      flags.append(('enable_model_warmup', 'false'))
    elif config.num_request_iterations > 1:
      flags.append(('num_request_iterations_for_warmup', config.num_request_iterations))
    if batching_parameters_file is not None:
      flags += [('enable_batching', 'true'), ('batching_parameters_file', batching_parameters_file)]
  line = ' '.join(['tensorflow_model_server'] + [f'--{name}={shlex.quote(str(value))}'
                                                 for name, value in flags])
  return f'LD_PRELOAD={shlex.quote(preload)} {line}' if preload else line
