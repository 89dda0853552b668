"""The report schema: one for warmup_report.json and `tfx-warmup --json`, as documented."""

import re

from tests import pipeline_checks
from tfx_warmup import report as report_lib
from tfx_warmup import stripping
from tfx_warmup import warmup_file


def readme_schema() -> str:
  with open(pipeline_checks.README) as f:
    readme = f.read()
  return re.search(r'### Report schema\n.*?```text\n(.*?)```', readme, re.S).group(1)


def test_readme_documents_every_field_of_the_schema():
  documented = readme_schema()
  report = report_lib.build_report(
      {warmup_file.RecordKey('predict', 'serving_default', 8, 'probabilities'): 3},
      problems=[report_lib.problem(0, 'INVALID_ARGUMENT', 'bad')], skipped={},
      sample=report_lib.sample_section(['eval'], 64, 0, 'coverage'),
      stripping=stripping.Stripped([], {}, 0, 0, 0, 0, {}).section(True, ['user_email']))
  fields = (list(report) + list(report['warmup_file']) + list(report['warmup_file']['summary'][0])
            + list(report['stripping'])
            + list(report['warmup_file']['problems'][0]) + list(report['signatures'])
            + list(report['sample']))
  for field in fields:
    assert f'"{field}"' in documented, f'README schema lacks "{field}"'
  assert f'"schema_version": {report_lib.SCHEMA_VERSION}' in documented
  assert f'"schema_version": {report_lib.SCHEMA_VERSION}' in report_lib.__doc__


def test_unknown_sections_are_null():
  report = report_lib.build_report({})
  assert report['signatures'] is None and report['sample'] is None
  assert report['validation'] is None and report['cold_start'] is None
  assert report['warmup_file'] == {'path': None, 'records': 0, 'summary': [], 'problems': [],
                                   'features': {}}
  assert report['stripping'] is None
