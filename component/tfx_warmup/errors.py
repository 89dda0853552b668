"""Errors a user can act on: each message names the cause and the fix."""


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
