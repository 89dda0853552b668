"""Tells a data problem from a model problem: which signatures the sampled examples can feed.

Real serving data lacks what training data has: TFX's Transform-based exports
ship a `transform_features` signature whose parse needs the label, and users
point ModelWarmer at transformed examples, or another dataset. TF Serving would
refuse such warmup records, but the model is fine: the examples do not match
what the signature parses. So before writing, one request per signature is
tried in the replica (the largest batch it is warmed at, so the most examples
are parsed): a signature the examples cannot feed is left out with the reason,
unless the user named it, and then the error says what the data lacks and how
to fix it (`diagnosis`, which words every later mismatch the same way).

A signature whose parse has defaults for every feature runs on any data, even
data holding none of its features (SequenceExamples for a tf.Example model):
its records would warm nothing real traffic does, so that is warned about.
"""

from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from tfx.proto import example_gen_pb2

from tfx_warmup.errors import ConversionError, ExamplesError, RequestError
from tfx_warmup.requests.parse_keys import SignatureParse
from tfx_warmup.requests import build
from tfx_warmup.requests.diagnosis import FIX, data_error, diagnose
from tfx_warmup.serving import records
from tfx_warmup.serving.servable import Servable


def combinations_the_sample_feeds(
    servable: Servable, combinations: Sequence[build.Combination],
    examples: Sequence[bytes], named: Optional[Sequence[str]], model_name: str = '',
    described: str = '') -> Tuple[List[build.Combination], Dict[str, str]]:
  """(combinations left, {signature: why it was left out}) after one request per signature.

  A signature in `named` that the examples cannot feed raises ExamplesError; one
  that fails for another reason (the model's) is left for the full replay to report.
  `described` names the examples in messages ('the glob at ...').
  """
  skipped: Dict[str, str] = {}
  causes: Dict[str, Tuple[str, str]] = {}  # Signature -> (reason, fix) it cannot be fed.
  for signature, probe in _probes(combinations):
    try:
      record, = build.build_warmup_records(examples, [probe], 1, 1, model_name)
      servable.run_log(record)
    except ConversionError as e:  # Already names the feature, the signature and the fix.
      if named and signature in named:
        raise
      reason, likely, fix = str(e).rstrip('.'), 'another dataset?', FIX
    except RequestError as e:
      mismatch = diagnose(e.message)
      if mismatch is None:
        continue
      if named and signature in named:
        raise data_error(signature, mismatch, described) from e
      reason, likely, fix = mismatch.describe(), mismatch.likely_cause, mismatch.fix
    else:
      continue
    causes[signature] = (reason, fix)
    skipped[signature] = f'the sampled examples cannot feed it: {reason} ({likely})'
  left = [c for c in combinations if not any(p.name in skipped for p in c.plans)]
  if not left:
    raise _nothing_fed(causes, described)
  return left, skipped


def _nothing_fed(causes: Mapping[str, Tuple[str, str]], described: str) -> ExamplesError:
  """One error for signatures none of which the examples feed, each reason said once."""
  by_cause: Dict[Tuple[str, str], List[str]] = {}
  for signature, cause in sorted(causes.items()):
    by_cause.setdefault(cause, []).append(signature)
  where = f' ({described})' if described else ''
  parts = [f"{_signatures(names)}: {reason}" for (reason, _), names in by_cause.items()]
  fixes = dict.fromkeys(fix for _, fix in by_cause)
  return ExamplesError(f'No signature can be warmed with these examples{where}. '
                       + '; '.join(parts) + '. ' + ' '.join(fixes))


def _signatures(names: Sequence[str]) -> str:
  quoted = [f"'{n}'" for n in names]
  if len(quoted) == 1:
    return f'Signature {quoted[0]}'
  return f"Signatures {', '.join(quoted[:-1])} and {quoted[-1]}"


def _probes(combinations: Sequence[build.Combination]
            ) -> List[Tuple[str, build.Combination]]:
  """Per single signature, its combination with the largest batch (fetching everything)."""
  best: Dict[str, build.Combination] = {}
  for combination in combinations:
    if len(combination.plans) != 1 or combination.output_filter:
      continue
    name = combination.plans[0].name
    if name not in best or combination.batch_size > best[name].batch_size:
      best[name] = combination
  return sorted(best.items())


def unshared_feature_warnings(
    parses: Mapping[str, SignatureParse],
    combinations: Sequence[build.Combination], examples: Sequence[bytes],
    payload_format: int = example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE) -> Dict[str, str]:
  """{signature: warning} for each serialized-input signature sharing no feature with the sample.

  `parses`: each serialized-input signature's parse (parse_keys). Only signatures
  whose parse keys are known and not empty are judged.
  """
  names = sorted({p.name for c in combinations for p in c.plans if p.kind.feeds_serialized})
  if not names or not examples:
    return {}
  features, feature_lists = sample_features(examples)
  sequence = payload_format == example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE
  warnings = {}
  for name in names:
    keys = parses[name].keys
    if keys is None or not keys.all:
      continue
    # A tf.Example's features and a SequenceExample's context are one field: parses read either.
    if (keys.features | keys.context) & features or keys.feature_lists & feature_lists:
      continue
    cause = ('SequenceExample data for a signature that parses tf.Examples' if
             sequence and keys.features else 'another dataset, or transformed examples?')
    warnings[name] = (
        f'the sampled examples share no feature with what it parses ({_listed(keys.all)}; '
        f'the examples hold {_listed(features | feature_lists)}): its warmup requests parse '
        f'only default values ({cause}). Point ModelWarmer at the Examples the model is '
        'served with')
  return warnings


def sample_features(examples: Sequence[bytes]) -> Tuple[FrozenSet[str], FrozenSet[str]]:
  """(feature or context names, feature_list names) present in any sampled record."""
  features, feature_lists = set(), set()
  for record in examples:
    parsed = records.parse_example_or_sequence(record)
    if parsed is None:
      continue
    features.update(parsed.context.feature)
    feature_lists.update(parsed.feature_lists.feature_list)
  return frozenset(features), frozenset(feature_lists)


def _listed(names: FrozenSet[str], most: int = 8) -> str:
  shown = sorted(names)[:most]
  more = f' and {len(names) - most} more' if len(names) > most else ''
  return (', '.join(shown) + more) if names else 'no features'
