"""The memory allocators a swap can be measured under, and how a user applies one.

TF Serving's memory grows at each hot reload until the container is OOM-killed
(tensorflow/serving #2017, #1346, #1632, #2142); the maintainers' answer in
#2142 is jemalloc through `LD_PRELOAD`, and preloading an allocator also
shortens the load's stall of the serving version. No TF Serving setting
chooses the allocator: the dynamic linker does, before `tensorflow_model_server`
(or the measuring child) starts. So an allocator is a library file: found on
this machine to measure it, named by its path in TF Serving's image to apply
it, installed there from its Debian/Ubuntu package.

TF Serving's image is Ubuntu 22.04 on x86_64 (tensorflow_serving/tools/docker/
Dockerfile), where both packages put their library in /usr/lib/x86_64-linux-gnu.
A library that the linker cannot preload (missing, another architecture, not a
shared object) is only a warning from ld.so, and the process runs on glibc's
malloc: `check_preload` turns that warning into an error text, so a case is
never measured under an allocator it did not run with.
"""

import dataclasses
import os
import subprocess
import sysconfig
from typing import Dict, Optional, Sequence

from tfx_warmup.errors import ConfigurationError

# Colon-separated directories searched first for the allocators' libraries.
PATH_VARIABLE = 'TFX_WARMUP_ALLOCATOR_PATH'
# Where TF Serving's image (Ubuntu, x86_64) has the packages' libraries.
IMAGE_LIBRARY_DIR = '/usr/lib/x86_64-linux-gnu'
DEFAULT_BASE_IMAGE = 'tensorflow/serving:2.16.1'
# ld.so's words when a preload fails (elf/rtld.c): "ERROR: ld.so: object '...' from
# LD_PRELOAD cannot be preloaded (<reason>): ignored."
_PRELOAD_FAILED = 'cannot be preloaded'
_CHECK_SECONDS = 30


@dataclasses.dataclass(frozen=True)
class Allocator:
  """One malloc: its library file ('' for glibc's own) and the package that installs it."""
  name: str
  library: str
  package: str
  description: str

  @property
  def preload_path_in_image(self) -> str:
    """The library's path in TF Serving's image once `package` is installed ('' for glibc)."""
    return f'{IMAGE_LIBRARY_DIR}/{self.library}' if self.library else ''


GLIBC = 'glibc'
ALLOCATORS: Dict[str, Allocator] = {a.name: a for a in (
    Allocator(GLIBC, '', '', "glibc's malloc, TF Serving's default (nothing preloaded)"),
    Allocator('jemalloc', 'libjemalloc.so.2', 'libjemalloc2',
              'jemalloc, the allocator the maintainers advise against memory growing at '
              'each reload (tensorflow/serving #2142)'),
    Allocator('tcmalloc', 'libtcmalloc_minimal.so.4', 'libtcmalloc-minimal4',
              "gperftools' tcmalloc (the minimal build: no heap profiler)"),
)}


def allocator(name: str) -> Allocator:
  """The allocator called `name`; raises ConfigurationError naming the known ones."""
  if name not in ALLOCATORS:
    raise ConfigurationError(
        f'Unknown allocator {name!r}; use one of {sorted(ALLOCATORS)}.')
  return ALLOCATORS[name]


def default_search_dirs() -> Sequence[str]:
  """$TFX_WARMUP_ALLOCATOR_PATH's directories, then the system's library directories."""
  multiarch = sysconfig.get_config_var('MULTIARCH') or f'{os.uname().machine}-linux-gnu'
  extra = [d for d in os.environ.get(PATH_VARIABLE, '').split(os.pathsep) if d]
  return extra + [f'/usr/lib/{multiarch}', f'/lib/{multiarch}', '/usr/lib64', '/usr/lib',
                  '/usr/local/lib']


def find(name: str, search_dirs: Optional[Sequence[str]] = None) -> Optional[str]:
  """The path of `name`'s library on this machine, None if missing (always None for glibc)."""
  library = allocator(name).library
  if not library:
    return None
  for directory in default_search_dirs() if search_dirs is None else search_dirs:
    path = os.path.join(directory, library)
    if os.path.isfile(path):
      return path
  return None


def missing_note(name: str) -> str:
  """The report's note on an allocator whose library is not on this machine: how to get it."""
  found = allocator(name)
  return (f'{name} was not measured: {found.library} was not found here; install it with '
          f'`apt-get install {found.package}` (Debian/Ubuntu) and run again.')


def child_env(name: str, path: Optional[str]) -> Dict[str, str]:
  """The environment a process adds to run on `name` preloaded from `path` ({} for glibc)."""
  if not allocator(name).library:
    return {}
  if not path:
    raise ConfigurationError(
        f'{name} needs the path of its library to preload; find it with '
        f'allocators.find({name!r}), or install it: {missing_note(name)}')
  return {'LD_PRELOAD': path}


def dockerfile_lines(name: str, base_image: str = DEFAULT_BASE_IMAGE) -> str:
  """Dockerfile lines for TF Serving's image with `name` installed and preloaded.

  For glibc, the FROM line alone: the image as it is.
  """
  found = allocator(name)
  lines = [f'FROM {base_image}']
  if found.library:
    lines += [
        'RUN apt-get update && apt-get install -y --no-install-recommends '
        f'{found.package} && rm -rf /var/lib/apt/lists/*',
        f'ENV LD_PRELOAD={found.preload_path_in_image}',
    ]
  return '\n'.join(lines) + '\n'


def check_preload(path: str) -> Optional[str]:
  """None when the dynamic linker preloads `path`, else what went wrong, in one line.

  Runs /bin/true with LD_PRELOAD=`path`: ld.so only warns about a library it
  cannot preload and runs the program anyway, so its warning is the signal.
  """
  env = dict(os.environ, LD_PRELOAD=path)
  try:
    done = subprocess.run(['/bin/true'], env=env, capture_output=True, text=True,
                          timeout=_CHECK_SECONDS, check=False)
  except (OSError, subprocess.TimeoutExpired) as e:
    return f'/bin/true could not run with LD_PRELOAD={path}: {e}'
  problems = [line.strip() for line in done.stderr.splitlines() if line.strip()]
  if done.returncode != 0 or any(_PRELOAD_FAILED in line for line in problems):
    return ' '.join(problems) or f'/bin/true exited with {done.returncode} under it'
  return None
