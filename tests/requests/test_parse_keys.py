"""The feature keys a signature parses, found in real SavedModels' graphs and function libraries."""

import pytest
import tensorflow as tf

from tests import models
from tests.serving import models as serving_models
from tfx_warmup import serving
from tfx_warmup.requests import parse_keys
from tfx_warmup.requests.parse_keys import ParsedKeys

_V1 = tf.compat.v1
_SIG = _V1.saved_model.signature_def_utils
_RAW_KEYS = frozenset(models.RAW_FEATURE_SPEC)


def _parses(model_dir: str):
  return parse_keys.signature_parses(serving.read_meta_graph(model_dir, ['serve']))


def _graph_model(tmp_path, build) -> str:
  return models.build_graph_model(str(tmp_path / 'model'), build)


def _predict(serialized: tf.Tensor, output: tf.Tensor):
  return _SIG.predict_signature_def({'examples': serialized}, {'out': output})


def _save_module(tmp_path, **functions) -> str:
  """A TF2 SavedModel whose signatures are `functions` (bodies in the function library)."""
  module = tf.Module()
  for name, fn in functions.items():
    setattr(module, name, fn)
  export_dir = str(tmp_path / 'tf2')
  tf.saved_model.save(module, export_dir, signatures=functions)
  return export_dir


def test_tf1_estimator_style_signatures_share_one_parse(tf1_model_dir):
  expected = ParsedKeys(features=frozenset(['age', 'hours', 'color']))
  assert _parses(tf1_model_dir) == {
      name: parse_keys.SignatureParse(name, expected)
      for name in ('classify', 'regress', 'serving_default')}


def test_keras_signature_parses_inside_the_function_library(keras_model_dir):
  meta_graph = serving.read_meta_graph(keras_model_dir, ['serve'])
  # The parse is two calls deep: signature wrapper -> serve_examples -> ParseExampleV2.
  assert not any(n.op.startswith('Parse') for n in meta_graph.graph_def.node)
  parses = parse_keys.signature_parses(meta_graph)
  assert parses['serving_default'].keys == ParsedKeys(features=_RAW_KEYS)
  assert 'predict_raw' not in parses  # Named tensors: nothing serialized to parse.
  assert parse_keys.signature_parse(meta_graph, 'predict_raw').keys is None


def test_tf_serving_half_plus_two_parses_x_and_x2_with_parse_example_v1(tmp_path):
  model_dir = serving_models.build_half_plus_two(str(tmp_path / 'hp2'))
  parses = _parses(model_dir)
  assert sorted(parses) == ['classify_x_to_y', 'regress_x_to_y', 'regress_x_to_y2']
  assert {p.keys for p in parses.values()} == {ParsedKeys(features=frozenset(['x', 'x2']))}
  meta_graph = serving.read_meta_graph(model_dir, ['serve'])
  assert parse_keys.signature_parse(meta_graph, 'serving_default').reason == (
      'it has no single serialized (DT_STRING) input')


def test_tf2_single_example_and_sequence_example_parses(tmp_path):
  @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
  def single(s):
    parsed = tf.io.parse_single_example(s, {
        'a': tf.io.FixedLenFeature([], tf.int64, default_value=0),
        'v': tf.io.VarLenFeature(tf.string), 'r': tf.io.RaggedFeature(tf.float32)})
    return {'a': parsed['a']}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def sequence(s):
    context, lists, _ = tf.io.parse_sequence_example(
        s, context_features={'user': tf.io.FixedLenFeature([], tf.int64, default_value=0),
                             'tags': tf.io.VarLenFeature(tf.string)},
        sequence_features={'clicks': tf.io.RaggedFeature(tf.float32),
                           'pos': tf.io.FixedLenSequenceFeature([], tf.int64,
                                                                allow_missing=True)})
    return {'user': context['user'], 'n': tf.shape(lists['pos'])[0]}

  parses = _parses(_save_module(tmp_path, single=single, sequence=sequence))
  assert parses['single'].keys == ParsedKeys(features=frozenset(['a', 'v', 'r']))
  assert parses['sequence'].keys == ParsedKeys(context=frozenset(['user', 'tags']),
                                               feature_lists=frozenset(['clicks', 'pos']))


