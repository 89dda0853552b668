"""Cold start side by side: no warmup vs InfraValidator-style warmup vs ModelWarmer.

  python -m benchmarks.cold_start [--requests 2000] [--traffic-batch-sizes 1-128]
                                  [--sweep] [--out DIR]

For each model (the demo click model, a TF1-builder model with classify/regress/
predict signatures, a tf_keras raw-input model), copies are made:
  none             no warmup file;
  infra_validator  TFX's own request_builder.build_requests (first N examples,
                   batch 1, the default signature), written as InfraValidator does;
  ours             tfx-warmup (library.warm_model, what ModelWarmer runs) with its defaults.
With --sweep, ModelWarmer also runs with other batch sizes and requests per
combination: the trade-off table behind the defaults.

Each copy is loaded in a fresh process (replaying its warmup file, as TF Serving
does at load), then answers the same live traffic: a seeded mix of every
signature (and MultiInference) at every traffic batch size, built from
examples no warmup saw.

Each process loads and runs the model with TensorFlow's C++ through its C API
(`tfx_warmup.measure.cold_start.time_in_fresh_process`, `serving.native`), as TF
Serving does, so the latencies are TF Serving's, not a Python tf.Session's.

cold-start ratio = max latency over the first half of the live requests /
                   max latency over the second half (same process; 1.0 is the limit).
A single max is at the mercy of one OS hiccup, so every case runs --repeats times
(fresh processes), the cases of a model interleaved (none, infra_validator, ours,
none, ...) so that a busy spell on a shared machine hits them all alike; the
tables show the median of each statistic and the ratio's min-max over the runs.
The machine's load average before and after the run heads the report.
Prints markdown tables and writes cold_start.md and cold_start.png to --out.
"""

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
from typing import Dict, List, Sequence

from tfx_warmup import compat  # Imports no TensorFlow.

compat.prefer_legacy_keras()  # Before TensorFlow is imported: Keras 2, as TFX trains with.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf
from tfx.components.infra_validator import executor as iv_executor
from tfx.components.infra_validator import request_builder
from tfx.proto import infra_validator_pb2
from tfx.utils import io_utils

from pipelines import make_dataset
from pipelines import trainer_module
from tests import models
from tfx_warmup import serving
from tfx_warmup import library
from tfx_warmup.component import artifacts
from tfx_warmup.measure import cold_start as measure
from tfx_warmup.requests import signatures
from tfx_warmup.serving import warmup_file
from tfx_warmup.requests import build as warmup_requests
from tfx_warmup.options import WarmupOptions

NUM_EXAMPLES = 64
POWERS_OF_TWO = [1, 2, 4, 8, 16, 32, 64, 128]
# Label -> ModelWarmer parameters; 'ours' is the defaults.
OURS = {'ours': {}}
SWEEP = {
    'batch 1, 4/comb': dict(batch_sizes=[1], requests_per_combination=4),
    'powers of 2, 1/comb': dict(batch_sizes=POWERS_OF_TWO, requests_per_combination=1),
    'powers of 2, 4/comb': dict(batch_sizes=POWERS_OF_TWO, requests_per_combination=4),
    'every size, 1/comb': dict(batch_sizes=list(range(1, 129)), requests_per_combination=1),
    'every size, 4/comb': dict(batch_sizes=list(range(1, 129)), requests_per_combination=4),
}


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


def with_unread_features(examples: Sequence[tf.train.Example]) -> List[tf.train.Example]:
  """Copies carrying what real logs add and no model reads: an e-mail and a raw text field."""
  rng = random.Random(0)
  out = []
  for i, example in enumerate(examples):
    copy = tf.train.Example()
    copy.CopyFrom(example)
    feature = copy.features.feature
    feature['user_email'].bytes_list.value.append(f'user{i}@example.com'.encode())
    feature['session_log'].bytes_list.value.append(' '.join(
        rng.choice(('search', 'click', 'scroll', 'view', 'cart')) for _ in range(24)).encode())
    out.append(copy)
  return out


def prepare_models(root: str, unread_features: bool = False) -> Dict[str, Dict]:
  """Each model with its warmup examples and (separate) live-traffic examples.

  `unread_features`: every example also carries `with_unread_features`' fields.
  """
  demo_examples = csv_examples(make_dataset.make_rows())
  setups = {
      'demo': (lambda d: build_demo_model(d, demo_examples[:2000]),
               demo_examples[2000:2600], demo_examples[2600:]),
      'tf1_estimator_style': (lambda d: models.build_tf1_model(os.path.join(d, 'Format-Serving')),
                              models.make_examples(600, seed=1), models.make_examples(400, seed=2)),
      'keras_raw': (lambda d: models.build_keras_model(os.path.join(d, 'Format-Serving')),
                    models.make_examples(600, seed=3), models.make_examples(400, seed=4)),
  }
  prepared = {}
  for name, (build, warmup_set, traffic_set) in setups.items():
    warmup_examples, traffic_examples = (
        (with_unread_features(warmup_set), with_unread_features(traffic_set))
        if unread_features else (warmup_set, traffic_set))
    model_root = os.path.join(root, name, 'model')
    os.makedirs(model_root)
    build(model_root)
    artifact = models.write_examples_artifact(
        os.path.join(root, name, 'examples'),
        {'eval': [e.SerializeToString() for e in warmup_examples]})
    prepared[name] = dict(model_root=model_root, examples=artifact,
                          traffic=[e.SerializeToString() for e in traffic_examples])
  return prepared


