"""The warmup report, typed: one schema for `warmup_report.json` and every `tfx-warmup --json`.

Each section is a dataclass whose fields carry their meaning (`doc` metadata),
so the JSON, its reader, the ML Metadata properties, the terminal tables and
the schema documentation (`schema_markdown`) all read the same declarations.
A section is None (JSON null) when the command that wrote the report did not
do that step: `inspect` neither samples nor replays; `verify` does not sample.
"""

import dataclasses
import json
import typing
from typing import Any, Dict, List, Optional, Sequence, Type, TypeVar

from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.serving import records as records_lib
from tfx_warmup.serving.inspection import Problem

SCHEMA_VERSION = 6
T = TypeVar('T')


def _field(doc: str, **kwargs) -> Any:
  return dataclasses.field(metadata={'doc': doc}, **kwargs)


@dataclasses.dataclass
class RecordCount:
  """Records of one path TF Serving initialises lazily."""
  api: str = _field("the request API: 'classify', 'regress', 'predict', 'multi_inference'")
  signature: str = _field("signature name; a MultiInference's tasks joined by '+'")
  batch_size: int = _field('examples per request')
  output_filter: str = _field("Predict's comma-joined output aliases; '' for all outputs")
  records: int = _field('how many records')


@dataclasses.dataclass
class WarmupFileSection:
  """The warmup file reported on."""
  path: Optional[str] = _field('its path; null when the model has none')
  records: int = _field('how many records it holds')
  summary: List[RecordCount] = _field('records per kind, signature, batch size and fetch set')
  problems: List[Problem] = _field(
      "what TF Serving would reject (`code` is its status name, `record` null for the "
      'file); a file with problems fails the load', default_factory=list)
  features: Dict[str, List[str]] = _field('per signature, the feature names its records carry',
                                          default_factory=dict)


@dataclasses.dataclass
class FeatureCoverage:
  """How much of what one warmed signature parses the sampled examples carry."""
  share: float = _field(
      'features carried by some sampled example / features the signature parses, 0 to 1; '
      'for a raw-tensor Predict signature, of its inputs (each filled from the feature of '
      'its name). Below 0.5 it is a warning; at 0 the run fails')
  parsed: int = _field('how many features it parses (raw-tensor Predict: inputs)')
  missing: List[str] = _field('those no sampled example carries, sorted')


@dataclasses.dataclass
class SignaturesSection:
  """Which signatures were warmed, and why the others were not."""
  warmed: List[str] = _field('signatures with records')
  skipped: Dict[str, str] = _field('signature -> why it is not warmed')
  warnings: Dict[str, str] = _field('warmed signature -> a problem that did not stop the run')
  feature_coverage: Dict[str, FeatureCoverage] = _field(
      'warmed signature -> how much of what it parses the sampled examples carry; a '
      'signature whose parse cannot be read (it reads whole examples) or parses nothing is '
      'absent', default_factory=dict)


@dataclasses.dataclass
class SampleSection:
  """How the examples were sampled."""
  splits: List[str] = _field('splits sampled from')
  num_examples: int = _field('examples sampled for the warmup file')
  seed: int = _field('sampling seed')
  sampling: str = _field("'coverage', 'uniform' or 'stratified'")


@dataclasses.dataclass
class BatchingSection:
  """The server-side batching (--enable_batching) the replay ran under."""
  max_batch_size: int = _field('largest request the queue admits')
  allowed_batch_sizes: List[int] = _field('sizes batches are padded to')
  enable_large_batch_splitting: bool = _field('whether larger requests run in pieces')


@dataclasses.dataclass
class ValidationSection:
  """The replay of the warmup file in the TF Serving replica, as at TF Serving's load."""
  records: int = _field('records replayed (each num_request_iterations times)')
  seconds: float = _field('time the replay took')
  num_request_iterations: int = _field("TF Serving's --num_request_iterations_for_warmup")
  batching: Optional[BatchingSection] = _field('server-side batching, when configured',
                                               default=None)
  error: Optional[str] = _field('why TF Serving would refuse the load; null when it loads',
                                default=None)
  code: Optional[str] = _field('TF Serving status of the failure', default=None)
  record: Optional[int] = _field('index of the failing record', default=None)
  fresh_load: bool = _field(
      "whether the replay ran right after the model's load, as TF Serving's does, so "
      '`seconds` is what the load pays; false for `generate`, whose replay follows checks '
      'that already ran every signature (the cold start measured, or `verify`, times the '
      "load's replay)", default=True)

  @property
  def ok(self) -> bool:
    return self.error is None


