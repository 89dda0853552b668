"""ModelWarmer's declarative spec: inputs, output, and the ExecutionParameters of its parameters.

The parameters are WarmupOptions' fields, declared once there: each field's
name is its key, and its encoding the ExecutionParameter's type. Lists travel
as JSON strings and booleans as ints, as TFX's own specs do, so every
orchestrator (Local, Beam, Kubeflow V2/Vertex, Airflow) can carry them.
"""

from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter

from tfx_warmup.options.warmup_options import PARAMETERS

# Inputs (the standard keys, so a ModelWarmer reads like a Pusher or Evaluator).
MODEL_KEY = standard_component_specs.MODEL_KEY
EXAMPLES_KEY = standard_component_specs.EXAMPLES_KEY
# Optional: the version being served, which the swap is measured from (Evaluator's key).
BASELINE_MODEL_KEY = standard_component_specs.BASELINE_MODEL_KEY

# Optional: serving traffic logs as PredictionLogs (BulkInferrer's InferenceResult, or logs
# of any format in docs/traffic.md brought in with an Importer of that type).
TRAFFIC_KEY = 'traffic'

# Output.
WARMED_MODEL_KEY = 'warmed_model'

# Execution parameters: one per WarmupOptions field, keyed by its name (the declaration,
# `tfx_warmup.options.warmup_options`, is the one place a parameter is written).

# Custom properties recorded on the `warmed_model` artifact in ML Metadata.
RECORD_COUNT_PROPERTY = 'warmup_record_count'
SIGNATURES_WARMED_PROPERTY = 'warmup_signatures'
SIGNATURES_SKIPPED_PROPERTY = 'warmup_skipped_signatures'
# JSON {signature: warning}, e.g. the sample carries under half of the features it parses.
WARNINGS_PROPERTY = 'warmup_warnings'
BATCH_SIZES_PROPERTY = 'warmup_batch_sizes'
SPLITS_PROPERTY = 'warmup_splits'
SEED_PROPERTY = 'warmup_seed'
VALIDATED_PROPERTY = 'warmup_validated'
# JSON {signature: [feature names its records carry]}, and {signature: [names stripped]}.
FEATURES_PROPERTY = 'warmup_features'
FEATURES_DROPPED_PROPERTY = 'warmup_features_dropped'
# JSON {signature: share of the features it parses that the sampled examples carry}.
FEATURE_COVERAGE_PROPERTY = 'warmup_feature_coverage'
# Bytes of the records ModelWarmer built, before and after stripping.
BYTES_UNSTRIPPED_PROPERTY = 'warmup_bytes_unstripped'
BYTES_STRIPPED_PROPERTY = 'warmup_bytes_stripped'
REPLAY_SECONDS_PROPERTY = 'warmup_replay_seconds'
FIRST_MS_WITHOUT_WARMUP_PROPERTY = 'cold_start_first_request_ms_without_warmup'
FIRST_MS_WITH_WARMUP_PROPERTY = 'cold_start_first_request_ms_with_warmup'
STEADY_P50_MS_PROPERTY = 'steady_state_p50_ms'
# The swap: the serving version's p99 while this one loads and warms, under TF Serving's
# defaults and under the recommended config (name, or '' when none measured better).
SWAP_P99_MS_DEFAULTS_PROPERTY = 'swap_p99_ms_defaults'
SWAP_P99_MS_RECOMMENDED_PROPERTY = 'swap_p99_ms_recommended'
SWAP_RECOMMENDED_PROPERTY = 'swap_recommended_config'
# Its verdict ('recommended', 'keep-defaults', 'too-few-runs', 'too-noisy') and the swap's
# peak memory above the runtime under the settings served (the recommended, else the defaults).
SWAP_VERDICT_PROPERTY = 'swap_verdict'
SWAP_PEAK_MIB_PROPERTY = 'swap_peak_mib'
# Traffic: logged requests read, the share of the accepted ones the warmup covers, and how
# many this model would refuse that were answered before.
TRAFFIC_REQUESTS_PROPERTY = 'traffic_requests'
TRAFFIC_COVERAGE_PROPERTY = 'traffic_coverage'
TRAFFIC_NEWLY_REFUSED_PROPERTY = 'traffic_newly_refused'


class ModelWarmerSpec(ComponentSpec):
  """ModelWarmer component spec."""

  PARAMETERS = {
      p.name: ExecutionParameter(type=p.encoding.exec_type, optional=p.default is None)
      for p in PARAMETERS
  }
  INPUTS = {
      MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      # Optional with traffic: the logged requests can be the records themselves.
      EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
      BASELINE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
      TRAFFIC_KEY: ChannelParameter(type=standard_artifacts.InferenceResult, optional=True),
  }
  OUTPUTS = {
      WARMED_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
  }
