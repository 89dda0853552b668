"""Reliability: every bad input fails cleanly, nothing is half-written, existing warmup files.

Each bad-input case runs the executor as TFX does and checks three things: the
error type, a message naming the cause and the fix (the fragment the README's
Reliability table quotes), and that no output (artifact contents or staging
directory) is left behind.
"""

import dataclasses
import os
import re
from typing import Callable, Dict, List, Type

import pytest
import tensorflow as tf
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts

from tests import models
from tests.pipelines import checks as pipeline_checks
from tfx_warmup import serving
from tfx_warmup.component import executor
from tfx_warmup.component import metadata
from tfx_warmup.component import spec
from tfx_warmup.data import examples as examples_lib
from tfx_warmup.errors import (ConfigurationError, ConversionError, ExamplesError, ModelError,
                               OutputError, RecordBudgetError, USER_ERRORS)
from tfx_warmup.library import output as warmed_model
from tfx_warmup.library import run
from tfx_warmup.options import WarmupOptions
from tfx_warmup.requests import build
from tfx_warmup.serving import framing
from tfx_warmup.serving import warmup_file


@dataclasses.dataclass
class Case:
  """A bad input: how to make it, the error type, and the README's words for it."""
  name: str
  make: Callable[['Inputs'], Dict]  # Returns overrides of the run's arguments.
  error: Type[Exception]
  fragment: str
  tfx116: bool = False  # needs what only the TFX 1.16 stack installs (the marker)


@dataclasses.dataclass
class Inputs:
  root: str
  tf1_model: str  # Model artifact URIs (each holds Format-Serving/).
  keras_model: str
  examples: List[tf.train.Example]

  def artifact(self, name: str, splits: Dict[str, List[bytes]], gzip: bool = True):
    return models.write_examples_artifact(os.path.join(self.root, name), splits, gzip=gzip)

  def good(self, name: str = 'good'):
    return self.artifact(name, {'eval': [e.SerializeToString() for e in self.examples]})

  def mutated(self, name: str, mutate: Callable[[tf.train.Example], None]):
    examples = [tf.train.Example.FromString(e.SerializeToString()) for e in self.examples]
    for e in examples:
      mutate(e)
    return self.artifact(name, {'eval': [e.SerializeToString() for e in examples]})


def _damaged_shard(inputs: Inputs, name: str, damage: Callable[[bytes], bytes],
                   gzip: bool = True):
  artifact = inputs.artifact(name, {'eval': [e.SerializeToString() for e in inputs.examples]},
                             gzip=gzip)
  split_dir = os.path.join(artifact.uri, 'Split-eval')
  (shard,) = os.listdir(split_dir)
  with open(os.path.join(split_dir, shard), 'rb') as f:
    data = f.read()
  with open(os.path.join(split_dir, shard), 'wb') as f:
    f.write(damage(data))
  return {'examples': artifact}


# A real TFX export (the taxi pipeline's, 2020) whose op TensorFlow 2.16 has no kernel for.
TFX_OLD_TAXI_EXPORT = os.path.join(models.TFX_TESTDATA, 'pusher', 'model_push', '1584391735')


def _unloadable_model(inputs: Inputs):
  # With a corrupt shard too: the model must be refused before any data is read.
  return {'model': models.tfx_testdata('pusher', 'model_push', '1584391735'),
          **_damaged_shard(inputs, 'unread', lambda d: b'x' * 50)}


def _payload(inputs: Inputs, fmt: int):
  artifact = inputs.good('parquet')
  examples_utils.set_payload_format(artifact, fmt)
  return {'examples': artifact}


def _no_splits(inputs: Inputs):
  artifact = inputs.good('no_splits')
  artifact.split_names = '[]'
  return {'examples': artifact}


FORGED = framing.header(1 << 40) + bytes(100)


def _existing_file(inputs: Inputs, name: str, data: bytes, mode: str):
  model = os.path.join(inputs.root, name)
  models.build_tf1_model(os.path.join(model, 'Format-Serving'))
  path = warmup_file.warmup_file_path(os.path.join(model, 'Format-Serving'))
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path, 'wb') as f:
    f.write(data)
  return {'model': model, 'existing_warmup': mode}


