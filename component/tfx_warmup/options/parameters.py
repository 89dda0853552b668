"""What the component and the command line do with the declared parameters.

The declaration is `WarmupOptions`' fields (`warmup_options`); `PARAMETERS` is
read back from them. Here: the component's arguments checked and encoded into
exec_properties (RuntimeParameters checked when the executor runs), and
messages written in ModelWarmer's terms shown in the command line's.
"""

import re
from typing import Any, Callable, Dict, Mapping

from tfx_warmup.errors import ConfigurationError
from tfx_warmup.options.parameter import normalize
from tfx_warmup.options.warmup_options import BY_NAME, PARAMETERS, check


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


def component_exec_properties(arguments: Mapping[str, Any],
                              is_runtime_parameter: Callable[[Any], bool]) -> Dict[str, Any]:
  """ModelWarmer's arguments, checked and encoded; RuntimeParameters are checked at run time.

  A RuntimeParameter must have the encoded type as its `ptype`, and its default, if
  it has one, is checked now like a value; the value the run gets is checked by the
  executor.
  """
  runtime = {name for name, value in arguments.items() if is_runtime_parameter(value)}
  values = normalize(PARAMETERS, {n: v for n, v in arguments.items() if n not in runtime})
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
  return {p.name: arguments[p.name] if p.name in runtime else p.encode(values[p.name])
          for p in PARAMETERS}