def copy_without_warmup(setup: Dict, target: str) -> str:
  shutil.copytree(os.path.join(setup['model_root'], 'Format-Serving'), target)
  return target


def copy_with_infra_validator_warmup(name: str, setup: Dict, target: str) -> str:
  """InfraValidator's own request builder and record conversion, as make_warmup runs them."""
  copy_without_warmup(setup, target)
  requests = request_builder.build_requests(
      model_name=name, model=models.model_artifact(setup['model_root']),
      examples=setup['examples'],
      request_spec=infra_validator_pb2.RequestSpec(
          tensorflow_serving=infra_validator_pb2.TensorFlowServingRequestSpec(),
          num_examples=NUM_EXAMPLES))
  io_utils.write_tfrecord_file(warmup_file.warmup_file_path(target),
                               *[iv_executor._convert_to_prediction_log(r)  # noqa: SLF001  (InfraValidator's own conversion)
                                 for r in requests])
  return target


def copy_with_our_warmup(name: str, setup: Dict, target: str, **params) -> str:
  model_dir = library.resolve_model(setup['model_root']).saved_model_dir
  library.warm_model(model_dir, artifacts.examples_source(setup['examples']), target,
                     WarmupOptions(num_examples=NUM_EXAMPLES, model_name=name, measure=False,
                                   **params))
  return target


def write_traffic(path: str, model_dir: str, traffic: List[bytes], batch_sizes: Sequence[int],
                  count: int, seed: int = 0) -> None:
  """`count` live requests: each a random combination on a random slice of `traffic`."""
  combinations = warmup_requests.plan_combinations(
      signatures.plan_signatures(serving.read_meta_graph(model_dir, ['serve']),
                                 model_dir).usable, batch_sizes)
  rng = random.Random(seed)
  records = []
  for _ in range(count):
    combination = rng.choice(combinations)
    start = rng.randrange(len(traffic))
    examples = (traffic[start:] + traffic[:start])[:combination.batch_size]
    records += warmup_requests.build_warmup_records(examples, [combination],
                                                    requests_per_combination=1)
  warmup_file.write_warmup_file(path, records)


def time_case(model_dir: str, traffic_path: str) -> Dict:
  timing = measure.time_in_fresh_process(model_dir, traffic_path, replay_warmup=True, rounds=1)
  latencies = timing.latencies_ms[0]
  half = len(latencies) // 2
  return dict(records=timing.replay_records, replay_s=timing.replay_seconds,
              first_ms=latencies[0], max_first_half_ms=max(latencies[:half]),
              max_second_half_ms=max(latencies[half:]), median_ms=statistics.median(latencies),
              ratio=max(latencies[:half]) / max(latencies[half:]), latencies=latencies)


def time_cases_interleaved(cases: Dict[str, str], traffic_path: str,
                           repeats: int) -> Dict[str, Dict]:
  """Each case `repeats` times, round-robin; per case the median of each statistic.

  Round-robin, not case after case: on a shared machine a busy spell then lands
  on every case, not on one. Also the ratio's min and max over the runs, and the
  latencies of the first run (for the plot).
  """
  runs = {case: [] for case in cases}
  for _ in range(repeats):
    for case, model_dir in cases.items():
      runs[case].append(time_case(model_dir, traffic_path))
  merged = {}
  for case, timed in runs.items():
    medians = {k: statistics.median(r[k] for r in timed) for k in timed[0] if k != 'latencies'}
    ratios = [r['ratio'] for r in timed]
    merged[case] = dict(medians, ratio_min=min(ratios), ratio_max=max(ratios),
                        latencies=timed[0]['latencies'], repeats=repeats)
  return merged


def load_average() -> str:
  """The machine's load, for the report: these figures are only as quiet as the machine."""
  one, five, _ = os.getloadavg()
  return f'load average {one:.2f} (1 min) / {five:.2f} (5 min) on {os.cpu_count()} cores'


