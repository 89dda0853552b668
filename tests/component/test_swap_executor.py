"""ModelWarmer with measure_swap: the swap from the baseline, its files beside the report."""

import functools
import os

import pytest

from tests import models
from tfx_warmup import report as report_lib
from tfx_warmup.component import spec
from tfx_warmup.errors import SwapMemoryError
from tfx_warmup.library import run as run_lib
from tfx_warmup.library import swap as swap_lib
from tfx_warmup.serving import platform_config

# Fresh processes for every swap run: slow; `make test-fast` leaves it out.
pytestmark = pytest.mark.e2e


def _quick_swap_examples(monkeypatch, examples, tmp_path):
  """The swap at test scale (one run per case; the phases: tests/conftest.py); an Examples
  artifact."""
  monkeypatch.setattr(run_lib, 'measure_swap',
                      functools.partial(swap_lib.measure_swap, repetitions=1))
  serialized = [e.SerializeToString() for e in examples]
  return models.write_examples_artifact(
      str(tmp_path / 'examples'), {'train': serialized[:120], 'eval': serialized[120:]})


def test_the_swap_is_measured_from_the_baseline_and_written_beside_the_report(
    tf1_model_dir, examples, tmp_path, monkeypatch):
  artifact = _quick_swap_examples(monkeypatch, examples, tmp_path)
  baseline = os.path.dirname(tf1_model_dir)  # <root>/Format-Serving
  warmed = models.run_executor(baseline, artifact, str(tmp_path / 'out'),
                               baseline_uri=baseline, num_examples=8, batch_sizes=[1, 4],
                               measure_swap=True, swap_candidates=[],
                               swap_memory_limit='64Gi')

  with open(os.path.join(warmed.uri, 'warmup_report.json')) as f:
    report = report_lib.WarmupReport.from_json(f.read())
  swap = report.swap
  assert swap.old_model == tf1_model_dir
  assert swap.new_model == os.path.join(warmed.uri, 'Format-Serving')
  assert [c.name for c in swap.cases] == ['defaults', 'no-warmup']
  assert swap.verdict == 'too-few-runs' and swap.recommended is None  # one run per case
  assert swap.memory_limit_mib == 64 * 1024 and swap.memory.startswith('The swap needs ')
  files = set(os.listdir(warmed.uri))
  assert 'swap_latency.png' in files
  assert 'platform_config.pbtxt' not in os.listdir(os.path.join(warmed.uri, 'Format-Serving'))
  props = warmed.mlmd_artifact.custom_properties
  assert props[spec.SWAP_P99_MS_DEFAULTS_PROPERTY].double_value == swap.cases[0].window_p99_ms
  assert props[spec.SWAP_RECOMMENDED_PROPERTY].string_value == (swap.recommended or '')
  assert props[spec.SWAP_VERDICT_PROPERTY].string_value == 'too-few-runs'
  defaults = swap.cases[0].memory
  assert props[spec.SWAP_PEAK_MIB_PROPERTY].double_value == defaults.models_peak_mib > 0
  assert defaults.peak_mib >= defaults.loaded_mib > defaults.baseline_mib
  if swap.recommended:
    assert swap.platform_config == 'platform_config.pbtxt' in files
    with open(os.path.join(warmed.uri, swap.platform_config)) as f:
      bundle = platform_config.read_platform_config(f.read())
    assert bundle.enable_model_warmup
  else:
    assert 'platform_config.pbtxt' not in files and swap.platform_config is None


def test_a_swap_past_the_memory_limit_fails_the_step_and_writes_nothing(
    tf1_model_dir, examples, tmp_path, monkeypatch):
  artifact = _quick_swap_examples(monkeypatch, examples, tmp_path)
  out = tmp_path / 'out'
  with pytest.raises(SwapMemoryError, match=r'MiB at peak \(defaults: .*past the limit of '
                                            r'64 MiB: a server with that limit would be '
                                            'OOM-killed') as raised:
    models.run_executor(os.path.dirname(tf1_model_dir), artifact, str(out), num_examples=8,
                        batch_sizes=[1], measure_swap=True, swap_candidates=[],
                        swap_memory_limit='64Mi')
  assert raised.value.peak_mib > 64 and raised.value.limit_mib == 64
  assert not out.exists() or not any(out.rglob('warmup_report.json'))
