"""Privacy-minimal records: each keeps only what its signature parses, proven output-identical."""

import json
import os

import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from tests import models
from tfx_warmup import cli
from tfx_warmup.component import spec
from tfx_warmup.requests import parse_keys
from tfx_warmup import serving
from tfx_warmup.requests import signatures
from tfx_warmup.privacy import stripping
from tfx_warmup.serving import records as records_lib
from tfx_warmup.serving import warmup_file
from tfx_warmup.requests import build as warmup_requests
from tfx_warmup.errors import ConfigurationError
from tfx_warmup.requests.parse_keys import ParsedKeys

_V1 = tf.compat.v1
_SIG = _V1.saved_model.signature_def_utils
EMAIL = 'user_email'


def _with_email(examples, start: int = 0):
  """Serialized copies of `examples`, each with a user_email the model never reads."""
  out = []
  for i, example in enumerate(examples, start):
    copy = tf.train.Example()
    copy.CopyFrom(example)
    copy.features.feature[EMAIL].bytes_list.value.append(f'person{i}@example.com'.encode())
    out.append(copy.SerializeToString())
  return out


@pytest.fixture(scope='module')
def email_examples(tmp_path_factory, examples):
  return models.write_examples_artifact(str(tmp_path_factory.mktemp('email')),
                                        {'eval': _with_email(examples)})


def _warm(model_dir, examples_artifact, out, **options):
  warmed = models.run_executor(model_dir, examples_artifact, str(out), **options)
  model = os.path.join(str(out), 'Format-Serving')
  with open(warmup_file.warmup_file_path(model), 'rb') as f:
    raw = f.read()
  with open(os.path.join(str(out), 'warmup_report.json')) as f:
    report = json.load(f)
  return warmed, raw, report, model


# -- the executor: real models, real files ----------------------------------------------


def test_tf1_records_carry_only_the_three_parsed_features(tmp_path, tf1_model_dir,
                                                          email_examples):
  warmed, raw, report, model = _warm(tf1_model_dir, email_examples, tmp_path / 'out',
                                     batch_sizes=[1, 4])
  for unread in (EMAIL.encode(), b'@example.com', b'embedding', b'history', b'label'):
    assert unread not in raw, unread
  parsed = ['age', 'color', 'hours']
  assert report['warmup_file']['features'] == {
      'classify': parsed, 'classify+regress': parsed, 'regress': parsed,
      'serving_default': parsed}
  stripping_section = report['stripping']
  records = report['warmup_file']['records']
  assert stripping_section['records_proven'] == records  # Every record, not a sample.
  assert stripping_section['whole'] == {}
  assert stripping_section['dropped']['classify'] == ['embedding', 'history', 'label', EMAIL]
  assert stripping_section['bytes_after'] < 0.6 * stripping_section['bytes_before']
  assert report['validation']['records'] == records
  props = warmed.mlmd_artifact.custom_properties
  assert json.loads(props[spec.FEATURES_PROPERTY].string_value)['regress'] == parsed
  assert EMAIL in json.loads(props[spec.FEATURES_DROPPED_PROPERTY].string_value)['regress']
  assert (props[spec.BYTES_STRIPPED_PROPERTY].int_value, props[
      spec.BYTES_UNSTRIPPED_PROPERTY].int_value) == (stripping_section['bytes_after'],
                                                     stripping_section['bytes_before'])


def test_stripped_and_whole_files_answer_every_request_identically(tmp_path, tf1_model_dir,
                                                                   email_examples):
  _, _, _, stripped_model = _warm(tf1_model_dir, email_examples, tmp_path / 'stripped',
                                  batch_sizes=[2])
  _, whole_raw, report, whole_model = _warm(tf1_model_dir, email_examples, tmp_path / 'whole',
                                            batch_sizes=[2], strip_unread_features=False)
  assert EMAIL.encode() in whole_raw and report['stripping']['records_proven'] == 0
  assert report['stripping']['whole']['classify'] == 'strip_unread_features is off'
  stripped = warmup_file.read_warmup_file(warmup_file.warmup_file_path(stripped_model))
  whole = warmup_file.read_warmup_file(warmup_file.warmup_file_path(whole_model))
  assert len(stripped) == len(whole)
  with serving.load(tf1_model_dir) as servable:
    for a, b in zip(stripped, whole):
      assert a != b
      assert (servable.run_log(a).SerializeToString(deterministic=True) ==
              servable.run_log(b).SerializeToString(deterministic=True))


