"""End to end: the demo pipeline pushes a model whose warmup file TF Serving accepts."""

import glob
import os
import re

import pytest
from tensorflow_serving.apis import prediction_log_pb2

from pipelines import demo_pipeline
from tests.pipelines import checks as pipeline_checks
from tfx_warmup.component import spec
from tfx_warmup.serving import warmup_file

# Runs a whole pipeline or the installed command: slow; `make test-fast` leaves it out.
pytestmark = pytest.mark.e2e

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# The README's BeamDagRunner command: Beam's DirectRunner with two worker processes.
BEAM_MULTI_PROCESSING = ('.venv/bin/python -m pipelines.demo_pipeline --runner beam '
                         '--beam-arg=--direct_running_mode=multi_processing '
                         '--beam-arg=--direct_num_workers=2')


@pytest.mark.usefixtures('quick_swap')
def test_demo_pipeline_beam_dag_runner_multi_processing(tmp_path, capfd):
  """ModelWarmer's transforms pickle into worker processes and merge their samples.

  The terminal (file descriptors 1 and 2, which Beam's worker processes inherit)
  keeps to progress and results; every library's output goes to the log file.
  BeamDagRunner runs ModelWarmer's executor in this process: its swap runs at test
  scale (`quick_swap`; the local runner's test runs the demo's own).
  """
  pipeline_checks.check_in_readme(BEAM_MULTI_PROCESSING)
  argv = BEAM_MULTI_PROCESSING.split()[3:] + ['--root', str(tmp_path)]
  capfd.readouterr()
  assert demo_pipeline.main(argv) == 0
  out, err = capfd.readouterr()
  metadata_path = str(tmp_path / 'metadata.sqlite')
  pipeline_checks.check_components_completed(metadata_path)
  pipeline_checks.check_pushed_model(demo_pipeline.pushed_model_dir(metadata_path))
  assert 'Pushed warmed model:' in out
  assert not err.strip(), err[:2000]
  assert len(out.splitlines()) < 40, out
  log = re.search(r'Pipeline logs: (\S+)', out).group(1)
  with open(log) as f:
    assert 'ModelWarmer' in f.read()


def test_demo_main_prints_the_pushed_model_summary_and_cold_start(tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(demo_pipeline, 'run',
                      lambda root, runner, **kwargs: _fake_pushed_model(tmp_path))
  monkeypatch.setattr(demo_pipeline, 'warmer_properties', lambda path: {
      spec.FIRST_MS_WITHOUT_WARMUP_PROPERTY: 60.0, spec.FIRST_MS_WITH_WARMUP_PROPERTY: 0.9,
      spec.STEADY_P50_MS_PROPERTY: 0.5, spec.REPLAY_SECONDS_PROPERTY: 0.3})
  assert demo_pipeline.main(['--root', str(tmp_path)]) == 0
  out = capsys.readouterr().out
  assert 'Pushed warmed model:' in out and 'total' in out
  assert '60.0 ms without warmup, 0.9 ms with it' in out


def _fake_pushed_model(tmp_path) -> str:
  model = tmp_path / 'pushed'
  warmup_file.write_warmup_file(warmup_file.warmup_file_path(str(model)), [
      prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog())])
  return str(model)


def _readme_python_blocks():
  """Every ```python block of the README and the docs pages."""
  blocks = []
  for path in [os.path.join(_REPO, 'README.md')] + sorted(
      glob.glob(os.path.join(_REPO, 'docs', '*.md'))):
    with open(path) as f:
      blocks += re.findall(r'```python\n(.*?)```', f.read(), re.S)
  return blocks


@pytest.mark.parametrize('block', _readme_python_blocks())
def test_readme_snippets_are_tested_code(block):
  """Each README and docs snippet appears verbatim in a pipeline module that the tests run."""
  sources = []
  for path in glob.glob(os.path.join(_REPO, 'pipelines', '*.py')):
    with open(path) as f:
      sources.append(_dedent(f.read()))
  for paragraph in re.split(r'\n\s*\n', block.strip('\n')):
    assert any(_dedent(paragraph) in source for source in sources), (
        f'README snippet is not code from pipelines/:\n{paragraph}')


def _dedent(text: str) -> str:
  return '\n'.join(line.strip() for line in text.strip('\n').splitlines())
