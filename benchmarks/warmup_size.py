"""Warmup size against the swap: replay time and cold start per requests_per_combination.

  python -m benchmarks.warmup_size [--repeats 3] [--rounds 5] [--out DIR]

TF Serving replays a version's warmup file while it loads that version, during
the swap, so every second of replay stretches the window in which the serving
version slows down. ModelWarmer's `requests_per_combination` (records per
signature x batch size x fetch set) drives the file's size. This benchmark
measures what each value costs at load and what it buys after, to choose the
default: replay at most 1.1x that of one record per combination, with the
first-request latency unchanged.

Models: the demo click model and the TF1-builder model of
benchmarks/cold_start.py (`prepare_models`), and TFX's taxi Estimator
(<tfx>/components/testdata/trainer/current, examples from
<tfx>/components/testdata/csv_example_gen). For each model and each value in
VALUES, `library.warm_model` (what ModelWarmer runs; defaults otherwise, no
measurement) writes a warmed copy. The live traffic is one record per (kind,
signature, batch size) of the largest value's file, the same for every value of
the model. Each copy is loaded in a fresh process by TensorFlow's C++ (TF
Serving's path), replays its warmup file, then sends the traffic --rounds
times (`tfx_warmup.measure.cold_start.time_in_fresh_process`); one more process
per model loads without replaying: the cold start warmup removes. Every timing
runs --repeats times, the values interleaved (1, 2, 4, 1, 2, 4, ...) so that a
noisy spell on the machine hits all of them; the table shows medians and the
min-max spread.

Columns: records in the file; replay seconds at load; replay ratio = median
replay / the median of requests_per_combination=1; max first-request ms = the
worst latency of the first round (the one a client meets right after the
swap); steady p50 = median latency over rounds 2.. of every request.
Prints a markdown table and writes warmup_size.md to --out.
"""

import argparse
import os
import statistics
import sys
import tempfile
from typing import Dict, List, Optional, Sequence

from tfx_warmup import compat  # Imports no TensorFlow.

compat.prefer_legacy_keras()  # Before TensorFlow is imported: Keras 2, as TFX trains with.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tfx

from benchmarks import cold_start
from tfx_warmup import library
from tfx_warmup import serving
from tfx_warmup.component import artifacts
from tfx_warmup.measure import cold_start as measure
from tfx_warmup.options import WarmupOptions
from tfx_warmup.serving import records as records_lib

VALUES = (1, 2, 4)
BASELINE = 1  # The value replay is compared against.
CURRENT_DEFAULT = 4
MAX_REPLAY_RATIO = 1.1
DEMO_MODELS = ('demo', 'tf1_estimator_style')  # Of cold_start.prepare_models.
TAXI = 'taxi_estimator'


def taxi_paths() -> Dict[str, str]:
  """TFX's own trained taxi Estimator and the CsvExampleGen output it was trained on."""
  testdata = os.path.join(os.path.dirname(tfx.__file__), 'components', 'testdata')
  return dict(model=os.path.join(testdata, 'trainer', 'current'),
              examples=os.path.join(testdata, 'csv_example_gen'))


def prepare(root: str) -> Dict[str, Dict]:
  """Per model: the SavedModel directory and the ExamplesSource its warmup samples."""
  prepared = {}
  for name, setup in cold_start.prepare_models(root).items():
    if name in DEMO_MODELS:
      prepared[name] = dict(
          model_dir=library.resolve_model(setup['model_root']).saved_model_dir,
          examples=artifacts.examples_source(setup['examples']))
  taxi = taxi_paths()
  prepared[TAXI] = dict(model_dir=library.resolve_model(taxi['model']).saved_model_dir,
                        examples=library.resolve_examples(taxi['examples']))
  return prepared


