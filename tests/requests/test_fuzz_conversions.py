"""Property-based tests: whatever tf.Examples arrive, warmup never crashes or lies.

A warmup file is only useful if TF Serving can replay every record in it: one
failing record makes TF Serving refuse to load the model. And when the sampled
data cannot fill a signature, the user must get the documented, actionable
error (ConversionError / ExamplesError), not a numpy or protobuf traceback.

Hypothesis generates batches of tf.Examples with random feature presence, value
counts (0..5), list kinds (including ones that do not match the signature's
dtype), empty / unicode / non-UTF-8 bytes, NaN and infinities, and integers at
and beyond every dtype's range. For each batch:
  * raw-tensor signatures (one model, one signature per dtype x shape, plus
    the tf_keras model of tests/models.py): the converter either refuses with a
    ConversionError naming the signature and the feature, exactly when the
    rules in raw_tensors' module doc say it must, or every record it emits
    runs in the TF Serving replica with the right batch size;
  * serialized-tf.Example signatures (Classify/Regress/Predict of
    models.build_tf1_model): the examples are passed through as bytes, so every
    batch converts; records replay whenever the examples fit the model's own
    parse spec, and otherwise fail only with TF Serving's INVALID_ARGUMENT;
  * records that are not tf.Examples at all: an ExamplesError naming the record.
"""

import collections
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import message
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup import serving
from tfx_warmup.requests import signatures
from tfx_warmup.requests import build as warmup_requests
from tfx_warmup.errors import ConversionError, ExamplesError, WarmupError
from tfx_warmup.requests.signatures import InputSpec, SignaturePlan

BATCH_SIZES = (1, 3)
KINDS = ('bytes_list', 'float_list', 'int64_list')

# Signature name -> {input alias (= feature name): (dtype, shape)}; shape None is unknown rank.
# A lone string input of shape [None] is not here: that is a serialized-tf.Example signature.
RAW_SIGNATURES: Dict[str, Dict[str, Tuple[tf.DType, Optional[List[Optional[int]]]]]] = {
    'f32_vector': {'x': (tf.float32, [None])},
    'f64_column': {'x': (tf.float64, [None, 1])},
    'f16_vector': {'x': (tf.float16, [None])},
    'bf16_column': {'x': (tf.bfloat16, [None, 1])},
    'i32_triple': {'x': (tf.int32, [None, 3])},
    'i64_ragged': {'x': (tf.int64, [None, None])},
    'u8_pair': {'x': (tf.uint8, [None, 2])},
    'u64_vector': {'x': (tf.uint64, [None])},
    'bool_vector': {'x': (tf.bool, [None])},
    'str_column': {'x': (tf.string, [None, 1])},
    'str_ragged': {'x': (tf.string, [None, None])},
    'f32_grid': {'x': (tf.float32, [None, 2, 2])},
    'f32_any_rank': {'x': (tf.float32, None)},
    'i64_fixed_batch': {'x': (tf.int64, [2, 3])},
    'str_fixed_batch_ragged': {'x': (tf.string, [2, None])},
    'str_grid': {'x': (tf.string, [None, 2, 2])},
    'str_any_rank_pair': {'a': (tf.string, None), 'b': (tf.float64, [None, None])},
    'i8_any_rank': {'x': (tf.int8, None)},
    'i16_vector': {'x': (tf.int16, [None])},
    'u16_ragged': {'x': (tf.uint16, [None, None])},
    'u32_column': {'x': (tf.uint32, [None, 1])},
    'bool_ragged': {'x': (tf.bool, [None, None])},
    'f16_ragged': {'x': (tf.float16, [None, None])},
    'mixed': {'age': (tf.float32, [None, 1]), 'ids': (tf.int64, [None, None]),
              'tag': (tf.string, [None, 1])},
}

