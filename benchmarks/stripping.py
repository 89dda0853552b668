"""Privacy-minimal records side by side: whole examples vs stripped to what each signature parses.

  python -m benchmarks.stripping [--requests 1000] [--repeats 3] [--out DIR]

Every example carries two fields no model reads, as real logs do: an e-mail and
a raw session log (`cold_start.with_unread_features`). For each model of
benchmarks/cold_start.py, ModelWarmer writes two warmup files from the same
sample and parameters:
  whole      strip_unread_features=False: every feature of each example;
  stripped   the default: each record keeps what its signature(s) parse, each
             proven in the replica to answer exactly as its whole twin.
For each file: records, bytes, whether the e-mail is in it, and the executor's
wall time (the stripped run includes the proof). Then both copies are timed as
benchmarks/cold_start.py times them, in fresh processes on the same live
traffic (whole examples, as clients send them): the replay seconds the warmup
adds to the load, and the cold-start ratio. The same ratio within noise means
the stripped records warm what the whole ones do. Medians of --repeats runs.
Prints a markdown table and writes stripping.md to --out.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Dict, List

from benchmarks import cold_start
from tfx_warmup.serving import warmup_file

CASES = {'whole': dict(strip_unread_features=False), 'stripped': {}}


def run(out_dir: str, count: int, repeats: int) -> List[Dict]:
  rows = []
  with tempfile.TemporaryDirectory() as root:
    for name, setup in cold_start.prepare_models(root, unread_features=True).items():
      base = os.path.join(root, name)
      copies = {}
      for case, params in CASES.items():
        start = time.perf_counter()
        copies[case] = cold_start.copy_with_our_warmup(name, setup, os.path.join(base, case),
                                                       **params)
        generate_s = time.perf_counter() - start
        with open(warmup_file.warmup_file_path(copies[case]), 'rb') as f:
          raw = f.read()
        rows.append(dict(model=name, case=case, bytes=len(raw), generate_s=generate_s,
                         email=b'@example.com' in raw))
      traffic_path = os.path.join(base, 'traffic')
      cold_start.write_traffic(traffic_path, copies['whole'], setup['traffic'],
                               list(range(1, 129)), count)
      # Alternate the two copies, so that a noisy spell on the machine hits both.
      timings: Dict[str, List[Dict]] = {case: [] for case in CASES}
      for _ in range(repeats):
        for case in CASES:
          timings[case].append(cold_start.time_case(copies[case], traffic_path))
      for row in rows[-len(CASES):]:
        runs = timings[row['case']]
        row.update(records=runs[0]['records'],
                   replay_s=statistics.median(r['replay_s'] for r in runs),
                   ratio=statistics.median(r['ratio'] for r in runs),
                   median_ms=statistics.median(r['median_ms'] for r in runs))
        print(f"{name:20s} {row['case']:9s} {row['bytes']:>9,} B  replay "
              f"{row['replay_s']:.2f} s  ratio {row['ratio']:.2f}", file=sys.stderr)
  report = format_report(rows, count, repeats)
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'stripping.md'), 'w') as f:
    f.write(report + '\n')
  print(report)
  return rows


def format_report(rows: List[Dict], count: int, repeats: int) -> str:
  whole = {r['model']: r for r in rows if r['case'] == 'whole'}
  lines = [
      f'Examples carry an e-mail and a raw session log no model reads. Live traffic: {count} '
      'requests of whole examples at batch sizes 1..128, every signature; medians of '
      f'{repeats} fresh-process runs per file, the two files alternating. Bytes ratio = '
      'stripped / whole.', '',
      '| model | records | file | bytes | bytes ratio | e-mail in file | generate s | '
      'replay s at load | cold-start ratio | median ms |',
      '|---|---:|---|---:|---:|---|---:|---:|---:|---:|']
  for r in rows:
    lines.append(
        f"| {r['model']} | {r['records']:.0f} | {r['case']} | {r['bytes']:,} | "
        f"{r['bytes'] / whole[r['model']]['bytes']:.2f} | {'yes' if r['email'] else 'no'} | "
        f"{r['generate_s']:.1f} | {r['replay_s']:.2f} | {r['ratio']:.2f} | "
        f"{r['median_ms']:.2f} |")
  return '\n'.join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--requests', type=int, default=1000,
                      help='live requests per run (the ratio compares the two halves)')
  parser.add_argument('--repeats', type=int, default=3,
                      help='fresh-process runs per file; the table shows medians')
  parser.add_argument('--out', default=os.path.join('benchmarks', 'results'))
  args = parser.parse_args(argv)
  run(args.out, args.requests, args.repeats)
  return 0


if __name__ == '__main__':
  sys.exit(main())