@dataclasses.dataclass
class ColdStartRow:
  """One live request: its first latency after a load, without and with warmup."""
  api: str = _field('the request API')
  signature: str = _field('signature name(s)')
  batch_size: int = _field('examples per request')
  output_filter: str = _field("Predict's fetched aliases; '' for all")
  first_ms_without_warmup: float = _field('first latency after a load without warmup')
  first_ms_with_warmup: Optional[float] = _field(
      'first latency after a load and the warmup replay; null without a warmup file')
  steady_p50_ms: float = _field('median latency after the first round')
  steady_p99_ms: float = _field('99th percentile latency after the first round')


@dataclasses.dataclass
class ColdStartSection:
  """First-request latency without and with warmup, each in a fresh process."""
  skipped: Optional[str] = _field('why it was not measured; null when it was', default=None)
  rounds: int = _field('rounds of the live requests per process', default=0)
  load_seconds: float = _field('model load time', default=0.0)
  replay_seconds: float = _field('warmup replay time in the measuring process', default=0.0)
  replay_records: int = _field('records replayed there', default=0)
  requests: List[ColdStartRow] = _field('one row per live request, in the order sent',
                                        default_factory=list)
  max_first_ms_without_warmup: Optional[float] = _field(
      'the worst first request a client meets without warmup', default=None)
  max_first_ms_with_warmup: Optional[float] = _field(
      'the worst first request with warmup; null without a warmup file', default=None)
  steady_p50_ms: Optional[float] = _field('median of the rows\' steady p50', default=None)
  batching: Optional[BatchingSection] = _field('server-side batching the processes ran under',
                                               default=None)
  first_ms_meaning: str = _field('how to read the first-request figures', default='')

  @property
  def measured(self) -> bool:
    return self.skipped is None


@dataclasses.dataclass
class StrippingSection:
  """What stripping records to the features their signatures parse did."""
  strip_unread_features: bool = _field('whether unread features were stripped')
  drop_features: List[str] = _field('features never shipped')
  records_proven: int = _field('stripped records proven to answer as their whole twins')
  records_unchanged: int = _field('records with nothing to strip')
  bytes_before: int = _field('bytes of the records built, whole')
  bytes_after: int = _field('bytes after stripping')
  dropped: Dict[str, List[str]] = _field('signature -> features its records no longer carry')
  whole: Dict[str, str] = _field('signature -> why its records keep whole examples')


@dataclasses.dataclass
class SwapPhase:
  """The serving traffic during one phase of a swap (requests grouped by when they were due)."""
  phase: str = _field("'steady', 'load', 'warmup', 'first' (on the new version), 'after' "
                      '(the old one unloaded)')
  seconds: float = _field('how long the phase lasted')
  sent: int = _field('requests due in it')
  answered: int = _field('requests answered without an error status')
  late: int = _field('requests answered after the deadline, or with an error')
  p50_ms: Optional[float] = _field('median latency, from when each request was due')
  p99_ms: Optional[float] = _field('99th percentile latency')
  max_ms: Optional[float] = _field('worst latency')


@dataclasses.dataclass
class SwapMemory:
  """The measuring process's resident memory through one swap (medians of the runs, MiB)."""
  baseline_mib: float = _field('before the old version loads: the interpreter and TensorFlow')
  steady_mib: float = _field('the old version serving, before the new one loads')
  loaded_mib: float = _field('old and new versions loaded')
  warmed_mib: float = _field('after the warmup replay')
  unloaded_mib: float = _field('after the old version is unloaded')
  peak_mib: float = _field('the peak from the steady phase to the end (VmHWM, or sampled)')
  peak_mib_runs: List[float] = _field('that peak in each run: the spread')
  new_version_mib: float = _field("the new version's own footprint: after its replay minus "
                                  'steady')
  peak_source: str = _field("'vmhwm' (the kernel's high-water mark, reset at the steady "
                            "phase) or 'sampled' (a sampler thread's maximum)")
  models_peak_mib: float = _field(
      'peak minus baseline: what the versions need at the swap, the figure to compare across '
      "servers (a TF C++ process's matched it within 10% in benchmarks/swap_memory.py)",
      default=0.0)
  models_steady_mib: float = _field('steady minus baseline: the serving version alone',
                                    default=0.0)


