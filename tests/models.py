"""Small SavedModels and Examples built by tests (and benchmarks), never committed.

The examples carry: age (float, 1), hours (int64, 1), color (bytes, 1),
embedding (float, 3), history (int64, variable length) and label (int64, 1).
"""

import os
import random
import shutil
from typing import Dict, List, Optional, Sequence

import tensorflow as tf
from tfx import components as tfx_components
from tfx.types import artifact_utils
from tfx.types import standard_artifacts

from tfx_warmup import compat
from tfx_warmup.component import spec
from tfx_warmup.component import executor
from tfx_warmup.serving import warmup_file
from tfx_warmup.options.warmup_options import WarmupOptions

COLORS = ('red', 'green', 'blue')


def make_example(rng: random.Random) -> tf.train.Example:
  features = {
      'age': tf.train.Feature(float_list=tf.train.FloatList(value=[rng.uniform(18, 90)])),
      'hours': tf.train.Feature(int64_list=tf.train.Int64List(value=[rng.randint(0, 80)])),
      'color': tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[rng.choice(COLORS).encode()])),
      'embedding': tf.train.Feature(float_list=tf.train.FloatList(
          value=[rng.gauss(0, 1) for _ in range(3)])),
      'history': tf.train.Feature(int64_list=tf.train.Int64List(
          value=[rng.randint(0, 9) for _ in range(rng.randint(1, 5))])),
      'label': tf.train.Feature(int64_list=tf.train.Int64List(value=[rng.randint(0, 1)])),
  }
  return tf.train.Example(features=tf.train.Features(feature=features))


def make_examples(count: int, seed: int = 0) -> List[tf.train.Example]:
  rng = random.Random(seed)
  return [make_example(rng) for _ in range(count)]


def write_examples_artifact(uri: str, splits: Dict[str, Sequence[bytes]],
                            gzip: bool = True, shards: int = 1
                            ) -> standard_artifacts.Examples:
  """An Examples artifact laid out as ExampleGen writes it (Split-<name>/ shards)."""
  for split, records in splits.items():
    split_dir = os.path.join(uri, f'Split-{split}')
    os.makedirs(split_dir, exist_ok=True)
    options = tf.io.TFRecordOptions(compression_type='GZIP' if gzip else '')
    for shard in range(shards):
      name = f'data_tfrecord-{shard:05d}-of-{shards:05d}' + ('.gz' if gzip else '')
      with tf.io.TFRecordWriter(os.path.join(split_dir, name), options) as writer:
        for record in list(records)[shard::shards]:
          writer.write(record)
  artifact = standard_artifacts.Examples()
  artifact.uri = uri
  artifact.split_names = artifact_utils.encode_split_names(list(splits))
  return artifact


def model_artifact(uri: str) -> standard_artifacts.Model:
  artifact = standard_artifacts.Model()
  artifact.uri = uri
  return artifact


def build_tf1_model(export_dir: str) -> str:
  """A TF1-builder (Estimator-style) model: classify, regress and predict signatures.

  All three read serialized tf.Examples from one placeholder; 'color' is looked
  up in a vocabulary file shipped as a SavedModel asset.
  """
  vocab = os.path.join(os.path.dirname(export_dir.rstrip('/')), 'colors.txt')
  os.makedirs(os.path.dirname(vocab), exist_ok=True)
  with open(vocab, 'w') as f:
    f.write('\n'.join(COLORS) + '\n')
  with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as sess:
    serialized = tf.compat.v1.placeholder(tf.string, [None], name='tf_example')
    parsed = tf.io.parse_example(serialized, {
        'age': tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
        'hours': tf.io.FixedLenFeature([1], tf.int64, default_value=[0]),
        'color': tf.io.FixedLenFeature([1], tf.string, default_value=['']),
    })
    # TextFileInitializer registers the file in ASSET_FILEPATHS itself; adding it again
    # would list it twice, and TF Serving's C++ loader refuses a tensor fed twice.
    vocab_tensor = tf.constant(vocab, name='color_vocab')
    table = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
        vocab_tensor, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
        tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER), default_value=-1)
    color_id = tf.cast(table.lookup(parsed['color']), tf.float32)
    weights = tf.compat.v1.get_variable(
        'weights', initializer=tf.constant([[0.03], [0.01], [0.5]]))
    bias = tf.compat.v1.get_variable('bias', initializer=tf.constant(-1.0))
    x = tf.concat([parsed['age'], tf.cast(parsed['hours'], tf.float32), color_id], 1)
    logits = tf.matmul(x, weights) + bias
    probability = tf.sigmoid(logits)
    scores = tf.concat([1 - probability, probability], 1)
    classes = tf.tile(tf.constant([['0', '1']]), [tf.shape(scores)[0], 1])
    sess.run(tf.compat.v1.global_variables_initializer())
    sig = tf.compat.v1.saved_model.signature_def_utils
    builder = tf.compat.v1.saved_model.Builder(export_dir)
    builder.add_meta_graph_and_variables(
        sess, [tf.saved_model.SERVING],
        signature_def_map={
            'classify': sig.classification_signature_def(serialized, classes, scores),
            'regress': sig.regression_signature_def(serialized, tf.squeeze(logits, 1)),
            'serving_default': sig.predict_signature_def(
                {'examples': serialized},
                {'probabilities': probability, 'logits': logits}),
        },
        assets_collection=tf.compat.v1.get_collection(
            tf.compat.v1.GraphKeys.ASSET_FILEPATHS),
        main_op=tf.compat.v1.tables_initializer())
    builder.save()
  return export_dir


