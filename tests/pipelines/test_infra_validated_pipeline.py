"""The InfraValidator variant compiles and is wired so that a real TF Serving vets our file.

No Docker engine runs here, so the pipeline is compiled to TFX's IR and its wiring
and specs are checked; the command's own path is run up to its Docker check.
"""

import importlib.metadata
import inspect
import os
import re
import shlex

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tfx.components.infra_validator import serving_bins
from tfx.dsl.compiler import compiler
from tfx.orchestration import metadata
from tfx.proto import infra_validator_pb2
from tfx.utils import proto_utils

from pipelines import demo_pipeline
from pipelines import infra_validated_pipeline as ivp
from tests.pipelines import checks as pipeline_checks
from tfx_warmup.component import spec
from tfx_warmup.serving import warmup_file

COMPONENTS = ['CsvExampleGen', pipeline_checks.BASELINE_RESOLVER, 'Trainer', 'ModelWarmer',
              'InfraValidator', 'Pusher']
# The README's command; it needs Docker, so the test runs it up to the Docker check.
COMMAND = '.venv/bin/python -m pipelines.infra_validated_pipeline'


@pytest.fixture(scope='module')
def nodes(tmp_path_factory):
  """The variant compiled to TFX's pipeline IR: {node id: PipelineNode}, in run order."""
  tmp = tmp_path_factory.mktemp('infra_validated')
  ir = compiler.Compiler().compile(ivp.create_pipeline(
      pipeline_root=str(tmp / 'pipeline'), serving_model_dir=str(tmp / 'serving_model'),
      metadata_path=str(tmp / 'metadata.sqlite')))
  assert ir.pipeline_info.id == ivp.PIPELINE_NAME
  return {n.pipeline_node.node_info.id: n.pipeline_node for n in ir.nodes}


def _producers(node, key):
  return [(c.producer_node_query.id, c.output_key) for c in node.inputs.inputs[key].channels]


def _proto_parameter(node, key, message):
  return proto_utils.json_to_proto(
      node.parameters.parameters[key].field_value.string_value, message)


def test_the_demo_components_then_infra_validator_then_pusher(nodes):
  assert list(nodes) == COMPONENTS
  assert _producers(nodes['ModelWarmer'], spec.MODEL_KEY) == [('Trainer', 'model')]
  assert spec.EXAMPLES_KEY not in nodes['ModelWarmer'].inputs.inputs  # The demo's traffic.


def test_infra_validator_loads_the_warmed_model_without_requests_of_its_own(nodes):
  validator = nodes['InfraValidator']
  assert dict(validator.inputs.inputs).keys() == {'model'}
  assert _producers(validator, 'model') == [('ModelWarmer', spec.WARMED_MODEL_KEY)]
  # No request_spec: its make_warmup would replace our warmup file with InfraValidator's.
  assert 'request_spec' not in validator.parameters.parameters
  assert 'examples' not in validator.inputs.inputs


def test_pusher_pushes_the_warmed_model_only_when_infra_blessed(nodes):
  pusher = nodes['Pusher']
  assert _producers(pusher, 'model') == [('ModelWarmer', spec.WARMED_MODEL_KEY)]
  assert _producers(pusher, 'infra_blessing') == [('InfraValidator', 'blessing')]
  assert 'model_blessing' not in pusher.inputs.inputs


def test_serving_spec_runs_the_pinned_tf_serving_in_local_docker(nodes):
  serving_spec = _proto_parameter(nodes['InfraValidator'], 'serving_spec',
                                  infra_validator_pb2.ServingSpec())
  assert serving_spec.WhichOneof('serving_platform') == 'local_docker'
  assert serving_spec.local_docker == infra_validator_pb2.LocalDockerConfig()
  assert serving_spec.tensorflow_serving.tags == [ivp.TF_SERVING_TAG]
  # The image InfraValidator itself resolves from the spec: exactly one, pinned.
  (binary,) = serving_bins.parse_serving_binaries(serving_spec)
  assert binary.image == f'tensorflow/serving:{ivp.TF_SERVING_TAG}'
  # The same TF Serving release as the stack's tensorflow-serving-api.
  assert importlib.metadata.version('tensorflow-serving-api') == ivp.TF_SERVING_TAG
  validation_spec = _proto_parameter(nodes['InfraValidator'], 'validation_spec',
                                     infra_validator_pb2.ValidationSpec())
  assert validation_spec.max_loading_time_seconds == 300
  assert validation_spec.num_tries == 2


