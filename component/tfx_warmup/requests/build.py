"""Builds TF Serving warmup records (PredictionLogs) from sampled examples.

TF Serving initialises lazily per *combination*: request API and signature(s),
batch size (kernels are created per input shape), and Predict fetch set
(`output_filter`). Each combination gets its own records.

Budget rule (TF Serving refuses more than 1000 records): combinations are
served round-robin, in order (signature, then batch size, then fetch set);
each round gives every combination that still wants one a record. So every
combination gets one record before any gets a second, and the total stops at
`max_records`. A combination wants `requests_per_combination` records, but no
more than the sample can fill with distinct examples (ceil(sample / batch)).
Consecutive records of a combination take consecutive slices of the sample,
wrapping around when the sample is shorter than the batch.
"""

import dataclasses
import itertools
import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from google.protobuf import message
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import input_pb2
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.apis import regression_pb2

from tfx_warmup.errors import ConfigurationError, ExamplesError, RecordBudgetError
from tfx_warmup.requests import raw_tensors
from tfx_warmup.requests.signatures import RequestKind, SignaturePlan
from tfx_warmup.serving.contract import MAX_RECORDS, Api

# MultiInference requests must name a model (any non-empty name works in warmup).
DEFAULT_MULTI_INFERENCE_MODEL_NAME = 'default'
_PREDICT_KINDS = (RequestKind.PREDICT_SERIALIZED, RequestKind.PREDICT_TENSORS)
_API_METHODS = {RequestKind.CLASSIFY: tf.saved_model.CLASSIFY_METHOD_NAME,
                RequestKind.REGRESS: tf.saved_model.REGRESS_METHOD_NAME}


@dataclasses.dataclass(frozen=True)
class Combination:
  """One path TF Serving initialises lazily."""
  plans: Tuple[SignaturePlan, ...]  # One; several for MultiInference.
  batch_size: int
  output_filter: Tuple[str, ...] = ()  # Predict only; () fetches every output.

  @property
  def api(self) -> Api:
    return Api.MULTI_INFERENCE if len(self.plans) > 1 else self.plans[0].kind.api

  @property
  def label(self) -> str:
    """Signature(s) and fetch set: 'classify+regress', 'serving_default[logits]'."""
    fetch = f"[{','.join(self.output_filter)}]" if self.output_filter else ''
    return '+'.join(p.name for p in self.plans) + fetch

  def describe(self) -> str:
    return f'{self.label}@{self.batch_size}'


def plan_combinations(plans: Sequence[SignaturePlan], batch_sizes: Sequence[int],
                      output_filters: Optional[Mapping[str, Sequence[Sequence[str]]]] = None,
                      multi_inference: bool = True) -> List[Combination]:
  """Every combination to warm, in budget order.

  A signature named in `output_filters` is warmed with exactly the listed
  fetch sets (an empty list means "all outputs"); others fetch all outputs.
  Classify/Regress signatures that share one input tensor are also warmed
  together as MultiInference requests.
  """
  fetch_sets = validate_output_filters(plans, output_filters or {})
  combinations = []
  for plan in plans:
    for batch_size in plan.batch_sizes(batch_sizes):
      for fetch in fetch_sets.get(plan.name, [()]):
        combinations.append(Combination((plan,), batch_size, fetch))
  if multi_inference:
    for group in multi_inference_groups(plans):
      for batch_size in sorted(set(batch_sizes)):
        combinations.append(Combination(group, batch_size))
  return combinations


def multi_inference_groups(plans: Sequence[SignaturePlan]) -> List[Tuple[SignaturePlan, ...]]:
  """Classify/Regress signatures reading the same input tensor (two or more)."""
  groups: Dict[Tuple[str, ...], List[SignaturePlan]] = {}
  for plan in plans:
    if plan.kind in _API_METHODS:
      groups.setdefault(plan.input_tensor_names, []).append(plan)
  return [tuple(g) for _, g in sorted(groups.items()) if len(g) > 1]


