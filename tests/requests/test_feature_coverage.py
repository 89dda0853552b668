"""Feature coverage: the share of what each signature parses that the sampled examples carry.

None fails the run with the signature, what it parses, what the examples hold and the fix;
below the threshold it is a warning naming what is missing; it is reported per signature,
in the text report and in ML Metadata.
"""

import json
import os

from absl import logging
import pytest
import tensorflow as tf
from tfx.proto import example_gen_pb2

from tests import models
from tfx_warmup import library
from tfx_warmup import serving
from tfx_warmup.component import spec
from tfx_warmup.errors import ExamplesError
from tfx_warmup.options import WarmupOptions
from tfx_warmup.report import model as report_model
from tfx_warmup.report import text
from tfx_warmup.requests import feature_coverage
from tfx_warmup.requests import parse_keys
from tfx_warmup.requests import signatures

_EXAMPLE = example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE
_SEQUENCE = example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE
_SIG = tf.compat.v1.saved_model.signature_def_utils
_TF1_SIGNATURES = ['classify', 'regress', 'serving_default']


def _tf_example(**features) -> bytes:
  example = tf.train.Example()
  for key, value in features.items():
    example.features.feature[key].float_list.value.append(value)
  return example.SerializeToString()


def _sequence_example(context: dict, lists: dict) -> bytes:
  example = tf.train.SequenceExample()
  for key, value in context.items():
    example.context.feature[key].float_list.value.append(value)
  for key, values in lists.items():
    for value in values:
      example.feature_lists.feature_list[key].feature.add().int64_list.value.append(value)
  return example.SerializeToString()


def _coverage(model_dir: str, examples, payload_format: int = _EXAMPLE):
  meta_graph = serving.read_meta_graph(model_dir, ['serve'])
  plan = signatures.plan_signatures(meta_graph, model_dir, payload_format=payload_format)
  return feature_coverage.feature_coverage(plan.usable, parse_keys.signature_parses(meta_graph),
                                           examples)


def _without(examples, *names):
  kept = []
  for example in examples:
    copy = tf.train.Example.FromString(example.SerializeToString())
    for name in names:
      del copy.features.feature[name]
    kept.append(copy.SerializeToString())
  return kept


# -- The share, per signature ------------------------------------------------------------


def test_examples_of_the_model_cover_every_parsed_feature(tf1_model_dir, examples):
  coverage = _coverage(tf1_model_dir, [e.SerializeToString() for e in examples[:20]])
  assert sorted(coverage) == _TF1_SIGNATURES
  for c in coverage.values():
    assert c.parsed == {'age', 'hours', 'color'}
    assert c.share == 1.0 and c.missing == []
  assert feature_coverage.coverage_warnings(coverage) == {}
  feature_coverage.check_coverage(coverage, [])  # Raises nothing.


def test_a_third_carried_is_warned_about_naming_what_is_missing(tf1_model_dir, examples):
  coverage = _coverage(tf1_model_dir, _without(examples[:20], 'hours', 'color'))
  assert {n: (round(c.share, 4), c.missing) for n, c in coverage.items()} == dict.fromkeys(
      _TF1_SIGNATURES, (0.3333, ['color', 'hours']))
  feature_coverage.check_coverage(coverage, [])  # Not zero: no error.
  warnings = feature_coverage.coverage_warnings(coverage)
  assert sorted(warnings) == _TF1_SIGNATURES
  assert warnings['classify'].startswith(
      'the sampled examples carry 1 of the 3 features it parses (33%, below 50%); '
      'missing: color, hours. Its requests parse defaults for those')


def test_two_thirds_carried_is_not_warned_about(tf1_model_dir, examples):
  coverage = _coverage(tf1_model_dir, _without(examples[:20], 'color'))
  assert {round(c.share, 4) for c in coverage.values()} == {0.6667}
  assert feature_coverage.coverage_warnings(coverage) == {}


@pytest.mark.parametrize('carried,warned', [(1, True), (2, False), (3, False), (4, False)])
def test_the_threshold_is_a_share_below_half(carried, warned):
  parsed = frozenset('abcd')
  coverage = {'s': feature_coverage.Coverage('s', parsed, frozenset(sorted(parsed)[:carried]))}
  assert feature_coverage.COVERAGE_WARNING_THRESHOLD == 0.5
  assert bool(feature_coverage.coverage_warnings(coverage)) == warned