def test_attr_keyed_and_list_keyed_raw_parse_ops(tmp_path):
  """ParseSingleExample and ParseSequenceExample keep keys in attrs; the V1 single-sequence
  parse takes them as lists of Const inputs."""
  def build():
    single = _V1.placeholder(tf.string, [], name='single')
    one = tf.raw_ops.ParseSingleExample(
        serialized=single, dense_defaults=[tf.constant([0.0])], num_sparse=1,
        sparse_keys=['s'], dense_keys=['d'], sparse_types=[tf.int64], dense_shapes=[[1]])
    batch = _V1.placeholder(tf.string, [None], name='batch')
    seq = tf.raw_ops.ParseSequenceExample(
        serialized=batch, debug_name=tf.constant([], tf.string),
        context_dense_defaults=[tf.constant([0.0])],
        feature_list_dense_missing_assumed_empty=['fd'],
        context_sparse_keys=['cs'], context_dense_keys=['cd'],
        feature_list_sparse_keys=['fs'], feature_list_dense_keys=['fd'],
        Ncontext_sparse=1, Ncontext_dense=1, Nfeature_list_sparse=1, Nfeature_list_dense=1,
        context_sparse_types=[tf.int64], feature_list_dense_types=[tf.float32],
        context_dense_shapes=[[1]], feature_list_sparse_types=[tf.int64],
        feature_list_dense_shapes=[[1]])
    scalar = _V1.placeholder(tf.string, [], name='scalar')
    single_seq = tf.raw_ops.ParseSingleSequenceExample(
        serialized=scalar, feature_list_dense_missing_assumed_empty=tf.constant([], tf.string),
        context_sparse_keys=[], context_dense_keys=['c1', 'c2'],
        feature_list_sparse_keys=['l1'], feature_list_dense_keys=[],
        context_dense_defaults=[tf.constant([0.0]), tf.constant([0.0])],
        debug_name=tf.constant('', tf.string), context_sparse_types=[],
        feature_list_dense_types=[], context_dense_shapes=[[1], [1]],
        feature_list_sparse_types=[tf.int64], feature_list_dense_shapes=[])
    return {'single': _predict(single, one.dense_values[0]),
            'seq': _predict(batch, seq.context_dense_values[0]),
            'single_seq': _predict(scalar, single_seq.context_dense_values[1])}

  parses = _parses(_graph_model(tmp_path, build))
  assert parses['single'].keys == ParsedKeys(features=frozenset(['s', 'd']))
  assert parses['seq'].keys == ParsedKeys(context=frozenset(['cs', 'cd']),
                                          feature_lists=frozenset(['fs', 'fd']))
  assert parses['single_seq'].keys == ParsedKeys(context=frozenset(['c1', 'c2']),
                                                 feature_lists=frozenset(['l1']))


def test_pass_through_and_shape_only_ops_are_followed(tmp_path):
  def build():
    default = tf.constant([b''], name='no_examples')
    serialized = _V1.placeholder_with_default(default, [None], name='examples')
    reshaped = tf.squeeze(tf.expand_dims(tf.reshape(tf.identity(serialized), [-1]), 1), 1)
    parsed = tf.io.parse_example(reshaped, {'age': tf.io.FixedLenFeature([1], tf.float32,
                                                                         default_value=[0.0])})
    batch = tf.cast(tf.shape(serialized)[0], tf.float32)
    return {'serving_default': _predict(serialized, parsed['age'] * batch)}

  parse = _parses(_graph_model(tmp_path, build))['serving_default']
  assert parse.keys == ParsedKeys(features=frozenset(['age'])), parse.reason


def test_each_signature_is_judged_on_what_its_outputs_need(tmp_path):
  """One placeholder, two signatures: a decode that only the second fetches spoils only it."""
  def build():
    serialized = _V1.placeholder(tf.string, [None], name='examples')
    age = tf.io.parse_example(serialized, {'age': tf.io.FixedLenFeature([1], tf.float32)})
    raw = tf.io.decode_raw(serialized, tf.uint8)
    return {'parsed': _predict(serialized, age['age']),
            'decoded': _predict(serialized, tf.cast(raw, tf.float32))}

  parses = _parses(_graph_model(tmp_path, build))
  assert parses['parsed'].keys == ParsedKeys(features=frozenset(['age']))
  assert parses['decoded'].keys is None
  assert "reaches DecodeRaw op 'DecodeRaw'" in parses['decoded'].reason


