"""The demo pipeline as an Airflow DAG that retrains, warms and pushes every day.

Put this file in your Airflow dags folder (or pass it with --subdir) with the
repository root importable, e.g. from the repository root:

  export AIRFLOW_HOME=$PWD/runs/airflow/home PYTHONPATH=$PWD
  .venv/bin/airflow db migrate
  .venv/bin/airflow dags test tfx-warmup-demo --subdir pipelines/airflow_dag.py

Each TFX component becomes one Airflow task; ModelWarmer runs between Trainer
and Pusher. Outputs and ML Metadata go under $TFX_WARMUP_AIRFLOW_ROOT
(default: runs/airflow in this repository).
"""

import datetime
import os

from tfx_warmup import compat  # Imports no TensorFlow.

compat.prefer_legacy_keras()  # Before TensorFlow is imported: Keras 2, as TFX trains with.

from tfx.orchestration.airflow import airflow_dag_runner

from pipelines import demo_pipeline

ROOT = os.environ.get('TFX_WARMUP_AIRFLOW_ROOT') or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'runs', 'airflow')

# Retrain daily from the newest data; catchup=False runs only the latest interval.
AIRFLOW_CONFIG = {
    'schedule': '@daily',
    'start_date': datetime.datetime(2026, 1, 1),
    'catchup': False,
}

DAG = airflow_dag_runner.AirflowDagRunner(
    airflow_dag_runner.AirflowPipelineConfig(AIRFLOW_CONFIG)).run(
        demo_pipeline.create_pipeline(
            pipeline_root=os.path.join(ROOT, 'pipeline'),
            serving_model_dir=os.path.join(ROOT, 'serving_model'),
            metadata_path=os.path.join(ROOT, 'metadata.sqlite')))
