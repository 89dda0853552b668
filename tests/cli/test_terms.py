"""What the command line prints is in its words: flags and commands, not the library's names.

Fast (no subprocess): the same functions the installed command runs.
"""

import argparse

import pytest

from tfx_warmup.cli import commands
from tfx_warmup.cli import entry
from tfx_warmup.cli.terms import in_cli_terms
from tfx_warmup.errors import ExamplesError, UsageError
from tfx_warmup.library import measurement
from tfx_warmup.report import model as report_model


def test_the_library_s_words_become_the_flags_and_commands_typed():
  assert in_cli_terms('Point ModelWarmer at a non-empty Examples artifact or split.') == (
      'Point --examples at a non-empty Examples artifact or split.')
  assert in_cli_terms('Pass `requests` (a TFRecord), or warm it with '
                      '`warm_model(measure=True)`.') == (
      'Pass --requests FILE (a TFRecord), or warm it with `tfx-warmup generate --measure`.')
  assert in_cli_terms('rather than setting tag_set to one') == (
      'rather than setting --tag-set to one')
  assert 'ModelWarmer' not in in_cli_terms('ModelWarmer warns when ...')


def test_an_error_line_says_flags_not_modelwarmer():
  line = entry._in_user_terms(ExamplesError(
      'The chosen splits hold no examples. Point ModelWarmer at a non-empty Examples '
      'artifact or split.'))
  assert line.endswith('Point --examples at a non-empty Examples artifact or split.')


def test_printed_reports_say_flags():
  """A cold start skipped for want of live examples names --num-examples, as typed."""
  report = report_model.WarmupReport(
      warmup_file=report_model.warmup_file_section(None, []),
      signatures=report_model.SignaturesSection(
          [], {'transform_features': 'leave the signature out of signature_names'}, {}),
      cold_start=report_model.ColdStartSection(skipped=measurement.NO_LIVE_TRAFFIC))
  text = commands._text(report)
  assert 'lower --num-examples to measure' in text
  assert 'out of --signatures' in text
  assert 'num_examples' not in text and 'signature_names' not in text


@pytest.mark.parametrize('command', ['generate', 'swap'])
def test_a_non_empty_output_is_refused_once_for_every_command(command, tmp_path):
  (tmp_path / 'mine.txt').write_text('mine')
  args = argparse.Namespace(command=command, output=str(tmp_path), overwrite=False)
  with pytest.raises(UsageError, match='is not empty. Pass --overwrite to replace it'):
    commands.run(args)  # Refused before the command runs (its flags are not even parsed).
  assert [p.name for p in tmp_path.iterdir()] == ['mine.txt']
