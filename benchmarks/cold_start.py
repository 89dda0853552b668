"""Cold start side by side: no warmup vs InfraValidator-style warmup vs ModelWarmer.

  python -m benchmarks.cold_start [--requests 2000] [--batch-sizes 1,8,32] [--out DIR]

For each model (the demo click model, a TF1-builder model with classify/regress/
predict signatures, a tf_keras raw-input model), three copies are made:
  none             no warmup file;
  infra_validator  TFX's own request_builder.build_requests (first N examples,
                   batch 1, the default signature), written as InfraValidator does;
  ours             ModelWarmer's executor.
Each copy is loaded in a fresh process (replaying its warmup file, as TF Serving
does at load), then answers the same live traffic: a seeded mix of every usable
signature and batch size, built from examples neither warmup saw.

cold-start ratio = max latency over the first half of the live requests /
                   max latency over the second half (same process; 1.0 is the limit).
Prints a markdown table and writes cold_start.md and cold_start.png to --out.
"""

import argparse
import csv
import os
import random
import shutil
import statistics
import sys
import tempfile
from typing import Dict, List, Sequence

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=g-import-not-at-top
import tensorflow as tf
from tfx.components.infra_validator import executor as iv_executor
from tfx.components.infra_validator import request_builder
from tfx.proto import infra_validator_pb2
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from pipelines import make_dataset
from pipelines import trainer_module
from tests import models
from tfx_warmup import executor
from tfx_warmup import measure
from tfx_warmup import signatures
from tfx_warmup import warmup_file
from tfx_warmup import warmup_requests
from tfx_warmup.options import WarmupOptions

CASES = ('none', 'infra_validator', 'ours')
NUM_EXAMPLES = 64


def csv_examples(rows) -> List[tf.train.Example]:
  """Demo rows as CsvExampleGen writes them: ints -> int64, floats -> float, text -> bytes."""
  out = []
  for row in rows:
    example = tf.train.Example()
    for name, value in zip(make_dataset.COLUMNS, row):
      feature = example.features.feature[name]
      if isinstance(value, int):
        feature.int64_list.value.append(value)
      elif isinstance(value, float):
        feature.float_list.value.append(value)
      else:
        feature.bytes_list.value.append(value.encode())
    out.append(example)
  return out


class _FnArgs:
  """The FnArgs fields the demo run_fn reads."""

  def __init__(self, train_files, eval_files, serving_model_dir):
    self.train_files, self.eval_files = train_files, eval_files
    self.serving_model_dir = serving_model_dir
    self.train_steps, self.eval_steps = 100, 5


def build_demo_model(root: str, examples: Sequence[tf.train.Example]) -> str:
  data = os.path.join(root, 'train.tfrecord.gz')
  with tf.io.TFRecordWriter(data, tf.io.TFRecordOptions(compression_type='GZIP')) as w:
    for e in examples:
      w.write(e.SerializeToString())
  model_dir = os.path.join(root, 'Format-Serving')
  trainer_module.run_fn(_FnArgs(data, data, model_dir))
  return model_dir


def prepare_models(root: str) -> Dict[str, Dict]:
  """Each model with its warmup examples and (separate) live-traffic examples."""
  rows = list(make_dataset.make_rows())
  demo_examples = csv_examples(rows)
  setups = {
      'demo': (lambda d: build_demo_model(d, demo_examples[:2000]),
               demo_examples[2000:2600], demo_examples[2600:]),
      'tf1_estimator_style': (lambda d: models.build_tf1_model(os.path.join(d, 'Format-Serving')),
                              models.make_examples(600, seed=1), models.make_examples(400, seed=2)),
      'keras_raw': (lambda d: models.build_keras_model(os.path.join(d, 'Format-Serving')),
                    models.make_examples(600, seed=3), models.make_examples(400, seed=4)),
  }
  prepared = {}
  for name, (build, warmup_examples, traffic_examples) in setups.items():
    model_root = os.path.join(root, name, 'model')
    os.makedirs(model_root)
    build(model_root)
    artifact = models.write_examples_artifact(
        os.path.join(root, name, 'examples'),
        {'eval': [e.SerializeToString() for e in warmup_examples]})
    prepared[name] = dict(model_root=model_root, examples=artifact,
                          traffic=[e.SerializeToString() for e in traffic_examples])
  return prepared


