"""ModelWarmer's parameters: defaults, validation, and the exec_properties codec.

One place decides what a valid configuration is, so the component can refuse a
bad one when the pipeline is built and the executor when it runs.
"""

import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Sequence

from tfx.utils import json_utils

from tfx_warmup import component_spec as spec
from tfx_warmup.errors import ConfigurationError

DEFAULT_NUM_EXAMPLES = 64
# Chosen by benchmarks/cold_start.py --sweep on traffic at every batch size 1..128:
# powers of two with 4 requests each leave no request slower than 1.24x the
# steady-state worst, for 0.14-0.27 s of replay (README, "Choosing the defaults").
DEFAULT_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)
DEFAULT_TAG_SET = ('serve',)
DEFAULT_SEED = 0
DEFAULT_SAMPLING = 'coverage'
# What to do with a warmup file the input model already has (see README, Existing warmup).
EXISTING_WARMUP_CHOICES = ('replace', 'keep', 'merge')
DEFAULT_EXISTING_WARMUP = 'replace'
DEFAULT_REQUESTS_PER_COMBINATION = 4
# TF Serving's --num_request_iterations_for_warmup: each record is replayed this often.
DEFAULT_NUM_REQUEST_ITERATIONS = 1
SAMPLING_CHOICES = ('uniform', 'stratified', 'coverage')
MAX_RECORDS = 1000  # TF Serving's limit.


@dataclasses.dataclass(frozen=True)
class WarmupOptions:
  """What to sample and which requests to build."""

  num_examples: int = DEFAULT_NUM_EXAMPLES
  splits: Optional[List[str]] = None
  signature_names: Optional[List[str]] = None
  # None: DEFAULT_BATCH_SIZES, or the sizes of batching_parameters_file.
  batch_sizes: Optional[Sequence[int]] = None
  tag_set: Sequence[str] = DEFAULT_TAG_SET
  model_name: str = ''
  seed: int = DEFAULT_SEED
  validate: bool = True
  measure: bool = True
  sampling: str = DEFAULT_SAMPLING
  stratify_feature: Optional[str] = None
  batching_parameters_file: Optional[str] = None
  output_filters: Optional[Dict[str, List[List[str]]]] = None
  max_records: int = MAX_RECORDS
  requests_per_combination: int = DEFAULT_REQUESTS_PER_COMBINATION
  existing_warmup: str = DEFAULT_EXISTING_WARMUP
  num_request_iterations: int = DEFAULT_NUM_REQUEST_ITERATIONS

  def __post_init__(self):
    validate(self)

  def to_exec_properties(self) -> Dict[str, Any]:
    return {
        spec.NUM_EXAMPLES_KEY: self.num_examples,
        spec.SPLITS_KEY: _dumps_optional(self.splits),
        spec.SIGNATURE_NAMES_KEY: _dumps_optional(self.signature_names),
        spec.BATCH_SIZES_KEY: _dumps_optional(self.batch_sizes),
        spec.TAG_SET_KEY: json_utils.dumps(list(self.tag_set)),
        spec.MODEL_NAME_KEY: self.model_name,
        spec.SEED_KEY: self.seed,
        spec.VALIDATE_KEY: int(self.validate),
        spec.MEASURE_KEY: int(self.measure),
        spec.SAMPLING_KEY: self.sampling,
        spec.STRATIFY_FEATURE_KEY: self.stratify_feature,
        spec.BATCHING_PARAMETERS_FILE_KEY: self.batching_parameters_file,
        spec.OUTPUT_FILTERS_KEY: (None if self.output_filters is None
                                  else json_utils.dumps(self.output_filters)),
        spec.MAX_RECORDS_KEY: self.max_records,
        spec.REQUESTS_PER_COMBINATION_KEY: self.requests_per_combination,
        spec.EXISTING_WARMUP_KEY: self.existing_warmup,
        spec.NUM_REQUEST_ITERATIONS_KEY: self.num_request_iterations,
    }

  @classmethod
  def from_exec_properties(cls, props: Mapping[str, Any]) -> 'WarmupOptions':
    return cls(
        num_examples=int(props.get(spec.NUM_EXAMPLES_KEY, DEFAULT_NUM_EXAMPLES)),
        splits=_loads_optional(props.get(spec.SPLITS_KEY)),
        signature_names=_loads_optional(props.get(spec.SIGNATURE_NAMES_KEY)),
        batch_sizes=_loads_optional(props.get(spec.BATCH_SIZES_KEY)),
        tag_set=_loads_optional(props.get(spec.TAG_SET_KEY)) or list(DEFAULT_TAG_SET),
        model_name=props.get(spec.MODEL_NAME_KEY) or '',
        seed=int(props.get(spec.SEED_KEY, DEFAULT_SEED)),
        validate=bool(int(props.get(spec.VALIDATE_KEY, 1))),
        measure=bool(int(props.get(spec.MEASURE_KEY, 1))),
        sampling=props.get(spec.SAMPLING_KEY) or DEFAULT_SAMPLING,
        stratify_feature=props.get(spec.STRATIFY_FEATURE_KEY) or None,
        batching_parameters_file=props.get(spec.BATCHING_PARAMETERS_FILE_KEY) or None,
        output_filters=_loads_optional(props.get(spec.OUTPUT_FILTERS_KEY)),
        max_records=int(props.get(spec.MAX_RECORDS_KEY, MAX_RECORDS)),
        requests_per_combination=int(props.get(spec.REQUESTS_PER_COMBINATION_KEY,
                                               DEFAULT_REQUESTS_PER_COMBINATION)),
        existing_warmup=props.get(spec.EXISTING_WARMUP_KEY) or DEFAULT_EXISTING_WARMUP,
        num_request_iterations=int(props.get(spec.NUM_REQUEST_ITERATIONS_KEY) or
                                   DEFAULT_NUM_REQUEST_ITERATIONS),
    )

  def warmed_batch_sizes(self) -> List[int]:
    """The batch sizes to warm: explicit, from the batching file, or the default."""
    batching = self.batching_config()
    if batching is not None:
      return batching.warmed_batch_sizes()
    return sorted(self.batch_sizes or DEFAULT_BATCH_SIZES)

  def batching_config(self):
    """The server-side batching TF Serving runs the model under, if a file is given."""
    if not self.batching_parameters_file:
      return None
    from tfx_warmup import batching  # pylint: disable=g-import-not-at-top
    return batching.config_from_file(self.batching_parameters_file)


