"""Strips warmup records to the features their signatures read, and proves it changes nothing.

A warmup file ships sampled user examples inside the model, which travels to
serving hosts, registries and every copy of the model. Real examples carry far
more than a model reads: identifiers, logging fields, the label, raw text. So
each record keeps only the features its signature parses (`parse_keys`, read
from the graph; for a MultiInference record, the union of its tasks'), and
`drop_features` names features never to ship at all.

The graph analysis is checked, not trusted: every stripped record and its whole
twin run in the TF Serving replica, and their answers must be identical
(serialized responses, so dtypes and bits count). A signature whose records
answer differently keeps whole examples (less `drop_features`) with the reason
in the report; if even that differs, and the difference is a dropped feature,
the run fails naming it. A model that answers one record two ways cannot be
proven at all, and is said to be so.
"""

import dataclasses
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Set, Tuple, Union

from google.protobuf import message
from tensorflow.core.example import feature_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tfx_warmup.errors import ConfigurationError, RequestError
from tfx_warmup.requests.diagnosis import diagnose
from tfx_warmup.requests.parse_keys import SignatureParse
from tfx_warmup.report.model import StrippingSection
from tfx_warmup.requests.signatures import SignaturePlan
from tfx_warmup.serving import records as records_lib
from tfx_warmup.serving.errors import one_line
from tfx_warmup.serving.servable import Servable

_DROP_FIX = ("Remove it from drop_features, or leave '{signature}' out of signature_names "
             'so that no warmup record ships it.')


@dataclasses.dataclass(frozen=True)
class Keep:
  """What one signature's records keep of each example.

  `features` (a tf.Example's features, which are a SequenceExample's context) and
  `feature_lists`: the names kept, None for all; `drop` is removed in any case.
  """
  features: Optional[FrozenSet[str]]
  feature_lists: Optional[FrozenSet[str]]
  drop: FrozenSet[str] = frozenset()
  whole_reason: str = ''  # Why the records are not stripped to the parse keys.

  @classmethod
  def whole(cls, drop: FrozenSet[str], reason: str) -> 'Keep':
    return cls(None, None, drop, reason)

  @property
  def is_whole(self) -> bool:
    return self.features is None and self.feature_lists is None

  def union(self, other: 'Keep') -> 'Keep':
    """What a record read by both signatures keeps (a MultiInference's tasks)."""
    def either(a, b):
      return None if a is None or b is None else a | b
    return Keep(either(self.features, other.features),
                either(self.feature_lists, other.feature_lists), self.drop | other.drop)

  def strips(self, name: str, in_lists: bool) -> bool:
    kept = self.feature_lists if in_lists else self.features
    return name in self.drop or (kept is not None and name not in kept)


def plan_keeps(parses: Mapping[str, SignatureParse], plans: Sequence[SignaturePlan],
               strip_unread: bool, drop: Sequence[str]) -> Dict[str, Keep]:
  """{signature: what its records keep}, for each signature fed serialized examples.

  `parses`: each such signature's parse (parse_keys.signature_parse).

  Raises ConfigurationError, before any data is read, when a signature reads a
  feature in `drop`: a raw-tensor Predict input of that name, or a parse key.
  """
  drop = frozenset(drop or ())
  keeps = {}
  for plan in sorted(plans, key=lambda p: p.name):
    if not plan.kind.feeds_serialized:  # Raw tensors, built from features of their names.
      needed = sorted(drop & {spec.key for spec in plan.inputs})
      if needed:
        raise _needs_dropped(plan.name, needed, 'feeds it to the input of that name')
      continue
    parse = parses[plan.name]
    if parse.keys is not None:
      needed = sorted(drop & parse.keys.all)
      if needed:
        raise _needs_dropped(plan.name, needed, 'parses it from each example')
    if not strip_unread:
      keeps[plan.name] = Keep.whole(drop, 'strip_unread_features is off')
    elif parse.keys is None:
      keeps[plan.name] = Keep.whole(drop, f'its parse could not be read: {parse.reason}')
    else:
      keeps[plan.name] = Keep(parse.keys.features | parse.keys.context,
                              parse.keys.feature_lists, drop)
  return keeps


