"""The executor on artifacts pointing at SavedModels built by the fixtures."""

import json
import os
import shutil

import pytest

import apache_beam as beam
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tfx.dsl.components.base import base_beam_executor
from tfx.types import standard_artifacts

from tests import models
from tfx_warmup import library
from tfx_warmup import report as report_lib
from tfx_warmup import serving
from tfx_warmup.component import artifacts
from tfx_warmup.component import executor as executor_lib
from tfx_warmup.component import spec
from tfx_warmup.library import sampling
from tfx_warmup.serving import warmup_file
from tfx_warmup.errors import ConfigurationError, ConversionError, RecordBudgetError
from tfx_warmup.options.warmup_options import WarmupOptions
from tfx_warmup.serving.records import RecordKey


@pytest.fixture(scope='module')
def examples_artifact(tmp_path_factory, examples):
  serialized = [e.SerializeToString() for e in examples]
  return models.write_examples_artifact(
      str(tmp_path_factory.mktemp('examples')),
      {'train': serialized[:120], 'eval': serialized[120:]}, shards=2)


def _run(model_uri, examples_artifact, out_uri, **options):
  return models.run_executor(model_uri, examples_artifact, out_uri, **options)


def _model_root(model_dir):
  return os.path.dirname(model_dir)  # The fixtures build <root>/Format-Serving.


def test_warmed_model_keeps_the_layout_and_replays(tf1_model_dir, examples_artifact, tmp_path):
  warmed = _run(_model_root(tf1_model_dir), examples_artifact, str(tmp_path / 'out'),
                num_examples=8, batch_sizes=[1, 4], requests_per_combination=4)
  out_dir = os.path.join(warmed.uri, 'Format-Serving')
  assert sorted(os.listdir(warmed.uri)) == ['Format-Serving', 'warmup_report.json']
  assert sorted(os.listdir(out_dir)) == ['assets', 'assets.extra', 'saved_model.pb', 'variables']
  path = warmup_file.warmup_file_path(out_dir)
  with open(path, 'rb') as f:
    assert f.read(2) != b'\x1f\x8b'  # Not gzip: TF Serving reads plain TFRecords only.
  result = serving.replay_warmup(out_dir)
  # Per combination: min(requests_per_combination=4, ceil(8 / batch size)) records.
  assert result.summary == {RecordKey(k, s, b): n
                            for k, s in (('classify', 'classify'), ('predict', 'serving_default'),
                                         ('regress', 'regress'),
                                         ('multi_inference', 'classify+regress'))
                            for b, n in ((1, 4), (4, 2))}
  props = warmed.mlmd_artifact.custom_properties
  assert props[spec.RECORD_COUNT_PROPERTY].int_value == 24
  # Signature names: the classify+regress MultiInference records warm no signature of their own.
  assert json.loads(props[spec.SIGNATURES_WARMED_PROPERTY].string_value) == [
      'classify', 'regress', 'serving_default']
  assert json.loads(props[spec.SIGNATURES_SKIPPED_PROPERTY].string_value) == {}
  assert json.loads(props[spec.BATCH_SIZES_PROPERTY].string_value) == [1, 4]
  assert json.loads(props[spec.SPLITS_PROPERTY].string_value) == ['eval']
  assert props[spec.SEED_PROPERTY].int_value == 0


def test_sampled_examples_come_from_the_chosen_split(tf1_model_dir, examples_artifact,
                                                     examples, tmp_path):
  warmed = _run(_model_root(tf1_model_dir), examples_artifact, str(tmp_path / 'out'),
                num_examples=500, splits=['train'], signature_names=['serving_default'],
                requests_per_combination=500, strip_unread_features=False)
  records = warmup_file.read_warmup_file(
      warmup_file.warmup_file_path(os.path.join(warmed.uri, 'Format-Serving')))
  sent = {r.predict_log.request.inputs['examples'].string_val[0] for r in records}
  assert sent == {e.SerializeToString() for e in examples[:120]}


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(
    keras_model_dir, examples_artifact, tmp_path):
  def warmup_bytes(name, seed):
    warmed = _run(_model_root(keras_model_dir), examples_artifact, str(tmp_path / name),
                  num_examples=16, batch_sizes=[1, 8], seed=seed)
    path = warmup_file.warmup_file_path(os.path.join(warmed.uri, 'Format-Serving'))
    with open(path, 'rb') as f:
      return f.read()
  first = warmup_bytes('a', 0)
  assert first == warmup_bytes('b', 0)
  assert first != warmup_bytes('c', 1)


def test_keras_raw_signature_is_warmed(keras_model_dir, examples_artifact, tmp_path):
  warmed = _run(_model_root(keras_model_dir), examples_artifact, str(tmp_path / 'out'),
                num_examples=4, batch_sizes=[2])
  result = serving.replay_warmup(os.path.join(warmed.uri, 'Format-Serving'))
  # The default: one record per combination.
  assert result.summary == {RecordKey('predict', 'predict_raw', 2): 1,
                            RecordKey('predict', 'serving_default', 2): 1}


