"""Pytest plugin: TF Serving's test models (tests/serving/models.py), built once per session.

Enable it from tests/conftest.py with `pytest_plugins = ['tests.serving.fixtures']`.
Each fixture returns the SavedModel directory, laid out as in TF Serving's
testdata (<name>/00000123, or <name>/1 for the batching model), so a test
porting one of TF Serving's can take os.path.dirname() for the base path.
"""

import os

# TFX's stack runs legacy Keras; this must be set before TensorFlow is imported
# (conftest.py does the same; this plugin may be loaded on its own with -p).
from tfx_warmup import compat  # Imports no TensorFlow.

compat.prefer_legacy_keras()  # Before TensorFlow is imported: Keras 2, as TFX trains with.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import pytest

from tests.serving import models as serving_models


def _model_fixture(build, name: str, doc: str, version: str = serving_models.VERSION,
                   **build_kwargs):
  """A session-scoped fixture: build(<tmp>/<name>/<version>, **build_kwargs)'s directory."""
  def fixture(tmp_path_factory) -> str:
    return build(str(tmp_path_factory.mktemp(name) / name / version), **build_kwargs)
  fixture.__doc__ = doc
  return pytest.fixture(scope='session')(fixture)


half_plus_two_dir = _model_fixture(
    serving_models.build_half_plus_two, 'saved_model_half_plus_two_cpu',
    """testdata/saved_model_half_plus_two_cpu, the model the model-server tests serve.""",
    variant='testdata')

half_plus_two_script_dir = _model_fixture(
    serving_models.build_half_plus_two, 'saved_model_half_plus_two',
    """What saved_model_half_plus_two.py exports today (tf_example has shape [None]).""",
    variant='script')

tf_half_plus_two_dir = _model_fixture(
    serving_models.build_half_plus_two, 'half_plus_two',
    """TensorFlow's cc/saved_model/testdata/half_plus_two (adds classify_x2_to_y3).

    The model of the predict_util, multi_inference, bundle_factory_util and
    batching_session tests.
    """,
    variant='tensorflow')

half_plus_two_gpu_dir = _model_fixture(
    serving_models.build_half_plus_two, 'saved_model_half_plus_two_gpu',
    """testdata/saved_model_half_plus_two_gpu: ops pinned to /device:GPU:0.

    Its signatures are TensorFlow's six (the committed GPU model was exported by
    an older script whose graph matches that layout).
    """,
    device='/device:GPU:0', variant='tensorflow')

half_plus_three_dir = _model_fixture(
    serving_models.build_half_plus_three, 'saved_model_half_plus_three',
    """testdata/saved_model_half_plus_three: y = 0.5*x + 3.""")

counter_dir = _model_fixture(
    serving_models.build_counter, 'saved_model_counter',
    """testdata/saved_model_counter. Stateful: load it afresh where a test counts.""")

bad_half_plus_two_dir = _model_fixture(
    serving_models.build_bad_half_plus_two, 'bad_half_plus_two',
    """testdata/bad_half_plus_two: a Saver export without signatures, not a SavedModel.""")

matrix_half_plus_two_dir = _model_fixture(
    serving_models.build_matrix_half_plus_two, 'matrix_half_plus_two',
    """batching/testdata/matrix_half_plus_two/1: y = 0.5*x + 2 on [None, 3, 3].""",
    version='1')