def test_keras_serialized_predict_is_stripped_raw_tensor_predict_carries_its_inputs(
    tmp_path, keras_model_dir, email_examples):
  _, raw, report, _ = _warm(keras_model_dir, email_examples, tmp_path / 'out', batch_sizes=[2])
  assert EMAIL.encode() not in raw and b'label' not in raw
  raw_features = sorted(models.RAW_FEATURE_SPEC)
  assert report['warmup_file']['features'] == {'predict_raw': raw_features,
                                               'serving_default': raw_features}
  assert report['stripping']['dropped'] == {'serving_default': ['label', EMAIL]}


def test_drop_features_removes_a_feature_even_with_stripping_off(tmp_path, tf1_model_dir,
                                                                 email_examples):
  _, raw, report, _ = _warm(tf1_model_dir, email_examples, tmp_path / 'out', batch_sizes=[1],
                            strip_unread_features=False, drop_features=[EMAIL])
  assert EMAIL.encode() not in raw and b'@example.com' not in raw
  assert b'label' in raw  # Not asked for: kept.
  assert report['stripping']['drop_features'] == [EMAIL]
  assert report['stripping']['records_proven'] == report['warmup_file']['records']


@pytest.mark.parametrize('model, feature, signature', [
    ('tf1', 'hours', 'classify'),         # A parse key.
    ('keras', 'age', 'predict_raw'),      # A raw-tensor input fed from that feature.
])
def test_dropping_a_feature_a_signature_reads_fails_before_any_data_is_read(
    tmp_path, tf1_model_dir, keras_model_dir, model, feature, signature):
  model_dir = tf1_model_dir if model == 'tf1' else keras_model_dir
  missing = models.write_examples_artifact(str(tmp_path / 'ex'), {'eval': []})
  missing.uri = str(tmp_path / 'no-such-examples')  # Reading it would fail otherwise.
  out = tmp_path / 'out'
  with pytest.raises(ConfigurationError) as error:
    models.run_executor(model_dir, missing, str(out), drop_features=['x', feature])
  message = str(error.value)
  assert f"drop_features lists '{feature}', but signature '{signature}'" in message
  assert 'Remove it from drop_features' in message
  assert not out.exists() or not os.listdir(out)


# -- the proof catches what the analysis gets wrong ----------------------------------------


def _tf1_records(tf1_model_dir, examples):
  return _records(tf1_model_dir, _with_email(examples[:8]))


def test_a_parse_key_the_analysis_missed_keeps_that_signature_whole(tf1_model_dir, examples,
                                                                    monkeypatch):
  real = parse_keys.signature_parse

  def missing_hours(meta_graph, name, input_key=None):
    found = real(meta_graph, name, input_key)
    if name != 'regress':
      return found
    return parse_keys.SignatureParse(name, ParsedKeys(features=found.keys.features - {'hours'}))

  monkeypatch.setattr(parse_keys, 'signature_parse', missing_hours)
  plan, records = _tf1_records(tf1_model_dir, examples)
  parses = parse_keys.signature_parses(serving.read_meta_graph(tf1_model_dir, ['serve']))
  keeps = stripping.plan_keeps(parses, plan.usable, True, [])
  assert 'hours' not in keeps['regress'].features
  with serving.load(tf1_model_dir) as servable:
    result = stripping.strip_and_prove(servable, records, keeps)
  section = result.section(True, [])
  assert list(section.whole) == ['regress']
  assert 'answered differently' in section.whole['regress']
  assert 'the parse analysis missed a feature' in section.whole['regress']
  carried = records_lib.features_carried(result.records)
  assert carried['regress'] == sorted(['age', 'color', 'embedding', 'history', 'hours',
                                       'label', EMAIL])
  # MultiInference shares the regress task: whole too. The others stay stripped.
  assert EMAIL in carried['classify+regress'] and EMAIL not in carried['classify']