def check_kept_records(kept: Sequence[prediction_log_pb2.PredictionLog],
                       drop: Optional[Sequence[str]], existing_warmup: str) -> None:
  """Refuses to keep the input model's own records when they carry a feature in `drop`.

  Those records are the user's and are written as they are ('keep', 'merge').
  """
  carried = records_lib.features_carried(kept)
  for label, names in carried.items():
    shipped = sorted(set(drop or ()) & set(names))
    if shipped:
      raise ConfigurationError(
          f"drop_features lists {', '.join(repr(n) for n in shipped)}, but the input model's "
          f"own warmup file carries it in its '{label}' records, which "
          f'existing_warmup={existing_warmup!r} keeps as they are. Use '
          "existing_warmup='replace' to write a new file without it.")


def _needs_dropped(signature: str, features: Sequence[str], how: str) -> ConfigurationError:
  listed = ', '.join(f"'{f}'" for f in features)
  return ConfigurationError(
      f"drop_features lists {listed}, but signature '{signature}' {how}: its warmup "
      f'records cannot run without it. ' + _DROP_FIX.format(signature=signature))


# -- stripping ------------------------------------------------------------------------


def strip_record(record: prediction_log_pb2.PredictionLog,
                 keeps: Mapping[str, Keep]) -> prediction_log_pb2.PredictionLog:
  """A copy of `record` whose examples keep only what its signature(s) read.

  Examples with nothing to strip keep their bytes; records of signatures not in
  `keeps` (raw-tensor Predict: only named inputs) are copied unchanged.
  """
  stripped = prediction_log_pb2.PredictionLog()
  stripped.CopyFrom(record)
  names = records_lib.record_signatures(record)
  if not names or any(n not in keeps for n in names):
    return stripped
  keep = keeps[names[0]]
  for name in names[1:]:
    keep = keep.union(keeps[name])
  request = getattr(stripped, stripped.WhichOneof('log_type')).request
  if stripped.HasField('predict_log'):
    for tensor in request.inputs.values():
      if tensor.dtype == types_pb2.DT_STRING:
        tensor.string_val[:] = [_strip_serialized(v, keep) for v in tensor.string_val]
    return stripped
  kind = request.input.WhichOneof('kind')
  if kind is not None:
    inputs = getattr(request.input, kind)
    for example in inputs.examples:
      _strip_map(example.features.feature, keep, in_lists=False)
    if kind == 'example_list_with_context':
      _strip_map(inputs.context.features.feature, keep, in_lists=False)
  return stripped


def _strip_map(features: Union[Mapping[str, feature_pb2.Feature],
                               Mapping[str, feature_pb2.FeatureList]],
               keep: Keep, in_lists: bool) -> bool:
  """Deletes the features `keep` strips; True if any was."""
  gone = [name for name in features if keep.strips(name, in_lists)]
  for name in gone:
    del features[name]
  return bool(gone)


def _strip_serialized(value: bytes, keep: Keep) -> bytes:
  """A serialized tf.Example or SequenceExample, stripped; other values unchanged."""
  parsed = records_lib.parse_example_or_sequence(value)
  if parsed is None:
    return value  # Not an example: the proof shows whether the signature minds.
  changed = _strip_map(parsed.context.feature, keep, in_lists=False)
  changed |= _strip_map(parsed.feature_lists.feature_list, keep, in_lists=True)
  return parsed.SerializeToString(deterministic=True) if changed else value


# -- the proof ------------------------------------------------------------------------


