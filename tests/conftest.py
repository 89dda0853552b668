"""Shared fixtures: models and examples are built once per test session."""

import os

# TFX's stack runs legacy Keras; this must be set before TensorFlow is imported.
from tfx_warmup import compat  # pylint: disable=g-import-not-at-top  (imports no TensorFlow)

compat.prefer_legacy_keras()  # Before TensorFlow is imported: Keras 2, as TFX trains with.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import pytest  # pylint: disable=g-import-not-at-top

from tests import models  # pylint: disable=g-import-not-at-top

pytest_plugins = ['tests.serving.fixtures']


@pytest.fixture(scope='session')
def tf1_model_dir(tmp_path_factory) -> str:
  root = tmp_path_factory.mktemp('tf1_model')
  return models.build_tf1_model(str(root / 'Format-Serving'))


@pytest.fixture(scope='session')
def keras_model_dir(tmp_path_factory) -> str:
  root = tmp_path_factory.mktemp('keras_model')
  return models.build_keras_model(str(root / 'Format-Serving'))


@pytest.fixture(scope='session')
def examples() -> list:
  return models.make_examples(200, seed=7)
