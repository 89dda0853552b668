"""MkDocs hook: the references generated from the code at build time, never copied by hand.

A page asks for one with a marker line, replaced when the page is built:

    <!-- generated: parameters -->      ModelWarmer's parameters (tfx_warmup.options)
    <!-- generated: cli -->             `tfx-warmup --help` and each command's (tfx_warmup.cli)
    <!-- generated: report-schema -->   warmup_report.json's schema (tfx_warmup.report)
    <!-- generated: runners -->         the Beam runners and their support (tfx_warmup.data.runners)
    <!-- generated: traffic-formats --> the traffic log formats, a sample of each
                                        (tfx_warmup.traffic.formats)

The benchmark figure is taken from benchmarks/results/ as the build runs, so the
site shows what `make benchmark` last wrote.
"""

import argparse
import os
import re
from typing import Any, Callable, Dict

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

# TFX's stack runs legacy Keras; the report module imports TensorFlow.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_MARKER = re.compile(r'^<!-- generated: ([a-z-]+) -->$', re.M)
# Figures outside docs/ that pages show: site path -> repository path.
_FIGURES = {'assets/cold_start.png': 'benchmarks/results/cold_start.png'}
# argparse wraps at $COLUMNS; fixed so the page does not depend on the terminal.
_HELP_WIDTH = '100'


def _cell(text: str) -> str:
  return text.replace('|', '\\|').replace('\n', ' ')


def _type_name(annotation: Any) -> str:
  if isinstance(annotation, type):
    return annotation.__name__
  return re.sub(r'\btyping\.', '', str(annotation))


def parameters_markdown() -> str:
  """The parameter reference: one row per entry of PARAMETERS, in ModelWarmer's order."""
  from tfx_warmup.options import parameters
  rows = ['| parameter | type | default | CLI flag | meaning |', '|---|---|---|---|---|']
  for p in parameters.PARAMETERS:
    default = list(p.default) if isinstance(p.default, tuple) else p.default
    default_text = p.default_text or f'`{default!r}`'
    flag = f'`{p.flag.name}`' if p.flag else 'component only'
    meaning = p.help
    if p.choices:
      meaning += '; one of ' + ', '.join(f'`{c!r}`' for c in p.choices)
    rows.append(f'| `{p.name}` | `{_cell(_type_name(p.annotation))}` | {_cell(default_text)} | '
                f'{flag} | {_cell(meaning)} |')
  return '\n'.join(rows) + '\n'


def cli_markdown() -> str:
  """`tfx-warmup --help`, then each command's --help, as argparse prints them."""
  from tfx_warmup.cli.parser import build_parser
  previous = os.environ.get('COLUMNS')
  os.environ['COLUMNS'] = _HELP_WIDTH
  try:
    parser = build_parser()
    parts = ['### `tfx-warmup`\n', '```text', parser.format_help().rstrip(), '```\n']
    commands = next(a for a in parser._actions  # noqa: SLF001  (argparse's subcommands)
                    if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001  (argparse's subcommands)
    for name, sub in commands.choices.items():
      parts += [f'### `tfx-warmup {name}`\n', '```text', sub.format_help().rstrip(), '```\n']
  finally:
    if previous is None:
      os.environ.pop('COLUMNS', None)
    else:
      os.environ['COLUMNS'] = previous
  return '\n'.join(parts)


def report_schema_markdown() -> str:
  from tfx_warmup.report import schema_markdown
  return schema_markdown()


def runners_markdown() -> str:
  from tfx_warmup.data.runners import runners_markdown as table
  return table()


def traffic_formats_markdown() -> str:
  from tfx_warmup.traffic.formats import formats_markdown
  return formats_markdown()


GENERATORS: Dict[str, Callable[[], str]] = {
    'parameters': parameters_markdown,
    'cli': cli_markdown,
    'report-schema': report_schema_markdown,
    'runners': runners_markdown,
    'traffic-formats': traffic_formats_markdown,
}


def on_files(files, config):
  for site_path, repo_path in _FIGURES.items():
    source = os.path.join(_REPO, repo_path)
    if not os.path.exists(source):
      raise PluginError(f'{repo_path} is missing: run `make benchmark` to draw it.')
    files.append(File.generated(config, site_path, abs_src_path=source))
  return files


def on_page_markdown(markdown, page, config, files):
  def generate(match):
    name = match.group(1)
    if name not in GENERATORS:
      raise PluginError(f'{page.file.src_uri}: unknown generated reference {name!r}; '
                        f'known: {sorted(GENERATORS)}')
    return GENERATORS[name]().rstrip('\n')
  return _MARKER.sub(generate, markdown)