# CI runs a fixed, quick set of examples. For a deeper local hunt, e.g.
# FUZZ_SCALE=50 pytest tests/requests/test_fuzz_conversions.py (random seeds).
_SCALE = int(os.environ.get('FUZZ_SCALE', '1'))
_HYPOTHESIS = dict(deadline=None, derandomize=_SCALE == 1,
                   suppress_health_check=[HealthCheck.too_slow,
                                          HealthCheck.function_scoped_fixture,
                                          HealthCheck.data_too_large])


# -- The model under test ----------------------------------------------------------


def _as_float(value: tf.Tensor) -> tf.Tensor:
  """Any input as float32 (strings by their length), so the model reads every value."""
  if value.dtype == tf.string:
    value = tf.strings.length(value)
  return tf.cast(value, tf.float32)


def _serving_function(inputs: Dict[str, Tuple[tf.DType, Optional[List[Optional[int]]]]]):
  """A signature reading every input: one float32 per example, the sum of all values."""
  spec = {key: tf.TensorSpec(shape, dtype, name=key) for key, (dtype, shape) in inputs.items()}

  @tf.function(input_signature=[spec])
  def serve(features):
    first = features[sorted(features)[0]]
    total = tf.add_n([tf.reduce_sum(_as_float(v)) for v in features.values()])
    return {'rows': tf.fill(tf.shape(first)[:1], total)}
  return serve.get_concrete_function()


@pytest.fixture(scope='module')
def raw_model_dir(tmp_path_factory) -> str:
  export_dir = str(tmp_path_factory.mktemp('fuzz_raw_model') / 'Format-Serving')
  tf.saved_model.save(tf.Module(), export_dir, signatures={
      name: _serving_function(inputs) for name, inputs in RAW_SIGNATURES.items()})
  return export_dir


@pytest.fixture(scope='module')
def raw_plans(raw_model_dir) -> Dict[str, SignaturePlan]:
  plan = signatures.plan_signatures(
      serving.read_meta_graph(raw_model_dir, ['serve']), raw_model_dir)
  assert not plan.skipped
  return {p.name: p for p in plan.usable}


@pytest.fixture(scope='module')
def raw_servable(raw_model_dir):
  with serving.load(raw_model_dir) as servable:
    yield servable


@pytest.fixture(scope='module')
def tf1_servable(tf1_model_dir):
  with serving.load(tf1_model_dir) as servable:
    yield servable


# -- Strategies ----------------------------------------------------------------------

_BYTES = st.one_of(
    st.just(b''),
    st.text(max_size=6).map(lambda s: s.encode('utf-8')),  # Any unicode, surrogates excluded.
    st.binary(min_size=1, max_size=6),  # Mostly not UTF-8.
)
_FLOATS = st.one_of(
    st.sampled_from([0.0, -0.0, math.nan, math.inf, -math.inf, 3.4e38, -3.4e38, 1e-45]),
    st.floats(width=32),
)
_INT_EDGES = sorted({s * 2**b + d for b in (7, 8, 15, 16, 31, 32, 63) for s in (1, -1)
                     for d in (-1, 0, 1)} | {0, 1, 2, 255, 256})
_INTS = st.one_of(st.sampled_from([i for i in _INT_EDGES if -2**63 <= i < 2**63]),
                  st.integers(-2**63, 2**63 - 1))
_VALUES = {'bytes_list': _BYTES, 'float_list': _FLOATS, 'int64_list': _INTS}


def _compatible_kinds(dtype: int) -> Tuple[str, ...]:
  """The list kinds raw_tensors' module doc says may fill `dtype` (int -> float only)."""
  if dtype == types_pb2.DT_STRING:
    return ('bytes_list',)
  if dtype in signatures.FLOAT_DTYPES:
    return ('float_list', 'int64_list')
  return ('int64_list',)


def _values_per_example(spec: InputSpec) -> Optional[int]:
  """How many values a fixed shape takes per example; None when any count fits."""
  if spec.shape is None or spec.shape[1:] == (-1,):
    return None
  return int(np.prod(spec.shape[1:], dtype=np.int64))


