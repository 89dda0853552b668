"""What a run warmed, recorded on the `warmed_model` artifact in ML Metadata.

Read from the typed report, so the properties say what `warmup_report.json`
says; their names are the spec's `*_PROPERTY` constants.
"""

from tfx import types
from tfx.utils import json_utils

from tfx_warmup.component import spec
from tfx_warmup.report.model import WarmupReport


def record_properties(warmed: types.Artifact, report: WarmupReport) -> None:
  """Sets the spec's custom properties on `warmed` from `report`."""
  warmup_file, signatures, sample = report.warmup_file, report.signatures, report.sample
  warmed.set_int_custom_property(spec.RECORD_COUNT_PROPERTY, warmup_file.records)
  warmed.set_string_custom_property(spec.SIGNATURES_WARMED_PROPERTY,
                                    json_utils.dumps(signatures.warmed))
  warmed.set_string_custom_property(spec.SIGNATURES_SKIPPED_PROPERTY,
                                    json_utils.dumps(signatures.skipped))
  warmed.set_string_custom_property(spec.WARNINGS_PROPERTY,
                                    json_utils.dumps(signatures.warnings))
  warmed.set_string_custom_property(
      spec.FEATURE_COVERAGE_PROPERTY,
      json_utils.dumps({name: c.share for name, c in signatures.feature_coverage.items()}))
  warmed.set_string_custom_property(
      spec.BATCH_SIZES_PROPERTY,
      json_utils.dumps(sorted({row.batch_size for row in warmup_file.summary})))
  if sample:  # None when the records are logged requests.
    warmed.set_string_custom_property(spec.SPLITS_PROPERTY, json_utils.dumps(sample.splits))
    warmed.set_int_custom_property(spec.SEED_PROPERTY, sample.seed)
  warmed.set_int_custom_property(spec.VALIDATED_PROPERTY,
                                 int(bool(report.validation and report.validation.ok)))
  warmed.set_string_custom_property(spec.FEATURES_PROPERTY,
                                    json_utils.dumps(warmup_file.features))
  if report.stripping:
    warmed.set_string_custom_property(spec.FEATURES_DROPPED_PROPERTY,
                                      json_utils.dumps(report.stripping.dropped))
    warmed.set_int_custom_property(spec.BYTES_UNSTRIPPED_PROPERTY, report.stripping.bytes_before)
    warmed.set_int_custom_property(spec.BYTES_STRIPPED_PROPERTY, report.stripping.bytes_after)
  cold_start = report.cold_start
  if cold_start and cold_start.measured:
    warmed.set_float_custom_property(spec.REPLAY_SECONDS_PROPERTY, cold_start.replay_seconds)
    warmed.set_float_custom_property(spec.FIRST_MS_WITHOUT_WARMUP_PROPERTY,
                                     cold_start.max_first_ms_without_warmup)
    warmed.set_float_custom_property(spec.FIRST_MS_WITH_WARMUP_PROPERTY,
                                     cold_start.max_first_ms_with_warmup)
    warmed.set_float_custom_property(spec.STEADY_P50_MS_PROPERTY, cold_start.steady_p50_ms)
  swap = report.swap
  if swap:
    by_name = {case.name: case for case in swap.cases}
    warmed.set_float_custom_property(spec.SWAP_P99_MS_DEFAULTS_PROPERTY,
                                     by_name['defaults'].window_p99_ms)
    warmed.set_string_custom_property(spec.SWAP_RECOMMENDED_PROPERTY, swap.recommended or '')
    warmed.set_string_custom_property(spec.SWAP_VERDICT_PROPERTY, swap.verdict)
    served = by_name[swap.recommended or 'defaults']
    if served.memory:
      warmed.set_float_custom_property(spec.SWAP_PEAK_MIB_PROPERTY,
                                       served.memory.models_peak_mib)
    if swap.recommended:
      warmed.set_float_custom_property(spec.SWAP_P99_MS_RECOMMENDED_PROPERTY,
                                       by_name[swap.recommended].window_p99_ms)
  traffic = report.traffic
  if traffic:
    warmed.set_int_custom_property(spec.TRAFFIC_REQUESTS_PROPERTY, traffic.requests)
    warmed.set_float_custom_property(spec.TRAFFIC_COVERAGE_PROPERTY, traffic.coverage or 0.0)
    warmed.set_int_custom_property(spec.TRAFFIC_NEWLY_REFUSED_PROPERTY, traffic.newly_refused)
