"""Which features a signature's serialized input is parsed with, read from the graph.

A warmup record carries whole examples, but a signature fed serialized
tf.Examples only reads the features its parse ops name. Knowing those names
lets ModelWarmer warn when the sampled examples share none of them (the wrong
data, e.g. SequenceExamples for a tf.Example model), and lets records keep only
what a signature reads (no label, no identifiers shipped with the model).

The serialized input is followed forward through the graph: pass-through ops
(Identity, Reshape, ...) and call ops into the function library (TF2 and Keras
SavedModels parse inside a StatefulPartitionedCall's function body) until it
reaches parse ops, whose constant keys are collected. If it reaches anything
else (a decode, a string op, a py_function) or a parse whose keys are not
constants, the keys are unknown and the signature must be taken to read whole
examples; the result says why.
"""

import dataclasses
from typing import Dict, FrozenSet, Iterator, List, Optional, Sequence, Set, Tuple

import tensorflow as tf
from tensorflow.core.framework import function_pb2
from tensorflow.core.framework import node_def_pb2
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.python.framework import op_def_registry

# Ops whose output 0 (IdentityN: output i) is their input, unchanged in content.
_PASS_THROUGH = frozenset(['Identity', 'IdentityN', 'PlaceholderWithDefault', 'Reshape',
                           'ExpandDims', 'Squeeze', 'StopGradient', 'Snapshot'])
# Ops that read only a tensor's shape, never its content.
_SHAPE_ONLY = frozenset(['Shape', 'ShapeN', 'Size', 'Rank'])
_CALLS = frozenset(['StatefulPartitionedCall', 'PartitionedCall'])

_FEATURES, _CONTEXT, _FEATURE_LISTS = 'features', 'context', 'feature_lists'
_INPUT, _ATTR = 'input', 'attr'

# Parse op -> where its keys are: (input or attr, its name, which kind of key).
# Names as TensorFlow's op registry declares them (tf.raw_ops.<Op>.__doc__).
_CONTEXT_AND_LISTS_V1 = (
    (_CONTEXT, 'context_sparse_keys'), (_CONTEXT, 'context_dense_keys'),
    (_FEATURE_LISTS, 'feature_list_sparse_keys'), (_FEATURE_LISTS, 'feature_list_dense_keys'),
    (_FEATURE_LISTS, 'feature_list_dense_missing_assumed_empty'))
_PARSE_OPS: Dict[str, Tuple[Tuple[str, str, str], ...]] = {
    'ParseExample': ((_INPUT, 'sparse_keys', _FEATURES), (_INPUT, 'dense_keys', _FEATURES)),
    'ParseExampleV2': ((_INPUT, 'sparse_keys', _FEATURES), (_INPUT, 'dense_keys', _FEATURES),
                       (_INPUT, 'ragged_keys', _FEATURES)),
    'ParseSingleExample': ((_ATTR, 'sparse_keys', _FEATURES), (_ATTR, 'dense_keys', _FEATURES)),
    'ParseSequenceExample': tuple((_ATTR, name, kind) for kind, name in _CONTEXT_AND_LISTS_V1),
    'ParseSingleSequenceExample': tuple(
        (_INPUT, name, kind) for kind, name in _CONTEXT_AND_LISTS_V1),
    'ParseSequenceExampleV2': tuple((_INPUT, name, kind) for kind, name in (
        (_CONTEXT, 'context_sparse_keys'), (_CONTEXT, 'context_dense_keys'),
        (_CONTEXT, 'context_ragged_keys'), (_FEATURE_LISTS, 'feature_list_sparse_keys'),
        (_FEATURE_LISTS, 'feature_list_dense_keys'),
        (_FEATURE_LISTS, 'feature_list_ragged_keys'))),  # Its missing_assumed_empty: bools.
}
_SERIALIZED_ARG = 'serialized'  # Every parse op's name for the records it parses.


@dataclasses.dataclass(frozen=True)
class ParsedKeys:
  """The constant keys a signature's parse ops read, by kind."""
  features: FrozenSet[str] = frozenset()       # tf.Example features.
  context: FrozenSet[str] = frozenset()        # SequenceExample context features.
  feature_lists: FrozenSet[str] = frozenset()  # SequenceExample feature lists.

  @property
  def all(self) -> FrozenSet[str]:
    return self.features | self.context | self.feature_lists


@dataclasses.dataclass(frozen=True)
class SignatureParse:
  """What one signature parses from its serialized input; keys None: whole examples."""
  signature: str
  keys: Optional[ParsedKeys]
  reason: str = ''  # Why the keys are unknown.


class _Unknown(Exception):  # noqa: N818  (a signal, not an error)
  """The keys cannot be known; the message says why."""


