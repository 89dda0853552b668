"""The demo's serving log is what `python -m pipelines.make_traffic` writes, and reads as meant."""

from pipelines import make_traffic
from tfx_warmup.traffic import LogEntry, NotARequest, resolve_traffic


def test_the_committed_log_is_the_generators_output():
  with open(make_traffic.PATH) as f:
    assert f.read().splitlines() == list(make_traffic.make_lines())


def test_the_log_is_rest_calls_with_a_little_junk():
  files = resolve_traffic(make_traffic.PATH)
  assert files.format == 'rest'
  entries = list(files.entries())
  requests = [e for e in entries if isinstance(e, LogEntry)]
  junk = [e for e in entries if isinstance(e, NotARequest)]
  assert len(entries) == make_traffic.NUM_LINES and 0 < len(junk) < len(entries) // 10
  assert {e.api for e in requests} == {'classify', 'predict'}
  assert all(e.answered and e.model_name == make_traffic.MODEL for e in requests)
