"""The Dockerfile: FROM the TFX image we pin, adds this package and nothing the image has.

No Docker engine runs here, so the test reads the Dockerfile, then builds the
package from exactly the files it COPYs, as `docker build` would.
"""

import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from typing import List, Tuple

import pytest
import tomli

from pipelines import vertex_pipeline

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _instructions() -> List[Tuple[str, str]]:
  """(INSTRUCTION, arguments) pairs, with comments dropped and continuations joined."""
  with open(os.path.join(_REPO, 'Dockerfile')) as f:
    lines = [line for line in f.read().splitlines() if not line.lstrip().startswith('#')]
  joined = re.sub(r'\\\n', ' ', '\n'.join(lines))
  return [(m.group(1).upper(), m.group(2).strip())
          for m in re.finditer(r'^\s*([A-Za-z]+)\s+(.*)$', joined, re.M)]


@pytest.fixture(scope='module')
def project() -> dict:
  with open(os.path.join(_REPO, 'pyproject.toml'), 'rb') as f:
    return tomli.load(f)


def _pinned(name: str) -> str:
  """The version constraints.txt (the stack the image and `make` install) pins `name` to."""
  with open(os.path.join(_REPO, 'constraints.txt')) as f:
    for line in f:
      match = re.fullmatch(rf'{re.escape(name)}==([\w.]+)', line.strip(), re.I)
      if match:
        return match.group(1)
  raise AssertionError(f'{name} is not pinned in constraints.txt')


def _copied_sources() -> List[str]:
  sources = []
  for instruction, args in _instructions():
    if instruction == 'COPY':
      sources.extend(a.rstrip('/') for a in shlex.split(args)[:-1] if not a.startswith('--'))
  return sources


def test_base_image_is_the_pinned_tfx_release():
  froms = [args for instruction, args in _instructions() if instruction == 'FROM']
  assert froms == [f'tensorflow/tfx:{_pinned("tfx")}']


def test_installs_the_allocators_the_swap_measures():
  from tfx_warmup.swap import allocators
  runs = ' '.join(args for instruction, args in _instructions() if instruction == 'RUN')
  packages = {allocators.allocator(name).package for name in ('jemalloc', 'tcmalloc')}
  assert all(re.search(rf'apt-get install -y --no-install-recommends .*\b{p}\b', runs)
             for p in packages), runs


def test_installs_this_package_without_replacing_the_images_stack():
  runs = [args for instruction, args in _instructions() if instruction == 'RUN']
  commands = [c for r in runs for c in re.split(r'&&|;', r)]
  installs = [shlex.split(c) for c in commands if 'pip install' in c]
  assert len(installs) == 1
  words = installs[0]
  assert '.' in words  # This package, from the copied sources.
  for flag in ('--upgrade', '-U', '-c', '--constraint', '-r', '--requirement', '--force-reinstall'):
    assert flag not in words, f'{flag} would replace packages the TFX image already has'


def test_copies_everything_the_package_build_reads(project):
  needed = {'pyproject.toml', project['project']['readme'],
            *project['project']['license-files'],
            *project['tool']['setuptools']['package-dir'].values()}
  assert needed <= set(_copied_sources())


# The build runs without isolation, with this venv's setuptools and packaging, as it would in the
# image: only the pinned stack is that image's (TFX 1.14 pins packaging<21, which setuptools>=77
# cannot build an SPDX `license` with).
@pytest.mark.skipif(importlib.metadata.version('tfx') != _pinned('tfx'),
                    reason="builds as in the Dockerfile's image, whose stack is constraints.txt's")
def test_the_copied_files_build_a_package_holding_the_executor(tmp_path):
  context = tmp_path / 'context'
  for source in _copied_sources():
    copy = shutil.copytree if os.path.isdir(os.path.join(_REPO, source)) else shutil.copy
    os.makedirs(context / os.path.dirname(source), exist_ok=True)
    copy(os.path.join(_REPO, source), context / source)
  proc = subprocess.run(
      [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
       '-w', str(tmp_path / 'dist'), str(context)], capture_output=True, text=True, check=False)
  assert proc.returncode == 0, proc.stderr
  (wheel,) = os.listdir(tmp_path / 'dist')
  with zipfile.ZipFile(tmp_path / 'dist' / wheel) as archive:
    names = archive.namelist()
  assert 'tfx_warmup/component/executor.py' in names
  assert not any(n.startswith(('tests/', 'pipelines/')) for n in names)


def test_dockerignore_keeps_the_venv_out_of_the_build_context():
  with open(os.path.join(_REPO, '.dockerignore')) as f:
    ignored = {line.strip().rstrip('/') for line in f if line.strip() and line[0] != '#'}
  assert {'.venv', '.git', 'runs'} <= ignored


def test_vertex_default_image_is_tagged_with_this_version(project):
  assert vertex_pipeline.DEFAULT_IMAGE == f'tfx-warmup:{project["project"]["version"]}'
