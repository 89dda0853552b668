"""Step 4: replay the records on the loaded model as TF Serving's load would.

The replica gives TF Serving's verdict in TF Serving's words; this step adds
the user's: an example/parse mismatch becomes an ExamplesError naming the
feature, and a failure with a known cause (a Keras 3 export, an output that
server-side batching cannot split) says what to do.
"""

from typing import Optional, Sequence

from absl import logging
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup import progress
from tfx_warmup import serving
from tfx_warmup.report.model import ValidationSection, batching_section
from tfx_warmup.requests import diagnosis


def validate_records(servable: serving.Servable,
                     records: Sequence[prediction_log_pb2.PredictionLog],
                     num_request_iterations: int = 1,
                     path: str = '',
                     examples: Optional[str] = 'the examples', *,
                     fresh_load: bool = True) -> ValidationSection:
  """Replays `records` on `servable`; raises what would fail TF Serving's load, explained.

  Each record runs `num_request_iterations` times, under the servable's
  server-side batching when it has one, as at TF Serving's load. `path` names
  the warmup file in messages. `examples` names what the records were built from
  ('the glob at ...'): an example/parse mismatch is then their ExamplesError. None:
  the records were not built from examples (a model's own file), so no data is blamed.
  `fresh_load`: nothing ran on `servable` since its load, so the replay's seconds are
  what TF Serving's load pays (the report says which it was).
  """
  blame = diagnosis.mismatches_blamed_on_data(examples)
  with progress.reporter().stage('Replaying warmup records', total=len(records)) as advance:
    with blame:
      try:
        result = serving.replay_records(servable, records, num_request_iterations,
                                        on_record=advance, path=path)
      except serving.WarmupReplayError as e:
        record = records[e.record] if e.record is not None and e.record < len(records) else None
        raise diagnosis.explained(e, servable, record) from e
  logging.info('TF Serving replica replayed %d warmup records in %.2fs.',
               result.records, result.seconds)
  return ValidationSection(records=result.records, seconds=round(result.seconds, 3),
                           num_request_iterations=num_request_iterations,
                           batching=batching_section(servable.batching),
                           fresh_load=fresh_load)


def failed_validation(error: serving.WarmupReplayError, num_request_iterations: int,
                      batching: Optional[serving.BatchingConfig]) -> ValidationSection:
  """The report's section for a replay TF Serving's load would fail."""
  return ValidationSection(records=error.record or 0, seconds=0.0,
                           num_request_iterations=num_request_iterations,
                           batching=batching_section(batching), error=str(error),
                           code=error.code, record=error.record)
