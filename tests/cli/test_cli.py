"""The `tfx-warmup` command line, driven as a user drives it: a process per command.

Commands run in processes forked from one that imported TensorFlow once (`command`);
what only the installed console script's own start-up shows runs it (`TFX_WARMUP`).
"""

import json
import os
import pty
import struct
import subprocess

import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tests import models
from tests.cli.command import TFX_WARMUP, run, run_all
from tfx_warmup import report as report_lib
from tfx_warmup.cli import parser as cli_parser
from tfx_warmup.serving import records as records_lib
from tfx_warmup.serving import warmup_file

# Runs a whole pipeline or the installed command: slow; `make test-fast` leaves it out.
pytestmark = pytest.mark.e2e

def _one_line_error(proc: subprocess.CompletedProcess, command: str) -> str:
  """A user mistake: exit 1, one `tfx-warmup COMMAND: error:` line, no traceback."""
  assert proc.returncode == 1, proc.stderr
  assert 'Traceback' not in proc.stderr
  lines = [line for line in proc.stderr.splitlines()
           if line.startswith(f'tfx-warmup {command}: error:')]
  assert len(lines) == 1, proc.stderr
  return lines[0]


def _write_tfrecord(path: str, records, compression: str = '') -> str:
  with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type=compression)) as w:
    for record in records:
      w.write(record)
  return path


# The `data` and `generated` fixtures (the examples as files, one `generate` run) are
# session-scoped, in conftest.py: test_swap.py drives the same warmed copy.


def test_generate_writes_a_warmed_copy_and_reports_in_the_shared_schema(generated,
                                                                        keras_model_dir):
  _, report, output = generated
  assert report_lib.WarmupReport.from_dict(report).to_dict() == report  # The typed schema.
  assert report['schema_version'] == report_lib.SCHEMA_VERSION
  assert report['model'] == output
  assert report['validation']['records'] == report['warmup_file']['records'] > 0
  assert report['validation']['fresh_load'] is False  # After the checks: not what a load pays.
  assert {(r['signature'], r['batch_size']) for r in report['warmup_file']['summary']} == {
      (s, b) for s in ('serving_default', 'predict_raw') for b in (1, 8)}
  assert report['sample']['splits'] == ['examples']
  # A complete SavedModel at --output, the input left untouched.
  assert tf.io.gfile.exists(os.path.join(output, 'saved_model.pb'))
  assert len(warmup_file.read_warmup_file(warmup_file.warmup_file_path(output))) == (
      report['warmup_file']['records'])
  assert not tf.io.gfile.exists(warmup_file.warmup_file_path(keras_model_dir))
  assert not [n for n in os.listdir(os.path.dirname(output)) if 'generating' in n]


def test_inspect_reads_the_generated_model(generated):
  _, report, output = generated
  proc = run('inspect', output)
  assert proc.returncode == 0, proc.stderr
  assert 'predict_raw' in proc.stdout and 'outputs' in proc.stdout
  assert 'Features the records carry:' in proc.stdout
  assert f"TF Serving would accept all {report['warmup_file']['records']} records." in proc.stdout
  as_json = json.loads(run('inspect', output, '--json').stdout)
  assert as_json['warmup_file']['summary'] == report['warmup_file']['summary']
  assert as_json['warmup_file']['problems'] == []


def test_verify_measures_and_plots_a_png(generated, tmp_path):
  _, report, output = generated
  plot = tmp_path / 'cold_start.png'
  proc = run('verify', output, '--measure', '--plot', str(plot), '--json')
  assert proc.returncode == 0, proc.stderr
  verified = json.loads(proc.stdout)
  assert verified['validation']['records'] == report['warmup_file']['records']
  assert verified['validation']['fresh_load'] is True  # Right after the load: what it pays.
  rows = verified['cold_start']['requests']
  assert {(r['signature'], r['batch_size']) for r in rows} == {
      (r['signature'], r['batch_size']) for r in report['warmup_file']['summary']}
  assert all(r['first_ms_without_warmup'] > 0 and r['steady_p99_ms'] > 0 for r in rows)
  assert report_lib.WarmupReport.from_dict(verified).cold_start.measured
  png = plot.read_bytes()
  assert png[:8] == b'\x89PNG\r\n\x1a\n' and png[12:16] == b'IHDR'
  width, height = struct.unpack('>II', png[16:24])
  assert width >= 400 and height >= 300 and len(png) > 10_000


