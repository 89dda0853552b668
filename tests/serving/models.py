"""TF Serving's own test SavedModels, rebuilt so ported TF Serving tests can run here.

TF Serving's C++ tests load binary models from its testdata directories (and
from TensorFlow's cc/saved_model/testdata). Those files are not shipped in any
pip package, so these functions rebuild equivalent models with TF1 graph code,
following what the export scripts in
tensorflow_serving/servables/tensorflow/testdata/ do: the same signature keys,
input/output aliases, tensor names, method names, variables and assets.

Variables are TF1 reference variables (VariableV2), as in the TF1-built
testdata: a graph built under TF2 would otherwise get resource variables, and
a signature pointing at a resource variable (the counter model) would fetch a
handle instead of a value.
"""

import contextlib
import os
import shutil
import tempfile
from typing import Dict, Iterator, Optional, Tuple

import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

_v1 = tf.compat.v1
_sig = _v1.saved_model.signature_def_utils
_consts = _v1.saved_model.signature_constants

# The version directory TF Serving's testdata models live in.
VERSION = '00000123'
ASSET_FILENAME = 'foo.txt'
ASSET_CONTENTS = 'asset-file-contents'


def _variable(value, name: str, **kwargs) -> tf.Variable:
  """A TF1 reference variable, as the testdata models were exported with."""
  return _v1.Variable(value, name=name, use_resource=False, **kwargs)


def _tensor_info(tensor: tf.Tensor):
  return _v1.saved_model.utils.build_tensor_info(tensor)


def _signature(inputs: Dict[str, tf.Tensor], outputs: Dict[str, tf.Tensor],
               method_name: str):
  return _sig.build_signature_def(
      {k: _tensor_info(v) for k, v in inputs.items()},
      {k: _tensor_info(v) for k, v in outputs.items()}, method_name)


def signature_by_names(inputs: Dict[str, str], outputs: Dict[str, str], method_name: str,
                       method_name_check: bool = True) -> meta_graph_pb2.SignatureDef:
  """A SignatureDef as TF Serving's C++ tests write one by hand: TensorInfos with names only.

  inputs and outputs map aliases to tensor names; method_name is set only
  where method_name_check is on (the C++ TEST_Ps' signatures leave it empty
  when the check is off).
  """
  signature = meta_graph_pb2.SignatureDef()
  for alias, name in inputs.items():
    signature.inputs[alias].name = name
  for alias, name in outputs.items():
    signature.outputs[alias].name = name
  if method_name_check:
    signature.method_name = method_name
  return signature


def run_totally_failed(serialized: tf.Tensor, output: tf.Tensor) -> tf.Tensor:
  """`run_totally_failed`: `output`, behind an op failing at run time whatever is fed.

  The C++ MockSession's Run returning INTERNAL "Run totally failed".
  """
  check = tf.debugging.Assert(tf.equal(tf.size(serialized), -1), ['Run totally failed'])
  with tf.control_dependencies([check]):
    return tf.identity(output, name='run_totally_failed')


@contextlib.contextmanager
def _graph_session(assets_prefix: Optional[str] = None,
                   config=None) -> Iterator[Tuple[_v1.Session, Optional[str]]]:
  """A Session of a fresh graph, and with assets_prefix a temporary directory for the asset.

  The directory is removed on exit: the model's copy of the asset is saved by then.
  """
  assets_dir = tempfile.mkdtemp(prefix=assets_prefix) if assets_prefix else None
  try:
    graph = tf.Graph()
    with graph.as_default(), _v1.Session(graph=graph, config=config) as sess:
      yield sess, assets_dir
  finally:
    if assets_dir:
      shutil.rmtree(assets_dir, ignore_errors=True)


def _regression(input_tensor: tf.Tensor, output_tensor: tf.Tensor):
  return _signature({_consts.REGRESS_INPUTS: input_tensor},
                    {_consts.REGRESS_OUTPUTS: output_tensor}, _consts.REGRESS_METHOD_NAME)


def _classification(input_tensor: tf.Tensor, scores_tensor: tf.Tensor):
  """Scores only, no classes: the script's classification signatures are built so."""
  return _signature({_consts.CLASSIFY_INPUTS: input_tensor},
                    {_consts.CLASSIFY_OUTPUT_SCORES: scores_tensor},
                    _consts.CLASSIFY_METHOD_NAME)


