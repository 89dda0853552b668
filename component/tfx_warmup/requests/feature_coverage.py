"""Feature coverage: how much of what each warmed signature parses the sampled examples carry.

A parse with a default (or a VarLen or ragged spec) for every feature runs on
any data. Fed examples of another dataset (a trial fed TFX's taxi model
unrelated SequenceExamples), every request succeeds, so the run succeeds, and
the warmup file's records carry none of the 17 features the model parses:
they parse only defaults. Such records initialise each signature's first
request, but not what real requests run: the first classification at batch 2
still took 16.7 ms after that warmup. Nothing in the file's replay tells it.

So, once per run, on the sample the records are built from, each warmed
signature gets its share of parsed features that some sampled example
carries (`feature_coverage`):
  - for a signature fed serialized examples, of the keys its graph's parse ops
    read (`parse_keys`): a tf.Example parse reads a SequenceExample's context
    (the same proto field), never its feature lists;
  - for a raw-tensor Predict signature, of its inputs, each filled from the
    example feature of the same name (`raw_tensors`; one no example carries
    is zeros).
At zero nothing representative can come of the examples: `check_coverage`
raises ExamplesError. Below COVERAGE_WARNING_THRESHOLD, `coverage_warnings`
names the missing features. A signature whose parse cannot be read (it reads
whole examples) or that parses nothing gets no verdict.
"""

import dataclasses
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

from absl import logging
from tfx.proto import example_gen_pb2

from tfx_warmup.errors import ExamplesError
from tfx_warmup.report.model import FeatureCoverage
from tfx_warmup.requests.example_fit import sample_features
from tfx_warmup.requests.parse_keys import SignatureParse
from tfx_warmup.requests.signatures import RequestKind, SignaturePlan

# Below this share of its parsed features carried by the sample, a signature is warned
# about: most of what its requests parse is then defaults, so its records may leave
# cold what real requests run. 0.5: more missing than carried.
COVERAGE_WARNING_THRESHOLD = 0.5
# Feature names a message lists before '... and N more'.
MOST_NAMED = 10

_SEQUENCE = example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE


@dataclasses.dataclass(frozen=True)
class Coverage:
  """What one signature parses (raw tensors: its inputs' features), and which of it the
  sample carries."""
  signature: str
  parsed: FrozenSet[str]
  carried: FrozenSet[str]  # A subset of `parsed`.
  raw_tensors: bool = False
  parses_tf_examples: bool = False  # Its parse reads tf.Example features.

  @property
  def share(self) -> float:
    return len(self.carried) / len(self.parsed)

  @property
  def missing(self) -> List[str]:
    return sorted(self.parsed - self.carried)

  def section(self) -> FeatureCoverage:
    """The report's view: the share (to 4 places), how many are parsed, those missing."""
    return FeatureCoverage(share=round(self.share, 4), parsed=len(self.parsed),
                           missing=self.missing)

  def what(self) -> str:
    """What the share is of, for messages."""
    return ('inputs (each filled from the feature of its name)' if self.raw_tensors
            else 'features it parses')


@dataclasses.dataclass(frozen=True)
class SampleFeatures:
  """The names the sampled examples carry: tf.Example features or SequenceExample context,
  and SequenceExample feature lists."""
  features: FrozenSet[str]
  feature_lists: FrozenSet[str]

  @property
  def all(self) -> FrozenSet[str]:
    return self.features | self.feature_lists


def feature_coverage(plans: Iterable[SignaturePlan], parses: Mapping[str, SignatureParse],
                     examples: Sequence[bytes]) -> Dict[str, Coverage]:
  """{signature: its coverage by `examples`} for each of `plans` that gets a verdict.

  `parses`: each serialized-input signature's parse (`parse_keys.signature_parses`).
  """
  held = held_features(examples)
  result = {}
  for plan in sorted({p.name: p for p in plans}.values(), key=lambda p: p.name):
    coverage = _coverage(plan, parses.get(plan.name), held)
    if coverage is not None:
      result[plan.name] = coverage
  return result


def held_features(examples: Sequence[bytes]) -> SampleFeatures:
  """The feature names present in any of `examples`."""
  return SampleFeatures(*sample_features(examples))