def test_verify_text_output(generated):
  _, _, output = generated
  proc = run('verify', output)
  assert proc.returncode == 0, proc.stderr
  assert f'OK: TF Serving would load {output} and replay its' in proc.stdout
  assert 'Replayed in the TF Serving replica right after the load, as TF Serving does' in (
      proc.stdout)


def test_generate_refuses_a_non_empty_output_unless_overwrite(data, keras_model_dir, tmp_path):
  output = tmp_path / 'out'
  output.mkdir()
  (output / 'keep.txt').write_text('mine')
  args = ['generate', '--model', keras_model_dir, '--examples', str(data / 'eval-*'),
          '--output', str(output), '--batch-sizes', '1']
  line = _one_line_error(run(*args), 'generate')
  assert '--overwrite' in line
  assert os.listdir(output) == ['keep.txt']
  assert run(*args, '--overwrite').returncode == 0
  assert 'keep.txt' not in os.listdir(output)
  assert 'saved_model.pb' in os.listdir(output)


def test_generate_strips_and_refuses_dropping_a_feature_a_signature_reads(data, keras_model_dir,
                                                                          generated, tmp_path):
  _, report, _ = generated  # The examples carry a label no signature reads.
  assert report['stripping']['dropped'] == {'serving_default': ['label']}
  assert 'label' not in report['warmup_file']['features']['serving_default']
  output = tmp_path / 'out'
  args = ['generate', '--model', keras_model_dir, '--examples', str(data / 'eval-*'),
          '--output', str(output), '--batch-sizes', '1']
  line = _one_line_error(run(*args, '--drop-features', 'label,age'), 'generate')
  # In the command line's words: its flags, not ModelWarmer's parameter names.
  assert "--drop-features lists 'age', but signature 'predict_raw'" in line
  assert 'out of --signatures' in line
  assert not output.exists()
  proc = run(*args, '--keep-unread-features', '--json')
  assert proc.returncode == 0, proc.stderr
  kept = json.loads(proc.stdout)
  assert 'label' in kept['warmup_file']['features']['serving_default']
  assert kept['stripping']['records_proven'] == 0


def test_generate_with_no_matching_examples_writes_nothing(keras_model_dir, tmp_path):
  output = tmp_path / 'out'
  line = _one_line_error(run('generate', '--model', keras_model_dir, '--examples',
                             str(tmp_path / 'nothing-*.tfrecord'), '--output', str(output)),
                         'generate')
  assert 'No files match --examples' in line
  assert not output.exists()


def _predict_log(signature: str, inputs: dict) -> bytes:
  request = predict_pb2.PredictRequest()
  request.model_spec.signature_name = signature
  for name, value in inputs.items():
    request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
  return prediction_log_pb2.PredictionLog(
      predict_log=prediction_log_pb2.PredictLog(request=request)).SerializeToString()


def _rejected_files(root, good: bytes):
  """Each case: (name, warmup file, whether it needs --model, expected code, message part)."""
  session_run = prediction_log_pb2.PredictionLog()
  session_run.session_run_log.SetInParent()
  return [
      ('compressed', _write_tfrecord(str(root / 'gzip'), [good], 'GZIP'), False,
       'DATA_LOSS', 'GZIP-compressed'),
      ('too_many', _write_tfrecord(str(root / 'many'), [good] * 1001), False,
       'INVALID_ARGUMENT', '1001 records; TF Serving refuses more than 1000'),
      ('unsupported_log_type', _write_tfrecord(str(root / 'session'),
                                               [session_run.SerializeToString()]), False,
       'UNIMPLEMENTED', 'Unsupported log_type for warmup'),
      ('unknown_signature', _write_tfrecord(str(root / 'unknown'),
                                            [_predict_log('no_such_signature', {'x': [1.0]})]),
       True, 'FAILED_PRECONDITION', 'Serving signature key "no_such_signature" not found'),
      ('input_mismatch', _write_tfrecord(str(root / 'mismatch'),
                                         [_predict_log('predict_raw', {'not_an_input': [1.0]})]),
       True, 'INVALID_ARGUMENT', 'input size does not match signature'),
  ]


def test_inspect_flags_each_file_tf_serving_would_reject(generated, keras_model_dir, tmp_path):
  _, _, output = generated
  good = next(warmup_file.read_records(warmup_file.warmup_file_path(output)))
  cases = _rejected_files(tmp_path, good)
  procs = run_all({
      name: ['inspect', path, '--json'] + (['--model', keras_model_dir] if model else [])
      for name, path, model, _, _ in cases})
  for name, _, _, code, message in cases:
    assert procs[name].returncode == 1, (name, procs[name].stderr)
    problems = json.loads(procs[name].stdout)['warmup_file']['problems']
    assert any(p['code'] == code and message in p['message'] for p in problems), (name, problems)