def test_existing_warmup_file_is_replaced(tf1_model_dir, examples_artifact, tmp_path):
  source = tmp_path / 'src'
  shutil.copytree(tf1_model_dir, source / 'Format-Serving')
  stale = warmup_file.warmup_file_path(str(source / 'Format-Serving'))
  os.makedirs(os.path.dirname(stale))
  with open(stale, 'wb') as f:
    f.write(b'stale, not even a TFRecord')
  warmed = _run(str(source), examples_artifact, str(tmp_path / 'out'),
                num_examples=2, signature_names=['regress'], batch_sizes=[1])
  result = serving.replay_warmup(os.path.join(warmed.uri, 'Format-Serving'))
  assert result.summary == {RecordKey('regress', 'regress', 1): 1}


def test_estimator_export_layout_is_found(tf1_model_dir, examples_artifact, tmp_path):
  source = tmp_path / 'src'
  shutil.copytree(tf1_model_dir, source / 'Format-Serving' / 'export' / 'chicago' / '1700000000')
  warmed = _run(str(source), examples_artifact, str(tmp_path / 'out'),
                num_examples=2, signature_names=['regress'])
  assert os.path.exists(os.path.join(warmed.uri, 'Format-Serving', 'saved_model.pb'))


def test_failure_leaves_no_output(keras_model_dir, tmp_path):
  no_history = list(models.make_examples(8))
  for e in no_history:
    del e.features.feature['history']
  artifact = models.write_examples_artifact(
      str(tmp_path / 'examples'), {'eval': [e.SerializeToString() for e in no_history]})
  out = tmp_path / 'out'
  out.mkdir()
  with pytest.raises(ConversionError, match="needs feature 'history'"):
    _run(_model_root(keras_model_dir), artifact, str(out), num_examples=4,
         signature_names=['predict_raw'])
  assert os.listdir(out) == []


def test_over_budget_fails_before_reading(tf1_model_dir, examples_artifact, tmp_path):
  with pytest.raises(RecordBudgetError, match='8 combinations .* max_records is 5'):
    _run(_model_root(tf1_model_dir), examples_artifact, str(tmp_path / 'out'),
         batch_sizes=[1, 2], max_records=5)
  assert not os.path.exists(tmp_path / 'out')


def test_report_and_cold_start_measurement(tf1_model_dir, examples_artifact, tmp_path):
  warmed = _run(_model_root(tf1_model_dir), examples_artifact, str(tmp_path / 'out'),
                num_examples=8, batch_sizes=[1, 4], requests_per_combination=4, measure=True)
  with open(os.path.join(warmed.uri, 'warmup_report.json')) as f:
    report = json.load(f)
  assert report['warmup_file']['records'] == 24
  assert report['validation']['records'] == 24
  cold_start = report['cold_start']
  assert {(r['signature'], r['batch_size']) for r in cold_start['requests']} == {
      (s, b) for s in ('classify', 'regress', 'serving_default', 'classify+regress')
      for b in (1, 4)}
  for row in cold_start['requests']:
    assert 0 < row['steady_p50_ms'] <= row['steady_p99_ms']
    assert row['first_ms_without_warmup'] > 0 and row['first_ms_with_warmup'] > 0
  assert cold_start['replay_records'] == 24
  assert 'sent in the listed order' in cold_start['first_ms_meaning']  # Rows are order-dependent.
  props = warmed.mlmd_artifact.custom_properties
  assert props[spec.VALIDATED_PROPERTY].int_value == 1
  assert props[spec.FIRST_MS_WITHOUT_WARMUP_PROPERTY].double_value == (
      cold_start['max_first_ms_without_warmup'])
  assert props[spec.FIRST_MS_WITH_WARMUP_PROPERTY].double_value > 0
  assert props[spec.REPLAY_SECONDS_PROPERTY].double_value > 0


def test_live_examples_are_held_back_from_the_warmup_sample(examples_artifact, tmp_path):
  source = artifacts.examples_source(examples_artifact)

  def sample(measure):
    scratch = tmp_path / f'measure-{measure}'
    scratch.mkdir()
    return library.sample_examples(source, WarmupOptions(num_examples=10, measure=measure),
                                   beam.Pipeline, str(scratch))
  measured = sample(measure=True)
  assert measured.splits == ['eval']
  assert len(set(measured.warmup)) == 10
  assert len(measured.live) == sampling.NUM_LIVE_EXAMPLES
  assert not set(measured.warmup) & set(measured.live)
  unmeasured = sample(measure=False)  # Measuring does not change the warmup file.
  assert (unmeasured.warmup, unmeasured.live) == (measured.warmup, [])


def test_measurement_is_skipped_without_held_back_examples(tf1_model_dir, examples_artifact,
                                                           tmp_path):
  warmed = _run(_model_root(tf1_model_dir), examples_artifact, str(tmp_path / 'out'),
                num_examples=100, signature_names=['regress'], measure=True)
  with open(os.path.join(warmed.uri, 'warmup_report.json')) as f:
    assert 'no examples beyond the warmup sample' in json.load(f)['cold_start']['skipped']
  assert spec.FIRST_MS_WITH_WARMUP_PROPERTY not in warmed.mlmd_artifact.custom_properties


