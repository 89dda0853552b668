"""The TF Serving replica: same answers as TensorFlow, same refusals as TF Serving."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import input_pb2
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.apis import regression_pb2

from tests import models
from tfx_warmup import serving
from tfx_warmup.serving import warmup_file


@pytest.fixture(scope='module')
def tf1_servable(tf1_model_dir):
  with serving.load(tf1_model_dir) as servable:
    yield servable


def _spec(signature_name, name=''):
  return model_pb2.ModelSpec(name=name, signature_name=signature_name)


def _input(examples):
  return input_pb2.Input(example_list=input_pb2.ExampleList(examples=examples))


def _predict(signature_name, serialized, output_filter=()):
  request = predict_pb2.PredictRequest(model_spec=_spec(signature_name),
                                       output_filter=list(output_filter))
  request.inputs['examples'].CopyFrom(tf.make_tensor_proto(serialized, dtype=tf.string))
  return request


def _tf2_outputs(model_dir, signature_name, **inputs):
  loaded = tf.saved_model.load(model_dir)
  return {k: v.numpy() for k, v in loaded.signatures[signature_name](**inputs).items()}


def test_assets_backed_model_loads_and_answers_like_tensorflow(tf1_model_dir, tf1_servable,
                                                               examples):
  serialized = [e.SerializeToString() for e in examples[:5]]
  response = tf1_servable.predict(_predict('', serialized))
  assert response.model_spec.signature_name == 'serving_default'
  expected = _tf2_outputs(tf1_model_dir, 'serving_default', examples=tf.constant(serialized))
  for alias in ('probabilities', 'logits'):
    np.testing.assert_allclose(tf.make_ndarray(response.outputs[alias]), expected[alias],
                               rtol=1e-6)
  # The color lookup read the asset: known colors give distinct logits.
  assert len(set(expected['logits'].ravel().round(4))) > 1


def test_classify_and_regress_answer_per_example(tf1_model_dir, tf1_servable, examples):
  batch = examples[:3]
  classified = tf1_servable.classify(classification_pb2.ClassificationRequest(
      model_spec=_spec('classify'), input=_input(batch)))
  regressed = tf1_servable.regress(regression_pb2.RegressionRequest(
      model_spec=_spec('regress'), input=_input(batch)))
  expected = _tf2_outputs(tf1_model_dir, 'classify', inputs=tf.constant(
      [e.SerializeToString() for e in batch]))
  assert [[c.label for c in r.classes] for r in classified.result.classifications] == (
      [['0', '1']] * 3)
  np.testing.assert_allclose(
      [[c.score for c in r.classes] for r in classified.result.classifications],
      expected['scores'], rtol=1e-6)
  assert len(regressed.result.regressions) == 3


def test_keras_raw_and_serialized_signatures_answer_like_tensorflow(keras_model_dir, examples):
  serialized = [e.SerializeToString() for e in examples[:4]]
  with serving.load(keras_model_dir) as servable:
    response = servable.predict(_predict('serving_default', serialized))
  expected = _tf2_outputs(keras_model_dir, 'serving_default', examples=tf.constant(serialized))
  np.testing.assert_allclose(tf.make_ndarray(response.outputs['probabilities']),
                             expected['probabilities'], rtol=1e-6)


def test_context_bytes_come_first_and_examples_override_them(tf1_servable, examples):
  context = tf.train.Example()
  context.features.feature['color'].bytes_list.value.append(b'blue')
  plain, = examples[:1]
  request = classification_pb2.ClassificationRequest(
      model_spec=_spec('classify'), input=input_pb2.Input(
          example_list_with_context=input_pb2.ExampleListWithContext(
              examples=[plain], context=context)))
  with_context = tf1_servable.classify(request).result.classifications[0]
  without = tf1_servable.classify(classification_pb2.ClassificationRequest(
      model_spec=_spec('classify'), input=_input([plain]))).result.classifications[0]
  assert with_context == without  # The example's own color wins.


def test_multi_inference_runs_classify_and_regress_on_one_input(tf1_servable, examples):
  request = inference_pb2.MultiInferenceRequest(input=_input(examples[:2]))
  for signature, method in (('classify', tf.saved_model.CLASSIFY_METHOD_NAME),
                            ('regress', tf.saved_model.REGRESS_METHOD_NAME)):
    request.tasks.add(model_spec=_spec(signature, 'm'), method_name=method)
  response = tf1_servable.multi_inference(request)
  assert len(response.results[0].classification_result.classifications) == 2
  assert len(response.results[1].regression_result.regressions) == 2


@pytest.mark.parametrize('make_request,code,message', [
    (lambda ex: _predict('nope', [ex.SerializeToString()]), 'FAILED_PRECONDITION',
     'Serving signature key "nope" not found.'),
    (lambda ex: _predict('serving_default', [ex.SerializeToString()], ['nope']), 'INVALID_ARGUMENT',
     'output tensor alias not found in signature: nope'),
    (lambda ex: _predict('serving_default', [ex.SerializeToString()], ['logits', 'logits']),
     'INVALID_ARGUMENT', 'duplicate output tensor alias: logits'),
    (lambda ex: predict_pb2.PredictRequest(model_spec=_spec('serving_default')),
     'INVALID_ARGUMENT', 'input size does not match signature: 0!=1'),
    (lambda ex: classification_pb2.ClassificationRequest(
        model_spec=_spec('classify'), input=_input([])), 'INVALID_ARGUMENT', 'Input is empty.'),
    (lambda ex: classification_pb2.ClassificationRequest(
        model_spec=_spec('regress'), input=_input([ex])), 'INVALID_ARGUMENT',
     'Expected classification signature outputs to contain at least one of'),
    (lambda ex: regression_pb2.RegressionRequest(
        model_spec=_spec('serving_default'), input=_input([ex])), 'INVALID_ARGUMENT',
     'Expected one output Tensor.'),  # TF Serving checks output count before input key.
    (lambda ex: regression_pb2.RegressionRequest(
        model_spec=_spec('missing'), input=_input([ex])), 'INVALID_ARGUMENT',
     'No signature was found with the name: missing'),
    (lambda ex: inference_pb2.MultiInferenceRequest(input=_input([ex]), tasks=[
        inference_pb2.InferenceTask(model_spec=_spec('classify'),
                                    method_name=tf.saved_model.CLASSIFY_METHOD_NAME)]),
     'INVALID_ARGUMENT', 'Found ModelSpec with an empty model name.'),
    (lambda ex: inference_pb2.MultiInferenceRequest(input=_input([ex]), tasks=[
        inference_pb2.InferenceTask(model_spec=_spec('classify', 'm'),
                                    method_name=tf.saved_model.CLASSIFY_METHOD_NAME)] * 2),
     'INVALID_ARGUMENT', 'Duplicate evaluation of signature: classify'),
    (lambda ex: inference_pb2.MultiInferenceRequest(input=_input([ex]), tasks=[
        inference_pb2.InferenceTask(model_spec=_spec('serving_default', 'm'),
                                    method_name=tf.saved_model.PREDICT_METHOD_NAME)]),
     'UNIMPLEMENTED', 'Unsupported signature method_name: tensorflow/serving/predict'),
])
def test_tf_serving_refusals(tf1_servable, examples, make_request, code, message):
  with pytest.raises(serving.RequestError) as error:
    tf1_servable.run(make_request(examples[0]))
  assert error.value.code == code
  assert message in error.value.message


def test_method_name_check_is_off_by_default_as_in_tf_serving(tf1_model_dir):
  """TF Serving runs Classify on any structurally valid signature unless
  --enable_signature_method_name_check is set; the replica does the same."""
  request = classification_pb2.ClassificationRequest(
      model_spec=_spec('classify'), input=_input([tf.train.Example()]))
  renamed = _with_method(tf1_model_dir, 'classify', tf.saved_model.PREDICT_METHOD_NAME)
  with serving.load(renamed) as servable:
    assert len(servable.classify(request).result.classifications) == 1
  with serving.load(renamed, method_name_check=True) as servable:
    with pytest.raises(serving.RequestError, match='INVALID_ARGUMENT: Expected classification '
                       'signature method_name to be tensorflow/serving/classify. Was: '
                       'tensorflow/serving/predict'):
      servable.classify(request)


def test_method_name_check_refuses_unknown_methods_in_predict(tf1_model_dir, examples):
  renamed = _with_method(tf1_model_dir, 'serving_default', 'custom/method')
  with serving.load(renamed, method_name_check=True) as servable:
    with pytest.raises(serving.RequestError, match='INTERNAL: Expected prediction signature '
                       'method_name to be one of .* Was: custom/method'):
      servable.predict(_predict('', [examples[0].SerializeToString()]))


def _with_method(model_dir, signature_name, method_name):
  from tensorflow.core.protobuf import saved_model_pb2
  name = f'{signature_name}-{method_name}'.replace('/', '_')
  target = os.path.join(os.path.dirname(model_dir), name)
  if not os.path.exists(target):
    shutil.copytree(model_dir, target)
    path = os.path.join(target, 'saved_model.pb')
    with open(path, 'rb') as f:
      saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    saved_model.meta_graphs[0].signature_def[signature_name].method_name = method_name
    with open(path, 'wb') as f:
      f.write(saved_model.SerializeToString())
  return target


def test_wrong_input_dtype_is_refused(tf1_servable):
  request = predict_pb2.PredictRequest(model_spec=_spec('serving_default'))
  request.inputs['examples'].CopyFrom(tf.make_tensor_proto([1.0]))
  with pytest.raises(
      serving.RequestError,
      match=r'INVALID_ARGUMENT: Expects arg\[0\] to be string but float is provided'):
    tf1_servable.run(request)


def test_garbage_examples_fail_like_a_session_run(tf1_servable):
  with pytest.raises(serving.RequestError) as error:
    tf1_servable.run(_predict('serving_default', [b'\xff not a proto']))
  assert error.value.code == 'INVALID_ARGUMENT'


def _copy_with_warmup(model_dir, tmp_path, records=None, raw=None):
  return models.copy_with_warmup(model_dir, str(tmp_path / 'model'), records, raw)


def _predict_log(serialized):
  return prediction_log_pb2.PredictionLog(
      predict_log=prediction_log_pb2.PredictLog(request=_predict('', serialized)))


def test_replay_without_warmup_file_is_ok(tf1_model_dir):
  assert serving.replay_warmup(tf1_model_dir).records == 0


def test_replay_runs_every_record(tf1_model_dir, tmp_path, examples):
  records = [_predict_log([e.SerializeToString()]) for e in examples[:5]]
  result = serving.replay_warmup(_copy_with_warmup(tf1_model_dir, tmp_path, records))
  assert result.records == 5 and len(result.record_seconds) == 5


def test_replay_refuses_more_than_1000_records(tf1_model_dir, tmp_path, examples):
  records = [_predict_log([examples[0].SerializeToString()])] * 1001
  with pytest.raises(serving.WarmupReplayError,
                     match=r'Number of warmup records exceeds the maximum \(1000\)'):
    serving.replay_warmup(_copy_with_warmup(tf1_model_dir, tmp_path, records))


def test_replay_refuses_a_gzip_file(tf1_model_dir, tmp_path, examples):
  target = _copy_with_warmup(tf1_model_dir, tmp_path)
  path = warmup_file.warmup_file_path(target)
  os.makedirs(os.path.dirname(path))
  with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type='GZIP')) as w:
    w.write(_predict_log([examples[0].SerializeToString()]).SerializeToString())
  with pytest.raises(serving.WarmupReplayError, match='DATA_LOSS.*verify your warmup data is '
                                                     'in TFRecord format'):
    serving.replay_warmup(target)


def test_replay_refuses_unsupported_log_types(tf1_model_dir, tmp_path):
  record = prediction_log_pb2.PredictionLog()
  record.session_run_log.SetInParent()
  with pytest.raises(serving.WarmupReplayError,
                     match=r'Warmup record 0 .*UNIMPLEMENTED: Unsupported log_type for warmup: 5'):
    serving.replay_warmup(_copy_with_warmup(tf1_model_dir, tmp_path, [record]))


def test_replay_names_the_failing_record(tf1_model_dir, tmp_path, examples):
  good = _predict_log([examples[0].SerializeToString()])
  bad = _predict_log([b'\xff not a proto'])
  with pytest.raises(
      serving.WarmupReplayError,
      match=r"Warmup record 2 \(predict, signature 'serving_default', batch size 1\)"):
    serving.replay_warmup(_copy_with_warmup(tf1_model_dir, tmp_path, [good, good, bad]))


def test_load_failure_is_a_load_error(tmp_path):
  (tmp_path / 'saved_model.pb').write_bytes(b'not a saved model')
  with pytest.raises(serving.LoadError, match='TF Serving would fail to load'):
    serving.load(str(tmp_path))
