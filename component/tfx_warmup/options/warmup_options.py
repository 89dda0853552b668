"""WarmupOptions: the checked configuration one warmup run uses.

Its fields are ModelWarmer's parameters, written out so a reader and a type
checker can follow them; their types, defaults, checks and exec_properties
codec are those of `parameters.PARAMETERS`, and a test holds the fields to that
declaration. The component refuses a bad configuration when the pipeline is
built, the executor when it runs (a RuntimeParameter's value is known only
then), the library and the command line when they are called. No TFX or
TensorFlow here: the command line imports it.
"""

import dataclasses
from typing import Any, Dict, List, Mapping, Optional

from tfx_warmup.options import parameters
from tfx_warmup.options.parameters import DEFAULT_BATCH_SIZES


@dataclasses.dataclass(frozen=True)
class WarmupOptions:
  """What to sample, which requests to build, and how to prove them (see `parameters`)."""

  num_examples: int = 64
  splits: Optional[List[str]] = None
  signature_names: Optional[List[str]] = None
  batch_sizes: Optional[List[int]] = None
  tag_set: List[str] = ('serve',)
  model_name: str = ''
  seed: int = 0
  validate: bool = True
  measure: bool = True
  sampling: str = 'coverage'
  stratify_feature: Optional[str] = None
  batching_parameters_file: Optional[str] = None
  output_filters: Optional[Dict[str, List[List[str]]]] = None
  max_records: int = parameters.MAX_RECORDS
  requests_per_combination: int = 1
  existing_warmup: str = 'replace'
  num_request_iterations: int = 1
  strip_unread_features: bool = True
  drop_features: Optional[List[str]] = None
  measure_swap: bool = False
  swap_qps: Optional[int] = None
  swap_deadline_ms: Optional[int] = None

  def __post_init__(self):
    for name, value in parameters.normalize(self.values()).items():
      object.__setattr__(self, name, value)  # Frozen: set once, before the check.
    parameters.check(self.values())

  def values(self) -> Dict[str, Any]:
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

  def to_exec_properties(self) -> Dict[str, Any]:
    return parameters.to_exec_properties(self.values())

  @classmethod
  def from_exec_properties(cls, exec_properties: Mapping[str, Any]) -> 'WarmupOptions':
    """Decodes and checks exec_properties; raises ConfigurationError for a bad value."""
    return cls(**parameters.from_exec_properties(exec_properties))

  def batching_config(self):
    """The server-side batching TF Serving runs the model under, if a file is given.

    Parsed anew at each call: a run parses it once (its plan keeps it).
    """
    if not self.batching_parameters_file:
      return None
    from tfx_warmup.serving import batching_config  # pylint: disable=g-import-not-at-top
    return batching_config.config_from_file(self.batching_parameters_file)

  def warmed_batch_sizes(self, batching=None) -> List[int]:
    """The batch sizes to warm: explicit, from `batching` (this file's config), or the default."""
    if batching is not None:
      return batching.warmed_batch_sizes()
    return sorted(self.batch_sizes or DEFAULT_BATCH_SIZES)