@pytest.mark.parametrize('name,expected', [
    ('string_op', "reaches StringLength op"),
    ('py_func', "reaches PyFunc op"),
    ('computed_keys', "'dense_keys' of ParseExampleV2 op"),
    ('echo', 'returns its serialized input as an output'),
])
def test_anything_but_a_constant_keyed_parse_means_whole_examples(tmp_path, name, expected):
  def build():
    serialized = _V1.placeholder(tf.string, [None], name='examples')
    age_spec = {'age': tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])}
    age = tf.io.parse_example(serialized, age_spec)['age']
    if name == 'string_op':
      out = age + tf.cast(tf.strings.length(serialized)[:, None], tf.float32)
    elif name == 'py_func':
      out = age + _V1.py_func(lambda s: 0.0, [serialized], tf.float32)
    elif name == 'computed_keys':
      keys = _V1.placeholder_with_default(tf.constant(['age']), [1])
      out = tf.raw_ops.ParseExampleV2(
          serialized=serialized, names=[], sparse_keys=[], dense_keys=keys, ragged_keys=[],
          dense_defaults=[tf.constant([0.0])], num_sparse=0, sparse_types=[],
          ragged_value_types=[], ragged_split_types=[], dense_shapes=[[1]]).dense_values[0]
    else:
      return {name: _SIG.predict_signature_def({'examples': serialized},
                                               {'age': age, 'examples': serialized})}
    return {name: _predict(serialized, out)}

  parse = _parses(_graph_model(tmp_path, build))[name]
  assert parse.keys is None
  assert expected in parse.reason


def test_a_decode_inside_a_tf2_function_names_the_function(tmp_path):
  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def decoded(s):
    return {'n': tf.reduce_sum(tf.cast(tf.io.decode_raw(s, tf.uint8), tf.int32))}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def parsed(s):
    return {'a': tf.io.parse_example(s, {'a': tf.io.VarLenFeature(tf.int64)})['a'].values}

  parses = _parses(_save_module(tmp_path, decoded=decoded, parsed=parsed))
  assert parses['parsed'].keys == ParsedKeys(features=frozenset(['a']))
  assert parses['decoded'].keys is None
  assert 'reaches DecodeRaw op' in parses['decoded'].reason
  assert "in function '__inference_decoded" in parses['decoded'].reason


def test_a_serialized_input_returned_from_a_function_is_followed_back_to_its_caller(tmp_path):
  """A helper tf.function that passes the tensor through: its output is the input again."""
  @tf.function
  def passthrough(s):
    return tf.identity(s)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def serve(s):
    again = passthrough(s)
    return {'n': tf.strings.length(again)}

  parse = _parses(_save_module(tmp_path, serve=serve))['serve']
  assert parse.keys is None and 'reaches StringLength op' in parse.reason


def test_ragged_and_sparse_outputs_are_followed_through_their_components(tmp_path):
  def build():
    serialized = tf.compat.v1.placeholder(tf.string, [None], name='sequences')
    context, lists, _ = tf.io.parse_sequence_example(
        serialized, context_features={'country': tf.io.FixedLenFeature([], tf.string)},
        sequence_features={'clicks': tf.io.RaggedFeature(tf.int64)})
    sparse = tf.io.parse_example(serialized, {'tags': tf.io.VarLenFeature(tf.string)})['tags']
    return {
        'ragged': _SIG.build_signature_def(
            {'sequences': _V1.saved_model.utils.build_tensor_info(serialized)},
            {'clicks': _V1.saved_model.utils.build_tensor_info(lists['clicks'] + 1)},
            tf.saved_model.PREDICT_METHOD_NAME),
        'sparse': _SIG.build_signature_def(
            {'sequences': _V1.saved_model.utils.build_tensor_info(serialized)},
            {'tags': _V1.saved_model.utils.build_tensor_info(sparse)},
            tf.saved_model.PREDICT_METHOD_NAME),
        'dense': _predict(serialized, tf.strings.length(context['country'])),
    }
  parses = _parses(_graph_model(tmp_path, build))
  # One parse op reads both keys: what it parses is read, whichever output uses it.
  sequence = ParsedKeys(context=frozenset(['country']), feature_lists=frozenset(['clicks']))
  assert parses['ragged'].keys == parses['dense'].keys == sequence
  assert parses['sparse'].keys == ParsedKeys(features=frozenset(['tags']))