@dataclasses.dataclass
class SwapCase:
  """One way to run the swap, repeated in fresh processes."""
  name: str = _field("'defaults', a candidate ('load-pool', 'jemalloc', 'intra-op-1', ...; "
                     "'combined'), 'no-warmup'")
  role: str = _field("(a) TF Serving's defaults, (b) a candidate, (c) no warmup file")
  description: str = _field('what the case changes, and the flag or file that sets it')
  warmup: bool = _field('whether the new version replayed its warmup file')
  window_p99_ms: float = _field(
      "the serving version's p99 while the new one loads and warms (median of the runs)")
  window_p99_ms_runs: List[float] = _field('that p99 in each run: the spread')
  window_seconds: float = _field('load plus warmup replay, median of the runs')
  load_seconds: float = _field('the load alone, median')
  warmup_seconds: float = _field('the warmup replay alone, median')
  warmup_records: int = _field('records replayed (times num_request_iterations)')
  first_max_ms: float = _field('worst latency on the new version in its first seconds, median')
  late: int = _field('requests past the deadline from the load on, median of the runs')
  phases: List[SwapPhase] = _field('per phase, from the run with the median window p99')
  group: str = _field("a candidate's group: 'pools', 'allocator', 'threads', 'combined'; "
                      "'' for (a) and (c)", default='')
  allocator: str = _field("'glibc', or the allocator preloaded: 'jemalloc', 'tcmalloc'",
                          default='glibc')
  first_p99_ms: Optional[float] = _field(
      "p99 on the new version in its first seconds, median: what a case without warmup "
      'moves to clients', default=None)
  memory: Optional[SwapMemory] = _field('resident memory through the swap; null where /proc '
                                        'cannot be read', default=None)
  parts: List[str] = _field("the candidates a 'combined' case joins", default_factory=list)
  rank: Optional[int] = _field(
      'its place by what the swap costs clients (late requests from the load on, then the '
      "window's p99); 1 is best", default=None)


@dataclasses.dataclass
class SwapSection:
  """A version swap measured as TF Serving performs it, under each configuration."""
  old_model: str = _field('the version serving before the swap')
  new_model: str = _field('the version swapped to')
  qps: float = _field('requests per second sent throughout, open loop')
  qps_source: str = _field('where the rate came from')
  clients: int = _field('client threads sharing that rate')
  capacity_qps: float = _field(
      "the old version's closed-loop capacity here, with TF Serving's defaults")
  deadline_ms: float = _field('a request answered later than this counts as late')
  deadline_source: str = _field('where the deadline came from')
  repetitions: int = _field('fresh-process runs per case')
  phase_seconds: Dict[str, float] = _field('seconds of steady traffic, on the new version, and '
                                           'after the unload')
  cases: List[SwapCase] = _field('(a), the (b) candidates, (c)')
  recommended: Optional[str] = _field('the candidate measured better than the defaults; null '
                                      'when none was')
  recommendation: str = _field('the recommendation, or why there is none, with the figures')
  platform_config: Optional[str] = _field(
      'the --platform_config_file written beside the report; null when nothing is recommended '
      'or the recommendation needs no file')
  server_command: Optional[str] = _field(
      'the complete tensorflow_model_server command of the recommended settings (LD_PRELOAD, '
      'flags, --platform_config_file)')
  verdict: str = _field(
      "'recommended'; 'keep-defaults' (no candidate beat them beyond the spread); "
      "'too-few-runs' (under 3 per case: measured, not ranked); 'too-noisy' (the old "
      "version's steady p99 moved over 3x between calibration runs)", default='keep-defaults')
  calibration_p99_ms_runs: List[float] = _field(
      "the old version's steady p99 in each calibration run (the deadline uses their median)",
      default_factory=list)
  calibration_spread: Optional[float] = _field(
      'max over min of those p99s: above 3 the machine is too noisy to rank', default=None)
  not_measured: List[str] = _field(
      'candidates left out and why (an allocator whose library is missing, how to install it)',
      default_factory=list)
  processes: int = _field('fresh processes the measurement ran', default=0)
  memory: Optional[str] = _field('the headline: what the swap needs at peak and steady',
                                 default=None)
  memory_limit_mib: Optional[float] = _field(
      'swap_memory_limit, if given: a swap whose peak passes it fails the step', default=None)
  platform_config_text: Optional[str] = _field(
      'the --platform_config_file content, also when it was not written (no output directory)',
      default=None)
  dockerfile: Optional[str] = _field(
      "lines for TF Serving's image that apply the recommended allocator; null when glibc's",
      default=None)
  notes: List[str] = _field('what the measurement leaves out, in words', default_factory=list)
  files: List[str] = _field(
      'the files written beside the report to apply the recommendation '
      '(platform_config.pbtxt, tensorflow_model_server.sh, Dockerfile.serving); empty when '
      'none was (no directory to write to, or nothing recommended)', default_factory=list)


