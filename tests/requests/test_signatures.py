"""How each signature is called: Classify, Regress, serialized or raw Predict, or skipped."""

import os

import pytest
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tfx.proto import example_gen_pb2

from tests import models
from tfx_warmup import serving
from tfx_warmup.component import artifacts
from tfx_warmup.requests import signatures
from tfx_warmup.errors import ModelError
from tfx_warmup.requests.signatures import RequestKind

_SEQUENCE_EXAMPLE = example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE
_EXAMPLE = example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE


def _signature(method, inputs, outputs=('out',)):
  sig = meta_graph_pb2.SignatureDef(method_name=method)
  for key, (dtype, shape) in inputs.items():
    info = sig.inputs[key]
    info.name, info.dtype = f'{key}:0', dtype
    if shape is None:
      info.tensor_shape.unknown_rank = True
    else:
      for d in shape:
        info.tensor_shape.dim.add(size=d)
  for key in outputs:
    sig.outputs[key].name = f'{key}:0'
  return sig


def test_tf1_model_plans_classify_regress_and_serialized_predict(tf1_model_dir):
  plan = signatures.plan_signatures(
      serving.read_meta_graph(tf1_model_dir, ['serve']), tf1_model_dir)
  assert {p.name: p.kind for p in plan.usable} == {
      'classify': RequestKind.CLASSIFY,
      'regress': RequestKind.REGRESS,
      'serving_default': RequestKind.PREDICT_SERIALIZED,
  }
  assert plan.skipped == {}


def test_keras_model_plans_raw_tensor_predict_with_each_input(keras_model_dir):
  plan = signatures.plan_signatures(
      serving.read_meta_graph(keras_model_dir, ['serve']), keras_model_dir)
  raw = {p.name: p for p in plan.usable}['predict_raw']
  assert raw.kind == RequestKind.PREDICT_TENSORS
  assert {i.key: (i.dtype, i.shape) for i in raw.inputs} == {
      'age': (types_pb2.DT_FLOAT, (-1, 1)),
      'hours': (types_pb2.DT_INT64, (-1, 1)),
      'color': (types_pb2.DT_STRING, (-1, 1)),
      'embedding': (types_pb2.DT_FLOAT, (-1, 3)),
      'history': (types_pb2.DT_INT64, (-1, -1)),
  }
  assert '__saved_model_init_op' not in plan.skipped


@pytest.mark.parametrize('method,inputs,outputs,kind', [
    (signatures.CLASSIFY_METHOD, {'inputs': (types_pb2.DT_STRING, (-1,))},
     ('classes', 'scores'), RequestKind.CLASSIFY),
    (signatures.REGRESS_METHOD, {'inputs': (types_pb2.DT_STRING, None)},
     ('outputs',), RequestKind.REGRESS),
    (signatures.PREDICT_METHOD, {'examples': (types_pb2.DT_STRING, None)},
     ('out',), RequestKind.PREDICT_SERIALIZED),
    # The Classify API cannot feed a float input: TF Serving clients use Predict.
    (signatures.CLASSIFY_METHOD, {'inputs': (types_pb2.DT_FLOAT, (-1, 4))},
     ('scores',), RequestKind.PREDICT_TENSORS),
    # A classify-method signature whose input is not named 'inputs'.
    (signatures.CLASSIFY_METHOD, {'examples': (types_pb2.DT_STRING, (-1,))},
     ('scores',), RequestKind.PREDICT_SERIALIZED),
    (signatures.PREDICT_METHOD, {'ids': (types_pb2.DT_INT32, (-1, -1)),
                                 'text': (types_pb2.DT_STRING, (-1, 1))},
     ('out',), RequestKind.PREDICT_TENSORS),
])
def test_request_kind_follows_tf_serving_apis(method, inputs, outputs, kind):
  plan = signatures.plan_signature('s', _signature(method, inputs, outputs), _EXAMPLE)
  assert plan.kind == kind