def warm_copies(name: str, setup: Dict, base: str) -> Dict[int, Dict]:
  """Per value: the warmed copy ModelWarmer writes and its record count."""
  copies = {}
  for value in VALUES:
    target = os.path.join(base, f'rpc{value}')
    report = library.warm_model(
        setup['model_dir'], setup['examples'], target,
        WarmupOptions(requests_per_combination=value, measure=False, model_name=name))
    copies[value] = dict(model_dir=target, records=report.warmup_file.records)
  return copies


def write_traffic(warmed_model_dir: str, path: str) -> int:
  """The first record per (kind, signature, batch size) of the warmup file, as live traffic."""
  first = {}
  for record in serving.read_warmup_file(serving.warmup_file_path(warmed_model_dir)):
    key = records_lib.record_key(record)
    first.setdefault((key.api, key.signature, key.batch_size), record)
  serving.write_warmup_file(path, list(first.values()))
  return len(first)


def summarize(timings: Sequence[measure.Timing]) -> Dict:
  """Medians and spreads of replay seconds and max first-request ms; pooled steady p50."""
  replay = [t.replay_seconds for t in timings]
  first = [max(t.latencies_ms[0]) for t in timings]
  steady = [ms for t in timings for row in t.latencies_ms[1:] for ms in row]
  return dict(replay_s=statistics.median(replay), replay_min=min(replay),
              replay_max=max(replay), first_ms=statistics.median(first),
              first_min=min(first), first_max=max(first),
              steady_p50_ms=statistics.median(steady) if steady else float('nan'),
              runs=len(timings))


def time_model(copies: Dict[int, Dict], traffic_path: str, repeats: int,
               rounds: int) -> Dict[Optional[int], Dict]:
  """Timings per value (None = no warmup replayed), the values interleaved across repeats."""
  timings: Dict[Optional[int], List[measure.Timing]] = {value: [] for value in VALUES}
  timings[None] = [measure.time_in_fresh_process(copies[BASELINE]['model_dir'], traffic_path,
                                                 replay_warmup=False, rounds=rounds)]
  for _ in range(repeats):
    for value in VALUES:
      timings[value].append(measure.time_in_fresh_process(
          copies[value]['model_dir'], traffic_path, replay_warmup=True, rounds=rounds))
  return {value: summarize(runs) for value, runs in timings.items()}


def run(out_dir: str, repeats: int, rounds: int) -> List[Dict]:
  rows = []
  with tempfile.TemporaryDirectory() as root:
    for name, setup in prepare(os.path.join(root, 'models')).items():
      base = os.path.join(root, 'copies', name)
      copies = warm_copies(name, setup, base)
      traffic_path = os.path.join(base, 'traffic')
      requests = write_traffic(copies[max(VALUES)]['model_dir'], traffic_path)
      stats = time_model(copies, traffic_path, repeats, rounds)
      for value in (None, *VALUES):
        rows.append(dict(model=name, value=value, requests=requests,
                         records=copies[value]['records'] if value else 0, **stats[value]))
        if value:
          rows[-1]['replay_ratio'] = stats[value]['replay_s'] / stats[BASELINE]['replay_s']
        print(f"{name:20s} rpc {value or '-'}  records {rows[-1]['records']:4d}  replay "
              f"{rows[-1]['replay_s']:.3f} s  max first {rows[-1]['first_ms']:.1f} ms",
              file=sys.stderr)
  report = format_report(rows, repeats, rounds)
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'warmup_size.md'), 'w') as f:
    f.write(report + '\n')
  print(report)
  return rows


def _spread(low: float, high: float, digits: int) -> str:
  return f'{low:.{digits}f}-{high:.{digits}f}'