def _coverage(plan: SignaturePlan, parse: Optional[SignatureParse],
              held: SampleFeatures) -> Optional[Coverage]:
  if plan.kind == RequestKind.PREDICT_TENSORS:
    inputs = frozenset(spec.key for spec in plan.inputs)
    return Coverage(plan.name, inputs, inputs & held.features, raw_tensors=True)
  if parse is None or parse.keys is None:
    logging.debug("Signature '%s': no feature coverage, its parse cannot be read: %s.",
                  plan.name, parse.reason if parse else 'no parse was read for it')
    return None
  keys = parse.keys
  if not keys.all:
    logging.debug("Signature '%s': no feature coverage, it parses no feature.", plan.name)
    return None
  carried = (((keys.features | keys.context) & held.features)
             | (keys.feature_lists & held.feature_lists))
  return Coverage(plan.name, keys.all, carried, parses_tf_examples=bool(keys.features))


def coverage_warnings(coverage: Mapping[str, Coverage],
                      threshold: float = COVERAGE_WARNING_THRESHOLD) -> Dict[str, str]:
  """{signature: warning} for each signature whose share is above 0 but below `threshold`."""
  warnings = {}
  for name, c in sorted(coverage.items()):
    if 0 < c.share < threshold:
      filled = ('those inputs are filled with zeros' if c.raw_tensors
                else 'its requests parse defaults for those')
      warnings[name] = (
          f'the sampled examples carry {len(c.carried)} of the {len(c.parsed)} {c.what()} '
          f'({c.share:.0%}, below {threshold:.0%}); missing: {listed(c.missing)}. '
          f'{filled[0].upper()}{filled[1:]}, so its warmup records may leave cold what real '
          'requests run. Point ModelWarmer at examples of the data the model is served with')
  return warnings


def check_coverage(coverage: Mapping[str, Coverage], examples: Sequence[bytes],
                   described: str = '',
                   payload_format: int = example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE
                   ) -> None:
  """Raises ExamplesError naming every signature of which `examples` carry nothing.

  `described` names the examples ('the glob at ...'); `payload_format`, what they
  hold, says when SequenceExamples were fed to a tf.Example parse.
  """
  zero = [c for _, c in sorted(coverage.items()) if not c.carried]
  if not zero:
    return
  held = held_features(examples)
  groups: Dict[Tuple[FrozenSet[str], bool], List[Coverage]] = {}
  for c in zero:
    groups.setdefault((c.parsed, c.raw_tensors), []).append(c)
  where = f' ({described})' if described else ''
  parts = []
  for (parsed, raw), members in groups.items():
    names = [c.signature for c in members]
    what = (f"the features {_signatures(names)} fills {_its(names)} inputs from" if raw
            else f'the features {_signatures(names)} {_parse(names)}')
    parts.append(f'{what} ({len(parsed)}: {listed(parsed)})')
  # Feature lists are a SequenceExample's own: a glob does not say its payload, they do.
  sequence = ((payload_format == _SEQUENCE or held.feature_lists)
              and any(c.parses_tf_examples for c in zero))
  cause = ('SequenceExamples fed to a signature that parses tf.Examples' if sequence
           else 'another dataset, or transformed examples fed to a raw-feature model?')
  raise ExamplesError(
      f"The examples{where} carry none of {'; and none of '.join(parts)}; they hold "
      f'{listed(held.all)}. Warmup requests built from them would parse only defaults and leave '
      f'cold what real requests run ({cause}). Point ModelWarmer at examples of the data the '
      'model was trained on or is served with; or, for a signature that is not served, leave '
      'it out of signature_names.')


def listed(names: Iterable[str], most: int = MOST_NAMED) -> str:
  """Sorted names, the first `most` of them, then 'and N more'."""
  names = sorted(names)
  if not names:
    return 'no features'
  more = f' and {len(names) - most} more' if len(names) > most else ''
  return ', '.join(names[:most]) + more


def _signatures(names: Sequence[str]) -> str:
  quoted = [f"'{n}'" for n in names]
  if len(quoted) == 1:
    return f'signature {quoted[0]}'
  return f"signatures {', '.join(quoted[:-1])} and {quoted[-1]}"


def _parse(names: Sequence[str]) -> str:
  return 'parses' if len(names) == 1 else 'parse'


def _its(names: Sequence[str]) -> str:
  return 'its' if len(names) == 1 else 'their'