def _keras():
  return compat.legacy_keras()


RAW_FEATURE_SPEC = {
    'age': tf.io.FixedLenFeature([1], tf.float32),
    'hours': tf.io.FixedLenFeature([1], tf.int64),
    'color': tf.io.FixedLenFeature([1], tf.string),
    'embedding': tf.io.FixedLenFeature([3], tf.float32),
    'history': tf.io.VarLenFeature(tf.int64),
}


def build_keras_model(export_dir: str) -> str:
  """A tf_keras model with raw inputs (float, int64, string; [-1,1], [-1,3], [-1,-1]).

  Signatures: 'serving_default' parses serialized tf.Examples; 'predict_raw'
  takes the named tensors directly, as Keras clients send them.
  """
  keras = _keras()
  inputs = {
      'age': keras.Input(shape=(1,), dtype=tf.float32, name='age'),
      'hours': keras.Input(shape=(1,), dtype=tf.int64, name='hours'),
      'color': keras.Input(shape=(1,), dtype=tf.string, name='color'),
      'embedding': keras.Input(shape=(3,), dtype=tf.float32, name='embedding'),
      'history': keras.Input(shape=(None,), dtype=tf.int64, name='history'),
  }
  color = keras.layers.StringLookup(vocabulary=list(COLORS), output_mode='one_hot')(
      inputs['color'])
  history = keras.layers.Lambda(
      lambda h: tf.reduce_sum(tf.cast(h, tf.float32), axis=1, keepdims=True))(
          inputs['history'])
  hours = keras.layers.Lambda(lambda h: tf.cast(h, tf.float32))(inputs['hours'])
  x = keras.layers.Concatenate()([inputs['age'], hours, color, inputs['embedding'], history])
  x = keras.layers.Dense(8, activation='relu')(x)
  output = keras.layers.Dense(1, activation='sigmoid', name='probability')(x)
  model = keras.Model(inputs, output)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve_examples(examples):
    features = tf.io.parse_example(examples, RAW_FEATURE_SPEC)
    features['history'] = tf.sparse.to_dense(features['history'])
    return {'probabilities': model(features)}

  @tf.function(input_signature=[{k: tf.TensorSpec(v.shape, v.dtype, name=k)
                                 for k, v in inputs.items()}])
  def serve_raw(features):
    return {'probabilities': model(features)}

  tf.saved_model.save(model, export_dir, signatures={
      'serving_default': serve_examples, 'predict_raw': serve_raw})
  return export_dir


def build_keras3_model(export_dir: str, use_export: bool) -> str:
  """A Keras 3 model on the 'embedding' feature, exported one of two ways.

  use_export=False is the trap: tf.saved_model.save of a Keras 3 model loads
  in TF Serving but every request fails ("Could not find variable").
  use_export=True is the fix: model.export (Keras 3's ExportArchive).
  """
  if compat.keras_major_version() < 3:
    raise RuntimeError('Keras 3 is installed only beside TensorFlow >= 2.16 (TFX 1.16): mark '
                       'the test tfx116, which `make test-compat` deselects.')
  import keras  # Keras 3, beside tf_keras.
  inputs = keras.Input(shape=(3,), name='embedding')
  model = keras.Model(inputs, keras.layers.Dense(2, name='dense')(inputs))
  if use_export:
    model.export(export_dir)
  else:
    tf.saved_model.save(model, export_dir)
  return export_dir


def build_graph_model(export_dir: str, build, soft_placement: bool = False) -> str:
  """A TF1-builder SavedModel: `build()` makes the graph and returns its signature_def_map.

  Variables are initialised before saving; `main_op` initialises tables.
  `soft_placement` lets a graph pinned to a missing device be built here.
  """
  config = tf.compat.v1.ConfigProto(allow_soft_placement=soft_placement)
  with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph,
                                                             config=config) as sess:
    signature_def_map = build()
    sess.run(tf.compat.v1.global_variables_initializer())
    builder = tf.compat.v1.saved_model.Builder(export_dir)
    builder.add_meta_graph_and_variables(
        sess, [tf.saved_model.SERVING], signature_def_map=signature_def_map,
        main_op=tf.compat.v1.tables_initializer())
    builder.save()
  return export_dir


