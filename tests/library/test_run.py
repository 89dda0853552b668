"""The library's whole run (`warm_model`): each value computed once, nothing written on failure."""

import os

import pytest
import tensorflow as tf
from tensorflow.python.saved_model import loader_impl

from tests import models
from tfx_warmup import library
from tfx_warmup import serving
from tfx_warmup.errors import ConversionError
from tfx_warmup.requests import parse_keys
from tfx_warmup.serving import batching_config
from tfx_warmup.serving import warmup_file


def _write(path: str, examples) -> None:
  with tf.io.TFRecordWriter(path) as writer:
    for example in examples:
      writer.write(example.SerializeToString())


@pytest.fixture(scope='module')
def source(tmp_path_factory, examples):
  root = tmp_path_factory.mktemp('library_examples')
  _write(str(root / 'eval-0.tfrecord'), examples[:100])
  _write(str(root / 'eval-1.tfrecord'), examples[100:])
  return library.resolve_examples(str(root / 'eval-*'))


class _Counter:
  """Counts calls of a module function or method while it keeps working."""

  def __init__(self, monkeypatch, owner, name):
    self.calls = 0
    real = getattr(owner, name)

    def counted(*args, **kwargs):
      self.calls += 1
      return real(*args, **kwargs)
    monkeypatch.setattr(owner, name, counted)


@pytest.mark.parametrize('existing_warmup,file_reads', [('replace', 0), ('merge', 1)])
def test_each_value_is_computed_once(existing_warmup, file_reads, tf1_model_dir, source,
                                     tmp_path, monkeypatch):
  """saved_model.pb is parsed once; the warmup file is written once and read only when kept."""
  model = tmp_path / 'model'
  if existing_warmup == 'merge':  # The model's own file, to merge into.
    library.warm_model(tf1_model_dir, source, str(model), library.WarmupOptions(
        num_examples=4, batch_sizes=[1], signature_names=['regress'], measure=False))
  else:
    model = tf1_model_dir
  batching_file = tmp_path / 'batching.txt'
  batching_file.write_text('max_batch_size { value: 8 } allowed_batch_sizes: 1 '
                           'allowed_batch_sizes: 8')
  meta_graph_reads = _Counter(monkeypatch, loader_impl.SavedModelLoader, '__init__')
  file_reads_counter = _Counter(monkeypatch, warmup_file, 'read_records')
  file_writes = _Counter(monkeypatch, warmup_file, 'write_warmup_file')
  parses = _Counter(monkeypatch, parse_keys, 'signature_parse')  # Per signature, once.
  batching_parses = _Counter(monkeypatch, batching_config, 'config_from_file')

  report = library.warm_model(str(model), source, str(tmp_path / 'out'), library.WarmupOptions(
      num_examples=8, batching_parameters_file=str(batching_file),
      existing_warmup=existing_warmup, measure=False))

  assert report.validation.records == report.warmup_file.records > 0
  assert meta_graph_reads.calls == 1
  assert file_reads_counter.calls == file_reads
  assert file_writes.calls == 1
  assert parses.calls == 3  # classify, regress and serving_default parse serialized examples.
  assert batching_parses.calls == 1
  assert report.validation.batching.allowed_batch_sizes == [1, 8]


def test_the_report_describes_the_written_model(tf1_model_dir, source, tmp_path):
  out = str(tmp_path / 'out')
  report = library.warm_model(tf1_model_dir, source, out, library.WarmupOptions(
      num_examples=8, batch_sizes=[1, 4], measure=False))
  assert report.model == out
  assert report.warmup_file.path == serving.warmup_file_path(out)
  replayed = serving.replay_warmup(out)
  assert replayed.records == report.warmup_file.records == sum(
      r.records for r in report.warmup_file.summary)
  assert report.signatures.warmed == ['classify', 'regress', 'serving_default']
  assert report.sample.splits == ['examples']
  assert not os.path.exists(os.path.join(out, library.REPORT_FILE))  # Only when asked.


def test_a_failed_run_leaves_the_output_as_it_was(keras_model_dir, tmp_path):
  out = tmp_path / 'out'
  out.mkdir()
  (out / 'keep.txt').write_text('mine')
  examples_dir = tmp_path / 'no_history'
  examples_dir.mkdir()
  without_history = models.make_examples(8)
  for e in without_history:
    del e.features.feature['history']
  _write(str(examples_dir / 'data.tfrecord'), without_history)
  with pytest.raises(ConversionError, match="needs feature 'history'"):
    library.warm_model(keras_model_dir, library.resolve_examples(str(examples_dir)), str(out),
                       library.WarmupOptions(num_examples=4, signature_names=['predict_raw'],
                                             measure=False))
  assert sorted(os.listdir(tmp_path)) == ['no_history', 'out']
  assert os.listdir(out) == ['keep.txt']
