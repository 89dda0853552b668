"""The docs site builds (strictly) with its generated references; the README points into it."""

import argparse
import html
import os
import re
import subprocess
import sys

import pytest

# The [docs] extra (`make install` has it; the other TFX stacks of `make test-compat` do not).
pytest.importorskip('mkdocs')

from tfx_warmup.cli import parser as cli_parser
from tfx_warmup.options import parameters

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_README = os.path.join(_REPO, 'README.md')
_DOCS = os.path.join(_REPO, 'docs')
_MKDOCS = [sys.executable, '-m', 'mkdocs']
README_LIMIT = 12 * 1024  # bytes: a newcomer reads it in two minutes


@pytest.fixture(scope='module')
def site(tmp_path_factory):
  """The site, built as `make docs` builds it (--strict: any warning or broken link fails)."""
  site_dir = tmp_path_factory.mktemp('site')
  env = dict(os.environ, NO_MKDOCS_2_WARNING='1',
             TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.run([*_MKDOCS, 'build', '--strict', '--site-dir', str(site_dir)],
                        cwd=_REPO, env=env, capture_output=True, text=True, check=False)
  assert proc.returncode == 0, (
      f'mkdocs build --strict failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
  return site_dir


def _page(site_dir, name: str) -> str:
  with open(os.path.join(site_dir, name, 'index.html'), encoding='utf-8') as f:
    return html.unescape(f.read())


def test_the_parameter_reference_is_generated_with_every_parameter(site):
  page = _page(site, 'pipeline')
  for p in parameters.PARAMETERS:
    assert f'<code>{p.name}</code>' in page, p.name
    if p.flag:
      assert f'<code>{p.flag.name}</code>' in page, p.flag.name


def test_the_cli_reference_is_generated_with_every_command(site):
  page = _page(site, 'cli')
  parser = cli_parser.build_parser()
  commands = next(a for a in parser._actions
                  if isinstance(a, argparse._SubParsersAction))
  assert {'generate', 'inspect', 'verify'} <= set(commands.choices)
  assert 'usage: tfx-warmup [-h] COMMAND' in page
  for name, sub in commands.choices.items():
    assert f'usage: tfx-warmup {name}' in page, name
    for action in sub._actions:
      for option in action.option_strings:
        assert option in page, (name, option)


def test_the_report_schema_is_generated_with_every_section(site):
  from tfx_warmup import report  # imports TensorFlow
  page = _page(site, 'output')
  sections = re.findall(r'^### `(\w+)`', report.schema_markdown(), re.M)
  assert {'WarmupReport', 'ColdStartSection'} <= set(sections)
  for name in sections:
    assert f'id="{name.lower()}"' in page, name


def test_no_page_keeps_a_generation_marker(site):
  for root, _, files in os.walk(site):
    for name in files:
      if name.endswith('.html'):
        with open(os.path.join(root, name), encoding='utf-8') as f:
          assert '<!-- generated:' not in f.read(), os.path.join(root, name)


def test_the_benchmark_figure_is_in_the_site(site):
  assert os.path.getsize(os.path.join(site, 'assets', 'cold_start.png')) > 0


def _readme() -> str:
  with open(_README, encoding='utf-8') as f:
    return f.read()


def test_readme_is_short_and_keeps_the_two_commands():
  assert os.path.getsize(_README) <= README_LIMIT, f'README.md is over {README_LIMIT} bytes'
  readme = _readme()
  assert 'make demo' in readme and 'make test' in readme
  assert '\n## Without TFX\n' in readme


def _heading_ids(markdown: str):
  """The ids MkDocs' toc extension gives the headings (its default slugify)."""
  ids = set()
  fence = False
  for line in markdown.splitlines():
    if line.startswith('```'):
      fence = not fence
    match = None if fence else re.match(r'#{1,6} (.*)', line)
    if match:
      text = re.sub(r'[`*]', '', match.group(1))
      slug = re.sub(r'[^\w\s-]', '', text).strip().lower()
      ids.add(re.sub(r'[-\s]+', '-', slug))
  return ids


def test_readme_links_only_to_docs_pages_that_exist():
  links = re.findall(r'\]\(([^)\s]+)\)', _readme())
  assert links, 'README links to no docs page'
  for link in links:
    if re.match(r'[a-z]+://', link):
      continue
    path, _, anchor = link.partition('#')
    assert path.startswith('docs/') and path.endswith('.md'), f'README links outside docs/: {link}'
    target = os.path.join(_REPO, path)
    assert os.path.isfile(target), f'README links to a missing page: {link}'
    if anchor:
      with open(target, encoding='utf-8') as f:
        assert anchor in _heading_ids(f.read()), f'README links to a missing heading: {link}'


def test_readme_links_to_every_docs_page():
  pages = {f'docs/{n}' for n in os.listdir(_DOCS) if n.endswith('.md')}
  linked = {link.partition('#')[0] for link in re.findall(r'\]\(([^)\s]+)\)', _readme())}
  assert pages <= linked, f'README does not link: {sorted(pages - linked)}'


def test_the_runner_list_is_generated_in_three_groups(site):
  from tfx_warmup.data import runners
  page = _page(site, 'scale')
  for runner in runners.RUNNERS:
    assert re.search(rf'<td>{runner.name}</td>\s*<td>{runner.support}</td>', page), runner.name
  assert 'no translation for Read' in page
