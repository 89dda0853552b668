"""A traffic profile: what logged clients ask of the model, counted in one Beam pass.

Logs run to gigabytes, so they are read where the examples are sampled: on the
pipeline's Beam runner, one pass, memory bounded by what is kept, partial results merged
across workers (as `data/sample/` samples examples, and TFDV computes statistics). One
small CombineFn (`ProfileCombineFn`) reads each `LogEntry` with the model
(`requests.logged_request`) and keeps:

- requests per combination (`TrafficKey`: API, signature, batch size, fetch set, raw
  shapes), with how many the log shows answered or failed;
- a sample per combination: at most `sample_size` distinct requests, the lowest-ranked
  by a keyed hash of the request (`tfx_warmup.ranking`: the seed is the key), so it
  depends only on the requests and the seed, never on file order or worker count. A
  request sent many times is one candidate (its smallest source stands for it);
- the lines that are not requests, and those whose API nothing names: counted, with
  the first few sources (smallest first: 'path:line' ordered by path, then line);
- the requests the model refuses, counted per reason in TF Serving's words
  (`normalise_reason` drops what varies per request: quoted values, offsets, element
  indices and sizes), with an example source and its whole message. With the serving
  model's signatures (`baseline_signatures`) each refused request is split into newly
  refused (it was answered before: the serving model accepts it, or the log holds a
  successful response) and refused already. With neither, every refused request
  counts as newly refused; a logged error response alone makes it refused already.

The profile's refusals are TF Serving's checks before the model runs. What only the
graph finds is found later by replaying each combination's sample in the replica,
outside Beam: `TrafficProfile.with_refused(key, reason)` then moves that combination
into the refused table. `profile_entries` runs the same CombineFn without Beam.
"""

import base64
import bisect
import dataclasses
import heapq
import re
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

import apache_beam as beam
from apache_beam.metrics import Metrics
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup import ranking
from tfx_warmup.errors import ConfigurationError
from tfx_warmup.serving.errors import RequestError
from tfx_warmup.traffic import requests
from tfx_warmup.traffic.entry import LogEntry
from tfx_warmup.traffic.entry import LoggedRequest
from tfx_warmup.traffic.entry import NotARequest
from tfx_warmup.traffic.entry import TrafficKey

Signatures = Mapping[str, meta_graph_pb2.SignatureDef]

METRICS_NAMESPACE = 'tfx_warmup.traffic'
DEFAULT_SAMPLE_SIZE = 8
DEFAULT_FIRST_SOURCES = 10
# Distinct refusal reasons kept; the rest (the largest by text, so that partial results
# merge exactly) are counted together under OTHER_REASONS.
MAX_REASONS = 1000
OTHER_REASONS = f'(other reasons, beyond the first {MAX_REASONS})'


# -- reasons and sources --------------------------------------------------------------------

# TF Serving's messages that embed what varies per request, and what stands for it.
_SUFFIXES = ('Is not object', 'Type: ', 'not formatted correctly', 'Not formatted correctly',
             "Expecting '", 'No values in', 'When method is', "'examples' value is",
             'found at incorrect level')
_VARYING = (
    (re.compile(r'JSON Value: .*(?= (?:' + '|'.join(map(re.escape, _SUFFIXES)) + '))', re.S),
     'JSON Value: <value>'),
    (re.compile(r'JSON object: .*(?= keys must be equal to: )', re.S), 'JSON object: <value>'),
    (re.compile(r'at offset: \d+'), 'at offset: <n>'),
    (re.compile(r'(Failed to process element:) \d+'), r'\1 <n>'),
    (re.compile(r'(at item) \d+'), r'\1 <n>'),
    (re.compile(r'Expecting tensor size: \d+ but got: \d+'),
     'Expecting tensor size: <n> but got: <n>'),
    (re.compile(r'Expecting shape \[[\d,]*\] but got: \[[\d,]*\]'),
     'Expecting shape <shape> but got: <shape>'),
    (re.compile(r'Encountered list at unexpected size: \d+ (at level: \d+) expected size: \d+'),
     r'Encountered list at unexpected size: <n> \1 expected size: <n>'),
)


