"""The live traffic a measurement sends when it was given none: one record per kind of request.

A model warmed earlier (what `verify` and `swap` are given) has its warmup file
and no examples. Its records are the mix TF Serving initialises lazily, so the
first record of each kind, signature, batch size and fetch set stands for the
live request that would meet that path cold; or the caller's own PredictionLogs
(TF Serving request logs) are read instead.
"""

from typing import List, Optional, Sequence

from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup import serving


def one_record_per_key(records: Sequence[prediction_log_pb2.PredictionLog]
                       ) -> List[prediction_log_pb2.PredictionLog]:
  """The first record of each kind, signature, batch size and fetch set, in file order."""
  chosen = {}
  for record in records:
    chosen.setdefault(serving.record_key(record), record)
  return list(chosen.values())


def live_traffic(records: Sequence[prediction_log_pb2.PredictionLog],
                 requests: Optional[str] = None) -> List[prediction_log_pb2.PredictionLog]:
  """The PredictionLogs in the file `requests` if given, else one of `records` per key."""
  if requests:
    return serving.read_warmup_file(requests)
  return one_record_per_key(records)
