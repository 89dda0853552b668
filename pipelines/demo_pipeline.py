"""Demo: CsvExampleGen -> Trainer -> ModelWarmer -> Pusher, on a click dataset.

ModelWarmer warms what clients send: a serving traffic log (traffic/requests.jsonl, made
by make_traffic.py), whose logged requests become the warmup records.

  python -m pipelines.demo_pipeline [--runner local|beam] [--root runs/demo] [--beam-arg=...]

Runs with LocalDagRunner (default) or BeamDagRunner on SQLite ML Metadata, then
prints where the pushed model is and what its warmup file holds.
"""

import argparse
import os
import sys
from typing import Callable, List, NamedTuple, Optional, Sequence

from tfx_warmup import compat  # Imports no TensorFlow.

compat.prefer_legacy_keras()  # Before TensorFlow is imported: Keras 2, as TFX trains with.

from tfx_warmup import progress  # absl only: no TensorFlow yet


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--runner', choices=('local', 'beam'), default='local')
  parser.add_argument('--root', default=os.path.join('runs', 'demo'),
                      help='where pipeline outputs, metadata and the pushed model go')
  parser.add_argument('--beam-arg', action='append', default=[], dest='beam_args',
                      help='a Beam pipeline argument for every Beam-powered component, e.g. '
                           '--beam-arg=--direct_num_workers=2 (repeatable)')
  parser.add_argument('--verbose', action='store_true',
                      help="show TFX's, Beam's and TensorFlow's logs instead of a log file")
  args = parser.parse_args(argv)
  root = os.path.abspath(args.root)
  print(f'Running the demo pipeline ({args.runner} runner) in {root} ...', flush=True)
  with progress.library_output_to_log('tfx-warmup-demo', args.verbose) as log_path:
    # TensorFlow writes its C++ start-up lines straight to file descriptor 2 while it is
    # imported. Run as `python -m pipelines.demo_pipeline`, this file is `__main__` and stops
    # before its TFX imports (below), so they happen here, into the log file.
    from pipelines import demo_pipeline as demo  # noqa: PLW0406  (as a module, not __main__)
    pushed = demo.run(root, args.runner, beam_pipeline_args=args.beam_args or None)
    summary = demo.summary_text(pushed, os.path.join(root, 'metadata.sqlite'))
  if log_path:
    print(f'Pipeline logs: {log_path}')
  print(summary)
  return 0


if __name__ == '__main__':
  sys.exit(main())

# The pipeline. (Run as a script, the file ends above: main() imports it by name.)
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx
from tfx.dsl.components.base import base_node
from tfx.orchestration import metadata

from tfx_warmup import ModelWarmer
from tfx_warmup.component import spec
from tfx_warmup import serving
from tfx_warmup.report import text as report_text
from tfx_warmup.report import warmup_file_section

PIPELINE_NAME = 'tfx-warmup-demo'
_HERE = os.path.dirname(os.path.abspath(__file__))
DATA_ROOT = os.path.join(_HERE, 'data')
MODULE_FILE = os.path.join(_HERE, 'trainer_module.py')
# What clients sent the serving version, as a gateway logs TF Serving's REST calls.
TRAFFIC_LOGS = os.path.join(_HERE, 'traffic', 'requests.jsonl')


class DemoComponents(NamedTuple):
  """The demo's components, in run order; variants reuse them."""
  example_gen: tfx.components.CsvExampleGen
  trainer: tfx.components.Trainer
  baseline: tfx.dsl.Resolver
  warmer: ModelWarmer
  pusher: tfx.components.Pusher


def create_components(serving_model_dir: str, data_root: str = DATA_ROOT,
                      module_file: str = MODULE_FILE, train_steps: int = 300,
                      traffic_logs: str = TRAFFIC_LOGS) -> DemoComponents:
  """The demo's components; the ModelWarmer lines are the whole integration."""
  example_gen = tfx.components.CsvExampleGen(input_base=data_root)
  trainer = tfx.components.Trainer(
      module_file=module_file,
      examples=example_gen.outputs['examples'],
      train_args=tfx.proto.TrainArgs(num_steps=train_steps),
      eval_args=tfx.proto.EvalArgs(num_steps=20))
  # The version being served, resolved as Evaluator's baseline is: the swap is measured
  # from it (without one, e.g. on the first run, from the new model itself).
  baseline = tfx.dsl.Resolver(
      strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
      model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
      model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
  ).with_id('latest_blessed_model_resolver')
  warmer = ModelWarmer(
      model=trainer.outputs['model'],
      traffic_logs=traffic_logs,  # What clients send: its requests become the records.
      measure_swap=True,
      # The allocator alone of the candidate groups: the lever users report at reloads
      # (jemalloc, tensorflow/serving #2142), in about 15 fresh processes. All three groups
      # (the default) take twice as long.
      swap_candidates=['allocator'],
      baseline_model=baseline.outputs['model'])
  pusher = tfx.components.Pusher(
      model=warmer.outputs['warmed_model'],
      push_destination=tfx.proto.PushDestination(
          filesystem=tfx.proto.PushDestination.Filesystem(
              base_directory=serving_model_dir)))
  return DemoComponents(example_gen, trainer, baseline, warmer, pusher)