def test_a_warning_names_at_most_ten_missing_features():
  parsed = frozenset(f'f{i:02d}' for i in range(30))
  coverage = {'s': feature_coverage.Coverage('s', parsed, frozenset(['f00']))}
  warning = feature_coverage.coverage_warnings(coverage)['s']
  assert 'carry 1 of the 30 features it parses (3%' in warning
  assert 'missing: f01, f02, f03, f04, f05, f06, f07, f08, f09, f10 and 19 more.' in warning


@pytest.mark.parametrize('context,lists,share', [
    ({'user_id': 1.0}, {'clicks': [1]}, 0.0),
    ({'age': 1.0}, {}, 1 / 3),          # A tf.Example parse reads the context field.
    ({}, {'age': [1]}, 0.0),            # A feature list is not a tf.Example feature.
    ({'age': 1.0, 'hours': 2.0, 'color': 3.0}, {}, 1.0),
])
def test_only_tf_example_features_or_context_count_for_a_tf_example_parse(
    tf1_model_dir, context, lists, share):
  coverage = _coverage(tf1_model_dir, [_sequence_example(context, lists)], _SEQUENCE)
  assert {c.share for c in coverage.values()} == {share}


def test_a_sequence_parse_is_matched_on_context_and_feature_lists(tmp_path):
  model_dir = models.build_sequence_parse_model(str(tmp_path / 'seq'))

  def share(context, lists) -> float:
    return _coverage(model_dir, [_sequence_example(context, lists)],
                     _SEQUENCE)['serving_default'].share

  assert share({'other': 1.0}, {'taps': [1]}) == 0.0
  assert share({'other': 1.0}, {'clicks': [1]}) == 0.5
  assert share({'user': 1.0}, {}) == 0.5
  assert share({}, {'user': [1]}) == 0.0  # A context feature is not a feature list.
  assert share({'user': 1.0}, {'clicks': [1]}) == 1.0
  coverage = _coverage(model_dir, [_sequence_example({'x': 1.0}, {'y': [1]})], _SEQUENCE)
  with pytest.raises(ExamplesError) as error:
    feature_coverage.check_coverage(coverage, [_sequence_example({'x': 1.0}, {'y': [1]})],
                                    payload_format=_SEQUENCE)
  # Not blamed on SequenceExample data: this signature parses them.
  assert 'another dataset' in str(error.value)
  assert 'SequenceExamples fed' not in str(error.value)


def test_raw_tensor_inputs_count_the_features_they_are_filled_from(keras_model_dir, examples):
  coverage = _coverage(keras_model_dir, _without(examples[:20], 'hours', 'color', 'embedding',
                                                 'history'))
  raw = coverage['predict_raw']
  assert raw.raw_tensors and raw.parsed == {'age', 'hours', 'color', 'embedding', 'history'}
  assert raw.share == 0.2 and raw.missing == ['color', 'embedding', 'history', 'hours']
  warning = feature_coverage.coverage_warnings(coverage)['predict_raw']
  assert warning.startswith('the sampled examples carry 1 of the 5 inputs (each filled from '
                            'the feature of its name) (20%, below 50%); missing: color, '
                            'embedding, history, hours. Those inputs are filled with zeros')
  # The Keras serialized signature parses inside a function body: read as well.
  assert coverage['serving_default'].parsed == {'age', 'hours', 'color', 'embedding', 'history'}
  assert coverage['serving_default'].share == 0.2


def test_unknown_or_empty_parse_keys_get_no_verdict(tmp_path, monkeypatch):
  """A signature reading whole examples (a decode) or parsing nothing has nothing to miss."""
  def build():
    serialized = tf.compat.v1.placeholder(tf.string, [None], name='examples')
    return {
        'decoded': _SIG.predict_signature_def(
            {'examples': serialized}, {'n': tf.strings.length(serialized)}),
        'unread': _SIG.predict_signature_def(
            {'examples': serialized}, {'one': tf.ones_like(serialized, tf.float32)}),
    }

  logged = []
  monkeypatch.setattr(logging, 'debug', lambda msg, *args: logged.append(msg % args))
  model_dir = models.build_graph_model(str(tmp_path / 'm'), build)
  assert _coverage(model_dir, [_tf_example(x=1.0)]) == {}
  assert any(line.startswith("Signature 'decoded': no feature coverage, its parse cannot be "
                             'read: the serialized input reaches') for line in logged)
  assert "Signature 'unread': no feature coverage, it parses no feature." in logged