@st.composite
def _feature(draw, spec: Optional[InputSpec], fit: bool = False) -> tf.train.Feature:
  """A feature that fits `spec` if `fit`, else mostly (so conversions succeed often)."""
  fitting = spec is not None and (fit or draw(st.integers(0, 3)) > 0)
  feature = tf.train.Feature()
  if draw(st.integers(0, 9)) == 0:
    return feature  # Present, but no list kind set at all.
  kind = draw(st.sampled_from(_compatible_kinds(spec.dtype) if fitting else KINDS))
  per_example = _values_per_example(spec) if spec is not None else None
  exact = fitting and per_example is not None and (fit or draw(st.booleans()))
  count = per_example if exact else draw(st.integers(0, 5))
  getattr(feature, kind).value.extend(draw(st.lists(_VALUES[kind], min_size=count,
                                                    max_size=count)))
  return feature


@st.composite
def _example(draw, specs: Sequence[InputSpec], extra_keys: Sequence[str] = (),
             fit: bool = False) -> tf.train.Example:
  """Each input's feature present with probability 3/4, plus unrelated (unicode-named) ones."""
  example = tf.train.Example()
  for spec in specs:
    if draw(st.integers(0, 3)):
      example.features.feature[spec.key].CopyFrom(draw(_feature(spec, fit)))
  names = draw(st.lists(st.one_of(st.sampled_from(list(extra_keys) or ['other']),
                                  st.text(min_size=1, max_size=4)), max_size=2))
  for name in names:
    if name not in {s.key for s in specs}:
      example.features.feature[name].CopyFrom(draw(_feature(None)))
  return example


def _examples(specs: Sequence[InputSpec], extra_keys: Sequence[str] = ()):
  """1-5 examples. In half the batches of a many-input signature every feature fits
  its input (else one misfit among many inputs would almost always refuse the batch)."""
  return st.booleans().flatmap(lambda fit: st.lists(
      _example(specs, extra_keys, fit and len(specs) > 1), min_size=1, max_size=5))


# -- The documented rules, restated as an oracle ---------------------------------------


def _refusal(examples: Sequence[tf.train.Example], spec: InputSpec) -> Optional[str]:
  """Why raw_tensors' documented rules refuse to fill `spec` from `examples`, or None."""
  if not any(spec.key in ex.features.feature for ex in examples):
    return 'absent from every example'
  for ex in examples:
    feature = ex.features.feature.get(spec.key)
    kind = feature.WhichOneof('kind') if feature is not None else None
    if kind is None:
      continue  # Missing here: zeros / empty strings.
    if kind not in _compatible_kinds(spec.dtype):
      return f'{kind} cannot be cast'
    values = list(getattr(feature, kind).value)
    if values and spec.dtype in signatures.INT_DTYPES and spec.dtype != types_pb2.DT_BOOL:
      info = np.iinfo(tf.dtypes.as_dtype(spec.dtype).as_numpy_dtype)
      if min(values) < info.min or max(values) > info.max:
        return 'out of range'
    per_example = _values_per_example(spec)
    if per_example is not None and len(values) not in (0, per_example):
      return f'{len(values)} values where {per_example} fit'
  return None


# -- Properties ----------------------------------------------------------------------


def _batch_of(record: prediction_log_pb2.PredictionLog) -> int:
  """How many examples a record carries."""
  request = serving.servable.log_request(record)
  if record.WhichOneof('log_type') == 'predict_log':
    return next(iter(request.inputs.values())).tensor_shape.dim[0].size
  return len(request.input.example_list.examples)


def _convert_or_refuse(plan: SignaturePlan, examples: Sequence[tf.train.Example]
                       ) -> Tuple[Optional[List[prediction_log_pb2.PredictionLog]],
                                  Optional[WarmupError]]:
  """Runs the converter; only the documented errors may escape it."""
  combinations = warmup_requests.plan_combinations([plan], BATCH_SIZES)
  try:
    return warmup_requests.build_warmup_records(
        [e.SerializeToString() for e in examples], combinations), None
  except (ConversionError, ExamplesError) as error:
    return None, error


