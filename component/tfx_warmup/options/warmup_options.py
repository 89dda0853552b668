"""WarmupOptions: ModelWarmer's parameters, each declared once; the checked options of a run.

Each field declares one parameter (`parameter.parameter`): type, default, a
one-line help (the command line's), a doc (the component docstring's), how it
travels in exec_properties (and so whether a RuntimeParameter may stand for
it), its check and its `tfx-warmup generate` flag. Everything else reads these
fields: `parameters.PARAMETERS`, the component spec, ModelWarmer's signature
and docstring, the command-line flags and the docs table. Adding a parameter
is one field here.

The component refuses a bad configuration when the pipeline is built, the
executor when it runs (a RuntimeParameter's value is known only then), the
library and the command line when they are called. No TFX or TensorFlow here:
the command line imports it.
"""

import dataclasses
from typing import (Any, Callable, ClassVar, Collection, Dict, List, Mapping, Optional,
                    Sequence, Tuple)

from tfx_warmup.errors import ConfigurationError
from tfx_warmup.options import checks
from tfx_warmup.options.parameter import BOOL, FLOAT, INT, JSON, STR, Flag, Parameter
from tfx_warmup.options.parameter import declared, normalize, parameter, split_list
from tfx_warmup.serving.contract import MAX_RECORDS

# Chosen by benchmarks/cold_start.py --sweep on traffic at every batch size 1..128: powers
# of two with 4 requests each keep the cold-start ratio close to 1 for well under a
# second of replay (the figures: docs/benchmarks.md, "Choosing the defaults").
DEFAULT_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)

Rule = Tuple[Tuple[str, ...], Callable[..., Optional[str]]]


