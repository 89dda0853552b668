"""Component and spec: wiring, parameter encoding, refusal of impossible settings."""

import inspect

import pytest
from tfx import types
from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import json_utils

import tfx_warmup
from tfx_warmup import ModelWarmer
from tfx_warmup.component import spec
from tfx_warmup.component import executor
from tfx_warmup.options import parameters
from tfx_warmup.errors import ConfigurationError
from tfx_warmup.options.warmup_options import WarmupOptions

RuntimeParameter = tfx.dsl.experimental.RuntimeParameter


def _channels():
  return (types.Channel(type=standard_artifacts.Model),
          types.Channel(type=standard_artifacts.Examples))


def test_public_api():
  assert tfx_warmup.__all__ == ['ModelWarmer']
  assert ModelWarmer.EXECUTOR_SPEC.executor_class is executor.Executor


def test_construction_with_defaults():
  model, examples = _channels()
  warmer = ModelWarmer(model=model, examples=examples)
  assert warmer.outputs[spec.WARMED_MODEL_KEY].type is standard_artifacts.Model
  assert warmer.inputs[spec.MODEL_KEY] is model
  assert warmer.exec_properties == {
      'num_examples': 64, 'splits': None, 'signature_names': None,
      'batch_sizes': None, 'tag_set': '["serve"]', 'model_name': '',
      'seed': 0, 'validate': 1, 'measure': 1,
      'sampling': 'coverage', 'stratify_feature': None,
      'batching_parameters_file': None, 'output_filters': None,
      'max_records': 1000,
      'requests_per_combination': 1,
      'existing_warmup': 'replace', 'num_request_iterations': 1,
      'strip_unread_features': 1, 'drop_features': None,
      'measure_swap': 0, 'swap_qps': None, 'swap_deadline_ms': None,
      'swap_candidates': '["pools", "allocator", "threads"]', 'swap_memory_limit': None,
      'traffic_logs': None, 'traffic_format': None, 'traffic_api': None,
      'traffic_payloads': 'requests', 'max_refused_traffic': 0.0}
  assert spec.BASELINE_MODEL_KEY not in warmer.inputs  # Optional: the swap is from `model`.
  assert spec.TRAFFIC_KEY not in warmer.inputs


def test_exec_properties_round_trip():
  options = WarmupOptions(num_examples=5, splits=['eval'], signature_names=['a', 'b'],
                          batch_sizes=[1, 16], tag_set=['serve', 'gpu'], model_name='m',
                          seed=9, validate=False, measure=False, sampling='stratified',
                          stratify_feature='label', output_filters={'a': [['x'], []]},
                          max_records=10, requests_per_combination=2, existing_warmup='merge',
                          num_request_iterations=3, strip_unread_features=False,
                          drop_features=['user_email'], measure_swap=True, swap_qps=300,
                          swap_deadline_ms=20)
  assert WarmupOptions.from_exec_properties(options.to_exec_properties()) == options


@pytest.mark.parametrize('kwargs,message', [
    ({'existing_warmup': 'append'}, "existing_warmup must be one of .*'merge'"),
    ({'num_request_iterations': 0}, 'num_request_iterations must be a positive integer'),
    ({'num_examples': 0}, 'num_examples must be a positive integer'),
    ({'batch_sizes': []}, 'batch_sizes must be a non-empty list'),
    ({'batch_sizes': [1, -8]}, 'batch_sizes must be a non-empty list'),
    ({'batch_sizes': [4, 4]}, 'duplicates'),
    ({'splits': 'eval'}, 'splits must be None or a non-empty list'),
    ({'signature_names': []}, 'signature_names must be None or a non-empty list'),
    ({'tag_set': []}, 'tag_set must be a non-empty list'),
    ({'validate': 'yes'}, 'validate must be True or False'),
    ({'sampling': 'random'}, 'sampling must be one of'),
    ({'sampling': 'stratified'}, 'needs stratify_feature'),
    ({'stratify_feature': 'label'}, 'needs stratify_feature'),
    ({'max_records': 1001}, 'max_records must be between 1 and 1000'),
    ({'requests_per_combination': 0}, 'requests_per_combination must be a positive'),
    ({'batch_sizes': [1], 'batching_parameters_file': 'b.txt'}, 'not both'),
    ({'output_filters': [['x']]}, 'output_filters must map signature names'),
    ({'output_filters': {'a': ['x']}}, 'output_filters must map signature names'),
    ({'model_name': None}, 'model_name must be a string'),
])
def test_impossible_settings_fail_when_the_pipeline_is_built(kwargs, message):
  model, examples = _channels()
  with pytest.raises(ConfigurationError, match=message):
    ModelWarmer(model=model, examples=examples, **kwargs)


def test_signature_is_the_declaration():
  """ModelWarmer's keyword arguments and defaults are the declared parameters, in order."""
  signature = inspect.signature(ModelWarmer.__init__).parameters
  assert list(signature)[:3] == ['self', 'model', 'examples']
  assert list(signature)[-2:] == ['baseline_model', 'traffic']  # Optional channels, last.
  assert [(name, p.default) for name, p in list(signature.items())[3:-2]] == [
      (p.name, p.default) for p in parameters.PARAMETERS]


def test_docstring_documents_every_parameter():
  doc = ModelWarmer.__init__.__doc__
  missing = [p.name for p in parameters.PARAMETERS if f'\n      {p.name}: ' not in doc]
  assert not missing


