"""The version swap: the serving version's p99 while the next version loads and warms.

  python -m benchmarks.swap [--repetitions 3] [--runs 1] [--out DIR] [--models demo,taxi,big]

TF Serving loads and warms version N+1 while version N serves. With its
defaults, the restore, the init and the warmup replay run on the inter-op pool
the serving version's requests use, so the serving version's tail jumps for
the length of the swap. This benchmark measures that jump, and what the
candidate server configs (`tfx_warmup.swap.cases`) do to it, for three models:
  demo   the demo click model (benchmarks/cold_start.py), a small Keras model;
  taxi   TFX's own taxi Estimator (tfx/components/testdata/trainer/current);
  big    benchmarks/big_model.py: a 1 GiB embedding table, so the restore
         dominates the load.
Each model gets a warmed copy (`library.warm_model`, ModelWarmer's defaults),
then the swap copy -> copy (version N to N+1) is measured by
`library.swap.measure_swap`: open-loop traffic at a quarter of the old version's
capacity, every case `--repetitions` times in fresh processes, interleaved.
The live traffic is one request per signature and batch size of the warmup
file, built from examples the warmup did not see (held back), falling back to
the warmup file's own first record of each key if those do not cover it.
A model whose swap measurement fails (a SwapError: most often a rate the old
version did not sustain while another process held the cores) is measured once
more from a fresh calibration; the report says so.
With `--runs N` each model's whole measurement (calibration, every case, the
verdict) is made N times, one after the other: the issue asks that two runs on
the same quiet machine give the same verdict, and the report says whether they
did. The tables show the first run; the verdicts line every run.
Prints markdown and writes swap.md and swap_<model>.png to --out.
"""

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

from tfx_warmup import compat  # Imports no TensorFlow.

compat.prefer_legacy_keras()  # Before TensorFlow is imported: Keras 2, as TFX trains with.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf
import tfx
from tensorflow_serving.apis import prediction_log_pb2

from benchmarks import big_model
from benchmarks import cold_start
from pipelines import make_dataset
from tfx_warmup import library
from tfx_warmup import serving
from tfx_warmup.errors import SwapError
from tfx_warmup.errors import WarmupError
from tfx_warmup.library import swap as swap_lib
from tfx_warmup.options import WarmupOptions
from tfx_warmup.report.model import SwapSection
from tfx_warmup.requests import build as warmup_requests
from tfx_warmup.requests import signatures
from tfx_warmup.serving import records as records_lib

MODELS = ('demo', 'taxi', 'big')
NUM_LIVE_EXAMPLES = 256  # held-back examples the live requests are built from
# Attempts at each model's swap measurement: a SwapError (e.g. a rate the old version did not
# sustain because another process took the cores) gets a fresh calibration and one retry.
ATTEMPTS = 2
_TFX_DIR = os.path.dirname(tfx.__file__)
TAXI_MODEL = os.path.join(_TFX_DIR, 'components', 'testdata', 'trainer', 'current')
TAXI_EXAMPLES = os.path.join(_TFX_DIR, 'components', 'testdata', 'csv_example_gen')


def write_examples(path: str, examples: Sequence[tf.train.Example]) -> str:
  """An uncompressed TFRecord file of `examples`; its path."""
  with tf.io.TFRecordWriter(path) as writer:
    for example in examples:
      writer.write(example.SerializeToString())
  return path


def read_examples(pattern: str, count: int) -> List[bytes]:
  """The first `count` serialized examples of the GZIP TFRecord files matching `pattern`."""
  files = sorted(tf.io.gfile.glob(pattern))
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP').take(count)
  return [r.numpy() for r in dataset]


def prepare_demo(root: str) -> Tuple[str, str, List[bytes]]:
  """The demo model, its warmup examples file and held-back live examples."""
  examples = cold_start.csv_examples(make_dataset.make_rows())
  model_root = os.path.join(root, 'model')
  os.makedirs(model_root)
  cold_start.build_demo_model(model_root, examples[:2000])
  model_dir = library.resolve_model(model_root).saved_model_dir
  path = write_examples(os.path.join(root, 'warmup.tfrecord'), examples[2000:2600])
  return model_dir, path, [e.SerializeToString() for e in examples[2600:]]


