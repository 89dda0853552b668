"""Every message in the user's terms (issue 20), through the installed command.

Each case: exit 1, one `tfx-warmup generate: error:` line saying the cause and the
fix, no traceback, nothing left at --output or beside it, and in the temp
directory only the log file the line names.
"""

import gzip
import os
import re

import fastavro
import pyarrow
import pyarrow.parquet
import pytest
import tensorflow as tf

from tests import models
from tests.cli.command import run, run_all
from tests.cli.test_cli import _one_line_error
from tests.library.test_loading import build_eval_saved_model

pytestmark = pytest.mark.e2e


def _generate_fails(tmp_path, model: str, examples: str, *extra: str) -> str:
  """The one error line of a `generate` that must fail and leave nothing behind."""
  temp = tmp_path / 'tmp'
  temp.mkdir(parents=True)
  output = tmp_path / 'out'
  proc = run('generate', '--model', model, '--examples', examples, '--output', str(output),
             '--batch-sizes', '1', *extra, env={**os.environ, 'TMPDIR': str(temp)})
  line = _one_line_error(proc, 'generate')
  assert not output.exists()
  assert not [p for p in os.listdir(tmp_path) if p.startswith('out.')]
  log = line.rsplit('(library logs: ', 1)[1].rstrip(')')
  assert os.listdir(temp) == [os.path.basename(log)]
  return line


# -- 1. A dtype mismatch is the data's, named by feature ----------------------------------


@pytest.mark.tfx116  # TFX's taxi Estimator and its external TFRecords
def test_taxis_float_trip_seconds_is_blamed_on_the_examples(tmp_path):
  model = models.tfx_testdata('trainer', 'current')
  examples = models.tfx_testdata('external', 'tfrecord') + '/*'
  line = _generate_fails(tmp_path / 'every', model, examples)
  assert f'No signature can be warmed with these examples (the glob at {examples}).' in line
  assert ("feature 'trip_seconds' is parsed as int64; the examples hold float") in line
  assert 'TF Serving would refuse to load this model' not in line
  named = _generate_fails(tmp_path / 'named', model, examples, '--signatures',
                          'classification')
  assert (f"The examples (the glob at {examples}) do not match what signature "
          "'classification' parses: feature 'trip_seconds' is parsed as int64; the examples "
          'hold float.') in named
  assert 'leave the signature out of --signatures' in named  # The flag, not the parameter.


# -- 2. A file of another kind is named, with the ExampleGen that reads it ---------------

CSV = b'age,hours,color\n31.5,40,red\n22.0,12,blue\n'


def _parquet(path):
  pyarrow.parquet.write_table(pyarrow.table({'age': [31.5], 'hours': [40]}), path)


def _avro(path):
  schema = {'type': 'record', 'name': 'Row', 'fields': [{'name': 'age', 'type': 'double'}]}
  with open(path, 'wb') as f:
    fastavro.writer(f, schema, [{'age': 31.5}])


@pytest.mark.parametrize('name,write,said', [
    ('data.csv', lambda p: open(p, 'wb').write(CSV),
     "is a CSV file, not TFRecords of tf.Examples. Run CsvExampleGen(input_base="),
    ('data.parquet', _parquet, 'is a Parquet file, not TFRecords of tf.Examples. TFX reads '
                               'Parquet with FileBasedExampleGen'),
    ('rows.json', lambda p: open(p, 'wb').write(b'{"age": 31.5}\n'),
     'is a JSON file, not TFRecords of tf.Examples. TFX has no ExampleGen for JSON'),
    ('data.avro', _avro, 'is an Avro file, not TFRecords of tf.Examples. TFX reads Avro with'),
    ('data.csv.gz', lambda p: open(p, 'wb').write(gzip.compress(CSV)),
     'is a gzip file holding CSV, not TFRecords of tf.Examples. Run CsvExampleGen'),
])
def test_a_file_that_is_not_tfrecords_is_named_for_what_it_is(tmp_path, tf1_model_dir, name,
                                                             write, said):
  path = str(tmp_path / 'in' / name)
  os.makedirs(os.path.dirname(path))
  write(path)
  line = _generate_fails(tmp_path, tf1_model_dir, path)
  assert f'{path} {said}' in line
  assert 'corrupt' not in line


def test_a_directory_of_csv_files_is_not_called_one_of_tfrecords(tmp_path, tf1_model_dir):
  folder = tmp_path / 'csv'
  folder.mkdir()
  (folder / 'data.csv').write_bytes(CSV)
  line = _generate_fails(tmp_path, tf1_model_dir, str(folder))
  assert (f"{folder / 'data.csv'} is a CSV file, not TFRecords of tf.Examples. Run "
          f"CsvExampleGen(input_base='{folder}')") in line
  assert f'(in the directory at {folder})' in line
  assert 'TFRecord files at' not in line


# -- A model exported for TFMA, and ModelWarmer's own words, in the command line's --------


