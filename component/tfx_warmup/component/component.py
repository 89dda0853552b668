"""ModelWarmer: a TFX component that gives a model TF Serving warmup requests."""

from typing import Mapping, Optional, Sequence, Union

from tfx import types
from tfx.dsl.components.base import base_beam_component
from tfx.dsl.components.base import executor_spec
from tfx.orchestration.data_types import RuntimeParameter
from tfx.types import standard_artifacts

from tfx_warmup.component import executor
from tfx_warmup.options import parameters
from tfx_warmup.component.spec import ModelWarmerSpec


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
               num_examples: Union[int, RuntimeParameter] = 64,
               splits: Optional[Sequence[str]] = None,
               signature_names: Optional[Sequence[str]] = None,
               batch_sizes: Optional[Sequence[int]] = None,
               tag_set: Sequence[str] = ('serve',),
               model_name: Union[str, RuntimeParameter] = '',
               seed: Union[int, RuntimeParameter] = 0,
               validate: Union[bool, RuntimeParameter] = True,
               measure: Union[bool, RuntimeParameter] = True,
               sampling: Union[str, RuntimeParameter] = 'coverage',
               stratify_feature: Optional[Union[str, RuntimeParameter]] = None,
               batching_parameters_file: Optional[Union[str, RuntimeParameter]] = None,
               output_filters: Optional[Mapping[str, Sequence[Sequence[str]]]] = None,
               max_records: Union[int, RuntimeParameter] = 1000,
               requests_per_combination: Union[int, RuntimeParameter] = 1,
               existing_warmup: Union[str, RuntimeParameter] = 'replace',
               num_request_iterations: Union[int, RuntimeParameter] = 1,
               strip_unread_features: Union[bool, RuntimeParameter] = True,
               drop_features: Optional[Sequence[str]] = None,
               measure_swap: Union[bool, RuntimeParameter] = False,
               swap_qps: Optional[Union[int, RuntimeParameter]] = None,
               swap_deadline_ms: Optional[Union[int, RuntimeParameter]] = None,
               baseline_model: Optional[types.BaseChannel] = None):
    """Constructs a ModelWarmer.

    Args:
      model: a `Model` channel, usually `trainer.outputs['model']`.
      examples: an `Examples` channel, usually `example_gen.outputs['examples']`.
      num_examples: how many examples to sample; each record of a batch size
        b takes the next b of them, so a combination uses up to
        requests_per_combination x b, cycling through the sample.
      splits: splits to sample from; default 'eval' if present, else all.
      signature_names: signatures to warm; default every signature TF
        Serving can run (the others are logged with the reason).
      batch_sizes: request batch sizes your clients send (default powers of
        two, 1 to 128); each is a new input shape to warm.
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
      strip_unread_features: each record keeps only the features its
        signature(s) parse (read from the graph), and every stripped record is
        proven to answer exactly as its whole twin in the replica; a signature
        whose parse cannot be read, or whose answers differ, keeps whole
        examples (the report says why).
      drop_features: features never to ship in the warmup file, e.g.
        ['user_email']: removed from every record; the run fails, naming the
        feature and signature, if a warmed signature needs one.
      measure_swap: measure the version swap as TF Serving performs it, in
        fresh processes: the serving version's latency while this one loads
        and warms, under TF Serving's defaults and candidate server configs;
        writes `platform_config.pbtxt` beside the report when one measured
        better. Off by default: it takes longer than the rest of the step.
      swap_qps: requests per second during the swap (default half the
        serving version's measured capacity).
      swap_deadline_ms: a request answered later counts as late (default 4x
        the serving version's steady p99).
      baseline_model: the version being served, resolved as Evaluator's
        baseline is (a Resolver with LatestBlessedModelStrategy); the swap is
        measured from it. Without it, from the input model (version N to N+1).

    A parameter of a single int or str (not the lists and `output_filters`)
    also takes a `tfx.dsl.experimental.RuntimeParameter` of that ptype (int,
    0 or 1, for `validate` and `measure`): its value is checked when the
    executor runs, its default now.

    Raises:
      ConfigurationError: a parameter that can never work.
    """
    arguments = locals()  # Each parameter goes through its one declaration.
    super().__init__(spec=ModelWarmerSpec(
        model=model, examples=examples, baseline_model=baseline_model,
        warmed_model=types.Channel(type=standard_artifacts.Model),
        **parameters.component_exec_properties(
            {p.name: arguments[p.name] for p in parameters.PARAMETERS},
            lambda value: isinstance(value, RuntimeParameter))))
