"""ModelWarmer executor: sample, build, strip to what is read, write, replay, measure."""

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.utils import json_utils
from tfx.utils import path_utils

from tfx_warmup import component_spec as spec
from tfx_warmup import example_fit
from tfx_warmup import examples_io
from tfx_warmup import measure
from tfx_warmup import progress
from tfx_warmup import replay
from tfx_warmup import report as report_lib
from tfx_warmup import sample
from tfx_warmup import signatures
from tfx_warmup import stripping
from tfx_warmup import warmed_model
from tfx_warmup import warmup_file
from tfx_warmup import warmup_requests
from tfx_warmup.batching import BatchingConfig
from tfx_warmup.options import WarmupOptions

# Sampled examples held back from the warmup file to act as live traffic when
# measuring: a warmup file must not be judged on the requests it replays.
NUM_LIVE_EXAMPLES = 32


class Executor(base_beam_executor.BaseBeamExecutor):
  """Writes a copy of a SavedModel whose warmup file covers its signatures.

  TF Serving initialises each signature, fetch set and batch size lazily on its
  first request; it replays `assets.extra/tf_serving_warmup_requests` at load
  time so that cost is paid before traffic arrives. This executor builds that
  file from a seeded sample of real examples, keeps in each record only the
  features its signature reads (proven to change no answer), proves TF Serving
  would accept it, and measures the first-request latency it removes.
  """

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    """Builds the warmed model.

    Args:
      input_dict: Input dict from input key to a list of artifacts:
        - model: a `Model` (Format-Serving layout, or the older Estimator one).
        - examples: an `Examples` of serialized tf.Example or tf.SequenceExample.
      output_dict: Output dict from output key to a list of artifacts:
        - warmed_model: a `Model` holding the same SavedModel in the
          Format-Serving layout plus its warmup file (Pusher consumes it), and
          `warmup_report.json` beside it.
      exec_properties: A dict of execution properties: ModelWarmer's
        parameters (`tfx_warmup.parameters.PARAMETERS`: each one's name, type,
        default, help and check), encoded by `WarmupOptions.to_exec_properties`;
        checked here too, since a RuntimeParameter's value is known only now.
    """
    self._log_startup(input_dict, output_dict, exec_properties)
    model = artifact_utils.get_single_instance(input_dict[spec.MODEL_KEY])
    examples = artifact_utils.get_single_instance(input_dict[spec.EXAMPLES_KEY])
    warmed = artifact_utils.get_single_instance(output_dict[spec.WARMED_MODEL_KEY])
    options = WarmupOptions.from_exec_properties(exec_properties)

    # 1. Decide how TF Serving would call each signature (metadata only), then load the
    #    model as TF Serving would: an unloadable one fails here, before any data is read.
    saved_model_dir = serving_model_dir(model)
    plan = signatures.plan_signatures(saved_model_dir, options.tag_set,
                                      options.signature_names,
                                      examples_io.payload_format(examples))
    meta_graph = signatures.load_meta_graph(saved_model_dir, options.tag_set)
    keeps = stripping.plan_keeps(meta_graph, plan.usable, options.strip_unread_features,
                                 options.drop_features)
    servable = replay.load(saved_model_dir, options.tag_set, batching=options.batching_config())
    for name, reason in plan.skipped.items():
      logging.warning("Signature '%s' is not warmed: %s.", name, reason)
    combinations = warmup_requests.plan_combinations(
        plan.usable, options.warmed_batch_sizes(), options.output_filters)
    kept = warmup_file.existing_records(saved_model_dir, options.existing_warmup)
    stripping.check_kept_records(kept, options.drop_features, options.existing_warmup)
    if options.existing_warmup != 'keep':
      warmup_requests.check_record_budget(combinations, options.max_records, len(kept))
    splits = examples_io.choose_splits(examples, options.splits)

    with servable, warmed_model.staged_output(saved_model_dir, warmed.uri,
                                              copy_warmup=bool(kept)) as staged:
      # 2. Sample with Beam (the only data-bound step): the warmup examples, then
      #    held-back ones to act as live traffic when measuring.
      warmup_examples, live_examples = self._sample(examples, splits, options,
                                                    staged.scratch_dir)

      # 3. Keep the signatures the sample can feed: one request each, in the replica. A
      #    signature whose parse the examples cannot satisfy (serving data without the
      #    label, another dataset) is left out with its reason, unless it was named.
      skipped = dict(plan.skipped)
      warnings: Dict[str, str] = {}
      if warmup_examples or live_examples:
        combinations, data_skipped = example_fit.signatures_the_sample_feeds(
            servable, combinations, warmup_examples or live_examples,
            options.signature_names, options.model_name)
        for name, reason in data_skipped.items():
          logging.warning("Signature '%s' is not warmed: %s.", name, reason)
        skipped.update(data_skipped)
        # A signature the sample feeds only defaults (it holds none of its features) is
        # warmed, with a warning.
        warnings = example_fit.unshared_feature_warnings(
            meta_graph, combinations,
            warmup_examples or live_examples, examples_io.payload_format(examples))
        for name, warning in warnings.items():
          logging.warning("Signature '%s': %s.", name, warning)

      # 4. Build the records in plain Python, where every error is typed and ours.
      warmup_path = warmup_file.warmup_file_path(staged.model_dir)
      stripped = None
      if options.existing_warmup != 'keep':
        records = warmup_requests.build_warmup_records(
            warmup_examples, combinations,
            requests_per_combination=options.requests_per_combination,
            max_records=options.max_records - len(kept), model_name=options.model_name)

        # 5. Strip each record to the features its signature(s) parse, prove in the
        #    replica that every stripped record answers exactly as its whole twin, and
        #    write them into the staged copy: after the kept ones for 'merge', none for
        #    'keep' (its file was copied as it is).
        with progress.reporter().stage('Stripping records to what each signature reads'):
          stripped = stripping.strip_and_prove(servable, records, keeps)
        logging.info('Records stripped from %d to %d bytes; %d proven identical in the replica.',
                     stripped.bytes_before, stripped.bytes_after, stripped.records_proven)
        for name, keep in sorted(stripped.keeps.items()):
          if keep.is_whole and options.strip_unread_features:
            logging.warning("Signature '%s' keeps whole examples: %s.", name,
                            keep.whole_reason)
        warmup_file.write_warmup_file(warmup_path,
                                      warmup_file.merge_records(kept, stripped.records))
      live_path = os.path.join(staged.scratch_dir, 'live_requests')
      if options.measure:
        warmup_file.write_warmup_file(live_path, warmup_requests.build_warmup_records(
            live_examples, combinations, requests_per_combination=1,
            model_name=options.model_name) if live_examples else [])
      written = warmup_file.read_warmup_file(warmup_path)
      summary = warmup_file.summarize(written)
      logging.info('Warmup file:\n%s', report_lib.format_summary(summary))

      # 6. Replay the file on the loaded model as TF Serving would; any failure fails
      #    the run.
      with example_fit.mismatches_blamed_on_data():
        validation = validate(staged.model_dir, options.tag_set, sum(summary.values()),
                              options.num_request_iterations, options.batching_config(),
                              servable) if options.validate else None

      # 7. Measure the cold start it removes, in fresh processes.
      cold_start = measure_cold_start(staged.model_dir, live_path, options.tag_set) if (
          options.measure) else None

      final_model_dir = path_utils.serving_model_dir(warmed.uri)
      report = report_lib.build_report(
          summary, model=final_model_dir,
          warmup_path=warmup_file.warmup_file_path(final_model_dir), skipped=skipped,
          sample=report_lib.sample_section(splits, options.num_examples, options.seed,
                                           options.sampling),
          validation=validation, cold_start=cold_start, warnings=warnings,
          features=warmup_file.features_carried(written),
          stripping=stripped.section(options.strip_unread_features, options.drop_features)
          if stripped else None)
      staged.write_report(report)

    # 8. Record what was warmed on the output artifact.
    _record_properties(warmed, report)

  def _sample(self, examples: types.Artifact, splits: List[str], options: WarmupOptions,
              scratch_dir: str) -> Tuple[List[bytes], List[bytes]]:
    """(warmup examples, held-back live examples): Beam reads and samples, writes the sample.

    Live examples are chosen uniformly among the records the warmup sample did
    not take, so the two never overlap and the warmup file is the same with or
    without measuring. Nothing is read when nothing needs examples
    (existing_warmup='keep' without measuring).
    """
    n = options.num_examples
    if options.existing_warmup == 'keep' and not options.measure:
      return [], []
    path = os.path.join(scratch_dir, 'sample.tfrecord')
    with progress.reporter().stage('Sampling examples'), (
        examples_io.reading_errors(examples, splits)):
      with self._make_beam_pipeline() as pipeline:
        _ = (examples_io.read_splits(pipeline, examples, splits)
             | 'SampleExamples' >> sample.SampleExamples(
                 n, options.seed, options.sampling, options.stratify_feature,
                 held_back=NUM_LIVE_EXAMPLES if options.measure else 0)
             | 'WriteSample' >> examples_io.WriteSample(path))
    sampled = examples_io.read_sample(path)
    return sampled[:n], sampled[n:]