def test_an_eval_saved_model_names_tag_set_and_the_format_serving_export(tmp_path,
                                                                         tf1_model_dir):
  """TFX's Trainer writes the EvalSavedModel (tag set 'eval') beside Format-Serving/."""
  root = tmp_path / 'model'
  (root / 'Format-Serving').mkdir(parents=True)
  eval_model = build_eval_saved_model(str(root / 'Format-TFMA' / '1646034758'))
  examples = str(tmp_path / 'examples.tfrecord')
  with tf.io.TFRecordWriter(examples) as writer:
    writer.write(models.make_examples(1)[0].SerializeToString())
  procs = run_all({
      'verify': ['verify', str(root / 'Format-TFMA')],
      'generate': ['generate', '--model', eval_model, '--examples', examples, '--output',
                   str(tmp_path / 'out')],
      'inspect': ['inspect', eval_model],
      'other tags': ['verify', tf1_model_dir, '--tag-set', 'serve,gpu']})
  for command in ('verify', 'generate', 'inspect'):
    line = _one_line_error(procs[command], command)
    assert "it has [['eval']]. It is an EvalSavedModel, exported for TFMA" in line, line
    assert f"warm the model exported for serving, {root / 'Format-Serving'}, the Trainer's " \
        "Format-Serving/ (or the Model artifact holding it), rather than setting --tag-set " \
        "to 'eval'." in line, line
    assert '--saved_model_tags' not in line and 'tag_set' not in line
  line = _one_line_error(procs['other tags'], 'verify')
  assert "Set --tag-set to one of those (the tags TF Serving is started with)" in line
  assert not (tmp_path / 'out').exists()


def test_modelwarmer_s_advice_names_the_flag_typed(tmp_path, tf1_model_dir):
  empty = str(tmp_path / 'in' / 'empty.tfrecord')
  os.makedirs(os.path.dirname(empty))
  with tf.io.TFRecordWriter(empty):
    pass
  line = _generate_fails(tmp_path, tf1_model_dir, empty)
  assert 'Point --examples at a non-empty Examples artifact or split.' in line
  assert 'ModelWarmer' not in line


# -- 3 and 4. Runners: refused by name, failures in one line with the log --------------


@pytest.mark.parametrize('runner', ['DaskRunner',
                                    'apache_beam.runners.dask.dask_runner.DaskRunner'])
def test_dask_is_refused_by_name_with_the_reason(tmp_path, tf1_model_dir, examples_file,
                                                 runner):
  line = _generate_fails(tmp_path, tf1_model_dir, examples_file, f'--beam-arg=--runner={runner}')
  assert f'The Beam runner {runner} is not supported: ' in line
  assert 'no translation for Read' in line


def test_a_misspelt_runner_lists_the_runners(tmp_path, tf1_model_dir, examples_file):
  line = _generate_fails(tmp_path, tf1_model_dir, examples_file, '--beam-arg=--runner=Flinc')
  assert "Beam has no runner named 'Flinc'. Use one of DirectRunner" in line


def test_a_runner_that_fails_is_one_line_and_its_story_is_in_the_log(tmp_path, tf1_model_dir,
                                                                     examples_file):
  line = _generate_fails(
      tmp_path, tf1_model_dir, examples_file,
      '--beam-arg=--runner=apache_beam.runners.portability.portable_runner.PortableRunner',
      '--beam-arg=--job_endpoint=localhost:1', '--beam-arg=--job_server_timeout=2',
      '--beam-arg=--environment_type=LOOPBACK')
  assert ("Beam's PortableRunner failed while sampling the examples: FutureTimeoutError. No "
          'job service answered within --job_server_timeout') in line
  log = line.rsplit('(library logs: ', 1)[1].rstrip(')')
  with open(log) as f:
    assert 'Traceback' in f.read()


@pytest.fixture(scope='module')
def examples_file(tmp_path_factory, examples):
  path = str(tmp_path_factory.mktemp('examples') / 'eval.tfrecord')
  with tf.io.TFRecordWriter(path) as writer:
    for example in examples[:64]:
      writer.write(example.SerializeToString())
  return path


# -- 5. Summaries a person reads --------------------------------------------------------


def test_label_less_data_has_nothing_to_strip_and_says_so(tmp_path, tf1_model_dir, examples):
  path = str(tmp_path / 'served.tfrecord')
  with tf.io.TFRecordWriter(path) as writer:  # Only what the model parses: no label.
    for example in examples[:64]:
      served = tf.train.Example()
      for name in ('age', 'hours', 'color'):
        served.features.feature[name].CopyFrom(example.features.feature[name])
      writer.write(served.SerializeToString())
  proc = run('generate', '--model', tf1_model_dir, '--examples', path, '--output',
             str(tmp_path / 'out'), '--batch-sizes', '1')
  assert proc.returncode == 0, proc.stderr
  assert ('Nothing to strip: every feature the records carry is read by their signatures.'
          in proc.stdout)
  assert 'stripped records proven' not in proc.stdout
  # Signatures reading the same features share one row, wrapped to the terminal.
  inspected = run('inspect', str(tmp_path / 'out'), env={**os.environ, 'COLUMNS': '50'})
  assert inspected.returncode == 0, inspected.stderr
  rows = inspected.stdout.split('Features the records carry:\n', 1)[1].splitlines()
  assert re.split(r'\s{2,}', rows[2])[-1] == 'age, color, hours'  # The features cell.
  assert sum('age, color, hours' in row for row in rows) == 1
  # A name is never broken, the MultiInference's 'classify+regress' included.
  assert [row.split()[0] for row in rows[2:6]] == [
      'classify,', 'classify+regress,', 'regress,', 'serving_default']
  assert all(len(row) <= 50 for row in rows[:6])