def _graph(tmp_path, build):
  return models.build_graph_model(str(tmp_path / 'model'), build)


def _unparsed_model(tmp_path, length_matters: bool):
  """A Predict signature whose serialized input also reaches a string op (unknown keys)."""
  def build():
    serialized = _V1.placeholder(tf.string, [None], name='examples')
    age = tf.io.parse_example(serialized, {
        'age': tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])})['age']
    length = tf.cast(tf.strings.length(serialized), tf.float32)[:, None]
    out = age + (length if length_matters else 0.0 * length)
    return {'serving_default': _SIG.predict_signature_def({'examples': serialized},
                                                          {'out': out})}
  return _graph(tmp_path, build)


def _records(model_dir, serialized, batch_size=2):
  """(plan, whole records) of every signature of `model_dir` at `batch_size`."""
  plan = signatures.plan_signatures(serving.read_meta_graph(model_dir, ['serve']), model_dir)
  return plan, warmup_requests.build_warmup_records(
      serialized, warmup_requests.plan_combinations(plan.usable, [batch_size]))


def _prove(model_dir, serialized, drop=()):
  """(whole records, stripping.Stripped) of every signature at batch size 2, on `serialized`."""
  plan, records = _records(model_dir, serialized)
  parses = parse_keys.signature_parses(serving.read_meta_graph(model_dir, ['serve']))
  keeps = stripping.plan_keeps(parses, plan.usable, True, list(drop))
  with serving.load(model_dir) as servable:
    return records, stripping.strip_and_prove(servable, records, keeps)


def test_a_signature_whose_parse_cannot_be_read_keeps_whole_examples_with_the_reason(
    tmp_path, examples):
  model_dir = _unparsed_model(tmp_path, length_matters=False)
  records, result = _prove(model_dir, _with_email(examples[:4]), [EMAIL])
  assert result.keeps['serving_default'].is_whole
  assert 'StringLength op' in result.keeps['serving_default'].whole_reason
  carried = records_lib.features_carried(result.records)['serving_default']
  assert EMAIL not in carried and 'label' in carried  # Only the dropped one goes.
  assert result.records_proven == len(records)


def test_dropping_a_feature_an_unreadable_signature_turns_out_to_need_fails(tmp_path,
                                                                            examples):
  model_dir = _unparsed_model(tmp_path, length_matters=True)
  with pytest.raises(ConfigurationError) as error:
    _prove(model_dir, _with_email(examples[:4]), [EMAIL])
  message = str(error.value)
  assert f"drop_features lists '{EMAIL}', but signature 'serving_default'" in message
  assert 'output(s) out differ' in message and 'StringLength op' in message


def test_a_model_that_answers_one_record_two_ways_is_never_stripped(tmp_path, examples):
  def build():
    serialized = _V1.placeholder(tf.string, [None], name='examples')
    age = tf.io.parse_example(serialized, {
        'age': tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])})['age']
    return {'serving_default': _SIG.predict_signature_def(
        {'examples': serialized}, {'out': age + tf.random.uniform(tf.shape(age))})}
  model_dir = _graph(tmp_path, build)
  records, result = _prove(model_dir, _with_email(examples[:4]))
  assert 'the model answers the same record two ways' in result.keeps[
      'serving_default'].whole_reason
  assert [r.SerializeToString() for r in result.records] == [
      r.SerializeToString() for r in records]


def test_multi_inference_records_keep_the_union_of_their_tasks_features(tmp_path, examples):
  def build():
    serialized = _V1.placeholder(tf.string, [None], name='tf_example')
    age = tf.io.parse_example(serialized, {'age': tf.io.FixedLenFeature([1], tf.float32)})
    hours = tf.io.parse_example(serialized, {'hours': tf.io.FixedLenFeature([1], tf.int64)})
    score = tf.sigmoid(age['age'] * 0.1)
    return {
        'classify': _SIG.classification_signature_def(
            serialized, tf.tile(tf.constant([['0', '1']]), [tf.shape(score)[0], 1]),
            tf.concat([1 - score, score], 1)),
        'regress': _SIG.regression_signature_def(
            serialized, tf.squeeze(tf.cast(hours['hours'], tf.float32), 1)),
    }
  model_dir = _graph(tmp_path, build)
  records, result = _prove(model_dir, _with_email(examples[:4]))
  assert records_lib.features_carried(result.records) == {
      'classify': ['age'], 'classify+regress': ['age', 'hours'], 'regress': ['hours']}
  assert result.records_proven == len(records)


