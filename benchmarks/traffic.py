"""Warm from traffic: what the profile costs, and what warming from traffic buys.

  python -m benchmarks.traffic [--lines 50000] [--repeats 3] [--parts profile,cold_start]
                               [--live 600] [--data-dir DIR] [--out DIR]

A TF1-builder model with four signatures serves both parts: `classify` and `regress`
(serialized tf.Examples), `serving_default` (Predict on serialized tf.Examples, outputs
`probabilities` and `logits`) and `predict_raw` (Predict on raw tensors: age, hours,
color, and a variable-length `history`, outputs `probabilities` and `logits`).

**profile**: --lines logged TF Serving REST requests in the `rest` format (JSON lines:
mostly bare bodies, some gateway lines with path and status; Classify, Regress, Predict
on serialized examples and on raw tensors, row and columnar; batch sizes 1..64; 0.1%
malformed lines), in 8 files, plain and gzip (generated once, cached in --data-dir).
Each case runs in a fresh process on the DirectRunner, in-process and with 2 worker
processes:
  read+count  Beam's ReadFromText of the files and Count.Globally: the floor;
  profile     `library.traffic.read_traffic`: the files read by `traffic.read_entries`
              and counted by `traffic.ProfileTraffic` against the model's signatures.
Reported: wall time of the pipeline (median of --repeats, the cases' order rotating
between rounds), ratio to read+count of the same files and mode, peak RSS (the process
and its workers) and its growth against a tenth of the lines.

**cold_start**: REST bodies carry no `output_filter` (TF Serving's REST API fetches
every output), so this traffic is logged as gRPC clients' requests are: PredictionLog
TFRecords (the `prediction_log` format). Its mix: every signature, an output_filter
subset (`serving_default` fetching `probabilities` only), batch sizes 1, 3, 8, 32 and
100, raw-tensor `history` of lengths 5 and 20. The first part of the log is the
traffic given to ModelWarmer; --live requests held out from its end are replayed, in
log order, as live traffic on the native core (`measure.cold_start`, fresh processes),
after:
  none      no warmup file;
  examples  ModelWarmer's Examples-driven defaults (`library.warm_model` on an Examples
            artifact of the same feature distribution);
  traffic   the traffic-driven warmup (`library.warm_model` with traffic_logs).
cold-start ratio = slowest of the first half of the live requests / slowest of the
second half (1.0 is the limit), as in benchmarks/cold_start.py. Per combination the
clients use, the first request's latency against that combination's median shows what
the Examples-driven defaults miss (the output_filter subset, batch sizes 3 and 100, a
history of 20) and what it costs.

Writes traffic.md and traffic.json to --out.
"""

import argparse
import base64
import gzip
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

from tfx_warmup import compat  # Imports no TensorFlow.

compat.prefer_legacy_keras()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

MULTI_PROCESS_ARGS = ['--direct_running_mode=multi_processing', '--direct_num_workers=2']
MODES = {'in-process': [], '2 worker processes': MULTI_PROCESS_ARGS}
PROFILE_CASES = ('read+count', 'profile')
FILES = 8
MALFORMED_SHARE = 0.001
COLORS = ('red', 'green', 'blue')
MODEL_NAME = 'ctr'

# -- the model ------------------------------------------------------------------------


