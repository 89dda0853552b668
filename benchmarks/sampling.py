"""Sampling at scale: each strategy against a bare Beam read + count of the same split.

  python -m benchmarks.sampling [--sizes 1000000,5000000] [--repeats 3] [--data-dir DIR]
                                [--out DIR] [--cases C,...] [--compression gzip,none]
                                [--base CASE] [--report FILE]

Generates (once, deterministically, cached in --data-dir) an Examples split of
gzip TFRecord shards: dense floats, categorical strings, a variable-length
history (1-40 values), a rare coupon feature (0.3%) and a rare long list (0.1%).
Each case runs in a fresh process on the DirectRunner through the component's
own read path (tfx-bsl raw records of an Examples artifact), and reports its
wall time (pipeline only) and peak RSS (its own and its workers'):
  read+count   bare read and Beam's Count.Globally: the floor;
  uniform / coverage / stratified   SampleExamples(num_examples=64), given each split's
               records as the executor does.
Every size runs in-process and with --direct_running_mode=multi_processing
--direct_num_workers=2 (the transforms pickle and merge across worker processes).
Each case runs --repeats times, the cases' order rotating between rounds so that
a noisy spell on the machine hits all of them; the medians are reported.
Prints time ratios (strategy / read+count), RSS and the sampler's counters, and
writes sampling.md to --out.

The guard's cost (`make benchmark-reader`): a `beam-` case (`beam-read+count`,
`beam-uniform`, ...) reads with Beam's own ReadFromTFRecord, which trusts each
record's length; its twin with the component's source, which checks it first
(`data.tfrecord_source`). Run side by side on gzip and uncompressed shards with
`--base beam`, each ratio is what the check costs that case.
"""

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

CASES = ('read+count', 'uniform', 'coverage', 'stratified')
# The same read with Beam's own ReadFromTFRecord, which trusts each record's length.
BEAM_READER = 'beam-'
ALL_CASES = CASES + tuple(BEAM_READER + c for c in CASES)
SUFFIXES = {'gzip': '.gz', 'none': '.tfrecord'}
NUM_EXAMPLES = 64
SHARD_SIZE = 100_000
MULTI_PROCESS_ARGS = ['--direct_running_mode=multi_processing', '--direct_num_workers=2']


def generate(data_dir: str, count: int, compression: str = 'gzip') -> str:
  """Writes `count` examples in shards under data_dir/<count>[-none]/Split-train (cached)."""
  import tensorflow as tf
  root = os.path.join(data_dir, str(count) + ('' if compression == 'gzip' else f'-{compression}'))
  split_dir = os.path.join(root, 'Split-train')
  done = os.path.join(root, 'DONE')
  if os.path.exists(done):
    return root
  os.makedirs(split_dir, exist_ok=True)
  rng = random.Random(count)
  countries = [f'c{i}'.encode() for i in range(40)]
  shards = (count + SHARD_SIZE - 1) // SHARD_SIZE
  feature, example_cls = tf.train.Feature, tf.train.Example
  floats, ints, strings = tf.train.FloatList, tf.train.Int64List, tf.train.BytesList
  for shard in range(shards):
    path = os.path.join(split_dir,
                        f'data_tfrecord-{shard:05d}-of-{shards:05d}{SUFFIXES[compression]}')
    options = tf.io.TFRecordOptions(compression_type='GZIP' if compression == 'gzip' else '')
    with tf.io.TFRecordWriter(path, options) as w:
      for i in range(shard * SHARD_SIZE, min(count, (shard + 1) * SHARD_SIZE)):
        f = {
            'id': feature(int64_list=ints(value=[i])),
            'price': feature(float_list=floats(value=[rng.random() * 100])),
            'embedding': feature(float_list=floats(value=[rng.random() for _ in range(8)])),
            'country': feature(bytes_list=strings(value=[rng.choice(countries)])),
            'history': feature(int64_list=ints(
                value=[rng.randrange(1000)
                       for _ in range(min(40, int(rng.expovariate(0.2)) + 1))])),
            'label': feature(int64_list=ints(value=[int(rng.random() < 0.03)])),
        }
        if rng.random() < 0.003:
          f['coupon'] = feature(bytes_list=strings(value=[b'SPRING']))
        if rng.random() < 0.001:
          f['tokens'] = feature(int64_list=ints(value=list(range(rng.randrange(50, 200)))))
        w.write(example_cls(features=tf.train.Features(feature=f)).SerializeToString())
  with open(done, 'w') as f:
    f.write(str(count))
  return root