def _gzipped_warmup(inputs: Inputs) -> bytes:
  path = os.path.join(inputs.root, 'gz_warmup')
  with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type='GZIP')) as w:
    w.write(b'\n\x00')
  with open(path, 'rb') as f:
    return f.read()


def _keras_with(name: str, mutate: Callable[[tf.train.Example], None]):
  return lambda i: {'model': i.keras_model, 'examples': i.mutated(name, mutate),
                    'signature_names': ['predict_raw']}


def _float_hours(example: tf.train.Example) -> None:
  """'hours' as floats: another dataset's types for a model that parses int64."""
  example.features.feature['hours'].CopyFrom(
      tf.train.Feature(float_list=tf.train.FloatList(value=[3.0])))


def _unrelated(example: tf.train.Example) -> None:
  """Another dataset's features only: every request parses defaults, and would succeed."""
  example.features.feature.clear()
  example.features.feature['user_id'].int64_list.value.append(7)


def _scalar_only_model(inputs: Inputs):
  root = os.path.join(inputs.root, 'scalar_model')
  models.build_scalar_model(os.path.join(root, 'Format-Serving'))
  return {'model': root}


def _keras3_trap(inputs: Inputs):
  """Keras 3 saved with tf.saved_model.save: loads, but every request fails."""
  root = os.path.join(inputs.root, 'keras3_trap')
  models.build_keras3_model(os.path.join(root, 'Format-Serving'), use_export=False)

  def add_inputs(example):  # The trap model's one input is called 'inputs'.
    example.features.feature['inputs'].CopyFrom(example.features.feature['embedding'])
  return {'model': root, 'examples': inputs.mutated('keras3', add_inputs), 'num_examples': 4}


def _unwritable(inputs: Inputs):
  blocker = os.path.join(inputs.root, 'a_file')
  with open(blocker, 'w') as f:
    f.write('not a directory')
  return {'out_uri': os.path.join(blocker, 'warmed_model')}


