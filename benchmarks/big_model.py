"""A SavedModel whose ~1 GiB of variables make restore dominate its load.

The demo and taxi models load in well under a second, mostly graph import and
session setup: a version swap of either is over before it can hurt much. Real
ranking and recommendation models carry large embedding tables, and their load
is mostly the restore of those bytes. benchmarks/swap.py swaps this model to
see the serving version's p99 while a load like that shares its threads.

The model (TF1 graph, SavedModelBuilder, as Estimators export): a float32
embedding table of [2**18, 1024] (1 GiB) looked up by a hashed 'user_id' parsed
from serialized tf.Examples, concatenated with a float 'price', then a small
dense layer. Signatures: 'serving_default' (predict, input 'examples') and
'regression' (regress). The table is a variable filled by its initializer op,
run once: never a constant in the graph (a 1 GiB constant would blow the 2 GB
GraphDef limit), and never a numpy copy in Python memory.

  python -m benchmarks.big_model [--out DIR] [--rows 262144] [--dim 1024]
"""

import argparse
import os
import random
import sys
import tempfile
from typing import List

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf

ROWS = 2**18
DIM = 1024
HIDDEN = 16
_v1 = tf.compat.v1


def build_big_model(export_dir: str, rows: int = ROWS, dim: int = DIM) -> str:
  """Exports the model to `export_dir` (which must not exist); returns it."""
  with tf.Graph().as_default() as graph, _v1.Session(graph=graph) as sess:
    serialized = _v1.placeholder(tf.string, [None], name='tf_example')
    parsed = tf.io.parse_example(serialized, {
        'user_id': tf.io.FixedLenFeature([], tf.string, default_value=''),
        'price': tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
    })
    ids = tf.strings.to_hash_bucket_fast(parsed['user_id'], rows)
    table = _v1.get_variable(
        'embeddings', shape=[rows, dim], dtype=tf.float32,
        initializer=_v1.random_uniform_initializer(-0.05, 0.05, seed=0))
    embedded = tf.nn.embedding_lookup(table, ids)
    x = tf.concat([embedded, tf.math.log1p(tf.abs(parsed['price']))], 1)
    hidden = tf.nn.relu(_dense(x, dim + 1, HIDDEN, 'hidden'))
    score = tf.squeeze(_dense(hidden, HIDDEN, 1, 'score'), 1)
    sess.run(_v1.global_variables_initializer())
    sig = _v1.saved_model.signature_def_utils
    builder = _v1.saved_model.Builder(export_dir)
    builder.add_meta_graph_and_variables(
        sess, [tf.saved_model.SERVING],
        signature_def_map={
            'serving_default': sig.predict_signature_def(
                {'examples': serialized}, {'score': score, 'hidden': hidden}),
            'regression': sig.regression_signature_def(serialized, score),
        })
    builder.save()
  return export_dir


def _dense(x: tf.Tensor, inputs: int, units: int, name: str) -> tf.Tensor:
  kernel = _v1.get_variable(f'{name}/kernel', [inputs, units],
                            initializer=_v1.glorot_uniform_initializer(seed=1))
  bias = _v1.get_variable(f'{name}/bias', [units], initializer=_v1.zeros_initializer())
  return tf.matmul(x, kernel) + bias


def make_examples(n: int, seed: int = 0) -> List[tf.train.Example]:
  """`n` examples with the features the model parses (and a label it does not)."""
  rng = random.Random(seed)
  out = []
  for _ in range(n):
    out.append(tf.train.Example(features=tf.train.Features(feature={
        'user_id': tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[f'user-{rng.randrange(10**7)}'.encode()])),
        'price': tf.train.Feature(float_list=tf.train.FloatList(
            value=[round(rng.lognormvariate(3, 1), 2)])),
        'label': tf.train.Feature(float_list=tf.train.FloatList(value=[rng.random()])),
    })))
  return out


def variables_bytes(export_dir: str) -> int:
  """The size of the SavedModel's variables/ directory (0 when it has none)."""
  directory = os.path.join(export_dir, 'variables')
  if not os.path.isdir(directory):
    return 0
  return sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--out', help='export directory (default: a new temporary one)')
  parser.add_argument('--rows', type=int, default=ROWS, help='embedding table rows')
  parser.add_argument('--dim', type=int, default=DIM, help='embedding dimension')
  args = parser.parse_args(argv)
  export_dir = args.out or os.path.join(tempfile.mkdtemp(), 'big_model')
  build_big_model(export_dir, args.rows, args.dim)
  print(f'{export_dir}: variables {variables_bytes(export_dir) / 2**30:.2f} GiB')
  return 0


if __name__ == '__main__':
  sys.exit(main())
