"""ModelWarmer: a TFX component that gives a model TF Serving warmup requests."""

from typing import Mapping, Optional, Sequence

from tfx import types
from tfx.dsl.components.base import base_beam_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts

from tfx_warmup import executor
from tfx_warmup import options as options_lib
from tfx_warmup.component_spec import ModelWarmerSpec


class ModelWarmer(base_beam_component.BaseBeamComponent):
  """Writes TF Serving warmup requests, built from your examples, into a model.

  TF Serving initialises a model lazily: the first request of each signature
  and batch size after a (re)load is tens of times slower than the next ones.
  ModelWarmer samples representative examples with Beam, builds warmup records
  for every usable signature and batch size, and emits `warmed_model`: the same
  SavedModel (Format-Serving layout) with `assets.extra/tf_serving_warmup_requests`,
  which TF Serving replays before it serves.

  Example:
  ```python
  warmer = ModelWarmer(model=trainer.outputs['model'],
                       examples=example_gen.outputs['examples'],
                       batch_sizes=[1, 8, 32])
  pusher = Pusher(model=warmer.outputs['warmed_model'], ...)
  ```
  """

  SPEC_CLASS = ModelWarmerSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(self,
               model: types.BaseChannel,
               examples: types.BaseChannel,
               num_examples: int = options_lib.DEFAULT_NUM_EXAMPLES,
               splits: Optional[Sequence[str]] = None,
               signature_names: Optional[Sequence[str]] = None,
               batch_sizes: Optional[Sequence[int]] = None,
               tag_set: Sequence[str] = options_lib.DEFAULT_TAG_SET,
               model_name: str = '',
               seed: int = options_lib.DEFAULT_SEED,
               validate: bool = True,
               measure: bool = True,
               sampling: str = options_lib.DEFAULT_SAMPLING,
               stratify_feature: Optional[str] = None,
               batching_parameters_file: Optional[str] = None,
               output_filters: Optional[Mapping[str, Sequence[Sequence[str]]]] = None,
               max_records: int = options_lib.MAX_RECORDS,
               requests_per_combination: int = (
                   options_lib.DEFAULT_REQUESTS_PER_COMBINATION),
               existing_warmup: str = options_lib.DEFAULT_EXISTING_WARMUP,
               num_request_iterations: int = options_lib.DEFAULT_NUM_REQUEST_ITERATIONS):
    """Constructs a ModelWarmer.

    Args:
      model: a `Model` channel, usually `trainer.outputs['model']`.
      examples: an `Examples` channel, usually `example_gen.outputs['examples']`.
      num_examples: how many examples to sample; each is sent once per
        signature and batch size.
      splits: splits to sample from; default 'eval' if present, else all.
      signature_names: signatures to warm; default every signature TF
        Serving can run (the others are logged with the reason).
      batch_sizes: request batch sizes your clients send (default
        `options.DEFAULT_BATCH_SIZES`); each is a new input shape to warm.
      tag_set: tags of the MetaGraph TF Serving loads.
      model_name: `model_spec.name` written into each request.
      seed: sampling seed; same inputs and seed give a byte-identical file.
      validate: replay the warmup file in a replica of TF Serving before
        anything is written; a record TF Serving would reject fails the run.
      measure: measure first-request latency without and with warmup, in
        fresh processes, on sampled examples the warmup file does not hold.
      sampling: 'coverage' (every frequent feature-shape first, then uniform),
        'uniform', or 'stratified' (a quota per value of `stratify_feature`).
      stratify_feature: the feature to stratify on (e.g. the label).
      batching_parameters_file: TF Serving's --batching_parameters_file; its
        allowed_batch_sizes (or powers of two up to max_batch_size) are the
        sizes warmed, and validation replays under that server-side batching.
        Do not pass `batch_sizes` with it.
      output_filters: per Predict signature, the output-alias subsets clients
        request, e.g. {'serving_default': [['probabilities'], []]} ([] = all);
        each fetch set is warmed separately.
      max_records: at most this many records (TF Serving refuses > 1000).
      requests_per_combination: records per signature x batch size x fetch
        set, budget permitting (every combination gets one first).
      existing_warmup: what to do with a warmup file the input model already
        has: 'replace' it (default), 'keep' it (validated, nothing added), or
        'merge' (its records first, then ours in the remaining budget).
      num_request_iterations: TF Serving's --num_request_iterations_for_warmup:
        validation replays each record this many times, as the server will.

    Raises:
      ConfigurationError: a parameter that can never work.
    """
    options = options_lib.WarmupOptions(
        num_examples=num_examples, splits=_as_list(splits),
        signature_names=_as_list(signature_names), batch_sizes=_as_list(batch_sizes),
        tag_set=_as_list(tag_set), model_name=model_name, seed=seed,
        validate=validate, measure=measure, sampling=sampling,
        stratify_feature=stratify_feature, batching_parameters_file=batching_parameters_file,
        output_filters=({k: [_as_list(v) for v in _as_list(f)] for k, f in output_filters.items()}
                        if isinstance(output_filters, Mapping) else output_filters),
        max_records=max_records, requests_per_combination=requests_per_combination,
        existing_warmup=existing_warmup, num_request_iterations=num_request_iterations)
    super().__init__(spec=ModelWarmerSpec(
        model=model, examples=examples,
        warmed_model=types.Channel(type=standard_artifacts.Model),
        **options.to_exec_properties()))


def _as_list(value):
  """Lists and tuples become lists; anything else is left for validation to refuse."""
  return list(value) if isinstance(value, (list, tuple)) else value
