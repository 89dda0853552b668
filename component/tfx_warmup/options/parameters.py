"""ModelWarmer's parameters, each declared once: name, type, default, help, check, flag, encoding.

What handles a parameter reads `PARAMETERS`: the spec's ExecutionParameters
(component.spec), WarmupOptions' checks and exec_properties codec (options),
the component's argument checks, the `tfx-warmup` flags and their help (cli),
and the generated parameter reference (docs). The names written out elsewhere
(the spec's `*_KEY` constants, WarmupOptions' fields, ModelWarmer's signature)
are held to this declaration by tests. It is plain Python, so the command line
builds its parser without importing TensorFlow or TFX.
"""

import argparse
import dataclasses
import json
import re
from typing import Any, Callable, Collection, Dict, List, Mapping, Optional, Tuple

from tfx_warmup.errors import ConfigurationError
from tfx_warmup.serving.contract import MAX_RECORDS  # TF Serving refuses more warmup records.

# Chosen by benchmarks/cold_start.py --sweep on traffic at every batch size 1..128: powers
# of two with 4 requests each keep the cold-start ratio close to 1 for well under a
# second of replay (the figures: docs/benchmarks.md, "Choosing the defaults").
DEFAULT_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclasses.dataclass(frozen=True)
class Encoding:
  """How a value travels in exec_properties, which every orchestrator carries.

  Lists and dicts travel as JSON strings and booleans as ints, as in TFX's own
  specs. A RuntimeParameter can stand for a value only when its `ptype` is the
  encoded type (not for JSON: a pipeline parameter is a single int, float or str).
  """

  exec_type: type
  encode: Callable[[Any], Any]
  decode: Callable[[Any], Any]
  runtime_parameter: bool = True


def _decode_int(value: Any) -> Any:
  """An int, also from an orchestrator's float or string; anything else is left for the check."""
  if isinstance(value, float) and value.is_integer():
    return int(value)
  if isinstance(value, str):
    try:
      return int(value)
    except ValueError:
      return value
  return value


def _decode_bool(value: Any) -> Any:
  value = _decode_int(value)
  return bool(value) if _is_int(value) and value in (0, 1) else value


def _decode_json(value: Any) -> Any:
  try:
    return json.loads(value)
  except (TypeError, ValueError):
    return value  # Not JSON: the check says what was expected.


INT = Encoding(int, lambda v: v, _decode_int)
STR = Encoding(str, lambda v: v, lambda v: v)
BOOL = Encoding(int, int, _decode_bool)
# sort_keys: the bytes tfx.utils.json_utils.dumps writes, so cached executions still match.
JSON = Encoding(str, lambda v: json.dumps(v, sort_keys=True), _decode_json,
                runtime_parameter=False)


@dataclasses.dataclass(frozen=True)
class Flag:
  """How `tfx-warmup generate` takes a parameter."""

  name: str  # e.g. '--num-examples'
  parse: Optional[Callable[[str], Any]] = None  # argparse's `type`; default from the encoding
  action: Optional[str] = None  # 'store_true' or 'store_false' for a boolean
  help: Optional[str] = None  # what the flag does, when it differs from the parameter's help
  metavar: Optional[str] = None


Check = Callable[['Parameter', Any], Optional[str]]


@dataclasses.dataclass(frozen=True)
class Parameter:
  """One ModelWarmer parameter: the exec_properties key is its name."""

  name: str
  annotation: Any  # the Python type of the value
  default: Any
  help: str  # one line, without the default (the command line adds it)
  encoding: Encoding
  check: Check  # returns why a value can never work, or None
  flag: Optional[Flag] = None  # None: component-only
  choices: Optional[Tuple[str, ...]] = None
  default_text: Optional[str] = None  # how docs show a default the value alone does not say

  def decode(self, value: Any) -> Any:
    """The value of an exec_property; missing or empty means the default."""
    if value is None or value == '' or (self.encoding is JSON and value == 'null'):
      return self.default
    return self.encoding.decode(value)

  def encode(self, value: Any) -> Any:
    return None if value is None else self.encoding.encode(value)


# -- checks: each returns the message of a ConfigurationError, naming the cause and fix --


def _is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(fix: str = '') -> Check:
  """`fix` may name the parameter's {default}."""
  def check(p: Parameter, value: Any) -> Optional[str]:
    if not _is_int(value) or value < 1:
      return f'{p.name} must be a positive integer, got {value!r}.' + fix.format(default=p.default)
    return None
  return check


def _optional_positive_int(p: Parameter, value: Any) -> Optional[str]:
  if value is None or (_is_int(value) and value >= 1):
    return None
  return f'{p.name} must be a positive integer, or None for the default; got {value!r}.'