@dataclasses.dataclass(frozen=True)
class WarmupOptions:
  """What to sample, which requests to build, and how to prove them."""

  num_examples: int = parameter(
      64, help='examples to sample', encoding=INT,
      doc='how many examples to sample; each record of a batch size b takes the next b of '
          'them, so a combination uses up to requests_per_combination x b, cycling through '
          'the sample.',
      check=checks.positive_int(' Set num_examples to how many examples to sample '
                                '(default {default}).'),
      flag=Flag('--num-examples'))
  # Component only: the command line samples every split.
  splits: Optional[List[str]] = parameter(
      None, help="splits to sample from (default: 'eval' if present, else all)",
      encoding=JSON, check=checks.names('eval'))
  signature_names: Optional[List[str]] = parameter(
      None, help='signatures to warm (default: every one TF Serving can run)', encoding=JSON,
      doc='signatures to warm; default every signature TF Serving can run (the others are '
          'logged with the reason).',
      check=checks.names('serving_default'),
      flag=Flag('--signatures', parse=split_list(str)))
  batch_sizes: Optional[List[int]] = parameter(
      None, help='batch sizes your clients send, e.g. 1,8,32', encoding=JSON,
      doc='request batch sizes your clients send (default powers of two, 1 to 128); each is '
          'a new input shape to warm.',
      check=checks.batch_sizes, flag=Flag('--batch-sizes', parse=split_list(int)),
      default_text='powers of two, 1 to 128')
  tag_set: List[str] = parameter(
      ('serve',), help='tags of the MetaGraph TF Serving loads', encoding=JSON,
      check=checks.tags, flag=Flag('--tag-set', parse=split_list(str)))
  model_name: str = parameter(
      '', help='model_spec.name in each request', encoding=STR, check=checks.string,
      flag=Flag('--model-name'))
  seed: int = parameter(
      0, help='sampling seed', encoding=INT,
      doc='sampling seed; same inputs and seed give a byte-identical file.',
      check=checks.integer, flag=Flag('--seed'))
  validate: bool = parameter(
      True, help='replay the warmup file in the TF Serving replica before anything is written',
      encoding=BOOL,
      doc='replay the warmup file in a replica of TF Serving before anything is written; a '
          'record TF Serving would reject fails the run.',
      check=checks.boolean,
      flag=Flag('--no-validate', action='store_false',
                help='skip the replay in the TF Serving replica'))
  measure: bool = parameter(
      True, help='measure first-request latency without and with warmup, in fresh processes',
      encoding=BOOL,
      doc='measure first-request latency without and with warmup, in fresh processes, on '
          'sampled examples the warmup file does not hold.',
      check=checks.boolean,
      # Opt-in on the command line: it adds two model loads.
      flag=Flag('--measure', action='store_true',
                help='also measure the cold start removed (two fresh processes)'))
  sampling: str = parameter(
      'coverage', help='how to sample', encoding=STR,
      doc="'coverage' (every frequent feature-shape first, then uniform), 'uniform', or "
          "'stratified' (a quota per value of stratify_feature).",
      check=checks.one_of(), flag=Flag('--sampling'),
      choices=('coverage', 'uniform', 'stratified'))
  stratify_feature: Optional[str] = parameter(
      None, help="feature 'stratified' sampling balances", encoding=STR,
      doc="the feature 'stratified' sampling balances (e.g. the label).",
      check=checks.string, flag=Flag('--stratify-feature'))
  batching_parameters_file: Optional[str] = parameter(
      None, help="TF Serving's --batching_parameters_file; its batch sizes are warmed, and the "
                 'replay runs under that server-side batching', encoding=STR,
      doc="TF Serving's --batching_parameters_file: its allowed_batch_sizes (or powers of two "
          'up to max_batch_size) are the sizes warmed, and validation replays under that '
          'server-side batching. Do not pass batch_sizes with it.',
      check=checks.string, flag=Flag('--batching-parameters', metavar='FILE'))
  # Component only: the command line warms every output.
  output_filters: Optional[Dict[str, List[List[str]]]] = parameter(
      None, help='per Predict signature, the output-alias subsets clients request',
      encoding=JSON,
      doc="per Predict signature, the output-alias subsets clients request, e.g. "
          "{'serving_default': [['probabilities'], []]} ([] = all); each fetch set is warmed "
          'separately.',
      check=checks.output_filters)
  max_records: int = parameter(
      MAX_RECORDS, help=f'record budget, at most {MAX_RECORDS}', encoding=INT,
      doc=f'at most this many records (TF Serving refuses more than {MAX_RECORDS}).',
      check=checks.record_budget, flag=Flag('--max-records'))
  # One: the replay is part of every version swap, and more records per combination
  # lengthen it without lowering the cold start (benchmarks/warmup_size.py).
  requests_per_combination: int = parameter(
      1, help='records per signature x batch size x fetch set, budget permitting',
      encoding=INT,
      doc='records per signature x batch size x fetch set, budget permitting (every '
          'combination gets one first).',
      check=checks.positive_int(), flag=Flag('--requests-per-combination'))
  existing_warmup: str = parameter(
      'replace', help="the model's own warmup file: replace it, keep it (validated), or merge "
                      'ours into it', encoding=STR,
      doc="what to do with a warmup file the input model already has: 'replace' it, 'keep' "
          "it (validated, nothing added), or 'merge' (its records first, then ours in the "
          'remaining budget).',
      check=checks.one_of(" 'replace' writes a new file, 'keep' validates the model's own, "
                          "'merge' adds ours to it."),
      flag=Flag('--existing-warmup'), choices=('replace', 'keep', 'merge'))
  num_request_iterations: int = parameter(
      1, help="replay each record this many times, as TF Serving's "
              '--num_request_iterations_for_warmup', encoding=INT,
      check=checks.positive_int(" It is TF Serving's --num_request_iterations_for_warmup "
                                '(default {default}).'),
      flag=Flag('--num-request-iterations'))
  strip_unread_features: bool = parameter(
      True, help='strip each record to the features its signature parses, proven '
                 'output-identical in the replica', encoding=BOOL,
      doc='each record keeps only the features its signature(s) parse (read from the graph), '
          'and every stripped record is proven to answer exactly as its whole twin in the '
          'replica; a signature whose parse cannot be read, or whose answers differ, keeps '
          'whole examples (the report says why).',
      check=checks.boolean,
      flag=Flag('--keep-unread-features', action='store_false',
                help='keep every feature of each sampled example in the records'))
  drop_features: Optional[List[str]] = parameter(
      None, help='features never to ship in a warmup file (e.g. user_email); the run fails if '
                 'a warmed signature needs one', encoding=JSON,
      doc="features never to ship in the warmup file, e.g. ['user_email']: removed from every "
          'record; the run fails, naming the feature and signature, if a warmed signature '
          'needs one.',
      check=checks.names('user_email'), flag=Flag('--drop-features', parse=split_list(str)))
  # The swap: component only (the command line has `tfx-warmup swap`). Off by default:
  # 16 fresh processes take longer than the rest of the step (docs/benchmarks.md).
  measure_swap: bool = parameter(
      False, help="measure the version swap as TF Serving performs it (the serving version's "
                  'p99 while this one loads and warms, under each server config) and write '
                  'the platform config that keeps it flat', encoding=BOOL,
      doc='measure the version swap as TF Serving performs it, in fresh processes: the '
          "serving version's latency while this one loads and warms, under TF Serving's "
          'defaults and candidate server configs; writes platform_config.pbtxt beside the '
          'report when one measured better. Off by default: it takes longer than the rest of '
          'the step.',
      check=checks.boolean)
  swap_qps: Optional[int] = parameter(
      None, help='requests per second sent during the swap (default: a quarter of the serving '
                 "version's measured capacity)", encoding=INT,
      check=checks.optional_positive_int)
  swap_deadline_ms: Optional[int] = parameter(
      None, help='a request answered later counts as late (default: 4x the serving '
                 "version's steady p99)", encoding=INT,
      check=checks.optional_positive_int)
  swap_candidates: List[str] = parameter(
      ('pools', 'allocator', 'threads'), help='the candidate groups the swap measures against '
      "TF Serving's defaults: session thread pools, the allocator (jemalloc, tcmalloc), thread "
      'counts', encoding=JSON, check=checks.subset, choices=('pools', 'allocator', 'threads'),
      doc="the candidate groups the swap measures against TF Serving's defaults: 'pools' "
          "(session thread pools, set by a platform config file), 'allocator' (jemalloc and "
          "tcmalloc through LD_PRELOAD, where found), 'threads' (one intra-op thread, the "
          'replay on several threads); each group adds 2-3 cases of `repetitions` fresh '
          'processes each (docs/swap.md); [] measures the defaults and no warmup alone, for '
          'the memory figures.')
  swap_memory_limit: Optional[str] = parameter(
      None, help="the serving container's memory limit ('4Gi', '512Mi'): a swap whose peak "
                 'passes it fails', encoding=STR, check=checks.memory_size,
      doc="the serving container's memory limit, written as in its manifest ('4Gi', '512Mi', "
          "'2G'): the step fails when the swap's peak resident memory (old and new versions "
          'loaded together) passes it, as the reload would be OOM-killed.')

  # Traffic: what clients really send, from the serving logs (docs/traffic.md).
  traffic_logs: Optional[str] = parameter(
      None, help='serving traffic logs (a glob; .gz read): warm the combinations clients '
                 'send, and refuse a model that would break them', encoding=STR,
      doc='a glob of serving traffic logs outside TFX (TF Serving REST bodies, Vertex AI, '
          'SageMaker Data Capture, KServe, or PredictionLog TFRecords; see docs/traffic.md), '
          'read with Beam: the warmup covers the combinations clients send, by share of '
          'traffic; batch_sizes defaults to the batch sizes in the traffic; and the run '
          'fails if the model would refuse requests clients send today (max_refused_traffic).',
      check=checks.string, flag=Flag('--traffic', metavar='GLOB'))
  traffic_format: Optional[str] = parameter(
      None, help='the log format (default: recognised from each file)', encoding=STR,
      check=checks.optional_one_of, flag=Flag('--traffic-format'),
      choices=('rest', 'vertex', 'sagemaker', 'kserve', 'prediction_log'))
  traffic_api: Optional[str] = parameter(
      None, help="the API of logged bodies that name none (an 'examples' body is Classify or "
                 "Regress), when neither the URL nor the signature's method says",
      encoding=STR, check=checks.optional_one_of, flag=Flag('--traffic-api'),
      choices=('classify', 'regress', 'predict'))
  traffic_payloads: str = parameter(
      'requests', help="what the traffic's records carry: the logged requests themselves, or "
                       "requests built from the examples at the traffic's combinations",
      encoding=STR, check=checks.one_of(), flag=Flag('--traffic-payloads'),
      choices=('requests', 'examples'))
  max_refused_traffic: float = parameter(
      0.0, help='the share of logged requests the model may newly refuse (0.01 = 1%) before '
                'the run fails', encoding=FLOAT,
      doc='the share of logged requests this model may newly refuse (0.01 = 1%) before the '
          'run fails: a request counts when this model refuses it and it was answered '
          'before (the baseline_model accepts it, or the log holds a successful response; '
          'with neither, every refused request counts). Requests refused already are '
          'reported apart. Set it to break clients on purpose.',
      check=checks.share, flag=Flag('--max-refused-traffic', metavar='SHARE'))

  # Rules between parameters: each reads the values of the parameters it names, in order.
  RULES: ClassVar[Tuple[Rule, ...]] = (
      (('traffic_logs', 'traffic_format', 'traffic_api', 'traffic_payloads'),
       checks.traffic_options_with_traffic),
      (('batch_sizes', 'batching_parameters_file'), checks.one_batch_size_source),
      (('sampling', 'stratify_feature'), checks.stratify_feature_with_stratified),
  )

  def __post_init__(self):
    for name, value in normalize(PARAMETERS, self.values()).items():
      object.__setattr__(self, name, value)  # Frozen: set once, before the check.
    check(self.values())

  def values(self) -> Dict[str, Any]:
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

  def to_exec_properties(self) -> Dict[str, Any]:
    return {p.name: p.encode(getattr(self, p.name)) for p in PARAMETERS}

  @classmethod
  def from_exec_properties(cls, exec_properties: Mapping[str, Any]) -> 'WarmupOptions':
    """Decodes and checks exec_properties; raises ConfigurationError for a bad value.

    Missing keys (a pipeline compiled by an older release) take their defaults.
    """
    return cls(**{p.name: p.decode(exec_properties.get(p.name)) for p in PARAMETERS})

  def batching_config(self):
    """The server-side batching TF Serving runs the model under, if a file is given.

    Parsed anew at each call: a run parses it once (its plan keeps it).
    """
    if not self.batching_parameters_file:
      return None
    from tfx_warmup.serving import batching_config  # TensorFlow: imported when needed.
    return batching_config.config_from_file(self.batching_parameters_file)

  def warmed_batch_sizes(self, batching=None, traffic: Sequence[int] = ()) -> List[int]:
    """The batch sizes to warm: from `batching` (this file's config), explicit, those of the
    `traffic`, or the default."""
    if batching is not None:
      return batching.warmed_batch_sizes()
    return sorted(self.batch_sizes or traffic or DEFAULT_BATCH_SIZES)


# The declaration, read back from the fields: what the spec, signature, flags and docs read.
PARAMETERS: Tuple[Parameter, ...] = declared(WarmupOptions)
BY_NAME: Dict[str, Parameter] = {p.name: p for p in PARAMETERS}


def check(values: Mapping[str, Any], deferred: Collection[str] = ()) -> None:
  """Raises ConfigurationError for a value no model or dataset could satisfy.

  `deferred`: parameters whose value is known only at run time (RuntimeParameters);
  they, and the rules reading them, are checked when the executor runs.
  """
  for p in PARAMETERS:
    if p.name in values and p.name not in deferred:
      message = p.check(p, values[p.name])
      if message:
        raise ConfigurationError(message)
  for names, rule in WarmupOptions.RULES:
    if not set(names) & set(deferred):
      message = rule(*(values.get(n, BY_NAME[n].default) for n in names))
      if message:
        raise ConfigurationError(message)