@dataclasses.dataclass
class Stripped:
  """The records to write, and what stripping them did (the report's `stripping`)."""
  records: List[prediction_log_pb2.PredictionLog]
  keeps: Dict[str, Keep]
  records_proven: int  # Stripped records proven to answer as their whole twin.
  records_unchanged: int  # Records written as they came: nothing to strip, or failing whole.
  bytes_before: int
  bytes_after: int
  dropped: Dict[str, List[str]]  # {signature label: features its records no longer carry}

  def section(self, strip_unread: bool, drop: Sequence[str]) -> StrippingSection:
    return StrippingSection(
        strip_unread_features=strip_unread,
        drop_features=sorted(drop or ()),
        records_proven=self.records_proven,
        records_unchanged=self.records_unchanged,
        bytes_before=self.bytes_before,
        bytes_after=self.bytes_after,
        dropped=self.dropped,
        whole={name: keep.whole_reason for name, keep in sorted(self.keeps.items())
               if keep.is_whole})


def strip_and_prove(servable: Servable,
                    records: Sequence[prediction_log_pb2.PredictionLog],
                    keeps: Dict[str, Keep]) -> Stripped:
  """Strips each record and proves, record by record, that it answers as its whole twin.

  A record whose stripped twin answers differently makes its signature(s) keep
  whole examples (less `drop`, with the reason); the records those signatures
  strip are then proven again from the first of them, and a signature already
  whole that still differs fails the run naming the dropped feature.
  """
  keeps = dict(keeps)
  proofs = [_RecordProof(i, record) for i, record in enumerate(records)]
  index = 0
  while index < len(proofs):
    difference = proofs[index].prove(servable, keeps)
    if difference is None:
      index += 1
      continue
    fallen = proofs[index].signatures
    for name in sorted(fallen):
      keeps[name] = _fall_back(name, keeps[name], difference, records)
    index = next(p.index for p in proofs if fallen & p.signatures)  # Their keeps changed.
  written = [p.written for p in proofs]
  return Stripped(written, keeps, sum(p.proven for p in proofs),
                  sum(not p.proven for p in proofs),
                  sum(r.ByteSize() for r in records), sum(r.ByteSize() for r in written),
                  _dropped(records, written))


class _RecordProof:
  """One record's proof: it is written stripped only once the replica answers it as it
  answers the whole record; else whole (nothing to strip, or it fails whole).

  The whole record's answer is asked once, and a stripped twin already proven is not
  run again, so proving a record again after a fallback costs only the stripping.
  """

  def __init__(self, index: int, record: prediction_log_pb2.PredictionLog):
    self.index = index
    self.whole = record
    self.whole_bytes = record.SerializeToString(deterministic=True)
    self.signatures = frozenset(records_lib.record_signatures(record))
    self.written = record
    self.proven = False  # `written` is the stripped twin, proven to answer the same.
    self._whole_answer: Optional[_Answer] = None
    self._proven_bytes: Optional[bytes] = None

  def prove(self, servable: Servable, keeps: Mapping[str, Keep]) -> Optional['_Difference']:
    """Strips the record by `keeps` and proves the twin; why it differs, else None."""
    stripped = strip_record(self.whole, keeps)
    stripped_bytes = stripped.SerializeToString(deterministic=True)
    self.written, self.proven = self.whole, False
    if stripped_bytes == self.whole_bytes:
      self.written = stripped  # Nothing to strip: written as strip_record copied it.
      return None
    if stripped_bytes != self._proven_bytes:
      if self._whole_answer is None:
        self._whole_answer = _answer(servable, self.whole)
      if self._whole_answer.failed:
        return None  # It fails whole: written whole, for the replay to report as it is.
      answer = _answer(servable, stripped)
      if answer != self._whole_answer:
        return _difference(servable, self.index, self.whole, self._whole_answer, answer)
      self._proven_bytes = stripped_bytes
    self.written, self.proven = stripped, True
    return None


