"""A whole warmup run: the library's steps in order, writing the warmed model in one move.

What `Executor.Do` and `tfx-warmup generate` both call. Each step is a
function of its own (`plan_warmup`, `sample_examples`, `build_records`,
`validate_records`, `measure_cold_start`), so a user can run, test or replace
one; this module only passes each value, computed once, to the next.
"""

import dataclasses
import os
from typing import Callable, Optional

import apache_beam as beam
from absl import logging

from tfx_warmup.data.examples import ExamplesSource
from tfx_warmup.library import output
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


def warm_model(model_dir: str, examples: ExamplesSource, output_dir: str,
               options: Optional[WarmupOptions] = None, *,
               layout: output.Layout = output.SAVED_MODEL,
               make_pipeline: Optional[Callable[[], beam.Pipeline]] = None,
               baseline_model_dir: Optional[str] = None) -> WarmupReport:
  """Writes a copy of the SavedModel at `model_dir` whose warmup file comes from `examples`.

  The copy goes to `output_dir` in `layout`: by default `output_dir` is the
  SavedModel itself; `MODEL_ARTIFACT` puts it in Format-Serving/ with
  `warmup_report.json` beside it, as a TFX Model artifact. Nothing is written
  there unless every step succeeds. `make_pipeline` makes the Beam pipeline that
  samples (default: Beam's DirectRunner in process). With `options.measure_swap`,
  the swap from `baseline_model_dir` (the version being served; default
  `model_dir`) to the copy is measured, and in a layout with files beside the
  model, the config that keeps it flat and its plot are written beside the report.
  Returns the report; raises the error naming the cause and the fix otherwise.
  """
  options = options or WarmupOptions()
  make_pipeline = make_pipeline or beam.Pipeline
  final_model_dir = layout.model_dir(output_dir)
  final_path = warmup_file_path(final_model_dir)
  keep_existing = options.existing_warmup == 'keep'
  if options.existing_warmup == 'replace':
    output.warn_replaced(model_dir)

  # 1. Load the model as TF Serving would and plan: an unloadable model, a signature
  #    that cannot be warmed or a budget TF Serving refuses fails before any data is read.
  with plan_warmup(model_dir, options, examples.payload_format) as plan, (
      output.staged_output(output_dir, layout.model_subdir)) as staged:
    # 2. Sample with Beam (the only data-bound step).
    sample = sample_examples(examples, options, make_pipeline, staged.scratch_dir)
    # 3. Build the records, strip each to what its signature reads, prove it.
    built = build_records(plan, sample)
    file_section = warmup_file_section(final_path, built.records)
    logging.info('Warmup file:\n%s', text.format_summary(file_section.summary))
    # 4. Replay them on the loaded model as TF Serving's load would (on a model the checks
    #    of step 3 already ran: the seconds are not what a fresh load pays).
    validation = validate_records(plan.servable, built.records, options.num_request_iterations,
                                  final_path, examples.described, fresh_load=False
                                  ) if options.validate else None
    # 5. Write the warmed copy (the model's own file as it is, for existing_warmup='keep').
    staged.write_model(model_dir, None if keep_existing else built.records)
    # 6. Measure the cold start it removes, in fresh processes, on the written copy.
    cold_start = measure_cold_start(staged.model_dir, built.live, options.tag_set,
                                    plan.batching, examples=examples.described
                                    ) if options.measure else None
    # 7. Measure the version swap to the copy; in a layout with room beside the SavedModel
    #    (never inside it), write the config that keeps it flat, and a plot.
    swap = measure_swap(baseline_model_dir or model_dir, staged.model_dir, built.live,
                        qps=options.swap_qps, deadline_ms=options.swap_deadline_ms,
                        tags=options.tag_set, batching=plan.batching,
                        num_request_iterations=options.num_request_iterations,
                        plot_path=os.path.join(staged.root, PLOT_FILE) if layout.files_beside
                        else None) if options.measure_swap else None
    if swap and layout.files_beside:
      swap = write_server_config(swap, staged.root, options.model_name,
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
        sample=SampleSection(sample.splits, options.num_examples, options.seed, options.sampling),
        validation=validation, cold_start=cold_start,
        stripping=built.stripped.section(options.strip_unread_features, options.drop_features)
        if built.stripped else None,
        swap=dataclasses.replace(swap, new_model=final_model_dir) if swap else None)
    if layout.files_beside:
      staged.write_report(report)
  return report
