"""Step 7: measure the version swap, and say (and write) what the user applies to keep it flat.

The swap goes from the version being served (`baseline_model_dir`, else the
input model itself: version N to N+1) to the written warmed copy, as TF Serving
performs it (`tfx_warmup.swap`). What the recommended settings take to apply is
always computed into the report's section, with or without a place to write
files: the complete `tensorflow_model_server` command (LD_PRELOAD for an
allocator, the thread flags, `--platform_config_file` only when a setting has no
flag), the platform config's text when one is needed, and the Dockerfile lines
that install the allocator in TF Serving's image. Given a directory beside the
report (never inside the SavedModel the Pusher copies), they are written there
as files too, and the section names them. `swap_models` does the same for two
versions warmed before (what `tfx-warmup swap` calls): its traffic comes from
the new version's warmup file, and its report is its own.
"""

import dataclasses
import os
import tempfile
from typing import Callable, List, Optional, Sequence

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
from tfx_warmup.swap import allocators
from tfx_warmup.swap import cases as cases_lib
from tfx_warmup.swap import measure
from tfx_warmup.swap import verdict
from tfx_warmup.swap import plot

PLATFORM_CONFIG_FILE = 'platform_config.pbtxt'
COMMAND_FILE = 'tensorflow_model_server.sh'  # the server command, as a shell script
DOCKERFILE = 'Dockerfile.serving'  # TF Serving's image with the recommended allocator
PLOT_FILE = 'swap_latency.png'
REPORT_FILE = 'swap_report.json'  # what `tfx-warmup swap --output` writes
# Where the server command expects things: the usual mounts of TF Serving's Docker image
# (the model's versions under /models/<name>; the files written here mounted at /config).
MODELS_DIR = '/models'
CONFIG_DIR = '/config'
SERVED_CONFIG_PATH = f'{CONFIG_DIR}/{PLATFORM_CONFIG_FILE}'


