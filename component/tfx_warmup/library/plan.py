"""Step 1 of a warmup run: load the model as TF Serving would, and decide what to warm.

Everything here is decided before any example is read, so a model TF Serving
cannot load, a signature that cannot be warmed, a configuration over TF
Serving's record budget or a dropped feature a signature needs all fail at
once. The loaded servable is kept: its MetaGraphDef is the one every later
step reads, and the probe, the stripping proof and the replay run on it.
"""

import dataclasses
from typing import Dict, List, Optional

from absl import logging
from tensorflow_serving.apis import prediction_log_pb2
from tfx.proto import example_gen_pb2

from tfx_warmup import serving
from tfx_warmup.library import loading
from tfx_warmup.options import WarmupOptions
from tfx_warmup.requests import parse_keys
from tfx_warmup.privacy import stripping
from tfx_warmup.requests import build
from tfx_warmup.requests import existing_warmup
from tfx_warmup.requests import signatures


@dataclasses.dataclass
class WarmupPlan:
  """What one run warms, and the loaded model it proves it on. Close it (or use `with`)."""
  model_dir: str
  options: WarmupOptions
  servable: serving.Servable
  signatures: signatures.ModelPlan
  combinations: List[build.Combination]
  # Each serialized-input signature's parse, read from the graph once.
  parses: Dict[str, parse_keys.SignatureParse]
  keeps: Dict[str, stripping.Keep]
  # The input model's own records that existing_warmup keeps ('keep', 'merge').
  kept_records: List[prediction_log_pb2.PredictionLog]
  batching: Optional[serving.BatchingConfig]
  payload_format: int

  def close(self) -> None:
    self.servable.close()

  def __enter__(self) -> 'WarmupPlan':
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def plan_warmup(model_dir: str, options: WarmupOptions,
                payload_format: int = example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE,
                traffic=None) -> WarmupPlan:
  """Loads `model_dir` as TF Serving would and plans its warmup records.

  `payload_format`: what the examples hold (tf.Example or SequenceExample);
  `traffic` (a `library.traffic.Traffic`): what clients send; its batch sizes and fetch
  sets are warmed unless the options name their own, and only the combinations clients
  use, largest share first, within the record budget.
  Raises the error that names the cause and the fix for anything that cannot
  work with this model and these options.
  """
  batching = options.batching_config()  # Parsed once, for the load and the report.
  servable = loading.load(model_dir, options.tag_set, batching=batching)
  try:
    meta_graph = servable.meta_graph_def
    model_plan = signatures.plan_signatures(meta_graph, model_dir, options.signature_names,
                                            payload_format)
    for name, reason in model_plan.skipped.items():
      logging.warning("Signature '%s' is not warmed: %s.", name, reason)
    parses = parse_keys.signature_parses(
        meta_graph, [p.name for p in model_plan.usable if p.kind.feeds_serialized])
    keeps = stripping.plan_keeps(parses, model_plan.usable, options.strip_unread_features,
                                 options.drop_features)
    combinations = build.plan_combinations(
        model_plan.usable,
        options.warmed_batch_sizes(batching, traffic.batch_sizes() if traffic else ()),
        options.output_filters or (traffic.output_filters(model_plan.usable) if traffic
                                   else None))
    kept = existing_warmup.existing_records(model_dir, options.existing_warmup)
    stripping.check_kept_records(kept, options.drop_features, options.existing_warmup)
    if traffic is not None:
      combinations = traffic.used(combinations, options.max_records - len(kept))
    elif options.existing_warmup != 'keep':
      build.check_record_budget(combinations, options.max_records, len(kept))
  except BaseException:
    servable.close()
    raise
  return WarmupPlan(model_dir, options, servable, model_plan, combinations, parses, keeps,
                    kept, batching, payload_format)