def _check_raw_signature(plan: SignaturePlan, servable: serving.Servable,
                         examples: Sequence[tf.train.Example]) -> str:
  """The property for one batch; returns 'converted' or 'refused' for coverage counts."""
  refusals = {spec.key: _refusal(examples, spec) for spec in plan.inputs}
  refusing = [key for key, why in refusals.items() if why]
  records, error = _convert_or_refuse(plan, examples)
  if error is not None:
    message = str(error)
    assert isinstance(error, ConversionError), message  # The sample is never empty here.
    assert refusing, f'Refused input the documented rules accept: {message}'
    assert f"'{plan.name}'" in message, message
    assert any(f"'{key}'" in message for key in refusing), (message, refusals)
    return 'refused'
  assert not refusing, f'Converted input the documented rules refuse: {refusals}'
  assert records
  for record in records:
    try:
      response = servable.run_log(record)
    except serving.RequestError as e:
      pytest.fail(f'Emitted record fails in the TF Serving replica: {e}\n{record}')
    assert [o.tensor_shape.dim[0].size for o in response.outputs.values()] == [
        _batch_of(record)] * len(response.outputs)
    assert _batch_of(record) in plan.batch_sizes(BATCH_SIZES)
  return 'converted'


@pytest.mark.parametrize('signature_name', sorted(RAW_SIGNATURES))
def test_raw_tensor_records_replay_or_fail_with_the_documented_error(
    signature_name, raw_plans, raw_servable):
  """Every dtype x shape the converter claims: refused as documented, or replays."""
  plan = raw_plans[signature_name]
  assert plan.kind == signatures.RequestKind.PREDICT_TENSORS
  outcomes = collections.Counter()

  @settings(max_examples=30 * _SCALE, **_HYPOTHESIS)
  @given(examples=_examples(plan.inputs))
  def check(examples: List[tf.train.Example]) -> None:
    outcomes[_check_raw_signature(plan, raw_servable, examples)] += 1

  check()
  # Not vacuous: the strategy reaches both sides of the property.
  assert outcomes['converted'] and outcomes['refused'], outcomes


def test_keras_raw_signature_records_replay_or_fail_with_the_documented_error(
    keras_model_dir):
  """The same property on a real tf_keras model (StringLookup, Dense) fed raw tensors."""
  plan, = signatures.plan_signatures(
      serving.read_meta_graph(keras_model_dir, ['serve']), keras_model_dir, ['predict_raw']).usable
  outcomes = collections.Counter()
  with serving.load(keras_model_dir) as servable:

    @settings(max_examples=25 * _SCALE, **_HYPOTHESIS)
    @given(examples=_examples(plan.inputs))
    def check(examples: List[tf.train.Example]) -> None:
      outcomes[_check_raw_signature(plan, servable, examples)] += 1

    check()
  assert outcomes['converted'] and outcomes['refused'], outcomes


@settings(max_examples=40 * _SCALE, **_HYPOTHESIS)
@example(records=[b'\xff'])  # Regression: was protobuf's DecodeError, now ExamplesError.
@example(records=[b'', b'\n\x05abc'])
@given(records=st.lists(st.binary(max_size=12), min_size=1, max_size=4))
def test_records_that_are_not_tf_examples_are_refused_not_crashed(
    records: List[bytes], raw_plans, raw_servable, tf1_model_dir) -> None:
  """A corrupt record (or another payload) in the sample: ExamplesError naming it.

  Uniform sampling hands records to the converter without decoding them, so
  this is the first place that decodes them for Classify/Regress/raw tensors.
  Some random bytes do decode (b'' is an empty tf.Example); those then follow
  the raw-tensor property.
  """
  tf1_plans = signatures.plan_signatures(
      serving.read_meta_graph(tf1_model_dir, ['serve']), tf1_model_dir, ['classify']).usable
  for plan in (raw_plans['mixed'], *tf1_plans):
    combinations = warmup_requests.plan_combinations([plan], BATCH_SIZES)
    try:
      examples = [tf.train.Example.FromString(r) for r in records]
    except message.DecodeError:
      with pytest.raises(ExamplesError, match=r'Sampled record \d+ .*is not a serialized '
                                              r'tf.Example.*FORMAT_TF_EXAMPLE'):
        warmup_requests.build_warmup_records(records, combinations)
      continue
    if plan.kind == signatures.RequestKind.PREDICT_TENSORS:
      _check_raw_signature(plan, raw_servable, examples)
    else:
      assert warmup_requests.build_warmup_records(records, combinations)