# -- None carried: the typed error -------------------------------------------------------


def test_none_carried_is_an_error_naming_signatures_features_data_and_fix(tf1_model_dir):
  unrelated = [_tf_example(user_id=float(i), clicks=2.0) for i in range(5)]
  coverage = _coverage(tf1_model_dir, unrelated)
  with pytest.raises(ExamplesError) as error:
    feature_coverage.check_coverage(coverage, unrelated, 'the glob at /data/*')
  message = str(error.value)
  assert message.startswith(
      "The examples (the glob at /data/*) carry none of the features signatures 'classify', "
      "'regress' and 'serving_default' parse (3: age, color, hours); they hold clicks, "
      'user_id.')
  assert 'parse only defaults' in message
  assert 'another dataset' in message
  assert ('Point ModelWarmer at examples of the data the model was trained on or is served '
          'with; or, for a signature that is not served, leave it out of signature_names.'
          ) in message


def test_sequence_examples_for_a_tf_example_parse_are_named_as_the_cause(tf1_model_dir):
  """Told by their feature lists even when the payload format does not say (a glob)."""
  sequences = [_sequence_example({'movie': 1.0}, {'ratings': [1, 2]})]
  coverage = _coverage(tf1_model_dir, sequences)
  with pytest.raises(ExamplesError, match='they hold movie, ratings.*SequenceExamples fed to a '
                                          'signature that parses tf.Examples'):
    feature_coverage.check_coverage(coverage, sequences)


def test_the_error_lists_at_most_ten_parsed_features():
  parsed = frozenset(f'f{i:02d}' for i in range(17))
  coverage = {'serving_default': feature_coverage.Coverage('serving_default', parsed,
                                                           frozenset())}
  with pytest.raises(ExamplesError, match=r"signature 'serving_default' parses \(17: f00, f01, "
                                          r'f02, f03, f04, f05, f06, f07, f08, f09 and 7 more\);'
                                          ' they hold no features'):
    feature_coverage.check_coverage(coverage, [])


# -- Reported: JSON, text, ML Metadata ---------------------------------------------------


def test_the_report_section_reads_back_and_shows_in_text():
  coverage = {
      'classify': report_model.FeatureCoverage(1.0, 3, []),
      'regress': report_model.FeatureCoverage(1.0, 3, []),
      'predict': report_model.FeatureCoverage(0.3333, 3, ['color', 'hours']),
  }
  report = report_model.WarmupReport(
      warmup_file=report_model.WarmupFileSection('/m/f', 0, []),
      signatures=report_model.SignaturesSection(['classify', 'predict', 'regress'], {}, {},
                                                feature_coverage=coverage))
  assert report_model.WarmupReport.from_json(report.to_json()) == report
  assert ('Features parsed that the examples carry: classify, regress 100% (3 of 3); predict '
          '33% (1 of 3; missing color, hours)') in text.format_report(report)
  assert '`feature_coverage` | object of `FeatureCoverage`' in report_model.schema_markdown()


def test_an_old_report_without_coverage_still_reads():
  data = json.loads(report_model.WarmupReport(
      warmup_file=report_model.WarmupFileSection(None, 0, []),
      signatures=report_model.SignaturesSection([], {}, {})).to_json())
  del data['signatures']['feature_coverage']
  assert report_model.WarmupReport.from_dict(data).signatures.feature_coverage == {}


# -- End to end: the trial, and partly related examples ----------------------------------


