"""Serving traffic: what clients send, read from their logs with Beam and held against the model.

One profile (`traffic.ProfileTraffic`), three uses:
- the warmup covers the combinations clients use, by share of traffic, within the
  record budget (`choose_combinations`, `traffic_records`);
- the gate: a model that would refuse requests answered today fails the run before
  anything is written (`check_gate`);
- the report's `traffic` section and `tfx-warmup profile` (`profile_traffic`).

As sampling does (`library.sampling`), Beam reads and counts every line; the profile,
small, comes back as a file in the staging area and is read once. Then each
combination's sample is replayed in the replica, on the new model and on the serving
one: what only the graph finds (a shape the model cannot take) refuses the whole
combination, in TF Serving's words.
"""

import contextlib
import dataclasses
import json
import os
import tempfile
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import apache_beam as beam
from absl import logging
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tfx.dsl.io import fileio

from tfx_warmup import progress
from tfx_warmup import serving
from tfx_warmup.data import runners
from tfx_warmup.errors import RefusedTrafficError, TrafficError
from tfx_warmup.options import WarmupOptions
from tfx_warmup.privacy import stripping
from tfx_warmup.library import loading
from tfx_warmup.library.records import BuiltRecords
from tfx_warmup.report.model import TrafficCombination, TrafficRefusal, TrafficSection
from tfx_warmup.report.model import WarmupReport, warmup_file_section
from tfx_warmup.serving import records as records_lib
from tfx_warmup.requests import existing_warmup
from tfx_warmup.serving.contract import DEFAULT_SIGNATURE
from tfx_warmup.traffic import ProfileTraffic, TrafficFiles, TrafficKey, TrafficProfile
from tfx_warmup.traffic import plot
from tfx_warmup.traffic import read_entries
from tfx_warmup.traffic import resolve_traffic

PROFILE_FILE = 'traffic_profile.json'
# Logged requests sampled per combination: the records (requests_per_combination) and,
# beyond them, live requests the warmup file does not hold, to measure with.
SAMPLE_SIZE = 8
# Reasons and examples the gate's message names.
GATE_REASONS = 3
LEFT_OUT_BUDGET = 'budget: max_records is reached by larger combinations'
NOT_CALLED = 'no logged request calls it'

Signatures = Dict[str, meta_graph_pb2.SignatureDef]


@dataclasses.dataclass
class Traffic:
  """The traffic a run reads: where, in which format, and what it holds for this model."""
  logs: str  # How the user named them: a glob, or the traffic artifact.
  files: TrafficFiles
  profile: TrafficProfile
  baseline_model_dir: Optional[str] = None

  def batch_sizes(self) -> List[int]:
    return sorted({key.batch_size for key in self.profile.combinations})

  def output_filters(self, plans: Sequence) -> Dict[str, List[List[str]]]:
    """Per Predict signature of `plans` (`requests.signatures.SignaturePlan`s), the fetch
    sets clients send ([] = all outputs). A Classify or Regress signature called through
    Predict is warmed through its own API when built from examples."""
    predict = {p.name for p in plans if p.kind.api.value == 'predict'}
    fetches: Dict[str, List[List[str]]] = {}
    for key in self.profile.combinations:
      if key.api == 'predict' and key.signature in predict:
        fetch = key.output_filter.split(',') if key.output_filter else []
        if fetch not in fetches.setdefault(key.signature, []):
          fetches[key.signature].append(fetch)
    return fetches

  def used(self, combinations: Sequence, budget: int) -> List:
    """Of `combinations` (`requests.build.Combination`s), those clients use, largest share
    first, at most `budget` of them (the rest are reported as left out)."""
    offered = {_record_key(c): c for c in combinations}
    used = []
    for key in self.profile.combinations:
      combination = offered.get(key.record_key())
      if combination is not None and combination not in used:
        used.append(combination)
    return used[:budget]


def _record_key(combination) -> records_lib.RecordKey:
  """What a record of `combination` (`requests.build.Combination`) initialises."""
  return records_lib.RecordKey(combination.api.value,
                               '+'.join(p.name for p in combination.plans),
                               combination.batch_size, ','.join(combination.output_filter))


