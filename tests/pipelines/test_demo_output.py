"""`make demo`'s terminal: the demo's own lines only; TensorFlow's and Keras's go to the log.

TensorFlow writes C++ lines to file descriptor 2 while it is imported, so only a
fresh process (`python -m pipelines.demo_pipeline`, as `make demo` runs it) shows
whether they reach the terminal; the in-process tests import TensorFlow first.
"""

import os
import re
import subprocess
import sys

import pytest

from pipelines import demo_pipeline
from tests.pipelines import checks as pipeline_checks
from tfx_warmup.component import spec

# Runs a whole pipeline: slow; `make test-fast` leaves it out.
pytestmark = pytest.mark.e2e

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# TensorFlow's C++ log lines ("2024-01-01 12:00:00.123456: E external/...") and the
# GPU/TensorRT start-up chatter; Keras's epoch and progress lines.
_LIBRARY_NOISE = re.compile(
    r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [EWIF] |cuDNN|cuBLAS|cuFFT|TF-TRT|'
    r'This TensorFlow binary is optimized|^Epoch \d+/|^\d+/\d+ (\[=|- )')


def test_demo_prints_only_its_progress_and_summary(tmp_path):
  # `make demo`'s environment, less the settings that hide lines (TF_CPP_MIN_LOG_LEVEL,
  # PYTHONWARNINGS): the README's direct commands run without them.
  env = {k: v for k, v in os.environ.items()
         if k not in ('TF_CPP_MIN_LOG_LEVEL', 'PYTHONWARNINGS')}
  done = subprocess.run([sys.executable, '-m', 'pipelines.demo_pipeline', '--root', str(tmp_path)],
                        cwd=_REPO, env=env, capture_output=True, text=True, timeout=1800,
                        check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  noise = [line for line in (done.stdout + done.stderr).splitlines()
           if _LIBRARY_NOISE.search(line)]
  assert not noise, '\n'.join(noise[:20])
  assert not done.stderr.strip(), done.stderr[:2000]
  assert 'Pushed warmed model:' in done.stdout
  assert len(done.stdout.splitlines()) < 40, done.stdout
  # What left the terminal is in the log the demo names: Keras's epoch line among it.
  log = re.search(r'^Pipeline logs: (\S+)$', done.stdout, re.M).group(1)
  with open(log) as f:
    assert re.search(r'\d+/\d+ - .*val_auc', f.read())
  # The local DAG runner's run, checked as every orchestrator's is.
  metadata_path = str(tmp_path / 'metadata.sqlite')
  pipeline_checks.check_components_completed(metadata_path)
  pipeline_checks.check_pushed_model(demo_pipeline.pushed_model_dir(metadata_path))
  props = demo_pipeline.warmer_properties(metadata_path)
  assert props[spec.VALIDATED_PROPERTY] == 1
  assert props[spec.FIRST_MS_WITH_WARMUP_PROPERTY] > 0
  assert props[spec.FIRST_MS_WITHOUT_WARMUP_PROPERTY] > 0