@dataclasses.dataclass(frozen=True)
class _Scope:
  """The main graph (function None) or one function body, indexed by consumer."""
  function: Optional[str]
  nodes: Dict[str, node_def_pb2.NodeDef]
  consumers: Dict[str, List[Tuple[node_def_pb2.NodeDef, str, int]]]  # ref -> (node, arg, i)
  args: Tuple[str, ...] = ()          # Function input arg names, in order.
  returns: Tuple[str, ...] = ()       # Function output refs, in output order.

  def where(self) -> str:
    return f" in function '{self.function}'" if self.function else ''

  def output(self, node: str, index: int) -> str:
    """The ref to output `index` of a node whose outputs are one list arg named 'output'."""
    return f'{node}:output:{index}' if self.function else f'{node}:{index}'


def signature_parse(meta_graph: meta_graph_pb2.MetaGraphDef, name: str,
                    input_key: Optional[str] = None) -> SignatureParse:
  """The keys signature `name` parses its serialized input (`input_key`, or its only one) with."""
  signature = meta_graph.signature_def[name]
  key = input_key or (next(iter(signature.inputs)) if len(signature.inputs) == 1 else '')
  info = signature.inputs[key] if key in signature.inputs else None
  if info is None or info.dtype != types_pb2.DT_STRING or info.WhichOneof('encoding') != 'name':
    return SignatureParse(name, None, 'it has no single serialized (DT_STRING) input')
  try:
    keys = _Analysis(meta_graph, [name for t in signature.outputs.values()
                                  for name in _tensor_names(t)]).keys(info.name)
  except _Unknown as e:
    return SignatureParse(name, None, str(e))
  return SignatureParse(name, keys)


def signature_parses(meta_graph: meta_graph_pb2.MetaGraphDef,
                     names: Optional[Sequence[str]] = None) -> Dict[str, SignatureParse]:
  """signature_parse of each signature in `names` (default: all) with one DT_STRING input."""
  result = {}
  for name in sorted(names if names is not None else meta_graph.signature_def):
    inputs = meta_graph.signature_def[name].inputs
    if len(inputs) == 1 and next(iter(inputs.values())).dtype == types_pb2.DT_STRING:
      result[name] = signature_parse(meta_graph, name)
  return result


class _Analysis:
  """One walk from a serialized tensor forward to the parse ops that read it."""

  def __init__(self, meta_graph: meta_graph_pb2.MetaGraphDef, fetches: Sequence[str]):
    graph = meta_graph.graph_def
    self._functions = {f.signature.name: f for f in graph.library.function}
    self._scopes: Dict[Optional[str], _Scope] = {}
    self._fetches = {_main_ref(t) for t in fetches}
    # A session runs only what the fetches need: other main-graph nodes never see the input.
    needed = _ancestors(graph.node, {r.split(':')[0] for r in self._fetches})
    self._scopes[None] = _index(None, [n for n in graph.node if n.name in needed])

  def keys(self, tensor_name: str) -> ParsedKeys:
    found: Dict[str, Set[str]] = {_FEATURES: set(), _CONTEXT: set(), _FEATURE_LISTS: set()}
    start = (None, _main_ref(tensor_name), ())
    todo, seen = [start], {start}
    while todo:
      function, ref, stack = todo.pop()
      for nxt in self._step(self._scope(function), ref, stack, found):
        if nxt not in seen:
          seen.add(nxt)
          todo.append(nxt)
    return ParsedKeys(*(frozenset(found[k]) for k in (_FEATURES, _CONTEXT, _FEATURE_LISTS)))

  def _step(self, scope: _Scope, ref: str, stack: Tuple, found: Dict[str, Set[str]]
            ) -> Iterator[Tuple[Optional[str], str, Tuple]]:
    """The tensors `ref` flows on to; parse keys it meets go into `found`."""
    if scope.function is None and ref in self._fetches:
      raise _Unknown('the signature returns its serialized input as an output')
    for j, returned in enumerate(scope.returns):
      if returned == ref:  # Back to the caller, as that call op's output j.
        caller, call_node = stack[-1]
        yield caller, self._scope(caller).output(call_node, j), stack[:-1]
    for node, arg, index in scope.consumers.get(ref, []):
      where = f"{node.op} op '{node.name}'{scope.where()}"
      if node.op in _SHAPE_ONLY:
        continue
      if node.op in _PASS_THROUGH:
        yield scope.function, scope.output(node.name, index if node.op == 'IdentityN' else 0), stack
      elif node.op in _CALLS or node.op in self._functions:
        callee = node.attr['f'].func.name if node.op in _CALLS else node.op
        if callee not in self._functions:
          raise _Unknown(f'the serialized input reaches {where}, whose function '
                         f"'{callee}' is not in the SavedModel's function library")
        callee_scope = self._scope(callee)
        yield callee, callee_scope.args[index], stack + ((scope.function, node.name),)
      elif node.op in _PARSE_OPS:
        if arg != _SERIALIZED_ARG:
          raise _Unknown(f"the serialized input reaches input '{arg}' of {where}")
        for source, name, kind in _PARSE_OPS[node.op]:
          found[kind].update(self._constant_keys(scope, node, source, name, where))
      else:
        raise _Unknown(f'the serialized input reaches {where}, which is not a tf.Example '
                       'parse: the signature may read whole examples')

  def _constant_keys(self, scope: _Scope, node: node_def_pb2.NodeDef, source: str,
                     name: str, where: str) -> List[str]:
    if source == _ATTR:
      return [_text(k) for k in node.attr[name].list.s]
    keys = []
    for ref in _inputs_of(node, name):
      producer = self._producer(scope, ref)
      if producer is None or producer.op != 'Const':
        what = f'{producer.op} op' if producer is not None else 'a function argument'
        raise _Unknown(f"the '{name}' of {where} come from {what}, not a constant")
      keys.extend(_text(k) for k in tf.make_ndarray(producer.attr['value'].tensor).flat)
    return keys

  def _producer(self, scope: _Scope, ref: str) -> Optional[node_def_pb2.NodeDef]:
    """The node making `ref`, looking through Identity ops; None for a function argument."""
    node = scope.nodes.get(ref.split(':')[0]) if ref not in scope.args else None
    while node is not None and node.op == 'Identity':
      ref = _data_inputs(node)[0]
      node = scope.nodes.get(ref.split(':')[0]) if ref not in scope.args else None
    return node

  def _scope(self, function: Optional[str]) -> _Scope:
    if function not in self._scopes:
      fdef: function_pb2.FunctionDef = self._functions[function]
      returns = tuple(fdef.ret[a.name] for a in fdef.signature.output_arg)
      self._scopes[function] = _index(function, fdef.node_def,
                                      tuple(a.name for a in fdef.signature.input_arg), returns)
    return self._scopes[function]


