"""Request/response helpers and servable wrappers shared by the ported TF Serving tests.

The model and SignatureDef builders live in tests/serving/models.py; this
module holds what the tests build round them: module-scoped servables of a
model fixture, servables of a loaded graph behind hand-written SignatureDefs,
tf.Examples, requests and inputs, and the "both C++ paths" helpers of the
classifier and regressor tests.
"""

import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

from tests import models
from tfx_warmup import serving

# -- Servables -------------------------------------------------------------------------------


def servable_fixture(model_dir_fixture, doc, *, session=False, **load_kwargs):
  """A module-scoped fixture: `serving.load` of the model fixture `model_dir_fixture`.

  It yields the loaded servable (its `.session` with session=True); doc is the
  fixture's docstring; load_kwargs go to `serving.load`.
  """
  def fixture(request):
    with serving.load(request.getfixturevalue(model_dir_fixture), **load_kwargs) as servable:
      yield servable.session if session else servable
  fixture.__doc__ = doc
  return pytest.fixture(scope='module')(fixture)


def graph_servable_fixture(name, build_graph):
  """A module-scoped fixture: the servable of `models.build_graph_model(.., build_graph)`.

  The C++ fake/mock sessions' graphs, saved under <tmp>/<name>/1.
  """
  def fixture(tmp_path_factory):
    model = models.build_graph_model(str(tmp_path_factory.mktemp(name) / '1'), build_graph)
    with serving.load(model) as servable:
      yield servable
  fixture.__doc__ = 'The loaded graph; tests put their own SignatureDefs in front of its session.'
  return pytest.fixture(scope='module')(fixture)


def method_check_fixture(doc):
  """The `check` fixture: a TEST_P's ::testing::Bool() parameter, the method-name check."""
  def check(request):
    return request.param
  check.__doc__ = doc
  return pytest.fixture(params=[False, True], ids=['method_check_off', 'method_check_on'])(check)


def with_signatures(loaded, signatures, method_name_check):
  """The servable `loaded`'s session behind `signatures` ({name: SignatureDef}) only."""
  meta_graph_def = meta_graph_pb2.MetaGraphDef()
  meta_graph_def.CopyFrom(loaded.meta_graph_def)
  meta_graph_def.ClearField('signature_def')
  for name, signature in signatures.items():
    meta_graph_def.signature_def[name].CopyFrom(signature)
  return serving.Servable(loaded.export_dir, loaded.session, meta_graph_def,
                         method_name_check=method_name_check)


# -- Examples, inputs and requests -----------------------------------------------------------


def float_example(**features):
  """A tf.Example of float features: float_example(x=2.0) is Example{x: [2.0]}."""
  example = tf.train.Example()
  for key, value in features.items():
    example.features.feature[key].float_list.value.append(value)
  return example


def fill_input(model_input, field=None, examples=(), context=None):
  """Touches `model_input` (an Input) and, with a field, fills that oneof member.

  field is 'example_list' or 'example_list_with_context'; it is touched even
  when left without examples and context, as the C++ tests' SetInParent does.
  Returns model_input.
  """
  model_input.SetInParent()
  if field is not None:
    listed = getattr(model_input, field)
    listed.SetInParent()
    listed.examples.extend(examples)
    if context is not None:
      listed.context.CopyFrom(context)
  return model_input


def example_request(request_type, examples=None, signature_name='', model_name=None):
  """A Classification/RegressionRequest; None leaves the examples (and model name) unset."""
  request = request_type()
  if model_name is not None:
    request.model_spec.name = model_name
  request.model_spec.signature_name = signature_name
  if examples is not None:
    request.input.example_list.examples.extend(examples)
  return request


def add_tasks(request, tasks, model_name):
  """PopulateTask for each (signature_name, method_name[, model name]) of a MultiInferenceRequest.

  A task without a model name of its own gets `model_name`. Returns request.
  """
  for signature_name, method_name, *name in tasks:
    task = request.tasks.add(method_name=method_name)
    task.model_spec.name = name[0] if name else model_name
    task.model_spec.signature_name = signature_name
  return request


# -- Both C++ paths (Classifier::Classify / RunClassify, Regressor::Regress / RunRegress) --


def both_paths(api):
  """(answer_both, fail_both) of servable.<api> ('classify' or 'regress').

  Each takes (servable, request) and sends the request twice, for the C++
  API call and its Run* function: answer_both checks that both answer with
  equal results and returns the result; fail_both that both fail alike, and
  returns the RequestError.
  """
  def answer_both(servable, request):
    results = [getattr(servable, api)(request).result for _ in range(2)]
    assert results[0] == results[1]
    return results[0]

  def fail_both(servable, request):
    errors = []
    for _ in range(2):
      with pytest.raises(serving.RequestError) as error:
        getattr(servable, api)(request)
      errors.append(error.value)
    assert (errors[0].code, errors[0].message) == (errors[1].code, errors[1].message)
    return errors[0]

  return answer_both, fail_both


def assert_input_is_empty(error):
  """The EmptyInput / EmptyExampleList / EmptyExampleListWithContext status."""
  assert error.code == 'INVALID_ARGUMENT'
  assert 'Input is empty' in error.message


def assert_invalid_argument(error, fragment, message):
  """The RequestError is INVALID_ARGUMENT `message`, and its text names `fragment`."""
  assert fragment in str(error)
  assert (error.code, error.message) == ('INVALID_ARGUMENT', message)


def assert_method_name_check(servable_for, signatures, check, api, request, expected):
  """ClassifierTest / RegressorTest::MethodNameCheck (the Run* path only).

  `api` is ('classify', 'classification', 'tensorflow/serving/classify') or its
  regress counterpart; servable_for(signatures) serves them; expected is the
  result of a request that is answered.
  """
  call_name, kind, method = api
  default = signatures['serving_default']

  # Legit method name. Should always work.
  default.method_name = method
  assert getattr(servable_for(signatures), call_name)(request).result == expected

  # Unsupported method name, then an empty one, fail when the check is enabled.
  for method_name in ('not/supported/method', ''):
    default.method_name = method_name
    call = getattr(servable_for(signatures), call_name)
    if check:
      with pytest.raises(serving.RequestError) as error:
        call(request)
      assert (error.value.code, error.value.message) == (
          'INVALID_ARGUMENT', f'Expected {kind} signature method_name to be '
          f'{method}. Was: {method_name}')
    else:
      assert call(request).result == expected