def serving_model_dir(model: types.Artifact) -> str:
  """The SavedModel in a Model artifact: Trainer's layouts, or a bare SavedModel at its URI."""
  found = signatures.resolve_model(model.uri)
  logging.info('Model: %s (%s).', found.saved_model_dir, found.form)
  return found.saved_model_dir


def validate(model_dir: str, tags: Sequence[str], records: int,
             num_request_iterations: int = 1,
             batching: Optional[BatchingConfig] = None,
             servable: Optional[replay.Servable] = None) -> Dict[str, Any]:
  """Replays the warmup file in the TF Serving replica; raises WarmupReplayError on failure.

  Each record runs `num_request_iterations` times, under TF Serving's
  server-side `batching` when the model is served with it, as at TF Serving's load.
  `servable`: the same model, already loaded (with that batching).
  """
  with progress.reporter().stage('Replaying warmup records', total=records) as advance:
    result = replay.replay_warmup(model_dir, tags, servable=servable, on_record=advance,
                                  num_request_iterations=num_request_iterations,
                                  batching=batching)
  logging.info('TF Serving replica replayed %d warmup records in %.2fs.',
               result.records, result.seconds)
  return {'records': result.records, 'seconds': round(result.seconds, 3),
          'num_request_iterations': num_request_iterations,
          'batching': None if batching is None else {
              'max_batch_size': batching.max_batch_size,
              'allowed_batch_sizes': list(batching.allowed_batch_sizes),
              'enable_large_batch_splitting': batching.enable_large_batch_splitting}}