def _parse_examples(serialized: tf.Tensor, with_x2: bool = True) -> Dict[str, tf.Tensor]:
  """Parses "x" (required) and "x2" (default 0.0), one float each, into [?, 1] tensors.

  The script's tf.parse_example of FixedLenFeature([1]) specs, built with the
  ParseExample op the committed testdata holds: today's tf.parse_example emits
  ParseExampleV2, whose outputs lose their static [?, 1] shape when tf_example
  has unknown rank, and a Python Session checks feeds against static shapes.
  """
  keys = ['x', 'x2'] if with_x2 else ['x']
  with tf.name_scope('ParseExample'):
    defaults = [tf.constant([], tf.float32, name='Const')]  # "x": required.
    if with_x2:
      defaults.append(tf.reshape(tf.constant([0.0], tf.float32, name='key_x2'), [1]))
    parsed = tf.raw_ops.ParseExample(
        serialized=serialized, names=[], sparse_keys=[], dense_keys=keys,
        dense_defaults=defaults, sparse_types=[], dense_shapes=[[1]] * len(keys),
        name='ParseExample')
  return dict(zip(keys, parsed.dense_values))


def _half_plus(a: tf.Tensor, x: tf.Tensor, b: tf.Tensor, name: Optional[str] = None) -> tf.Tensor:
  """a*x + b with the Mul and Add ops the TF1 testdata holds (tf.add now emits AddV2)."""
  return tf.raw_ops.Add(x=tf.multiply(a, x), y=b, name=name or 'Add')


def build_half_plus_two(export_dir: str, *, device: Optional[str] = None,
                        plus: float = 2.0, variant: str = 'script') -> str:
  """The TF1 half_plus_two: y = 0.5*x + plus, y2 = 0.5*x + 3, y3 = 0.5*x2 + 3.

  x and x2 are parsed from a batch of serialized tf.Examples fed to tf_example
  ("x" required, "x2" defaulting to 0.0; one float each, so x, x2: [?, 1]).
  Signatures (name, method, alias -> alias, tensor -> tensor):
    serving_default   predict   x -> y             x:0 -> y:0
    regress_x_to_y    regress   inputs -> outputs  tf_example:0 -> y:0
    regress_x_to_y2   regress   inputs -> outputs  tf_example:0 -> y2:0
    regress_x2_to_y3  regress   inputs -> outputs  x2:0 -> y3:0
    classify_x_to_y   classify  inputs -> scores   tf_example:0 -> y:0
  plus the asset foo.txt ("asset-file-contents") in the assets collection; the
  main op assigns its file name to the variable filename_tensor.

  variant picks which of TF Serving's copies of this model to rebuild:
    'script'     servables/tensorflow/testdata/saved_model_half_plus_two.py as
                 of TF Serving 9d981c5: tf_example has shape [None]; y3 uses
                 its own variables a2 and c2.
    'testdata'   the committed testdata/saved_model_half_plus_two_cpu (exported
                 by an older run of that script, TF 1.14): the same, except
                 tf_example has unknown rank.
    'tensorflow' TensorFlow's cc/saved_model/testdata/half_plus_two, which the
                 predict_util, multi_inference, bundle_factory_util and
                 batching_session tests load: unknown-rank tf_example and one
                 more signature, classify_x2_to_y3 (classify, inputs -> scores,
                 x2:0 -> y3:0), as TensorFlow's saved_model_cli test shows it;
                 y3 uses a and c, as in TensorFlow's own export script and the
                 committed GPU model (that binary is not available to check).
  plus=3.0 sets b=3 (y = 0.5*x + 3); build_half_plus_three rebuilds the
  committed half_plus_three itself, which has an older layout.
  device pins the ops as the script's --device does ('/device:GPU:0' for
  --device=gpu); None is the script's default, '/cpu:0'. The tf.Example
  parsing stays on the CPU and the asset ops are unpinned, as in the script.
  """
  if variant not in ('script', 'testdata', 'tensorflow'):
    raise ValueError(f"variant must be 'script', 'testdata' or 'tensorflow', not {variant!r}")
  # Soft placement lets a GPU-pinned model be built (not served) without a GPU;
  # the saved NodeDefs keep the requested device.
  config = _v1.ConfigProto(allow_soft_placement=True)
  with _graph_session('half_plus_two_assets_', config) as (sess, assets_dir):
    with tf.device(device or '/cpu:0'):
      a = _variable(0.5, 'a')
      b = _variable(float(plus), 'b')
      c = _variable(3.0, 'c')
      shape = [None] if variant == 'script' else None
      serialized = _v1.placeholder(tf.string, shape=shape, name='tf_example')
      with tf.device('/cpu:0'):  # The script: "parse_example only works on CPU".
        parsed = _parse_examples(serialized)
      x = tf.identity(parsed['x'], name='x')
      y = tf.identity(_half_plus(a, x, b), name='y')
      y2 = tf.identity(_half_plus(a, x, c), name='y2')
      x2 = tf.identity(parsed['x2'], name='x2')
      if variant == 'tensorflow':
        y3 = _half_plus(a, x2, c)
      else:
        # The script keeps x2's path apart so optimizers cannot fuse it with y/y2.
        a2 = _variable(0.5, 'a2')
        c2 = _variable(3.0, 'c2')
        y3 = _half_plus(a2, x2, c2)
      y3 = tf.identity(y3, name='y3')
    assign_filename = _add_asset(assets_dir)

    signatures = {
        'regress_x_to_y': _regression(serialized, y),
        'regress_x_to_y2': _regression(serialized, y2),
        'regress_x2_to_y3': _regression(x2, y3),
        'classify_x_to_y': _classification(serialized, y),
        _consts.DEFAULT_SERVING_SIGNATURE_DEF_KEY: _signature(
            {'x': x}, {'y': y}, _consts.PREDICT_METHOD_NAME),
    }
    if variant == 'tensorflow':
      signatures['classify_x2_to_y3'] = _classification(x2, y3)
    sess.run(_v1.global_variables_initializer())
    _save(sess, export_dir, signatures, main_op=tf.group(assign_filename))
  return export_dir


