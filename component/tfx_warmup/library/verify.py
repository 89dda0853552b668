"""A model warmed before (by anyone): its warmup file replayed as TF Serving's load would, timed.

What `tfx-warmup verify` calls. Unlike a warmup run, the model is loaded just
for the replay, so the replay's seconds are what TF Serving's load pays; and a
record TF Serving would fail is the verdict (the report's validation says it),
not an error: the user asked whether TF Serving would load the model.
"""

from typing import Optional, Sequence

from tfx.dsl.io import fileio

from tfx_warmup import serving
from tfx_warmup.errors import ConfigurationError
from tfx_warmup.library import live as live_lib
from tfx_warmup.library import loading
from tfx_warmup.library.measurement import measure_cold_start
from tfx_warmup.library.validation import failed_validation, validate_records
from tfx_warmup.report.model import WarmupReport, warmup_file_section
from tfx_warmup.serving import batching_config


def verify_model(model_dir: str, *, tags: Sequence[str] = ('serve',),
                 batching_parameters_file: Optional[str] = None,
                 num_request_iterations: int = 1, measure: bool = False,
                 requests: Optional[str] = None,
                 plot_path: Optional[str] = None) -> WarmupReport:
  """Loads the SavedModel at `model_dir` as TF Serving would and replays its warmup file.

  Under `batching_parameters_file`'s server-side batching, each record
  `num_request_iterations` times. With `measure` (or a `plot_path`, a PNG of
  the first requests), times the first requests in fresh processes without and
  with the replay: `requests`, a TFRecord of PredictionLogs, else one warmup
  record of each kind. A model without a warmup file loads and warms nothing
  (not an error); measuring it needs `requests`.
  Returns the report (`validation.ok` False if TF Serving would fail the load);
  raises what the user must fix otherwise.
  """
  measure = measure or bool(plot_path)
  path = serving.warmup_file_path(model_dir)
  has_file = fileio.exists(path)
  if measure and not has_file and not requests:
    raise ConfigurationError(
        f'{model_dir} has no warmup file ({path}), so there are no records to time. Pass '
        '`requests` (a TFRecord of PredictionLogs, e.g. TF Serving request logs) to '
        'measure its cold start, or warm it with `warm_model(measure=True)` on your '
        'examples to measure it without and with warmup.')
  batching = (batching_config.config_from_file(batching_parameters_file)
              if batching_parameters_file else None)
  records = []
  with loading.load(model_dir, tags, batching) as servable:
    try:
      if has_file:
        records = serving.read_warmup_file(path)
      validation = validate_records(servable, records, num_request_iterations, path,
                                    examples=None, fresh_load=True)
    except serving.WarmupReplayError as e:
      validation = failed_validation(e, num_request_iterations, batching)
  cold_start = None
  if validation.ok and measure:
    cold_start = measure_cold_start(model_dir, live_lib.live_traffic(records, requests), tags,
                                    batching, with_warmup=has_file)
    if plot_path:
      from tfx_warmup.measure import plot  # Matplotlib.
      plot.plot_first_requests(cold_start, plot_path, title=(
          f'First requests after loading {model_dir}' + ('' if has_file else ' (no warmup)')))
  return WarmupReport(model=model_dir,
                      warmup_file=warmup_file_section(path if has_file else None, records),
                      validation=validation, cold_start=cold_start)