@pytest.mark.parametrize('inputs,reason', [
    ({}, 'takes no inputs'),
    ({'x': (types_pb2.DT_FLOAT, ())}, 'scalar'),
    ({'x': (types_pb2.DT_FLOAT, (-1, -1, 3))}, 'only [-1]'),
    ({'x': (types_pb2.DT_COMPLEX64, (-1,))}, 'DT_COMPLEX64'),
    ({'x': (types_pb2.DT_FLOAT, (2, 3)), 'y': (types_pb2.DT_FLOAT, (4,))},
     'different batch sizes'),
])
def test_unusable_signatures_are_skipped_with_a_reason(inputs, reason):
  result = signatures.plan_signature(
      's', _signature(signatures.PREDICT_METHOD, inputs), _EXAMPLE)
  assert isinstance(result, str) and reason in result


def test_sparse_input_is_skipped():
  sig = meta_graph_pb2.SignatureDef(method_name=signatures.PREDICT_METHOD)
  sig.inputs['ids'].coo_sparse.values_tensor_name = 'v:0'
  assert 'sparse' in signatures.plan_signature('s', sig, _EXAMPLE)


def test_fixed_batch_dimension_is_the_only_batch_size():
  plan = signatures.plan_signature(
      's', _signature(signatures.PREDICT_METHOD, {'x': (types_pb2.DT_FLOAT, (4, 3))}),
      _EXAMPLE)
  assert plan.fixed_batch_size == 4
  assert plan.batch_sizes([1, 8]) == [4]


def test_sequence_example_payload_only_allows_serialized_predict():
  serialized = _signature(signatures.PREDICT_METHOD, {'examples': (types_pb2.DT_STRING, (-1,))})
  raw = _signature(signatures.PREDICT_METHOD, {'x': (types_pb2.DT_FLOAT, (-1,))})
  assert signatures.plan_signature('a', serialized, _SEQUENCE_EXAMPLE).kind == (
      RequestKind.PREDICT_SERIALIZED)
  assert 'FORMAT_TF_SEQUENCE_EXAMPLE' in signatures.plan_signature('b', raw, _SEQUENCE_EXAMPLE)


def test_requested_signature_missing_names_the_available_ones(tf1_model_dir):
  with pytest.raises(ModelError, match=r"\['nope'\] not found.*'classify', 'regress'"):
    signatures.plan_signatures(
        serving.read_meta_graph(tf1_model_dir, ['serve']), tf1_model_dir, ['nope'])


def test_requested_subset_is_planned_alone(tf1_model_dir):
  plan = signatures.plan_signatures(
      serving.read_meta_graph(tf1_model_dir, ['serve']), tf1_model_dir, ['regress'])
  assert [p.name for p in plan.usable] == ['regress']


def test_wrong_tag_set_names_the_available_tag_sets(tf1_model_dir):
  with pytest.raises(ModelError, match=r"tag set \['gpu', 'serve'\].*\[\['serve'\]\]"):
    signatures.plan_signatures(
        serving.read_meta_graph(tf1_model_dir, ['serve', 'gpu']), tf1_model_dir)


def test_missing_model_directory_is_a_clear_error(tmp_path):
  with pytest.raises(ModelError, match='No SavedModel directory'):
    signatures.plan_signatures(
        serving.read_meta_graph(str(tmp_path / 'nothing'), ['serve']), str(tmp_path / 'nothing'))


def test_no_usable_signature_lists_each_reason(tmp_path):
  models.build_scalar_model(str(tmp_path))
  with pytest.raises(ModelError, match=r"No signature .* 'only': input 'x' is a scalar"):
    signatures.plan_signatures(serving.read_meta_graph(str(tmp_path), ['serve']), str(tmp_path))


# -- --model / the Model artifact: every layout leads to one SavedModel -----------------


def _fake_saved_model(path) -> str:
  """A directory the resolver takes for a SavedModel (it looks for saved_model.pb only)."""
  path.mkdir(parents=True)
  (path / 'saved_model.pb').write_bytes(b'')
  return str(path)