def _integer(p: Parameter, value: Any) -> Optional[str]:
  return None if _is_int(value) else f'{p.name} must be an integer, got {value!r}.'


def _boolean(p: Parameter, value: Any) -> Optional[str]:
  return None if isinstance(value, bool) else f'{p.name} must be True or False, got {value!r}.'


def _string(p: Parameter, value: Any) -> Optional[str]:
  if isinstance(value, str) or (value is None and p.default is None):
    return None
  return f'{p.name} must be a string, got {value!r}.'


def _one_of(fix: str = '') -> Check:
  def check(p: Parameter, value: Any) -> Optional[str]:
    if value in p.choices:
      return None
    return f'{p.name} must be one of {list(p.choices)}, got {value!r}.{fix}'
  return check


def _names(example: str) -> Check:
  """None, or a non-empty list of non-empty names."""
  def check(p: Parameter, value: Any) -> Optional[str]:
    if value is None or (isinstance(value, list) and value and
                         all(isinstance(v, str) and v for v in value)):
      return None
    return (f'{p.name} must be None or a non-empty list of names, got {value!r}. '
            f'Pass e.g. {p.name}=["{example}"] or leave it out for the default.')
  return check


def _tags(p: Parameter, value: Any) -> Optional[str]:
  if isinstance(value, list) and value and all(isinstance(t, str) and t for t in value):
    return None
  return (f'{p.name} must be a non-empty list of tags, got {value!r}. '
          "TF Serving loads tag_set=['serve'] unless told otherwise.")


def _batch_sizes(p: Parameter, value: Any) -> Optional[str]:
  if value is None:
    return None
  if not isinstance(value, list) or not value or not all(_is_int(b) and b >= 1 for b in value):
    return (f'{p.name} must be a non-empty list of positive integers, got {value!r}. List '
            'the request batch sizes your clients send, e.g. batch_sizes=[1, 8, 32].')
  if len(set(value)) != len(value):
    return f'{p.name} has duplicates: {value!r}. List each size once.'
  return None


def _record_budget(p: Parameter, value: Any) -> Optional[str]:
  if _is_int(value) and 1 <= value <= MAX_RECORDS:
    return None
  return (f'{p.name} must be between 1 and {MAX_RECORDS} (TF Serving refuses to load a '
          f'model with more warmup records), got {value!r}.')


def _output_filters(p: Parameter, value: Any) -> Optional[str]:
  if value is None or (isinstance(value, dict) and all(
      isinstance(k, str) and isinstance(f, list) and
      all(isinstance(a, list) and all(isinstance(n, str) for n in a) for a in f)
      for k, f in value.items())):
    return None
  return (f'{p.name} must map signature names to lists of alias lists, e.g. '
          f"{{'serving_default': [['probabilities'], []]}}, got {value!r}.")


# -- the parameters, in the order of ModelWarmer's signature -------------------------

