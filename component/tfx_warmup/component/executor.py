"""ModelWarmer's executor: TFX artifacts in, the library's `warm_model`, ML Metadata out."""

import dataclasses
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

from tfx_warmup import library
from tfx_warmup.component import artifacts
from tfx_warmup.component import metadata
from tfx_warmup.component import spec
from tfx_warmup.data import runners
from tfx_warmup.errors import ConfigurationError
from tfx_warmup.options import WarmupOptions


class Executor(base_beam_executor.BaseBeamExecutor):
  """Writes a copy of a SavedModel whose warmup file covers its signatures.

  TF Serving initialises each signature, fetch set and batch size lazily on its
  first request; it replays `assets.extra/tf_serving_warmup_requests` at load
  time so that cost is paid before traffic arrives. `tfx_warmup.library`
  builds that file from a seeded sample of real examples, keeps in each record
  only the features its signature reads (proven to change no answer), proves
  TF Serving would accept it, and measures the first-request latency it
  removes; this executor only translates TFX's artifacts for it.
  """

  def Do(self, input_dict: Dict[str, List[types.Artifact]],  # noqa: N802  (TFX's name)
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    """Builds the warmed model.

    Args:
      input_dict: Input dict from input key to a list of artifacts:
        - model: a `Model` (Format-Serving layout, or the older Estimator one).
        - examples: an `Examples` of serialized tf.Example or tf.SequenceExample
          (optional when the records are logged requests).
        - traffic: optional, an `InferenceResult` of serving traffic logs.
        - baseline_model: optional, the `Model` being served: with
          measure_swap, the swap is measured from it.
      output_dict: Output dict from output key to a list of artifacts:
        - warmed_model: a `Model` holding the same SavedModel in the
          Format-Serving layout plus its warmup file (Pusher consumes it), and
          `warmup_report.json` beside it (and, with measure_swap, the
          recommended `platform_config.pbtxt`).
      exec_properties: A dict of execution properties: ModelWarmer's
        parameters (the fields of `tfx_warmup.options.WarmupOptions`), encoded by
        `WarmupOptions.to_exec_properties`; checked here too, since a
        RuntimeParameter's value is known only now.
    """
    self._log_startup(input_dict, output_dict, exec_properties)
    # 1. Translate: the options, the Beam runner, the SavedModel in the Model artifact,
    #    the Examples' files, the traffic artifact's files.
    options = WarmupOptions.from_exec_properties(exec_properties)
    runners.check_runner(self._beam_pipeline_args)
    model = artifact_utils.get_single_instance(input_dict[spec.MODEL_KEY])
    examples = input_dict.get(spec.EXAMPLES_KEY)
    traffic = input_dict.get(spec.TRAFFIC_KEY)
    if traffic and options.traffic_logs:  # A RuntimeParameter's value is known only now.
      raise ConfigurationError('Pass the traffic channel or traffic_logs, not both: each '
                               'names the logs to read.')
    if traffic:
      options = dataclasses.replace(options, traffic_logs=artifacts.traffic_logs(
          artifact_utils.get_single_instance(traffic)))
    warmed = artifact_utils.get_single_instance(output_dict[spec.WARMED_MODEL_KEY])
    baseline = input_dict.get(spec.BASELINE_MODEL_KEY)

    # 2. Warm: plan, sample on this component's Beam pipeline, build, strip, replay, write
    #    the copy into the output artifact in a Model artifact's layout (Format-Serving/,
    #    the report beside it), measure.
    report = library.warm_model(
        artifacts.saved_model_dir(model),
        artifacts.examples_source(artifact_utils.get_single_instance(examples))
        if examples else None, warmed.uri,
        options, layout=library.MODEL_ARTIFACT, make_pipeline=self._make_beam_pipeline,
        baseline_model_dir=artifacts.saved_model_dir(
            artifact_utils.get_single_instance(baseline)) if baseline else None)

    # 3. Record what was warmed on the output artifact in ML Metadata.
    metadata.record_properties(warmed, report)
