"""Errors a user can act on: each message names the cause and the fix.

`WarmupError` and its subclasses are ModelWarmer's own: a configuration, the
examples, the output location. What TF Serving itself would refuse (a model
it cannot load, a request it answers with an error, a warmup file that fails
the load) is the replica's `tfx_warmup.serving.errors`, re-exported here so a
caller has one place to import from. `USER_ERRORS` catches both.
"""

from tfx_warmup.serving.errors import LoadError
from tfx_warmup.serving.errors import ModelError
from tfx_warmup.serving.errors import RequestError
from tfx_warmup.serving.errors import ServingConfigError
from tfx_warmup.serving.errors import ServingError
from tfx_warmup.serving.errors import WarmupReplayError

__all__ = ['WarmupError', 'ConfigurationError', 'ExamplesError', 'ConversionError',
           'OutputError', 'RecordBudgetError', 'RunnerError', 'MeasureError',
           'LiveRequestError', 'SwapError', 'SwapMemoryError', 'UsageError', 'TrafficError',
           'RefusedTrafficError', 'USER_ERRORS',
           'ServingError', 'ServingConfigError', 'ModelError', 'LoadError', 'RequestError',
           'WarmupReplayError']


class WarmupError(ValueError):
  """Base class: bad input or configuration that the user must change."""


class ConfigurationError(WarmupError):
  """A parameter value that can never work (checked before any data is read)."""


class ExamplesError(WarmupError):
  """The examples have no usable split, payload or records, or do not fit the model."""


class ConversionError(WarmupError):
  """A sampled tf.Example cannot become the tensor a signature input expects."""


class OutputError(WarmupError):
  """The output location cannot be written."""


class RecordBudgetError(ConfigurationError):
  """The configuration needs more warmup records than TF Serving accepts."""


class RunnerError(WarmupError):
  """The Beam runner failed while sampling: the runner's name and the cause, in one line."""


class MeasureError(WarmupError):
  """A measurement process failed."""


class LiveRequestError(MeasureError):
  """A live request failed in a measuring process: which one, and TF Serving's status."""

  def __init__(self, message: str, code: str = '', signature: str = ''):
    super().__init__(message)
    self.code = code
    self.signature = signature


class SwapError(MeasureError):
  """A version swap that cannot be measured as asked (rate, deadline, a version that fails)."""


class SwapMemoryError(SwapError):
  """A swap whose peak memory passes swap_memory_limit: the reload would be OOM-killed."""

  def __init__(self, message: str, peak_mib: float = 0.0, limit_mib: float = 0.0):
    super().__init__(message)
    self.peak_mib = peak_mib
    self.limit_mib = limit_mib


class UsageError(WarmupError):
  """A command line that cannot work as given."""


class TrafficError(WarmupError):
  """Traffic logs that cannot be read: no files, two formats in one glob, a format not known."""


class RefusedTrafficError(WarmupError):
  """The model would refuse more logged requests, answered today, than max_refused_traffic."""


# Everything a command line or pipeline reports as one line rather than a traceback.
USER_ERRORS = (WarmupError, ServingError)
