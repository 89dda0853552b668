"""Writes the demo's serving traffic log, traffic/requests.jsonl: what clients send the model.

Simulated, deterministic (fixed seed), in the `rest` format a gateway writes (one TF
Serving REST call per line: its path, body and HTTP status), for impressions the model
never trained on (make_dataset's generator, another seed), in a realistic mix:

- most clients call Classify, one impression at a time;
- a ranking service calls Predict on 'predict_raw' with raw features, five candidates a
  request: a batch size the demo's guessed [1, 8, 32] would miss;
- a dashboard calls Predict on the 'classify' signature, eight impressions at a time (a
  path of its own: TF Serving's Predict runs the signature's graph without Classify's
  output handling). REST has no output_filter: fetch subsets are logged by gRPC clients,
  as PredictionLogs;
- a batch job sends 32 serialized tf.Examples to 'serving_default';
- and a little junk: lines cut short by the log shipper.

  python -m pipelines.make_traffic
"""

import base64
import json
import os
import random

from pipelines import make_dataset

NUM_LINES = 300
PATH = os.path.join(os.path.dirname(__file__), 'traffic', 'requests.jsonl')
MODEL = 'clicks'


def _features(row) -> dict:
  age, income, minutes, device, country, category, _ = row
  return {'age': age, 'income': float(income), 'daily_minutes': float(minutes),
          'device': device, 'country': country, 'ad_category': category}


def _serialized(row) -> str:
  """A tf.Example of `row`, base64 as TF Serving's REST API takes bytes."""
  import tensorflow as tf  # Only the batch job's lines need it.
  feature = {}
  for name, value in _features(row).items():
    if isinstance(value, str):
      feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
    elif isinstance(value, float):
      feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    else:
      feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
  example = tf.train.Example(features=tf.train.Features(feature=feature))
  return base64.b64encode(example.SerializeToString(deterministic=True)).decode('ascii')


def _call(api: str, body: dict) -> str:
  return json.dumps({'path': f'/v1/models/{MODEL}:{api}', 'body': body, 'status': 200},
                    sort_keys=True)


def make_lines(num_lines: int = NUM_LINES, seed: int = 7):
  rng = random.Random(seed)
  rows = make_dataset.make_rows(num_lines * 32, seed=seed)
  take = lambda n: [next(rows) for _ in range(n)]  # noqa: E731
  for _ in range(num_lines):
    kind = rng.choices(('classify', 'ranking', 'dashboard', 'batch', 'junk'),
                       weights=(60, 25, 8, 4, 3))[0]
    if kind == 'classify':
      yield _call('classify', {'signature_name': 'classify',
                               'examples': [_features(r) for r in take(1)]})
    elif kind == 'ranking':
      yield _call('predict', {'signature_name': 'predict_raw', 'instances': [
          {name: [value] for name, value in _features(r).items()} for r in take(5)]})
    elif kind == 'dashboard':
      yield _call('predict', {'signature_name': 'classify',
                              'instances': [{'b64': _serialized(r)} for r in take(8)]})
    elif kind == 'batch':
      yield _call('predict', {'instances': [{'b64': _serialized(r)} for r in take(32)]})
    else:
      yield _call('classify', {'signature_name': 'classify',
                               'examples': [_features(r) for r in take(1)]})[:40]


def main() -> None:
  os.makedirs(os.path.dirname(PATH), exist_ok=True)
  with open(PATH, 'w') as f:
    f.writelines(line + '\n' for line in make_lines())
  print(f'Wrote {NUM_LINES} logged requests to {PATH}')


if __name__ == '__main__':
  main()