def status_text(error: RequestError) -> str:
  """TF Serving's status as it prints it: 'INVALID_ARGUMENT: ...'."""
  return f'{error.code}: {error.message}'


def normalise_reason(reason: str) -> str:
  """`reason` without what varies from request to request in TF Serving's message.

  A quoted JSON value, a parse offset, an element's index, a size or shape that the
  request's own data sets: each becomes a placeholder, so that one mistake is one
  reason. Names (signatures, inputs, aliases) are the reason itself and stay.
  """
  for pattern, replacement in _VARYING:
    reason = pattern.sub(replacement, reason)
  return reason


_SOURCE = re.compile(r'^(.*):(?:record )?(\d+)$', re.S)
SourceOrder = Tuple[str, int, str]


def source_order(source: str) -> SourceOrder:
  """How sources sort: by path, then line (or record) number; 'a:9' before 'a:10'."""
  match = _SOURCE.match(source)
  if match is None:
    return (source, -1, source)
  return (match.group(1), int(match.group(2)), source)


# -- the profile ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sources:
  """Lines of one kind: how many, and the first few (source, reason), smallest source first."""
  count: int = 0
  first: Tuple[Tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class Combination:
  """One combination's requests: how many, how many the log shows answered or failed,
  and the sample (lowest rank first)."""
  requests: int
  answered: int = 0  # The log holds a successful response.
  failed: int = 0  # The log holds an error response.
  sample: Tuple[LoggedRequest, ...] = ()


@dataclasses.dataclass(frozen=True)
class Refusal:
  """The requests refused for one reason.

  `newly_refused` were answered before (see the module docstring), `already_refused`
  were not; `source` is an example (the smallest source), `message` its whole message.
  """
  count: int
  newly_refused: int
  already_refused: int
  source: str
  message: str


@dataclasses.dataclass(frozen=True)
class RefusedCombination:
  """A combination a later check refused whole (`with_refused`): why, and its requests."""
  reason: str
  requests: int


@dataclasses.dataclass(frozen=True)
class TrafficProfile:
  """What the logged traffic asks of the model; see the module docstring.

  `combinations` and `refused` are ordered by count, largest first. `baseline` says
  whether the serving model's signatures took part in telling newly refused requests.
  """
  combinations: Dict[TrafficKey, Combination] = dataclasses.field(default_factory=dict)
  refused: Dict[str, Refusal] = dataclasses.field(default_factory=dict)
  refused_combinations: Dict[TrafficKey, RefusedCombination] = dataclasses.field(
      default_factory=dict)
  not_requests: Sources = Sources()
  unknown_api: Sources = Sources()
  baseline: bool = False

  @property
  def requests(self) -> int:
    """Requests the model accepts (TF Serving's checks before running)."""
    return sum(c.requests for c in self.combinations.values())

  @property
  def refused_requests(self) -> int:
    return sum(r.count for r in self.refused.values())

  @property
  def newly_refused(self) -> int:
    return sum(r.newly_refused for r in self.refused.values())

  @property
  def logged_requests(self) -> int:
    """Every line that is a request: accepted, refused, or of an API nothing names."""
    return self.requests + self.refused_requests + self.unknown_api.count

  def requests_per_key(self) -> Dict[TrafficKey, int]:
    return {key: c.requests for key, c in self.combinations.items()}

  def check_api_known(self) -> None:
    """Raises UnknownApiError when some requests' API could not be told (see `requests`)."""
    if not self.unknown_api.count:
      return
    source, message = self.unknown_api.first[0]
    more = self.unknown_api.count - 1
    also = f' ({more:,} more logged requests are alike)' if more else ''
    raise requests.UnknownApiError(f'{message}{also}', source)

  def with_refused(self, key: TrafficKey, reason: Union[str, RequestError],
                   baseline_accepts: Optional[bool] = None) -> 'TrafficProfile':
    """This profile with combination `key` refused whole, for `reason` (e.g. its sample's
    replay failed in the replica). `baseline_accepts`: whether the serving model accepts
    that sample (None: not checked); it decides, with the log's responses, how many of
    the combination's requests are newly refused."""
    if key not in self.combinations:
      raise KeyError(f'The traffic profile has no combination {key}.')
    message = status_text(reason) if isinstance(reason, RequestError) else reason
    combination = self.combinations[key]
    newly = _newly_refused(combination.requests, combination.answered, combination.failed,
                           baseline_accepts)
    sources = sorted((source_order(r.source) for r in combination.sample))
    source = sources[0][2] if sources else ''
    refusal = Refusal(combination.requests, newly, combination.requests - newly, source,
                      message)
    refused = dict(self.refused)
    reason_text = normalise_reason(message)
    if reason_text in refused:
      refusal = _combined(refused[reason_text], refusal)
    refused[reason_text] = refusal
    combinations = {k: c for k, c in self.combinations.items() if k != key}
    refused_combinations = {**self.refused_combinations,
                            key: RefusedCombination(message, combination.requests)}
    return dataclasses.replace(self, combinations=combinations,
                               refused=_by_count(refused, lambda r: r.count),
                               refused_combinations=refused_combinations)

  def to_dict(self) -> dict:
    """The profile as JSON values (samples' PredictionLogs as base64)."""
    return {
        'combinations': [
            {'key': dataclasses.asdict(key), 'requests': c.requests, 'answered': c.answered,
             'failed': c.failed,
             'sample': [{'source': r.source, 'answered': r.answered,
                         'log': base64.b64encode(r.log.SerializeToString()).decode('ascii')}
                        for r in c.sample]}
            for key, c in self.combinations.items()],
        'refused': [{'reason': reason, **dataclasses.asdict(r)}
                    for reason, r in self.refused.items()],
        'refused_combinations': [{'key': dataclasses.asdict(key), **dataclasses.asdict(r)}
                                 for key, r in self.refused_combinations.items()],
        'not_requests': _sources_dict(self.not_requests),
        'unknown_api': _sources_dict(self.unknown_api),
        'baseline': self.baseline,
    }

  @classmethod
  def from_dict(cls, value: dict) -> 'TrafficProfile':
    """The profile `to_dict` wrote."""
    combinations = {}
    for item in value['combinations']:
      key = TrafficKey(**item['key'])
      sample = tuple(
          LoggedRequest(key, prediction_log_pb2.PredictionLog.FromString(
              base64.b64decode(r['log'])), r['source'], r['answered'])
          for r in item['sample'])
      combinations[key] = Combination(item['requests'], item['answered'], item['failed'],
                                      sample)
    refused = {r['reason']: Refusal(**{k: v for k, v in r.items() if k != 'reason'})
               for r in value['refused']}
    refused_combinations = {
        TrafficKey(**r['key']): RefusedCombination(r['reason'], r['requests'])
        for r in value['refused_combinations']}
    return cls(combinations, refused, refused_combinations,
               _sources_of(value['not_requests']), _sources_of(value['unknown_api']),
               value['baseline'])


def _sources_dict(sources: Sources) -> dict:
  return {'count': sources.count,
          'first': [{'source': s, 'reason': r} for s, r in sources.first]}


def _sources_of(value: dict) -> Sources:
  return Sources(value['count'], tuple((f['source'], f['reason']) for f in value['first']))


def _newly(baseline_accepts: Optional[bool], answered: Optional[bool]) -> bool:
  """Whether a refused request was answered before (so counts against the gate).

  Answered before: the serving model accepts it, or the log holds a successful response.
  With no evidence either way (no serving model, no response logged) it counts.
  """
  if baseline_accepts or answered:
    return True
  return baseline_accepts is None and answered is None


def _newly_refused(requests_: int, answered: int, failed: int,
                   baseline_accepts: Optional[bool]) -> int:
  """`_newly` summed over a combination's requests, from its answered/failed counts."""
  if baseline_accepts:
    return requests_
  if baseline_accepts is None:
    return requests_ - failed  # Answered, or no response logged.
  return answered


def _combined(a: Refusal, b: Refusal) -> Refusal:
  """Two refusals of one reason: counts added, the smaller source the example."""
  example = min((a, b), key=lambda r: source_order(r.source) if r.source else ('\uffff',))
  return Refusal(a.count + b.count, a.newly_refused + b.newly_refused,
                 a.already_refused + b.already_refused, example.source, example.message)


def _by_count(table: dict, count) -> dict:
  """`table` ordered by count, largest first; ties by key."""
  return dict(sorted(table.items(), key=lambda item: (-count(item[1]), item[0])))


# -- the CombineFn --------------------------------------------------------------------------


@dataclasses.dataclass
class _FirstSources:
  """A count, and the k smallest (order, reason) seen; merges exactly."""
  count: int = 0
  first: List[Tuple[SourceOrder, str]] = dataclasses.field(default_factory=list)

  def add(self, source: str, reason: str, k: int) -> None:
    self.count += 1
    item = (source_order(source), reason)
    if len(self.first) < k or item < self.first[-1]:
      bisect.insort(self.first, item)
      del self.first[k:]

  def update(self, other: '_FirstSources', k: int) -> None:
    """Merges `other` in, leaving it unchanged."""
    self.count += other.count
    self.first = heapq.nsmallest(k, self.first + other.first)

  def sources(self) -> Sources:
    return Sources(self.count, tuple((order[2], reason) for order, reason in self.first))


@dataclasses.dataclass
class _KeyCounts:
  requests: int
  answered: int
  failed: int
  lowest: ranking.BottomK  # (rank, (request bytes, source order, answered code))


@dataclasses.dataclass
class _RefusalCounts:
  count: int
  newly: int
  example: Tuple[SourceOrder, str]  # (the smallest source's order, its message)


@dataclasses.dataclass
class _ProfileAccumulator:
  keys: Dict[TrafficKey, _KeyCounts] = dataclasses.field(default_factory=dict)
  refused: Dict[str, _RefusalCounts] = dataclasses.field(default_factory=dict)
  other_reasons: Optional[_RefusalCounts] = None
  not_requests: _FirstSources = dataclasses.field(default_factory=_FirstSources)
  unknown_api: _FirstSources = dataclasses.field(default_factory=_FirstSources)


_ANSWERED_CODES = {None: 0, False: 1, True: 2}
_ANSWERED = {code: answered for answered, code in _ANSWERED_CODES.items()}


class ProfileCombineFn(beam.CombineFn):
  """`LogEntry | NotARequest` in, one `TrafficProfile` out (see the module docstring).

  Memory: per combination its counts and at most `sample_size` requests; per reason
  its counts and one example, at most MAX_REASONS reasons; `first_sources` sources of
  each kind. Merges read the other accumulators and change only the first.
  """

  def __init__(self, signatures: Signatures, baseline_signatures: Optional[Signatures] = None,
               traffic_api: Optional[str] = None, sample_size: int = DEFAULT_SAMPLE_SIZE,
               seed: int = 0, first_sources: int = DEFAULT_FIRST_SOURCES):
    super().__init__()
    if sample_size < 0:
      raise ConfigurationError(f'The traffic sample size must be at least 0, got {sample_size}.')
    requests.check_traffic_api(traffic_api)
    # Serialized: protos are decoded once per worker, in setup().
    self._signature_bytes = _serialize(signatures)
    self._baseline_bytes = (None if baseline_signatures is None
                            else _serialize(baseline_signatures))
    self._traffic_api = traffic_api
    self._k = sample_size
    self._seed = seed
    self._first = first_sources
    self._signatures: Optional[Dict[str, meta_graph_pb2.SignatureDef]] = None
    self._baseline: Optional[Dict[str, meta_graph_pb2.SignatureDef]] = None

  def setup(self) -> None:
    self._signatures = _deserialize(self._signature_bytes)
    self._baseline = (None if self._baseline_bytes is None
                      else _deserialize(self._baseline_bytes))

  def __getstate__(self) -> dict:
    return {**self.__dict__, '_signatures': None, '_baseline': None}  # Rebuilt by setup().

  def create_accumulator(self) -> _ProfileAccumulator:
    return _ProfileAccumulator()

  def add_input(self, acc: _ProfileAccumulator,
                entry: Union[LogEntry, NotARequest]) -> _ProfileAccumulator:
    if self._signatures is None:
      self.setup()
    if isinstance(entry, NotARequest):
      acc.not_requests.add(entry.source, entry.reason, self._first)
      return acc
    maps = [m for m in (self._baseline, self._signatures) if m is not None]
    try:
      api = requests.resolve_api(entry, maps, self._traffic_api)
      request = requests.logged_request(entry, self._signatures, api=api)
    except requests.NotARequestError as e:
      acc.not_requests.add(e.source, e.reason, self._first)
    except requests.UnknownApiError as e:
      acc.unknown_api.add(entry.source, str(e), self._first)
    except RequestError as e:
      self._refuse(acc, entry, api, status_text(e))
    else:
      self._count(acc, request)
    return acc

  def merge_accumulators(self, accumulators: Iterable[_ProfileAccumulator]
                         ) -> _ProfileAccumulator:
    """Merges into the first accumulator; the others are read, never changed."""
    accumulators = iter(accumulators)
    merged = next(accumulators)
    for acc in accumulators:
      for key, other in acc.keys.items():
        counts = merged.keys.get(key)
        if counts is None:
          counts = merged.keys[key] = _KeyCounts(0, 0, 0, ranking.BottomK(self._k))
        counts.requests += other.requests
        counts.answered += other.answered
        counts.failed += other.failed
        for neg_rank, item in other.lowest.heap:
          _offer(counts.lowest, -neg_rank, item)
      for reason, other in acc.refused.items():
        self._add_refusal(merged, reason, other)
      if acc.other_reasons is not None:
        merged.other_reasons = _merged_counts(merged.other_reasons, acc.other_reasons)
      merged.not_requests.update(acc.not_requests, self._first)
      merged.unknown_api.update(acc.unknown_api, self._first)
    return merged

  def extract_output(self, acc: _ProfileAccumulator) -> TrafficProfile:
    combinations = {}
    for key, counts in acc.keys.items():
      sample = tuple(
          LoggedRequest(key, prediction_log_pb2.PredictionLog.FromString(payload), order[2],
                        _ANSWERED[answered])
          for _, (payload, order, answered) in counts.lowest.ranked())
      combinations[key] = Combination(counts.requests, counts.answered, counts.failed, sample)
    refused = {reason: _refusal(counts) for reason, counts in acc.refused.items()}
    if acc.other_reasons is not None:
      refused[OTHER_REASONS] = _refusal(acc.other_reasons)
    profile = TrafficProfile(_by_count(combinations, lambda c: c.requests),
                             _by_count(refused, lambda r: r.count), {},
                             acc.not_requests.sources(), acc.unknown_api.sources(),
                             self._baseline_bytes is not None)
    for name, value in (('requests', profile.requests),
                        ('refused_requests', profile.refused_requests),
                        ('newly_refused', profile.newly_refused),
                        ('not_requests', profile.not_requests.count),
                        ('unknown_api', profile.unknown_api.count),
                        ('combinations', len(profile.combinations))):
      Metrics.counter(METRICS_NAMESPACE, name).inc(value)
    return profile

  def _count(self, acc: _ProfileAccumulator, request: LoggedRequest) -> None:
    counts = acc.keys.get(request.key)
    if counts is None:
      counts = acc.keys[request.key] = _KeyCounts(0, 0, 0, ranking.BottomK(self._k))
    counts.requests += 1
    counts.answered += request.answered is True
    counts.failed += request.answered is False
    if self._k:
      payload = request.log.SerializeToString(deterministic=True)
      rank = int(ranking.ranks([payload], self._seed)[0])
      _offer(counts.lowest, rank,
             (payload, source_order(request.source), _ANSWERED_CODES[request.answered]))

  def _refuse(self, acc: _ProfileAccumulator, entry: LogEntry, api, message: str) -> None:
    baseline_accepts = None
    if self._baseline is not None:
      try:
        requests.logged_request(entry, self._baseline, api=api)
        baseline_accepts = True
      except RequestError:
        baseline_accepts = False
    newly = _newly(baseline_accepts, entry.answered)
    self._add_refusal(acc, normalise_reason(message),
                      _RefusalCounts(1, int(newly), (source_order(entry.source), message)))

  def _add_refusal(self, acc: _ProfileAccumulator, reason: str,
                   counts: _RefusalCounts) -> None:
    """Adds `counts` (never changed) under `reason`; beyond MAX_REASONS reasons, the
    largest by text go to `other_reasons` (so a reason kept is kept by every merge)."""
    acc.refused[reason] = _merged_counts(acc.refused.get(reason), counts)
    if len(acc.refused) > MAX_REASONS:
      largest = max(acc.refused)
      acc.other_reasons = _merged_counts(acc.other_reasons, acc.refused.pop(largest))


def _merged_counts(a: Optional[_RefusalCounts], b: _RefusalCounts) -> _RefusalCounts:
  """A new _RefusalCounts: a's and b's counts, the smaller source's example."""
  if a is None:
    return _RefusalCounts(b.count, b.newly, b.example)
  return _RefusalCounts(a.count + b.count, a.newly + b.newly, min(a.example, b.example))


def _refusal(counts: _RefusalCounts) -> Refusal:
  order, message = counts.example
  return Refusal(counts.count, counts.newly, counts.count - counts.newly, order[2], message)


def _offer(lowest: ranking.BottomK, rank: int, item: tuple) -> None:
  """Adds a request to `lowest`, once: the same request (the same rank) again keeps the
  smaller item, that is its smallest source, whatever the order they come in."""
  heap = lowest.heap
  if len(heap) >= lowest.k and rank > -heap[0][0]:
    return
  for i, (neg_rank, kept) in enumerate(heap):
    if neg_rank == -rank:
      if item < kept:
        heap[i] = (neg_rank, item)
        heapq.heapify(heap)
      return
  lowest.add(rank, item)


def _serialize(signatures: Signatures) -> Dict[str, bytes]:
  return {name: s.SerializeToString(deterministic=True) for name, s in signatures.items()}


def _deserialize(signature_bytes: Dict[str, bytes]) -> Dict[str, meta_graph_pb2.SignatureDef]:
  return {name: meta_graph_pb2.SignatureDef.FromString(b) for name, b in signature_bytes.items()}


class ProfileTraffic(beam.PTransform):
  """A PCollection of `LogEntry | NotARequest` into one `TrafficProfile`.

  signatures: the new model's {name: SignatureDef}; baseline_signatures: the serving
  model's, to tell newly refused requests from those refused already; traffic_api: the
  API of logged bodies nothing else names; sample_size: requests kept per combination;
  seed: the sample's seed.
  """

  def __init__(self, signatures: Signatures, baseline_signatures: Optional[Signatures] = None,
               traffic_api: Optional[str] = None, sample_size: int = DEFAULT_SAMPLE_SIZE,
               seed: int = 0, first_sources: int = DEFAULT_FIRST_SOURCES):
    super().__init__()
    self._fn = ProfileCombineFn(signatures, baseline_signatures, traffic_api, sample_size,
                                seed, first_sources)

  def expand(self, entries):
    return entries | 'Profile' >> beam.CombineGlobally(self._fn).with_output_types(
        TrafficProfile)


def profile_entries(entries: Iterable[Union[LogEntry, NotARequest]], signatures: Signatures,
                    baseline_signatures: Optional[Signatures] = None,
                    traffic_api: Optional[str] = None, sample_size: int = DEFAULT_SAMPLE_SIZE,
                    seed: int = 0,
                    first_sources: int = DEFAULT_FIRST_SOURCES) -> TrafficProfile:
  """`ProfileTraffic`'s profile without Beam, for small inputs: the same CombineFn."""
  fn = ProfileCombineFn(signatures, baseline_signatures, traffic_api, sample_size, seed,
                        first_sources)
  fn.setup()
  acc = fn.create_accumulator()
  for entry in entries:
    acc = fn.add_input(acc, entry)
  return fn.extract_output(acc)