def measure_swap(old_model_dir: str, new_model_dir: str,
                 live: Sequence[prediction_log_pb2.PredictionLog], *,
                 qps: Optional[float] = None, deadline_ms: Optional[float] = None,
                 tags: Sequence[str] = ('serve',), batching: Optional[BatchingConfig] = None,
                 num_request_iterations: int = 1,
                 repetitions: Optional[int] = None,
                 candidates: Sequence[str] = cases_lib.GROUPS,
                 memory_limit: Optional[str] = None,
                 plot_path: Optional[str] = None,
                 on_process: Optional[Callable[[str], None]] = None) -> SwapSection:
  """The swap `old_model_dir` -> `new_model_dir` under each case, in fresh processes.

  `live` is the traffic mix; `repetitions` runs per case (default
  `swap.measure.default_repetitions()`); `candidates` the groups measured beside
  the defaults (`swap.cases.GROUPS`); `memory_limit` the serving container's
  ('4Gi'); `plot_path`, if given, receives a PNG of the latency through the swap;
  `on_process`, if given, a line on each fresh process as it ends (the progress
  of a step that takes minutes, where no progress bar is drawn).
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
      if on_process:
        on_process(line)
      advance()

    section = measure.measure_swap(
        old_model_dir, new_model_dir, live, qps=qps, deadline_ms=deadline_ms, tags=tags,
        batching=batching, num_request_iterations=num_request_iterations,
        repetitions=repetitions, groups=candidates, memory_limit_mib=limit_mib,
        on_process=done, keep_timelines=timelines)
  if plot_path:
    plot.plot_swap(section, timelines, plot_path)
  verdict.check_memory_limit(section)
  return section


def applied_settings(section: SwapSection, model_name: str = '',
                     batching_parameters_file: Optional[str] = None,
                     num_request_iterations: int = 1) -> SwapSection:
  """The section with what the user applies for its recommendation, nothing written; its
  recommendation says to serve with the command (and config) below."""
  return _say_where(_settings(section, model_name, batching_parameters_file,
                              num_request_iterations), [])


def _settings(section: SwapSection, model_name: str,
              batching_parameters_file: Optional[str],
              num_request_iterations: int) -> SwapSection:
  """The section with what the user applies for its recommendation.

  `server_command` is the whole `tensorflow_model_server` line (paths as TF
  Serving's image mounts them: `/models/<model_name>`, `/config/`);
  `platform_config_text` the file it names, when a recommended setting has no
  flag (pools, a load pool, warmup threads), with the batching parameters in it
  (with a platform config file TF Serving reads batching from the file alone);
  `dockerfile` the lines for TF Serving's image when an allocator is recommended.
  All null when nothing is recommended: the defaults need nothing applied.
  """
  case = measure.recommended_case(section, num_request_iterations)
  none = dataclasses.replace(section, platform_config=None, server_command=None,
                             platform_config_text=None, dockerfile=None, files=[])
  if case is None:
    return none
  server = case.server
  text = None
  if server.needs_platform_config():
    batching_parameters = None
    if batching_parameters_file:
      with fileio.open(batching_parameters_file, 'r') as f:
        batching_parameters = f.read()
    text = platform_config.platform_config_text(server, batching_parameters)
  name = model_name or 'model'
  preload = allocators.allocator(case.allocator).preload_path_in_image or None
  command = platform_config.server_command(
      name, f'{MODELS_DIR}/{name}', server,
      platform_config_file=SERVED_CONFIG_PATH if text else None, preload=preload,
      batching_parameters_file=(f'{CONFIG_DIR}/{os.path.basename(batching_parameters_file)}'
                                if batching_parameters_file and not text else None))
  return dataclasses.replace(
      none, server_command=command, platform_config_text=text,
      dockerfile=allocators.dockerfile_lines(case.allocator) if preload else None)


def write_server_config(section: SwapSection, output_dir: Optional[str], model_name: str = '',
                        batching_parameters_file: Optional[str] = None,
                        num_request_iterations: int = 1) -> SwapSection:
  """`applied_settings`, and, with `output_dir`, its files written there; the section naming them.

  The files: `platform_config.pbtxt` (when the settings need one),
  `tensorflow_model_server.sh` (the command), `Dockerfile.serving` (when an
  allocator is recommended). Nothing is written when nothing is recommended: the
  defaults need no file. `output_dir` None computes the settings alone.
  """
  section = _settings(section, model_name, batching_parameters_file, num_request_iterations)
  if not output_dir or section.server_command is None:
    return _say_where(section, [])
  contents = {COMMAND_FILE: command_script(section)}
  if section.platform_config_text:
    contents[PLATFORM_CONFIG_FILE] = section.platform_config_text
  if section.dockerfile:
    contents[DOCKERFILE] = section.dockerfile
  files = [name for name in (PLATFORM_CONFIG_FILE, COMMAND_FILE, DOCKERFILE) if name in contents]
  for name in files:
    with fileio.open(os.path.join(output_dir, name), 'w') as f:
      f.write(contents[name])
  return _say_where(dataclasses.replace(
      section, files=files,
      platform_config=PLATFORM_CONFIG_FILE if PLATFORM_CONFIG_FILE in contents else None),
      files)


def command_script(section: SwapSection) -> str:
  """`tensorflow_model_server.sh`: the server command, saying where it expects its files."""
  mounts = (f'this directory mounted at {CONFIG_DIR} (its {PLATFORM_CONFIG_FILE})'
            if section.platform_config_text else
            f'your batching parameters file in {CONFIG_DIR}'
            if '--batching_parameters_file' in section.server_command else '')
  lines = [
      '#!/bin/sh',
      f"# tensorflow_model_server with the settings the version swap recommends "
      f"('{section.recommended}'),",
      '# measured by tfx-warmup: the report beside this file has the figures.',
      f"# Paths as in TF Serving's image: the model's versions under {MODELS_DIR}/<name>"
      + (f', {mounts}.' if mounts else '.'),
  ]
  if section.dockerfile:
    lines.append(f'# {DOCKERFILE} installs the allocator it preloads.')
  return '\n'.join(lines + [section.server_command]) + '\n'


_SERVE_WITH = 'Serve with'


def _say_where(section: SwapSection, files: List[str]) -> SwapSection:
  """The section whose recommendation ends saying where its settings are: the files written,
  else the command (and config) this report carries. Nothing recommended: unchanged."""
  if section.server_command is None:
    return section
  said = section.recommendation.split(f' {_SERVE_WITH}')[0]  # Said again: replaced, not added.
  if files:
    where = f"{_SERVE_WITH} {', '.join(files)}, written beside this report."
  else:
    where = (f'{_SERVE_WITH} the command and platform config below.'
             if section.platform_config_text else f'{_SERVE_WITH} the command below.')
  return dataclasses.replace(section, recommendation=f'{said} {where}')


def swap_models(old_model_dir: str, new_model_dir: str, output_dir: Optional[str] = None, *,
                requests: Optional[str] = None, qps: Optional[float] = None,
                deadline_ms: Optional[float] = None, tags: Sequence[str] = ('serve',),
                batching_parameters_file: Optional[str] = None,
                num_request_iterations: int = 1,
                repetitions: Optional[int] = None, model_name: str = '',
                candidates: Sequence[str] = cases_lib.GROUPS,
                memory_limit: Optional[str] = None,
                plot_path: Optional[str] = None,
                on_process: Optional[Callable[[str], None]] = None) -> WarmupReport:
  """The swap between two versions warmed before (by anyone), measured; its report.

  Traffic is `requests` (a TFRecord of PredictionLogs), else one record of each
  kind in the new version's warmup file. The report's swap section always carries
  what to apply (`applied_settings`). With `output_dir`, the report
  (`swap_report.json`) and the files of `write_server_config` are written there in
  one move, nothing unless all succeeds. `plot_path` receives a PNG of the
  latency through the swap, once: inside `output_dir` it moves in with the rest,
  elsewhere it is copied there after the move. `repetitions`, `candidates`,
  `memory_limit` and `on_process` as `measure_swap`.
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
  inside = _relative_inside(plot_path, output_dir) if plot_path and output_dir else None
  with tempfile.TemporaryDirectory() as scratch:
    target = output_dir or os.path.join(scratch, 'swap')
    with output.staged_output(target) as staged:  # Nothing at output_dir unless all succeeds.
      fileio.makedirs(staged.root)
      drawn = None
      if plot_path:
        drawn = (os.path.join(staged.root, inside) if inside
                 else os.path.join(scratch, PLOT_FILE))
        fileio.makedirs(os.path.dirname(drawn))
      section = measure_swap(
          old_model_dir, new_model_dir, live, qps=qps, deadline_ms=deadline_ms, tags=tags,
          batching=batching, num_request_iterations=num_request_iterations,
          repetitions=repetitions, candidates=candidates, memory_limit=memory_limit,
          plot_path=drawn, on_process=on_process)
      section = write_server_config(section, staged.root if output_dir else None, model_name,
                                    batching_parameters_file, num_request_iterations)
      report = WarmupReport(model=new_model_dir, swap=section, warmup_file=warmup_file_section(
          path if records else None, records))
      with fileio.open(os.path.join(staged.root, REPORT_FILE), 'w') as f:
        f.write(report.to_json())
    if plot_path and not inside:  # Written once, where asked, after everything succeeded.
      parent = os.path.dirname(plot_path)
      if parent:
        fileio.makedirs(parent)
      fileio.copy(drawn, plot_path, overwrite=True)
  return report


def _relative_inside(path: str, directory: str) -> Optional[str]:
  """`path` relative to `directory` when it lies inside it, else None (local or URL paths)."""
  if '://' in path or '://' in directory:
    base = directory.rstrip('/') + '/'
    return path[len(base):] if path.startswith(base) and len(path) > len(base) else None
  relative = os.path.relpath(os.path.abspath(path), os.path.abspath(directory))
  outside = relative in (os.curdir, os.pardir) or relative.startswith(os.pardir + os.sep)
  return None if outside else relative