def run(out_dir: str, count: int, traffic_batch_sizes: Sequence[int], sweep: bool,
        repeats: int = 3) -> List[Dict]:
  rows = []
  load_before = load_average()
  with tempfile.TemporaryDirectory() as root:
    for name, setup in prepare_models(root).items():
      base = os.path.join(root, name)
      cases = {'none': copy_without_warmup(setup, os.path.join(base, 'none')),
               'infra_validator': copy_with_infra_validator_warmup(
                   name, setup, os.path.join(base, 'infra_validator'))}
      for i, (label, params) in enumerate({**OURS, **(SWEEP if sweep else {})}.items()):
        cases[label] = copy_with_our_warmup(name, setup, os.path.join(base, f'ours{i}'),
                                            **params)
      traffic_path = os.path.join(base, 'traffic')
      write_traffic(traffic_path, cases['none'], setup['traffic'], traffic_batch_sizes, count)
      for case, timed in time_cases_interleaved(cases, traffic_path, repeats).items():
        rows.append(dict(model=name, case=case, **timed))
        print(f'{name:20s} {case:22s} ratio {rows[-1]["ratio"]:6.2f}', file=sys.stderr)
  report = format_report(rows, count, traffic_batch_sizes, repeats,
                         (load_before, load_average()))
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'cold_start.md'), 'w') as f:
    f.write(report + '\n')
  plot(rows, os.path.join(out_dir, 'cold_start.png'))
  print(report)
  return rows


def format_report(rows: List[Dict], count: int, batch_sizes: Sequence[int],
                  repeats: int, load: Sequence[str]) -> str:
  """The tables; `load` is the machine's load average before and after the run."""
  sizes = (f'{min(batch_sizes)}..{max(batch_sizes)}' if list(batch_sizes) == list(
      range(min(batch_sizes), max(batch_sizes) + 1)) else str(list(batch_sizes)))
  head = ('| model | warmup | records | replay s | first request ms | max ms, 1st half | '
          'max ms, 2nd half | median ms | cold-start ratio | ratio min-max |\n'
          '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  def table(selected):
    return '\n'.join([head] + [
        f"| {r['model']} | {r['case']} | {r['records']:.0f} | {r['replay_s']:.2f} | "
        f"{r['first_ms']:.1f} | {r['max_first_half_ms']:.1f} | {r['max_second_half_ms']:.1f} | "
        f"{r['median_ms']:.2f} | {r['ratio']:.2f} | {r['ratio_min']:.2f}-{r['ratio_max']:.2f} |"
        for r in selected])
  main_cases = ('none', 'infra_validator', *OURS)
  text = (f'Live traffic: {count} requests, every signature (and MultiInference) at batch '
          f'sizes {sizes}, from examples no warmup saw; warmup sample {NUM_EXAMPLES} '
          f'examples. TensorFlow\'s C++ loads and runs each model (serving.native), as TF '
          f'Serving does. Each value is the median of {repeats} runs in fresh processes, the '
          f'cases interleaved. Machine: {load[0]} before, {load[1]} after.\n\n'
          + table([r for r in rows if r['case'] in main_cases]))
  swept = [r for r in rows if r['case'] in SWEEP]
  if swept:
    text += '\n\nModelWarmer trade-off (batch sizes warmed x requests per combination):\n\n'
    text += table(swept)
  return text


def plot(rows: List[Dict], path: str) -> None:
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  model_names = list(dict.fromkeys(r['model'] for r in rows))
  fig, axes = plt.subplots(1, len(model_names), figsize=(5 * len(model_names), 4),
                           squeeze=False)
  for ax, name in zip(axes[0], model_names):
    for r in rows:
      if r['model'] == name and r['case'] in ('none', 'infra_validator', *OURS):
        ax.plot(r['latencies'][:200], label=r['case'], linewidth=1)
    ax.set_yscale('log')
    ax.set_title(name)
    ax.set_xlabel('live request #')
    ax.set_ylabel('latency (ms, log)')
    ax.legend()
  fig.suptitle('First 200 live requests after load')
  fig.tight_layout()
  fig.savefig(path, dpi=100)


def _batch_sizes(text: str) -> List[int]:
  if '-' in text:
    low, high = text.split('-')
    return list(range(int(low), int(high) + 1))
  return [int(b) for b in text.split(',')]


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--requests', type=int, default=2000,
                      help='live requests per case (the ratio compares the two halves)')
  parser.add_argument('--traffic-batch-sizes', type=_batch_sizes, default='1-128',
                      help="batch sizes of the live traffic: 'LOW-HIGH' or a list '1,8,32'")
  parser.add_argument('--sweep', action='store_true',
                      help='also run ModelWarmer with other batch sizes / requests per combination')
  parser.add_argument('--repeats', type=int, default=3,
                      help='fresh-process runs per case; tables show medians')
  parser.add_argument('--out', default=os.path.join('benchmarks', 'results'))
  args = parser.parse_args(argv)
  run(args.out, args.requests, args.traffic_batch_sizes, args.sweep, args.repeats)
  return 0


if __name__ == '__main__':
  sys.exit(main())
