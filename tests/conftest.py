"""Shared fixtures: models and examples are built once per test session (once per xdist worker).

`make test` runs the suite on two xdist workers (`-n 2`, Makefile). Each worker is a
session of its own, so each builds the session fixtures below once; they take seconds,
the whole pipelines minutes. What keeps both workers busy to the end is the order:
the slowest modules first (`pytest_collection_modifyitems`), handed out one test at a
time (`--maxschedchunk 1`), so no worker is left with a whole pipeline at the tail.
"""

import functools
import os

# TFX's stack runs legacy Keras; this must be set before TensorFlow is imported.
from tfx_warmup import compat  # Imports no TensorFlow.

compat.prefer_legacy_keras()  # Before TensorFlow is imported: Keras 2, as TFX trains with.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# The pipelines the suite runs (the demo, Airflow: processes of their own) and the installed
# command measure the version swap with every case and phase, once each rather than three
# times, and each phase short (QUICK_SWAP_PHASE_SECONDS). The recommendation's rules are
# tested on figures, not on these runs.
QUICK_SWAP_PHASE_SECONDS = {'steady': 0.5, 'first': 0.5, 'after': 0.2}
QUICK_SWAP_REPETITIONS = 1
os.environ.setdefault('TFX_WARMUP_SWAP_REPETITIONS', str(QUICK_SWAP_REPETITIONS))
os.environ.setdefault('TFX_WARMUP_SWAP_PHASE_SECONDS',
                      ','.join(str(s) for s in QUICK_SWAP_PHASE_SECONDS.values()))

import pytest

from tests import models

pytest_plugins = ['tests.serving.fixtures']

# Modules whose tests take the longest (`--durations`), slowest first: each runs a whole
# pipeline, the installed command in fresh processes, or Beam with several workers. They
# start first, whole (their module fixtures stay built once per worker), in this order.
SLOWEST_FIRST = (
    'tests/pipelines/test_airflow_dag.py',
    'tests/pipelines/test_demo_output.py',
    'tests/pipelines/test_vertex_pipeline.py',
    'tests/pipelines/test_demo_pipeline.py',
    'tests/cli/test_swap.py',
    'tests/cli/test_swap_apply.py',
    'tests/data/test_sample.py',
    'tests/cli/test_cli.py',
    'tests/requests/test_build.py',
    'tests/component/test_reliability.py',
    'tests/component/test_swap_executor.py',
    'tests/swap/test_run_memory.py',
)


def pytest_collection_modifyitems(items) -> None:
  """The SLOWEST_FIRST modules first, in that order; the rest as collected."""
  rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}

  def key(item) -> int:
    return rank.get(item.nodeid.split('::', 1)[0], len(SLOWEST_FIRST))

  items.sort(key=key)  # Stable: each module keeps its own order.


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


# The swap measured in this process at test scale: one run per case, phases under a second
# (QUICK_SWAP_*, above). Every case, phase and fresh process still runs; only the repeats
# and seconds that make the figures stable (which no test asserts) are cut.


@pytest.fixture
def quick_swap(monkeypatch) -> None:
  """ModelWarmer's swap, run in this process, at test scale (QUICK_SWAP_*)."""
  # TFX's stack: imported by the tests that swap.
  from tfx_warmup.library import run as run_lib
  from tfx_warmup.library import swap as swap_lib
  from tfx_warmup.swap import measure
  monkeypatch.setenv(measure.PHASE_SECONDS_ENV,
                     ','.join(str(s) for s in QUICK_SWAP_PHASE_SECONDS.values()))
  monkeypatch.setattr(run_lib, 'measure_swap', functools.partial(
      swap_lib.measure_swap, repetitions=QUICK_SWAP_REPETITIONS))