# models.build_tf1_model parses FixedLenFeature([1]) age (float), hours (int64) and
# color (bytes), each with a default. Its signatures take the examples as serialized
# bytes, so the converter never looks inside them: every batch converts. Whether a
# record then runs is the model's parse op's call: an absent feature takes the default,
# but a feature of another list kind or with a value count other than 1 makes
# ParseExample fail, exactly as it would for a live client sending that example.
_TF1_PARSE_SPEC = {'age': 'float_list', 'hours': 'int64_list', 'color': 'bytes_list'}
_TF1_SPECS = (InputSpec('age', types_pb2.DT_FLOAT, (-1, 1)),
              InputSpec('hours', types_pb2.DT_INT64, (-1, 1)),
              InputSpec('color', types_pb2.DT_STRING, (-1, 1)))


def _fits_tf1_parse_spec(example: tf.train.Example) -> bool:
  """Whether ParseExample with _TF1_PARSE_SPEC accepts `example` (no kind = absent)."""
  for key, kind in _TF1_PARSE_SPEC.items():
    feature = example.features.feature.get(key)
    if feature is None:
      continue
    present = feature.WhichOneof('kind')
    if present is None:
      continue
    if present != kind or len(getattr(feature, kind).value) != 1:
      return False
  return True


def test_serialized_example_records_always_convert_and_replay_when_parseable(
    tf1_model_dir, tf1_servable):
  """Serialized examples never fail conversion; only the model's parse op may refuse."""
  plans = signatures.plan_signatures(
      serving.read_meta_graph(tf1_model_dir, ['serve']), tf1_model_dir).usable
  combinations = warmup_requests.plan_combinations(plans, BATCH_SIZES)
  outcomes = collections.Counter()

  @settings(max_examples=40 * _SCALE, **_HYPOTHESIS)
  @given(examples=_examples(_TF1_SPECS, extra_keys=('embedding', 'history', 'label')))
  def check(examples: List[tf.train.Example]) -> None:
    records = warmup_requests.build_warmup_records(
        [e.SerializeToString() for e in examples], combinations)  # Never raises.
    assert {r.WhichOneof('log_type') for r in records} == {
        'classify_log', 'regress_log', 'predict_log', 'multi_inference_log'}
    for record in records:
      assert _batch_of(record) in BATCH_SIZES
      parseable = _record_parseable(record)
      try:
        tf1_servable.run_log(record)
      except serving.RequestError as e:
        assert not parseable, f'A record of parseable examples fails in the replica: {e}'
        assert e.code == 'INVALID_ARGUMENT', e
        outcomes['refused by the model'] += 1
        continue
      assert parseable, f'The replica ran a record its parse op should refuse:\n{record}'
      outcomes['replayed'] += 1

  check()
  assert outcomes['replayed'] and outcomes['refused by the model'], outcomes


def _record_parseable(record: prediction_log_pb2.PredictionLog) -> bool:
  """Whether every example carried by `record` fits the tf1 model's parse spec."""
  request = serving.servable.log_request(record)
  if record.WhichOneof('log_type') == 'predict_log':
    serialized = request.inputs['examples'].string_val
    return all(_fits_tf1_parse_spec(tf.train.Example.FromString(s)) for s in serialized)
  return all(_fits_tf1_parse_spec(e) for e in request.input.example_list.examples)
