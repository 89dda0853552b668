"""Looks inside a warmup file and lists what TF Serving would reject, without running it.

The checks are the replica's own (`warmup_file.warmup_records`, `Servable.check_log`):
everything TF Serving checks before Session::Run, batching admission included,
so whatever `inspect` rejects `verify` rejects with the same status. The reverse
does not hold: only `verify` runs the model, so what fails inside the graph
(a shape an op refuses, a dtype the graph does not take, an output that server-
side batching cannot split) is found by `verify` alone.
"""

import dataclasses
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tfx.dsl.io import fileio

from tfx_warmup import replay
from tfx_warmup import report as report_lib
from tfx_warmup import signatures
from tfx_warmup import warmup_file
from tfx_warmup.batching import BatchingConfig
from tfx_warmup.errors import ModelError, WarmupReplayError
from tfx_warmup.parameters import MAX_RECORDS


@dataclasses.dataclass
class Inspection:
  path: str
  model_dir: Optional[str]
  summary: Dict[warmup_file.RecordKey, int]
  problems: List[Dict[str, Any]]
  exists: bool = True  # False: the model has no warmup file (the report's path is null).
  features: Dict[str, List[str]] = dataclasses.field(default_factory=dict)  # Per signature.

  def report(self) -> Dict[str, Any]:
    return report_lib.build_report(self.summary, model=self.model_dir,
                                   warmup_path=self.path if self.exists else None,
                                   problems=self.problems, features=self.features)


def resolve(path: str) -> Tuple[str, Optional[str]]:
  """(warmup file, SavedModel dir or None) for a warmup file or a model in any accepted form."""
  if fileio.isdir(path):
    model_dir = signatures.resolve_model(path).saved_model_dir
    return warmup_file.warmup_file_path(model_dir), model_dir
  if not fileio.exists(path):
    raise ModelError(f'No warmup file or model at {path}. Pass a warmup file, or '
                     f'{signatures.MODEL_FORMS}.')
  return path, None


def inspect_warmup(path: str, model_dir: Optional[str] = None,
                   tags: Sequence[str] = ('serve',),
                   batching: Optional[BatchingConfig] = None) -> Inspection:
  """Summarises the file at `path` and lists every problem found.

  With `model_dir`, each record is also checked against the model's signatures,
  and against server-side `batching`'s admission checks when given.
  """
  checker = None
  if model_dir is not None:
    checker = replay.Servable.for_checks(model_dir, signatures.load_meta_graph(model_dir, tags),
                                         batching=batching)
  problems, records = [], []
  if not fileio.exists(path):  # Not a problem: TF Serving loads the model, warming nothing.
    return Inspection(path, model_dir, {}, [], exists=False)
  try:
    for index, record in enumerate(warmup_file.warmup_records(path)):
      records.append(record)
      try:
        if checker:
          checker.check_log(record)
        else:
          replay.log_request(record)
      except replay.RequestError as e:
        problems.append(report_lib.problem(index, e.code, e.message))
  except WarmupReplayError as e:
    problems.append(report_lib.problem(e.record, e.code, warmup_file.read_error(path, e)))
  if len(records) > MAX_RECORDS:
    problems.append(report_lib.problem(MAX_RECORDS, 'INVALID_ARGUMENT', (
        f'{len(records)} records; TF Serving refuses more than {MAX_RECORDS}.')))
  return Inspection(path, model_dir, warmup_file.summarize(records), problems,
                    features=warmup_file.features_carried(records))
