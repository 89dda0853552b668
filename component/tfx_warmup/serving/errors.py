"""What TF Serving would refuse, as the replica reports it.

Each error carries TF Serving's own status name where TF Serving has one, so
a caller can tell "the server answers this request with INVALID_ARGUMENT"
from "the server cannot load this model". The rest of tfx-warmup re-exports
these from `tfx_warmup.errors`; nothing here depends on it.
"""

import re
from typing import Optional

# TensorFlow's wrapping around a kernel's own words: the eager function's name, the op
# suffix, and the graph node on a line of its own.
_FUNCTION_NODE = re.compile(r'\{\{function_node [^}]*\}\}\s*')
_OP_SUFFIX = re.compile(r'\s*\[Op:[^\]]*\](?: name:(?: \S+)?)?')
_NODE = re.compile(r'\s*\[\[\{\{node ([^}]+)\}\}\]\]')


def one_line(message: str) -> str:
  """TensorFlow's error text as one line in a person's terms: the kernel's words, and
  the graph node that raised them as '(node ...)'; TF's internal wrapping dropped."""
  text = _FUNCTION_NODE.sub('', message)
  text = _OP_SUFFIX.sub('', text)
  text = _NODE.sub(r' (node \1)', text)
  return ' '.join(text.split())


class ServingError(ValueError):
  """Base class: something TF Serving would refuse (a model, a request, a file, a config)."""


class ServingConfigError(ServingError):
  """A server configuration TF Serving refuses: a batching file, a warmup option."""


class ModelError(ServingError):
  """No SavedModel where one was named, or none TF Serving would serve (tags, signatures)."""


class LoadError(ModelError):
  """TF Serving would fail to load the SavedModel."""


class RequestError(ServingError):
  """TF Serving would answer a request with an error status.

  `code` is TF Serving's status name (e.g. INVALID_ARGUMENT), `message` its text;
  `tensor` names the graph tensor a batching error concerns, where there is one.
  """

  def __init__(self, code: str, message: str, tensor: str = ''):
    super().__init__(f'{code}: {message}')
    self.code = code
    self.message = message
    self.tensor = tensor


class WarmupReplayError(ServingError):
  """TF Serving would fail the model load while reading or replaying its warmup file.

  `code` is TF Serving's status; `record` the failing record's index and
  `signature` its signature(s), where a record fails; `cause` the RequestError
  the record got, if it ran.
  """

  def __init__(self, message: str, code: str, record: Optional[int] = None,
               signature: Optional[str] = None, cause: Optional[RequestError] = None):
    super().__init__(message)
    self.code = code
    self.record = record
    self.signature = signature
    self.cause = cause


class BatchingError(RequestError):
  """A status of TF Serving's BatchingSession, before or after the model runs.

  `tensor` names the input or output it concerns, if one.
  """


class TensorParseError(ValueError):
  """`Tensor::FromProto` refuses the TensorProto (bad shape, dtype or content size)."""
