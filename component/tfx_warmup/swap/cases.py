"""The ways a swap is run, side by side: TF Serving's defaults, the candidates, no warmup.

(a) TF Serving's defaults: no session pools, glibc's malloc, TensorFlow's thread
    counts, so the new version's restore, init and warmup replay run on the
    process-wide inter-op pool the serving version's requests use;
(b) candidates for the settings that keep the serving version flat, by group:
    - 'pools': SessionBundleConfigs only `--platform_config_file` can set: a
      one-thread load pool per session (bundle_factory_test.h's pool 1 with 1
      thread), the same pools named (shared by every version), and per-session
      pools alone;
    - 'allocator': jemalloc and tcmalloc through LD_PRELOAD (the maintainers'
      answer to memory growing at each reload, tensorflow/serving #2142);
    - 'threads': one intra-op thread (`--tensorflow_intra_op_parallelism=1`),
      one inter-op thread (`--tensorflow_inter_op_parallelism=1`), the replay on
      as many threads as cores (`num_model_warmup_threads`), and,
      when the user replays each record more than once, TF Serving's single
      iteration;
    then, when two or more groups each have a winner, the winners combined;
(c) the defaults without a warmup file: a shorter swap window, paid back by
    the new version's first requests.
"""

import dataclasses
import os
from typing import Any, Dict, Optional, Sequence, Tuple

from tfx_warmup.serving.platform_config import ServerConfig, ThreadPool

# The candidate groups, in the order they are measured and reported.
GROUPS = ('pools', 'allocator', 'threads')
GLIBC = 'glibc'


@dataclasses.dataclass(frozen=True)
class Case:
  """One way to run the swap: a server config and allocator, with or without the warmup file."""
  name: str
  role: str  # 'a', 'b' or 'c', as the docs and the report group them
  server: ServerConfig
  warmup: bool
  description: str
  group: str = ''  # the candidate group of a (b) case ('pools', ...; 'combined'); '' otherwise
  allocator: str = GLIBC  # 'glibc', or the allocator LD_PRELOADed (swap.allocators)
  parts: Tuple[str, ...] = ()  # the candidates a 'combined' case joins

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, data: Dict[str, Any]) -> 'Case':
    server = dict(data['server'])
    server['pools'] = tuple(ThreadPool(**p) for p in server['pools'])
    return cls(**dict(data, server=ServerConfig(**server), parts=tuple(data.get('parts', ()))))


def _server(num_request_iterations: int, **settings) -> ServerConfig:
  settings.setdefault('num_request_iterations', num_request_iterations)
  return ServerConfig(**settings)


def defaults(num_request_iterations: int = 1) -> Case:
  """(a): what tensorflow_model_server does with no flags but the warmup's iterations."""
  return Case('defaults', 'a', _server(num_request_iterations), True,
              "TF Serving's defaults, with the warmup file: the load and the replay share "
              "the serving version's inter-op pool")


def no_warmup(num_request_iterations: int = 1) -> Case:
  """(c): the defaults with warmup off."""
  return Case('no-warmup', 'c', _server(num_request_iterations, enable_model_warmup=False),
              False, "TF Serving's defaults without the warmup file: the new version's first "
              'requests pay its cold start')


def candidates(group: str, num_request_iterations: int = 1,
               cores: Optional[int] = None) -> Tuple[Case, ...]:
  """The (b) cases of one group. `cores` sizes the warmup threads (default: this machine's)."""
  n = num_request_iterations
  if group == 'pools':
    return (
        Case('load-pool', 'b', _server(n, pools=(ThreadPool(), ThreadPool(num_threads=1)),
                                       load_pool_index=1), True,
             'each version its own request pool and a 1-thread pool for its load and replay '
             '(session_run_load_threadpool_index: 1)', group),
        Case('named-pools', 'b',
             _server(n, pools=(ThreadPool(global_name='requests'),
                               ThreadPool(num_threads=1, global_name='load')),
                     load_pool_index=1), True,
             'one request pool and one 1-thread load pool, named, so every version shares '
             'them', group),
        Case('session-pools', 'b', _server(n, pools=(ThreadPool(),)), True,
             'each version its own inter-op pool, the load and replay on it', group),
    )
  if group == 'allocator':
    return (
        Case('jemalloc', 'b', _server(n), True,
             "TF Serving's defaults with jemalloc preloaded (LD_PRELOAD)", group, 'jemalloc'),
        Case('tcmalloc', 'b', _server(n), True,
             "TF Serving's defaults with tcmalloc preloaded (LD_PRELOAD)", group, 'tcmalloc'),
    )
  if group == 'threads':
    cores = cores or os.cpu_count() or 1
    chosen = [
        Case('intra-op-1', 'b', _server(n, intra_op_threads=1), True,
             'one intra-op thread (--tensorflow_intra_op_parallelism=1): a request\'s ops do '
             'not fan out over the cores the load needs', group),
        Case('inter-op-1', 'b', _server(n, inter_op_threads=1), True,
             'one inter-op thread (--tensorflow_inter_op_parallelism=1): the load and the '
             'requests take turns on one pool thread instead of all contending', group),
    ]
    if cores > 1:
      chosen.append(Case(
          'warmup-threads', 'b', _server(n, num_model_warmup_threads=cores), True,
          f'the warmup replay on {cores} threads (num_model_warmup_threads: {cores}): a '
          'shorter window, the cores shared with the requests', group))
    if n > 1:
      chosen.append(Case(
          'iterations-1', 'b', _server(1), True,
          f'each warmup record replayed once, as TF Serving does by default, not {n} times',
          group))
    return tuple(chosen)
  raise ValueError(f"Unknown candidate group '{group}': one of {', '.join(GROUPS)}.")


def cases(num_request_iterations: int = 1, groups: Sequence[str] = GROUPS,
          cores: Optional[int] = None) -> Tuple[Case, ...]:
  """(a), the (b) candidates of `groups`, then (c)."""
  chosen = [defaults(num_request_iterations)]
  for group in GROUPS:
    if group in groups:
      chosen.extend(candidates(group, num_request_iterations, cores))
  chosen.append(no_warmup(num_request_iterations))
  return tuple(chosen)


def combine(winners: Sequence[Case], num_request_iterations: int = 1) -> Case:
  """One case with every winner's settings: the pools of one, the allocator of another, ...

  Each group changes its own settings (pools and load pool; the allocator; thread
  counts and iterations), so the winners of different groups never conflict.
  """
  base = defaults(num_request_iterations).server
  settings: Dict[str, Any] = {}
  allocator = GLIBC
  for case in winners:
    for field in dataclasses.fields(ServerConfig):
      value = getattr(case.server, field.name)
      if value != getattr(base, field.name):
        settings[field.name] = value
    if case.allocator != GLIBC:
      allocator = case.allocator
  names = ' + '.join(c.name for c in winners)
  settings.setdefault('num_request_iterations', num_request_iterations)
  return Case('combined', 'b', ServerConfig(**settings), True,
              f'the winners of each group together: {names}', 'combined', allocator,
              tuple(c.name for c in winners))
