"""Examples that do not match a signature's parse are the data's fault, and are said to be."""

import json
import os

import pytest
import tensorflow as tf

from tests import models
from tfx_warmup.component import spec
from tfx_warmup.requests import example_fit
from tfx_warmup.errors import ExamplesError

_SIG = tf.compat.v1.saved_model.signature_def_utils


def _parse_error(spec_, example: tf.train.Example) -> str:
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    tf.io.parse_example([example.SerializeToString()], spec_)
  return error.value.message


def _example(**features) -> tf.train.Example:
  example = tf.train.Example()
  for key, values in features.items():
    feature = example.features.feature[key]
    if isinstance(values[0], float):
      feature.float_list.value.extend(values)
    else:
      feature.int64_list.value.extend(values)
  return example


@pytest.mark.parametrize('example,expected', [
    (_example(age=[1.0]), "feature 'label' is parsed (as int64), but the sampled examples "
                          'lack it'),
    (_example(age=[1.0], label=[0.5]), "feature 'label' is parsed as int64; the examples hold "
                                       'float'),
    (_example(age=[1.0, 2.0], label=[1]), "feature 'age' is parsed as float of shape [1]; the "
                                          'examples hold 2 values'),
])
def test_tensorflow_parse_errors_are_read_as_mismatches(example, expected):
  message = _parse_error({'label': tf.io.FixedLenFeature([1], tf.int64),
                          'age': tf.io.FixedLenFeature([1], tf.float32)}, example)
  assert example_fit.diagnose(message).describe() == expected


def test_a_varlen_feature_of_another_type_is_a_mismatch():
  """TF's slow path words it "Expected type: int64, Actual type: float" (TFX's taxi model)."""
  message = _parse_error({'trip_seconds': tf.io.VarLenFeature(tf.int64)},
                         _example(trip_seconds=[1.0]))
  assert 'Actual type' in message
  assert example_fit.diagnose(message).describe() == (
      "feature 'trip_seconds' is parsed as int64; the examples hold float")


def _sequence(context=None, lists=None) -> bytes:
  sequence = tf.train.SequenceExample()
  for key, values in (context or {}).items():
    sequence.context.feature[key].float_list.value.extend(values)
  for key, steps in (lists or {}).items():
    for values in steps:
      sequence.feature_lists.feature_list[key].feature.add().int64_list.value.extend(values)
  return sequence.SerializeToString()


@pytest.mark.parametrize('context,lists,serialized,expected', [
    ({'age': tf.io.FixedLenFeature([1], tf.int64)}, {}, _sequence(context={'age': [1.0]}),
     "feature 'age' is parsed as int64; the examples hold another type"),
    ({'age': tf.io.FixedLenFeature([1], tf.int64)}, {}, _sequence(context={'x': [1.0]}),
     "feature 'age' is parsed (as 1 value), but the sampled examples lack it"),
    ({}, {'clicks': tf.io.FixedLenSequenceFeature([1], tf.int64)},
     _sequence(lists={'other': [[1]]}),
     "feature 'clicks' is parsed (as a feature list), but the sampled examples lack it"),
    ({}, {'clicks': tf.io.FixedLenSequenceFeature([1], tf.int64)},
     _sequence(lists={'clicks': [[1, 2]]}),
     "feature 'clicks' is parsed as shape [1]; the examples hold 2 values"),
])
def test_sequence_example_parse_errors_are_read_as_mismatches(context, lists, serialized,
                                                              expected):
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    tf.io.parse_sequence_example([serialized], context, lists)
  assert example_fit.diagnose(error.value.message).describe() == expected


def test_other_errors_are_not_mismatches():
  assert example_fit.diagnose('Expects arg[0] to be float but double is provided') is None


