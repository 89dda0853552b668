"""The report as text: the tables the terminal and the logs show.

The report's messages (why a signature is left out, why nothing was measured)
are written in the library's words; a caller showing them to someone who typed
other words (the command line's flags) passes `terms` to say them in those.
"""

import os
import textwrap
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from tfx_warmup.report.model import ColdStartSection, FeatureCoverage, RecordCount
from tfx_warmup.report.model import SwapSection, TrafficSection
from tfx_warmup.report.model import ValidationSection, WarmupReport


def format_table(rows: Sequence[Sequence[str]]) -> str:
  """Left-aligned columns, a rule under the header row."""
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  lines = ['  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
  lines.insert(1, '  '.join('-' * w for w in widths))
  return '\n'.join(lines)


def format_summary(summary: Sequence[RecordCount], outputs_column: Optional[bool] = None) -> str:
  """Records per path; the outputs column shows when asked, or when any record filters outputs."""
  if outputs_column is None:
    outputs_column = any(r.output_filter for r in summary)
  header = ('API', 'signature', 'batch size') + (('outputs',) if outputs_column else ()) + (
      'records',)
  rows = [header] + [
      (r.api, r.signature, str(r.batch_size)) + ((r.output_filter or 'all',) if outputs_column
                                                  else ()) + (str(r.records),)
      for r in summary]
  rows.append(('total',) + ('',) * (len(header) - 2) + (str(sum(r.records for r in summary)),))
  return format_table(rows)


def format_report(report: WarmupReport, outputs_column: Optional[bool] = None,
                  terms: Optional[Callable[[str], str]] = None) -> str:
  """Records table, signatures left out, features, stripping, problems, replay, cold start.

  `terms` rewrites the report's own messages into the reader's words.
  """
  say = terms or (lambda message: message)
  warmup_file = report.warmup_file
  parts = [f"Warmup file: {warmup_file.path or 'none'}"]
  if warmup_file.summary or warmup_file.path:
    parts.append(format_summary(warmup_file.summary, outputs_column))
  if report.signatures:
    for name, reason in report.signatures.skipped.items():
      parts.append(f'not warmed: {name}: {say(reason)}')
    for name, warning in report.signatures.warnings.items():
      parts.append(f'warning: {name}: {say(warning)}')
    if report.signatures.feature_coverage:
      parts.append(format_feature_coverage(report.signatures.feature_coverage))
  if warmup_file.features:
    parts.append('\nFeatures the records carry:')
    parts.append(format_features(warmup_file.features))
  stripping = report.stripping
  if stripping:
    if stripping.bytes_before == stripping.bytes_after and not stripping.dropped:
      parts.append('Nothing to strip: every feature the records carry is read by their '
                   'signatures.')
    else:
      parts.append(
          f'Stripped to what each signature parses: {stripping.bytes_before:,} -> '
          f'{stripping.bytes_after:,} bytes; {stripping.records_proven} stripped records '
          'proven to answer exactly as their whole twins.')
    for name, names in stripping.dropped.items():
      parts.append(f"stripped from {name}: {', '.join(names)}")
    for name, reason in stripping.whole.items():
      parts.append(f'whole examples: {name}: {reason}')
  if warmup_file.problems:
    parts.append(f'\n{len(warmup_file.problems)} problem(s); TF Serving would refuse this file:')
    parts.extend(f"  record {p.record if p.record is not None else '-'}: {p.code}: {p.message}"
                 for p in warmup_file.problems)
  validation = report.validation
  cold_start = report.cold_start
  if validation and validation.ok and warmup_file.path:
    parts.append('\n' + _replay_line(validation, cold_start, say))
  if cold_start and cold_start.measured:
    parts.append('\nCold start (ms; first request after load, in a fresh process):')
    parts.append(format_table(
        [('API', 'signature', 'batch size', 'without warmup', 'with warmup', 'steady p50',
          'steady p99')] +
        [(r.api, r.signature, str(r.batch_size), f'{r.first_ms_without_warmup:.2f}',
          _ms(r.first_ms_with_warmup), f'{r.steady_p50_ms:.2f}', f'{r.steady_p99_ms:.2f}')
         for r in cold_start.requests]))
    parts.append(f'First requests: {cold_start.first_ms_meaning}.')
  elif cold_start:
    parts.append(f'\nCold start not measured: {say(cold_start.skipped)}.')
  if report.swap:
    parts.append('\n' + format_swap(report.swap))
  if report.traffic:
    parts.append('\n' + format_traffic(report.traffic))
  return '\n'.join(parts)


def format_traffic(traffic: TrafficSection, most: int = 20) -> str:
  """The logged traffic by share, what the warmup covers, and what this model would refuse."""
  warming = traffic.coverage is not None
  parts = [f'Traffic: {traffic.requests:,} logged requests in {traffic.logs} '
           f'({", ".join(traffic.formats)}); {traffic.not_requests:,} lines hold none.']
  parts.extend(f'  not a request: {example}' for example in traffic.not_request_examples[:3])
  shown = traffic.combinations[:most]
  rows = [('API', 'signature', 'batch size', 'outputs', 'shapes', 'requests', 'share') +
          (('warmed',) if warming else ())]
  rows += [(c.api, c.signature, str(c.batch_size), c.output_filter or 'all', c.shapes or '-',
            f'{c.requests:,}', f'{c.share:.1%}' if not _refused(c) else 'refused') +
           (('yes' if c.warmed else (c.why_not or 'no').split(':')[0],) if warming else ())
           for c in shown]
  parts.append(format_table(rows))
  if len(traffic.combinations) > most:
    parts.append(f'... and {len(traffic.combinations) - most} smaller combinations.')
  if warming:
    parts.append(f'The warmup covers {traffic.coverage:.1%} of the logged requests this model '
                 f'accepts (records: the {traffic.payloads} of the traffic).')
  if traffic.unstrippable:
    parts.append('Raw string inputs, shipped as logged (stripping cannot reduce them): '
                 + ', '.join(traffic.unstrippable))
  refused = sum(r.requests for r in traffic.refused)
  if refused:
    parts.append(f'This model would refuse {refused:,} logged requests; '
                 f'{traffic.newly_refused:,} ({traffic.newly_refused_share:.1%}) of them are '
                 'answered today' + (f' by {traffic.compared_with}' if traffic.compared_with
                                     else '') + ':')
    parts.extend(f'  {r.requests:,} ({r.newly_refused:,} newly): {r.reason} (e.g. {r.example})'
                 for r in traffic.refused[:5])
  else:
    parts.append('This model would refuse none of the logged requests.')
  return '\n'.join(parts)


def _refused(combination) -> bool:
  return bool(combination.why_not and combination.why_not.startswith('refused'))


def format_feature_coverage(coverage: Dict[str, FeatureCoverage], most: int = 5) -> str:
  """One line: per share, the signatures and what they miss (the first `most` names)."""
  groups: Dict[Tuple[float, int, Tuple[str, ...]], List[str]] = {}
  for name, c in coverage.items():
    groups.setdefault((c.share, c.parsed, tuple(c.missing)), []).append(name)
  cells = []
  for (share, parsed, missing), names in groups.items():
    carried = parsed - len(missing)
    lacking = (f"; missing {', '.join(missing[:most])}"
               + (f' and {len(missing) - most} more' if len(missing) > most else '')
               if missing else '')
    cells.append(f"{', '.join(names)} {share:.0%} ({carried} of {parsed}{lacking})")
  return 'Features parsed that the examples carry: ' + '; '.join(cells)


def _replay_line(validation: ValidationSection, cold_start: Optional[ColdStartSection],
                 say: Callable[[str], str]) -> str:
  """The replay's figure, saying what it measures: TF Serving's load pays only a fresh one."""
  replayed = f'{validation.records} records, {validation.seconds:.2f} s'
  if validation.fresh_load:
    return (f'Replayed in the TF Serving replica right after the load, as TF Serving does: '
            f'{replayed} (what the load pays).')
  if cold_start and cold_start.measured and cold_start.replay_records:
    fresh = (f'{cold_start.replay_seconds:.2f} s in the fresh process of the cold start '
             'measured below')
  else:
    fresh = say('`verify_model` on the written model times that')
  return (f'Replayed in the TF Serving replica: {replayed}, on a model whose signatures had '
          'each run already (the checks before the replay). TF Serving replays them right '
          f'after the load, which takes longer: {fresh}.')


def format_swap(swap: SwapSection) -> str:
  """The swap's cases ranked by what they cost clients, what each is, the verdict, its memory,
  and what to apply."""
  lines = [f'Version swap ({swap.qps:g} QPS open loop, {swap.qps_source}; deadline '
           f'{swap.deadline_ms:g} ms, {swap.deadline_source}; {swap.repetitions} fresh-process '
           f'run{"s" if swap.repetitions != 1 else ""} per case, medians):']
  ranked = sorted(swap.cases, key=lambda c: c.rank if c.rank is not None else len(swap.cases))
  lines.append(format_table(
      [('rank', 'case', 'group', 'window p99 ms (runs)', 'window s', 'late',
        'first p99 / max ms', 'peak MiB')] +
      [(str(c.rank) if c.rank is not None else '-', f'({c.role}) {c.name}', c.group or '-',
        f"{c.window_p99_ms:.2f} ({', '.join(f'{p:.2f}' for p in c.window_p99_ms_runs)})",
        f'{c.window_seconds:.2f}', str(c.late), f'{_ms(c.first_p99_ms)} / {c.first_max_ms:.2f}',
        f'{c.memory.peak_mib:.0f}' if c.memory else '-')
       for c in ranked]))
  lines.append('Ranked by what the swap costs clients: requests late (past the deadline) from '
               "the load on, then the serving version's p99 in the window, while the next "
               "version loads and replays its warmup file. 'first': the new version's first "
               "seconds; 'peak': the process's resident memory. The cases:")
  lines.extend(f'  {c.name}: {c.description}' for c in swap.cases)
  if swap.memory:
    lines.append(swap.memory + (f' Within the memory limit of {swap.memory_limit_mib:g} MiB.'
                                if swap.memory_limit_mib else ''))
  lines.append(f'Verdict: {swap.verdict}. {swap.recommendation}')
  lines.extend(format_swap_apply(swap))
  lines.extend(f'Note: {note}' for note in swap.notes)
  lines.extend(f'Note: {note}' for note in swap.not_measured if note not in swap.notes)
  return '\n'.join(lines)


def format_swap_apply(swap: SwapSection, where: Optional[str] = None) -> List[str]:
  """What to apply for the recommendation: the server command, the platform config (its file, or
  its text where none was written) and the Dockerfile lines; [] when nothing is recommended.

  `where` is the directory the files are in, to name them by path (else by name).
  """
  if not swap.server_command:
    return []
  files = swap.files or ([swap.platform_config] if swap.platform_config else [])

  def named(name: str) -> str:
    return os.path.join(where, name) if where else name

  lines = ['Serve with:', f'  {swap.server_command}']
  config = next((f for f in files if f.endswith('.pbtxt')), None)
  if config:
    lines.append(f'Platform config: {named(config)}')
  elif swap.platform_config_text:
    lines.append('Platform config (save it where --platform_config_file points):')
    lines.extend(f'  {line}' for line in swap.platform_config_text.rstrip().splitlines())
  if swap.dockerfile:
    dockerfile = next((f for f in files if f.startswith('Dockerfile')), None)
    lines.append("TF Serving's image with the allocator"
                 + (f' ({named(dockerfile)}):' if dockerfile else ':'))
    lines.extend(f'  {line}' for line in swap.dockerfile.rstrip().splitlines())
  if files:
    lines.append('Written beside the report: ' + ', '.join(named(f) for f in files))
  return lines


def format_features(features: Dict[str, List[str]], width: Optional[int] = None) -> str:
  """Signatures sharing a feature set on one row; long lists wrapped to the terminal."""
  groups: Dict[Tuple[str, ...], List[str]] = {}
  for name, names in features.items():
    groups.setdefault(tuple(names), []).append(name)
  width = width or _terminal_width()
  rows = [(', '.join(signatures), ', '.join(names) or '-')
          for names, signatures in groups.items()]
  # A name is never broken: the column is at least as wide as the longest one (a
  # MultiInference's 'classification+regression' included), else a third of the width.
  longest_name = max(len(name) for signatures in groups.values() for name in signatures)
  left = max(len('signature'), longest_name,
             min(max(len(r[0]) for r in rows), width // 3))
  lines = [f"{'signature'.ljust(left)}  features", f"{'-' * left}  {'-' * 8}"]
  for signatures, names in rows:
    wrapped = _wrap_names(names, max(20, width - left - 2)) or ['-']
    labels = _wrap_names(signatures, left) or ['']
    for i in range(max(len(wrapped), len(labels))):
      label = labels[i] if i < len(labels) else ''
      text = wrapped[i] if i < len(wrapped) else ''
      lines.append(f'{label.ljust(left)}  {text}'.rstrip())
  return '\n'.join(lines)


def _wrap_names(joined: str, width: int) -> List[str]:
  """', '-joined names in lines of `width`, broken between names only (a longer name
  is a line of its own)."""
  return textwrap.wrap(joined, width, break_long_words=False, break_on_hyphens=False)


def _terminal_width(fallback: int = 100) -> int:
  """$COLUMNS, else the terminal's width, else `fallback` (output piped to a file)."""
  try:
    return int(os.environ.get('COLUMNS', '')) or fallback
  except ValueError:
    pass
  try:
    return os.get_terminal_size().columns
  except OSError:
    return fallback


def _ms(value: Optional[float]) -> str:
  """A latency cell; '-' for a figure not measured (no warmup file to replay)."""
  return '-' if value is None else f'{value:.2f}'
