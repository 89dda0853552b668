"""What the user applies from a swap: the server command, the platform config, the Dockerfile.

Fast: the sections are built by the swap's own summaries from synthetic timelines
(`swap_section`), and `swap_models` runs with the measurement replaced by one
that returns such a section, so only the applying and writing are under test.
"""

import dataclasses
import json
import os
import shlex
import subprocess
from typing import Dict, List, Optional, Sequence, Tuple

import pytest
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup import library
from tfx_warmup import serving
from tfx_warmup.errors import SwapMemoryError
from tfx_warmup.library import swap as swap_lib
from tfx_warmup.report import WarmupReport
from tfx_warmup.report.model import SwapSection
from tfx_warmup.serving import platform_config
from tfx_warmup.swap import cases
from tfx_warmup.swap import measure
from tfx_warmup.swap import verdict
from tfx_warmup.swap.run import Timeline

_MIB = 1024 * 1024
PHASES = ('steady', 'load', 'warmup', 'first', 'after')
JEMALLOC_IN_IMAGE = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'


def timeline(window_ms: float, first_ms: float = 1.0, qps: int = 50,
             peak_mib: float = 760) -> Timeline:
  """A run: 1 s per phase, `qps` requests a second; the window (load, warmup) at `window_ms`."""
  latency = {'steady': 1.0, 'load': window_ms, 'warmup': window_ms, 'first': first_ms,
             'after': 1.0}
  marks, requests, start = {}, [], 0.0
  for phase in PHASES:
    marks[phase] = start
    requests += [[start + k / qps, start + k / qps + latency[phase] / 1000, 1, 1]
                 for k in range(qps)]
    start += 1.0
  marks['end'] = start
  memory = {'baseline': 300, 'steady': 500, 'loaded': 700, 'warmed': 720, 'unloaded': 520,
            'peak': peak_mib}
  return Timeline(case='x', marks=marks, requests=requests, load_seconds=1.0,
                  warmup_seconds=1.0, warmup_records=8, errors=[],
                  memory={k: int(v * _MIB) for k, v in memory.items()}, peak_source='vmhwm')


def swap_section(recommended: Optional[str], groups: Sequence[str] = cases.GROUPS,
                 peak_mib: float = 760, memory_limit_mib: Optional[float] = None
                 ) -> Tuple[SwapSection, Dict[str, List[Timeline]]]:
  """A section as the swap's measurement builds it, `recommended` measured fastest (None: the
  defaults fastest); 'combined' joins load-pool and jemalloc. Its timelines, by case."""
  chosen = list(cases.cases(1, groups, cores=2))
  if recommended == 'combined':
    by_name = {c.name: c for c in chosen}
    chosen.insert(-1, cases.combine([by_name['load-pool'], by_name['jemalloc']]))
  timelines = {
      c.name: [timeline(2.0 if c.name == recommended else 3.0 if c.role == 'b' else
                        2.5 if c.role == 'a' else 1.5,
                        first_ms=40.0 if c.role == 'c' else 1.0, peak_mib=peak_mib)]
      for c in chosen}
  ordered = verdict.ranked([measure.summarize(c, timelines[c.name], 10.0) for c in chosen])
  best = next((c for c in ordered if c.name == recommended), None)
  said = 'recommended' if best else 'keep-defaults'
  text = verdict.recommendation_text(ordered[0], best, [c for c in ordered if c.role == 'b'],
                                     said)
  section = SwapSection(
      old_model='old', new_model='new', qps=50, qps_source='given', clients=2,
      capacity_qps=400.0, deadline_ms=10.0, deadline_source='given', repetitions=3,
      phase_seconds=dict(measure.DEFAULT_PHASE_SECONDS), cases=ordered,
      recommended=recommended, recommendation=text, platform_config=None,
      server_command=None, verdict=said, memory_limit_mib=memory_limit_mib,
      notes=[measure.BATCHING_NOTE])
  return dataclasses.replace(section, memory=verdict.memory_headline(section)), timelines


def test_a_recommended_pool_is_a_platform_config_and_the_command_that_names_it():
  section = swap_lib.applied_settings(swap_section('load-pool')[0], model_name='ctr')
  assert section.server_command == (
      'tensorflow_model_server --port=8500 --rest_api_port=8501 --model_name=ctr '
      '--model_base_path=/models/ctr --platform_config_file=/config/platform_config.pbtxt')
  bundle = platform_config.read_platform_config(section.platform_config_text)
  assert bundle.session_run_load_threadpool_index.value == 1
  assert [p.num_threads for p in bundle.session_config.session_inter_op_thread_pool] == [0, 1]
  assert bundle.enable_model_warmup  # The file restates what its flag would have said.
  assert section.dockerfile is None and section.platform_config is None and section.files == []
  # Nothing was written: the text says where the settings are, truthfully.
  assert 'Serve with the command and platform config below.' in section.recommendation
  assert 'written' not in section.recommendation