@dataclasses.dataclass
class TrafficCombination:
  """One path clients' requests initialise, by share of the logged traffic."""
  api: str = _field("the request API: 'classify', 'regress', 'predict', 'multi_inference'")
  signature: str = _field('signature name')
  batch_size: int = _field('examples (or rows) per request')
  output_filter: str = _field("Predict's comma-joined output aliases; '' for all outputs")
  shapes: str = _field("raw-tensor inputs' non-batch dimensions, 'alias:[d1,d2]' joined by "
                       "';'; '' for serialized examples")
  requests: int = _field('logged requests of this combination')
  share: float = _field('their share of the requests this model accepts')
  warmed: bool = _field('whether the warmup file has a record of it')
  why_not: Optional[str] = _field("why it is not warmed ('budget', 'refused: ...'); null "
                                  'when it is', default=None)


@dataclasses.dataclass
class TrafficRefusal:
  """Logged requests this model would refuse, for one reason, in TF Serving's words."""
  reason: str = _field("TF Serving's status and message")
  requests: int = _field('logged requests refused for it')
  newly_refused: int = _field('of those, requests answered before (the baseline model '
                              'accepts them, or the log holds a successful response; with '
                              'neither, all of them)')
  example: str = _field('where one of them is logged (file:line)')


@dataclasses.dataclass
class TrafficSection:
  """Serving traffic logs: what clients send, what the warmup covers, what would break."""
  logs: str = _field('the logs read (a glob, or the traffic artifact)')
  formats: Dict[str, int] = _field('log format -> files read in it')
  lines: int = _field('lines (or records) read')
  requests: int = _field('of those, requests')
  not_requests: int = _field('lines that hold no request (malformed, responses, ...)')
  not_request_examples: List[str] = _field("the first few of those: 'file:line: why'")
  combinations: List[TrafficCombination] = _field('every combination, largest first')
  refused: List[TrafficRefusal] = _field('requests this model would refuse, per reason')
  newly_refused: int = _field('requests this model would refuse that were answered before')
  newly_refused_share: float = _field('their share of the logged requests')
  max_refused_traffic: float = _field('the share the gate allows (max_refused_traffic)')
  compared_with: Optional[str] = _field('the baseline model requests were checked against; '
                                        'null without one', default=None)
  coverage: Optional[float] = _field('share of accepted logged requests whose combination is '
                                     "warmed; null when nothing was warmed (profile)",
                                     default=None)
  payloads: Optional[str] = _field("what the records carry: 'requests' (logged) or "
                                   "'examples'; null when nothing was warmed", default=None)
  unstrippable: List[str] = _field(
      "raw-tensor string inputs of logged requests, which stripping cannot reduce: "
      "'signature/alias'", default_factory=list)


@dataclasses.dataclass
class WarmupReport:
  """The report of one run of `generate` (ModelWarmer), `inspect` or `verify`."""
  warmup_file: WarmupFileSection = _field('the warmup file')
  model: Optional[str] = _field('the SavedModel directory reported on', default=None)
  signatures: Optional[SignaturesSection] = _field('signatures warmed and skipped',
                                                   default=None)
  sample: Optional[SampleSection] = _field('how examples were sampled', default=None)
  validation: Optional[ValidationSection] = _field('the replay in the replica', default=None)
  cold_start: Optional[ColdStartSection] = _field('the cold start measured', default=None)
  stripping: Optional[StrippingSection] = _field('stripping to what is read', default=None)
  swap: Optional[SwapSection] = _field('the version swap measured', default=None)
  traffic: Optional[TrafficSection] = _field('the serving traffic logs read', default=None)
  schema_version: int = _field('this schema\'s version', default=SCHEMA_VERSION)

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, data: Dict[str, Any]) -> 'WarmupReport':
    if data.get('schema_version') != SCHEMA_VERSION:
      raise ValueError(f'A warmup report of schema {data.get("schema_version")}; this '
                       f'tfx-warmup reads schema {SCHEMA_VERSION}.')
    return _from_dict(cls, data)

  @classmethod
  def from_json(cls, text: str) -> 'WarmupReport':
    return cls.from_dict(json.loads(text))