def test_spec_keys_and_types_as_orchestrators_carry_them():
  """The key constants pipelines use, and ints for numbers and flags, strings for the rest."""
  ints = ['num_examples', 'seed', 'validate', 'measure', 'max_records',
          'requests_per_combination', 'num_request_iterations', 'strip_unread_features',
          'measure_swap', 'swap_qps', 'swap_deadline_ms']
  strings = ['splits', 'signature_names', 'batch_sizes', 'tag_set', 'model_name', 'sampling',
             'stratify_feature', 'batching_parameters_file', 'output_filters',
             'existing_warmup', 'drop_features', 'traffic_logs', 'traffic_format',
             'traffic_api', 'traffic_payloads', 'swap_candidates', 'swap_memory_limit']
  floats = ['max_refused_traffic']
  assert set(ints + strings + floats) == set(spec.ModelWarmerSpec.PARAMETERS)
  assert {k: p.type for k, p in spec.ModelWarmerSpec.PARAMETERS.items()} == {
      **dict.fromkeys(ints, int), **dict.fromkeys(strings, str), **dict.fromkeys(floats, float)}


def test_exec_properties_are_the_bytes_tfx_json_utils_writes():
  """Cached executions and existing pipelines keep matching after the move to plain json."""
  properties = WarmupOptions(splits=['eval', 'train'], batch_sizes=(8, 1),
                             output_filters={'b': [['y', 'x']], 'a': [[]]}).to_exec_properties()
  for key, value in (('splits', ['eval', 'train']), ('batch_sizes', [8, 1]),
                     ('tag_set', ['serve']), ('output_filters', {'b': [['y', 'x']], 'a': [[]]})):
    assert properties[key] == json_utils.dumps(value)
  assert properties['tag_set'] == '["serve"]'


def test_exec_properties_as_orchestrators_deliver_them():
  """Floats and strings for ints, 0/1 for flags, missing keys (older pipelines): defaults."""
  options = WarmupOptions.from_exec_properties({
      'num_examples': 8.0, 'seed': '3', 'validate': 0,
      'measure': 1, 'stratify_feature': '', 'splits': 'null'})
  assert options == WarmupOptions(num_examples=8, seed=3, validate=False, measure=True)
  for key, value, message in (('num_examples', 0, 'num_examples must be a positive'),
                              ('num_examples', 2.5, 'num_examples must be a positive'),
                              ('validate', 2, 'validate must be True or False'),
                              ('sampling', 'random', 'sampling must be one of')):
    with pytest.raises(ConfigurationError, match=message):
      WarmupOptions.from_exec_properties({key: value})


def test_runtime_parameters_are_accepted_for_primitive_parameters():
  model, examples = _channels()
  num_examples = RuntimeParameter(name='num_examples', ptype=int, default=64)
  validate = RuntimeParameter(name='validate', ptype=int, default=1)
  sampling = RuntimeParameter(name='sampling', ptype=str)  # No default: checked at run time.
  warmer = ModelWarmer(model=model, examples=examples, num_examples=num_examples,
                       validate=validate, sampling=sampling, stratify_feature='label')
  assert warmer.exec_properties['num_examples'] is num_examples
  assert warmer.exec_properties['validate'] is validate
  assert warmer.exec_properties['sampling'] is sampling
  assert warmer.exec_properties['stratify_feature'] == 'label'
  assert warmer.exec_properties['seed'] == 0


@pytest.mark.parametrize('kwargs,message', [
    ({'batch_sizes': RuntimeParameter(name='b', ptype=str, default='[1]')},
     'batch_sizes cannot be a RuntimeParameter'),
    ({'num_examples': RuntimeParameter(name='n', ptype=str, default='64')},
     'num_examples takes a RuntimeParameter of ptype=int, got ptype=str'),
    ({'validate': RuntimeParameter(name='v', ptype=int, default=2)},
     'validate must be True or False, got 2'),
    ({'num_examples': RuntimeParameter(name='n', ptype=int, default=-1)},
     'num_examples must be a positive integer, got -1'),
    # A value known now is still checked against a rule it shares with a default known now.
    ({'sampling': RuntimeParameter(name='s', ptype=str, default='stratified')},
     'needs stratify_feature'),
])
def test_runtime_parameters_that_can_never_work_fail_when_the_pipeline_is_built(kwargs, message):
  model, examples = _channels()
  with pytest.raises(ConfigurationError, match=message):
    ModelWarmer(model=model, examples=examples, **kwargs)


def test_an_unknown_parameter_is_named_as_python_names_it():
  model, examples = _channels()
  with pytest.raises(TypeError, match="ModelWarmer.. got an unexpected keyword argument "
                                      "'num_exampels'"):
    ModelWarmer(model=model, examples=examples, num_exampels=3)


def test_traffic_stands_for_the_examples_or_beside_them():
  model, examples = _channels()
  traffic = types.Channel(type=standard_artifacts.InferenceResult)
  warmer = ModelWarmer(model=model, traffic=traffic)  # The logged requests are the records.
  assert warmer.inputs[spec.TRAFFIC_KEY] is traffic and spec.EXAMPLES_KEY not in warmer.inputs
  with pytest.raises(ConfigurationError, match='needs examples'):
    ModelWarmer(model=model)
  with pytest.raises(ConfigurationError, match='needs examples'):
    ModelWarmer(model=model, traffic=traffic, traffic_payloads='examples')
  with pytest.raises(ConfigurationError, match='not both'):
    ModelWarmer(model=model, examples=examples, traffic=traffic, traffic_logs='logs/*')
  with pytest.raises(ConfigurationError, match='traffic_format, traffic_api and '):
    ModelWarmer(model=model, examples=examples, traffic_api='classify')
  warmer = ModelWarmer(model=model, traffic_logs=RuntimeParameter(
      name='logs', ptype=str, default='gs://b/logs/*'), max_refused_traffic=0.01)
  assert warmer.exec_properties['max_refused_traffic'] == 0.01