def test_sequence_examples_keep_only_parsed_context_and_feature_lists(tmp_path):
  def build():
    serialized = _V1.placeholder(tf.string, [None], name='sequences')
    context, lists, _ = tf.io.parse_sequence_example(
        serialized, context_features={'country': tf.io.FixedLenFeature([], tf.string)},
        sequence_features={'clicks': tf.io.FixedLenSequenceFeature([], tf.int64)})
    out = tf.cast(tf.strings.length(context['country']), tf.int64) + tf.reduce_sum(
        lists['clicks'], axis=1)
    return {'serving_default': _SIG.predict_signature_def({'sequences': serialized},
                                                          {'out': out})}
  model_dir = _graph(tmp_path, build)
  sequences = []
  for i in range(4):
    sequence = tf.train.SequenceExample()
    sequence.context.feature['country'].bytes_list.value.append(b'fr')
    sequence.context.feature[EMAIL].bytes_list.value.append(f'p{i}@example.com'.encode())
    for name in ('clicks', 'queries'):
      for step in (i, 1):
        sequence.feature_lists.feature_list[name].feature.add().int64_list.value.append(step)
    sequences.append(sequence.SerializeToString())
  records, result = _prove(model_dir, sequences)
  assert records_lib.features_carried(result.records) == {
      'serving_default': ['clicks', 'country']}
  assert result.dropped == {'serving_default': ['queries', EMAIL]}
  assert result.records_proven == len(records)


def test_stripping_never_changes_the_records_it_is_given(tf1_model_dir, examples):
  plan, records = _tf1_records(tf1_model_dir, examples)
  before = [r.SerializeToString() for r in records]
  parses = parse_keys.signature_parses(serving.read_meta_graph(tf1_model_dir, ['serve']))
  keeps = stripping.plan_keeps(parses, plan.usable, True, [EMAIL])
  stripped = [stripping.strip_record(r, keeps) for r in records]
  assert [r.SerializeToString() for r in records] == before
  assert all(len(s.SerializeToString()) < len(b) for s, b in zip(stripped, before))


# -- what a user sees ----------------------------------------------------------------------


def test_inspect_lists_the_features_each_signature_carries(tmp_path, tf1_model_dir,
                                                           email_examples, capfd, monkeypatch):
  _, _, _, model = _warm(tf1_model_dir, email_examples, tmp_path / 'out', batch_sizes=[1])
  monkeypatch.setenv('COLUMNS', '200')  # Wide enough for one line per feature set.
  assert cli.main(['inspect', model]) == 0
  out = capfd.readouterr().out
  assert 'Features the records carry:' in out
  # Signatures sharing a feature set share a row.
  assert 'classify, classify+regress, regress, serving_default  age, color, hours' in out
  assert cli.main(['inspect', model, '--json']) == 0
  report = json.loads(capfd.readouterr().out)
  assert report['warmup_file']['features']['serving_default'] == ['age', 'color', 'hours']


def test_features_of_a_predict_record_of_raw_tensors_are_its_input_aliases():
  record = prediction_log_pb2.PredictionLog()
  request = record.predict_log.request
  request.model_spec.signature_name = 'predict_raw'
  request.inputs['age'].CopyFrom(tf.make_tensor_proto([[30.0]]))
  request.inputs['query'].CopyFrom(tf.make_tensor_proto([b'shoes']))
  assert records_lib.record_features(record) == {'age', 'query'}


