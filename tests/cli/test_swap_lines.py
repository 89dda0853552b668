"""`inspect` and `verify` of a warmed Model artifact say what its swap measurement found."""

import os

from tfx_warmup.cli import commands
from tfx_warmup.report import model as report_model


def _swap(recommended):
  case = report_model.SwapCase(
      name='defaults', role='a', description='', warmup=True, window_p99_ms=9.0,
      window_p99_ms_runs=[9.0], window_seconds=1.0, load_seconds=0.5, warmup_seconds=0.5,
      warmup_records=24, first_max_ms=2.0, late=3, phases=[])
  return report_model.SwapSection(
      old_model='a', new_model='b', qps=300, qps_source='given', clients=2,
      capacity_qps=600.0, deadline_ms=20, deadline_source='given', repetitions=3,
      phase_seconds={}, cases=[case], recommended=recommended,
      recommendation=f'recommendation text for {recommended}',
      platform_config='platform_config.pbtxt' if recommended else None,
      server_command='tensorflow_model_server --platform_config_file=x' if recommended
      else None)


def _artifact(tmp_path, swap):
  model_dir = tmp_path / 'Format-Serving'
  model_dir.mkdir()
  report = report_model.WarmupReport(
      warmup_file=report_model.warmup_file_section(None, []), swap=swap)
  (tmp_path / 'warmup_report.json').write_text(report.to_json())
  return str(model_dir)


def test_the_recommended_config_is_named_with_its_command(tmp_path, capsys):
  commands._print_swap_lines(_artifact(tmp_path, _swap('load-pool')))
  out = capsys.readouterr().out
  assert 'Version swap, measured when it was warmed: recommendation text for load-pool' in out
  assert os.path.join(str(tmp_path), 'platform_config.pbtxt') in out
  assert 'tensorflow_model_server --platform_config_file=x' in out


def test_no_recommendation_is_said_and_no_file_named(tmp_path, capsys):
  commands._print_swap_lines(_artifact(tmp_path, _swap(None)))
  out = capsys.readouterr().out
  assert 'recommendation text for None' in out and 'platform_config' not in out


def test_a_model_without_a_swap_measurement_prints_nothing(tmp_path, capsys):
  commands._print_swap_lines(_artifact(tmp_path, None))
  commands._print_swap_lines(str(tmp_path / 'elsewhere' / 'model'))
  assert capsys.readouterr().out == ''