def read_traffic(logs: str, files: TrafficFiles, signatures: Signatures, options: WarmupOptions,
                 make_pipeline: Callable[[], beam.Pipeline], scratch_dir: str, *,
                 baseline_signatures: Optional[Signatures] = None,
                 baseline_model_dir: Optional[str] = None) -> Traffic:
  """Reads and counts every line of `files` with Beam, against the model's `signatures`.

  `baseline_signatures` (the version being served) tell the requests this model would
  newly refuse from those refused already. Raises UnknownApiError when a logged body's
  API cannot be told (it names the file and line, and `traffic_api`).
  """
  path = os.path.join(scratch_dir, PROFILE_FILE)
  with progress.reporter().stage('Reading the traffic logs'):
    with runners.runner_failures(lambda: None):
      pipeline = make_pipeline()
    _ = (pipeline
         | 'LogFiles' >> beam.Create([(f.path, f.format) for f in files.files])
         | 'OneFilePerWorker' >> beam.Reshuffle()
         | 'ReadEntries' >> beam.FlatMapTuple(read_entries)
         | 'ProfileTraffic' >> ProfileTraffic(signatures, baseline_signatures,
                                              options.traffic_api, SAMPLE_SIZE, options.seed)
         | 'ToJson' >> beam.Map(lambda profile: json.dumps(profile.to_dict()))
         | 'WriteProfile' >> beam.io.WriteToText(path, shard_name_template=''))
    with runners.runner_failures(lambda: type(pipeline.runner).__name__):
      pipeline.run().wait_until_finish()
  with fileio.open(path) as f:
    profile = TrafficProfile.from_dict(json.loads(f.read()))
  if not profile.logged_requests:
    examples = '; '.join(f'{source}: {reason}' for source, reason in
                         profile.not_requests.first[:3])
    raise TrafficError(
        f'No line of the traffic logs {logs} is a request ({profile.not_requests.count:,} '
        f'lines read, e.g. {examples or "none"}). Point traffic_logs at the request log, in '
        'a format of docs/traffic.md, or name its format with traffic_format.')
  profile.check_api_known()
  return Traffic(logs, files, profile, baseline_model_dir)


def replay_samples(traffic: Traffic, servable: serving.Servable,
                   baseline: Optional[serving.Servable] = None) -> Traffic:
  """`traffic` with each combination whose sample the replica refuses moved to the refused.

  Every sampled request of a combination is run as TF Serving would run it; the first
  refusal refuses the combination, with `baseline` (the serving version) telling whether
  its requests were answered before.
  """
  profile = traffic.profile
  for key, combination in list(profile.combinations.items()):
    for logged in combination.sample:
      try:
        servable.run_log(logged.log)
      except serving.RequestError as e:
        profile = profile.with_refused(key, e, _accepts(baseline, logged.log))
        break
  return dataclasses.replace(traffic, profile=profile)


def _accepts(servable: Optional[serving.Servable],
             log: prediction_log_pb2.PredictionLog) -> Optional[bool]:
  if servable is None:
    return None
  try:
    servable.run_log(log)
  except serving.RequestError:
    return False
  return True


def choose_combinations(profile: TrafficProfile, budget: int, requests_per_combination: int
                        ) -> Tuple[Dict[TrafficKey, int], Dict[TrafficKey, str]]:
  """Records per combination, largest share first, within `budget`; and those left out, why.

  Every combination clients use gets one record before any gets a second, as with
  examples; a combination's records are its sampled requests, so it gets at most as
  many as were sampled.
  """
  wants = {key: min(requests_per_combination, len(c.sample))
           for key, c in profile.combinations.items()}
  counts = dict.fromkeys(wants, 0)
  left = budget
  for round_number in range(1, max(wants.values(), default=0) + 1):
    for key, want in wants.items():
      if left and counts[key] < min(want, round_number):
        counts[key] += 1
        left -= 1
  chosen = {key: n for key, n in counts.items() if n}
  left_out = {key: LEFT_OUT_BUDGET for key in counts if not counts[key]}
  return chosen, left_out


def traffic_records(profile: TrafficProfile, chosen: Dict[TrafficKey, int], model_name: str
                    ) -> Tuple[List[prediction_log_pb2.PredictionLog],
                               List[prediction_log_pb2.PredictionLog]]:
  """The logged requests that become records, and one more per combination as live traffic.

  Records and live requests never overlap: a warmup file is not judged on what it replays.
  """
  records, live = [], []
  for key, count in chosen.items():
    sample = profile.combinations[key].sample
    records.extend(_named(logged.log, model_name) for logged in sample[:count])
    live.extend(_named(logged.log, model_name) for logged in sample[count:count + 1])
  return records, live


def _named(log: prediction_log_pb2.PredictionLog, model_name: str
           ) -> prediction_log_pb2.PredictionLog:
  """A copy of `log` with only the request, its model_spec named as ModelWarmer names it."""
  kind = log.WhichOneof('log_type')
  record = prediction_log_pb2.PredictionLog()
  getattr(record, kind).request.CopyFrom(getattr(log, kind).request)
  request = getattr(record, kind).request
  specs = ([task.model_spec for task in request.tasks] if kind == 'multi_inference_log'
           else [request.model_spec])
  for spec in specs:
    spec.name = model_name
    spec.ClearField('version_choice')
  return record


