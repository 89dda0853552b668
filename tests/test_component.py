"""Component and spec: wiring, parameter encoding, refusal of impossible settings."""

import pytest
from tfx import types
from tfx.types import standard_artifacts

import tfx_warmup
from tfx_warmup import ModelWarmer
from tfx_warmup import component_spec as spec
from tfx_warmup import executor
from tfx_warmup import options as options_lib
from tfx_warmup.errors import ConfigurationError
from tfx_warmup.options import WarmupOptions


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
      spec.NUM_EXAMPLES_KEY: 64, spec.SPLITS_KEY: None, spec.SIGNATURE_NAMES_KEY: None,
      spec.BATCH_SIZES_KEY: None, spec.TAG_SET_KEY: '["serve"]', spec.MODEL_NAME_KEY: '',
      spec.SEED_KEY: 0, spec.VALIDATE_KEY: 1, spec.MEASURE_KEY: 1,
      spec.SAMPLING_KEY: 'coverage', spec.STRATIFY_FEATURE_KEY: None,
      spec.BATCHING_PARAMETERS_FILE_KEY: None, spec.OUTPUT_FILTERS_KEY: None,
      spec.MAX_RECORDS_KEY: 1000,
      spec.REQUESTS_PER_COMBINATION_KEY: options_lib.DEFAULT_REQUESTS_PER_COMBINATION,
      spec.EXISTING_WARMUP_KEY: 'replace', spec.NUM_REQUEST_ITERATIONS_KEY: 1}


def test_exec_properties_round_trip():
  options = WarmupOptions(num_examples=5, splits=['eval'], signature_names=['a', 'b'],
                          batch_sizes=[1, 16], tag_set=['serve', 'gpu'], model_name='m',
                          seed=9, validate=False, measure=False, sampling='stratified',
                          stratify_feature='label', output_filters={'a': [['x'], []]},
                          max_records=10, requests_per_combination=2, existing_warmup='merge',
                          num_request_iterations=3)
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
])
def test_impossible_settings_fail_when_the_pipeline_is_built(kwargs, message):
  model, examples = _channels()
  with pytest.raises(ConfigurationError, match=message):
    ModelWarmer(model=model, examples=examples, **kwargs)