PARAMETERS: Tuple[Parameter, ...] = (
    Parameter('num_examples', int, 64, 'examples to sample', INT,
              _positive_int(' Set num_examples to how many examples to sample '
                            '(default {default}).'),
              Flag('--num-examples')),
    Parameter('splits', Optional[List[str]], None,
              "splits to sample from (default: 'eval' if present, else all)", JSON,
              _names('eval')),
    Parameter('signature_names', Optional[List[str]], None,
              'signatures to warm (default: every one TF Serving can run)', JSON,
              _names('serving_default'), Flag('--signatures', parse=lambda t: _split(t, str))),
    Parameter('batch_sizes', Optional[List[int]], None,
              'batch sizes your clients send, e.g. 1,8,32', JSON, _batch_sizes,
              Flag('--batch-sizes', parse=lambda t: _split(t, int)),
              default_text='powers of two, 1 to 128'),
    Parameter('tag_set', List[str], ('serve',), 'tags of the MetaGraph TF Serving loads', JSON,
              _tags, Flag('--tag-set', parse=lambda t: _split(t, str))),
    Parameter('model_name', str, '', 'model_spec.name in each request', STR, _string,
              Flag('--model-name')),
    Parameter('seed', int, 0, 'sampling seed', INT, _integer, Flag('--seed')),
    Parameter('validate', bool, True,
              'replay the warmup file in the TF Serving replica before anything is written',
              BOOL, _boolean,
              Flag('--no-validate', action='store_false',
                   help='skip the replay in the TF Serving replica')),
    Parameter('measure', bool, True,
              'measure first-request latency without and with warmup, in fresh processes',
              BOOL, _boolean,
              # Opt-in on the command line: it adds two model loads.
              Flag('--measure', action='store_true',
                   help='also measure the cold start removed (two fresh processes)')),
    Parameter('sampling', str, 'coverage', 'how to sample', STR,
              _one_of(), Flag('--sampling'), choices=('coverage', 'uniform', 'stratified')),
    Parameter('stratify_feature', Optional[str], None, "feature 'stratified' sampling balances",
              STR, _string, Flag('--stratify-feature')),
    Parameter('batching_parameters_file', Optional[str], None,
              "TF Serving's --batching_parameters_file; its batch sizes are warmed, and the "
              'replay runs under that server-side batching', STR, _string,
              Flag('--batching-parameters', metavar='FILE')),
    Parameter('output_filters', Optional[Dict[str, List[List[str]]]], None,
              'per Predict signature, the output-alias subsets clients request', JSON,
              _output_filters),
    Parameter('max_records', int, MAX_RECORDS, f'record budget, at most {MAX_RECORDS}', INT,
              _record_budget, Flag('--max-records')),
    # One: the replay is part of every version swap, and more records per combination
    # lengthen it without lowering the cold start (benchmarks/warmup_size.py).
    Parameter('requests_per_combination', int, 1,
              'records per signature x batch size x fetch set, budget permitting', INT,
              _positive_int(), Flag('--requests-per-combination')),
    Parameter('existing_warmup', str, 'replace',
              "the model's own warmup file: replace it, keep it (validated), or merge ours "
              'into it', STR,
              _one_of(" 'replace' writes a new file, 'keep' validates the model's own, "
                      "'merge' adds ours to it."),
              Flag('--existing-warmup'), choices=('replace', 'keep', 'merge')),
    Parameter('num_request_iterations', int, 1,
              "replay each record this many times, as TF Serving's "
              '--num_request_iterations_for_warmup', INT,
              _positive_int(" It is TF Serving's --num_request_iterations_for_warmup "
                            '(default {default}).'),
              Flag('--num-request-iterations')),
    Parameter('strip_unread_features', bool, True,
              'strip each record to the features its signature parses, proven '
              'output-identical in the replica', BOOL, _boolean,
              Flag('--keep-unread-features', action='store_false',
                   help='keep every feature of each sampled example in the records')),
    Parameter('drop_features', Optional[List[str]], None,
              'features never to ship in a warmup file (e.g. user_email); the run fails if '
              'a warmed signature needs one', JSON, _names('user_email'),
              Flag('--drop-features', parse=lambda t: _split(t, str))),
    # The swap: component-only (the command line has `tfx-warmup swap`). Off by default:
    # 16 fresh processes take longer than the rest of the step (docs/benchmarks.md).
    Parameter('measure_swap', bool, False,
              "measure the version swap as TF Serving performs it (the serving version's "
              'p99 while this one loads and warms, under each server config) and write the '
              'platform config that keeps it flat', BOOL, _boolean),
    Parameter('swap_qps', Optional[int], None,
              'requests per second sent during the swap (default: a quarter of the serving '
              "version's measured capacity)", INT, _optional_positive_int),
    Parameter('swap_deadline_ms', Optional[int], None,
              'a request answered later counts as late (default: 4x the serving '
              "version's steady p99)", INT, _optional_positive_int),
)
BY_NAME: Dict[str, Parameter] = {p.name: p for p in PARAMETERS}