def build_model(export_dir: str) -> str:
  """The four-signature model (see the module docstring); returns `export_dir`."""
  import tensorflow as tf
  from tests import models

  def build():
    examples = tf.compat.v1.placeholder(tf.string, [None], name='tf_example')
    parsed = tf.io.parse_example(examples, {
        'age': tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
        'hours': tf.io.FixedLenFeature([1], tf.int64, default_value=[0]),
        'color': tf.io.FixedLenFeature([1], tf.string, default_value=['']),
        'history': tf.io.VarLenFeature(tf.int64),
    })
    raw = {'age': tf.compat.v1.placeholder(tf.float32, [None, 1], name='age'),
           'hours': tf.compat.v1.placeholder(tf.int64, [None, 1], name='hours'),
           'color': tf.compat.v1.placeholder(tf.string, [None, 1], name='color'),
           'history': tf.compat.v1.placeholder(tf.int64, [None, None], name='history')}
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(COLORS), tf.constant([0, 1, 2], tf.int64)), default_value=-1)
    weights = tf.compat.v1.get_variable(
        'weights', initializer=tf.constant([[0.03], [0.01], [0.5], [0.02]]))
    bias = tf.compat.v1.get_variable('bias', initializer=tf.constant(-1.0))

    def head(age, hours, color, history_sum):
      x = tf.concat([age, tf.cast(hours, tf.float32),
                     tf.cast(table.lookup(color), tf.float32), history_sum], 1)
      logits = tf.matmul(x, weights) + bias
      return logits, tf.sigmoid(logits)

    history = tf.sparse.to_dense(parsed['history'])
    logits, probability = head(parsed['age'], parsed['hours'], parsed['color'], tf.reduce_sum(
        tf.cast(history, tf.float32), 1, keepdims=True))
    raw_logits, raw_probability = head(raw['age'], raw['hours'], raw['color'], tf.reduce_sum(
        tf.cast(raw['history'], tf.float32), 1, keepdims=True))
    scores = tf.concat([1 - probability, probability], 1)
    classes = tf.tile(tf.constant([['0', '1']]), [tf.shape(scores)[0], 1])
    sig = tf.compat.v1.saved_model.signature_def_utils
    return {
        'classify': sig.classification_signature_def(examples, classes, scores),
        'regress': sig.regression_signature_def(examples, tf.squeeze(logits, 1)),
        'serving_default': sig.predict_signature_def(
            {'examples': examples}, {'probabilities': probability, 'logits': logits}),
        'predict_raw': sig.predict_signature_def(
            raw, {'probabilities': raw_probability, 'logits': raw_logits}),
    }
  return models.build_graph_model(export_dir, build)


def features(rng: random.Random, history: int) -> Dict:
  return {'age': round(rng.uniform(18, 90), 1), 'hours': rng.randint(0, 80),
          'color': rng.choice(COLORS), 'history': [rng.randint(0, 9) for _ in range(history)]}


def example_bytes(values: Dict) -> bytes:
  import tensorflow as tf
  f = tf.train.Feature
  return tf.train.Example(features=tf.train.Features(feature={
      'age': f(float_list=tf.train.FloatList(value=[values['age']])),
      'hours': f(int64_list=tf.train.Int64List(value=[values['hours']])),
      'color': f(bytes_list=tf.train.BytesList(value=[values['color'].encode()])),
      'history': f(int64_list=tf.train.Int64List(value=values['history'])),
  })).SerializeToString()


# -- part 1: REST lines, and the profile's cost ----------------------------------------


def rest_batch_size(rng: random.Random) -> int:
  """Batch sizes 1..64: most requests single, some small batches, a few large ones."""
  draw = rng.random()
  if draw < 0.55:
    return 1
  if draw < 0.85:
    return rng.randint(2, 16)
  if draw < 0.93:
    return 32
  return rng.randint(17, 64)


def _b64_examples(pool: List[str], rng: random.Random, batch: int) -> str:
  return ', '.join(f'{{"b64": "{rng.choice(pool)}"}}' for _ in range(batch))


def _example_objects(rng: random.Random, batch: int) -> str:
  return ', '.join(
      f'{{"age": {rng.uniform(18, 90):.1f}, "hours": {rng.randint(0, 80)}, '
      f'"color": "{rng.choice(COLORS)}", "history": [{rng.randint(0, 9)}, {rng.randint(0, 9)}]}}'
      for _ in range(batch))


