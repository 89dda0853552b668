"""Errors a user can act on: each message names the cause and the fix."""

from typing import Optional


class WarmupError(ValueError):
  """Base class: bad input or configuration that the user must change."""


class ConfigurationError(WarmupError):
  """A parameter value that can never work (checked before any data is read)."""


class ModelError(WarmupError):
  """The SavedModel is missing, has no matching tag set, or no usable signature."""


class ExamplesError(WarmupError):
  """The Examples artifact has no usable split, payload or records."""


class ConversionError(WarmupError):
  """A sampled tf.Example cannot become the tensor a signature input expects."""


class OutputError(WarmupError):
  """The output location cannot be written."""


class RecordBudgetError(ConfigurationError):
  """The configuration needs more warmup records than TF Serving accepts."""


class LoadError(ModelError):
  """TF Serving would fail to load the SavedModel."""


class RequestError(WarmupError):
  """TF Serving would answer a request with an error status.

  `code` is TF Serving's status name (e.g. INVALID_ARGUMENT), `message` its text;
  `tensor` names the graph tensor a batching error concerns, where there is one.
  """

  def __init__(self, code: str, message: str, tensor: str = ''):
    super().__init__(f'{code}: {message}')
    self.code = code
    self.message = message
    self.tensor = tensor


class WarmupReplayError(WarmupError):
  """TF Serving would fail the model load while reading or replaying its warmup file.

  `code` is TF Serving's status; `record` the failing record's index and
  `signature` its signature(s), where a record fails.
  """

  def __init__(self, message: str, code: str, record: Optional[int] = None,
               signature: Optional[str] = None):
    super().__init__(message)
    self.code = code
    self.record = record
    self.signature = signature