def validate_output_filters(plans: Sequence[SignaturePlan],
                            output_filters: Mapping[str, Sequence[Sequence[str]]]
                            ) -> Dict[str, List[Tuple[str, ...]]]:
  by_name = {p.name: p for p in plans}
  fetch_sets = {}
  for name, filters in sorted(output_filters.items()):
    plan = by_name.get(name)
    if plan is None:
      raise ConfigurationError(
          f"output_filters names signature '{name}', which is not warmed (warmed: "
          f'{sorted(by_name)}). Fix the key or add it to signature_names.')
    if plan.kind not in _PREDICT_KINDS:
      raise ConfigurationError(
          f"output_filters for '{name}': it is called through the {plan.kind.value} API, "
          'which has no output filter. Only Predict signatures take output filters.')
    if isinstance(filters, (str, bytes)) or not list(filters):
      raise ConfigurationError(
          f"output_filters['{name}'] must be a non-empty list of alias lists, e.g. "
          f"[['{plan.outputs[0] if plan.outputs else 'alias'}'], []] ([] = all outputs).")
    seen = []
    for aliases in filters:
      if isinstance(aliases, (str, bytes)):
        raise ConfigurationError(
            f"output_filters['{name}'] holds {aliases!r}; each entry is a list of "
            f"aliases, e.g. [{aliases!r}].")
      unknown = [a for a in aliases if a not in plan.outputs]
      if unknown or len(set(aliases)) != len(list(aliases)):
        raise ConfigurationError(
            f"output_filters['{name}'] entry {list(aliases)} "
            + (f'names unknown outputs {unknown}' if unknown else 'repeats an alias')
            + f'; the signature outputs are {list(plan.outputs)}. TF Serving would '
            'reject such requests.')
      fetch = tuple(aliases)
      if fetch not in seen:
        seen.append(fetch)
    fetch_sets[name] = seen
  return fetch_sets


def allocate(combinations: Sequence[Combination], num_examples: int,
             requests_per_combination: Optional[int], max_records: int) -> List[int]:
  """Records per combination under the budget rule (see module doc)."""
  check_record_budget(combinations, max_records)
  wants = [math.ceil(num_examples / c.batch_size) for c in combinations]
  if requests_per_combination is not None:
    wants = [min(w, requests_per_combination) for w in wants]
  counts = [0] * len(combinations)
  left = max_records
  for round_number in itertools.count(1):
    progressed = False
    for i, want in enumerate(wants):
      if left and counts[i] < min(want, round_number):
        counts[i] += 1
        left -= 1
        progressed = True
    if not progressed:
      return counts


def check_record_budget(combinations: Sequence[Combination], max_records: int,
                        kept: int = 0) -> None:
  """Fails before any data is read when one record per combination is over budget.

  `kept` records of an existing warmup file (existing_warmup='merge') come first.
  """
  if len(combinations) <= max_records - kept:
    return
  per_signature: Dict[str, List[str]] = {}
  for c in combinations:
    per_signature.setdefault(c.label, []).append(str(c.batch_size))
  listing = '; '.join(f"'{name}' at batch sizes {','.join(sizes)}"
                      for name, sizes in per_signature.items())
  raise RecordBudgetError(
      f'{len(combinations)} combinations of signature, batch size and fetch set need at '
      f'least one warmup record each, but max_records is {max_records} (TF Serving '
      f'refuses more than {MAX_RECORDS})'
      + (f', of which the existing warmup file keeps {kept}' if kept else '') +
      f': {listing}. Warm fewer batch sizes (e.g. only the allowed_batch_sizes your '
      'server pads to), fewer output_filters, or fewer signatures'
      + (", or use existing_warmup='replace'" if kept else '') + '.')