def test_inspect_names_the_rejected_record_in_text(keras_model_dir, tmp_path):
  path = _write_tfrecord(str(tmp_path / 'warmup'),
                         [_predict_log('no_such_signature', {'x': [1.0]})])
  proc = run('inspect', path, '--model', keras_model_dir)
  assert proc.returncode == 1
  assert 'TF Serving would refuse this file' in proc.stdout
  assert 'record 0: FAILED_PRECONDITION' in proc.stdout


def test_verify_fails_on_a_model_whose_warmup_fails(keras_model_dir, tmp_path):
  model = tmp_path / 'model'
  tf.io.gfile.makedirs(str(model))
  for name in ('saved_model.pb', 'variables', 'assets', 'fingerprint.pb'):
    source = os.path.join(keras_model_dir, name)
    if tf.io.gfile.isdir(source):
      subprocess.run(['cp', '-r', source, str(model)], check=True)
    elif tf.io.gfile.exists(source):
      tf.io.gfile.copy(source, str(model / name))
  good = _predict_log('serving_default', {})  # Placeholder shape aside: no inputs at all.
  warmup_file.write_warmup_file(warmup_file.warmup_file_path(str(model)), [
      prediction_log_pb2.PredictionLog.FromString(good)])
  proc = run('verify', str(model))
  assert proc.returncode == 1
  assert 'Traceback' not in proc.stderr
  assert 'FAILED: Warmup record 0' in proc.stderr
  report = json.loads(run('verify', str(model), '--json').stdout)
  assert report['validation']['record'] == 0
  assert report['validation']['code'] == 'INVALID_ARGUMENT'


def test_user_mistakes_are_one_line_without_traceback(tmp_path):
  line = _one_line_error(run('verify', str(tmp_path / 'missing')), 'verify')
  assert 'No model at' in line and 'a SavedModel directory' in line
  line = _one_line_error(run('inspect', str(tmp_path)), 'inspect')
  assert 'is a directory but not a model' in line


def test_the_installed_script_s_stderr_is_the_error_line_alone(tmp_path):
  """Its own start-up: TensorFlow's C++ lines and the libraries' warnings while they are
  imported stay out of the terminal, with `make`'s quieting settings or without them."""
  env = {k: v for k, v in os.environ.items()
         if k not in ('TF_CPP_MIN_LOG_LEVEL', 'PYTHONWARNINGS')}
  proc = subprocess.run([TFX_WARMUP, 'inspect', str(tmp_path)], env=env, capture_output=True,
                        text=True, check=False)
  line = _one_line_error(proc, 'inspect')
  assert proc.stderr == line + '\n'


def test_progress_bars_on_a_terminal_and_none_when_piped(generated):
  _, _, output = generated
  leader, follower = pty.openpty()
  proc = subprocess.Popen([TFX_WARMUP, 'verify', output], stdout=subprocess.DEVNULL,
                          stderr=follower, close_fds=True)
  os.close(follower)
  chunks = []
  while True:
    try:
      chunk = os.read(leader, 4096)
    except OSError:  # The child closed the terminal.
      break
    if not chunk:
      break
    chunks.append(chunk)
  os.close(leader)
  assert proc.wait() == 0
  terminal = b''.join(chunks).decode(errors='replace')
  assert 'Replaying warmup records' in terminal and '\r' in terminal and '100%' in terminal

  piped = run('verify', output)
  assert 'Replaying warmup records' not in piped.stderr and '\r' not in piped.stderr


