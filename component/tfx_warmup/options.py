"""WarmupOptions: the checked configuration one ModelWarmer run uses.

Its fields, defaults, checks and exec_properties codec all come from
`parameters.PARAMETERS`, so the component refuses a bad configuration when the
pipeline is built and the executor when it runs (a RuntimeParameter's value is
known only then). No TFX or TensorFlow here: the command line imports it.
"""

import dataclasses
from typing import Any, Dict, List, Mapping

from tfx_warmup import parameters
from tfx_warmup.parameters import DEFAULT_BATCH_SIZES


class _WarmupOptions:
  """What to sample and which requests to build: one field per parameter."""

  def __post_init__(self):
    for name, value in parameters.normalize(self.values()).items():
      object.__setattr__(self, name, value)  # Frozen: set once, before the check.
    parameters.check(self.values())

  def values(self) -> Dict[str, Any]:
    return {p.name: getattr(self, p.name) for p in parameters.PARAMETERS}

  def to_exec_properties(self) -> Dict[str, Any]:
    return parameters.to_exec_properties(self.values())

  @classmethod
  def from_exec_properties(cls, exec_properties: Mapping[str, Any]) -> 'WarmupOptions':
    """Decodes and checks exec_properties; raises ConfigurationError for a bad value."""
    return cls(**parameters.from_exec_properties(exec_properties))

  def warmed_batch_sizes(self) -> List[int]:
    """The batch sizes to warm: explicit, from the batching file, or the default."""
    batching = self.batching_config()
    if batching is not None:
      return batching.warmed_batch_sizes()
    return sorted(self.batch_sizes or DEFAULT_BATCH_SIZES)

  def batching_config(self):
    """The server-side batching TF Serving runs the model under, if a file is given."""
    if not self.batching_parameters_file:
      return None
    from tfx_warmup import batching  # pylint: disable=g-import-not-at-top
    return batching.config_from_file(self.batching_parameters_file)


WarmupOptions = dataclasses.make_dataclass(
    'WarmupOptions',
    [(p.name, p.annotation, dataclasses.field(default=p.default))
     for p in parameters.PARAMETERS],
    bases=(_WarmupOptions,), frozen=True,
    namespace={'__module__': __name__, '__doc__': _WarmupOptions.__doc__})