def test_a_record_that_fails_whole_is_written_whole_for_the_replay_to_report(tmp_path, examples):
  def build():
    serialized = _V1.placeholder(tf.string, [None], name='examples')
    age = tf.io.parse_example(serialized, {'age': tf.io.FixedLenFeature([1], tf.float32)})['age']
    return {'serving_default': _SIG.predict_signature_def({'examples': serialized},
                                                          {'out': age * 2})}
  model_dir = _graph(tmp_path, build)
  serialized = _with_email(examples[:4])
  broken = tf.train.Example.FromString(serialized[1])
  del broken.features.feature['age']  # Required by the parse: the whole record fails.
  serialized[1] = broken.SerializeToString()
  records, result = _prove(model_dir, serialized)
  assert result.records[0] == records[0]  # Examples 0 and 1: fails whole, left whole.
  assert result.records[1] != records[1] and result.records_proven == 1


@pytest.mark.parametrize('existing_warmup', ['keep', 'merge'])
def test_a_kept_warmup_file_carrying_a_dropped_feature_is_refused(tmp_path, tf1_model_dir,
                                                                  email_examples, examples,
                                                                  existing_warmup):
  _, records = _tf1_records(tf1_model_dir, examples)  # Whole examples, e-mail included.
  own = models.copy_with_warmup(tf1_model_dir, str(tmp_path / 'own'), records[:3])
  out = tmp_path / 'out'
  with pytest.raises(ConfigurationError) as error:
    models.run_executor(own, email_examples, str(out), existing_warmup=existing_warmup,
                        drop_features=[EMAIL])
  assert (f"drop_features lists '{EMAIL}', but the input model's own warmup file carries it"
          in str(error.value))
  assert "existing_warmup='replace'" in str(error.value)
  assert not out.exists() or not os.listdir(out)


def test_dropping_a_feature_from_a_model_that_answers_two_ways_cannot_be_proven(tmp_path,
                                                                               examples):
  def build():  # A string op on the input (its parse cannot be read) and a random output.
    serialized = _V1.placeholder(tf.string, [None], name='examples')
    length = tf.cast(tf.strings.length(serialized), tf.float32)[:, None]
    return {'serving_default': _SIG.predict_signature_def(
        {'examples': serialized}, {'out': 0.0 * length + tf.random.uniform(tf.shape(length))})}
  model_dir = _graph(tmp_path, build)
  with pytest.raises(ConfigurationError) as error:
    _prove(model_dir, _with_email(examples[:4]), [EMAIL])
  message = str(error.value)
  assert "signature 'serving_default' cannot be proven to answer the same without it" in message
  assert 'the model answers the same record two ways' in message


def test_a_fallback_reaches_the_records_proven_before_it(tmp_path, monkeypatch):
  """Record 0 proves harmless (its examples lack the parse key the analysis missed), record 1
  does not: the signature keeps whole examples, and record 0 is written whole again too."""
  def build():
    serialized = _V1.placeholder(tf.string, [None], name='examples')
    parsed = tf.io.parse_example(serialized, {
        'age': tf.io.FixedLenFeature([1], tf.float32),
        'hours': tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])})
    return {'serving_default': _SIG.predict_signature_def(
        {'examples': serialized}, {'out': parsed['age'] + parsed['hours']})}
  model_dir = _graph(tmp_path, build)
  real = parse_keys.signature_parse

  def missing_hours(meta_graph, name, input_key=None):
    found = real(meta_graph, name, input_key)
    return parse_keys.SignatureParse(name, ParsedKeys(features=found.keys.features - {'hours'}))

  monkeypatch.setattr(parse_keys, 'signature_parse', missing_hours)
  serialized = []
  for i in range(4):
    example = tf.train.Example()
    example.features.feature['age'].float_list.value.append(float(i))
    if i >= 2:  # Only record 1's examples carry the feature the analysis missed.
      example.features.feature['hours'].float_list.value.append(5.0)
    example.features.feature[EMAIL].bytes_list.value.append(f'p{i}@example.com'.encode())
    serialized.append(example.SerializeToString())
  records, result = _prove(model_dir, serialized)
  assert len(records) == 2
  assert 'record 1: output(s) out differ' in result.keeps['serving_default'].whole_reason
  assert [r.SerializeToString() for r in result.records] == [
      r.SerializeToString() for r in records]  # Record 0 too, though proven stripped first.
  assert (result.records_proven, result.records_unchanged, result.dropped) == (0, 2, {})