def unstrippable_inputs(records: Sequence[prediction_log_pb2.PredictionLog]) -> List[str]:
  """'signature/alias' of raw-tensor string inputs: logged values stripping cannot reduce."""
  found = set()
  for record in records:
    if not record.HasField('predict_log'):
      continue
    request = record.predict_log.request
    signature = request.model_spec.signature_name or DEFAULT_SIGNATURE
    for alias, tensor in request.inputs.items():
      if (tensor.dtype == types_pb2.DT_STRING and
          records_lib.serialized_example_features(tensor.string_val) is None):
        found.add(f'{signature}/{alias}')
  return sorted(found)


def traffic_section(traffic: Traffic, options: WarmupOptions,
                    chosen: Optional[Dict[TrafficKey, int]] = None,
                    left_out: Optional[Dict[TrafficKey, str]] = None,
                    unstrippable: Sequence[str] = ()) -> TrafficSection:
  """The report's view of `traffic`; `chosen`/`left_out` when a warmup was built from it."""
  profile = traffic.profile
  accepted = profile.requests
  warmed = chosen or {}
  combinations = [
      TrafficCombination(key.api, key.signature, key.batch_size, key.output_filter,
                         key.shapes, c.requests, c.requests / accepted if accepted else 0.0,
                         key in warmed, None if key in warmed or chosen is None
                         else (left_out or {}).get(key, LEFT_OUT_BUDGET))
      for key, c in profile.combinations.items()]
  combinations += [
      TrafficCombination(key.api, key.signature, key.batch_size, key.output_filter,
                         key.shapes, refused.requests, 0.0, False,
                         f'refused: {refused.reason}')
      for key, refused in profile.refused_combinations.items()]
  logged = profile.logged_requests
  covered = sum(c.requests for key, c in profile.combinations.items() if key in warmed)
  return TrafficSection(
      logs=traffic.logs,
      formats={traffic.files.format: len(traffic.files.files)},
      lines=logged + profile.not_requests.count,
      requests=logged,
      not_requests=profile.not_requests.count,
      not_request_examples=[f'{source}: {reason}' for source, reason in
                            profile.not_requests.first],
      combinations=combinations,
      refused=[TrafficRefusal(reason, r.count, r.newly_refused, r.source)
               for reason, r in profile.refused.items()],
      newly_refused=profile.newly_refused,
      newly_refused_share=profile.newly_refused / logged if logged else 0.0,
      max_refused_traffic=options.max_refused_traffic,
      compared_with=traffic.baseline_model_dir,
      coverage=(covered / accepted if accepted else 0.0) if chosen is not None else None,
      payloads=options.traffic_payloads if chosen is not None else None,
      unstrippable=list(unstrippable))


def check_gate(section: TrafficSection, model_dir: str) -> None:
  """Raises RefusedTrafficError when more than `max_refused_traffic` would be newly refused.

  The message names the largest reasons with their counts and an example line; when
  this model accepts none of the logged requests, it says the logs are likely of another
  model.
  """
  if not section.requests or section.newly_refused_share <= section.max_refused_traffic:
    return
  before = (f'the serving model ({section.compared_with}) accepts them'
            if section.compared_with else 'no baseline_model was given, so every refused '
            'request counts unless the log shows it refused')
  reasons = [r for r in section.refused if r.newly_refused][:GATE_REASONS]
  listing = '; '.join(f'{r.newly_refused:,} for "{r.reason}" (e.g. {r.example})'
                      for r in reasons)
  accepted = sum(c.requests for c in section.combinations if not c.why_not or
                 not c.why_not.startswith('refused'))
  another = (' It accepts none of them: are these the logs of another model?'
             if not accepted else '')
  raise RefusedTrafficError(
      f'{model_dir} would refuse {section.newly_refused:,} of {section.requests:,} logged '
      f'requests ({section.newly_refused_share:.1%}) that are answered today ({before}); '
      f'max_refused_traffic is {section.max_refused_traffic:g}.{another} {listing}. Fix the '
      'model (a renamed input, a dropped signature, a changed dtype), or set '
      'max_refused_traffic to the share you mean to break.')


def log_summary(section: TrafficSection) -> None:
  logging.info('Traffic: %d logged requests in %d combinations; %d refused (%d newly).',
               section.requests, len(section.combinations), sum(
                   r.requests for r in section.refused), section.newly_refused)