def build_half_plus_three(export_dir: str) -> str:
  """The committed testdata/saved_model_half_plus_three (TF 1.0 era): y = 0.5*x + 3.

  An older layout than build_half_plus_two's; TF Serving's tests only Predict
  serving_default with x=[2.0] -> y=[4.0]. Variables a=0.5, b=3, c=3.
    serving_default             predict  x -> y             x:0 -> y:0
    tensorflow/serving/regress  regress  inputs -> outputs  tf_example:0 -> Identity:0 (= y)
  tf_example (string, unknown shape) is parsed for "x" only; x2 is a separate
  float placeholder feeding y2 = 0.5*x2 + 3, which no signature exposes. The
  TensorInfos carry a name and a dtype but no shape, and the regress input's
  dtype is DT_FLOAT although tf_example is a string: the old script built them
  from names, and the quirk is kept. The asset foo.txt is set up as in
  build_half_plus_two (the committed copy runs the file-name assignment as a
  legacy_init_op, this one as the equivalent main op).
  """
  with _graph_session('half_plus_three_assets_') as (sess, assets_dir):
    a = _variable(0.5, 'a')
    b = _variable(3.0, 'b')
    c = _variable(3.0, 'c')
    serialized = _v1.placeholder(tf.string, name='tf_example')
    x = tf.identity(_parse_examples(serialized, with_x2=False)['x'], name='x')
    y = _half_plus(a, x, b, name='y')
    x2 = _v1.placeholder(tf.float32, name='x2')
    _half_plus(a, x2, c, name='y2')
    assign_filename = _add_asset(assets_dir)
    regress_output = tf.identity(y, name='Identity')

    def info(name: str):
      return meta_graph_pb2.TensorInfo(name=name, dtype=types_pb2.DT_FLOAT)

    regress = _consts.REGRESS_METHOD_NAME
    signatures = {
        _consts.DEFAULT_SERVING_SIGNATURE_DEF_KEY: _sig.build_signature_def(
            {'x': info(x.name)}, {'y': info(y.name)}, _consts.PREDICT_METHOD_NAME),
        regress: _sig.build_signature_def(
            {_consts.REGRESS_INPUTS: info(serialized.name)},
            {_consts.REGRESS_OUTPUTS: info(regress_output.name)}, regress),
    }
    sess.run(_v1.global_variables_initializer())
    _save(sess, export_dir, signatures, main_op=tf.group(assign_filename))
  return export_dir


def _add_asset(assets_dir: str) -> tf.Operation:
  """The script's asset: foo.txt, its path in a constant the loader re-points.

  Returns the op assigning the file name to "filename_tensor", a string
  variable kept out of every collection (so neither saved nor initialized by
  the usual ops): the main op runs it.
  """
  original = os.path.join(assets_dir, ASSET_FILENAME)
  with open(original, 'w') as f:
    f.write(ASSET_CONTENTS)
  asset_path = tf.constant(original)
  _v1.add_to_collection(_v1.GraphKeys.ASSET_FILEPATHS, asset_path)
  filename = _variable(ASSET_FILENAME, 'filename_tensor', trainable=False,
                       collections=[])
  return filename.assign(ASSET_FILENAME)


