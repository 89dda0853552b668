"""Builds TF Serving warmup records (PredictionLogs) from sampled examples.

For every planned signature and batch size, the sampled examples are cut into
consecutive requests of exactly that batch size (wrapping around the sample
when it is shorter), so each sampled example is sent once per signature and
batch size and every batch size is sent at its true shape.
"""

import math
from typing import List, Optional, Sequence

import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import input_pb2
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.apis import regression_pb2

from tfx_warmup import raw_tensors
from tfx_warmup.errors import ExamplesError, RecordBudgetError
from tfx_warmup.signatures import RequestKind, SignaturePlan

# TF Serving refuses to load a model whose warmup file holds more records.
MAX_RECORDS = 1000


def requests_per_batch_size(num_examples: int, batch_size: int) -> int:
  return max(1, math.ceil(num_examples / batch_size))


def count_records(plans: Sequence[SignaturePlan], batch_sizes: Sequence[int],
                  num_examples: int) -> int:
  return sum(requests_per_batch_size(num_examples, b)
             for plan in plans for b in plan.batch_sizes(batch_sizes))


def check_record_budget(plans: Sequence[SignaturePlan], batch_sizes: Sequence[int],
                        num_examples: int) -> int:
  """Fails before any data is read if the file could exceed TF Serving's limit."""
  total = count_records(plans, batch_sizes, num_examples)
  if total <= MAX_RECORDS:
    return total
  per_plan = ', '.join(
      f"'{p.name}': " + ' + '.join(
          f'{requests_per_batch_size(num_examples, b)} at batch {b}'
          for b in p.batch_sizes(batch_sizes))
      for p in plans)
  raise RecordBudgetError(
      f'This configuration needs {total} warmup records ({per_plan}) but TF '
      f'Serving fails to load a model with more than {MAX_RECORDS}. Each '
      'sampled example is sent once per signature and batch size: lower '
      'num_examples, drop small batch sizes, or limit signature_names.')


def build_warmup_records(serialized_examples: Sequence[bytes],
                         plans: Sequence[SignaturePlan],
                         batch_sizes: Sequence[int],
                         model_name: str = '',
                         requests_per_combination: Optional[int] = None,
                         ) -> List[prediction_log_pb2.PredictionLog]:
  """Records ordered by signature then batch size.

  By default the whole sample is sent once per signature and batch size;
  `requests_per_combination` caps the requests of each (signature, batch size).
  """
  if not serialized_examples:
    raise ExamplesError(
        'The chosen splits hold no examples, so no warmup request can be built. '
        'Point ModelWarmer at a non-empty Examples artifact or split.')
  parsed = None
  if any(p.kind != RequestKind.PREDICT_SERIALIZED for p in plans):
    parsed = [tf.train.Example.FromString(r) for r in serialized_examples]
  records = []
  for plan in plans:
    if plan.kind == RequestKind.PREDICT_TENSORS:
      for spec in plan.inputs:
        raw_tensors.check_features_present(parsed, spec, plan.name)
    for batch_size in plan.batch_sizes(batch_sizes):
      starts = _batch_starts(len(serialized_examples), batch_size)
      for start in starts[:requests_per_combination]:
        indices = [(start + i) % len(serialized_examples) for i in range(batch_size)]
        records.append(_build_record(plan, model_name, indices,
                                     serialized_examples, parsed))
  return records


def _batch_starts(num_examples: int, batch_size: int) -> range:
  return range(0, requests_per_batch_size(num_examples, batch_size) * batch_size,
               batch_size)


def _build_record(plan: SignaturePlan, model_name: str, indices: List[int],
                  serialized: Sequence[bytes], parsed) -> prediction_log_pb2.PredictionLog:
  spec = model_pb2.ModelSpec(name=model_name, signature_name=plan.name)
  if plan.kind in (RequestKind.CLASSIFY, RequestKind.REGRESS):
    examples = input_pb2.Input(example_list=input_pb2.ExampleList(
        examples=[parsed[i] for i in indices]))
    if plan.kind == RequestKind.CLASSIFY:
      return prediction_log_pb2.PredictionLog(
          classify_log=prediction_log_pb2.ClassifyLog(
              request=classification_pb2.ClassificationRequest(
                  model_spec=spec, input=examples)))
    return prediction_log_pb2.PredictionLog(
        regress_log=prediction_log_pb2.RegressLog(
            request=regression_pb2.RegressionRequest(model_spec=spec, input=examples)))

  request = predict_pb2.PredictRequest(model_spec=spec)
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