def _from_dict(cls: Type[T], data: Dict[str, Any]) -> T:
  hints = typing.get_type_hints(cls)
  return cls(**{f.name: _value(hints[f.name], data[f.name])
                for f in dataclasses.fields(cls) if f.name in data})


def _value(hint: Any, value: Any) -> Any:
  """`value` read from JSON as type `hint`: dataclasses, lists, dicts and Optionals of them."""
  if value is None:
    return None
  origin, args = typing.get_origin(hint), typing.get_args(hint)
  if origin is typing.Union:  # Optional[X]
    return _value(next(a for a in args if a is not type(None)), value)
  if dataclasses.is_dataclass(hint):
    return _from_dict(hint, value)
  if origin is list:
    return [_value(args[0], v) for v in value]
  if origin is dict:
    return {k: _value(args[1], v) for k, v in value.items()}
  return value


# -- The schema's documentation, generated from the types -----------------------------


def schema_markdown() -> str:
  """Markdown tables of every section's fields, their JSON types and meaning."""
  parts = [f'Schema version {SCHEMA_VERSION}. A section is `null` when the command that '
           'wrote the report did not do that step.\n']
  seen: List[type] = []
  queue: List[type] = [WarmupReport]
  while queue:
    cls = queue.pop(0)
    if cls in seen:
      continue
    seen.append(cls)
    hints = typing.get_type_hints(cls)
    parts.append(f'### `{cls.__name__}`\n\n{cls.__doc__.strip()}\n')
    parts.append('| field | type | meaning |\n| --- | --- | --- |')
    for f in dataclasses.fields(cls):
      parts.append(f'| `{f.name}` | {_json_type(hints[f.name])} | {f.metadata.get("doc", "")} |')
      queue.extend(t for t in _dataclasses_in(hints[f.name]) if t not in seen)
    parts.append('')
  return '\n'.join(parts)


def _json_type(hint: Any) -> str:
  origin, args = typing.get_origin(hint), typing.get_args(hint)
  if origin is typing.Union:
    return _json_type(next(a for a in args if a is not type(None))) + ' or null'
  if dataclasses.is_dataclass(hint):
    return f'`{hint.__name__}`'
  if origin is list:
    return f'list of {_json_type(args[0])}'
  if origin is dict:
    return f'object of {_json_type(args[1])}'
  return {str: 'string', int: 'integer', float: 'number', bool: 'boolean'}.get(hint, str(hint))


def _dataclasses_in(hint: Any) -> List[type]:
  if dataclasses.is_dataclass(hint):
    return [hint]
  return [t for a in typing.get_args(hint) for t in _dataclasses_in(a)]


# -- Sections built from what the replica reads ----------------------------------------


def record_counts(summary: Dict[records_lib.RecordKey, int]) -> List[RecordCount]:
  return [RecordCount(k.api, k.signature, k.batch_size, k.output_filter, n)
          for k, n in summary.items()]


def warmup_file_section(path: Optional[str],
                        records: Sequence[prediction_log_pb2.PredictionLog],
                        problems: Sequence[Problem] = ()) -> WarmupFileSection:
  """The section of a file holding `records` (read or about to be written)."""
  summary = records_lib.summarize(records)
  return WarmupFileSection(path=path, records=sum(summary.values()),
                           summary=record_counts(summary), problems=list(problems),
                           features=records_lib.features_carried(records))


def batching_section(config) -> Optional[BatchingSection]:
  """The report's view of a `serving.BatchingConfig` (None: no server-side batching)."""
  if config is None:
    return None
  return BatchingSection(config.max_batch_size, list(config.allowed_batch_sizes),
                         config.enable_large_batch_splitting)