CASES = [
    Case('Examples artifact with no splits', _no_splits, ExamplesError, 'has no splits'),
    Case('a requested split that does not exist', lambda i: {'splits': ['nope']},
         ExamplesError, "Split(s) ['nope'] not in the Examples artifact"),
    Case('an empty split', lambda i: {'examples': i.artifact('empty', {'eval': []})},
         ExamplesError, 'hold no examples'),
    Case('a model with an op this TensorFlow has no kernel for', _unloadable_model,
         serving.LoadError,
         "its graph needs op 'BoostedTreesBucketize'", tfx116=True),
    Case('a corrupt TFRecord shard', lambda i: _damaged_shard(i, 'garbage', lambda d: b'x' * 50),
         ExamplesError, 'is corrupt or truncated'),
    Case('a truncated TFRecord shard',
         lambda i: _damaged_shard(i, 'truncated', lambda d: d[:-5], gzip=False),
         ExamplesError, 'is corrupt or truncated'),
    Case('a CSV file where a TFRecord shard should be',
         lambda i: _damaged_shard(i, 'csv', lambda d: b'age,hours\n31.5,40\n', gzip=False),
         ExamplesError, 'is a CSV file, not TFRecords of tf.Examples. Run CsvExampleGen'),
    Case('a Parquet (or other non-tf.Example) payload',
         lambda i: _payload(i, example_gen_pb2.PayloadFormat.FORMAT_PARQUET),
         ExamplesError, 'holds FORMAT_PARQUET payloads'),
    Case('examples missing a feature a raw-tensor signature needs',
         _keras_with('no_embedding', lambda e: e.features.feature.pop('embedding')),
         ConversionError, "needs feature 'embedding', which none of the"),
    Case('examples whose feature types differ from what a named signature parses',
         lambda i: {'examples': i.mutated('float_hours', _float_hours),
                    'signature_names': ['regress']}, ExamplesError,
         "do not match what signature 'regress' parses: feature 'hours' is parsed as int64; "
         'the examples hold float'),
    Case('examples no signature can parse',
         lambda i: {'examples': i.mutated('float_hours_all', _float_hours)}, ExamplesError,
         'No signature can be warmed with these examples'),
    Case('examples carrying none of the features the signatures parse',
         lambda i: {'examples': i.mutated('unrelated', _unrelated)}, ExamplesError,
         "carry none of the features signatures 'classify', 'regress' and 'serving_default' "
         'parse (3: age, color, hours); they hold user_id'),
    Case("a feature whose type cannot be cast to the input's dtype",
         _keras_with('bytes_age', lambda e: e.features.feature['age'].CopyFrom(
             tf.train.Feature(bytes_list=tf.train.BytesList(value=[b'old'])))),
         ConversionError, 'cannot be cast to it'),
    Case('a value count that cannot fit a fixed input shape',
         _keras_with('short_embedding', lambda e: e.features.feature['embedding'].CopyFrom(
             tf.train.Feature(float_list=tf.train.FloatList(value=[1.0, 2.0])))),
         ConversionError, 'which takes 3 per example'),
    Case('a SavedModel directory that is missing',
         lambda i: {'model': os.path.join(i.root, 'no_model')}, ModelError,
         'No model at'),
    Case('no `serve` tag set', lambda i: {'tag_set': ['gpu']}, ModelError,
         "has no MetaGraph with the tag set ['gpu']"),
    Case('a signature that does not exist', lambda i: {'signature_names': ['nope']},
         ModelError, "Signature(s) ['nope'] not found"),
    Case('no signature TF Serving can run', _scalar_only_model, ModelError,
         "can be warmed: 'only': input 'x' is a scalar"),
    Case('a model that loads but cannot serve (Keras 3 `tf.saved_model.save`)', _keras3_trap,
         serving.WarmupReplayError, 'Could not find variable', tfx116=True),
    Case('num_examples < 1', lambda i: {'num_examples': 0}, ConfigurationError,
         'num_examples must be a positive integer'),
    Case('batch_sizes empty', lambda i: {'batch_sizes': []}, ConfigurationError,
         'batch_sizes'),
    Case('batch_sizes not positive', lambda i: {'batch_sizes': [0, 8]}, ConfigurationError,
         'batch_sizes'),
    Case('a configuration needing > 1000 records',
         lambda i: {'batch_sizes': list(range(1, 301))}, RecordBudgetError,
         'need at least one warmup record each, but max_records is 1000'),
    Case('an unwritable output location', _unwritable, OutputError,
         'Cannot write the warmed model beside'),
    Case('an existing warmup file that is compressed (keep/merge)',
         lambda i: _existing_file(i, 'gz_model', _gzipped_warmup(i), 'merge'), ModelError,
         'GZIP-compressed'),
    Case('an existing warmup file that is corrupt (keep/merge)',
         lambda i: _existing_file(i, 'bad_model', b'garbage bytes!!', 'keep'), ModelError,
         "existing_warmup='keep', but the input model's warmup file cannot be loaded"),
    # A valid CRC over a length of 2^40: TensorFlow's reader would allocate it and crash.
    Case('an existing warmup file with a forged record length (keep/merge)',
         lambda i: _existing_file(i, 'forged_model', FORGED, 'merge'), ModelError,
         'claims 1,099,511,627,776 bytes (1.0 TiB), but the file holds 112 bytes'),
    Case('an Examples shard with a forged record length',
         lambda i: _damaged_shard(i, 'forged', lambda d: FORGED, gzip=False), ExamplesError,
         'record 0 (at byte 0) claims 1,099,511,627,776 bytes (1.0 TiB), but the file holds '
         '112 bytes'),
]


@pytest.fixture(scope='module')
def inputs(tmp_path_factory, tf1_model_dir, keras_model_dir, examples) -> Inputs:
  return Inputs(str(tmp_path_factory.mktemp('reliability')), os.path.dirname(tf1_model_dir),
                os.path.dirname(keras_model_dir), examples[:40])


def _run(inputs: Inputs, out_uri: str, model: str = None, examples=None, **options):
  options.setdefault('num_examples', 8)
  options.setdefault('batch_sizes', [1, 4])
  return models.run_executor(model or inputs.tf1_model, examples or inputs.good(), out_uri,
                             **options)


def _assert_nothing_written(out_uri: str) -> None:
  assert not os.path.exists(out_uri) or not os.listdir(out_uri)
  parent = os.path.dirname(out_uri)
  if os.path.isdir(parent):
    leftovers = [n for n in os.listdir(parent)
                 if re.search(r'\.(incomplete|replaced|generating)-', n)]
    assert not leftovers, leftovers