def _fall_back(name: str, keep: Keep, difference: '_Difference',
               records: Sequence[prediction_log_pb2.PredictionLog]) -> Keep:
  """Whole examples less `drop` for a signature whose stripped records answered differently.

  Raises ConfigurationError when they already were: it is a dropped feature that
  the signature needs (or the model cannot be proven to answer the same without it).
  """
  reason, nondeterministic = difference.reason, difference.nondeterministic
  if not keep.is_whole:
    return Keep.whole(keep.drop, (
        f'{reason}, so stripping cannot be proven harmless' if nondeterministic else
        f'its stripped records answered differently ({reason}), so the parse analysis '
        'missed a feature it reads'))
  present = sorted(keep.drop & set().union(*(
      records_lib.record_features(r) for r in records
      if name in records_lib.record_signatures(r))))
  listed = ', '.join(f"'{f}'" for f in present or sorted(keep.drop))
  if nondeterministic:
    why = f'cannot be proven to answer the same without it: {reason}'
  else:
    why = (f'answers differently without it ({reason}); it keeps whole examples because '
           f'{keep.whole_reason}')
  raise ConfigurationError(f"drop_features lists {listed}, but signature '{name}' {why}. "
                           + _DROP_FIX.format(signature=name))


@dataclasses.dataclass(frozen=True)
class _Difference:
  """Why a stripped record counts as different; `nondeterministic` when its whole twin does too."""
  reason: str
  nondeterministic: bool = False


@dataclasses.dataclass(frozen=True)
class _Answer:
  """What TF Serving answers a record: its serialized response, or its error status."""
  key: Union[bytes, Tuple[str, str]]  # Compared: deterministic bytes, or (code, message).
  response: Optional[message.Message] = dataclasses.field(default=None, compare=False)

  @property
  def failed(self) -> bool:
    return isinstance(self.key, tuple)


def _answer(servable: Servable, record: prediction_log_pb2.PredictionLog) -> _Answer:
  try:
    response = servable.run_log(record)
  except RequestError as e:
    return _Answer((e.code, e.message))
  return _Answer(b'' if response is None else response.SerializeToString(deterministic=True),
                 response)


def _difference(servable: Servable, index: int,
                whole: prediction_log_pb2.PredictionLog, whole_answer: _Answer,
                answer: _Answer) -> _Difference:
  """Why record `index`'s stripped twin counts as different."""
  if _answer(servable, whole) != whole_answer:
    return _Difference(f'the model answers the same record two ways (record {index})',
                       nondeterministic=True)
  where = f'record {index}'
  if answer.failed:
    code, text = answer.key
    mismatch = diagnose(text)
    if mismatch:  # Worded as every path that runs records words it.
      return _Difference(f'{where}: stripped, {mismatch.describe("the stripped record")}')
    return _Difference(f'{where}: stripped, it fails with {code}: {one_line(text)[:200]}')
  return _Difference(f'{where}: {_what_differs(whole_answer.response, answer.response)}')


def _what_differs(whole: message.Message, stripped: message.Message) -> str:
  """The response fields (Predict: output aliases) whose values differ."""
  if hasattr(whole, 'outputs'):
    aliases = sorted(a for a in set(whole.outputs) | set(stripped.outputs)
                     if whole.outputs.get(a) != stripped.outputs.get(a))
    return f"output(s) {', '.join(aliases)} differ"
  return f'the {type(whole).__name__} differs'


def _dropped(whole: Sequence[prediction_log_pb2.PredictionLog],
             stripped: Sequence[prediction_log_pb2.PredictionLog]) -> Dict[str, List[str]]:
  dropped: Dict[str, Set[str]] = {}
  for before, after in zip(whole, stripped):
    label = '+'.join(records_lib.record_signatures(before))
    gone = records_lib.record_features(before) - records_lib.record_features(after)
    dropped.setdefault(label, set()).update(gone)
  return {label: sorted(names) for label, names in sorted(dropped.items()) if names}