def child(case: str, root: str, beam_args: List[str]) -> Dict:
  """One measurement, in this (fresh) process."""
  import apache_beam as beam
  from apache_beam.metrics.metric import MetricsFilter
  from apache_beam.options.pipeline_options import PipelineOptions
  from tfx_warmup.data import examples as examples_io
  from tfx_warmup.data import sample

  examples = examples_io.ExamplesSource(root, {'train': os.path.join(root, 'Split-train', '*')})
  out = os.path.join(root, f'result-{case}-{os.getpid()}.json')
  start = time.perf_counter()
  p = beam.Pipeline(options=PipelineOptions(beam_args))
  strategy = case[len(BEAM_READER):] if case.startswith(BEAM_READER) else case
  if case.startswith(BEAM_READER):  # Beam's reader, which trusts each record's length.
    records = p | beam.io.ReadFromTFRecord(examples.patterns['train'], validate=False)
  else:
    records = examples_io.read_splits(p, examples, ['train'])['train']
  if strategy == 'read+count':
    result = records | beam.combiners.Count.Globally()
  else:
    result = ({'train': records} | sample.SampleExamples(
        NUM_EXAMPLES, 0, strategy, 'label' if strategy == 'stratified' else None)
              | beam.Map(len))
  _ = result | beam.Map(lambda n, path: open(path, 'w').write(json.dumps(n)), out)
  run = p.run()
  run.wait_until_finish()
  seconds = time.perf_counter() - start
  counters = run.metrics().query(MetricsFilter().with_namespace(sample.METRICS_NAMESPACE))
  with open(out) as f:
    output = json.load(f)
  os.remove(out)
  rss_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
  return {'case': case, 'seconds': seconds, 'peak_rss_mb': rss_kb / 1024, 'output': output,
          'counters': {c.key.metric.name: c.committed for c in counters['counters']}}


def run_case(case: str, root: str, beam_args: List[str]) -> Dict:
  command = [sys.executable, '-m', 'benchmarks.sampling', '--child', case, '--root', root]
  command += [f'--beam-arg={a}' for a in beam_args]
  proc = subprocess.run(command, capture_output=True, text=True, check=False)
  if proc.returncode != 0:
    raise RuntimeError(f'{case} failed:\n{proc.stderr[-3000:]}')
  return json.loads(proc.stdout.strip().splitlines()[-1])


MODES = {'in-process': [], '2 worker processes': MULTI_PROCESS_ARGS}


def run(sizes: List[int], data_dir: str, out_dir: str, repeats: int = 3,
        cases=CASES, compressions=('gzip',), base: str = 'read+count',
        report_file: str = 'sampling.md') -> str:
  runs: Dict[tuple, List[Dict]] = {}
  labels = {'gzip': 'gzip shards', 'none': 'uncompressed shards'}
  modes = [(f'{mode}, {labels[c]}' if len(compressions) > 1 else mode, c, args)
           for c in compressions for mode, args in MODES.items()]
  for repeat in range(repeats):
    for size in sizes:
      for mode, compression, beam_args in modes:
        root = generate(data_dir, size, compression)
        shift = repeat % len(cases)
        for case in cases[shift:] + cases[:shift]:
          result = run_case(case, root, beam_args)
          runs.setdefault((size, mode, case), []).append(result)
          print(f"round {repeat + 1}/{repeats} {size:>9,} {mode:30s} {case:15s} "
                f"{result['seconds']:7.1f}s {result['peak_rss_mb']:7.0f} MB", file=sys.stderr)
  rows = [dict(size=size, mode=mode, **median(results))
          for (size, mode, _), results in runs.items()]
  order = [m for m, _, _ in modes]
  rows.sort(key=lambda r: (order.index(r['mode']), r['size'], cases.index(r['case'])))
  report = format_report(rows, repeats, base)
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, report_file), 'w') as f:
    f.write(report + '\n')
  print(report)
  return report


