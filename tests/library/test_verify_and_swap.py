"""`verify_model` and `swap_models`: a model warmed before, replayed and swapped, as typed reports.

Also the layout `warm_model` is given (a Model artifact here), which decides
where the SavedModel and the files beside it go.
"""

import os

import pytest

from tfx_warmup import library
from tfx_warmup import serving
from tfx_warmup.errors import ConfigurationError
from tfx_warmup.library import output
from tfx_warmup.report import WarmupReport
from tfx_warmup.serving import warmup_file
from tests.library.test_run import source  # noqa: F401  (a fixture)


@pytest.fixture(scope='module')
def artifact(tmp_path_factory, tf1_model_dir, source):
  """(the report, the output directory) of a run in the Model artifact layout."""
  out = str(tmp_path_factory.mktemp('artifact') / 'warmed_model')
  report = library.warm_model(tf1_model_dir, source, out, library.WarmupOptions(
      num_examples=8, batch_sizes=[1, 4], measure=False), layout=library.MODEL_ARTIFACT)
  return report, out


def test_the_model_artifact_layout_puts_the_model_in_format_serving_and_the_report_beside(
    artifact):
  report, out = artifact
  assert sorted(os.listdir(out)) == ['Format-Serving', library.REPORT_FILE]
  assert report.model == os.path.join(out, 'Format-Serving')
  with open(os.path.join(out, library.REPORT_FILE)) as f:
    assert WarmupReport.from_json(f.read()) == report
  assert output.report_beside(report.model) == report


def test_a_layout_never_writes_files_inside_the_saved_model():
  assert library.SAVED_MODEL.model_dir('/out') == '/out'
  assert not library.SAVED_MODEL.files_beside
  with pytest.raises(ValueError, match='would be written inside it'):
    library.Layout('flat', files_beside=True)


def test_verify_model_replays_as_the_load_and_says_the_figure_is_what_the_load_pays(artifact):
  warmed, _ = artifact
  report = library.verify_model(warmed.model)
  assert isinstance(report, WarmupReport)
  assert report.model == warmed.model
  assert report.validation.ok and report.validation.fresh_load
  assert report.validation.records == warmed.warmup_file.records > 0
  assert report.warmup_file.summary == warmed.warmup_file.summary
  assert report.cold_start is None and report.sample is None
  # The run's own replay followed the checks that ran every signature: not what a load pays.
  assert warmed.validation.fresh_load is False


def test_verify_model_reports_a_record_the_load_would_fail(tf1_model_dir, tmp_path):
  model = str(tmp_path / 'model')
  records = serving.read_warmup_file(serving.warmup_file_path(
      library.warm_model(tf1_model_dir, library.resolve_examples(_one_file(tmp_path)),
                         str(tmp_path / 'ok'), library.WarmupOptions(
                             num_examples=4, batch_sizes=[1], signature_names=['regress'],
                             measure=False)).model))
  records[0].regress_log.request.model_spec.signature_name = 'no_such_signature'
  _copy_model(tf1_model_dir, model)
  warmup_file.write_warmup_file(serving.warmup_file_path(model), records)
  report = library.verify_model(model)
  assert not report.validation.ok
  assert report.validation.record == 0 and report.validation.code == 'INVALID_ARGUMENT'
  assert 'no_such_signature' in report.validation.error


def test_measuring_a_model_without_warmup_needs_requests(tf1_model_dir):
  assert library.verify_model(tf1_model_dir).warmup_file.path is None  # Loads, warms nothing.
  with pytest.raises(ConfigurationError, match='no records to time. Pass `requests`'):
    library.verify_model(tf1_model_dir, measure=True)


def test_swap_models_refuses_what_cannot_be_measured_before_any_process(tf1_model_dir, artifact):
  with pytest.raises(ConfigurationError, match='no traffic to send. Pass `requests`'):
    library.swap_models(tf1_model_dir, tf1_model_dir)
  with pytest.raises(ConfigurationError, match='`repetitions` must be at least 1, got 0'):
    library.swap_models(tf1_model_dir, artifact[0].model, repetitions=0)


def test_one_record_per_key_keeps_the_first_of_each(artifact):
  records = serving.read_warmup_file(serving.warmup_file_path(artifact[0].model))
  chosen = library.one_record_per_key(records + records)
  assert chosen == library.one_record_per_key(records)
  assert len(chosen) == len(serving.summarize(records)) and chosen[0] is records[0]


def _one_file(tmp_path) -> str:
  import tensorflow as tf
  from tests import models
  path = str(tmp_path / 'examples.tfrecord')
  with tf.io.TFRecordWriter(path) as writer:
    for example in models.make_examples(16):
      writer.write(example.SerializeToString())
  return path


def _copy_model(source_dir: str, target: str) -> None:
  import shutil
  shutil.copytree(source_dir, target)
  if os.path.exists(os.path.join(target, 'assets.extra')):
    shutil.rmtree(os.path.join(target, 'assets.extra'))