def verdict(rows: List[Dict]) -> str:
  """Which values keep replay within MAX_REPLAY_RATIO and the cold start within noise.

  The cold start counts as unchanged when the value's min-max spread of max
  first-request ms overlaps that of the current default's runs (or lies below
  it): the difference is then within run-to-run noise.
  """
  by_key = {(r['model'], r['value']): r for r in rows}
  models = list(dict.fromkeys(r['model'] for r in rows))
  lines = []
  passing = []
  for value in VALUES:
    worst_ratio = max(by_key[(m, value)]['replay_ratio'] for m in models)
    colder = [m for m in models
              if by_key[(m, value)]['first_min'] > by_key[(m, CURRENT_DEFAULT)]['first_max']]
    left = max(by_key[(m, value)]['first_ms'] / by_key[(m, None)]['first_ms'] for m in models)
    ok = worst_ratio <= MAX_REPLAY_RATIO and not colder
    if ok:
      passing.append(value)
    lines.append(
        f'requests_per_combination={value}: replay up to {worst_ratio:.2f}x that of '
        f'{BASELINE} per combination; max first request '
        + (f'above the spread of {CURRENT_DEFAULT} per combination on {", ".join(colder)}'
           if colder else f'within the spread of {CURRENT_DEFAULT} per combination')
        + f', at most {left:.1%} of the cold start without warmup'
        + (' -> meets the bar.' if ok else ' -> misses the bar.'))
  choice = (f'The largest value meeting the bar on every model: {max(passing)}.' if passing
            else 'No value meets the bar on every model.')
  return '\n'.join(f'- {line}' for line in lines) + '\n\n' + choice


def format_report(rows: List[Dict], repeats: int, rounds: int) -> str:
  head = ('| model | requests_per_combination | records | replay s (median) | replay s spread '
          f'| replay ratio vs {BASELINE} | max first-request ms (median) | max first-request '
          'ms spread | steady p50 ms |\n'
          '|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  lines = [head]
  for r in rows:
    if r['value'] is None:
      lines.append(f"| {r['model']} | none (no replay) | 0 | - | - | - | {r['first_ms']:.1f} | "
                   f"1 run | {r['steady_p50_ms']:.2f} |")
    else:
      lines.append(
          f"| {r['model']} | {r['value']} | {r['records']} | {r['replay_s']:.3f} | "
          f"{_spread(r['replay_min'], r['replay_max'], 3)} | {r['replay_ratio']:.2f} | "
          f"{r['first_ms']:.1f} | {_spread(r['first_min'], r['first_max'], 1)} | "
          f"{r['steady_p50_ms']:.2f} |")
  requests = {r['model']: r['requests'] for r in rows}
  return (
      'Warmup replay at load (the swap window) and the first-request latency it buys, per '
      "ModelWarmer requests_per_combination; other parameters at their defaults. Live traffic: "
      'one request per (kind, signature, batch size) of the largest file ('
      + ', '.join(f'{m}: {n}' for m, n in requests.items())
      + f'), sent {rounds} rounds after each load in a fresh process (TensorFlow C++ load '
      f'and Session::Run, as TF Serving). Medians of {repeats} fresh-process runs per value, '
      f'the values interleaved; spread = min-max over those runs. "none" loads without '
      'replaying (one run): the cold start warmup removes. Steady p50 pools rounds 2.. of '
      'every run.\n\n'
      + '\n'.join(lines)
      + f'\n\nBar: replay <= {MAX_REPLAY_RATIO}x that of {BASELINE} per combination, max '
      f'first-request ms unchanged (its min-max spread overlapping that of today\'s default, '
      f'{CURRENT_DEFAULT}, or below it: a difference within run-to-run noise).\n\n' + verdict(rows)
      + f'\n\nProduced by: `python -m benchmarks.warmup_size --repeats {repeats} '
      f'--rounds {rounds}`')


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--repeats', type=int, default=3,
                      help='fresh-process runs per value; the table shows medians and spreads')
  parser.add_argument('--rounds', type=int, default=5,
                      help='rounds of the live traffic per run (the first is the cold one)')
  parser.add_argument('--out', default=os.path.join('benchmarks', 'results'))
  args = parser.parse_args(argv)
  run(args.out, args.repeats, args.rounds)
  return 0


if __name__ == '__main__':
  sys.exit(main())
