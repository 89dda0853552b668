"""A sample sharing no feature with what a signature parses: the run fails (the examples
would warm only defaults); sharing few is warned about, logged and reported. The shares
themselves are tested in test_feature_coverage; `example_fit.unshared_feature_warnings`
below tells the same "none shared" case from the parse keys alone."""

import json
import os

from absl import logging
import pytest
import tensorflow as tf
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2

from tests import models
from tfx_warmup import serving
from tfx_warmup.component import spec
from tfx_warmup.errors import ExamplesError
from tfx_warmup.requests import parse_keys
from tfx_warmup.requests import example_fit
from tfx_warmup.requests import signatures
from tfx_warmup.requests import build as warmup_requests

_SEQUENCE = example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE
_SIG = tf.compat.v1.saved_model.signature_def_utils


def _sequence_example(context: dict, lists: dict) -> bytes:
  example = tf.train.SequenceExample()
  for key, value in context.items():
    feature = example.context.feature[key]
    if isinstance(value, bytes):
      feature.bytes_list.value.append(value)
    elif isinstance(value, int):
      feature.int64_list.value.append(value)
    else:
      feature.float_list.value.append(value)
  for key, values in lists.items():
    for value in values:
      example.feature_lists.feature_list[key].feature.add().int64_list.value.append(value)
  return example.SerializeToString()


def _sequence_artifact(uri: str, *context_keys: str):
  """SequenceExamples whose context holds `context_keys` (the tf1 model's, typed as it
  parses them; any other as a float) and 'country', and a 'clicks' feature list."""
  typed = {'age': float, 'hours': int, 'color': lambda i: b'red'}
  records = [_sequence_example({**{k: typed.get(k, float)(i) for k in context_keys},
                                'country': 1.0}, {'clicks': [i, 2]})
             for i in range(40)]
  artifact = models.write_examples_artifact(uri, {'eval': records})
  examples_utils.set_payload_format(artifact, _SEQUENCE)
  return artifact


def _report(warmed) -> dict:
  with open(os.path.join(warmed.uri, 'warmup_report.json')) as f:
    return json.load(f)


def _combinations(model_dir: str, payload_format: int = _SEQUENCE):
  plan = signatures.plan_signatures(serving.read_meta_graph(model_dir, ['serve']), model_dir,
                                    payload_format=payload_format)
  return warmup_requests.plan_combinations(plan.usable, [1])


def test_sequence_examples_sharing_no_feature_fail_the_run_with_the_cause(
    tf1_model_dir, tmp_path):
  """The tf1 model parses age/hours/color with defaults: SequenceExamples would run, on
  defaults only, warming nothing real requests run; so the run fails (feature_coverage)."""
  artifact = _sequence_artifact(str(tmp_path / 'data'), 'user_id')
  out = tmp_path / 'out'
  out.mkdir()
  with pytest.raises(ExamplesError) as error:
    models.run_executor(os.path.dirname(tf1_model_dir), artifact, str(out), num_examples=8,
                        batch_sizes=[1, 4])
  assert ("carry none of the features signature 'serving_default' parses (3: age, color, "
          'hours); they hold clicks, country, user_id.') in str(error.value)
  assert 'SequenceExamples fed to a signature that parses tf.Examples' in str(error.value)
  assert os.listdir(out) == []


def test_sequence_examples_whose_context_holds_a_parsed_feature_count_it(
    tf1_model_dir, tmp_path, monkeypatch):
  """A tf.Example parse reads a SequenceExample's context: 'age' counts, 1 of 3 is warned."""
  logged = []
  monkeypatch.setattr(logging, 'warning', lambda msg, *args: logged.append(msg % args))
  artifact = _sequence_artifact(str(tmp_path / 'data'), 'age')
  warmed = models.run_executor(os.path.dirname(tf1_model_dir), artifact,
                               str(tmp_path / 'out'), num_examples=8, batch_sizes=[1])
  report = _report(warmed)
  assert report['signatures']['warmed'] == ['serving_default']  # The run succeeds.
  assert report['signatures']['feature_coverage'] == {
      'serving_default': {'share': 0.3333, 'parsed': 3, 'missing': ['color', 'hours']}}
  warning = report['signatures']['warnings']['serving_default']
  assert warning.startswith('the sampled examples carry 1 of the 3 features it parses '
                            '(33%, below 50%); missing: color, hours.')
  assert json.loads(warmed.get_string_custom_property(spec.WARNINGS_PROPERTY)) == {
      'serving_default': warning}
  assert f"Signature 'serving_default': {warning}." in logged


