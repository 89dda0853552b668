"""The input model's own warmup file: what `existing_warmup` keeps of it.

'replace' keeps nothing; 'keep' validates it and writes it as it is; 'merge'
puts its records first and ours after them, within TF Serving's budget. The
file is read once, as TF Serving reads it, and one TF Serving could not load
is refused before any data is read.
"""

from typing import Iterable, List

from tensorflow_serving.apis import prediction_log_pb2
from tfx.dsl.io import fileio

from tfx_warmup.serving import warmup_file
from tfx_warmup.serving.contract import MAX_RECORDS, warmup_file_path
from tfx_warmup.serving.errors import ModelError, WarmupReplayError


def existing_records(saved_model_dir: str, mode: str
                     ) -> List[prediction_log_pb2.PredictionLog]:
  """The input model's own warmup records that existing_warmup `mode` keeps.

  'replace' keeps none. 'keep' and 'merge' read the file as TF Serving does, and
  refuse one TF Serving could not load (compressed, corrupt, over 1000 records).
  """
  if mode == 'replace':
    return []
  path = warmup_file_path(saved_model_dir)
  if not fileio.exists(path):
    if mode == 'keep':
      raise ModelError(f"existing_warmup='keep', but the input model has no warmup file "
                       f"({path}). Use 'replace' or 'merge' to write one.")
    return []
  try:
    records = list(warmup_file.warmup_records(path))
  except WarmupReplayError as e:
    raise ModelError(f"existing_warmup={mode!r}, but the input model's warmup file cannot be "
                     f'loaded by TF Serving: {e.code}: {warmup_file.read_error(path, e)} Use '
                     "existing_warmup='replace' to write a new one.") from e
  if len(records) > MAX_RECORDS:
    raise ModelError(f"existing_warmup={mode!r}, but the input model's warmup file holds "
                     f'{len(records)} records; TF Serving refuses more than {MAX_RECORDS}. '
                     "Use existing_warmup='replace' to write a new one.")
  return records


def merge_records(kept: Iterable[prediction_log_pb2.PredictionLog],
                  added: Iterable[prediction_log_pb2.PredictionLog]
                  ) -> List[prediction_log_pb2.PredictionLog]:
  """`kept` then `added`, each distinct record once (compared as serialized bytes)."""
  seen, merged = set(), []
  for record in list(kept) + list(added):
    key = record.SerializeToString(deterministic=True)
    if key not in seen:
      seen.add(key)
      merged.append(record)
  return merged
