"""Vertex AI / KFP V2: the compiled PipelineJob runs our executor, in our image, as in the demo."""

import base64
import json
import os
import shlex
import subprocess
import sys

import pytest
from google.protobuf import json_format

# KubeflowV2DagRunner needs the [kfp] extra; a stack installed without it skips this module.
pytest.importorskip('kfp')
from kfp.pipeline_spec import pipeline_spec_pb2

from tfx import v1 as tfx

from pipelines import demo_pipeline
from pipelines import vertex_pipeline
from tfx_warmup import ModelWarmer
from tfx_warmup.component import spec
from tfx_warmup import serving
from tfx_warmup.serving import warmup_file
from tests import models
from tests.pipelines import checks as pipeline_checks

# Runs a whole pipeline or the installed command: slow; `make test-fast` leaves it out.
pytestmark = pytest.mark.e2e

IMAGE = 'us-docker.pkg.dev/my-project/tfx/tfx-warmup:0.1.0'
BEAM_ARGS = ['--direct_running_mode=in_memory', '--direct_num_workers=1']
RUN_EXECUTOR = ['python', '-m', 'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor']


@pytest.fixture(scope='module')
def compiled(tmp_path_factory):
  """(PipelineSpec, deployment config) of the demo compiled offline with local paths."""
  tmp = tmp_path_factory.mktemp('vertex')
  path = vertex_pipeline.compile_pipeline(
      str(tmp / 'tfx-warmup-demo.json'), pipeline_root=str(tmp / 'pipeline_root'),
      serving_model_dir=str(tmp / 'serving_model'), image=IMAGE,
      beam_pipeline_args=BEAM_ARGS)
  return _parse_job(path)


def _parse_job(path):
  """(PipelineSpec, deployment config) of a compiled PipelineJob JSON."""
  with open(path) as f:
    job = json_format.Parse(f.read(), pipeline_spec_pb2.PipelineJob())
  pipeline = json_format.ParseDict(json_format.MessageToDict(job.pipeline_spec),
                                   pipeline_spec_pb2.PipelineSpec())
  deployment = json_format.ParseDict(json_format.MessageToDict(pipeline.deployment_spec),
                                     pipeline_spec_pb2.PipelineDeploymentConfig())
  return pipeline, deployment


def _warmer_container(compiled):
  pipeline, deployment = compiled
  component = pipeline.root.dag.tasks['ModelWarmer'].component_ref.name
  label = pipeline.components[component].executor_label
  return deployment.executors[label].container


def test_model_warmer_runs_our_executor_in_our_image(compiled):
  container = _warmer_container(compiled)
  assert container.image == IMAGE
  assert list(container.command) == RUN_EXECUTOR
  args = list(container.args)
  assert args[args.index('--executor_class_path') + 1] == 'tfx_warmup.component.executor.Executor'
  assert args[-len(BEAM_ARGS):] == BEAM_ARGS  # The pipeline's Beam args reach ModelWarmer.


def test_every_step_uses_our_image(compiled):
  _, deployment = compiled
  containers = {name: e.container.image for name, e in deployment.executors.items()
                if e.WhichOneof('spec') == 'container'}
  assert set(containers.values()) == {IMAGE}
  # The rest is the baseline's resolver (a query for the blessing, one for the model),
  # which Vertex runs itself: no container.
  others = {name: e.WhichOneof('spec') for name, e in deployment.executors.items()
            if name not in containers}
  assert set(others.values()) == {'resolver'} and all(
      name.startswith('latest_blessed_model_resolver') for name in others), others


def test_model_warmer_is_wired_between_trainer_examplegen_and_pusher(compiled):
  pipeline, _ = compiled
  tasks = pipeline.root.dag.tasks

  def producer(task, key):
    source = tasks[task].inputs.artifacts[key].task_output_artifact
    return source.producer_task, source.output_artifact_key

  assert producer('ModelWarmer', spec.MODEL_KEY) == ('Trainer', 'model')
  assert spec.EXAMPLES_KEY not in tasks['ModelWarmer'].inputs.artifacts  # Traffic instead.
  assert producer('Pusher', 'model') == ('ModelWarmer', spec.WARMED_MODEL_KEY)
  params = tasks['ModelWarmer'].inputs.parameters
  assert params['traffic_logs'].runtime_value.constant_value.string_value == (
      demo_pipeline.TRAFFIC_LOGS)


