"""What one ModelWarmer parameter is, and how a WarmupOptions field declares it.

A parameter is declared once, as a field of `WarmupOptions` made with
`parameter(...)`: its name, type and default are the field's; its help, doc,
exec_properties encoding (and so whether a RuntimeParameter may stand for it),
check and command-line flag ride in the field's metadata, as the report's
fields carry their docs. `declared` reads them back as `Parameter`s, which is
all the component spec, its signature and docstring, the command line and the
docs read. Plain Python: the command line builds its parser from it without
importing TensorFlow or TFX.
"""

import argparse
import dataclasses
import json
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

_METADATA_KEY = 'tfx_warmup.parameter'


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


def is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


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
  return bool(value) if is_int(value) and value in (0, 1) else value


def _decode_json(value: Any) -> Any:
  try:
    return json.loads(value)
  except (TypeError, ValueError):
    return value  # Not JSON: the check says what was expected.


def _decode_float(value: Any) -> Any:
  """A float, also from an int or a string; anything else is left for the check."""
  if is_int(value):
    return float(value)
  if isinstance(value, str):
    try:
      return float(value)
    except ValueError:
      return value
  return value


INT = Encoding(int, lambda v: v, _decode_int)
FLOAT = Encoding(float, lambda v: v, _decode_float)
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
  doc: str  # the component docstring's entry: what it does, and how to choose it
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


def parameter(default: Any, *, help: str, encoding: Encoding, check: Check,
              doc: Optional[str] = None, flag: Optional[Flag] = None,
              choices: Optional[Tuple[str, ...]] = None,
              default_text: Optional[str] = None) -> Any:
  """A WarmupOptions field that declares a parameter; `doc` defaults to `help`."""
  return dataclasses.field(default=default, metadata={_METADATA_KEY: dict(
      help=help, doc=doc or help, encoding=encoding, check=check, flag=flag, choices=choices,
      default_text=default_text)})


def declared(options_class: type) -> Tuple[Parameter, ...]:
  """The parameters `options_class`'s fields declare, in field order."""
  return tuple(Parameter(name=f.name, annotation=f.type, default=f.default,
                         **f.metadata[_METADATA_KEY])
               for f in dataclasses.fields(options_class))


def split_list(parse: Callable[[str], Any]) -> Callable[[str], list]:
  """A flag's parser for a comma-separated value, e.g. --batch-sizes 1,8,32."""
  def split(text: str) -> list:
    try:
      return [parse(v.strip()) for v in text.split(',') if v.strip()]
    except ValueError:
      raise argparse.ArgumentTypeError(
          f'expected comma-separated integers, got {text!r}') from None  # Only int() fails.
  return split


def normalize(declaration: Tuple[Parameter, ...], values: Mapping[str, Any]) -> Dict[str, Any]:
  """Tuples become lists (also inside output_filters), as they come back from JSON."""
  by_name = {p.name: p for p in declaration}
  return {name: _lists(value) if by_name[name].encoding is JSON else value
          for name, value in values.items()}


def _lists(value: Any) -> Any:
  if isinstance(value, (list, tuple)):
    return [_lists(v) for v in value]
  if isinstance(value, Mapping):
    return {k: _lists(v) for k, v in value.items()}
  return value
