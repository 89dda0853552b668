"""The demo pipeline compiled for Vertex AI Pipelines (KubeflowV2DagRunner).

  python -m pipelines.vertex_pipeline \\
      --pipeline-root gs://BUCKET/tfx-warmup/pipeline \\
      --serving-model-dir gs://BUCKET/tfx-warmup/serving_model \\
      --data-root gs://BUCKET/tfx-warmup/data \\
      --module-file gs://BUCKET/tfx-warmup/trainer_module.py \\
      --image REGION-docker.pkg.dev/PROJECT/REPO/tfx-warmup:0.1.0 \\
      [--dataflow-project PROJECT] --output tfx-warmup-demo.json

Compiling only writes a PipelineJob JSON; nothing runs. With --dataflow-project,
Beam-powered steps (ModelWarmer included) run on Dataflow. Every step runs in
`--image`, built from this repository's Dockerfile, so ModelWarmer's executor is
importable there. TFX packages the Trainer module into a wheel under
`--pipeline-root` while compiling; set UNSUPPORTED_DO_NOT_PACKAGE_USER_MODULES=1
to skip that when compiling offline.
"""

import argparse
import os
import sys
from typing import List, Optional, Sequence

from tfx_warmup import compat  # Imports no TensorFlow.

compat.prefer_legacy_keras()  # Before TensorFlow is imported: Keras 2, as TFX trains with.

from tfx import v1 as tfx

from pipelines import demo_pipeline

# The image the Dockerfile builds; push it to your registry and pass its full name.
DEFAULT_IMAGE = 'tfx-warmup:0.1.0'


def dataflow_beam_args(project: str, region: str, temp_location: str,
                       image: str) -> List[str]:
  """Beam args that run every Beam-powered step, ModelWarmer's sampling included, on Dataflow."""
  return [
      '--runner=DataflowRunner',
      f'--project={project}',
      f'--region={region}',
      f'--temp_location={temp_location}',
      # Workers start from the pipeline's image, so they import tfx_warmup's transforms.
      f'--sdk_container_image={image}',
  ]


def compile_pipeline(output_path: str, pipeline_root: str, serving_model_dir: str,
                     data_root: str = demo_pipeline.DATA_ROOT,
                     module_file: str = demo_pipeline.MODULE_FILE,
                     image: str = DEFAULT_IMAGE,
                     beam_pipeline_args: Optional[Sequence[str]] = None) -> str:
  """Writes the demo as a Vertex PipelineJob JSON to `output_path`; returns the path.

  Vertex keeps ML Metadata itself, so the pipeline has no metadata connection.
  `beam_pipeline_args` reach every Beam-powered step, ModelWarmer included.
  """
  pipeline = demo_pipeline.create_pipeline(
      pipeline_root=pipeline_root, serving_model_dir=serving_model_dir,
      data_root=data_root, module_file=module_file,
      beam_pipeline_args=list(beam_pipeline_args or []) or None)
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
      output_dir=os.path.dirname(os.path.abspath(output_path)),
      output_filename=os.path.basename(output_path))
  runner.run(pipeline, write_out=True)
  return output_path


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--pipeline-root', required=True, help='gs:// root for pipeline outputs')
  parser.add_argument('--serving-model-dir', required=True,
                      help='where Pusher copies the warmed model (gs://...)')
  parser.add_argument('--data-root', default=demo_pipeline.DATA_ROOT,
                      help="CSV data for CsvExampleGen (gs://...); default: this repo's")
  parser.add_argument('--module-file', default=demo_pipeline.MODULE_FILE,
                      help='Trainer module file')
  parser.add_argument('--image', default=DEFAULT_IMAGE,
                      help='container image built from the Dockerfile (default %(default)s)')
  parser.add_argument('--dataflow-project',
                      help='run Beam-powered steps on Dataflow in this GCP project')
  parser.add_argument('--dataflow-region', default='us-central1',
                      help='Dataflow region (default %(default)s)')
  parser.add_argument('--beam-arg', action='append', default=[], dest='beam_args',
                      help='a further Beam pipeline argument, e.g. '
                           '--beam-arg=--max_num_workers=8 (repeatable)')
  parser.add_argument('--output', default='tfx-warmup-demo.json',
                      help='PipelineJob JSON to write (default %(default)s)')
  args = parser.parse_args(argv)
  beam_args = args.beam_args
  if args.dataflow_project:
    beam_args = dataflow_beam_args(
        args.dataflow_project, args.dataflow_region,
        f'{args.pipeline_root.rstrip("/")}/beam-tmp', args.image) + beam_args
  path = compile_pipeline(args.output, args.pipeline_root, args.serving_model_dir,
                          args.data_root, args.module_file, args.image, beam_args)
  print(f'Wrote {path}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