def measure_cold_start(model_dir: str, live_path: str, tags: Sequence[str]) -> Dict[str, Any]:
  """First-request latency without and with warmup, on `live_path`'s requests."""
  if not warmup_file.read_warmup_file(live_path):
    reason = ('the chosen splits hold no examples beyond the warmup sample to act as '
              'live traffic; lower num_examples to measure')
    logging.warning('Cold start not measured: %s.', reason)
    return {'skipped': reason}
  with progress.reporter().stage('Measuring cold start (2 fresh processes)',
                                 total=2) as advance:
    cold_start = measure.cold_start_report(model_dir, live_path, tags=tags,
                                           on_process=advance)
  logging.info('First request: %.1f ms without warmup, %.1f ms with (steady p50 %.2f ms).',
               cold_start['max_first_ms_without_warmup'],
               cold_start['max_first_ms_with_warmup'], cold_start['steady_p50_ms'])
  return cold_start


def _record_properties(warmed: types.Artifact, report: Dict[str, Any]) -> None:
  summary = report['warmup_file']['summary']
  warmed.set_int_custom_property(spec.RECORD_COUNT_PROPERTY,
                                 report['warmup_file']['records'])
  warmed.set_string_custom_property(spec.SIGNATURES_WARMED_PROPERTY,
                                    json_utils.dumps(report['signatures']['warmed']))
  warmed.set_string_custom_property(spec.SIGNATURES_SKIPPED_PROPERTY,
                                    json_utils.dumps(report['signatures']['skipped']))
  warmed.set_string_custom_property(spec.WARNINGS_PROPERTY,
                                    json_utils.dumps(report['signatures']['warnings']))
  warmed.set_string_custom_property(
      spec.BATCH_SIZES_PROPERTY,
      json_utils.dumps(sorted({row['batch_size'] for row in summary})))
  warmed.set_string_custom_property(spec.SPLITS_PROPERTY,
                                    json_utils.dumps(report['sample']['splits']))
  warmed.set_int_custom_property(spec.SEED_PROPERTY, report['sample']['seed'])
  warmed.set_int_custom_property(spec.VALIDATED_PROPERTY, int(bool(report['validation'])))
  warmed.set_string_custom_property(spec.FEATURES_PROPERTY,
                                    json_utils.dumps(report['warmup_file']['features']))
  if report['stripping']:
    warmed.set_string_custom_property(spec.FEATURES_DROPPED_PROPERTY,
                                      json_utils.dumps(report['stripping']['dropped']))
    warmed.set_int_custom_property(spec.BYTES_UNSTRIPPED_PROPERTY,
                                   report['stripping']['bytes_before'])
    warmed.set_int_custom_property(spec.BYTES_STRIPPED_PROPERTY,
                                   report['stripping']['bytes_after'])
  cold_start = report['cold_start'] or {}
  if 'requests' in cold_start:
    warmed.set_float_custom_property(spec.REPLAY_SECONDS_PROPERTY,
                                     cold_start['replay_seconds'])
    warmed.set_float_custom_property(spec.FIRST_MS_WITHOUT_WARMUP_PROPERTY,
                                     cold_start['max_first_ms_without_warmup'])
    warmed.set_float_custom_property(spec.FIRST_MS_WITH_WARMUP_PROPERTY,
                                     cold_start['max_first_ms_with_warmup'])
    warmed.set_float_custom_property(spec.STEADY_P50_MS_PROPERTY,
                                     cold_start['steady_p50_ms'])
