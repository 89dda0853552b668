"""Step 3: build the warmup records from the sample, strip them to what is read, prove it.

In plain Python, where every error is typed and ours. First one request per
signature tells a data problem from a model problem (`requests.example_fit`),
and the share of what each signature parses that the sample carries fails the
run at none and warns when low (`requests.feature_coverage`): records that parse
only defaults warm the first request, not what real requests run. Then every
combination gets its records (`requests.build`); then each record
keeps only the features its signature parses, each stripped record proven to
answer exactly as its whole twin in the replica (`privacy.stripping`).
"""

import dataclasses
from typing import Dict, List, Optional

from absl import logging
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup import progress
from tfx_warmup.library.plan import WarmupPlan
from tfx_warmup.library.sampling import Sample
from tfx_warmup.privacy import stripping
from tfx_warmup.report.model import FeatureCoverage
from tfx_warmup.requests import build
from tfx_warmup.requests import example_fit
from tfx_warmup.requests import existing_warmup
from tfx_warmup.requests import feature_coverage


@dataclasses.dataclass
class BuiltRecords:
  """The warmup file's records, the live requests to measure with, and what was decided."""
  records: List[prediction_log_pb2.PredictionLog]  # In file order: kept ones first.
  live: List[prediction_log_pb2.PredictionLog]  # One per combination, from held-back examples.
  combinations: List[build.Combination]  # Those the sample feeds.
  skipped: Dict[str, str]  # Signature -> why it is not warmed (the model's or the data's).
  warnings: Dict[str, str]  # Warmed signature -> a problem that did not stop the run.
  stripped: Optional[stripping.Stripped]  # None when nothing was built ('keep').
  # Warmed signature -> how much of what it parses the sample carries (requests.feature_coverage).
  feature_coverage: Dict[str, FeatureCoverage] = dataclasses.field(default_factory=dict)


def build_records(plan: WarmupPlan, sample: Sample) -> BuiltRecords:
  """The records `plan` calls for, built from `sample`; raises what the user must fix."""
  options = plan.options
  combinations, skipped, warnings = list(plan.combinations), dict(plan.signatures.skipped), {}
  coverage: Dict[str, feature_coverage.Coverage] = {}
  examples = sample.warmup or sample.live
  if examples:
    # A signature whose parse the examples cannot satisfy (serving data without the label,
    # another dataset) is left out with its reason, unless it was named.
    combinations, data_skipped = example_fit.combinations_the_sample_feeds(
        plan.servable, combinations, examples, options.signature_names, options.model_name,
        sample.described)
    for name, reason in data_skipped.items():
      logging.warning("Signature '%s' is not warmed: %s.", name, reason)
    skipped.update(data_skipped)
    # How much of what each signature parses the sample carries: none fails the run (its
    # records would parse only defaults); little is warned about, naming what is missing.
    coverage = feature_coverage.feature_coverage(
        [p for c in combinations for p in c.plans], plan.parses, examples)
    feature_coverage.check_coverage(coverage, examples, sample.described, plan.payload_format)
    warnings = feature_coverage.coverage_warnings(coverage)
    for name, warning in warnings.items():
      logging.warning("Signature '%s': %s.", name, warning)

  stripped = None
  records = list(plan.kept_records)
  if options.existing_warmup != 'keep':
    built = build.build_warmup_records(
        sample.warmup, combinations, requests_per_combination=options.requests_per_combination,
        max_records=options.max_records - len(plan.kept_records), model_name=options.model_name)
    with progress.reporter().stage('Stripping records to what each signature reads'):
      stripped = stripping.strip_and_prove(plan.servable, built, plan.keeps)
    logging.info('Records stripped from %d to %d bytes; %d proven identical in the replica.',
                 stripped.bytes_before, stripped.bytes_after, stripped.records_proven)
    for name, keep in sorted(stripped.keeps.items()):
      if keep.is_whole and options.strip_unread_features:
        logging.warning("Signature '%s' keeps whole examples: %s.", name, keep.whole_reason)
    records = existing_warmup.merge_records(plan.kept_records, stripped.records)
  live = build.build_warmup_records(sample.live, combinations, requests_per_combination=1,
                                    model_name=options.model_name) if sample.live else []
  return BuiltRecords(records, live, combinations, skipped, warnings, stripped,
                      {name: c.section() for name, c in coverage.items()})
