"""Airflow: `airflow dags test` on SQLite runs each task of the demo DAG, pushes a warmed model."""

import os
import subprocess
import sys

import pytest

from pipelines import demo_pipeline
from tests.pipelines import checks as pipeline_checks

# Runs a whole pipeline or the installed command: slow; `make test-fast` leaves it out.
pytestmark = pytest.mark.e2e

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_AIRFLOW = os.path.join(os.path.dirname(sys.executable), 'airflow')  # The venv's, as in the README.
# The README's commands, run as written (from the repository root), with its environment.
ENVIRONMENT = {'AIRFLOW__CORE__LOAD_EXAMPLES': 'False',
               'AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT': '300'}
MIGRATE = '.venv/bin/airflow db migrate'
DAGS_TEST = '.venv/bin/airflow dags test tfx-warmup-demo --subdir pipelines/airflow_dag.py'


def test_readme_shows_the_commands_this_test_runs():
  pipeline_checks.check_in_readme(MIGRATE, DAGS_TEST,
                                  *(f'{k}={v}' for k, v in ENVIRONMENT.items()))


def test_airflow_dags_test_runs_every_task_and_pushes_a_warmed_model(tmp_path):
  root = tmp_path / 'run'
  env = dict(os.environ, AIRFLOW_HOME=str(tmp_path / 'airflow_home'), PYTHONPATH=_REPO,
             TFX_WARMUP_AIRFLOW_ROOT=str(root), **ENVIRONMENT)
  for command in (MIGRATE, DAGS_TEST):
    argv = [_AIRFLOW] + command.split()[1:]
    proc = subprocess.run(argv, cwd=_REPO, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f'{command} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'

  metadata_path = str(root / 'metadata.sqlite')
  pipeline_checks.check_components_completed(metadata_path)
  pushed = demo_pipeline.pushed_model_dir(metadata_path)
  assert pushed.startswith(str(root / 'serving_model'))
  pipeline_checks.check_pushed_model(pushed)