def _build_transform_like():
  """serving_default parses what serving data has; transform_features also needs the label."""
  serialized = tf.compat.v1.placeholder(tf.string, [None], name='examples')
  features = tf.io.parse_example(serialized, {
      'age': tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])})
  with_label = tf.io.parse_example(serialized, {
      'age': tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
      'label': tf.io.FixedLenFeature([1], tf.int64)})
  return {
      'serving_default': _SIG.predict_signature_def(
          {'examples': serialized}, {'score': tf.sigmoid(features['age'] * 0.1)}),
      'transform_features': _SIG.predict_signature_def(
          {'examples': serialized},
          {'age': with_label['age'], 'label': with_label['label']}),
  }


@pytest.fixture(scope='module')
def transform_like_model(tmp_path_factory):
  root = tmp_path_factory.mktemp('transform_like')
  models.build_graph_model(str(root / 'Format-Serving'), _build_transform_like)
  return str(root)


@pytest.fixture(scope='module')
def serving_data(tmp_path_factory, examples):
  """Examples as served: no label."""
  unlabelled = []
  for example in examples[:40]:
    copy = tf.train.Example.FromString(example.SerializeToString())
    del copy.features.feature['label']
    unlabelled.append(copy.SerializeToString())
  return models.write_examples_artifact(str(tmp_path_factory.mktemp('serving_data')),
                                        {'eval': unlabelled})


def test_a_signature_the_data_cannot_feed_is_left_out_with_its_reason(
    transform_like_model, serving_data, tmp_path):
  warmed = models.run_executor(transform_like_model, serving_data, str(tmp_path / 'out'),
                               num_examples=8, batch_sizes=[1, 4])
  with open(os.path.join(warmed.uri, 'warmup_report.json')) as f:
    report = json.load(f)
  assert report['signatures']['warmed'] == ['serving_default']
  reason = report['signatures']['skipped']['transform_features']
  assert "feature 'label' is parsed (as int64), but the sampled examples lack it" in reason
  recorded = json.loads(warmed.get_string_custom_property(spec.SIGNATURES_SKIPPED_PROPERTY))
  assert recorded == {'transform_features': reason}
  assert {row['signature'] for row in report['warmup_file']['summary']} == {'serving_default'}


def test_a_named_signature_the_data_cannot_feed_fails_naming_the_feature(
    transform_like_model, serving_data, tmp_path):
  out = tmp_path / 'out'
  with pytest.raises(ExamplesError, match=r"The examples \(the Examples artifact at "
                     f"{serving_data.uri}\\) do not match what signature 'transform_features' "
                     r"parses: feature 'label' is parsed \(as int64\), but the sampled "
                     'examples lack it'):
    models.run_executor(transform_like_model, serving_data, str(out), num_examples=8,
                        batch_sizes=[1], signature_names=['transform_features'])
  assert not out.exists() or not os.listdir(out)


def test_when_no_signature_is_left_each_is_listed_with_why(tf1_model_dir, examples, tmp_path):
  floats = []
  for example in examples[:20]:  # 'hours' as floats: the model parses int64.
    copy = tf.train.Example.FromString(example.SerializeToString())
    copy.features.feature['hours'].ClearField('int64_list')
    copy.features.feature['hours'].float_list.value.append(3.0)
    floats.append(copy.SerializeToString())
  artifact = models.write_examples_artifact(str(tmp_path / 'floats'), {'eval': floats})
  with pytest.raises(ExamplesError) as error:
    models.run_executor(os.path.dirname(tf1_model_dir), artifact, str(tmp_path / 'out'),
                        num_examples=8, batch_sizes=[1])
  message = str(error.value)
  assert message.startswith(f'No signature can be warmed with these examples (the Examples '
                            f'artifact at {artifact.uri}).')
  # Signatures failing alike are listed together, the reason and its fix said once.
  assert ("Signatures 'classify', 'regress' and 'serving_default': feature 'hours' is parsed "
          'as int64; the examples hold float.') in message
  assert message.count('is parsed as int64') == 1
  assert message.count('another schema') == 1