@pytest.mark.parametrize('given, found, form', [
    ('m/Format-Serving', 'm/Format-Serving', 'SavedModel directory'),
    ('m', 'm/Format-Serving', 'Model artifact'),
    ('old', 'old/serving_model_dir', 'Model artifact'),  # TFX before the Format-Serving name
    ('est', 'est/Format-Serving/export/taxi/200', 'Model artifact (Estimator export)'),
    ('est/Format-Serving', 'est/Format-Serving/export/taxi/200', 'Estimator export'),
    ('est/Format-Serving/export', 'est/Format-Serving/export/taxi/200', 'Estimator export'),
    ('est/Format-Serving/export/taxi', 'est/Format-Serving/export/taxi/200', 'Estimator export'),
    ('serving', 'serving/10', 'directory of numbered versions'),  # 10 > 9, not by name
])
def test_resolve_model_finds_the_saved_model_of_each_layout(tmp_path, given, found, form):
  _fake_saved_model(tmp_path / 'm' / 'Format-Serving')
  _fake_saved_model(tmp_path / 'old' / 'serving_model_dir')
  for version in ('100', '200'):
    _fake_saved_model(tmp_path / 'est' / 'Format-Serving' / 'export' / 'taxi' / version)
  (tmp_path / 'est' / 'Format-Serving' / 'checkpoint').write_text('')
  for version in ('9', '10'):
    _fake_saved_model(tmp_path / 'serving' / version)
  (tmp_path / 'serving' / 'notes').mkdir()
  result = serving.resolve_model(str(tmp_path / given) + '/')
  assert (result.saved_model_dir, result.form) == (str(tmp_path / found), form)


@pytest.mark.parametrize('layout, message', [
    ('missing', 'No model at'),
    ('file', 'is a file, not a model directory'),
    ('empty', 'is a directory but not a model'),
    ('artifact', 'is a Model artifact, but its Format-Serving/ holds neither'),
    ('two_exporters', r"holds 2 exporters \(\['a', 'b'\]\)"),
])
def test_an_unrecognised_model_path_is_one_clear_error(tmp_path, layout, message):
  (tmp_path / 'file').write_text('')
  (tmp_path / 'empty').mkdir()
  (tmp_path / 'artifact' / 'Format-Serving').mkdir(parents=True)
  for name in ('a', 'b'):
    _fake_saved_model(tmp_path / 'two_exporters' / 'export' / name / '1')
  with pytest.raises(ModelError, match=message) as raised:
    serving.resolve_model(str(tmp_path / layout))
  if layout in ('missing', 'file', 'empty'):
    assert 'a Model artifact (holding Format-Serving/), an Estimator export' in str(raised.value)


@pytest.mark.tfx116  # the tfx wheel's test models
def test_resolve_model_on_the_models_tfx_ships():
  """TFX's Chicago-taxi Estimator (old export layout) and Keras model, as Trainer left them."""
  taxi = serving.resolve_model(models.tfx_testdata('trainer', 'current'))
  assert taxi.saved_model_dir.endswith('Format-Serving/export/chicago-taxi/1646034756')
  assert 'predict' in serving.read_meta_graph(taxi.saved_model_dir, ['serve']).signature_def
  keras = serving.resolve_model(models.tfx_testdata('trainer', 'keras'))
  assert (keras.saved_model_dir, keras.form) == (
      os.path.join(models.TFX_TESTDATA, 'trainer', 'keras', 'Format-Serving'), 'Model artifact')


def test_the_executor_resolves_the_model_artifact_alike(tmp_path):
  _fake_saved_model(tmp_path / 'Format-Serving' / 'export' / 'e' / '7')
  assert artifacts.saved_model_dir(models.model_artifact(str(tmp_path))) == str(
      tmp_path / 'Format-Serving' / 'export' / 'e' / '7')
