"""A whole warmup run: the library's steps in order, writing the warmed model in one move.

What `Executor.Do` and `tfx-warmup generate` both call. Each step is a
function of its own (`traffic.read_for_warmup`, `plan_warmup`, `traffic.gate`,
`sample_examples`, `build_records` or `traffic.build_from_traffic`,
`validate_records`, `measure_cold_start`, `measure_swap`), so a user can run,
test or replace one; this module only passes each value, computed once, to the next.
"""

import dataclasses
import os
from typing import Callable, Optional

import apache_beam as beam
from absl import logging

from tfx.proto import example_gen_pb2

from tfx_warmup.data.examples import ExamplesSource
from tfx_warmup.errors import ConfigurationError
from tfx_warmup.library import output
from tfx_warmup.library import traffic as traffic_lib
from tfx_warmup.library.measurement import measure_cold_start
from tfx_warmup.library.plan import plan_warmup
from tfx_warmup.library.records import build_records
from tfx_warmup.library.sampling import sample_examples
from tfx_warmup.library.swap import PLOT_FILE
from tfx_warmup.library.swap import measure_swap
from tfx_warmup.library.swap import write_server_config
from tfx_warmup.library.validation import validate_records
from tfx_warmup.options import WarmupOptions
from tfx_warmup.report import text
from tfx_warmup.report.model import SampleSection, SignaturesSection, WarmupReport
from tfx_warmup.report.model import warmup_file_section
from tfx_warmup.serving.contract import warmup_file_path
from tfx_warmup.serving.records import record_signatures

FORMAT_TF_EXAMPLE = example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE


def warm_model(model_dir: str, examples: Optional[ExamplesSource], output_dir: str,
               options: Optional[WarmupOptions] = None, *,
               layout: output.Layout = output.SAVED_MODEL,
               make_pipeline: Optional[Callable[[], beam.Pipeline]] = None,
               baseline_model_dir: Optional[str] = None) -> WarmupReport:
  """Writes a copy of the SavedModel at `model_dir` whose warmup file comes from `examples`,
  or from the serving traffic logs `options.traffic_logs` (then `examples` may be None).

  The copy goes to `output_dir` in `layout`: by default `output_dir` is the
  SavedModel itself; `MODEL_ARTIFACT` puts it in Format-Serving/ with
  `warmup_report.json` beside it, as a TFX Model artifact. Nothing is written
  there unless every step succeeds. `make_pipeline` makes the Beam pipeline that
  samples (default: Beam's DirectRunner in process). With `options.measure_swap`,
  the swap from `baseline_model_dir` (the version being served; default
  `model_dir`) to the copy is measured, and in a layout with files beside the
  model, the config that keeps it flat and its plot are written beside the report.
  With traffic logs, the requests `model_dir` would newly refuse are counted against
  `baseline_model_dir` when given (see `library.traffic`).
  Returns the report; raises the error naming the cause and the fix otherwise.
  """
  options = options or WarmupOptions()
  make_pipeline = make_pipeline or beam.Pipeline
  final_model_dir = layout.model_dir(output_dir)
  final_path = warmup_file_path(final_model_dir)
  keep_existing = options.existing_warmup == 'keep'
  if options.existing_warmup == 'replace':
    output.warn_replaced(model_dir)

  from_traffic = bool(options.traffic_logs) and options.traffic_payloads == 'requests'
  if examples is None and not from_traffic:
    raise ConfigurationError(
        "No examples to build the warmup records from: pass examples, or traffic_logs with "
        "traffic_payloads='requests' to warm with the logged requests themselves.")
  payload_format = examples.payload_format if examples else FORMAT_TF_EXAMPLE
  described = examples.described if examples else None

  with output.staged_output(output_dir, layout.model_subdir) as staged:
    # 1. Read what clients send (traffic_logs) with Beam, against the model's signatures.
    traffic = traffic_lib.read_for_warmup(model_dir, options, make_pipeline,
                                          staged.scratch_dir, baseline_model_dir)
    # 2. Load the model as TF Serving would and plan (at the traffic's batch sizes and fetch
    #    sets): a model that cannot load, a signature that cannot be warmed or a budget TF
    #    Serving refuses fails before any example is read.
    with plan_warmup(model_dir, options, payload_format, traffic) as plan:
      # 3. The gate: a model that would refuse requests clients send today fails here.
      if traffic:
        traffic = traffic_lib.gate(traffic, plan)
      # 4. Build the records: the logged requests themselves, or from examples sampled with
      #    Beam; each stripped to what its signature reads, and proven.
      chosen = left_out = None
      sample = None
      if from_traffic:
        built, chosen, left_out = traffic_lib.build_from_traffic(plan, traffic)
      else:
        sample = sample_examples(examples, options, make_pipeline, staged.scratch_dir)
        built = build_records(plan, sample)
      file_section = warmup_file_section(final_path, built.records)
      logging.info('Warmup file:\n%s', text.format_summary(file_section.summary))
      # 5. Replay them on the loaded model as TF Serving's load would (on a model the checks
      #    of step 4 already ran: the seconds are not what a fresh load pays).
      validation = validate_records(plan.servable, built.records,
                                    options.num_request_iterations, final_path, described,
                                    fresh_load=False) if options.validate else None
      # 6. Write the warmed copy (the model's own file as it is, for existing_warmup='keep').
      staged.write_model(model_dir, None if keep_existing else built.records)
      # 7. Measure the cold start it removes, in fresh processes, on the written copy.
      cold_start = measure_cold_start(staged.model_dir, built.live, options.tag_set,
                                      plan.batching, examples=described
                                      ) if options.measure else None
      # 8. Measure the version swap to the copy; in a layout with room beside the SavedModel
      #    (never inside it), write the config that keeps it flat, and a plot.
      swap = measure_swap(baseline_model_dir or model_dir, staged.model_dir, built.live,
                          qps=options.swap_qps, deadline_ms=options.swap_deadline_ms,
                          tags=options.tag_set, batching=plan.batching,
                          num_request_iterations=options.num_request_iterations,
                          candidates=options.swap_candidates,
                          memory_limit=options.swap_memory_limit,
                          plot_path=os.path.join(staged.root, PLOT_FILE) if layout.files_beside
                          else None) if options.measure_swap else None
      if swap:  # What applies it, always; as files only where there is room beside the model.
        swap = write_server_config(swap, staged.root if layout.files_beside else None,
                                   options.model_name,
                                   options.batching_parameters_file,
                                   options.num_request_iterations)
      report = WarmupReport(
          model=final_model_dir,
          warmup_file=file_section,
          signatures=SignaturesSection(
              warmed=sorted({name for r in built.records for name in record_signatures(r)}),
              skipped=dict(sorted(built.skipped.items())),
              warnings=dict(sorted(built.warnings.items())),
              feature_coverage=built.feature_coverage),
          sample=SampleSection(sample.splits, options.num_examples, options.seed,
                               options.sampling) if sample else None,
          validation=validation, cold_start=cold_start,
          stripping=built.stripped.section(options.strip_unread_features, options.drop_features)
          if built.stripped else None,
          swap=dataclasses.replace(swap, new_model=final_model_dir) if swap else None,
          traffic=traffic_lib.traffic_section(
              traffic, options, *((chosen, left_out) if from_traffic
                                  else traffic_lib.warmed_by(built, traffic)),
              traffic_lib.unstrippable_inputs(built.records)) if traffic else None)
      if layout.files_beside:
        staged.write_report(report)
  return report

