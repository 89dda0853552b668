"""Demo Trainer module (legacy Keras): a click model with three serving signatures.

  serving_default  Predict, serialized tf.Example -> click probability
  classify         Classify API (method tensorflow/serving/classify): classes, scores
  predict_raw      Predict with named raw tensors, as Keras clients send them

Together they exercise every request kind ModelWarmer builds.
"""

import os

from tfx_warmup import compat  # Imports no TensorFlow.

compat.prefer_legacy_keras()  # Before TensorFlow is imported: Keras 2, as TFX trains with.

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tfx import v1 as tfx

# Keras 2, as TFX trains with it: tf_keras on TensorFlow >= 2.16, tf.keras before.
keras = compat.legacy_keras()

NUMERIC = {'age': tf.int64, 'income': tf.float32, 'daily_minutes': tf.float32}
CATEGORICAL = {
    'device': ['mobile', 'desktop', 'tablet'],
    'country': ['US', 'DE', 'IN', 'BR', 'JP', 'FR'],
    'ad_category': ['travel', 'finance', 'games', 'fashion', 'food', 'auto', 'tech', 'health'],
}
LABEL = 'clicked'
FEATURE_SPEC = {
    **{name: tf.io.FixedLenFeature([1], dtype) for name, dtype in NUMERIC.items()},
    **{name: tf.io.FixedLenFeature([1], tf.string) for name in CATEGORICAL},
}
# Rough scales of the numeric features, so no statistics pass is needed.
_SCALE = {'age': 50.0, 'income': 50000.0, 'daily_minutes': 60.0}
_BATCH_SIZE = 64


def _dataset(file_pattern, batch_size: int = _BATCH_SIZE) -> tf.data.Dataset:
  files = tf.io.gfile.glob(file_pattern)
  spec = dict(FEATURE_SPEC, **{LABEL: tf.io.FixedLenFeature([1], tf.int64)})
  return (tf.data.TFRecordDataset(files, compression_type='GZIP')
          .shuffle(4096, seed=0).repeat().batch(batch_size)
          .map(lambda records: tf.io.parse_example(records, spec))
          .map(lambda f: (f, tf.cast(f.pop(LABEL), tf.float32))))


def _build_model() -> keras.Model:
  inputs = {name: keras.Input(shape=(1,), dtype=dtype, name=name)
            for name, dtype in NUMERIC.items()}
  inputs.update({name: keras.Input(shape=(1,), dtype=tf.string, name=name)
                 for name in CATEGORICAL})
  parts = [keras.layers.Rescaling(1 / _SCALE[name])(tf.cast(inputs[name], tf.float32))
           for name in NUMERIC]
  parts += [keras.layers.StringLookup(vocabulary=vocab, output_mode='one_hot')(inputs[name])
            for name, vocab in CATEGORICAL.items()]
  x = keras.layers.Concatenate()(parts)
  x = keras.layers.Dense(16, activation='relu')(x)
  output = keras.layers.Dense(1, activation='sigmoid', name='probability')(x)
  model = keras.Model(inputs, output)
  model.compile(optimizer=keras.optimizers.Adam(0.01), loss='binary_crossentropy',
                metrics=[keras.metrics.AUC(name='auc')])
  return model


def _signatures(model: keras.Model):
  """The three serving signatures, all calling the same trained model."""

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve_examples(examples):
    return {'probabilities': model(tf.io.parse_example(examples, FEATURE_SPEC))}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='inputs')])
  def classify(inputs):
    probability = model(tf.io.parse_example(inputs, FEATURE_SPEC))
    scores = tf.concat([1 - probability, probability], axis=1)
    classes = tf.tile(tf.constant([['0', '1']]), [tf.shape(scores)[0], 1])
    return {'classes': classes, 'scores': scores}

  @tf.function(input_signature=[{name: tf.TensorSpec([None, 1], t.dtype, name=name)
                                 for name, t in model.input.items()}])
  def predict_raw(features):
    return {'probabilities': model(features)}

  return {'serving_default': serve_examples, 'classify': classify,
          'predict_raw': predict_raw}


def _mark_classify_method(export_dir: str, signature_name: str) -> None:
  """Gives `signature_name` TF Serving's Classify method name.

  tf.saved_model.save labels every signature 'tensorflow/serving/predict'; the
  Classify API (and its warmup records) is what TF Serving clients of
  Estimator-era models call, so the demo exports one.
  """
  path = os.path.join(export_dir, 'saved_model.pb')
  saved_model = saved_model_pb2.SavedModel.FromString(tf.io.gfile.GFile(path, 'rb').read())
  for meta_graph in saved_model.meta_graphs:
    meta_graph.signature_def[signature_name].method_name = (
        tf.saved_model.CLASSIFY_METHOD_NAME)
  with tf.io.gfile.GFile(path, 'wb') as f:
    f.write(saved_model.SerializeToString())


def run_fn(fn_args: tfx.components.FnArgs) -> None:
  """TFX Trainer entry point."""
  tf.keras.utils.set_random_seed(0)
  # Keras's epoch line goes to absl logging (the pipeline's log), not to stdout.
  keras.utils.disable_interactive_logging()
  model = _build_model()
  # tf_keras's steps are graph code already: AutoGraph need not rewrite them. TensorFlow
  # leaves the `keras` package alone but not `tf_keras` (TF >= 2.16), and rewriting its
  # layers costs ~15 s of CPU before the first step; the steps themselves are the same.
  for step in ('train_step', 'test_step'):
    setattr(model, step, tf.autograph.experimental.do_not_convert(getattr(model, step)))
  model.fit(_dataset(fn_args.train_files), steps_per_epoch=fn_args.train_steps,
            validation_data=_dataset(fn_args.eval_files),
            validation_steps=fn_args.eval_steps, verbose=2)
  tf.saved_model.save(model, fn_args.serving_model_dir, signatures=_signatures(model))
  _mark_classify_method(fn_args.serving_model_dir, 'classify')