def assemble_pipeline(components: Sequence[base_node.BaseNode], pipeline_root: str,
                      metadata_path: Optional[str] = None,
                      beam_pipeline_args: Optional[List[str]] = None,
                      pipeline_name: str = PIPELINE_NAME) -> tfx.dsl.Pipeline:
  """A pipeline of `components` with the demo's metadata and Beam settings."""
  return tfx.dsl.Pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      components=list(components),
      metadata_connection_config=(
          tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
          if metadata_path else None),
      beam_pipeline_args=beam_pipeline_args or ['--direct_num_workers=1'])


def create_pipeline(pipeline_root: str, serving_model_dir: str,
                    metadata_path: Optional[str] = None,
                    data_root: str = DATA_ROOT, module_file: str = MODULE_FILE,
                    beam_pipeline_args: Optional[List[str]] = None,
                    train_steps: int = 300) -> tfx.dsl.Pipeline:
  """The demo pipeline: CsvExampleGen -> Trainer -> ModelWarmer -> Pusher."""
  return assemble_pipeline(
      create_components(serving_model_dir, data_root, module_file, train_steps),
      pipeline_root, metadata_path, beam_pipeline_args)


def run(root: str, runner: str = 'local',
        pipeline_fn: Optional[Callable[..., tfx.dsl.Pipeline]] = None, **kwargs) -> str:
  """Runs the demo (or `pipeline_fn`'s variant of it) under `root`; returns the pushed model."""
  metadata_path = os.path.join(root, 'metadata.sqlite')
  pipeline = (pipeline_fn or create_pipeline)(
      pipeline_root=os.path.join(root, 'pipeline'),
      serving_model_dir=os.path.join(root, 'serving_model'),
      metadata_path=metadata_path, **kwargs)
  if runner == 'local':
    tfx.orchestration.LocalDagRunner().run(pipeline)
  elif runner == 'beam':
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
    BeamDagRunner().run(pipeline)
  else:
    raise ValueError(f"runner must be 'local' or 'beam', got {runner!r}")
  return pushed_model_dir(metadata_path)


def warmer_properties(metadata_path: str) -> dict:
  """Custom properties of the newest ModelWarmer output recorded in ML Metadata."""
  config = tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
  with metadata.Metadata(config) as store:
    warmed = [a for a in store.store.get_artifacts_by_type('Model')
              if spec.RECORD_COUNT_PROPERTY in a.custom_properties]
  newest = max(warmed, key=lambda a: a.id)
  return {k: getattr(v, v.WhichOneof('value')) for k, v in newest.custom_properties.items()}


def pushed_model_dir(metadata_path: str) -> str:
  """The newest pushed model recorded in ML Metadata."""
  config = tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
  with metadata.Metadata(config) as store:
    pushed = [a for a in store.store.get_artifacts_by_type('PushedModel')
              if a.state == metadata_store_pb2.Artifact.LIVE and
              a.custom_properties['pushed'].int_value == 1]
  if not pushed:
    raise RuntimeError(f'No model was pushed (metadata at {metadata_path}).')
  newest = max(pushed, key=lambda a: a.id)
  return newest.custom_properties['pushed_destination'].string_value


def print_summary(pushed: str, metadata_path: str) -> None:
  """Prints the pushed model, what its warmup file holds and the cold start it removes."""
  print(summary_text(pushed, metadata_path))


def summary_text(pushed: str, metadata_path: str) -> str:
  """The pushed model, what its warmup file holds and the cold start it removes."""
  path = serving.warmup_file_path(pushed)
  section = warmup_file_section(path, serving.read_warmup_file(path))
  lines = [f'\nPushed warmed model: {pushed}', f'Warmup file: {path}\n',
           report_text.format_summary(section.summary)]
  props = warmer_properties(metadata_path)
  if spec.FIRST_MS_WITH_WARMUP_PROPERTY in props:
    lines.append(
        f'\nSlowest first request after load: '
        f'{props[spec.FIRST_MS_WITHOUT_WARMUP_PROPERTY]:.1f} ms without warmup, '
        f'{props[spec.FIRST_MS_WITH_WARMUP_PROPERTY]:.1f} ms with it '
        f'(steady state p50 {props[spec.STEADY_P50_MS_PROPERTY]:.2f} ms; replay adds '
        f'{props[spec.REPLAY_SECONDS_PROPERTY]:.2f} s to the load).')
  if spec.TRAFFIC_REQUESTS_PROPERTY in props:
    lines.append(
        f'\nWarmed from {props[spec.TRAFFIC_REQUESTS_PROPERTY]:,} logged requests: the '
        f'warmup covers {props[spec.TRAFFIC_COVERAGE_PROPERTY]:.0%} of them; this model would '
        f'refuse {props[spec.TRAFFIC_NEWLY_REFUSED_PROPERTY]:,} answered today.')
  if spec.SWAP_P99_MS_DEFAULTS_PROPERTY in props:
    recommended = props.get(spec.SWAP_RECOMMENDED_PROPERTY)
    lines.append(
        f"Serving version's p99 while this one loads and warms: "
        f"{props[spec.SWAP_P99_MS_DEFAULTS_PROPERTY]:.2f} ms with TF Serving's defaults"
        + (f", {props[spec.SWAP_P99_MS_RECOMMENDED_PROPERTY]:.2f} ms with '{recommended}' "
           '(the command beside the warmed model)' if recommended else
           '; no candidate measured better here') + '.')
    if spec.SWAP_PEAK_MIB_PROPERTY in props:
      lines.append(f"The swap's peak resident memory: {props[spec.SWAP_PEAK_MIB_PROPERTY]:,.0f} "
                   f"MiB ({props[spec.SWAP_VERDICT_PROPERTY]}).")
  return '\n'.join(lines)
