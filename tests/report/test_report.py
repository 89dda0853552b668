"""The typed report: one schema for warmup_report.json and `--json`, documented from its types."""

import dataclasses
import json
import typing

import pytest

from tfx_warmup import report as report_lib
from tfx_warmup.report import model
from tfx_warmup.serving.inspection import Problem


def _full_report() -> report_lib.WarmupReport:
  """A report with every section and every optional value filled."""
  batching = report_lib.BatchingSection(32, [8, 32], False)
  return report_lib.WarmupReport(
      model='/m/1',
      warmup_file=report_lib.WarmupFileSection(
          '/m/1/assets.extra/tf_serving_warmup_requests', 3,
          [report_lib.RecordCount('predict', 'serving_default', 8, 'probabilities', 3)],
          [Problem(0, 'INVALID_ARGUMENT', 'bad')], {'serving_default': ['age']}),
      signatures=report_lib.SignaturesSection(['serving_default'], {'other': 'why'},
                                              {'serving_default': 'careful'}),
      sample=report_lib.SampleSection(['eval'], 64, 0, 'coverage'),
      validation=report_lib.ValidationSection(3, 0.5, 2, batching),
      cold_start=report_lib.ColdStartSection(
          rounds=30, load_seconds=1.0, replay_seconds=0.2, replay_records=3,
          requests=[report_lib.ColdStartRow('predict', 'serving_default', 8, '', 50.0, 1.0,
                                            0.9, 1.2)],
          max_first_ms_without_warmup=50.0, max_first_ms_with_warmup=1.0, steady_p50_ms=0.9,
          batching=batching, first_ms_meaning='in order'),
      stripping=report_lib.StrippingSection(True, ['email'], 3, 0, 100, 40,
                                            {'serving_default': ['email']}, {}))


def test_json_round_trip_keeps_every_field_and_type():
  report = _full_report()
  again = report_lib.WarmupReport.from_json(report.to_json())
  assert again == report
  assert isinstance(again.warmup_file.problems[0], Problem)
  assert isinstance(again.cold_start.requests[0], report_lib.ColdStartRow)
  assert isinstance(again.validation.batching, report_lib.BatchingSection)


def test_unknown_sections_are_null():
  data = json.loads(report_lib.WarmupReport(
      warmup_file=report_lib.warmup_file_section(None, [])).to_json())
  assert data['schema_version'] == report_lib.SCHEMA_VERSION
  for section in ('model', 'signatures', 'sample', 'validation', 'cold_start', 'stripping',
                  'swap'):
    assert data[section] is None
  assert data['warmup_file'] == {'path': None, 'records': 0, 'summary': [], 'problems': [],
                                 'features': {}}


def test_another_schema_version_is_refused_by_name():
  data = _full_report().to_dict()
  data['schema_version'] = 3
  with pytest.raises(ValueError, match='schema 3; this tfx-warmup reads schema 6'):
    report_lib.WarmupReport.from_dict(data)


def _sections(cls, seen=None):
  seen = seen if seen is not None else []
  if cls not in seen:
    seen.append(cls)
    for hint in typing.get_type_hints(cls).values():
      for t in model._dataclasses_in(hint):
        _sections(t, seen)
  return seen


def test_schema_documentation_covers_every_field_of_every_section():
  documented = report_lib.schema_markdown()
  for cls in _sections(report_lib.WarmupReport):
    assert f'### `{cls.__name__}`' in documented
    for field in dataclasses.fields(cls):
      assert f'| `{field.name}` |' in documented, (cls.__name__, field.name)
      assert field.metadata.get('doc'), f'{cls.__name__}.{field.name} has no doc'
  assert 'list of `RecordCount`' in documented
  assert '| `first_ms_with_warmup` | number or null |' in documented


def test_signatures_sharing_features_share_a_row_wrapped_to_the_width():
  features = {'a': ['x', 'y'], 'b': ['x', 'y'], 'c': [f'feature_{i}' for i in range(30)]}
  text = report_lib.text.format_features(features, width=60)
  lines = text.splitlines()
  assert lines[2] == 'a, b       x, y'
  assert lines[3].startswith('c          feature_0, feature_1')
  assert len(lines) > 5 and all(len(line) <= 60 for line in lines)  # 'c' wraps.
  assert all(line.startswith(' ' * 11) for line in lines[4:])


def test_a_signature_name_is_never_broken_in_the_features_table():
  """A MultiInference's 'classification+regression' is longer than a third of 60 columns."""
  features = {'classification+regression': ['age', 'hours'], 'serving_default': ['age']}
  lines = report_lib.text.format_features(features, width=60).splitlines()
  assert lines[2].startswith('classification+regression  age, hours')
  assert lines[3].startswith('serving_default            age')
  assert len(lines) == 4


def _replayed(fresh_load, cold_start=None):
  return report_lib.WarmupReport(
      warmup_file=report_lib.WarmupFileSection('/m/1/assets.extra/w', 3, [], [], {}),
      validation=report_lib.ValidationSection(3, 0.07, 1, fresh_load=fresh_load),
      cold_start=cold_start)


def test_the_replay_figure_says_what_it_measures():
  """generate replays on a model its checks already ran; verify right after the load."""
  fresh = report_lib.text.format_report(_replayed(True))
  assert ('Replayed in the TF Serving replica right after the load, as TF Serving does: '
          '3 records, 0.07 s (what the load pays).') in fresh
  after_checks = report_lib.text.format_report(_replayed(False))
  assert ('3 records, 0.07 s, on a model whose signatures had each run already (the checks '
          'before the replay). TF Serving replays them right after the load, which takes '
          'longer: `verify_model` on the written model times that.') in after_checks
  measured = report_lib.text.format_report(_replayed(False, report_lib.ColdStartSection(
      rounds=1, load_seconds=1.0, replay_seconds=1.32, replay_records=3)))
  assert 'which takes longer: 1.32 s in the fresh process of the cold start' in measured


def test_the_report_s_messages_are_said_in_the_reader_s_terms():
  report = report_lib.WarmupReport(
      warmup_file=report_lib.WarmupFileSection('/w', 0, [], [], {}),
      signatures=report_lib.SignaturesSection([], {'a': 'leave it out of names'},
                                              {'b': 'point names'}),
      cold_start=report_lib.ColdStartSection(skipped='lower names to measure'))
  text = report_lib.text.format_report(report, terms=lambda m: m.replace('names', '--flag'))
  assert 'not warmed: a: leave it out of --flag' in text
  assert 'warning: b: point --flag' in text
  assert 'Cold start not measured: lower --flag to measure.' in text