def test_sequence_examples_whose_context_holds_every_parsed_feature_do_not_warn(
    tf1_model_dir, tmp_path):
  artifact = _sequence_artifact(str(tmp_path / 'data'), 'age', 'hours', 'color')
  warmed = models.run_executor(os.path.dirname(tf1_model_dir), artifact,
                               str(tmp_path / 'out'), num_examples=8, batch_sizes=[1])
  assert _report(warmed)['signatures']['warnings'] == {}
  assert json.loads(warmed.get_string_custom_property(spec.WARNINGS_PROPERTY)) == {}


def test_matching_tf_examples_do_not_warn(tf1_model_dir, examples, tmp_path):
  artifact = models.write_examples_artifact(
      str(tmp_path / 'data'), {'eval': [e.SerializeToString() for e in examples[:20]]})
  warmed = models.run_executor(os.path.dirname(tf1_model_dir), artifact,
                               str(tmp_path / 'out'), num_examples=8, batch_sizes=[1])
  report = _report(warmed)
  assert {'classify', 'regress', 'serving_default'} <= set(report['signatures']['warmed'])
  assert report['signatures']['warnings'] == {}


@pytest.mark.parametrize('context,lists,warned', [
    ({'user_id': 1.0}, {'clicks': [1]}, True),
    ({'age': 1.0}, {}, False),         # A tf.Example parse reads the context field.
    ({}, {'age': [1]}, True),          # A feature list is not a tf.Example feature.
])
def test_only_tf_example_features_or_context_count_for_a_tf_example_parse(
    tf1_model_dir, context, lists, warned):
  meta_graph = serving.read_meta_graph(tf1_model_dir, ['serve'])
  warnings = example_fit.unshared_feature_warnings(
      parse_keys.signature_parses(meta_graph), _combinations(tf1_model_dir),
      [_sequence_example(context, lists)], _SEQUENCE)
  assert bool(warnings) == warned
  assert set(warnings) <= {'serving_default'}


def test_a_sequence_parse_is_matched_on_context_and_feature_lists(tmp_path):
  model_dir = models.build_sequence_parse_model(str(tmp_path / 'seq'))
  meta_graph = serving.read_meta_graph(model_dir, ['serve'])
  combinations = _combinations(model_dir)

  def warned(context, lists) -> bool:
    return bool(example_fit.unshared_feature_warnings(
        parse_keys.signature_parses(meta_graph), combinations,
        [_sequence_example(context, lists)], _SEQUENCE))

  assert warned({'other': 1.0}, {'taps': [1]})
  assert not warned({'other': 1.0}, {'clicks': [1]})
  assert not warned({'user': 1.0}, {})
  warning, = example_fit.unshared_feature_warnings(
      parse_keys.signature_parses(meta_graph), combinations,
      [_sequence_example({'x': 1.0}, {})], _SEQUENCE).values()
  assert 'another dataset' in warning  # Not blamed on SequenceExample data: it parses them.


def test_unknown_or_empty_parse_keys_do_not_warn(tmp_path):
  """A signature reading whole examples (a decode) or parsing nothing has nothing to miss."""
  def build():
    serialized = tf.compat.v1.placeholder(tf.string, [None], name='examples')
    return {
        'decoded': _SIG.predict_signature_def(
            {'examples': serialized},
            {'n': tf.strings.length(serialized)}),
        'unread': _SIG.predict_signature_def(
            {'examples': serialized}, {'one': tf.ones_like(serialized, tf.float32)}),
    }

  model_dir = models.build_graph_model(str(tmp_path / 'm'), build)
  meta_graph = serving.read_meta_graph(model_dir, ['serve'])
  assert example_fit.unshared_feature_warnings(
      parse_keys.signature_parses(meta_graph), _combinations(model_dir),
      [_sequence_example({'x': 1.0}, {})], _SEQUENCE) == {}