@pytest.mark.parametrize('command', ['generate', 'inspect', 'verify'])
def test_every_command_has_help_with_examples(command, capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli_parser.build_parser().parse_args([command, "--help"])
  assert exit_info.value.code == 0
  text = capsys.readouterr().out
  assert 'examples:' in text and f'tfx-warmup {command}' in text


def test_the_console_script_is_installed():
  proc = run('--help')
  assert proc.returncode == 0
  assert all(c in proc.stdout for c in ('generate', 'inspect', 'verify'))


# -- Errors raised on Beam workers (2 worker processes): still one line, nothing left -----

TWO_WORKER_PROCESSES = ['--beam-arg=--direct_running_mode=multi_processing',
                        '--beam-arg=--direct_num_workers=2']


@pytest.mark.parametrize('kind', ['corrupt shard', 'missing feature'])
def test_worker_errors_are_one_line_with_two_worker_processes(kind, tmp_path, keras_model_dir,
                                                              examples):
  serialized = [e.SerializeToString() for e in examples[:40]]
  if kind == 'corrupt shard':
    _write_tfrecord(str(tmp_path / 'eval-0.tfrecord'), serialized)
    with open(tmp_path / 'eval-1.tfrecord', 'wb') as f:
      f.write(b'this is not a TFRecord at all' * 10)
    expected = 'is corrupt or truncated'
  else:  # The raw-tensor signature needs 'embedding', which these examples lack.
    stripped = [tf.train.Example.FromString(r) for r in serialized]
    for example in stripped:
      del example.features.feature['embedding']
    _write_tfrecord(str(tmp_path / 'eval-0.tfrecord'),
                    [e.SerializeToString() for e in stripped])
    expected = "'embedding'"
  output = tmp_path / 'out'
  proc = run('generate', '--model', keras_model_dir, '--examples', str(tmp_path / 'eval-*'),
             '--output', str(output), '--signatures', 'predict_raw', '--batch-sizes', '1',
             *TWO_WORKER_PROCESSES)
  line = _one_line_error(proc, 'generate')
  assert expected in line
  assert not output.exists() or not os.listdir(output)
  assert not [p for p in os.listdir(tmp_path) if p.startswith('out.')]


def test_generate_leaves_nothing_in_the_temp_directory(data, keras_model_dir, tmp_path):
  """No TFX dependency package is built for a local runner, and a clean run keeps no log."""
  temp = tmp_path / 'tmp'
  temp.mkdir()
  proc = run('generate', '--model', keras_model_dir, '--examples', str(data / 'eval-0*'),
             '--output', str(tmp_path / 'out'), '--batch-sizes', '1',
             env={**os.environ, 'TMPDIR': str(temp)})
  assert proc.returncode == 0, proc.stderr
  assert sorted(os.listdir(temp)) == []


def test_a_failing_command_names_its_log_file(tmp_path):
  proc = run('verify', str(tmp_path), env={**os.environ, 'TMPDIR': str(tmp_path)})
  line = _one_line_error(proc, 'verify')
  log = line.rsplit('(library logs: ', 1)[1].rstrip(')')
  assert os.path.dirname(log) == str(tmp_path) and os.path.isfile(log)


# -- Paths as users have them (issue 12: points 3 and 4) ------------------------------


def test_generate_takes_every_examples_and_model_form(tmp_path, keras_model_dir, examples):
  """Directories and artifacts, not only globs: ours, and the ones the tfx wheel ships."""
  serialized = [e.SerializeToString() for e in examples]
  plain = tmp_path / 'plain'  # A directory of TFRecord files, plain and GZIP.
  plain.mkdir()
  _write_tfrecord(str(plain / 'part-0'), serialized[:50])
  _write_tfrecord(str(plain / 'part-1.gz'), serialized[50:100], 'GZIP')
  artifact = tmp_path / 'examples'  # An ExampleGen output.
  models.write_examples_artifact(str(artifact), {'train': serialized[:150],
                                                 'eval': serialized[150:]})
  keras_artifact = os.path.dirname(keras_model_dir)  # <root>/Format-Serving
  testdata = models.TFX_TESTDATA
  cases = {  # name: (--model, --examples, splits sampled)
      'directory': (keras_artifact, str(plain), ['examples']),
      'split directory': (keras_model_dir, str(artifact / 'Split-train'), ['train']),
      # TFX's Chicago-taxi Estimator in the old export layout, on its ExampleGen output.
      'tfx taxi': (os.path.join(testdata, 'trainer', 'current'),
                   os.path.join(testdata, 'csv_example_gen'), ['eval']),
      'tfx penguin': (os.path.join(testdata, 'trainer', 'keras'),
                      os.path.join(testdata, 'penguin', 'data'), ['eval']),
  }
  if not os.path.isdir(os.path.join(testdata, 'trainer')):  # tfx < 1.16 ships no models.
    cases = {name: case for name, case in cases.items() if not name.startswith('tfx ')}
  procs = run_all({name: ['generate', '--model', model, '--examples', path, '--output',
                          str(tmp_path / name.replace(' ', '_')), '--batch-sizes', '1',
                          '--num-examples', '8', '--json']
                   for name, (model, path, _) in cases.items()})
  for name, (_, _, splits) in cases.items():
    proc = procs[name]
    assert proc.returncode == 0, (name, proc.stderr)
    report = json.loads(proc.stdout)
    assert report['sample']['splits'] == splits, name
    assert report['validation']['records'] == report['warmup_file']['records'] > 0, name
    # Whatever the input layout, the output is the warmed SavedModel itself.
    output = tmp_path / name.replace(' ', '_')
    assert (output / 'saved_model.pb').exists() and (output / 'variables').is_dir(), name
  if 'tfx taxi' in procs:
    taxi = json.loads(procs['tfx taxi'].stdout)
    assert {r['signature'] for r in taxi['warmup_file']['summary']} >= {'predict', 'regression'}


def test_inspect_and_verify_take_every_model_form(generated, tmp_path):
  """A Model artifact root and the old Estimator export layout, as well as the SavedModel."""
  _, report, output = generated
  layouts = {'artifact': tmp_path / 'artifact' / 'Format-Serving',
             'estimator': tmp_path / 'estimator' / 'Format-Serving' / 'export' / 'ctr' / '1700'}
  for saved_model in layouts.values():
    saved_model.parent.mkdir(parents=True)
    subprocess.run(['cp', '-r', output, str(saved_model)], check=True)
  procs = run_all({f'{command} {name}': [command, str(tmp_path / name), '--json']
                   for command in ('inspect', 'verify') for name in layouts})
  for name, saved_model in layouts.items():
    for command in ('inspect', 'verify'):
      proc = procs[f'{command} {name}']
      assert proc.returncode == 0, (command, name, proc.stderr)
      got = json.loads(proc.stdout)
      assert got['model'] == str(saved_model), (command, name)
      assert got['warmup_file']['records'] == report['warmup_file']['records']
    assert json.loads(procs[f'verify {name}'].stdout)['validation']['records'] == (
        report['warmup_file']['records'])


def test_an_unrecognised_model_directory_is_one_line_naming_the_forms(tmp_path, data):
  (tmp_path / 'not_a_model' / 'stuff').mkdir(parents=True)
  path = str(tmp_path / 'not_a_model')
  procs = run_all({
      'generate': ['generate', '--model', path, '--examples', str(data / 'eval-*'),
                   '--output', str(tmp_path / 'out')],
      'inspect': ['inspect', path],
      'verify': ['verify', path]})
  for command, proc in procs.items():
    line = _one_line_error(proc, command)
    assert f'{path} is a directory but not a model' in line, line
    assert 'a Model artifact (holding Format-Serving/), an Estimator export' in line, line
  assert not (tmp_path / 'out').exists()


# -- A model without a warmup file (issue 12: point 8) --------------------------------


def test_a_model_without_warmup_loads_and_is_measured_cold(generated, keras_model_dir,
                                                            tmp_path):
  _, _, output = generated
  requests = str(tmp_path / 'requests.tfrecord')  # Live traffic: PredictionLogs.
  _write_tfrecord(requests, warmup_file.read_records(warmup_file.warmup_file_path(output)))
  plot = tmp_path / 'cold.png'
  procs = run_all({
      'inspect': ['inspect', keras_model_dir],
      'inspect json': ['inspect', keras_model_dir, '--json'],
      'verify': ['verify', keras_model_dir],
      'verify json': ['verify', keras_model_dir, '--json'],
      'measure without requests': ['verify', keras_model_dir, '--measure'],
      'measure': ['verify', keras_model_dir, '--measure', '--requests', requests,
                  '--plot', str(plot), '--json'],
  })
  for name in ('inspect', 'verify'):
    proc = procs[name]
    assert proc.returncode == 0, (name, proc.stderr)
    assert 'No warmup file' in proc.stdout and 'TF Serving loads' in proc.stdout, proc.stdout
    assert 'warms nothing' in proc.stdout and 'refuse' not in proc.stdout
  inspected = json.loads(procs['inspect json'].stdout)
  assert inspected['warmup_file'] == {'path': None, 'records': 0, 'summary': [],
                                      'problems': [], 'features': {}}
  verified = json.loads(procs['verify json'].stdout)
  assert verified['validation']['records'] == 0 and verified['cold_start'] is None
  assert verified['model'] == keras_model_dir
  line = _one_line_error(procs['measure without requests'], 'verify')
  assert '--requests FILE' in line and 'generate --measure' in line
  proc = procs['measure']
  assert proc.returncode == 0, proc.stderr
  cold = json.loads(proc.stdout)['cold_start']
  assert cold['replay_records'] == 0 and cold['max_first_ms_with_warmup'] is None
  assert {(r['signature'], r['batch_size']) for r in cold['requests']} == {
      (k.signature, k.batch_size) for k in records_lib.summarize(
          warmup_file.read_warmup_file(requests))}
  assert all(r['first_ms_without_warmup'] > 0 and r['first_ms_with_warmup'] is None
             for r in cold['requests'])
  assert plot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