def prepare_taxi(root: str) -> Tuple[str, str, List[bytes]]:
  """TFX's taxi Estimator: warmed from its eval split, live traffic from its train split."""
  del root  # Nothing to build.
  model_dir = library.resolve_model(TAXI_MODEL).saved_model_dir
  live = read_examples(os.path.join(TAXI_EXAMPLES, 'Split-train', '*.gz'), NUM_LIVE_EXAMPLES)
  return model_dir, os.path.join(TAXI_EXAMPLES, 'Split-eval'), live


def prepare_big(root: str) -> Tuple[str, str, List[bytes]]:
  """benchmarks/big_model.py's model (1 GiB of variables) and its examples."""
  model_dir = big_model.build_big_model(os.path.join(root, 'model'))
  path = write_examples(os.path.join(root, 'warmup.tfrecord'),
                        big_model.make_examples(600, seed=1))
  return model_dir, path, [e.SerializeToString()
                           for e in big_model.make_examples(NUM_LIVE_EXAMPLES, seed=2)]


PREPARE = {'demo': prepare_demo, 'taxi': prepare_taxi, 'big': prepare_big}


def live_traffic(model_dir: str, held_back: Sequence[bytes]
                 ) -> Tuple[List[prediction_log_pb2.PredictionLog], str]:
  """One request per key (kind, signature, batch size) of `model_dir`'s warmup file.

  Built from `held_back` examples when they cover every key; else the warmup
  file's first record of each key. Returns the records and where they came from.
  """
  warmup = serving.read_warmup_file(serving.warmup_file_path(model_dir))
  firsts: Dict[records_lib.RecordKey, prediction_log_pb2.PredictionLog] = {}
  for record in warmup:
    firsts.setdefault(records_lib.record_key(record), record)
  plans = signatures.plan_signatures(serving.read_meta_graph(model_dir, ['serve']),
                                     model_dir).usable
  batch_sizes = sorted({key.batch_size for key in firsts})
  built: Dict[records_lib.RecordKey, prediction_log_pb2.PredictionLog] = {}
  for combination in warmup_requests.plan_combinations(plans, batch_sizes):
    try:
      records = warmup_requests.build_warmup_records(held_back, [combination],
                                                     requests_per_combination=1)
    except WarmupError:  # A signature these examples cannot feed: the warmup skipped it too.
      continue
    for record in records:
      key = records_lib.record_key(record)
      if key in firsts:
        built.setdefault(key, record)
  if set(built) == set(firsts):
    return [built[key] for key in firsts], f'{len(held_back)} held-back examples'
  return list(firsts.values()), 'the warmup file (first record of each key)'


def run_model(name: str, root: str, repetitions: int, out_dir: str, runs: int = 1) -> Dict:
  """Builds, warms and swaps one model `runs` times; a row for the report."""
  start = time.perf_counter()
  base = os.path.join(root, name)
  os.makedirs(base)
  model_dir, examples_path, held_back = PREPARE[name](base)
  warmed = os.path.join(base, 'warmed')
  library.warm_model(model_dir, library.resolve_examples(examples_path), warmed,
                     WarmupOptions(measure=False))
  live, live_source = live_traffic(warmed, held_back)
  print(f'{name}: warmed copy ready ({time.perf_counter() - start:.0f} s); '
        f'{len(live)} live requests from {live_source}', file=sys.stderr)
  row = dict(model=name, live=len(live), live_source=live_source, retried=[], sections=[],
             warmup_records=len(serving.read_warmup_file(serving.warmup_file_path(warmed))),
             variables_bytes=big_model.variables_bytes(warmed))
  try:
    for run_index in range(runs):
      for attempt in range(ATTEMPTS):
        swap_start = time.perf_counter()
        try:
          row['sections'].append(swap_lib.measure_swap(
              warmed, warmed, live, repetitions=repetitions,
              plot_path=os.path.join(out_dir, f'swap_{name}.png') if run_index == 0 else None))
          break
        except SwapError as e:  # Most often another process took the cores for a while.
          if attempt + 1 == ATTEMPTS:
            raise
          row['retried'].append(str(e))
          print(f'{name}: attempt {attempt + 1} failed, retrying: {e}', file=sys.stderr)
      row.setdefault('swap_seconds', time.perf_counter() - swap_start)
      print(f'{name}: run {run_index + 1} verdict {row["sections"][-1].verdict} '
            f'({row["sections"][-1].recommended})', file=sys.stderr)
  finally:
    shutil.rmtree(base, ignore_errors=True)  # The big model's copies are 2 GiB.
  row['section'] = row['sections'][0]
  print(f'{name}: swap measured in {row["swap_seconds"]:.0f} s', file=sys.stderr)
  return row


