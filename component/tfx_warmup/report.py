"""The warmup report: one JSON schema for the component's warmup_report.json.

  {
    "schema_version": 1,
    "warmup_file": {"records": int,
                    "summary": [{"kind", "signature", "batch_size", "records"}]},
    "signatures": {"warmed": [str], "skipped": {name: reason}},
    "sample": {"splits": [str], "num_examples": int, "seed": int, "sampling": str},
    "validation": null | {"records": int, "seconds": float},
    "cold_start": null | {"skipped": reason} | measure.cold_start_report(...)
  }
"""

from typing import Any, Dict, List, Optional

from tfx_warmup import warmup_file

SCHEMA_VERSION = 1


def summary_rows(summary: Dict[warmup_file.RecordKey, int]) -> List[Dict[str, Any]]:
  return [{'kind': k.kind, 'signature': k.signature, 'batch_size': k.batch_size,
           'records': n} for k, n in summary.items()]


def build_report(summary: Dict[warmup_file.RecordKey, int], skipped: Dict[str, str],
                 splits: List[str], num_examples: int, seed: int, sampling: str,
                 validation: Optional[Dict[str, Any]],
                 cold_start: Optional[Dict[str, Any]]) -> Dict[str, Any]:
  return {
      'schema_version': SCHEMA_VERSION,
      'warmup_file': {'records': sum(summary.values()), 'summary': summary_rows(summary)},
      'signatures': {'warmed': sorted({k.signature for k in summary}),
                     'skipped': dict(sorted(skipped.items()))},
      'sample': {'splits': list(splits), 'num_examples': num_examples, 'seed': seed,
                 'sampling': sampling},
      'validation': validation,
      'cold_start': cold_start,
  }
