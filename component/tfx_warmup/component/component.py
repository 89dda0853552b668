"""ModelWarmer: a TFX component that gives a model TF Serving warmup requests."""

import inspect
import textwrap
from typing import Any, Optional, Union

from tfx import types
from tfx.dsl.components.base import base_beam_component
from tfx.dsl.components.base import executor_spec
from tfx.orchestration.data_types import RuntimeParameter
from tfx.types import standard_artifacts

from tfx_warmup.component import executor
from tfx_warmup.errors import ConfigurationError
from tfx_warmup.options import parameters
from tfx_warmup.options.warmup_options import PARAMETERS
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

  def __init__(self, model: types.BaseChannel, examples: Optional[types.BaseChannel] = None,
               *, baseline_model: Optional[types.BaseChannel] = None,
               traffic: Optional[types.BaseChannel] = None, **parameters_: Any):
    # The signature and docstring are generated from the declaration (below).
    try:
      arguments = _SIGNATURE.bind(self, model, examples, baseline_model=baseline_model,
                                  traffic=traffic, **parameters_)
    except TypeError as e:  # An unknown parameter: Python's words, with the class named.
      raise TypeError(f'ModelWarmer() {e}') from None
    arguments.apply_defaults()
    _check_sources(examples, traffic, arguments.arguments)
    super().__init__(spec=ModelWarmerSpec(
        model=model, examples=examples, baseline_model=baseline_model, traffic=traffic,
        warmed_model=types.Channel(type=standard_artifacts.Model),
        **parameters.component_exec_properties(
            {p.name: arguments.arguments[p.name] for p in PARAMETERS},
            lambda value: isinstance(value, RuntimeParameter))))


_INIT_DOC = """Constructs a ModelWarmer.

Args:
  model: a `Model` channel, usually `trainer.outputs['model']`.
  examples: an `Examples` channel, usually `example_gen.outputs['examples']`;
    optional when the records are logged requests (`traffic` or traffic_logs).
{parameters}
  baseline_model: the version being served, resolved as Evaluator's
    baseline is (a Resolver with LatestBlessedModelStrategy); the swap is
    measured from it (without it, from the input model: version N to N+1),
    and with traffic, requests it answers that this model would refuse count
    against max_refused_traffic.
  traffic: serving traffic logs, an `InferenceResult` channel: BulkInferrer's
    PredictionLogs, or logs in any format of docs/traffic.md brought in with
    `Importer(source_uri=..., artifact_type=InferenceResult)`. Every file
    under its URI is read, as traffic_logs reads its glob; pass one of them.

A parameter of a single int or str (not the lists and `output_filters`)
also takes a `tfx.dsl.experimental.RuntimeParameter` of that ptype (int,
0 or 1, for `validate` and `measure`): its value is checked when the
executor runs, its default now.

Raises:
  ConfigurationError: a parameter that can never work.
"""


def _signature() -> inspect.Signature:
  """`__init__`'s signature: the channels, then each declared parameter with its default."""
  def keyword(name, annotation, default):
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)
  return inspect.Signature([
      inspect.Parameter('self', inspect.Parameter.POSITIONAL_OR_KEYWORD),
      inspect.Parameter('model', inspect.Parameter.POSITIONAL_OR_KEYWORD,
                        annotation=types.BaseChannel),
      inspect.Parameter('examples', inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                        annotation=Optional[types.BaseChannel]),
      *(keyword(p.name, Union[p.annotation, RuntimeParameter]
                if p.encoding.runtime_parameter else p.annotation, p.default)
        for p in PARAMETERS),
      keyword('baseline_model', Optional[types.BaseChannel], None),
      keyword('traffic', Optional[types.BaseChannel], None),
  ])


def _check_sources(examples, traffic, arguments) -> None:
  """What the records are built from: examples, logged requests, or both."""
  logs = arguments['traffic_logs']
  if traffic is not None and logs:
    raise ConfigurationError(
        'Pass the traffic channel or traffic_logs, not both: each names the logs to read.')
  if examples is None and (traffic is None and not logs or
                           arguments['traffic_payloads'] == 'examples'):
    raise ConfigurationError(
        "ModelWarmer needs examples, unless it warms with logged requests: pass examples, or "
        "traffic (or traffic_logs) with traffic_payloads='requests'.")


def _docstring() -> str:
  entries = [textwrap.fill(f'{p.name}: {p.doc.rstrip(".")}.', width=76, initial_indent='  ',
                           subsequent_indent='    ') for p in PARAMETERS]
  return textwrap.indent(_INIT_DOC.format(parameters='\n'.join(entries)), '    ').lstrip()


_SIGNATURE = _signature()
ModelWarmer.__init__.__signature__ = _SIGNATURE
ModelWarmer.__init__.__doc__ = _docstring()
