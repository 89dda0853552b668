"""The allocators: found on this machine, refused when ld.so cannot preload them, applied in
TF Serving's image and on its command line."""

import os
import shlex
import subprocess

import pytest

from tfx_warmup.errors import ConfigurationError
from tfx_warmup.serving import platform_config as pc
from tfx_warmup.swap import allocators

# Installed here by the Makefile and .ci/run (Debian's libjemalloc2).
JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'


def test_the_table():
  assert sorted(allocators.ALLOCATORS) == ['glibc', 'jemalloc', 'tcmalloc']
  jemalloc, tcmalloc = allocators.ALLOCATORS['jemalloc'], allocators.ALLOCATORS['tcmalloc']
  assert (jemalloc.library, jemalloc.package) == ('libjemalloc.so.2', 'libjemalloc2')
  assert (tcmalloc.library, tcmalloc.package) == ('libtcmalloc_minimal.so.4',
                                                  'libtcmalloc-minimal4')
  assert jemalloc.preload_path_in_image == JEMALLOC
  assert allocators.ALLOCATORS['glibc'].preload_path_in_image == ''


def test_find_in_a_search_dir_holding_the_library(tmp_path):
  empty, holding = tmp_path / 'empty', tmp_path / 'lib'
  empty.mkdir()
  holding.mkdir()
  (holding / 'libjemalloc.so.2').write_bytes(b'not really a library')
  assert allocators.find('jemalloc', [str(empty), str(holding)]) == str(
      holding / 'libjemalloc.so.2')
  assert allocators.find('tcmalloc', [str(empty), str(holding)]) is None
  assert allocators.find('jemalloc', [str(empty)]) is None
  assert allocators.find('glibc', [str(holding)]) is None  # nothing to preload


def test_the_path_variable_is_searched_first(tmp_path, monkeypatch):
  (tmp_path / 'libtcmalloc_minimal.so.4').write_bytes(b'x')
  monkeypatch.setenv(allocators.PATH_VARIABLE, os.pathsep.join(['/nonexistent', str(tmp_path)]))
  assert allocators.default_search_dirs()[:2] == ['/nonexistent', str(tmp_path)]
  assert allocators.find('tcmalloc') == str(tmp_path / 'libtcmalloc_minimal.so.4')


def test_the_system_library_is_found_and_preloads(monkeypatch):
  monkeypatch.delenv(allocators.PATH_VARIABLE, raising=False)
  assert allocators.find('jemalloc') == JEMALLOC
  assert allocators.check_preload(JEMALLOC) is None


def test_check_preload_refuses_what_ld_so_cannot_preload(tmp_path):
  text = tmp_path / 'notes.txt'
  text.write_text('not a shared object\n' * 100)
  problem = allocators.check_preload(str(text))
  assert problem is not None
  assert str(text) in problem and 'cannot be preloaded' in problem
  assert 'cannot be preloaded' in allocators.check_preload(str(tmp_path / 'missing.so'))


def test_missing_note_says_how_to_install():
  assert allocators.missing_note('jemalloc') == (
      'jemalloc was not measured: libjemalloc.so.2 was not found here; install it with '
      '`apt-get install libjemalloc2` (Debian/Ubuntu) and run again.')
  assert '`apt-get install libtcmalloc-minimal4`' in allocators.missing_note('tcmalloc')


def test_child_env():
  assert allocators.child_env('glibc', None) == {}
  assert allocators.child_env('jemalloc', JEMALLOC) == {'LD_PRELOAD': JEMALLOC}
  with pytest.raises(ConfigurationError, match='apt-get install libtcmalloc-minimal4'):
    allocators.child_env('tcmalloc', None)


def test_unknown_allocator_names_the_known_ones():
  with pytest.raises(ConfigurationError, match=r"'mimalloc'.*\['glibc', 'jemalloc', 'tcmalloc'\]"):
    allocators.find('mimalloc')


def test_dockerfile_lines():
  lines = allocators.dockerfile_lines('tcmalloc').splitlines()
  assert lines == [
      'FROM tensorflow/serving:2.16.1',
      'RUN apt-get update && apt-get install -y --no-install-recommends '
      'libtcmalloc-minimal4 && rm -rf /var/lib/apt/lists/*',
      'ENV LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4']
  assert allocators.dockerfile_lines('jemalloc', 'tensorflow/serving:2.15.0').splitlines()[
      ::2] == ['FROM tensorflow/serving:2.15.0', f'ENV LD_PRELOAD={JEMALLOC}']
  assert allocators.dockerfile_lines('glibc') == 'FROM tensorflow/serving:2.16.1\n'


def _fake_server(tmp_path):
  """A `tensorflow_model_server` on PATH that prints its LD_PRELOAD, then its arguments."""
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  script = bin_dir / 'tensorflow_model_server'
  script.write_text('#!/bin/sh\necho "LD_PRELOAD=$LD_PRELOAD"\nfor a in "$@"; do echo "$a"; done\n')
  script.chmod(0o755)
  return dict(os.environ, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')


@pytest.mark.parametrize('config,platform_file,flags', [
    (pc.ServerConfig(intra_op_threads=1), None, ['--tensorflow_intra_op_parallelism=1']),
    (pc.ServerConfig(pools=(pc.ThreadPool(), pc.ThreadPool(1)), load_pool_index=1,
                     intra_op_threads=1), '/etc/serving/platform config.txt',
     ['--platform_config_file=/etc/serving/platform config.txt']),
])
def test_the_command_runs_in_a_shell_with_the_allocator_preloaded(tmp_path, config,
                                                                   platform_file, flags):
  path = allocators.ALLOCATORS['jemalloc'].preload_path_in_image
  command = pc.server_command('ctr', '/models/ctr', config, platform_config_file=platform_file,
                              preload=path)
  out = subprocess.run(['/bin/sh', '-c', command], env=_fake_server(tmp_path),
                       capture_output=True, text=True, check=True)
  assert out.stderr == ''  # ld.so preloaded it without a word
  assert out.stdout.splitlines() == [
      f'LD_PRELOAD={path}', '--port=8500', '--rest_api_port=8501', '--model_name=ctr',
      '--model_base_path=/models/ctr'] + flags
  assert shlex.split(command)[0] == f'LD_PRELOAD={path}'