@pytest.mark.parametrize('case', [
    pytest.param(c, marks=[pytest.mark.tfx116] if c.tfx116 else []) for c in CASES],
    ids=lambda c: c.name)
def test_bad_input_fails_with_cause_and_fix_and_writes_nothing(case, inputs, tmp_path):
  overrides = case.make(inputs)
  out_uri = overrides.pop('out_uri', str(tmp_path / 'warmed_model'))
  with pytest.raises(case.error) as raised:
    _run(inputs, out_uri, **overrides)
  assert isinstance(raised.value, USER_ERRORS)
  assert case.fragment in str(raised.value)
  _assert_nothing_written(out_uri)


def test_reliability_page_table_lists_every_case():
  with open(pipeline_checks.RELIABILITY_DOC) as f:
    page = f.read()
  table = re.search(r'# Reliability\n(.*?)\n## ', page, re.S).group(1)
  rows = {line.split('|')[1].strip(): line for line in table.splitlines()
          if line.startswith('| ') and not line.startswith('| case')}
  for case in CASES:
    assert case.name in rows, f'docs/reliability.md table lacks: {case.name}'
    assert case.error.__name__ in rows[case.name] and case.fragment in rows[case.name], (
        f'docs/reliability.md row for {case.name!r} does not quote '
        f'{case.error.__name__}: {case.fragment}')


@pytest.mark.tfx116  # the tfx wheel's test models
def test_an_unloadable_model_is_named_by_its_input_path(inputs, tmp_path):
  with pytest.raises(serving.LoadError) as raised:
    _run(inputs, str(tmp_path / 'out'), **_unloadable_model(inputs))
  message = str(raised.value)
  assert f'fail to load {TFX_OLD_TAXI_EXPORT}:' in message
  assert 'incomplete' not in message and 'checkpoint' not in message


# -- existing_warmup ------------------------------------------------------------------


@pytest.fixture
def model_with_warmup(inputs, tmp_path) -> str:
  """A copy of the TF1 model whose own warmup file holds 3 records from an earlier run."""
  earlier = _run(inputs, str(tmp_path / 'earlier'), batch_sizes=[2], requests_per_combination=1,
                 signature_names=['regress'])
  return earlier.uri


def _records(artifact) -> List[bytes]:
  return list(warmup_file.read_records(
      warmup_file.warmup_file_path(os.path.join(artifact.uri, 'Format-Serving'))))


def test_existing_warmup_keep_leaves_the_file_and_validates_it(inputs, model_with_warmup,
                                                               tmp_path):
  own = list(warmup_file.read_records(warmup_file.warmup_file_path(
      os.path.join(model_with_warmup, 'Format-Serving'))))
  warmed = _run(inputs, str(tmp_path / 'out'), model=model_with_warmup, existing_warmup='keep')
  assert _records(warmed) == own


def test_existing_warmup_merge_keeps_its_records_first_and_adds_ours(inputs, model_with_warmup,
                                                                     tmp_path):
  own = list(warmup_file.read_records(warmup_file.warmup_file_path(
      os.path.join(model_with_warmup, 'Format-Serving'))))
  warmed = _run(inputs, str(tmp_path / 'out'), model=model_with_warmup,
                existing_warmup='merge', batch_sizes=[1, 2])
  merged = _records(warmed)
  assert merged[:len(own)] == own
  assert len(merged) == len(set(merged)) > len(own)  # Ours added, duplicates dropped.
  assert serving.replay_warmup(os.path.join(warmed.uri, 'Format-Serving')).records == len(merged)


def test_existing_warmup_merge_stays_within_the_budget(inputs, model_with_warmup, tmp_path):
  kept = len(list(warmup_file.read_records(warmup_file.warmup_file_path(
      os.path.join(model_with_warmup, 'Format-Serving')))))
  warmed = _run(inputs, str(tmp_path / 'out'), model=model_with_warmup,
                existing_warmup='merge', batch_sizes=[1], max_records=kept + 4)
  assert len(_records(warmed)) <= kept + 4
  with pytest.raises(RecordBudgetError, match=f'of which the existing warmup file keeps {kept}'):
    _run(inputs, str(tmp_path / 'over'), model=model_with_warmup, existing_warmup='merge',
         batch_sizes=[1, 2, 4, 8, 16, 32], max_records=kept + 2)


