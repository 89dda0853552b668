"""Looks inside a warmup file and lists what TF Serving would reject, without running it.

The checks are the replica's own (`warmup_file.warmup_records`, `Servable.check_log`):
everything TF Serving checks before Session::Run, batching admission included,
so whatever `inspect` rejects `verify` rejects with the same status. The reverse
does not hold: only `verify` runs the model, so what fails inside the graph
(a shape an op refuses, a dtype the graph does not take, an output that server-
side batching cannot split) is found by `verify` alone.
"""

import dataclasses
from typing import Dict, List, Optional, Sequence

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.serving import records as records_lib
from tfx_warmup.serving import servable as servable_lib
from tfx_warmup.serving import warmup_file
from tfx_warmup.serving.batching_config import BatchingConfig
from tfx_warmup.serving.contract import MAX_RECORDS
from tfx_warmup.serving.errors import RequestError, WarmupReplayError


@dataclasses.dataclass(frozen=True)
class Problem:
  """Something TF Serving would reject."""
  record: Optional[int] = dataclasses.field(
      metadata={'doc': 'index of the record; null for the file as a whole'})
  code: str = dataclasses.field(metadata={'doc': "TF Serving's status name"})
  message: str = dataclasses.field(metadata={'doc': "TF Serving's message"})


@dataclasses.dataclass
class Inspection:
  """What a warmup file holds and what TF Serving would reject of it."""
  path: str
  model_dir: Optional[str]
  records: List[prediction_log_pb2.PredictionLog]
  problems: List[Problem]
  exists: bool = True  # False: the model has no warmup file.

  @property
  def summary(self) -> Dict[records_lib.RecordKey, int]:
    return records_lib.summarize(self.records)

  @property
  def features(self) -> Dict[str, List[str]]:
    """Feature names the records carry, per signature."""
    return records_lib.features_carried(self.records)


def inspect_warmup(path: str, model_dir: Optional[str] = None,
                   tags: Sequence[str] = ('serve',),
                   batching: Optional[BatchingConfig] = None) -> Inspection:
  """Reads the file at `path` as TF Serving does and lists every problem found.

  With `model_dir`, each record is also checked against the model's signatures,
  and against server-side `batching`'s admission checks when given.
  """
  checker = None
  if model_dir is not None:
    checker = servable_lib.Servable.for_checks(
        model_dir, servable_lib.read_meta_graph(model_dir, tags), batching=batching)
  if not tf.io.gfile.exists(path):  # Not a problem: TF Serving loads the model, warming nothing.
    return Inspection(path, model_dir, [], [], exists=False)
  problems, records = [], []
  try:
    for index, record in enumerate(warmup_file.warmup_records(path)):
      records.append(record)
      try:
        if checker:
          checker.check_log(record)
        else:
          servable_lib.log_request(record)
      except RequestError as e:
        problems.append(Problem(index, e.code, e.message))
  except WarmupReplayError as e:
    problems.append(Problem(e.record, e.code, warmup_file.read_error(path, e)))
  if len(records) > MAX_RECORDS:
    problems.append(Problem(MAX_RECORDS, 'INVALID_ARGUMENT', (
        f'{len(records)} records; TF Serving refuses more than {MAX_RECORDS}.')))
  return Inspection(path, model_dir, records, problems)