def median(results: List[Dict]) -> Dict:
  """One case's runs: median seconds and RSS; the output and counters of the median run."""
  middle = sorted(results, key=lambda r: r['seconds'])[len(results) // 2]
  return dict(middle, seconds=statistics.median(r['seconds'] for r in results),
              peak_rss_mb=statistics.median(r['peak_rss_mb'] for r in results),
              all_seconds=[r['seconds'] for r in results])


def format_report(rows: List[Dict], repeats: int, base_case: str = 'read+count') -> str:
  """`base_case` 'beam': each case against the same case read by Beam's reader."""
  by_case = {(r['size'], r['mode'], r['case']): r for r in rows}

  def base_of(r):
    case = (BEAM_READER + r['case'].replace(BEAM_READER, '') if base_case == 'beam'
            else base_case)
    return by_case[(r['size'], r['mode'], case)]
  smallest = min(r['size'] for r in rows)
  against = ("the same case read by Beam's ReadFromTFRecord" if base_case == 'beam'
             else base_case)
  lines = [f'DirectRunner, {NUM_EXAMPLES} examples sampled, median of {repeats} runs per case '
           '(fresh processes, order rotating between rounds); ratio = median time / median '
           f'time of {against} of the same size and mode; RSS growth = peak RSS / peak RSS of '
           f'the same case and mode at {smallest:,}; shapes decoded = records whose shape '
           'statistics coverage decoded (its seeded subsample).', '',
           '| examples | mode | case | seconds | ratio | runs (s) | peak RSS MB | RSS growth '
           '| sample size | shapes decoded |',
           '|---:|---|---|---:|---:|---|---:|---:|---:|---:|']
  for r in rows:
    small = next(s for s in rows if s['size'] == smallest and s['case'] == r['case']
                 and s['mode'] == r['mode'])
    decoded = r['counters'].get('shapes_decoded')
    lines.append(
        f"| {r['size']:,} | {r['mode']} | {r['case']} | {r['seconds']:.1f} | "
        f"{r['seconds'] / base_of(r)['seconds']:.2f} | "
        f"{' '.join(f'{s:.1f}' for s in r['all_seconds'])} | "
        f"{r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] / small['peak_rss_mb']:.2f} | "
        f"{r['output']} | {'' if decoded is None else f'{decoded:,}'} |")
  return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--sizes', default='1000000,5000000')
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--data-dir', default=os.path.join('runs', 'sampling-data'))
  parser.add_argument('--out', default=os.path.join('benchmarks', 'results'))
  parser.add_argument('--cases', default=','.join(CASES),
                      help=f"comma-separated, of {', '.join(ALL_CASES)}")
  parser.add_argument('--compression', default='gzip', help='gzip, none, or both: gzip,none')
  parser.add_argument('--base', default='read+count',
                      help="the case ratios are relative to; 'beam': each case's beam- twin")
  parser.add_argument('--report', default='sampling.md', help='file name under --out')
  parser.add_argument('--child', choices=ALL_CASES, help=argparse.SUPPRESS)
  parser.add_argument('--root', help=argparse.SUPPRESS)
  parser.add_argument('--beam-arg', action='append', default=[], help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.child:
    print(json.dumps(child(args.child, args.root, args.beam_arg)))
    return 0
  cases = tuple(args.cases.split(','))
  compressions = tuple(args.compression.split(','))
  unknown = [c for c in cases if c not in ALL_CASES] + [
      c for c in compressions if c not in SUFFIXES]
  if unknown or (args.base not in cases and args.base != 'beam'):
    parser.error(f'unknown {unknown}, or --base {args.base!r} not among --cases')
  run([int(s) for s in args.sizes.split(',')], args.data_dir, args.out, args.repeats, cases,
      compressions, args.base, args.report)
  return 0


if __name__ == '__main__':
  sys.exit(main())