def _model_warmer_step(compiled, model_dir, examples_artifact, warmed_uri, output_file,
                       parameters=None, constants=None):
  """The compiled step's command, with an ExecutorInput as Vertex fills `{{$}}`.

  `parameters`: the values Vertex gives the step's pipeline parameters, by name;
  `constants`: values that stand in for the compiled constants, by parameter key;
  `examples_artifact`: the Examples input, when the step has one.
  """
  pipeline, _ = compiled
  task = pipeline.root.dag.tasks['ModelWarmer']
  inputs = pipeline.components[task.component_ref.name].input_definitions
  outputs = pipeline.components[task.component_ref.name].output_definitions

  def runtime_artifact(key, definitions, uri, metadata=None):
    return {'artifacts': [{
        'name': f'projects/1/locations/us-central1/metadataStores/default/artifacts/{key}',
        'uri': uri, 'metadata': metadata or {},
        'type': json_format.MessageToDict(definitions.artifacts[key].artifact_type)}]}

  def value(key, parameter):
    if parameter.component_input_parameter:
      return (parameters or {})[parameter.component_input_parameter]
    if key in (constants or {}):
      held = constants[key]
      return {'intValue': str(held)} if isinstance(held, int) else {'stringValue': held}
    return json_format.MessageToDict(parameter.runtime_value.constant_value)

  artifacts = {spec.MODEL_KEY: runtime_artifact(spec.MODEL_KEY, inputs,
                                                os.path.dirname(model_dir))}
  if examples_artifact is not None:
    assert spec.EXAMPLES_KEY in inputs.artifacts
    artifacts[spec.EXAMPLES_KEY] = runtime_artifact(
        spec.EXAMPLES_KEY, inputs, examples_artifact.uri,
        {'split_names': examples_artifact.split_names})
  executor_input = {
      'inputs': {
          'artifacts': artifacts,
          'parameters': {k: value(k, v) for k, v in task.inputs.parameters.items()},
      },
      'outputs': {
          'artifacts': {spec.WARMED_MODEL_KEY: runtime_artifact(
              spec.WARMED_MODEL_KEY, outputs, warmed_uri)},
          'outputFile': output_file,
      },
  }
  container = _warmer_container(compiled)
  assert container.command[0] == 'python'
  return [sys.executable] + list(container.command[1:]) + [
      json.dumps(executor_input) if a == '{{$}}' else a for a in container.args]


def test_compiled_model_warmer_step_runs_as_vertex_runs_it(compiled, keras_model_dir, examples,
                                                           tmp_path):
  """The step's own command and arguments, with an ExecutorInput as Vertex fills `{{$}}`.

  The demo's step warms from its traffic log; here, a log of calls to the test model. Its
  version swap (about 35 s of fresh processes) is what the demo and Airflow runs measure:
  here it is off, and the step's command is what is checked.
  """
  log = tmp_path / 'requests.jsonl'
  log.write_text(''.join(
      json.dumps({'path': '/v1/models/m:predict', 'body': {'instances': [
          {'b64': base64.b64encode(e.SerializeToString()).decode()} for e in batch]}}) + '\n'
      for batch in (examples[:1], examples[1:2], examples[2:6], examples[6:10])))
  warmed_uri = str(tmp_path / 'warmed_model')
  command = _model_warmer_step(compiled, keras_model_dir, None, warmed_uri,
                               str(tmp_path / 'task' / 'executor_output.json'),
                               constants={'traffic_logs': str(log), 'measure_swap': 0})
  proc = subprocess.run(command, capture_output=True, text=True, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]

  warmed_model = os.path.join(warmed_uri, 'Format-Serving')
  assert serving.replay_warmup(warmed_model).records == len(
      list(warmup_file.read_records(warmup_file.warmup_file_path(warmed_model))))
  with open(tmp_path / 'task' / 'executor_output.json') as f:
    output = json_format.Parse(f.read(), pipeline_spec_pb2.ExecutorOutput())
  (artifact,) = output.artifacts[spec.WARMED_MODEL_KEY].artifacts
  assert artifact.metadata[spec.RECORD_COUNT_PROPERTY] > 0
  assert artifact.metadata[spec.VALIDATED_PROPERTY] == 1


@pytest.fixture(scope='module')
def compiled_with_runtime_parameter(tmp_path_factory):
  """A pipeline whose ModelWarmer takes num_examples as a RuntimeParameter, compiled offline."""
  tmp = tmp_path_factory.mktemp('vertex_runtime_parameter')
  model = tfx.dsl.Importer(source_uri=str(tmp / 'model'),
                           artifact_type=tfx.types.standard_artifacts.Model).with_id('model')
  examples = tfx.dsl.Importer(source_uri=str(tmp / 'examples'),
                              artifact_type=tfx.types.standard_artifacts.Examples).with_id(
                                  'examples')
  warmer = ModelWarmer(
      model=model.outputs['result'], examples=examples.outputs['result'],
      num_examples=tfx.dsl.experimental.RuntimeParameter(name='num_examples', ptype=int,
                                                         default=64),
      batch_sizes=[1, 4], measure=False)
  tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=IMAGE),
      output_dir=str(tmp), output_filename='job.json').run(tfx.dsl.Pipeline(
          pipeline_name='runtime-parameter', pipeline_root=str(tmp / 'root'),
          components=[model, examples, warmer]))
  return _parse_job(str(tmp / 'job.json'))