def validate(options: WarmupOptions) -> None:
  """Raises ConfigurationError for values no model or dataset could satisfy."""
  if not _is_int(options.num_examples) or options.num_examples < 1:
    raise ConfigurationError(
        f'num_examples must be a positive integer, got {options.num_examples!r}.'
        ' Set num_examples to how many examples to sample (default '
        f'{DEFAULT_NUM_EXAMPLES}).')
  if options.batch_sizes is not None:
    if (isinstance(options.batch_sizes, (str, bytes)) or
        not list(options.batch_sizes) or
        not all(_is_int(b) and b >= 1 for b in options.batch_sizes)):
      raise ConfigurationError(
          'batch_sizes must be a non-empty list of positive integers, got '
          f'{options.batch_sizes!r}. List the request batch sizes your clients '
          'send, e.g. batch_sizes=[1, 8, 32].')
    if len(set(options.batch_sizes)) != len(list(options.batch_sizes)):
      raise ConfigurationError(
          f'batch_sizes has duplicates: {list(options.batch_sizes)!r}. List each '
          'size once.')
    if options.batching_parameters_file:
      raise ConfigurationError(
          'Pass batch_sizes or batching_parameters_file, not both: with server-side '
          'batching the model runs only the batch sizes the file allows.')
  for name, value in (('splits', options.splits),
                      ('signature_names', options.signature_names)):
    if value is None:
      continue
    if (isinstance(value, (str, bytes)) or not list(value) or
        not all(isinstance(v, str) and v for v in value)):
      raise ConfigurationError(
          f'{name} must be None or a non-empty list of names, got {value!r}. '
          f'Pass e.g. {name}=["{"eval" if name == "splits" else "serving_default"}"]'
          ' or leave it out for the default.')
  if (isinstance(options.tag_set, (str, bytes)) or not list(options.tag_set) or
      not all(isinstance(t, str) and t for t in options.tag_set)):
    raise ConfigurationError(
        f'tag_set must be a non-empty list of tags, got {options.tag_set!r}. '
        "TF Serving loads tag_set=['serve'] unless told otherwise.")
  if not isinstance(options.model_name, str):
    raise ConfigurationError(
        f'model_name must be a string, got {options.model_name!r}.')
  if not _is_int(options.seed):
    raise ConfigurationError(f'seed must be an integer, got {options.seed!r}.')
  if options.existing_warmup not in EXISTING_WARMUP_CHOICES:
    raise ConfigurationError(
        f'existing_warmup must be one of {list(EXISTING_WARMUP_CHOICES)}, got '
        f"{options.existing_warmup!r}. 'replace' writes a new file, 'keep' validates the "
        "model's own, 'merge' adds ours to it.")
  if options.sampling not in SAMPLING_CHOICES:
    raise ConfigurationError(
        f'sampling must be one of {list(SAMPLING_CHOICES)}, got {options.sampling!r}.')
  if (options.sampling == 'stratified') != bool(options.stratify_feature):
    raise ConfigurationError(
        "sampling='stratified' needs stratify_feature (e.g. the label's feature name), "
        'and stratify_feature is used only with it; got '
        f'sampling={options.sampling!r}, stratify_feature={options.stratify_feature!r}.')
  if not _is_int(options.max_records) or not 1 <= options.max_records <= MAX_RECORDS:
    raise ConfigurationError(
        f'max_records must be between 1 and {MAX_RECORDS} (TF Serving refuses to '
        f'load a model with more warmup records), got {options.max_records!r}.')
  if not _is_int(options.num_request_iterations) or options.num_request_iterations < 1:
    raise ConfigurationError(
        'num_request_iterations must be a positive integer (TF Serving\'s '
        '--num_request_iterations_for_warmup, default 1), got '
        f'{options.num_request_iterations!r}.')
  if (not _is_int(options.requests_per_combination) or
      options.requests_per_combination < 1):
    raise ConfigurationError(
        'requests_per_combination must be a positive integer, got '
        f'{options.requests_per_combination!r}.')
  if options.output_filters is not None and not isinstance(options.output_filters, dict):
    raise ConfigurationError(
        'output_filters must map signature names to lists of alias lists, e.g. '
        f"{{'serving_default': [['probabilities'], []]}}, got {options.output_filters!r}.")
  for name in ('validate', 'measure'):
    if not isinstance(getattr(options, name), bool):
      raise ConfigurationError(
          f'{name} must be True or False, got {getattr(options, name)!r}.')


def _is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _dumps_optional(value: Optional[Sequence[str]]) -> Optional[str]:
  return None if value is None else json_utils.dumps(list(value))


def _loads_optional(value: Optional[str]) -> Optional[List[Any]]:
  if value in (None, '', 'null'):
    return None
  return json_utils.loads(value)