def _tensor_names(info: meta_graph_pb2.TensorInfo) -> List[str]:
  """The graph tensors of an output: its name, or its sparse or composite components'."""
  encoding = info.WhichOneof('encoding')
  if encoding == 'name':
    return [info.name]
  if encoding == 'coo_sparse':
    sparse = info.coo_sparse
    return [sparse.values_tensor_name, sparse.indices_tensor_name,
            sparse.dense_shape_tensor_name]
  if encoding == 'composite_tensor':
    return [name for c in info.composite_tensor.components for name in _tensor_names(c)]
  return []


def _index(function: Optional[str], nodes: Sequence[node_def_pb2.NodeDef],
           args: Tuple[str, ...] = (), returns: Tuple[str, ...] = ()) -> _Scope:
  consumers: Dict[str, List[Tuple[node_def_pb2.NodeDef, str, int]]] = {}
  for node in nodes:
    names = _input_arg_names(node)
    for position, input_ref in enumerate(_data_inputs(node)):
      ref = input_ref if function else _main_ref(input_ref)
      arg, index = names[position] if position < len(names) else ('', position)
      consumers.setdefault(ref, []).append((node, arg, index))
  return _Scope(function, {n.name: n for n in nodes}, consumers, args, returns)


def _input_arg_names(node: node_def_pb2.NodeDef) -> List[Tuple[str, int]]:
  """(input arg name, index within that arg) of each data input, from the op's registration.

  Call ops and ops that are library functions have one list of arguments:
  (name, i) is then ('args', i), i the function's i-th input.
  """
  op_def = op_def_registry.get(node.op)
  if op_def is None:
    return [('args', i) for i in range(len(_data_inputs(node)))]
  names = []
  for arg in op_def.input_arg:
    if arg.number_attr:
      count = node.attr[arg.number_attr].i
    elif arg.type_list_attr:
      count = len(node.attr[arg.type_list_attr].list.type)
    else:
      count = 1
    names.extend((arg.name, i) for i in range(count))
  return names


def _data_inputs(node: node_def_pb2.NodeDef) -> List[str]:
  return [i for i in node.input if not i.startswith('^')]


def _inputs_of(node: node_def_pb2.NodeDef, arg: str) -> List[str]:
  refs = _data_inputs(node)
  return [refs[p] for p, (name, _) in enumerate(_input_arg_names(node))
          if name == arg and p < len(refs)]


def _main_ref(name: str) -> str:
  """A main-graph tensor name as 'node:index' ('x' is 'x:0')."""
  return name if ':' in name else f'{name}:0'


def _ancestors(nodes: Sequence[node_def_pb2.NodeDef], roots: Set[str]) -> Set[str]:
  inputs = {n.name: [i.lstrip('^').split(':')[0] for i in n.input] for n in nodes}
  seen, todo = set(), list(roots)
  while todo:
    name = todo.pop()
    if name not in seen:
      seen.add(name)
      todo.extend(inputs.get(name, []))
  return seen


def _text(key) -> str:
  return key.decode('utf-8', 'replace') if isinstance(key, bytes) else str(key)