def _save(sess: _v1.Session, export_dir: str, signatures, **kwargs) -> None:
  builder = _v1.saved_model.Builder(export_dir)
  builder.add_meta_graph_and_variables(
      sess, [tf.saved_model.SERVING], signature_def_map=signatures,
      assets_collection=_v1.get_collection(_v1.GraphKeys.ASSET_FILEPATHS), **kwargs)
  builder.save()


def build_counter(export_dir: str) -> str:
  """testdata/saved_model_counter (export_counter.py): stateful Predict signatures.

  One float reference variable "counter" (0 on load) and four predict
  signatures, each with the one output alias "output":
    get_counter      no inputs                  -> counter:0
    incr_counter     no inputs                  -> incr_counter_op/AssignAdd:0 (counter += 1)
    incr_counter_by  delta (delta:0, float, unknown shape)
                                                -> incr_counter_by_op/AssignAdd:0 (counter += delta)
    reset_counter    no inputs                  -> reset_counter_op/Assign:0 (counter = 0)
  The outputs' TensorInfo dtype is DT_FLOAT_REF, as in the testdata. The state
  lives in the session, so a test's calls see each other's effects.
  """
  with _graph_session() as (sess, _):
    counter = _variable(0.0, 'counter', dtype=tf.float32)
    with tf.name_scope('incr_counter_op'):
      incr_counter = counter.assign_add(1.0)
    delta = _v1.placeholder(tf.float32, name='delta')
    with tf.name_scope('incr_counter_by_op'):
      incr_counter_by = counter.assign_add(delta)
    with tf.name_scope('reset_counter_op'):
      reset_counter = counter.assign(0.0)
    sess.run(_v1.global_variables_initializer())
    predict = _consts.PREDICT_METHOD_NAME
    _save(sess, export_dir, {
        'get_counter': _signature({}, {'output': counter}, predict),
        'incr_counter': _signature({}, {'output': incr_counter}, predict),
        'incr_counter_by': _signature({'delta': delta}, {'output': incr_counter_by},
                                      predict),
        'reset_counter': _signature({}, {'output': reset_counter}, predict),
    })
  return export_dir


def build_bad_half_plus_two(export_dir: str) -> str:
  """testdata/bad_half_plus_two (export_bad_half_plus_two.py): not a SavedModel.

  y = 0.5*x + 2 (variables "Variable", "Variable_1"; placeholder "Placeholder")
  saved the pre-SavedModel way, export.meta plus an "export" checkpoint, with
  no signatures: TF Serving's fault-tolerance tests expect a server pointed at
  it not to serve it. (The committed copy holds a V1 checkpoint; this one V2.)
  """
  os.makedirs(export_dir, exist_ok=True)
  with _graph_session() as (sess, _):
    a = _variable(0.5, 'Variable')
    b = _variable(2.0, 'Variable_1')
    x = _v1.placeholder(tf.float32)
    _half_plus(a, x, b)
    sess.run(_v1.global_variables_initializer())
    saver = _v1.train.Saver()
    saver.export_meta_graph(filename=os.path.join(export_dir, 'export.meta'))
    saver.save(sess, os.path.join(export_dir, 'export'), write_meta_graph=False)
  return export_dir


def build_matrix_half_plus_two(export_dir: str) -> str:
  """batching/testdata/matrix_half_plus_two/1: y = 0.5*x + 2 on 3x3 matrices.

  x is a float placeholder of shape [None, 3, 3]; y = Const(0.5) * x +
  Const(2.0); no variables. One signature, serving_default (predict, x -> y).
  TF Serving's batching tests feed it [1, 2, 2] and [1, 3, 3] tensors, relying
  on pad_variable_length_inputs to pad the first to [1, 3, 3].
  """
  with _graph_session() as (sess, _):
    x = _v1.placeholder(tf.float32, shape=[None, 3, 3], name='x')
    y = _half_plus(tf.constant(0.5), x, tf.constant(2.0), name='y')
    _save(sess, export_dir, {_consts.DEFAULT_SERVING_SIGNATURE_DEF_KEY: _signature(
        {'x': x}, {'y': y}, _consts.PREDICT_METHOD_NAME)})
  return export_dir