def test_a_runtime_parameter_becomes_a_job_input_parameter(compiled_with_runtime_parameter):
  pipeline, _ = compiled_with_runtime_parameter
  root = pipeline.root.input_definitions.parameters
  assert list(root) == ['num_examples']
  assert root['num_examples'].type == pipeline_spec_pb2.PrimitiveType.INT
  params = pipeline.root.dag.tasks['ModelWarmer'].inputs.parameters
  assert params['num_examples'].component_input_parameter == 'num_examples'
  assert params['seed'].runtime_value.constant_value.int_value == 0


def test_the_executor_checks_the_runtime_parameter_value(compiled_with_runtime_parameter,
                                                         keras_model_dir, examples, tmp_path):
  """The value Vertex passes is checked when the step runs: 0 fails in one line, 8 runs."""
  examples_artifact = models.write_examples_artifact(
      str(tmp_path / 'examples'), {'train': [e.SerializeToString() for e in examples]})
  procs = {}
  for value in (0, 8):
    command = _model_warmer_step(
        compiled_with_runtime_parameter, keras_model_dir, examples_artifact,
        str(tmp_path / f'warmed_{value}'), str(tmp_path / f'task_{value}' / 'output.json'),
        parameters={'num_examples': {'intValue': str(value)}})
    procs[value] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
  outputs = {value: proc.communicate() for value, proc in procs.items()}

  assert procs[0].returncode != 0
  assert ('ConfigurationError: num_examples must be a positive integer, got 0.'
          in outputs[0][1]), outputs[0][1][-3000:]
  assert not os.path.exists(tmp_path / 'warmed_0' / 'Format-Serving')
  assert procs[8].returncode == 0, outputs[8][1][-3000:]
  with open(tmp_path / 'warmed_8' / 'warmup_report.json') as f:
    assert json.load(f)['sample']['num_examples'] == 8


# The README's command. TFX uploads the Trainer module's wheel to --pipeline-root while
# compiling; offline, the test uses TFX's documented escape from that upload.
VERTEX_COMMAND = """.venv/bin/python -m pipelines.vertex_pipeline \\
    --pipeline-root gs://my-bucket/tfx-warmup/pipeline \\
    --serving-model-dir gs://my-bucket/tfx-warmup/serving_model \\
    --data-root gs://my-bucket/tfx-warmup/data \\
    --module-file gs://my-bucket/tfx-warmup/trainer_module.py \\
    --image us-docker.pkg.dev/my-project/tfx/tfx-warmup:0.1.0 \\
    --dataflow-project my-project \\
    --output tfx-warmup-demo.json"""


def test_readme_command_compiles_a_dataflow_backed_job(tmp_path, capsys, monkeypatch):
  pipeline_checks.check_in_readme(VERTEX_COMMAND)
  monkeypatch.setenv('UNSUPPORTED_DO_NOT_PACKAGE_USER_MODULES', '1')
  argv = shlex.split(VERTEX_COMMAND.replace('\\\n', ' '))[3:]
  output = tmp_path / 'tfx-warmup-demo.json'
  argv[argv.index('--output') + 1] = str(output)
  assert vertex_pipeline.main(argv) == 0
  assert f'Wrote {output}' in capsys.readouterr().out

  job = json_format.Parse(output.read_text(), pipeline_spec_pb2.PipelineJob())
  assert job.display_name == 'tfx-warmup-demo'
  pipeline = json_format.ParseDict(json_format.MessageToDict(job.pipeline_spec),
                                   pipeline_spec_pb2.PipelineSpec())
  deployment = json_format.ParseDict(json_format.MessageToDict(pipeline.deployment_spec),
                                     pipeline_spec_pb2.PipelineDeploymentConfig())
  container = _warmer_container((pipeline, deployment))
  image = 'us-docker.pkg.dev/my-project/tfx/tfx-warmup:0.1.0'
  assert container.image == image
  assert list(container.args)[-5:] == vertex_pipeline.dataflow_beam_args(
      'my-project', 'us-central1', 'gs://my-bucket/tfx-warmup/pipeline/beam-tmp', image)
  assert f'--sdk_container_image={image}' in container.args