def build_warmup_records(serialized_examples: Sequence[bytes],
                         combinations: Sequence[Combination],
                         requests_per_combination: Optional[int] = None,
                         max_records: int = MAX_RECORDS,
                         model_name: str = '') -> List[prediction_log_pb2.PredictionLog]:
  """The records for `combinations` under the budget rule, in combination order."""
  if not serialized_examples:
    raise ExamplesError(
        'The chosen splits hold no examples, so no warmup request can be built. '
        'Point ModelWarmer at a non-empty Examples artifact or split.')
  plans = {p for c in combinations for p in c.plans}
  parsed = None
  if any(p.kind != RequestKind.PREDICT_SERIALIZED for p in plans):
    parsed = [_parse_example(r, i) for i, r in enumerate(serialized_examples)]
  for plan in sorted(plans, key=lambda p: p.name):
    if plan.kind == RequestKind.PREDICT_TENSORS:
      for spec in plan.inputs:
        raw_tensors.check_features_present(parsed, spec, plan.name)
  counts = allocate(combinations, len(serialized_examples), requests_per_combination,
                    max_records)
  n = len(serialized_examples)
  records = []
  for combination, count in zip(combinations, counts):
    b = combination.batch_size
    for request_index in range(count):
      indices = [(request_index * b + i) % n for i in range(b)]
      records.append(_build_record(combination, model_name, indices, serialized_examples,
                                   parsed))
  return records


def _parse_example(record: bytes, index: int) -> tf.train.Example:
  try:
    return tf.train.Example.FromString(record)
  except message.DecodeError as e:
    raise ExamplesError(
        f'Sampled record {index} ({len(record)} bytes) is not a serialized tf.Example '
        f'({e}), so no Classify, Regress or raw-tensor request can be built from it. '
        'Point ModelWarmer at Examples whose records are tf.Examples (ExampleGen '
        'FORMAT_TF_EXAMPLE), or remove the corrupt records.') from e


def _build_record(combination: Combination, model_name: str, indices: List[int],
                  serialized: Sequence[bytes], parsed) -> prediction_log_pb2.PredictionLog:
  plan = combination.plans[0]
  if combination.api == Api.MULTI_INFERENCE:
    request = inference_pb2.MultiInferenceRequest(input=_example_input(parsed, indices))
    for task_plan in combination.plans:
      request.tasks.add(
          model_spec=model_pb2.ModelSpec(
              name=model_name or DEFAULT_MULTI_INFERENCE_MODEL_NAME,
              signature_name=task_plan.name),
          method_name=_API_METHODS[task_plan.kind])
    return prediction_log_pb2.PredictionLog(
        multi_inference_log=prediction_log_pb2.MultiInferenceLog(request=request))

  spec = model_pb2.ModelSpec(name=model_name, signature_name=plan.name)
  if plan.kind == RequestKind.CLASSIFY:
    return prediction_log_pb2.PredictionLog(
        classify_log=prediction_log_pb2.ClassifyLog(
            request=classification_pb2.ClassificationRequest(
                model_spec=spec, input=_example_input(parsed, indices))))
  if plan.kind == RequestKind.REGRESS:
    return prediction_log_pb2.PredictionLog(
        regress_log=prediction_log_pb2.RegressLog(
            request=regression_pb2.RegressionRequest(
                model_spec=spec, input=_example_input(parsed, indices))))

  request = predict_pb2.PredictRequest(model_spec=spec,
                                       output_filter=list(combination.output_filter))
  if plan.kind == RequestKind.PREDICT_SERIALIZED:
    request.inputs[plan.inputs[0].key].CopyFrom(tf.make_tensor_proto(
        [serialized[i] for i in indices], dtype=tf.string, shape=[len(indices)]))
  else:
    batch = [parsed[i] for i in indices]
    for input_spec in plan.inputs:
      request.inputs[input_spec.key].CopyFrom(
          raw_tensors.build_tensor(batch, input_spec, plan.name))
  return prediction_log_pb2.PredictionLog(
      predict_log=prediction_log_pb2.PredictLog(request=request))


def _example_input(parsed, indices: List[int]) -> input_pb2.Input:
  return input_pb2.Input(example_list=input_pb2.ExampleList(
      examples=[parsed[i] for i in indices]))
