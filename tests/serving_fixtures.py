"""Pytest plugin: TF Serving's test models (tests/serving_models.py), built once per session.

Enable it from tests/conftest.py with `pytest_plugins = ['tests.serving_fixtures']`.
Each fixture returns the SavedModel directory, laid out as in TF Serving's
testdata (<name>/00000123, or <name>/1 for the batching model), so a test
porting one of TF Serving's can take os.path.dirname() for the base path.
"""

import os

# TFX's stack runs legacy Keras; this must be set before TensorFlow is imported
# (conftest.py does the same; this plugin may be loaded on its own with -p).
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import pytest  # pylint: disable=g-import-not-at-top

from tests import serving_models  # pylint: disable=g-import-not-at-top


def _export_dir(tmp_path_factory, name: str, version: str = serving_models.VERSION) -> str:
  return str(tmp_path_factory.mktemp(name) / name / version)


@pytest.fixture(scope='session')
def half_plus_two_dir(tmp_path_factory) -> str:
  """testdata/saved_model_half_plus_two_cpu, the model the model-server tests serve."""
  return serving_models.build_half_plus_two(
      _export_dir(tmp_path_factory, 'saved_model_half_plus_two_cpu'), variant='testdata')


@pytest.fixture(scope='session')
def half_plus_two_script_dir(tmp_path_factory) -> str:
  """What saved_model_half_plus_two.py exports today (tf_example has shape [None])."""
  return serving_models.build_half_plus_two(
      _export_dir(tmp_path_factory, 'saved_model_half_plus_two'), variant='script')


@pytest.fixture(scope='session')
def tf_half_plus_two_dir(tmp_path_factory) -> str:
  """TensorFlow's cc/saved_model/testdata/half_plus_two (adds classify_x2_to_y3).

  The model of the predict_util, multi_inference, bundle_factory_util and
  batching_session tests.
  """
  return serving_models.build_half_plus_two(
      _export_dir(tmp_path_factory, 'half_plus_two'), variant='tensorflow')


@pytest.fixture(scope='session')
def half_plus_two_gpu_dir(tmp_path_factory) -> str:
  """testdata/saved_model_half_plus_two_gpu: ops pinned to /device:GPU:0.

  Its signatures are TensorFlow's six (the committed GPU model was exported by
  an older script whose graph matches that layout).
  """
  return serving_models.build_half_plus_two(
      _export_dir(tmp_path_factory, 'saved_model_half_plus_two_gpu'),
      device='/device:GPU:0', variant='tensorflow')


@pytest.fixture(scope='session')
def half_plus_three_dir(tmp_path_factory) -> str:
  """testdata/saved_model_half_plus_three: y = 0.5*x + 3."""
  return serving_models.build_half_plus_three(
      _export_dir(tmp_path_factory, 'saved_model_half_plus_three'))


@pytest.fixture(scope='session')
def counter_dir(tmp_path_factory) -> str:
  """testdata/saved_model_counter. Stateful: load it afresh where a test counts."""
  return serving_models.build_counter(_export_dir(tmp_path_factory, 'saved_model_counter'))


@pytest.fixture(scope='session')
def bad_half_plus_two_dir(tmp_path_factory) -> str:
  """testdata/bad_half_plus_two: a Saver export without signatures, not a SavedModel."""
  return serving_models.build_bad_half_plus_two(
      _export_dir(tmp_path_factory, 'bad_half_plus_two'))


@pytest.fixture(scope='session')
def matrix_half_plus_two_dir(tmp_path_factory) -> str:
  """batching/testdata/matrix_half_plus_two/1: y = 0.5*x + 2 on [None, 3, 3]."""
  return serving_models.build_matrix_half_plus_two(
      _export_dir(tmp_path_factory, 'matrix_half_plus_two', version='1'))
