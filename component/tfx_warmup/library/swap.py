"""Step 7: measure the version swap, and write the server config that keeps it flat.

The swap goes from the version being served (`baseline_model_dir`, else the
input model itself: version N to N+1) to the written warmed copy, as TF Serving
performs it (`tfx_warmup.swap`). When a candidate config measured better than
TF Serving's defaults, its `--platform_config_file` and the
`tensorflow_model_server` command that uses it are written beside the report,
never inside the SavedModel the Pusher copies. `swap_models` does the same for
two versions warmed before (what `tfx-warmup swap` calls): its traffic comes from
the new version's warmup file, and its report is its own.
"""

import dataclasses
import os
import tempfile
from typing import Optional, Sequence

from absl import logging
from tensorflow_serving.apis import prediction_log_pb2
from tfx.dsl.io import fileio

from tfx_warmup import progress
from tfx_warmup import serving
from tfx_warmup.errors import ConfigurationError
from tfx_warmup.library import live as live_lib
from tfx_warmup.library import output
from tfx_warmup.options import quantity
from tfx_warmup.report.model import SwapSection, WarmupReport, warmup_file_section
from tfx_warmup.serving import batching_config
from tfx_warmup.serving import platform_config
from tfx_warmup.serving.batching_config import BatchingConfig
from tfx_warmup.swap import cases as cases_lib
from tfx_warmup.swap import measure
from tfx_warmup.swap import plot

PLATFORM_CONFIG_FILE = 'platform_config.pbtxt'
PLOT_FILE = 'swap_latency.png'
REPORT_FILE = 'swap_report.json'  # what `tfx-warmup swap --output` writes
# Where the server command expects things: the usual mounts of TF Serving's Docker image.
SERVED_CONFIG_PATH = '/config/' + PLATFORM_CONFIG_FILE


def measure_swap(old_model_dir: str, new_model_dir: str,
                 live: Sequence[prediction_log_pb2.PredictionLog], *,
                 qps: Optional[float] = None, deadline_ms: Optional[float] = None,
                 tags: Sequence[str] = ('serve',), batching: Optional[BatchingConfig] = None,
                 num_request_iterations: int = 1,
                 repetitions: Optional[int] = None,
                 candidates: Sequence[str] = cases_lib.GROUPS,
                 memory_limit: Optional[str] = None,
                 plot_path: Optional[str] = None) -> SwapSection:
  """The swap `old_model_dir` -> `new_model_dir` under each case, in fresh processes.

  `live` is the traffic mix; `repetitions` runs per case (default
  `swap.measure.default_repetitions()`); `candidates` the groups measured beside
  the defaults (`swap.cases.GROUPS`); `memory_limit` the serving container's
  ('4Gi'); `plot_path`, if given, receives a PNG of the latency through the swap.
  Raises SwapError naming the cause (see `swap.measure`), SwapMemoryError when
  the swap's peak passes `memory_limit`.
  """
  repetitions = repetitions or measure.default_repetitions()
  limit_mib = None
  if memory_limit is not None:
    limit_mib = quantity.memory_mib(memory_limit)
    if limit_mib is None:
      raise ConfigurationError(f'memory_limit must be a memory size such as '
                               f'{quantity.EXAMPLES}, got {memory_limit!r}.')
  timelines = {}
  count = measure.process_count(len(cases_lib.cases(num_request_iterations, candidates)),
                                repetitions)
  with progress.reporter().stage(f'Measuring the version swap ({count} fresh processes)',
                                 total=count) as advance:
    def done(line: str) -> None:
      logging.info('Swap: %s', line)
      advance()

    section = measure.measure_swap(
        old_model_dir, new_model_dir, live, qps=qps, deadline_ms=deadline_ms, tags=tags,
        batching=batching, num_request_iterations=num_request_iterations,
        repetitions=repetitions, groups=candidates, memory_limit_mib=limit_mib,
        on_process=done, keep_timelines=timelines)
  if plot_path:
    plot.plot_swap(section, timelines, plot_path)
  measure.check_memory_limit(section)
  return section