def make_cases(name: str, setup: Dict, root: str, batch_sizes: Sequence[int]) -> Dict[str, str]:
  """Model copies: no warmup, InfraValidator's warmup, ours. Returns SavedModel dirs."""
  source = os.path.join(setup['model_root'], 'Format-Serving')
  cases = {}
  none_dir = os.path.join(root, name, 'none')
  shutil.copytree(source, none_dir)
  cases['none'] = none_dir

  iv_dir = os.path.join(root, name, 'infra_validator')
  shutil.copytree(source, iv_dir)
  model = models.model_artifact(setup['model_root'])
  requests = request_builder.build_requests(
      model_name=name, model=model, examples=setup['examples'],
      request_spec=infra_validator_pb2.RequestSpec(
          tensorflow_serving=infra_validator_pb2.TensorFlowServingRequestSpec(),
          num_examples=NUM_EXAMPLES))
  io_utils.write_tfrecord_file(warmup_file.warmup_file_path(iv_dir),
                               *[iv_executor._convert_to_prediction_log(r)  # pylint: disable=protected-access
                                 for r in requests])
  cases['infra_validator'] = iv_dir

  warmed = standard_artifacts.Model()
  warmed.uri = os.path.join(root, name, 'ours')
  executor.Executor().Do(
      {'model': [model], 'examples': [setup['examples']]}, {'warmed_model': [warmed]},
      WarmupOptions(num_examples=NUM_EXAMPLES, batch_sizes=tuple(batch_sizes),
                    model_name=name, measure=False).to_exec_properties())
  cases['ours'] = os.path.join(warmed.uri, 'Format-Serving')
  return cases


def write_traffic(path: str, model_dir: str, traffic: List[bytes], batch_sizes: Sequence[int],
                  count: int, seed: int = 0) -> None:
  """`count` live requests: a seeded mix of every usable signature and batch size."""
  plans = signatures.plan_signatures(model_dir, ['serve']).usable
  pool: Dict = {}
  for record in warmup_requests.build_warmup_records(traffic, plans, batch_sizes):
    pool.setdefault(warmup_file.record_key(record), []).append(record)
  rng = random.Random(seed)
  keys = sorted(pool)
  warmup_file.write_warmup_file(path, [rng.choice(pool[rng.choice(keys)])
                                       for _ in range(count)])


def run(out_dir: str, count: int, batch_sizes: Sequence[int]) -> List[Dict]:
  rows = []
  plot_data = {}
  with tempfile.TemporaryDirectory() as root:
    for name, setup in prepare_models(root).items():
      cases = make_cases(name, setup, root, batch_sizes)
      traffic_path = os.path.join(root, name, 'traffic')
      write_traffic(traffic_path, cases['none'], setup['traffic'], batch_sizes, count)
      for case in CASES:
        timing = measure.time_in_fresh_process(cases[case], traffic_path, replay_warmup=True,
                                               rounds=1)
        latencies = timing.latencies_ms[0]
        half = len(latencies) // 2
        rows.append(dict(
            model=name, case=case, records=timing.replay_records,
            replay_s=timing.replay_seconds, first_ms=latencies[0],
            max_first_half_ms=max(latencies[:half]), max_second_half_ms=max(latencies[half:]),
            median_ms=statistics.median(latencies),
            ratio=max(latencies[:half]) / max(latencies[half:])))
        plot_data[(name, case)] = latencies[:200]
        print(f'{name:20s} {case:16s} ratio {rows[-1]["ratio"]:6.2f}', file=sys.stderr)
  table = format_table(rows, count, batch_sizes)
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'cold_start.md'), 'w') as f:
    f.write(table + '\n')
  plot(plot_data, os.path.join(out_dir, 'cold_start.png'))
  print(table)
  return rows


def format_table(rows: List[Dict], count: int, batch_sizes: Sequence[int]) -> str:
  lines = [
      f'Live traffic: {count} requests, every usable signature x batch sizes '
      f'{list(batch_sizes)}; warmup sample {NUM_EXAMPLES} examples.',
      '',
      '| model | warmup | records | replay s | first request ms | max ms, 1st half | '
      'max ms, 2nd half | median ms | cold-start ratio |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|']
  for r in rows:
    lines.append(f"| {r['model']} | {r['case']} | {r['records']} | {r['replay_s']:.2f} | "
                 f"{r['first_ms']:.1f} | {r['max_first_half_ms']:.1f} | "
                 f"{r['max_second_half_ms']:.1f} | {r['median_ms']:.2f} | {r['ratio']:.2f} |")
  return '\n'.join(lines)


def plot(data: Dict, path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  model_names = sorted({m for m, _ in data})
  fig, axes = plt.subplots(1, len(model_names), figsize=(5 * len(model_names), 4),
                           squeeze=False)
  for ax, name in zip(axes[0], model_names):
    for case in CASES:
      ax.plot(data[(name, case)], label=case, linewidth=1)
    ax.set_yscale('log')
    ax.set_title(name)
    ax.set_xlabel('live request #')
    ax.set_ylabel('latency (ms, log)')
    ax.legend()
  fig.suptitle('First 200 live requests after load')
  fig.tight_layout()
  fig.savefig(path, dpi=100)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--requests', type=int, default=2000,
                      help='live requests per case (the ratio compares the two halves)')
  parser.add_argument('--batch-sizes', default='1,8,32')
  parser.add_argument('--out', default=os.path.join('benchmarks', 'results'))
  args = parser.parse_args(argv)
  run(args.out, args.requests, [int(b) for b in args.batch_sizes.split(',')])
  return 0


if __name__ == '__main__':
  sys.exit(main())
