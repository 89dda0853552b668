"""The checks of ModelWarmer's parameters: each returns why a value can never work, or None.

A check's message becomes a ConfigurationError's: it names the parameter, what
was given and the fix. Checks of one value take the declared `Parameter` (for
its name, default and choices); rules read several parameters' values.
"""

from typing import Any, Optional

from tfx_warmup.options import quantity
from tfx_warmup.options.parameter import Check, Parameter, is_int
from tfx_warmup.serving.contract import MAX_RECORDS  # TF Serving refuses more warmup records.


def positive_int(fix: str = '') -> Check:
  """`fix` may name the parameter's {default}."""
  def check(p: Parameter, value: Any) -> Optional[str]:
    if not is_int(value) or value < 1:
      return f'{p.name} must be a positive integer, got {value!r}.' + fix.format(default=p.default)
    return None
  return check


def optional_positive_int(p: Parameter, value: Any) -> Optional[str]:
  if value is None or (is_int(value) and value >= 1):
    return None
  return f'{p.name} must be a positive integer, or None for the default; got {value!r}.'


def integer(p: Parameter, value: Any) -> Optional[str]:
  return None if is_int(value) else f'{p.name} must be an integer, got {value!r}.'


def share(p: Parameter, value: Any) -> Optional[str]:
  """A share of something, from 0 to 1."""
  if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
    return None
  return f'{p.name} must be a share from 0 to 1 (0.01 = 1%), got {value!r}.'


def optional_one_of(p: Parameter, value: Any) -> Optional[str]:
  if value is None or value in p.choices:
    return None
  return f'{p.name} must be one of {list(p.choices)}, or None; got {value!r}.'


def boolean(p: Parameter, value: Any) -> Optional[str]:
  return None if isinstance(value, bool) else f'{p.name} must be True or False, got {value!r}.'


def string(p: Parameter, value: Any) -> Optional[str]:
  if isinstance(value, str) or (value is None and p.default is None):
    return None
  return f'{p.name} must be a string, got {value!r}.'


def one_of(fix: str = '') -> Check:
  def check(p: Parameter, value: Any) -> Optional[str]:
    if value in p.choices:
      return None
    return f'{p.name} must be one of {list(p.choices)}, got {value!r}.{fix}'
  return check


def names(example: str) -> Check:
  """None, or a non-empty list of non-empty names."""
  def check(p: Parameter, value: Any) -> Optional[str]:
    if value is None or (isinstance(value, list) and value and
                         all(isinstance(v, str) and v for v in value)):
      return None
    return (f'{p.name} must be None or a non-empty list of names, got {value!r}. '
            f'Pass e.g. {p.name}=["{example}"] or leave it out for the default.')
  return check


def subset(p: Parameter, value: Any) -> Optional[str]:
  """A list of the parameter's choices, each once; empty is allowed."""
  if (isinstance(value, list) and len(set(value)) == len(value) and
      all(v in p.choices for v in value)):
    return None
  return f'{p.name} must be a list of {list(p.choices)}, each at most once; got {value!r}.'



def memory_size(p: Parameter, value: Any) -> Optional[str]:
  """None, or a memory size as a container limit is written."""
  if value is None or (isinstance(value, str) and quantity.memory_mib(value) is not None):
    return None
  return (f'{p.name} must be a memory size such as {quantity.EXAMPLES} (the serving '
          f"container's limit), or None; got {value!r}.")


def tags(p: Parameter, value: Any) -> Optional[str]:
  if isinstance(value, list) and value and all(isinstance(t, str) and t for t in value):
    return None
  return (f'{p.name} must be a non-empty list of tags, got {value!r}. '
          "TF Serving loads tag_set=['serve'] unless told otherwise.")


def batch_sizes(p: Parameter, value: Any) -> Optional[str]:
  if value is None:
    return None
  if not isinstance(value, list) or not value or not all(is_int(b) and b >= 1 for b in value):
    return (f'{p.name} must be a non-empty list of positive integers, got {value!r}. List '
            'the request batch sizes your clients send, e.g. batch_sizes=[1, 8, 32].')
  if len(set(value)) != len(value):
    return f'{p.name} has duplicates: {value!r}. List each size once.'
  return None


def record_budget(p: Parameter, value: Any) -> Optional[str]:
  if is_int(value) and 1 <= value <= MAX_RECORDS:
    return None
  return (f'{p.name} must be between 1 and {MAX_RECORDS} (TF Serving refuses to load a '
          f'model with more warmup records), got {value!r}.')


def output_filters(p: Parameter, value: Any) -> Optional[str]:
  if value is None or (isinstance(value, dict) and all(
      isinstance(k, str) and isinstance(f, list) and
      all(isinstance(a, list) and all(isinstance(n, str) for n in a) for a in f)
      for k, f in value.items())):
    return None
  return (f'{p.name} must map signature names to lists of alias lists, e.g. '
          f"{{'serving_default': [['probabilities'], []]}}, got {value!r}.")


# -- rules between parameters: each reads the values of the parameters it is declared with --


def one_batch_size_source(batch_sizes_value, batching_parameters_file) -> Optional[str]:
  if batch_sizes_value is not None and batching_parameters_file:
    return ('Pass batch_sizes or batching_parameters_file, not both: with server-side '
            'batching the model runs only the batch sizes the file allows.')
  return None


def traffic_options_with_traffic(traffic_logs, traffic_format, traffic_api,
                                 traffic_payloads) -> Optional[str]:
  if not traffic_logs and (traffic_format or traffic_api or traffic_payloads != 'requests'):
    return ('traffic_format, traffic_api and traffic_payloads say how to read and use '
            'traffic_logs: pass traffic_logs (a glob of your serving logs), or leave them out.')
  return None


def stratify_feature_with_stratified(sampling, stratify_feature) -> Optional[str]:
  if (sampling == 'stratified') != bool(stratify_feature):
    return ("sampling='stratified' needs stratify_feature (e.g. the label's feature name), "
            'and stratify_feature is used only with it; got '
            f'sampling={sampling!r}, stratify_feature={stratify_feature!r}.')
  return None