def build_sequence_parse_model(export_dir: str) -> str:
  """A Predict signature parsing SequenceExamples: context 'user', feature list 'clicks'."""
  def build():
    serialized = tf.compat.v1.placeholder(tf.string, [None], name='examples')
    context, lists, _ = tf.io.parse_sequence_example(
        serialized, context_features={'user': tf.io.FixedLenFeature([], tf.float32,
                                                                    default_value=0.0)},
        sequence_features={'clicks': tf.io.RaggedFeature(tf.int64)})
    return {'serving_default': tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(
        {'examples': serialized}, {'user': context['user'], 'clicks': lists['clicks'].values})}
  return build_graph_model(export_dir, build)


def build_versioned_model(export_dir: str) -> str:
  """A Predict model that also returns a scalar `model_version`: fine unbatched, not batched.

  TF Serving's server-side batching splits every output along its 0th
  dimension, so the scalar fails each request with FAILED_PRECONDITION.
  """
  def build():
    examples = tf.compat.v1.placeholder(tf.string, [None], name='examples')
    age = tf.io.parse_example(examples, {'age': tf.io.FixedLenFeature([1], tf.float32)})['age']
    sig = tf.compat.v1.saved_model.signature_def_utils
    return {'serving_default': sig.predict_signature_def(
        {'examples': examples},
        {'score': tf.sigmoid(age * 0.1 - 5.0), 'model_version': tf.constant(7, tf.int64)})}
  return build_graph_model(export_dir, build)


def copy_with_warmup(model_dir: str, target: str, records=None, raw: bytes = None) -> str:
  """A copy of the SavedModel at `model_dir` whose warmup file holds `records` (or `raw` bytes)."""
  shutil.copytree(model_dir, target)
  path = warmup_file.warmup_file_path(target)
  if records is not None:
    warmup_file.write_warmup_file(path, records)
  if raw is not None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
      f.write(raw)
  return target


def build_scalar_model(export_dir: str) -> str:
  """A SavedModel whose one signature, 'only', takes a scalar: nothing TF Serving can batch."""
  class Scalar(tf.Module):

    @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
    def scalar(self, x):
      return {'y': x * 2}

  module = Scalar()
  tf.saved_model.save(module, export_dir, signatures={'only': module.scalar})
  return export_dir


def run_executor(model_uri: str, examples: Optional[standard_artifacts.Examples], out_uri: str,
                 baseline_uri: Optional[str] = None, traffic_uri: Optional[str] = None,
                 **options) -> standard_artifacts.Model:
  """Runs ModelWarmer's executor as TFX does; returns the `warmed_model` artifact.

  `options` are WarmupOptions fields; measuring (two fresh processes) is off
  unless asked for. `baseline_uri`: a Model artifact for the baseline_model input;
  `traffic_uri`: an InferenceResult for the traffic input.
  """
  options.setdefault('measure', False)
  warmed = standard_artifacts.Model()
  warmed.uri = out_uri
  inputs = {spec.MODEL_KEY: [model_artifact(model_uri)]}
  if examples is not None:
    inputs[spec.EXAMPLES_KEY] = [examples]
  if baseline_uri:
    inputs[spec.BASELINE_MODEL_KEY] = [model_artifact(baseline_uri)]
  if traffic_uri:
    traffic = standard_artifacts.InferenceResult()
    traffic.uri = traffic_uri
    inputs[spec.TRAFFIC_KEY] = [traffic]
  executor.Executor().Do(inputs, {spec.WARMED_MODEL_KEY: [warmed]},
                         WarmupOptions(**options).to_exec_properties())
  return warmed


# The models and Examples the installed tfx wheel ships for its own tests: real users' layouts
# (an Estimator export under trainer/current, a Keras penguin under trainer/keras, ExampleGen
# outputs under csv_example_gen and penguin/data).
TFX_TESTDATA = os.path.join(os.path.dirname(tfx_components.__file__), 'testdata')


def tfx_testdata(*parts: str) -> str:
  """A path under TFX_TESTDATA, which only the tfx 1.16 wheel ships (tests marked tfx116)."""
  path = os.path.join(TFX_TESTDATA, *parts)
  if not os.path.exists(path):
    raise FileNotFoundError(
        f'the installed tfx wheel ships no components/testdata/{"/".join(parts)} (tfx < 1.16 '
        'ships none): mark the test tfx116, which `make test-compat` deselects.')
  return path