def test_existing_warmup_replace_is_the_default(inputs, model_with_warmup, tmp_path):
  own = set(warmup_file.read_records(warmup_file.warmup_file_path(
      os.path.join(model_with_warmup, 'Format-Serving'))))
  warmed = _run(inputs, str(tmp_path / 'out'), model=model_with_warmup, batch_sizes=[1])
  assert not own & set(_records(warmed))


def test_existing_warmup_keep_without_a_file_is_refused(inputs, tmp_path):
  with pytest.raises(ModelError, match="existing_warmup='keep', but the input model has no"):
    _run(inputs, str(tmp_path / 'out'), existing_warmup='keep')
  _assert_nothing_written(str(tmp_path / 'out'))


# -- atomicity and determinism ----------------------------------------------------------

# Each step of the executor after the staging area exists, and the commit itself.
FAULTS = [
    (examples_lib, 'read_splits'),
    (examples_lib, 'read_sample'),
    (build, 'build_warmup_records'),
    (warmup_file, 'write_warmup_file'),
    (run, 'validate_records'),
    (run, 'measure_cold_start'),
    (warmed_model.StagedOutput, 'write_report'),
    (metadata, 'record_properties'),
]


class InjectedFaultError(Exception):
  pass


@pytest.mark.parametrize('target,name', FAULTS, ids=[n for _, n in FAULTS])
def test_a_crash_at_any_step_leaves_nothing(target, name, inputs, tmp_path, monkeypatch):
  def crash(*args, **kwargs):
    raise InjectedFaultError(name)
  monkeypatch.setattr(target, name, crash)
  out_uri = str(tmp_path / 'warmed_model')
  os.makedirs(out_uri)  # TFX creates the (empty) artifact directory before Do.
  with pytest.raises(InjectedFaultError, match=name):
    _run(inputs, out_uri, measure=True)
  if name == 'record_properties':
    # After the commit: the complete artifact is in place; only MLMD properties are missing.
    assert sorted(os.listdir(out_uri)) == ['Format-Serving', 'warmup_report.json']
    assert serving.replay_warmup(os.path.join(out_uri, 'Format-Serving')).records > 0
  else:
    _assert_nothing_written(out_uri)


def test_a_crash_during_the_commit_leaves_the_old_contents_or_nothing(tmp_path, monkeypatch):
  target = tmp_path / 'target'
  target.mkdir()
  (target / 'old.txt').write_text('old')
  staged = tmp_path / 'staged'
  staged.mkdir()
  (staged / 'new.txt').write_text('new')
  real_rename = warmed_model.fileio.rename
  calls = []

  def rename_then_crash(src, dst, *args, **kwargs):
    calls.append(src)
    if len(calls) == 2:  # Old contents moved aside; crash before the new ones move in.
      raise InjectedFaultError('commit')
    return real_rename(src, dst, *args, **kwargs)
  monkeypatch.setattr(warmed_model.fileio, 'rename', rename_then_crash)
  with pytest.raises(InjectedFaultError):
    warmed_model.commit(str(staged), str(target))
  assert not target.exists()  # Nothing at the target: never a mix of old and new.
  (aside,) = [p for p in tmp_path.iterdir() if '.replaced-' in p.name]
  assert (aside / 'old.txt').read_text() == 'old'


def test_same_inputs_and_seed_give_byte_identical_files_across_worker_counts(inputs, tmp_path):
  files = []
  for i, beam_args in enumerate([['--direct_num_workers=1'],
                                 ['--direct_running_mode=multi_processing',
                                  '--direct_num_workers=2']]):
    warmed = standard_artifacts.Model()
    warmed.uri = str(tmp_path / f'out{i}')
    executor.Executor(executor.Executor.Context(beam_pipeline_args=beam_args)).Do(
        {spec.MODEL_KEY: [models.model_artifact(inputs.keras_model)],
         spec.EXAMPLES_KEY: [inputs.good(f'det{i}')]},
        {spec.WARMED_MODEL_KEY: [warmed]},
        WarmupOptions(measure=False, num_examples=16, batch_sizes=[1, 4], seed=3)
        .to_exec_properties())
    with open(warmup_file.warmup_file_path(os.path.join(warmed.uri, 'Format-Serving')),
              'rb') as f:
      files.append(f.read())
  assert files[0] == files[1] and len(files[0]) > 0