def write_server_config(section: SwapSection, output_dir: str, model_name: str,
                        batching_parameters_file: Optional[str] = None,
                        num_request_iterations: int = 1) -> SwapSection:
  """Writes the recommended `platform_config.pbtxt` into `output_dir`; the section naming it.

  Nothing is written when no candidate measured better: the defaults need no file.
  The --batching_parameters_file's settings go into it: with a platform config
  file TF Serving reads batching from that file alone.
  """
  server = measure.recommended_server(section, num_request_iterations)
  if server is None:
    return section
  batching_parameters = None
  if batching_parameters_file:
    with fileio.open(batching_parameters_file, 'r') as f:
      batching_parameters = f.read()
  path = os.path.join(output_dir, PLATFORM_CONFIG_FILE)
  with fileio.open(path, 'w') as f:
    f.write(platform_config.platform_config_text(server, batching_parameters))
  name = model_name or 'model'
  return dataclasses.replace(
      section, platform_config=PLATFORM_CONFIG_FILE,
      server_command=platform_config.server_command(
          name, f'/models/{name}', server, platform_config_file=SERVED_CONFIG_PATH))


def swap_models(old_model_dir: str, new_model_dir: str, output_dir: Optional[str] = None, *,
                requests: Optional[str] = None, qps: Optional[float] = None,
                deadline_ms: Optional[float] = None, tags: Sequence[str] = ('serve',),
                batching_parameters_file: Optional[str] = None,
                num_request_iterations: int = 1,
                repetitions: Optional[int] = None, model_name: str = '',
                candidates: Sequence[str] = cases_lib.GROUPS,
                memory_limit: Optional[str] = None,
                plot_path: Optional[str] = None) -> WarmupReport:
  """The swap between two versions warmed before (by anyone), measured; its report.

  Traffic is `requests` (a TFRecord of PredictionLogs), else one record of each
  kind in the new version's warmup file. With `output_dir`, the report
  (`swap_report.json`) and, when a config measured better, its
  `platform_config.pbtxt` (and, with `plot_path`, the plot) are written there in
  one move, nothing unless all succeeds. `plot_path` receives a PNG of the
  latency through the swap; `repetitions`, `candidates` and `memory_limit` as
  `measure_swap`.
  """
  if repetitions is not None and repetitions < 1:
    raise ConfigurationError(f'`repetitions` must be at least 1, got {repetitions}.')
  path = serving.warmup_file_path(new_model_dir)
  records = serving.read_warmup_file(path) if fileio.exists(path) else []
  if not records and not requests:
    raise ConfigurationError(
        f'{new_model_dir} has no warmup file ({path}), so there is no traffic to send. Pass '
        '`requests` (a TFRecord of PredictionLogs), or warm it first with `warm_model`.')
  live = live_lib.live_traffic(records, requests)
  batching = (batching_config.config_from_file(batching_parameters_file)
              if batching_parameters_file else None)
  with tempfile.TemporaryDirectory() as scratch:
    target = output_dir or os.path.join(scratch, 'swap')
    with output.staged_output(target) as staged:  # Nothing at output_dir unless all succeeds.
      fileio.makedirs(staged.root)
      section = measure_swap(
          old_model_dir, new_model_dir, live, qps=qps, deadline_ms=deadline_ms, tags=tags,
          batching=batching, num_request_iterations=num_request_iterations,
          repetitions=repetitions, candidates=candidates, memory_limit=memory_limit,
          plot_path=os.path.join(staged.root, PLOT_FILE) if plot_path else None)
      if output_dir:
        section = write_server_config(section, staged.root, model_name,
                                      batching_parameters_file, num_request_iterations)
      report = WarmupReport(model=new_model_dir, swap=section, warmup_file=warmup_file_section(
          path if records else None, records))
      with fileio.open(os.path.join(staged.root, REPORT_FILE), 'w') as f:
        f.write(report.to_json())
    if plot_path:  # After the move: a plot inside output_dir would be moved away with it.
      fileio.copy(os.path.join(target, PLOT_FILE), plot_path, overwrite=True)
  return report