def test_a_recommended_allocator_is_ld_preload_and_a_dockerfile_for_tf_serving_s_image():
  section = swap_lib.applied_settings(swap_section('jemalloc')[0], model_name='ctr')
  assert section.server_command.startswith(
      f'LD_PRELOAD={JEMALLOC_IN_IMAGE} tensorflow_model_server --port=8500 ')
  assert '--platform_config_file' not in section.server_command  # A flag-free setting.
  assert section.platform_config_text is None
  assert section.dockerfile.splitlines() == [
      'FROM tensorflow/serving:2.16.1',
      'RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && '
      'rm -rf /var/lib/apt/lists/*',
      f'ENV LD_PRELOAD={JEMALLOC_IN_IMAGE}']
  assert 'Serve with the command below.' in section.recommendation


def test_a_recommended_thread_count_is_its_flag_alone():
  section = swap_lib.applied_settings(swap_section('intra-op-1')[0])
  assert shlex.split(section.server_command) == [
      'tensorflow_model_server', '--port=8500', '--rest_api_port=8501', '--model_name=model',
      '--model_base_path=/models/model', '--tensorflow_intra_op_parallelism=1']
  assert section.platform_config_text is None and section.dockerfile is None


def test_the_warmup_threads_need_the_platform_config():
  section = swap_lib.applied_settings(swap_section('warmup-threads')[0])
  assert '--platform_config_file=/config/platform_config.pbtxt' in section.server_command
  bundle = platform_config.read_platform_config(section.platform_config_text)
  assert bundle.model_warmup_options.num_model_warmup_threads.value == 2


def test_the_combination_writes_every_file_beside_the_report_and_names_them(tmp_path):
  section = swap_lib.write_server_config(swap_section('combined')[0], str(tmp_path), 'ctr')
  assert section.files == ['platform_config.pbtxt', 'tensorflow_model_server.sh',
                           'Dockerfile.serving']
  assert sorted(os.listdir(tmp_path)) == sorted(section.files)
  assert section.platform_config == 'platform_config.pbtxt'
  assert section.server_command.startswith(f'LD_PRELOAD={JEMALLOC_IN_IMAGE} ')
  assert '--platform_config_file=/config/platform_config.pbtxt' in section.server_command
  assert (tmp_path / 'platform_config.pbtxt').read_text() == section.platform_config_text
  assert (tmp_path / 'Dockerfile.serving').read_text() == section.dockerfile
  script = (tmp_path / 'tensorflow_model_server.sh').read_text()
  assert script.startswith('#!/bin/sh\n') and script.endswith(section.server_command + '\n')
  assert "('combined')" in script and 'Dockerfile.serving installs the allocator' in script
  subprocess.run(['sh', '-n', str(tmp_path / 'tensorflow_model_server.sh')], check=True)
  assert ('Serve with platform_config.pbtxt, tensorflow_model_server.sh, Dockerfile.serving, '
          'written beside this report') in section.recommendation
  # Computed again from the written section: the same words, not a second substitution.
  again = swap_lib.write_server_config(section, str(tmp_path), 'ctr')
  assert again.recommendation == section.recommendation


def test_nothing_recommended_applies_and_writes_nothing(tmp_path):
  original, _ = swap_section(None)
  section = swap_lib.write_server_config(original, str(tmp_path), 'ctr')
  assert (section.server_command, section.platform_config_text, section.dockerfile,
          section.platform_config, section.files) == (None, None, None, None, [])
  assert section.recommendation == original.recommendation and 'Keep the defaults' in (
      section.recommendation)
  assert os.listdir(tmp_path) == []


def test_batching_goes_in_the_platform_config_or_its_flags(tmp_path):
  batching = tmp_path / 'batching.txt'
  batching.write_text('max_batch_size { value: 16 }\nbatch_timeout_micros { value: 1000 }\n')
  flags = swap_lib.applied_settings(swap_section('intra-op-1')[0], 'ctr', str(batching))
  assert flags.server_command.endswith(
      '--tensorflow_intra_op_parallelism=1 --enable_batching=true '
      '--batching_parameters_file=/config/batching.txt')
  pools = swap_lib.applied_settings(swap_section('load-pool')[0], 'ctr', str(batching))
  assert 'batching' not in pools.server_command  # TF Serving reads it from the file alone.
  bundle = platform_config.read_platform_config(pools.platform_config_text)
  assert bundle.batching_parameters.max_batch_size.value == 16