def test_the_demo_itself_is_unchanged(tmp_path):
  ir = compiler.Compiler().compile(demo_pipeline.create_pipeline(
      str(tmp_path / 'pipeline'), str(tmp_path / 'serving_model')))
  nodes = {n.pipeline_node.node_info.id: n.pipeline_node for n in ir.nodes}
  assert list(nodes) == list(pipeline_checks.DEMO_NODES)
  assert ir.pipeline_info.id == demo_pipeline.PIPELINE_NAME
  assert _producers(nodes['Pusher'], 'model') == [('ModelWarmer', spec.WARMED_MODEL_KEY)]
  assert 'infra_blessing' not in nodes['Pusher'].inputs.inputs
  # The swap is measured from the latest blessed model, as Evaluator's baseline.
  assert _producers(nodes['ModelWarmer'], spec.BASELINE_MODEL_KEY) == [
      (pipeline_checks.BASELINE_RESOLVER, 'model')]


def test_readme_shows_the_variant_as_tested_code():
  pipeline_checks.check_in_readme(COMMAND)
  with open(pipeline_checks.ORCHESTRATORS_DOC) as f:
    blocks = [b for b in re.findall(r'```python\n(.*?)```', f.read(), re.S)
              if 'InfraValidator(' in b]
  assert len(blocks) == 1, 'README shows no (or more than one) InfraValidator snippet'
  source = _dedent(inspect.getsource(ivp))
  for paragraph in re.split(r'\n\s*\n', blocks[0].strip('\n')):
    assert _dedent(paragraph) in source, f'README snippet differs from the module:\n{paragraph}'


def _dedent(text: str) -> str:
  return '\n'.join(line.strip() for line in text.strip('\n').splitlines())


def test_readme_command_without_docker_stops_before_training(tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(ivp, 'LOCAL_DOCKER', infra_validator_pb2.LocalDockerConfig(
      client_base_url=f'unix://{tmp_path}/no-docker.sock'))
  ran = []
  monkeypatch.setattr(demo_pipeline, 'run', lambda *args, **kwargs: ran.append(args))
  argv = shlex.split(COMMAND)[3:] + ['--root', str(tmp_path / 'run')]
  assert ivp.main(argv) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: InfraValidator needs a Docker engine to run TF Serving')
  assert len(err.strip().splitlines()) == 1
  assert not ran


def _record_blessing(metadata_path: str, blessed: int) -> None:
  """An InfraBlessing in ML Metadata, as InfraValidator records it."""
  config = metadata.sqlite_metadata_connection_config(metadata_path)
  store = metadata_store.MetadataStore(config)
  type_id = store.put_artifact_type(metadata_store_pb2.ArtifactType(name='InfraBlessing'))
  artifact = metadata_store_pb2.Artifact(type_id=type_id, uri='/blessing')
  artifact.custom_properties['blessed'].int_value = blessed
  store.put_artifacts([artifact])


@pytest.fixture
def docker_ok(monkeypatch):
  monkeypatch.setattr(ivp, 'docker_problem', lambda config: None)


def test_a_model_tf_serving_refused_is_reported_not_pushed(tmp_path, capsys, monkeypatch,
                                                            docker_ok):
  def run(root, runner, pipeline_fn=None, **kwargs):
    assert pipeline_fn is ivp.create_pipeline
    _record_blessing(os.path.join(root, 'metadata.sqlite'), 0)
    return demo_pipeline.pushed_model_dir(os.path.join(root, 'metadata.sqlite'))

  monkeypatch.setattr(demo_pipeline, 'run', run)
  assert ivp.main(['--root', str(tmp_path)]) == 1
  err = capsys.readouterr().err
  tag = ivp.TF_SERVING_TAG
  assert f'TF Serving {tag} (tensorflow/serving:{tag}) did not load the warmed model' in err
  assert 'nothing was pushed' in err


def test_a_blessed_model_is_reported_with_its_warmup_summary(tmp_path, capsys, monkeypatch,
                                                              docker_ok):
  pushed = str(tmp_path / 'pushed')
  warmup_file.write_warmup_file(warmup_file.warmup_file_path(pushed), [
      prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog())])
  monkeypatch.setattr(demo_pipeline, 'run', lambda root, runner, **kwargs: pushed)
  monkeypatch.setattr(demo_pipeline, 'warmer_properties', lambda path: {})
  assert ivp.main(['--root', str(tmp_path)]) == 0
  out = capsys.readouterr().out
  tag = ivp.TF_SERVING_TAG
  assert (f'TF Serving {tag} (tensorflow/serving:{tag}) loaded the warmed model and '
          'replayed its warmup file: InfraValidator blessed it.') in out
  assert f'Pushed warmed model: {pushed}' in out


def test_infra_blessed_reads_the_newest_blessing(tmp_path):
  path = str(tmp_path / 'metadata.sqlite')
  assert ivp.infra_blessed(path) is None
  _record_blessing(path, 1)
  assert ivp.infra_blessed(path) is True
  _record_blessing(path, 0)
  assert ivp.infra_blessed(path) is False