def run(out_dir: str, repetitions: int, model_names: Sequence[str], runs: int = 1
        ) -> List[Dict]:
  os.makedirs(out_dir, exist_ok=True)
  start = time.perf_counter()
  rows = []
  with tempfile.TemporaryDirectory() as root:
    for name in model_names:
      try:
        rows.append(run_model(name, root, repetitions, out_dir, runs))
      except WarmupError as e:  # A SwapError names its cause: report it, go on.
        print(f'{name}: FAILED: {e}', file=sys.stderr)
        rows.append(dict(model=name, error=f'{type(e).__name__}: {e}'))
      # Written after each model: a long run stopped early keeps what it measured.
      report = format_report(rows, repetitions, model_names, time.perf_counter() - start,
                             runs)
      with open(os.path.join(out_dir, 'swap.md'), 'w') as f:
        f.write(report + '\n')
  print(report)
  return rows


def verdicts_line(sections: Sequence[SwapSection]) -> str:
  """Each run's verdict, and whether they agree."""
  said = [f'{s.verdict}' + (f" ('{s.recommended}')" if s.recommended else '')
          for s in sections]
  if len(said) < 2:
    return f'Verdict: {said[0]}.'
  same = len(set(said)) == 1
  return (f"Verdicts of {len(said)} runs: {'; '.join(said)}: "
          f"{'the same' if same else 'NOT the same'}.")


def _cpu_model() -> str:
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or 'unknown CPU'


def _ms(value: Optional[float]) -> str:
  return '-' if value is None else f'{value:.2f}'


def _mib(value: Optional[float]) -> str:
  return '-' if value is None else f'{value:,.0f}'


def goal_line(section: SwapSection) -> str:
  """The issue's goal: the recommended setting at <= 0.8x the defaults' window p99, with a
  shorter window; or, with no recommendation, the verdict and why."""
  by_name = {c.name: c for c in section.cases}
  defaults = next(c for c in section.cases if c.role == 'a')
  if not section.recommended:
    return (f'Goal (recommended p99 <= 0.8x the defaults\', shorter window): no recommendation '
            f'(verdict {section.verdict}).')
  best = by_name[section.recommended]
  ratio = best.window_p99_ms / defaults.window_p99_ms
  shorter = best.window_seconds < defaults.window_seconds
  met = ratio <= 0.8 and shorter
  return (f"Goal (recommended p99 <= 0.8x the defaults', shorter window): "
          f"'{best.name}' at {ratio:.2f}x, window {best.window_seconds:.2f} s vs "
          f"{defaults.window_seconds:.2f} s: {'met' if met else 'NOT met'}.")


def format_section(section: SwapSection) -> str:
  """The section's traffic lines, one row per case (by rank), then its verdict."""
  lines = [
      f'- rate: {section.qps:g} QPS open loop from {section.clients} clients '
      f'({section.qps_source})',
      f'- deadline: {section.deadline_ms:g} ms ({section.deadline_source})',
      f'- capacity: {section.capacity_qps:g} QPS closed loop (the old version alone, '
      "TF Serving's defaults); calibration steady p99 runs "
      f'{section.calibration_p99_ms_runs} ms, spread {section.calibration_spread}x',
      f'- verdict: {section.verdict}; {section.processes} fresh processes', '',
      '| rank | case | group | steady p99 ms | p99 during load+warmup ms (median) | runs | '
      'window s | late | first-seconds p99 ms | peak RSS MiB (runs) | new version MiB |',
      '|---:|---|---|---:|---:|---|---:|---:|---:|---|---:|']
  for case in sorted(section.cases, key=lambda c: c.rank or 0):
    steady = next((p for p in case.phases if p.phase == 'steady'), None)
    runs = ', '.join(_ms(p) for p in case.window_p99_ms_runs)
    memory = case.memory
    peak = (f"{_mib(memory.peak_mib)} ({', '.join(_mib(p) for p in memory.peak_mib_runs)})"
            if memory else '-')
    lines.append(
        f'| {case.rank} | ({case.role}) {case.name} | {case.group or "-"} | '
        f'{_ms(steady.p99_ms if steady else None)} | {_ms(case.window_p99_ms)} | {runs} | '
        f'{case.window_seconds:.2f} | {case.late} | {_ms(case.first_p99_ms)} | {peak} | '
        f'{_mib(memory.new_version_mib) if memory else "-"} |')
  lines += ['', section.recommendation]
  if section.memory:
    lines += ['', section.memory]
  lines += [f'- {note}' for note in section.not_measured]
  lines += ['', goal_line(section)]
  return '\n'.join(lines)