def _raw_rows(rng: random.Random, batch: int) -> str:
  length = rng.choice((3, 5, 5, 8))
  return ', '.join(
      f'{{"age": [{rng.uniform(18, 90):.1f}], "hours": [{rng.randint(0, 80)}], '
      f'"color": ["{rng.choice(COLORS)}"], "history": '
      f'[{", ".join(str(rng.randint(0, 9)) for _ in range(length))}]}}'
      for _ in range(batch))


def _raw_columns(rng: random.Random, batch: int) -> str:
  length = rng.choice((3, 5))
  column = lambda make: ', '.join(make() for _ in range(batch))  # noqa: E731  (local helper)
  return (f'{{"age": [{column(lambda: f"[{rng.uniform(18, 90):.1f}]")}], '
          f'"hours": [{column(lambda: f"[{rng.randint(0, 80)}]")}], '
          f'"color": [{column(lambda: chr(34).join(("[", rng.choice(COLORS), "]")))}], '
          f'"history": [{column(lambda: str([rng.randint(0, 9) for _ in range(length)]))}]}}')


_MALFORMED = (
    '{"instances": [{"b64": "CgwKCgoDYWdlEgMKAUE=',  # cut short
    'GET /v1/models/ctr HTTP/1.1 200',  # a health check in the log
    '[{"instances": [1, 2]}]',  # an array
    '{"path": "/v1/models/ctr/metadata", "body": {}}',  # calls no inference API
)


def rest_line(rng: random.Random, pool: List[str]) -> str:
  """One logged request: a bare body (70%) or a gateway line with path and status."""
  if rng.random() < MALFORMED_SHARE:
    return rng.choice(_MALFORMED)
  batch = rest_batch_size(rng)
  draw = rng.random()
  if draw < 0.40:
    api, body = 'predict', f'{{"instances": [{_b64_examples(pool, rng, batch)}]}}'
  elif draw < 0.50:
    api, body = 'predict', (f'{{"signature_name": "serving_default", "inputs": '
                            f'{{"examples": [{_b64_examples(pool, rng, batch)}]}}}}')
  elif draw < 0.70:
    api, body = 'classify', (f'{{"signature_name": "classify", "examples": '
                             f'[{_example_objects(rng, batch)}]}}')
  elif draw < 0.80:
    api, body = 'regress', (f'{{"signature_name": "regress", "context": {{"hours": 10}}, '
                            f'"examples": [{_example_objects(rng, batch)}]}}')
  elif draw < 0.93:
    api, body = 'predict', (f'{{"signature_name": "predict_raw", "instances": '
                            f'[{_raw_rows(rng, batch)}]}}')
  else:
    api, body = 'predict', (f'{{"signature_name": "predict_raw", "inputs": '
                            f'{_raw_columns(rng, batch)}}}')
  if rng.random() < 0.7:
    return body
  status = 200 if rng.random() < 0.98 else 400
  return (f'{{"path": "/v1/models/{MODEL_NAME}:{api}", "status": {status}, '
          f'"body": {body}}}')


