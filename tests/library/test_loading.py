"""A model TF Serving cannot load for its tag set is said in tfx-warmup's terms.

TF Serving's words name --saved_model_tags; ours name `tag_set`, and for TFMA's
EvalSavedModel (tag set 'eval', a Trainer's Format-TFMA/) the Format-Serving
export to warm instead.
"""

import os

import pytest
import tensorflow as tf

from tfx_warmup import library
from tfx_warmup import serving
from tfx_warmup.library import loading


def build_eval_saved_model(export_dir: str) -> str:
  """A SavedModel with only TFMA's 'eval' tag set, as a Trainer writes to Format-TFMA/."""
  with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as sess:
    examples = tf.compat.v1.placeholder(tf.string, [None], name='examples')
    age = tf.io.parse_example(examples, {'age': tf.io.FixedLenFeature([1], tf.float32)})['age']
    sig = tf.compat.v1.saved_model.signature_def_utils
    builder = tf.compat.v1.saved_model.Builder(export_dir)
    builder.add_meta_graph_and_variables(
        sess, [loading.EVAL_TAG],
        signature_def_map={'eval': sig.predict_signature_def({'examples': examples},
                                                             {'age': age})})
    builder.save()
  return export_dir


@pytest.fixture(scope='module')
def trainer_output(tmp_path_factory, tf1_model_dir):
  """A Trainer's model root: Format-Serving/ (a SavedModel), Format-TFMA/<timestamp>/."""
  root = tmp_path_factory.mktemp('trainer') / 'model'
  tf.io.gfile.makedirs(str(root / 'Format-Serving'))
  return str(root), build_eval_saved_model(str(root / 'Format-TFMA' / '1646034758'))


def test_an_eval_saved_model_names_the_format_serving_export_and_tag_set(trainer_output):
  root, eval_model = trainer_output
  with pytest.raises(serving.LoadError) as raised:
    library.plan_warmup(eval_model, library.WarmupOptions())
  message = str(raised.value)
  assert "it has [['eval']]" in message
  assert 'EvalSavedModel, exported for TFMA' in message
  assert f"warm the model exported for serving, {os.path.join(root, 'Format-Serving')}" in (
      message)
  assert "rather than setting tag_set to 'eval'" in message
  assert '--saved_model_tags' not in message


def test_another_missing_tag_set_names_tag_set(tf1_model_dir):
  with pytest.raises(serving.LoadError, match=r"has no MetaGraph with the tag set \['gpu', "
                     r"'serve'\].*Set tag_set to one of those") as raised:
    library.verify_model(tf1_model_dir, tags=['serve', 'gpu'])
  assert 'Format-TFMA' not in str(raised.value)


def test_a_load_failing_for_another_reason_is_the_replica_s_own(tmp_path):
  with pytest.raises(serving.LoadError, match='No SavedModel directory at'):
    loading.load(str(tmp_path / 'missing'))
