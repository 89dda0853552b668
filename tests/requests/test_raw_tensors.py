"""Raw-tensor conversion: tf.Example features -> the tensors a Keras signature takes."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2

from tfx_warmup.requests import raw_tensors
from tfx_warmup import serving
from tfx_warmup.requests import signatures
from tfx_warmup.requests import build as warmup_requests
from tfx_warmup.errors import ConversionError
from tfx_warmup.requests.signatures import InputSpec


def _example(**features):
  out = tf.train.Example()
  for key, values in features.items():
    feature = out.features.feature[key]
    if isinstance(values[0], bytes):
      feature.bytes_list.value.extend(values)
    elif isinstance(values[0], float):
      feature.float_list.value.extend(values)
    else:
      feature.int64_list.value.extend(values)
  return out


def _array(examples, key, dtype, shape):
  return tf.make_ndarray(raw_tensors.build_tensor(examples, InputSpec(key, dtype, shape), 's'))


def test_one_value_per_example_and_int_to_float_cast():
  value = _array([_example(x=[1]), _example(x=[2])], 'x', types_pb2.DT_FLOAT, (-1,))
  assert value.dtype == np.float32 and value.tolist() == [1.0, 2.0]


def test_fixed_inner_shape_is_reshaped():
  value = _array([_example(x=[1., 2., 3., 4.])], 'x', types_pb2.DT_DOUBLE, (-1, 2, 2))
  assert value.shape == (1, 2, 2) and value.dtype == np.float64


def test_variable_length_is_padded_to_the_longest_example():
  value = _array([_example(x=[1, 2, 3]), _example(x=[4]), _example(y=[0])],
                 'x', types_pb2.DT_INT32, (-1, -1))
  assert value.tolist() == [[1, 2, 3], [4, 0, 0], [0, 0, 0]]


def test_strings_and_missing_values_become_empty_strings():
  value = _array([_example(s=[b'a']), _example(t=[b'b'])], 's', types_pb2.DT_STRING, (-1, 1))
  assert value.tolist() == [[b'a'], [b'']]


def test_unknown_rank_is_one_value_or_padded():
  assert _array([_example(x=[1])], 'x', types_pb2.DT_INT64, None).shape == (1,)
  assert _array([_example(x=[1, 2])], 'x', types_pb2.DT_INT64, None).shape == (1, 2)


@pytest.mark.parametrize('example,spec,message', [
    (_example(x=[1.5]), InputSpec('x', types_pb2.DT_INT64, (-1,)), 'float_list cannot be cast'),
    (_example(x=[b'a']), InputSpec('x', types_pb2.DT_FLOAT, (-1,)), 'bytes_list cannot be cast'),
    (_example(x=[1, 2]), InputSpec('x', types_pb2.DT_INT64, (-1, 3)), 'takes 3 per example'),
    (_example(x=[300]), InputSpec('x', types_pb2.DT_UINT8, (-1,)), r'outside \[0, 255\]'),
])
def test_impossible_conversions_name_the_feature_and_the_fix(example, spec, message):
  with pytest.raises(ConversionError, match=message) as error:
    raw_tensors.build_tensor([example], spec, 'sig')
  assert "'x'" in str(error.value) and "signature 'sig'" in str(error.value)


def test_feature_absent_from_every_example_is_an_error():
  with pytest.raises(ConversionError, match=r"needs feature 'x'.*features seen: \['y'\]"):
    raw_tensors.check_features_present([_example(y=[1])], InputSpec('x', 1, (-1,)), 'sig')


def test_raw_signature_output_equals_serialized_signature_output(keras_model_dir, examples):
  """The converter feeds the raw signature exactly what parsing feeds the model."""
  plans = signatures.plan_signatures(
      serving.read_meta_graph(keras_model_dir, ['serve']), keras_model_dir).usable
  plan = {p.name: p for p in plans}
  batch = examples[:16]
  raw_log, = warmup_requests.build_warmup_records(
      [e.SerializeToString() for e in batch],
      warmup_requests.plan_combinations([plan['predict_raw']], [16]))
  serialized = predict_pb2.PredictRequest(
      model_spec=model_pb2.ModelSpec(signature_name='serving_default'))
  serialized.inputs['examples'].CopyFrom(
      tf.make_tensor_proto([e.SerializeToString() for e in batch], dtype=tf.string))
  with serving.load(keras_model_dir) as servable:
    raw_out = tf.make_ndarray(
        servable.predict(raw_log.predict_log.request).outputs['probabilities'])
    parsed_out = tf.make_ndarray(servable.predict(serialized).outputs['probabilities'])
  assert raw_out.shape == (16, 1)
  np.testing.assert_allclose(raw_out, parsed_out, rtol=1e-6)
