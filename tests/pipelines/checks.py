"""Checks shared by the end-to-end tests of every orchestrator."""

import os
from typing import Sequence

from ml_metadata.proto import metadata_store_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tfx import v1 as tfx
from tfx.orchestration import metadata

from tfx_warmup import serving
from tfx_warmup.requests import signatures
from tfx_warmup.serving import records as records_lib
from tfx_warmup.serving import warmup_file

DEMO_COMPONENTS = ('CsvExampleGen', 'Trainer', 'ModelWarmer', 'Pusher')
# The pipeline's nodes: the components and the resolver of the version being served.
BASELINE_RESOLVER = 'latest_blessed_model_resolver'
DEMO_NODES = ('CsvExampleGen', BASELINE_RESOLVER, 'Trainer', 'ModelWarmer', 'Pusher')
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(REPO, 'README.md')
ORCHESTRATORS_DOC = os.path.join(REPO, 'docs', 'orchestrators.md')
RELIABILITY_DOC = os.path.join(REPO, 'docs', 'reliability.md')
CLI_DOC = os.path.join(REPO, 'docs', 'cli.md')


def check_pushed_model(pushed: str) -> None:
  """The demo's pushed model holds a warmup file TF Serving would accept, covering it all."""
  path = warmup_file.warmup_file_path(pushed)
  raw = list(warmup_file.read_records(path))  # Fails on a compressed file.
  records = [prediction_log_pb2.PredictionLog.FromString(r) for r in raw]
  assert 0 < len(records) <= 1000
  usable = {p.name for p in signatures.plan_signatures(
      serving.read_meta_graph(pushed, ['serve']), pushed).usable}
  assert usable == {'serving_default', 'classify', 'predict_raw'}
  summary = records_lib.summarize(records)
  assert {k.signature for k in summary} == usable
  # The traffic's (pipelines/make_traffic.py): 5 is a ranking service's, no power of two.
  assert {k.batch_size for k in summary} == {1, 5, 8, 32}
  assert {k.api for k in summary} == {'classify', 'predict'}
  # Every record runs in a TF1 Session loaded as TF Serving loads the model.
  result = serving.replay_warmup(pushed)
  assert result.records == len(records)


def check_components_completed(metadata_path: str,
                               components: Sequence[str] = DEMO_COMPONENTS) -> None:
  """Each component class has a completed execution in ML Metadata (any TFX runner)."""
  config = tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
  with metadata.Metadata(config) as store:
    executions = store.store.get_executions()
    types = {t.id: t.name for t in store.store.get_execution_types()}
  completed = {types[e.type_id].rsplit('.', 1)[-1] for e in executions
               if e.last_known_state == metadata_store_pb2.Execution.COMPLETE}
  assert set(components) <= completed, f'not completed: {set(components) - completed}'


def check_in_readme(*lines: str) -> None:
  """The orchestrators page shows these exact command lines (the tests run them)."""
  with open(ORCHESTRATORS_DOC) as f:
    page = f.read()
  for line in lines:
    assert line in page, f'docs/orchestrators.md does not show the tested command: {line}'