# -- swap_models, its measurement replaced by one that returns a built section ----------------


@pytest.fixture
def new_version(tmp_path) -> str:
  """A 'model' directory holding a warmup file: all `swap_models` reads of it here."""
  model = tmp_path / 'new'
  log = prediction_log_pb2.PredictionLog()
  log.predict_log.request.model_spec.signature_name = 'serving_default'
  serving.write_warmup_file(serving.warmup_file_path(str(model)), [log])
  return str(model)


@pytest.fixture
def measured(monkeypatch):
  """Replaces the fresh processes: `swap.measure.measure_swap` returns `swap_section(...)`
  with what it was asked (the groups, the memory limit); its calls are kept."""
  calls = []
  settings = {'recommended': 'combined', 'peak_mib': 760}

  def fake(old_dir, new_dir, live, *, groups, memory_limit_mib, on_process, keep_timelines,
           **kwargs):
    calls.append(dict(kwargs, groups=list(groups), memory_limit_mib=memory_limit_mib,
                      live=len(live)))
    section, timelines = swap_section(settings['recommended'], peak_mib=settings['peak_mib'],
                                      memory_limit_mib=memory_limit_mib)
    for name in timelines:
      on_process(f"case '{name}' run 1/1")
    keep_timelines.update(timelines)
    return section

  monkeypatch.setattr(measure, 'measure_swap', fake)
  return calls, settings


def test_swap_models_writes_the_report_the_files_and_the_plot_once(new_version, tmp_path,
                                                                   measured):
  calls, _ = measured
  out = tmp_path / 'out'
  lines = []
  report = library.swap_models('old', new_version, str(out), model_name='ctr',
                               candidates=['pools', 'allocator'], memory_limit='2Gi',
                               plot_path=str(out / 'plots' / 'latency.png'),
                               on_process=lines.append)
  assert calls[0]['groups'] == ['pools', 'allocator'] and calls[0]['memory_limit_mib'] == 2048
  assert lines and lines[0] == "case 'defaults' run 1/1"
  assert sorted(os.listdir(out)) == sorted(['plots', 'swap_report.json'] + report.swap.files)
  assert os.listdir(out / 'plots') == ['latency.png']  # Once: no copy under another name.
  assert (out / 'plots' / 'latency.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  written = WarmupReport.from_json((out / 'swap_report.json').read_text())
  assert written == report and written.swap.files == [
      'platform_config.pbtxt', 'tensorflow_model_server.sh', 'Dockerfile.serving']
  assert not [p for p in os.listdir(tmp_path) if p.startswith('out.')]  # No staging left.


def test_swap_models_plots_outside_the_output_once(new_version, tmp_path, measured):
  out, plot = tmp_path / 'out', tmp_path / 'figures' / 'swap.png'
  library.swap_models('old', new_version, str(out), plot_path=str(plot))
  assert os.listdir(tmp_path / 'figures') == ['swap.png']
  assert swap_lib.PLOT_FILE not in os.listdir(out)


def test_swap_models_without_output_carries_what_to_apply_in_the_report(new_version, measured):
  report = library.swap_models('old', new_version, model_name='ctr')
  swap = json.loads(report.to_json())['swap']
  assert swap['server_command'].startswith(f'LD_PRELOAD={JEMALLOC_IN_IMAGE} ')
  assert platform_config.read_platform_config(swap['platform_config_text'])
  assert swap['dockerfile'].startswith('FROM tensorflow/serving')
  assert swap['platform_config'] is None and swap['files'] == []
  assert 'written' not in swap['recommendation']
  assert 'Serve with the command and platform config below.' in swap['recommendation']


def test_swap_models_past_the_memory_limit_fails_and_writes_nothing(new_version, tmp_path,
                                                                    measured):
  _, settings = measured
  settings['peak_mib'] = 900
  out = tmp_path / 'out'
  with pytest.raises(SwapMemoryError, match=r'The swap needs 900 MiB at peak \(combined: .*past '
                                            'the limit of 512 MiB'):
    library.swap_models('old', new_version, str(out), memory_limit='512Mi',
                        plot_path=str(tmp_path / 'swap.png'))
  assert sorted(os.listdir(tmp_path)) == ['new']  # No output, staging, nor plot.