def _split(text: str, parse: Callable[[str], Any]) -> List[Any]:
  """A comma-separated flag value, e.g. --batch-sizes 1,8,32."""
  try:
    return [parse(v.strip()) for v in text.split(',') if v.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(
        f'expected comma-separated integers, got {text!r}') from None  # Only int() fails.


# -- rules between parameters ------------------------------------------------------


def _one_batch_size_source(batch_sizes, batching_parameters_file) -> Optional[str]:
  if batch_sizes is not None and batching_parameters_file:
    return ('Pass batch_sizes or batching_parameters_file, not both: with server-side '
            'batching the model runs only the batch sizes the file allows.')
  return None


def _stratify_feature_with_stratified(sampling, stratify_feature) -> Optional[str]:
  if (sampling == 'stratified') != bool(stratify_feature):
    return ("sampling='stratified' needs stratify_feature (e.g. the label's feature name), "
            'and stratify_feature is used only with it; got '
            f'sampling={sampling!r}, stratify_feature={stratify_feature!r}.')
  return None


# Each rule reads the parameters it names, in that order.
RULES: Tuple[Tuple[Tuple[str, ...], Callable[..., Optional[str]]], ...] = (
    (('batch_sizes', 'batching_parameters_file'), _one_batch_size_source),
    (('sampling', 'stratify_feature'), _stratify_feature_with_stratified),
)


# -- what the component, WarmupOptions and the command line call ---------------------


def normalize(values: Mapping[str, Any]) -> Dict[str, Any]:
  """Tuples become lists (also inside output_filters), as they come back from JSON."""
  return {name: _lists(value) if BY_NAME[name].encoding is JSON else value
          for name, value in values.items()}


def _lists(value: Any) -> Any:
  if isinstance(value, (list, tuple)):
    return [_lists(v) for v in value]
  if isinstance(value, Mapping):
    return {k: _lists(v) for k, v in value.items()}
  return value


def in_flag_terms(message: str) -> str:
  """`message` as a command-line user reads it: each parameter it names, as its flag.

  Messages are written once, in ModelWarmer's terms ("leave it out of
  signature_names", "existing_warmup='keep'"); `tfx-warmup generate` shows them
  with its flags ("--signatures", "--existing-warmup keep"). Only names no prose
  uses are replaced (with an underscore, or in backticks); a flag that inverts its
  parameter (--no-validate) is left alone, since its value would read backwards.
  """
  for p in PARAMETERS:
    if p.flag is None or p.flag.action == 'store_false':
      continue
    name = re.escape(p.name)
    # Not inside a path or another identifier: /data/batch_sizes/ stays as it is.
    pattern = (rf'`{name}`|(?<![\w/.-]){name}(?![\w/-])(?:=([\'"]?)([^\s,;.\'"]+)\1)?'
               if '_' in p.name
               else rf'`{name}`(?:=([\'"]?)([^\s,;.\'"]+)\1)?')
    message = re.sub(pattern, lambda m, f=p.flag.name: f'{f} {m.group(2)}' if m.group(2)
                     else f, message)
  return message


def check(values: Mapping[str, Any], deferred: Collection[str] = ()) -> None:
  """Raises ConfigurationError for a value no model or dataset could satisfy.

  `deferred`: parameters whose value is known only at run time (RuntimeParameters);
  they, and the rules reading them, are checked when the executor runs.
  """
  for p in PARAMETERS:
    if p.name in values and p.name not in deferred:
      message = p.check(p, values[p.name])
      if message:
        raise ConfigurationError(message)
  for names, rule in RULES:
    if not set(names) & set(deferred):
      message = rule(*(values.get(n, BY_NAME[n].default) for n in names))
      if message:
        raise ConfigurationError(message)


def to_exec_properties(values: Mapping[str, Any],
                       passthrough: Collection[str] = ()) -> Dict[str, Any]:
  """Encodes checked values; `passthrough` ones (RuntimeParameters) go as they are."""
  return {p.name: values[p.name] if p.name in passthrough else p.encode(values[p.name])
          for p in PARAMETERS}


def from_exec_properties(exec_properties: Mapping[str, Any]) -> Dict[str, Any]:
  """The values of exec_properties, unchecked; missing keys take their defaults."""
  return {p.name: p.decode(exec_properties.get(p.name)) for p in PARAMETERS}


def component_exec_properties(arguments: Mapping[str, Any],
                              is_runtime_parameter: Callable[[Any], bool]) -> Dict[str, Any]:
  """ModelWarmer's arguments, checked and encoded; RuntimeParameters are checked at run time.

  A RuntimeParameter must have the encoded type as its `ptype`, and its default, if
  it has one, is checked now like a value; the value the run gets is checked by the
  executor.
  """
  runtime = {name for name, value in arguments.items() if is_runtime_parameter(value)}
  values = normalize({n: v for n, v in arguments.items() if n not in runtime})
  deferred = set()
  for name in sorted(runtime):
    p, parameter = BY_NAME[name], arguments[name]
    if not p.encoding.runtime_parameter:
      raise ConfigurationError(
          f'{name} cannot be a RuntimeParameter: it travels as a JSON list or dict, and a '
          'pipeline parameter is a single int, float or str. Pass its value.')
    if parameter.ptype is not p.encoding.exec_type:
      raise ConfigurationError(
          f'{name} takes a RuntimeParameter of ptype={p.encoding.exec_type.__name__}, got '
          f'ptype={getattr(parameter.ptype, "__name__", parameter.ptype)}.')
    if parameter.default is None:
      deferred.add(name)
    else:
      values[name] = p.decode(parameter.default)
  check(values, deferred)
  values.update({name: arguments[name] for name in runtime})
  return to_exec_properties(values, passthrough=runtime)
