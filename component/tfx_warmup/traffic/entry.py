"""What a traffic log holds, line by line, before and after the model reads it.

Two stages, two types. A log format (`formats`) turns a line or record into a
`LogEntry`: a request as the client sent it (a REST body or a PredictionLog),
the API its URL names, and whether the log saw it answered. Only the model can
say more: `LoggedRequest` is that entry as TF Serving would have received it
(the PredictionLog the warmup file would hold) with the `TrafficKey` of the
path it initialises. A line that holds no request at all is a `NotARequest`,
counted and reported with where it is.
"""

import dataclasses
from typing import Optional, Tuple

from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.serving.records import RecordKey


@dataclasses.dataclass(frozen=True)
class LogEntry:
  """One request a log holds, as the client sent it.

  Exactly one of `body` (a TF Serving REST body, JSON) and `log` (a PredictionLog)
  is set. `api` is what the log says of it ('classify', 'regress', 'predict',
  'multi_inference': the URL's verb, or the PredictionLog's type), None when it is
  silent (a bare body); `signature_name` likewise (a PredictionLog's model spec,
  None for a body: the body names it). `answered` is True when the log holds a
  successful response, False an error response, None when it holds none.
  """
  source: str  # 'path:line' (or 'path:record N' in a TFRecord)
  format: str  # the log format's name (`formats.FORMATS`)
  body: Optional[bytes] = None
  log: Optional[prediction_log_pb2.PredictionLog] = None
  api: Optional[str] = None
  model_name: Optional[str] = None  # from the URL or the log, when it says
  answered: Optional[bool] = None


@dataclasses.dataclass(frozen=True)
class NotARequest:
  """A line of a log that holds no request (malformed, a response, a health check)."""
  source: str
  reason: str


@dataclasses.dataclass(frozen=True, order=True)
class TrafficKey:
  """What a request initialises in TF Serving: a path the warmup must cover.

  As `serving.records.RecordKey` (API, signature, batch size, fetch set), and for
  raw-tensor Predict inputs the non-batch dimensions, each input's written as
  'alias:[d1,d2]' joined by ';' ('' for serialized examples and for Classify and
  Regress): a new shape is a new executor.
  """
  api: str
  signature: str
  batch_size: int
  output_filter: str = ''
  shapes: str = ''

  def record_key(self) -> RecordKey:
    """The key without shapes: what a record built from examples at it initialises."""
    return RecordKey(self.api, self.signature, self.batch_size, self.output_filter)


@dataclasses.dataclass(frozen=True)
class LoggedRequest:
  """A logged request as TF Serving would have received it."""
  key: TrafficKey
  log: prediction_log_pb2.PredictionLog
  source: str
  answered: Optional[bool] = None


def shapes_text(dims_by_alias: Tuple[Tuple[str, Tuple[int, ...]], ...]) -> str:
  """TrafficKey.shapes: 'alias:[d1,d2]' per input, sorted by alias, joined by ';'."""
  return ';'.join(f'{alias}:[{",".join(map(str, dims))}]'
                  for alias, dims in sorted(dims_by_alias))
