"""The demo with a real TF Serving check: ModelWarmer -> InfraValidator -> Pusher.

  python -m pipelines.infra_validated_pipeline [--root runs/infra_validated] [--runner local|beam]

Needs a Docker engine. ModelWarmer checks its warmup file in a replica of TF
Serving (`tfx_warmup.serving`); this variant adds the real server. TFX's
InfraValidator starts `tensorflow/serving:<TF_SERVING_TAG>` in Docker on the
warmed model, and TF Serving replays `assets.extra/tf_serving_warmup_requests`
while it loads the model: it reports the model AVAILABLE only once every record
has run, and fails the load if one fails. So InfraValidator's load check alone
proves our file on the pinned server version; Pusher pushes only a model it
blessed (`infra_blessing`).

InfraValidator gets no `request_spec`. Its `make_warmup` would write a warmup
file of its own into the blessing and hide ours; requests of its own would test
less than our file does, which already covers every signature and batch size.

The demo's ExampleGen, Trainer and ModelWarmer are reused as they are; only
the Pusher changes, to wait for the blessing.
"""

import argparse
import importlib.metadata
import os
import sys
from typing import List, Optional

from tfx_warmup import compat  # Imports no TensorFlow.

compat.prefer_legacy_keras()  # Before TensorFlow is imported: Keras 2, as TFX trains with.

from docker import errors as docker_errors
from tfx import v1 as tfx
from tfx.components.infra_validator.model_server_runners import local_docker_runner
from tfx.orchestration import metadata

from pipelines import demo_pipeline

PIPELINE_NAME = 'tfx-warmup-infra-validated'
# TF Serving of the stack's TensorFlow and tensorflow-serving-api (2.16.1 with constraints.txt).
TF_SERVING_IMAGE = 'tensorflow/serving'
TF_SERVING_TAG = importlib.metadata.version('tensorflow-serving-api')
# The Docker engine InfraValidator's client talks to (default: the local socket).
LOCAL_DOCKER = tfx.proto.LocalDockerConfig()


def create_pipeline(pipeline_root: str, serving_model_dir: str,
                    metadata_path: Optional[str] = None,
                    data_root: str = demo_pipeline.DATA_ROOT,
                    module_file: str = demo_pipeline.MODULE_FILE,
                    beam_pipeline_args: Optional[List[str]] = None,
                    train_steps: int = 300) -> tfx.dsl.Pipeline:
  """The demo, with InfraValidator loading the warmed model before Pusher pushes it."""
  demo = demo_pipeline.create_components(serving_model_dir, data_root, module_file,
                                         train_steps)
  warmer = demo.warmer
  infra_validator = tfx.components.InfraValidator(
      model=warmer.outputs['warmed_model'],
      serving_spec=tfx.proto.ServingSpec(
          tensorflow_serving=tfx.proto.TensorFlowServing(
              image_name=TF_SERVING_IMAGE, tags=[TF_SERVING_TAG]),
          local_docker=LOCAL_DOCKER),
      # The deadline includes the first run's image pull; a refused file fails every try.
      validation_spec=tfx.proto.ValidationSpec(max_loading_time_seconds=300, num_tries=2))
  pusher = tfx.components.Pusher(
      model=warmer.outputs['warmed_model'],
      infra_blessing=infra_validator.outputs['blessing'],
      push_destination=tfx.proto.PushDestination(
          filesystem=tfx.proto.PushDestination.Filesystem(
              base_directory=serving_model_dir)))
  return demo_pipeline.assemble_pipeline(
      [demo.example_gen, demo.trainer, demo.baseline, warmer, infra_validator, pusher],
      pipeline_root, metadata_path, beam_pipeline_args, pipeline_name=PIPELINE_NAME)


def docker_problem(config: tfx.proto.LocalDockerConfig) -> Optional[str]:
  """Why InfraValidator could not reach a Docker engine, or None.

  Without one, InfraValidator does not fail: it marks the model not blessed after
  every try, and nothing is pushed. Checked before training, in one line.
  """
  try:
    client = local_docker_runner._make_docker_client(config)  # noqa: SLF001
    try:
      client.ping()
    finally:
      client.close()
  except (docker_errors.DockerException, OSError) as e:
    return (f'InfraValidator needs a Docker engine to run TF Serving, and none answers '
            f'({str(e).splitlines()[0]}). Start Docker, or run the demo without it: '
            f'python -m pipelines.demo_pipeline')
  return None


def infra_blessed(metadata_path: str) -> Optional[bool]:
  """Whether the newest InfraBlessing in ML Metadata blessed its model (None: no such run)."""
  config = tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
  with metadata.Metadata(config) as store:
    blessings = store.store.get_artifacts_by_type('InfraBlessing')
  if not blessings:
    return None
  newest = max(blessings, key=lambda a: a.id)
  return newest.custom_properties['blessed'].int_value == 1


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--runner', choices=('local', 'beam'), default='local')
  parser.add_argument('--root', default=os.path.join('runs', 'infra_validated'),
                      help='where pipeline outputs, metadata and the pushed model go')
  args = parser.parse_args(argv)
  problem = docker_problem(LOCAL_DOCKER)
  if problem:
    print(f'error: {problem}', file=sys.stderr)
    return 2
  root = os.path.abspath(args.root)
  metadata_path = os.path.join(root, 'metadata.sqlite')
  server = f'TF Serving {TF_SERVING_TAG} ({TF_SERVING_IMAGE}:{TF_SERVING_TAG})'
  try:
    pushed = demo_pipeline.run(root, args.runner, pipeline_fn=create_pipeline)
  except RuntimeError:
    if infra_blessed(metadata_path) is not False:
      raise
    print(f'error: {server} did not load the warmed model or its warmup file, so '
          f'InfraValidator did not bless it and nothing was pushed. The model server\'s log '
          f'is in the run log between BEGIN_MODEL_SERVER_LOG and END_MODEL_SERVER_LOG.',
          file=sys.stderr)
    return 1
  print(f'\n{server} loaded the warmed model and replayed its warmup file: '
        f'InfraValidator blessed it.')
  demo_pipeline.print_summary(pushed, metadata_path)
  return 0


if __name__ == '__main__':
  sys.exit(main())
