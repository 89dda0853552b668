"""Step 6: measure the cold start the warmup file removes, in fresh processes.

Runs on the written model (the child processes load it from disk as TF
Serving would) with live requests built from examples the warmup file does not
hold, under the server-side batching the run was given.
"""

from typing import Optional, Sequence

from absl import logging
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup import progress
from tfx_warmup import serving
from tfx_warmup.measure import cold_start
from tfx_warmup.report.model import ColdStartSection
from tfx_warmup.requests import diagnosis

NO_LIVE_TRAFFIC = ('the chosen splits hold no examples beyond the warmup sample to act as '
                   'live traffic; lower num_examples to measure')


def measure_cold_start(model_dir: str, live: Sequence[prediction_log_pb2.PredictionLog],
                       tags: Sequence[str] = ('serve',),
                       batching: Optional[serving.BatchingConfig] = None,
                       with_warmup: bool = True,
                       examples: Optional[str] = None) -> ColdStartSection:
  """First-request latency of `live` without (and, `with_warmup`, with) the warmup replay.

  `examples` names what the live requests were built from ('the glob at ...'): a
  request that fails on an example/parse mismatch is then their ExamplesError.
  """
  if not live:
    logging.warning('Cold start not measured: %s.', NO_LIVE_TRAFFIC)
    return ColdStartSection(skipped=NO_LIVE_TRAFFIC)
  processes = 2 if with_warmup else 1
  blame = diagnosis.mismatches_blamed_on_data(examples)
  with progress.reporter().stage(
      f'Measuring cold start ({processes} fresh process{"es" if processes > 1 else ""})',
      total=processes) as advance, blame:
    result = cold_start.cold_start_report(
        model_dir, live, tags=tags, batching=batching,
        on_process=advance, with_warmup=with_warmup)
  logging.info('First request: %.1f ms without warmup, %s with (steady p50 %.2f ms).',
               result.max_first_ms_without_warmup,
               '-' if result.max_first_ms_with_warmup is None else
               f'{result.max_first_ms_with_warmup:.1f} ms', result.steady_p50_ms)
  return result