@pytest.fixture(scope='module')
def keras3_examples_artifact(tmp_path_factory, examples):
  # The trap model's signature input is called 'inputs'; give the data both names.
  records = []
  for example in examples[:40]:
    copy = type(example)()
    copy.CopyFrom(example)
    copy.features.feature['inputs'].CopyFrom(example.features.feature['embedding'])
    records.append(copy.SerializeToString())
  return models.write_examples_artifact(str(tmp_path_factory.mktemp('k3')), {'eval': records})


@pytest.mark.tfx116  # Keras 3
def test_keras3_trap_model_is_refused_with_the_fix_and_nothing_written(
    keras3_examples_artifact, tmp_path):
  models.build_keras3_model(str(tmp_path / 'model' / 'Format-Serving'), use_export=False)
  out = tmp_path / 'out'
  out.mkdir()
  with pytest.raises(serving.WarmupReplayError) as error:
    _run(str(tmp_path / 'model'), keras3_examples_artifact, str(out), num_examples=4)
  message = str(error.value)
  assert 'FAILED_PRECONDITION' in message and 'Could not find variable' in message
  assert 'model.export' in message and 'ExportArchive' in message
  assert os.listdir(out) == []


@pytest.mark.tfx116  # Keras 3
def test_keras3_exported_model_is_accepted(keras3_examples_artifact, tmp_path):
  models.build_keras3_model(str(tmp_path / 'model' / 'Format-Serving'), use_export=True)
  warmed = _run(str(tmp_path / 'model'), keras3_examples_artifact, str(tmp_path / 'out'),
                num_examples=4)
  assert warmed.mlmd_artifact.custom_properties[spec.VALIDATED_PROPERTY].int_value == 1


@pytest.mark.tfx116  # Keras 3
def test_validation_is_what_refuses_the_trap(keras3_examples_artifact, tmp_path):
  models.build_keras3_model(str(tmp_path / 'model' / 'Format-Serving'), use_export=False)
  warmed = _run(str(tmp_path / 'model'), keras3_examples_artifact, str(tmp_path / 'out'),
                num_examples=4, validate=False)
  assert warmed.mlmd_artifact.custom_properties[spec.VALIDATED_PROPERTY].int_value == 0


def test_a_runner_that_cannot_sample_is_refused_before_the_model_loads(tf1_model_dir,
                                                                        examples_artifact,
                                                                        tmp_path, monkeypatch):
  loads = []
  monkeypatch.setattr(library.run, 'plan_warmup', lambda *a, **k: loads.append(a))
  warmed = standard_artifacts.Model()
  warmed.uri = str(tmp_path / 'out')
  # --extra_package: TFX would otherwise build a package of itself for any Beam args.
  context = base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=['--runner=DaskRunner', '--extra_package=unused.tar.gz'])
  with pytest.raises(ConfigurationError, match='The Beam runner DaskRunner is not supported: '
                                               "Beam's DaskRunner has no translation for Read"):
    executor_lib.Executor(context).Do(
        {spec.MODEL_KEY: [models.model_artifact(os.path.dirname(tf1_model_dir))],
         spec.EXAMPLES_KEY: [examples_artifact]}, {spec.WARMED_MODEL_KEY: [warmed]},
        WarmupOptions(measure=False).to_exec_properties())
  assert not loads and not os.path.exists(warmed.uri)


def test_bulk_inferrer_prediction_logs_as_traffic_warm_without_examples(tf1_model_dir, tmp_path,
                                                                        examples):
  """BulkInferrer's InferenceResult (gzip PredictionLogs) is the traffic input."""
  traffic_dir = tmp_path / 'InferenceResult'
  traffic_dir.mkdir()
  with tf.io.TFRecordWriter(str(traffic_dir / 'prediction_logs-00000-of-00001.gz'),
                            'GZIP') as writer:
    for batch in (1, 1, 1, 4):
      log = prediction_log_pb2.PredictionLog()
      request = log.classify_log.request
      request.model_spec.signature_name = 'classify'
      request.input.example_list.examples.extend(examples[:batch])
      log.classify_log.response.CopyFrom(classification_pb2.ClassificationResponse())
      writer.write(log.SerializeToString())
  warmed = models.run_executor(tf1_model_dir, None, str(tmp_path / 'out'),
                               traffic_uri=str(traffic_dir))
  report = report_lib.WarmupReport.from_json(
      (tmp_path / 'out' / 'warmup_report.json').read_text())
  assert [(r.api, r.signature, r.batch_size) for r in report.warmup_file.summary] == [
      ('classify', 'classify', 1), ('classify', 'classify', 4)]
  assert report.traffic.requests == 4 and report.traffic.coverage == 1.0
  assert warmed.get_int_custom_property('traffic_requests') == 4