def test_unrelated_examples_fail_the_run_and_write_nothing(tf1_model_dir, tmp_path):
  """The trial: examples of another dataset, every request of which the model answers."""
  unrelated = [_tf_example(user_id=float(i), clicks=2.0) for i in range(40)]
  artifact = models.write_examples_artifact(str(tmp_path / 'data'), {'eval': unrelated})
  out = tmp_path / 'out'
  out.mkdir()
  with pytest.raises(ExamplesError, match=r"carry none of the features signatures 'classify', "
                                          r"'regress' and 'serving_default' parse \(3: age, "
                                          r'color, hours\); they hold clicks, user_id'):
    models.run_executor(os.path.dirname(tf1_model_dir), artifact, str(out), num_examples=8,
                        batch_sizes=[1, 4])
  assert os.listdir(out) == []


def test_partly_related_examples_warn_in_log_report_text_and_mlmd(
    tf1_model_dir, examples, tmp_path, monkeypatch):
  logged = []
  monkeypatch.setattr(logging, 'warning', lambda msg, *args: logged.append(msg % args))
  artifact = models.write_examples_artifact(
      str(tmp_path / 'data'), {'eval': _without(examples[:40], 'hours', 'color')})
  warmed = models.run_executor(os.path.dirname(tf1_model_dir), artifact,
                               str(tmp_path / 'out'), num_examples=8, batch_sizes=[1, 4])
  with open(os.path.join(warmed.uri, 'warmup_report.json')) as f:
    report = report_model.WarmupReport.from_json(f.read())
  section = report.signatures
  assert section.warmed == _TF1_SIGNATURES
  assert section.feature_coverage == dict.fromkeys(
      _TF1_SIGNATURES, report_model.FeatureCoverage(0.3333, 3, ['color', 'hours']))
  assert sorted(section.warnings) == _TF1_SIGNATURES
  warning = section.warnings['serving_default']
  assert 'carry 1 of the 3 features it parses (33%, below 50%); missing: color, hours' in warning
  assert f"Signature 'serving_default': {warning}." in logged
  assert "classify, regress, serving_default 33% (1 of 3; missing color, hours)" in (
      text.format_report(report))
  assert json.loads(warmed.get_string_custom_property(spec.FEATURE_COVERAGE_PROPERTY)) == (
      dict.fromkeys(_TF1_SIGNATURES, 0.3333))
  assert json.loads(warmed.get_string_custom_property(spec.WARNINGS_PROPERTY)) == (
      section.warnings)


def test_examples_of_the_model_report_full_coverage_in_mlmd(tf1_model_dir, examples, tmp_path):
  artifact = models.write_examples_artifact(
      str(tmp_path / 'data'), {'eval': [e.SerializeToString() for e in examples[:20]]})
  warmed = models.run_executor(os.path.dirname(tf1_model_dir), artifact,
                               str(tmp_path / 'out'), num_examples=8, batch_sizes=[1])
  assert json.loads(warmed.get_string_custom_property(spec.FEATURE_COVERAGE_PROPERTY)) == (
      dict.fromkeys(_TF1_SIGNATURES, 1.0))
  assert json.loads(warmed.get_string_custom_property(spec.WARNINGS_PROPERTY)) == {}


@pytest.mark.tfx116  # TFX's taxi Estimator
def test_the_taxi_model_fed_unrelated_sequence_examples_fails(tmp_path):
  """The trial as it ran: 17 features parsed, none carried; it used to write 5 records."""
  path = str(tmp_path / 'movies.tfrecord')
  with tf.io.TFRecordWriter(path) as writer:
    for i in range(30):
      writer.write(_sequence_example({'movie_id': float(i)}, {'ratings': [i % 5, 3]}))
  model = library.resolve_model(models.tfx_testdata('trainer', 'current')).saved_model_dir
  out = tmp_path / 'out'
  with pytest.raises(ExamplesError) as error:
    library.warm_model(model, library.resolve_examples(path), str(out),
                       WarmupOptions(measure=False, num_examples=5))
  message = str(error.value)
  assert ("carry none of the features signatures 'classification', 'predict', 'regression' "
          "and 'serving_default' parse (17: company, dropoff_census_tract, ") in message
  assert 'pickup_latitude and 7 more); they hold movie_id, ratings.' in message
  assert 'SequenceExamples fed to a signature that parses tf.Examples' in message
  assert not out.exists()
