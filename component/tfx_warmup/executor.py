"""ModelWarmer executor: sample examples, build warmup requests, write a warmed model."""

from typing import Any, Dict, List

import apache_beam as beam
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.utils import json_utils
from tfx.utils import path_utils

from tfx_warmup import component_spec as spec
from tfx_warmup import sample
from tfx_warmup import signatures
from tfx_warmup import warmed_model
from tfx_warmup import warmup_file
from tfx_warmup import warmup_requests
from tfx_warmup.options import WarmupOptions


class Executor(base_beam_executor.BaseBeamExecutor):
  """Writes a copy of a SavedModel whose warmup file covers its signatures.

  TF Serving initialises each signature, fetch set and batch size lazily on its
  first request; it replays `assets.extra/tf_serving_warmup_requests` at load
  time so that cost is paid before traffic arrives. This executor builds that
  file from a seeded sample of real examples.
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
          Format-Serving layout, plus its warmup file. Pusher consumes it.
      exec_properties: A dict of execution properties:
        - num_examples: how many examples to sample.
        - splits: JSON list of splits to sample; default 'eval' if present,
          else every split.
        - signature_names: JSON list of signatures to warm; default every
          signature TF Serving can run.
        - batch_sizes: JSON list of request batch sizes to warm.
        - tag_set: JSON list of tags selecting the MetaGraph TF Serving loads.
        - model_name: `model_spec.name` written into each request.
        - seed: sampling seed; same inputs and seed give the same file bytes.
    """
    self._log_startup(input_dict, output_dict, exec_properties)
    model = artifact_utils.get_single_instance(input_dict[spec.MODEL_KEY])
    examples = artifact_utils.get_single_instance(input_dict[spec.EXAMPLES_KEY])
    warmed = artifact_utils.get_single_instance(output_dict[spec.WARMED_MODEL_KEY])
    options = WarmupOptions.from_exec_properties(exec_properties)

    # 1. Decide how TF Serving would call each signature (metadata only).
    saved_model_dir = path_utils.serving_model_path(
        model.uri, path_utils.is_old_model_artifact(model))
    plan = signatures.plan_signatures(saved_model_dir, options.tag_set,
                                      options.signature_names,
                                      sample.payload_format(examples))
    for name, reason in plan.skipped.items():
      logging.warning("Signature '%s' is not warmed: %s.", name, reason)
    warmup_requests.check_record_budget(plan.usable, options.batch_sizes,
                                        options.num_examples)
    splits = sample.choose_splits(examples, options.splits)

    # 2-4. Sample, build the records and write them into a staged model copy.
    destination = path_utils.serving_model_dir(warmed.uri)
    with warmed_model.staged_copy(saved_model_dir, destination) as staging_dir:
      warmup_path = warmup_file.warmup_file_path(staging_dir)
      with self._make_beam_pipeline() as pipeline:
        _ = (sample.read_examples(pipeline, examples, splits)
             | 'SampleExamples' >> sample.SampleExamples(options.num_examples,
                                                         options.seed)
             | 'BuildWarmupRecords' >> beam.Map(
                 warmup_requests.build_warmup_records, plans=plan.usable,
                 batch_sizes=options.batch_sizes, model_name=options.model_name)
             | 'WriteWarmupFile' >> beam.Map(
                 lambda records: warmup_file.write_warmup_file(warmup_path, records)))
      summary = warmup_file.summarize(warmup_file.read_warmup_file(warmup_path))
    logging.info('Warmup file for %s:\n%s', destination,
                 warmup_file.format_summary(summary))

    # 5. Record what was warmed on the output artifact.
    _record_properties(warmed, plan, summary, splits, options)


def _record_properties(warmed: types.Artifact, plan: signatures.ModelPlan,
                       summary: Dict[warmup_file.RecordKey, int],
                       splits: List[str], options: WarmupOptions) -> None:
  warmed.set_int_custom_property(spec.RECORD_COUNT_PROPERTY, sum(summary.values()))
  warmed.set_string_custom_property(
      spec.SIGNATURES_WARMED_PROPERTY,
      json_utils.dumps(sorted({key.signature for key in summary})))
  warmed.set_string_custom_property(spec.SIGNATURES_SKIPPED_PROPERTY,
                                    json_utils.dumps(plan.skipped))
  warmed.set_string_custom_property(
      spec.BATCH_SIZES_PROPERTY,
      json_utils.dumps(sorted({key.batch_size for key in summary})))
  warmed.set_string_custom_property(spec.SPLITS_PROPERTY, json_utils.dumps(splits))
  warmed.set_int_custom_property(spec.SEED_PROPERTY, options.seed)
