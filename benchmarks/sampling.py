"""Sampling at scale: each strategy against a bare Beam read + count of the same split.

  python -m benchmarks.sampling [--sizes 1000000,5000000] [--data-dir DIR] [--out DIR]

Generates (once, deterministically, cached in --data-dir) an Examples split of
gzip TFRecord shards: dense floats, categorical strings, a variable-length
history (1-40 values), a rare coupon feature (0.3%) and a rare long list (0.1%).
Each case runs in a fresh process on the DirectRunner through the component's
own read path (tfx-bsl raw records of an Examples artifact), and reports its
wall time (pipeline only) and peak RSS (its own and its workers'):
  read+count   bare read and Beam's Count.Globally: the floor;
  uniform / coverage / stratified   SampleExamples(num_examples=64).
Then once more with --direct_running_mode=multi_processing --direct_num_workers=2,
to show the transforms pickle and merge across worker processes.
Prints time ratios (strategy / read+count) and RSS, and writes sampling.md to --out.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from typing import Dict, List, Optional

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

CASES = ('read+count', 'uniform', 'coverage', 'stratified')
NUM_EXAMPLES = 64
SHARD_SIZE = 100_000
MULTI_PROCESS_ARGS = ['--direct_running_mode=multi_processing', '--direct_num_workers=2']


def generate(data_dir: str, count: int) -> str:
  """Writes `count` examples in gzip shards under data_dir/<count>/Split-train (cached)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  root = os.path.join(data_dir, str(count))
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
    path = os.path.join(split_dir, f'data_tfrecord-{shard:05d}-of-{shards:05d}.gz')
    with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type='GZIP')) as w:
      for i in range(shard * SHARD_SIZE, min(count, (shard + 1) * SHARD_SIZE)):
        f = {
            'id': feature(int64_list=ints(value=[i])),
            'price': feature(float_list=floats(value=[rng.random() * 100])),
            'embedding': feature(float_list=floats(value=[rng.random() for _ in range(8)])),
            'country': feature(bytes_list=strings(value=[rng.choice(countries)])),
            'history': feature(int64_list=ints(
                value=[rng.randrange(1000) for _ in range(min(40, int(rng.expovariate(0.2)) + 1))])),
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
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  from tfx_warmup import examples_io  # pylint: disable=g-import-not-at-top
  from tfx_warmup import sample  # pylint: disable=g-import-not-at-top
  from tfx.types import artifact_utils, standard_artifacts  # pylint: disable=g-import-not-at-top

  examples = standard_artifacts.Examples()
  examples.uri = root
  examples.split_names = artifact_utils.encode_split_names(['train'])
  out = os.path.join(root, f'result-{case}-{os.getpid()}.json')
  start = time.perf_counter()
  with beam.Pipeline(options=PipelineOptions(beam_args)) as p:
    records = examples_io.read_examples(p, examples, ['train'])
    if case == 'read+count':
      result = records | beam.combiners.Count.Globally()
    else:
      result = (records | sample.SampleExamples(
          NUM_EXAMPLES, 0, case, 'label' if case == 'stratified' else None)
                | beam.Map(len))
    _ = result | beam.Map(lambda n, path: open(path, 'w').write(json.dumps(n)), out)
  seconds = time.perf_counter() - start
  with open(out) as f:
    output = json.load(f)
  os.remove(out)
  rss_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
  return {'case': case, 'seconds': seconds, 'peak_rss_mb': rss_kb / 1024, 'output': output}


def run_case(case: str, root: str, beam_args: List[str]) -> Dict:
  command = [sys.executable, '-m', 'benchmarks.sampling', '--child', case, '--root', root]
  command += [f'--beam-arg={a}' for a in beam_args]
  proc = subprocess.run(command, capture_output=True, text=True, check=False)
  if proc.returncode != 0:
    raise RuntimeError(f'{case} failed:\n{proc.stderr[-3000:]}')
  return json.loads(proc.stdout.strip().splitlines()[-1])


def run(sizes: List[int], data_dir: str, out_dir: str) -> str:
  rows = []
  for size in sizes:
    root = generate(data_dir, size)
    for case in CASES:
      rows.append(dict(size=size, mode='in-process', **run_case(case, root, [])))
      print(f"{size:>9,} {case:11s} {rows[-1]['seconds']:7.1f}s "
            f"{rows[-1]['peak_rss_mb']:7.0f} MB", file=sys.stderr)
  for case in CASES:  # Multi-process, on the smallest size.
    rows.append(dict(size=sizes[0], mode='2 worker processes',
                     **run_case(case, generate(data_dir, sizes[0]), MULTI_PROCESS_ARGS)))
    print(f"{sizes[0]:>9,} {case:11s} x2 {rows[-1]['seconds']:7.1f}s", file=sys.stderr)
  report = format_report(rows)
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'sampling.md'), 'w') as f:
    f.write(report + '\n')
  print(report)
  return report


def format_report(rows: List[Dict]) -> str:
  base = {(r['size'], r['mode']): r for r in rows if r['case'] == 'read+count'}
  smallest = min(r['size'] for r in rows)
  lines = [f'DirectRunner, {NUM_EXAMPLES} examples sampled; ratio = time / read+count time '
           'of the same size and mode; RSS growth = peak RSS / peak RSS of the same case at '
           f'{smallest:,}.', '',
           '| examples | mode | case | seconds | ratio | peak RSS MB | RSS growth | sample size |',
           '|---:|---|---|---:|---:|---:|---:|---:|']
  for r in rows:
    small = next(s for s in rows if s['size'] == smallest and s['case'] == r['case']
                 and s['mode'] == r['mode'])
    lines.append(
        f"| {r['size']:,} | {r['mode']} | {r['case']} | {r['seconds']:.1f} | "
        f"{r['seconds'] / base[(r['size'], r['mode'])]['seconds']:.2f} | "
        f"{r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] / small['peak_rss_mb']:.2f} | "
        f"{r['output']} |")
  return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--sizes', default='1000000,5000000')
  parser.add_argument('--data-dir', default=os.path.join('runs', 'sampling-data'))
  parser.add_argument('--out', default=os.path.join('benchmarks', 'results'))
  parser.add_argument('--child', choices=CASES, help=argparse.SUPPRESS)
  parser.add_argument('--root', help=argparse.SUPPRESS)
  parser.add_argument('--beam-arg', action='append', default=[], help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.child:
    print(json.dumps(child(args.child, args.root, args.beam_arg)))
    return 0
  run([int(s) for s in args.sizes.split(',')], args.data_dir, args.out)
  return 0


if __name__ == '__main__':
  sys.exit(main())
