"""End to end: the demo pipeline pushes a model whose warmup file TF Serving accepts."""

import os
import re

import pytest
from tensorflow_serving.apis import prediction_log_pb2

from pipelines import demo_pipeline
from tfx_warmup import component_spec as spec
from tfx_warmup import replay
from tfx_warmup import signatures
from tfx_warmup import warmup_file

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _check_pushed_model(pushed: str) -> None:
  path = warmup_file.warmup_file_path(pushed)
  raw = list(warmup_file.read_records(path))  # Fails on a compressed file.
  records = [prediction_log_pb2.PredictionLog.FromString(r) for r in raw]
  assert 0 < len(records) <= 1000
  usable = {p.name for p in signatures.plan_signatures(pushed, ['serve']).usable}
  assert usable == {'serving_default', 'classify', 'predict_raw'}
  summary = warmup_file.summarize(records)
  assert {k.signature for k in summary} == usable
  assert {k.batch_size for k in summary} == {1, 8, 32}
  assert {k.kind for k in summary} == {'classify', 'predict'}
  # Every record runs in a TF1 Session loaded as TF Serving loads the model.
  result = replay.replay_warmup(pushed)
  assert result.records == len(records)


def _check_cold_start_recorded(root) -> None:
  props = demo_pipeline.warmer_properties(str(root / 'metadata.sqlite'))
  assert props[spec.VALIDATED_PROPERTY] == 1
  assert props[spec.FIRST_MS_WITH_WARMUP_PROPERTY] > 0
  assert props[spec.FIRST_MS_WITHOUT_WARMUP_PROPERTY] > 0


def test_demo_pipeline_local_dag_runner(tmp_path):
  pushed = demo_pipeline.run(str(tmp_path), 'local', train_steps=50)
  assert pushed.startswith(str(tmp_path / 'serving_model'))
  _check_pushed_model(pushed)
  _check_cold_start_recorded(tmp_path)


def test_demo_pipeline_beam_dag_runner(tmp_path):
  pushed = demo_pipeline.run(str(tmp_path), 'beam', train_steps=50)
  _check_pushed_model(pushed)


def test_demo_main_prints_the_pushed_model_summary_and_cold_start(tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(demo_pipeline, 'run',
                      lambda root, runner: _fake_pushed_model(tmp_path))
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
  with open(os.path.join(_REPO, 'README.md')) as f:
    return re.findall(r'```python\n(.*?)```', f.read(), re.S)


@pytest.mark.parametrize('block', _readme_python_blocks())
def test_readme_snippets_are_tested_code(block):
  """Each README snippet appears verbatim in the demo pipeline the tests above run."""
  with open(demo_pipeline.__file__) as f:
    source = _dedent(f.read())
  for paragraph in re.split(r'\n\s*\n', block.strip('\n')):
    assert _dedent(paragraph) in source, (
        f'README snippet is not code from {demo_pipeline.__file__}:\n{paragraph}')


def _dedent(text: str) -> str:
  return '\n'.join(line.strip() for line in text.strip('\n').splitlines())