def format_report(rows: List[Dict], repetitions: int, model_names: Sequence[str],
                  seconds: float, runs: int = 1) -> str:
  command = 'python -m benchmarks.swap --repetitions {} --runs {} --models {}'.format(
      repetitions, runs, ','.join(model_names))
  lines = [
      '# Version swap: the serving version\'s p99 while the next version loads and warms', '',
      f'Machine: {os.cpu_count()} cores (nproc), {_cpu_model()}. Command: `{command}` '
      f'({seconds / 60:.0f} min in all).', '',
      'How to read: each swap goes from a warmed copy of the model to the same copy (version '
      'N to N+1), performed as TF Serving performs it (TensorFlow\'s C++ loads and runs), '
      'under open-loop traffic: requests are sent on a fixed schedule whatever the server '
      'does, and each latency runs from the request\'s due time. "p99 during load+warmup" is '
      'the serving (old) version\'s p99 over the requests due while the new version restores, '
      'initialises and replays its warmup file; "steady" is the same version before the swap. '
      f'Every case runs {repetitions} times in fresh processes, interleaved; figures are the '
      'medians (steady p99 from the run with the median window p99), "runs" the spread. '
      '"late" counts requests from the load on answered past the deadline (or failed); '
      '"worst first on new" is the worst latency on the new version in its first seconds. '
      '(a) is TF Serving\'s defaults, (b) the candidates (groups: session thread pools, the '
      'allocator preloaded, thread counts; "combined" joins the winners of two or more '
      'groups), (c) the defaults without a warmup file. Rank is by what the swap costs '
      'clients: late requests, then the window p99. Peak RSS is the measuring process\'s '
      '(VmHWM from the steady phase on): the interpreter, TensorFlow and both versions.']
  for row in rows:
    lines += ['', f"## {row['model']}", '']
    if 'error' in row:
      lines.append(f"Failed: {row['error']}")
      continue
    size = row['variables_bytes']
    lines.append(f"Warmup file: {row['warmup_records']} records; live traffic: {row['live']} "
                 f"requests built from {row['live_source']}; variables "
                 f'{size / 2**20:,.1f} MiB; swap measured in {row["swap_seconds"] / 60:.1f} min. '
                 f"Plot: swap_{row['model']}.png.")
    for failure in row['retried']:
      lines.append(f'(An earlier attempt failed and was retried: {failure})')
    lines += ['', format_section(row['section']), '', verdicts_line(row['sections'])]
  return '\n'.join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--repetitions', type=int, default=3,
                      help='fresh-process swaps per case; the tables show medians')
  parser.add_argument('--runs', type=int, default=1,
                      help="each model's whole measurement this many times: do verdicts agree?")
  parser.add_argument('--models', default=','.join(MODELS),
                      help=f"comma-separated, of {', '.join(MODELS)}")
  parser.add_argument('--out', default=os.path.join('benchmarks', 'results'))
  args = parser.parse_args(argv)
  model_names = [m for m in args.models.split(',') if m]
  unknown = [m for m in model_names if m not in MODELS]
  if unknown:
    parser.error(f'unknown model(s) {unknown}; choose among {list(MODELS)}')
  run(args.out, args.repetitions, model_names, args.runs)
  return 0


if __name__ == '__main__':
  sys.exit(main())