def generate_rest(data_dir: str, lines: int) -> Dict[str, str]:
  """`lines` REST lines in FILES files, plain and gzip (cached): {'plain'|'gzip': glob}."""
  root = os.path.join(data_dir, f'rest-{lines}')
  globs = {'plain': os.path.join(root, 'plain', 'requests-*.jsonl'),
           'gzip': os.path.join(root, 'gzip', 'requests-*.jsonl.gz')}
  if os.path.exists(os.path.join(root, 'DONE')):
    return globs
  rng = random.Random(lines)
  pool = [base64.b64encode(example_bytes(features(rng, rng.randint(1, 5)))).decode()
          for _ in range(2000)]
  for kind in globs:
    os.makedirs(os.path.join(root, kind), exist_ok=True)
  per_file = -(-lines // FILES)
  for shard in range(FILES):
    count = min(per_file, lines - shard * per_file)
    text = ''.join(rest_line(rng, pool) + '\n' for _ in range(max(count, 0))).encode()
    with open(os.path.join(root, 'plain', f'requests-{shard:02d}.jsonl'), 'wb') as f:
      f.write(text)
    with gzip.open(os.path.join(root, 'gzip', f'requests-{shard:02d}.jsonl.gz'), 'wb',
                   compresslevel=6) as f:
      f.write(text)
  with open(os.path.join(root, 'DONE'), 'w') as f:
    f.write(str(lines))
  return globs


def profile_child(case: str, pattern: str, model_dir: str, beam_args: List[str]) -> Dict:
  """One measurement of part 1, in this (fresh) process."""
  import apache_beam as beam
  from apache_beam.options.pipeline_options import PipelineOptions
  from tfx_warmup import serving
  from tfx_warmup.library import traffic as library_traffic
  from tfx_warmup.options import WarmupOptions
  from tfx_warmup.traffic import resolve_traffic

  make_pipeline = lambda: beam.Pipeline(options=PipelineOptions(beam_args))  # noqa: E731
  with tempfile.TemporaryDirectory(prefix='traffic-bench-') as scratch:
    if case == 'read+count':
      out = os.path.join(scratch, 'count')
      start = time.perf_counter()
      p = make_pipeline()
      _ = (p | beam.io.ReadFromText(pattern) | beam.combiners.Count.Globally()
           | beam.io.WriteToText(out, shard_name_template=''))
      p.run().wait_until_finish()
      seconds = time.perf_counter() - start
      with open(out) as f:
        output = {'lines': int(f.read())}
    else:
      signatures = serving.read_meta_graph(model_dir, ['serve']).signature_def
      files = resolve_traffic(pattern)
      start = time.perf_counter()
      traffic = library_traffic.read_traffic(pattern, files, signatures,
                                             WarmupOptions(traffic_logs=pattern),
                                             make_pipeline, scratch)
      seconds = time.perf_counter() - start
      profile = traffic.profile
      output = {'requests': profile.logged_requests, 'accepted': profile.requests,
                'refused': profile.refused_requests, 'not_requests': profile.not_requests.count,
                'combinations': len(profile.combinations)}
  rss_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
  return {'case': case, 'seconds': seconds, 'peak_rss_mb': rss_kb / 1024, 'output': output}


def run_profile_case(case: str, pattern: str, model_dir: str, beam_args: List[str]) -> Dict:
  command = [sys.executable, '-m', 'benchmarks.traffic', '--child', case, '--pattern',
             pattern, '--model', model_dir] + [f'--beam-arg={a}' for a in beam_args]
  proc = subprocess.run(command, capture_output=True, text=True, check=False)
  if proc.returncode != 0:
    raise RuntimeError(f'{case} failed:\n{proc.stderr[-3000:]}')
  return json.loads(proc.stdout.strip().splitlines()[-1])


def median_run(results: List[Dict]) -> Dict:
  middle = sorted(results, key=lambda r: r['seconds'])[len(results) // 2]
  return dict(middle, seconds=statistics.median(r['seconds'] for r in results),
              peak_rss_mb=statistics.median(r['peak_rss_mb'] for r in results),
              all_seconds=[r['seconds'] for r in results])


def run_profile(lines: int, data_dir: str, model_dir: str, repeats: int) -> List[Dict]:
  """Part 1: every (size, compression, mode, case), --repeats rounds, order rotating."""
  sizes = sorted({max(lines // 10, 1), lines})
  runs: Dict[tuple, List[Dict]] = {}
  for repeat in range(repeats):
    for size in sizes:
      globs = generate_rest(data_dir, size)
      for compression, pattern in globs.items():
        for mode, beam_args in MODES.items():
          shift = repeat % len(PROFILE_CASES)
          for case in PROFILE_CASES[shift:] + PROFILE_CASES[:shift]:
            result = run_profile_case(case, pattern, model_dir, beam_args)
            runs.setdefault((size, compression, mode, case), []).append(result)
            print(f'round {repeat + 1}/{repeats} {size:>9,} {compression:5s} {mode:20s} '
                  f"{case:10s} {result['seconds']:7.1f}s {result['peak_rss_mb']:6.0f} MB "
                  f"{result['output']}", file=sys.stderr, flush=True)
  return [dict(size=size, compression=compression, mode=mode, **median_run(results))
          for (size, compression, mode, _), results in runs.items()]


def format_profile(rows: List[Dict], repeats: int) -> str:
  by = {(r['size'], r['compression'], r['mode'], r['case']): r for r in rows}
  sizes = sorted({r['size'] for r in rows})
  lines = [f'DirectRunner; median of {repeats} fresh-process runs per case, the order of the '
           'cases rotating between rounds; ratio = profile time / read+count time of the same '
           f'files and mode; RSS growth = peak RSS / peak RSS of the same case and mode at '
           f'{sizes[0]:,} lines.', '',
           '| lines | files | mode | read+count s | profile s | ratio | runs: read+count / '
           'profile (s) | peak RSS MB: read+count / profile | RSS growth (profile) |',
           '|---:|---|---|---:|---:|---:|---|---|---:|']
  for size in sizes:
    for compression in ('plain', 'gzip'):
      for mode in MODES:
        base = by.get((size, compression, mode, 'read+count'))
        prof = by.get((size, compression, mode, 'profile'))
        if not base or not prof:
          continue
        small = by[(sizes[0], compression, mode, 'profile')]
        lines.append(
            f"| {size:,} | {compression} | {mode} | {base['seconds']:.1f} | "
            f"{prof['seconds']:.1f} | **{prof['seconds'] / base['seconds']:.2f}** | "
            f"{' '.join(f'{s:.1f}' for s in base['all_seconds'])} / "
            f"{' '.join(f'{s:.1f}' for s in prof['all_seconds'])} | "
            f"{base['peak_rss_mb']:.0f} / {prof['peak_rss_mb']:.0f} | "
            f"{prof['peak_rss_mb'] / small['peak_rss_mb']:.2f} |")
  counted = next((r['output'] for r in rows if r['case'] == 'profile' and
                  r['size'] == sizes[-1]), None)
  if counted:
    lines += ['', f'The profile of {sizes[-1]:,} lines: {counted}.']
  return '\n'.join(lines)



# -- parts 2 and 3: cold start on the traffic's own mix --------------------------------

# (api, signature, batch size, output_filter, history length of raw requests): weight.
MIX = {
    ('predict', 'serving_default', 1, (), 0): 20,
    ('predict', 'serving_default', 8, (), 0): 8,
    ('predict', 'serving_default', 32, (), 0): 4,
    ('predict', 'serving_default', 1, ('probabilities',), 0): 12,
    ('predict', 'serving_default', 3, ('probabilities',), 0): 5,
    ('classify', 'classify', 1, (), 0): 10,
    ('classify', 'classify', 3, (), 0): 4,
    ('classify', 'classify', 8, (), 0): 3,
    ('regress', 'regress', 1, (), 0): 6,
    ('regress', 'regress', 100, (), 0): 2,
    ('predict', 'predict_raw', 1, (), 5): 10,
    ('predict', 'predict_raw', 8, (), 5): 4,
    ('predict', 'predict_raw', 1, (), 20): 5,
    ('predict', 'predict_raw', 100, (), 5): 2,
}
LOGGED_REQUESTS = 5000


def prediction_log(combination, rng: random.Random):
  """One logged gRPC request of `combination` (see MIX), as a PredictionLog."""
  import numpy as np
  import tensorflow as tf
  from tensorflow_serving.apis import classification_pb2
  from tensorflow_serving.apis import predict_pb2
  from tensorflow_serving.apis import prediction_log_pb2
  from tensorflow_serving.apis import regression_pb2
  api, signature, batch, output_filter, history = combination
  rows = [features(rng, history or rng.randint(1, 5)) for _ in range(batch)]
  log = prediction_log_pb2.PredictionLog()
  if api in ('classify', 'regress'):
    request = (classification_pb2.ClassificationRequest() if api == 'classify'
               else regression_pb2.RegressionRequest())
    for row in rows:
      request.input.example_list.examples.add().ParseFromString(example_bytes(row))
    target = log.classify_log if api == 'classify' else log.regress_log
  else:
    request = predict_pb2.PredictRequest()
    request.output_filter.extend(output_filter)
    if signature == 'predict_raw':
      request.inputs['age'].CopyFrom(tf.make_tensor_proto(
          np.array([[r['age']] for r in rows], np.float32)))
      request.inputs['hours'].CopyFrom(tf.make_tensor_proto(
          np.array([[r['hours']] for r in rows], np.int64)))
      request.inputs['color'].CopyFrom(tf.make_tensor_proto(
          np.array([[r['color'].encode()] for r in rows], object)))
      request.inputs['history'].CopyFrom(tf.make_tensor_proto(
          np.array([r['history'] for r in rows], np.int64)))
    else:
      request.inputs['examples'].CopyFrom(tf.make_tensor_proto(
          [example_bytes(r) for r in rows], tf.string, [batch]))
    target = log.predict_log
  request.model_spec.name = MODEL_NAME
  request.model_spec.signature_name = signature
  target.request.CopyFrom(request)
  return log


def write_grpc_traffic(root: str, live: int, seed: int = 0):
  """The logged traffic (a PredictionLog TFRecord file) and the held-out live requests."""
  import tensorflow as tf
  rng = random.Random(seed)
  combinations, weights = list(MIX), list(MIX.values())
  logs = [prediction_log(c, rng)
          for c in rng.choices(combinations, weights, k=LOGGED_REQUESTS + live)]
  os.makedirs(os.path.join(root, 'logs'), exist_ok=True)
  path = os.path.join(root, 'logs', 'requests-00000.tfrecord')
  with tf.io.TFRecordWriter(path) as writer:
    for log in logs[:LOGGED_REQUESTS]:
      writer.write(log.SerializeToString())
  return path, logs[LOGGED_REQUESTS:]


def examples_artifact(root: str):
  """Examples of the same features as the traffic (history 1..5 long), as ExampleGen writes."""
  from tests import models
  rng = random.Random(7)
  return models.write_examples_artifact(
      os.path.join(root, 'examples'),
      {'eval': [example_bytes(features(rng, rng.randint(1, 5))) for _ in range(600)]})


def combination_of(log) -> str:
  """A live request's combination, as the traffic profile keys it."""
  from tfx_warmup.traffic import requests as traffic_requests
  key = traffic_requests.traffic_key(log)
  fetch = f' [{key.output_filter}]' if key.output_filter else ''
  shapes = f' {key.shapes}' if key.shapes else ''
  return f'{key.api} {key.signature} b{key.batch_size}{fetch}{shapes}'


def warm_cases(root: str, model_dir: str, logs_path: str) -> Dict[str, str]:
  """The three copies of the model: none, examples (defaults), traffic."""
  from tfx_warmup import library
  from tfx_warmup.component import artifacts
  from tfx_warmup.options import WarmupOptions
  cases = {'none': os.path.join(root, 'none')}
  shutil.copytree(model_dir, cases['none'])
  cases['examples'] = os.path.join(root, 'examples_defaults')
  start = time.perf_counter()
  library.warm_model(model_dir, artifacts.examples_source(examples_artifact(root)),
                     cases['examples'], WarmupOptions(model_name=MODEL_NAME, measure=False))
  print(f'examples-driven warmup built in {time.perf_counter() - start:.1f}s', file=sys.stderr)
  cases['traffic'] = os.path.join(root, 'traffic_driven')
  start = time.perf_counter()
  library.warm_model(model_dir, None, cases['traffic'],
                     WarmupOptions(model_name=MODEL_NAME, measure=False,
                                   traffic_logs=logs_path))
  print(f'traffic-driven warmup built in {time.perf_counter() - start:.1f}s', file=sys.stderr)
  return cases


def warmed_combinations(model_dir: str) -> set:
  from tfx_warmup import serving
  from tfx_warmup.serving import warmup_file
  path = warmup_file.warmup_file_path(model_dir)
  if not os.path.exists(path):
    return set()
  return {combination_of(r) for r in serving.read_warmup_file(path)}


def run_cold_start(root: str, model_dir: str, live_count: int, repeats: int) -> Dict:
  """Parts 2 and 3: each case `repeats` times in fresh processes, cases interleaved."""
  from tfx_warmup.measure import cold_start as measure
  from tfx_warmup.serving import warmup_file
  logs_path, live = write_grpc_traffic(root, live_count)
  live_path = os.path.join(root, 'live.tfrecord')
  warmup_file.write_warmup_file(live_path, live)
  cases = warm_cases(root, model_dir, logs_path)
  combos = [combination_of(r) for r in live]
  runs: Dict[str, List[Dict]] = {case: [] for case in cases}
  for repeat in range(repeats):
    for case, case_dir in cases.items():
      timing = measure.time_in_fresh_process(case_dir, live_path, replay_warmup=True, rounds=1)
      latencies = timing.latencies_ms[0]
      half = len(latencies) // 2
      first: Dict[str, float] = {}
      for combo, ms in zip(combos, latencies):
        first.setdefault(combo, ms)
      runs[case].append(dict(
          records=timing.replay_records, replay_s=timing.replay_seconds,
          max_first_half_ms=max(latencies[:half]), max_second_half_ms=max(latencies[half:]),
          median_ms=statistics.median(latencies),
          ratio=max(latencies[:half]) / max(latencies[half:]), first_ms=first,
          steady_ms={c: statistics.median([ms for cc, ms in zip(combos[half:], latencies[half:])
                                           if cc == c] or [float('nan')]) for c in set(combos)}))
      print(f'round {repeat + 1}/{repeats} {case:9s} ratio {runs[case][-1]["ratio"]:6.2f} '
            f'records {timing.replay_records}', file=sys.stderr, flush=True)
  summary = {}
  for case, results in runs.items():
    row = {k: statistics.median(r[k] for r in results)
           for k in ('records', 'replay_s', 'max_first_half_ms', 'max_second_half_ms',
                     'median_ms', 'ratio')}
    row['all_ratios'] = [r['ratio'] for r in results]
    row['first_ms'] = {c: statistics.median(r['first_ms'][c] for r in results)
                       for c in results[0]['first_ms']}
    row['steady_ms'] = {c: statistics.median(r['steady_ms'][c] for r in results)
                        for c in results[0]['steady_ms']}
    row['warmed'] = sorted(warmed_combinations(cases[case]))
    summary[case] = row
  share = {c: combos.count(c) / len(combos) for c in set(combos)}
  return dict(cases=summary, share=share, live=len(live), logged=LOGGED_REQUESTS,
              repeats=repeats)


def format_cold_start(result: Dict) -> str:
  cases = result['cases']
  lines = [f"Live traffic: {result['live']} logged requests held out from the end of the log, "
           f"replayed in log order; ModelWarmer read the {result['logged']:,} before them. "
           f"Median of {result['repeats']} fresh-process runs per case, cases interleaved.", '',
           '| warmup | records | replay s | max ms, 1st half | max ms, 2nd half | median ms | '
           'cold-start ratio | runs |',
           '|---|---:|---:|---:|---:|---:|---:|---|']
  for case, r in cases.items():
    lines.append(f"| {case} | {r['records']:.0f} | {r['replay_s']:.2f} | "
                 f"{r['max_first_half_ms']:.1f} | {r['max_second_half_ms']:.1f} | "
                 f"{r['median_ms']:.2f} | **{r['ratio']:.2f}** | "
                 f"{' '.join(f'{x:.2f}' for x in r['all_ratios'])} |")
  lines += ['', 'Per combination the clients use: its first live request (ms, median of the '
            'runs) after each warmup, against its median in the second half with the '
            "traffic-driven warmup; 'warmed by defaults' says whether the Examples-driven "
            'warmup file holds a record of that combination.', '',
            '| combination | share | warmed by defaults | first ms: none | first ms: examples '
            '| first ms: traffic | steady median ms |',
            '|---|---:|---|---:|---:|---:|---:|']
  examples_warmed = set(cases['examples']['warmed'])
  for combo in sorted(result['share'], key=lambda c: -result['share'][c]):
    lines.append(
        f"| {combo} | {result['share'][combo]:.1%} | "
        f"{'yes' if combo in examples_warmed else '**no**'} | "
        f"{cases['none']['first_ms'][combo]:.1f} | {cases['examples']['first_ms'][combo]:.1f} | "
        f"{cases['traffic']['first_ms'][combo]:.1f} | "
        f"{cases['traffic']['steady_ms'][combo]:.2f} |")
  return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--lines', type=int, default=50_000,
                      help='REST lines of part 1 (the issue names 1,000,000)')
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--parts', default='profile,cold_start')
  parser.add_argument('--live', type=int, default=600)
  parser.add_argument('--data-dir', default=os.path.join('runs', 'traffic-data'))
  parser.add_argument('--out', default=os.path.join('benchmarks', 'results'))
  parser.add_argument('--child', choices=PROFILE_CASES, help=argparse.SUPPRESS)
  parser.add_argument('--pattern', help=argparse.SUPPRESS)
  parser.add_argument('--model', help=argparse.SUPPRESS)
  parser.add_argument('--beam-arg', action='append', default=[], help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.child:
    print(json.dumps(profile_child(args.child, args.pattern, args.model, args.beam_arg)))
    return 0
  parts = args.parts.split(',')
  unknown = set(parts) - {'profile', 'cold_start'}
  if unknown:
    parser.error(f'unknown parts {sorted(unknown)}: use profile, cold_start')
  run(parts, args.lines, args.repeats, args.live, args.data_dir, args.out)
  return 0


def machine_load() -> str:
  one, five, _ = os.getloadavg()
  return f'{os.cpu_count()} cores, load average {one:.1f} (1 min) / {five:.1f} (5 min)'


def run(parts: Sequence[str], lines: int, repeats: int, live: int, data_dir: str,
        out_dir: str) -> None:
  os.makedirs(data_dir, exist_ok=True)
  model_dir = os.path.join(os.path.abspath(data_dir), 'model', '1')
  if not os.path.exists(os.path.join(model_dir, 'saved_model.pb')):
    shutil.rmtree(model_dir, ignore_errors=True)
    build_model(model_dir)
  sections, results = [], {'load_before': machine_load()}
  if 'profile' in parts:
    rows = run_profile(lines, data_dir, model_dir, repeats)
    results['profile'] = rows
    sections.append('### Profile cost\n\n' + format_profile(rows, repeats))
    print(sections[-1], flush=True)
  if 'cold_start' in parts:
    with tempfile.TemporaryDirectory(dir=data_dir, prefix='cold-start-') as root:
      result = run_cold_start(root, model_dir, live, repeats)
    results['cold_start'] = result
    sections.append('### Cold start on the traffic\'s own mix\n\n' + format_cold_start(result))
    print(sections[-1], flush=True)
  results['load_after'] = machine_load()
  head = (f"Machine: {results['load_before']} at the start, {results['load_after']} at the "
          'end (shared with other work).')
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'traffic.md'), 'w') as f:
    f.write('\n\n'.join([head] + sections) + '\n')
  with open(os.path.join(out_dir, 'traffic.json'), 'w') as f:
    json.dump(results, f, indent=1, sort_keys=True)


if __name__ == '__main__':
  sys.exit(main())
