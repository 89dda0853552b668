"""The server configurations a swap is measured under, side by side.

(a) TF Serving's defaults: no session pools, so the new version's restore, init
    and warmup replay run on the process-wide inter-op pool the serving
    version's requests use;
(b) candidates for the config that keeps the serving version flat, each a
    SessionBundleConfig only `--platform_config_file` can set: a one-thread
    load pool per session (bundle_factory_test.h's pool 1 with 1 thread), the
    same pools named (shared by every version), and per-session pools alone;
(c) the defaults without a warmup file: a shorter swap window, paid back by
    the new version's first requests.
"""

import dataclasses
from typing import Any, Dict, Tuple

from tfx_warmup.serving.platform_config import ServerConfig, ThreadPool


@dataclasses.dataclass(frozen=True)
class Case:
  """One way to run the swap: a server config, with or without the warmup file."""
  name: str
  role: str  # 'a', 'b' or 'c', as the docs and the report group them
  server: ServerConfig
  warmup: bool
  description: str

  def to_json(self) -> Dict[str, Any]:
    return {'name': self.name, 'role': self.role, 'warmup': self.warmup,
            'description': self.description,
            'server': {'pools': [dataclasses.asdict(p) for p in self.server.pools],
                       'load_pool_index': self.server.load_pool_index,
                       'num_request_iterations': self.server.num_request_iterations}}

  @classmethod
  def from_json(cls, data: Dict[str, Any]) -> 'Case':
    server = data['server']
    return cls(name=data['name'], role=data['role'], warmup=data['warmup'],
               description=data['description'],
               server=ServerConfig(pools=tuple(ThreadPool(**p) for p in server['pools']),
                                   load_pool_index=server['load_pool_index'],
                                   enable_model_warmup=data['warmup'],
                                   num_request_iterations=server['num_request_iterations']))


def cases(num_request_iterations: int = 1) -> Tuple[Case, ...]:
  """(a), the (b) candidates, then (c), replaying each record `num_request_iterations` times."""
  def server(pools=(), load_pool_index=None, warmup=True) -> ServerConfig:
    return ServerConfig(pools=tuple(pools), load_pool_index=load_pool_index,
                        enable_model_warmup=warmup,
                        num_request_iterations=num_request_iterations)
  return (
      Case('defaults', 'a', server(), True,
           "TF Serving's defaults, with the warmup file: the load and the replay share "
           "the serving version's inter-op pool"),
      Case('load-pool', 'b', server([ThreadPool(), ThreadPool(num_threads=1)], 1), True,
           'each version its own request pool and a 1-thread pool for its load and replay '
           '(session_run_load_threadpool_index: 1)'),
      Case('named-pools', 'b',
           server([ThreadPool(global_name='requests'),
                   ThreadPool(num_threads=1, global_name='load')], 1), True,
           'one request pool and one 1-thread load pool, named, so every version shares '
           'them'),
      Case('session-pools', 'b', server([ThreadPool()]), True,
           'each version its own inter-op pool, the load and replay on it'),
      Case('no-warmup', 'c', server(warmup=False), False,
           "TF Serving's defaults without the warmup file"),
  )