def build_from_traffic(plan, traffic: Traffic):
  """The warmup records of the logged requests themselves (traffic_payloads='requests').

  The combinations clients use, by share, within the budget; each record a sampled
  logged request, stripped to what its signature parses and proven in the replica as
  sampled examples are; one more logged request per combination as live traffic.
  Returns the BuiltRecords and the combinations chosen and left out.
  """
  options = plan.options
  if not traffic.profile.combinations:
    raise RefusedTrafficError(
        f'{plan.model_dir} refuses every logged request in {traffic.logs}, so none can be a '
        'warmup record (the report lists why). Warm it from examples instead '
        "(traffic_payloads='examples'), or fix the model.")
  chosen, left_out = choose_combinations(
      traffic.profile, options.max_records - len(plan.kept_records),
      options.requests_per_combination)
  records, live = traffic_records(traffic.profile, chosen, options.model_name)
  with progress.reporter().stage('Stripping records to what each signature reads'):
    stripped = stripping.strip_and_prove(plan.servable, records, plan.keeps)
  called = {name for key in chosen for name in key.signature.split('+')}
  skipped = dict(plan.signatures.skipped)
  skipped.update({p.name: NOT_CALLED for p in plan.signatures.usable
                  if p.name not in called and p.name not in skipped})
  built = BuiltRecords(existing_warmup.merge_records(plan.kept_records, stripped.records),
                       live, [], skipped, {}, stripped)
  return built, chosen, left_out


def profile_traffic(model_dir: str, logs: str, options: Optional[WarmupOptions] = None, *,
                    baseline_model_dir: Optional[str] = None,
                    make_pipeline: Optional[Callable[[], beam.Pipeline]] = None,
                    plot_path: Optional[str] = None) -> WarmupReport:
  """What clients send to `model_dir`, from the logs at `logs` (a glob): the report's
  `traffic` section, and its plot at `plot_path` (PNG).

  `options` give the logs' format and API (traffic_format, traffic_api), the tag set
  and the sampling seed; `baseline_model_dir` is the version being served, which tells
  requests this model would newly refuse from those refused already. Nothing is
  warmed, and the gate is not applied: the report says what it would decide.
  """
  options = dataclasses.replace(options or WarmupOptions(traffic_logs=logs),
                                traffic_logs=logs)
  files = resolve_traffic(logs, options.traffic_format)
  with contextlib.ExitStack() as stack:
    servable = stack.enter_context(loading.load(model_dir, options.tag_set))
    baseline = stack.enter_context(loading.load(baseline_model_dir, options.tag_set)
                                   ) if baseline_model_dir else None
    scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix='tfx-warmup-traffic-'))
    traffic = read_traffic(logs, files, servable.signatures, options,
                           make_pipeline or beam.Pipeline, scratch,
                           baseline_signatures=baseline.signatures if baseline else None,
                           baseline_model_dir=baseline_model_dir)
    traffic = replay_samples(traffic, servable, baseline)
  section = traffic_section(traffic, options)
  if plot_path:
    plot.plot_traffic(section, plot_path, title=f'Logged requests to {model_dir}')
  return WarmupReport(model=model_dir, warmup_file=warmup_file_section(None, []),
                      traffic=section)


def read_for_warmup(model_dir: str, options: WarmupOptions,
                    make_pipeline: Callable[[], beam.Pipeline], scratch_dir: str,
                    baseline_model_dir: Optional[str] = None) -> Optional[Traffic]:
  """The traffic of a warmup run (`options.traffic_logs`), read against `model_dir`'s
  signatures (and the serving version's); None without traffic logs."""
  if not options.traffic_logs:
    return None
  files = resolve_traffic(options.traffic_logs, options.traffic_format)
  baseline = (serving.read_meta_graph(baseline_model_dir, options.tag_set).signature_def
              if baseline_model_dir else None)
  return read_traffic(options.traffic_logs, files,
                      serving.read_meta_graph(model_dir, options.tag_set).signature_def,
                      options, make_pipeline, scratch_dir, baseline_signatures=baseline,
                      baseline_model_dir=baseline_model_dir)


def gate(traffic: Traffic, plan) -> Traffic:
  """Replays each combination's sample on `plan`'s model (and the serving version's), then
  fails the run when the model would newly refuse more than max_refused_traffic."""
  with contextlib.ExitStack() as stack:
    baseline = stack.enter_context(loading.load(
        traffic.baseline_model_dir, plan.options.tag_set)) if traffic.baseline_model_dir else None
    traffic = replay_samples(traffic, plan.servable, baseline)
  section = traffic_section(traffic, plan.options)
  log_summary(section)
  check_gate(section, plan.model_dir)
  return traffic


def warmed_by(built: BuiltRecords, traffic: Traffic
              ) -> Tuple[Dict[TrafficKey, int], Dict[TrafficKey, str]]:
  """The traffic's combinations that records built from examples warm (shapes aside), and
  why the others are not (the signature's skip reason, else the budget)."""
  warmed = set(map(records_lib.record_key, built.records))
  chosen, left_out = {}, {}
  for key in traffic.profile.combinations:
    if key.record_key() in warmed:
      chosen[key] = 1
    else:
      left_out[key] = next((built.skipped[name] for name in key.signature.split('+')
                            if name in built.skipped), LEFT_OUT_BUDGET)
  return chosen, left_out
