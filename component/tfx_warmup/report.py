"""The warmup report: one JSON schema for `warmup_report.json` and every `tfx-warmup --json`,
and the text tables the terminal and logs show of it.

  {
    "schema_version": 3,
    "model": str | null,          # the SavedModel directory reported on
    "warmup_file": {
      "path": str | null,
      "records": int,
      "summary": [{"kind", "signature", "batch_size", "output_filter", "records"}],
      "problems": [{"record": int | null, "code": str, "message": str}],
      "features": {signature: [str]}   # feature names its records carry
    },
    "signatures": null | {"warmed": [str], "skipped": {name: reason},
                          "warnings": {name: message}},
    "sample": null | {"splits": [str], "num_examples": int, "seed": int, "sampling": str},
    "validation": null | {"records": int, "seconds": float, "num_request_iterations": int,
                          "batching": null | {"max_batch_size", "allowed_batch_sizes",
                                              "enable_large_batch_splitting"}}
                       | {"error": str, "code": str, "record": int | null},
    "cold_start": null | {"skipped": reason} | measure.cold_start_report(...),
    "stripping": null | {"strip_unread_features": bool, "drop_features": [str],
                         "records_proven": int, "records_unchanged": int,
                         "bytes_before": int, "bytes_after": int,
                         "dropped": {signature: [str]}, "whole": {signature: reason}}
  }

`output_filter` is '' for "all outputs". `problems` lists what TF Serving would
reject (`code` is its status name); a file with problems fails to load. A
section is null when the command that wrote the report did not do that step
(`inspect` neither samples nor replays; `verify` does not sample). A model
without a warmup file has `warmup_file.path` null; its cold start is measured
without warmup only (`first_ms_with_warmup`, `max_first_ms_with_warmup` null).
"""

from typing import Any, Dict, List, Optional, Sequence

from tfx_warmup import warmup_file

SCHEMA_VERSION = 3


def summary_rows(summary: Dict[warmup_file.RecordKey, int]) -> List[Dict[str, Any]]:
  return [{'kind': k.kind, 'signature': k.signature, 'batch_size': k.batch_size,
           'output_filter': k.output_filter, 'records': n} for k, n in summary.items()]


def problem(record: Optional[int], code: str, message: str) -> Dict[str, Any]:
  return {'record': record, 'code': code, 'message': message}


def build_report(summary: Dict[warmup_file.RecordKey, int], *,
                 model: Optional[str] = None,
                 warmup_path: Optional[str] = None,
                 problems: Sequence[Dict[str, Any]] = (),
                 skipped: Optional[Dict[str, str]] = None,
                 sample: Optional[Dict[str, Any]] = None,
                 validation: Optional[Dict[str, Any]] = None,
                 cold_start: Optional[Dict[str, Any]] = None,
                 warnings: Optional[Dict[str, str]] = None,
                 features: Optional[Dict[str, List[str]]] = None,
                 stripping: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
  """The report; `skipped` (signatures not warmed, with why) is None when unknown.

  `warnings`: warmed signatures' problems that did not stop the run, by signature.
  `features`: `warmup_file.features_carried` of the file; `stripping`:
  `stripping.Stripped.section` of the records built.
  """
  return {
      'schema_version': SCHEMA_VERSION,
      'model': model,
      'warmup_file': {'path': warmup_path, 'records': sum(summary.values()),
                      'summary': summary_rows(summary), 'problems': list(problems),
                      'features': dict(features or {})},
      'signatures': None if skipped is None else {
          'warmed': sorted({k.signature for k in summary}),
          'skipped': dict(sorted(skipped.items())),
          'warnings': dict(sorted((warnings or {}).items()))},
      'sample': sample,
      'validation': validation,
      'cold_start': cold_start,
      'stripping': stripping,
  }


def sample_section(splits: Sequence[str], num_examples: int, seed: int,
                   sampling: str) -> Dict[str, Any]:
  return {'splits': list(splits), 'num_examples': num_examples, 'seed': seed,
          'sampling': sampling}


# -- Text tables for the terminal and logs ------------------------------------------


def format_summary(summary: Dict[warmup_file.RecordKey, int], outputs_column: Optional[bool] = None) -> str:
  """A text table; the outputs column shows when asked, or when any record filters outputs."""
  if outputs_column is None:
    outputs_column = any(k.output_filter for k in summary)
  header = ('kind', 'signature', 'batch size') + (('outputs',) if outputs_column else ()) + (
      'records',)
  rows = [header] + [
      (k.kind, k.signature, str(k.batch_size)) + ((k.output_filter or 'all',) if outputs_column
                                                  else ()) + (str(n),)
      for k, n in summary.items()]
  rows.append(('total',) + ('',) * (len(header) - 2) + (str(sum(summary.values())),))
  return format_table(rows)


def format_table(rows: Sequence[Sequence[str]]) -> str:
  """Left-aligned columns, a rule under the header row."""
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  lines = ['  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
  lines.insert(1, '  '.join('-' * w for w in widths))
  return '\n'.join(lines)
