"""Artifact URIs may be gs://, s3:// or hdfs://: every file access goes through TFX's fileio
(the replica, `serving/`, which must not need TFX, through `tf.io.gfile`, which fileio wraps).

Two checks: the package never touches files with Python's builtins or os/shutil,
and the model-side stages (plan, write, read, replay, report) run unchanged on
TensorFlow's in-memory `ram://` filesystem, which no builtin can open. Reading
and sampling examples go through Beam's own filesystems (gs://, s3://, hdfs://);
committing is one `fileio.rename` of a directory, which local disks and GCS do
(ram:// keeps no directory entries, so it cannot).
"""

import ast
import glob
import os

import pytest
import tensorflow as tf

from tfx_warmup import serving
from tfx_warmup.requests import signatures
from tfx_warmup import report as report_lib
from tfx_warmup.library import output as warmed_model
from tfx_warmup.serving import warmup_file
from tfx_warmup.requests import build as warmup_requests

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_PACKAGE = os.path.join(_REPO, 'component', 'tfx_warmup')
_LOCAL_ONLY = {'open', 'os.path.exists', 'os.path.isdir', 'os.path.isfile', 'os.path.getsize',
               'os.makedirs', 'os.mkdir', 'os.remove', 'os.rename', 'os.replace', 'os.listdir',
               'os.walk', 'os.scandir', 'os.unlink', 'os.rmdir', 'glob.glob'}
# Modules whose files are the process's own scratch, never a user's path: local by design.
_LOCAL_SCRATCH = {
    # The measuring child's arguments, result and log, in a local temporary directory that
    # only the parent and its child process read.
    os.path.join('measure', 'child.py'),
}
# Modules whose files are this machine's by nature, never a user's path.
_LOCAL_BY_NATURE = {
    # The process's own memory, from Linux's /proc.
    os.path.join('measure', 'memory.py'): '/proc/self/',
    # The allocators' shared libraries: the dynamic loader preloads them from the local disk.
    os.path.join('swap', 'allocators.py'): 'LD_PRELOAD',
}


def _dotted(node: ast.AST) -> str:
  if isinstance(node, ast.Name):
    return node.id
  if isinstance(node, ast.Attribute):
    return f'{_dotted(node.value)}.{node.attr}'
  return ''


@pytest.mark.parametrize('path', sorted(glob.glob(os.path.join(_PACKAGE, '**', '*.py'),
                                             recursive=True)),
                         ids=lambda path: os.path.relpath(path, _PACKAGE))
def test_module_does_no_local_only_file_io(path):
  if os.path.relpath(path, _PACKAGE) in _LOCAL_SCRATCH:
    assert 'tempfile.' in open(path).read()  # Its files are scratch files it creates.
    return
  if os.path.relpath(path, _PACKAGE) in _LOCAL_BY_NATURE:
    assert _LOCAL_BY_NATURE[os.path.relpath(path, _PACKAGE)] in open(path).read()
    return
  with open(path) as f:
    tree = ast.parse(f.read())
  offenders = [f'{os.path.relpath(path, _PACKAGE)}:{node.lineno} {_dotted(node.func)}'
               for node in ast.walk(tree) if isinstance(node, ast.Call)
               and (_dotted(node.func) in _LOCAL_ONLY or _dotted(node.func).startswith('shutil.'))]
  imports = [f'{os.path.relpath(path, _PACKAGE)}:{node.lineno} import shutil'
             for node in ast.walk(tree)
             if isinstance(node, ast.Import) and any(a.name == 'shutil' for a in node.names)]
  assert not offenders + imports, ('use tfx.dsl.io.fileio (tf.io.gfile in serving/) instead: '
                                   + ', '.join(offenders + imports))


def test_model_side_stages_run_on_a_non_local_filesystem(tf1_model_dir, examples):
  staged = warmed_model.StagedOutput('ram://tfx-warmup-test/warmed_model.incomplete',
                                     'Format-Serving')
  plans = signatures.plan_signatures(serving.read_meta_graph(tf1_model_dir, ['serve']),
                                     tf1_model_dir).usable
  records = warmup_requests.build_warmup_records(
      [e.SerializeToString() for e in examples[:8]],
      warmup_requests.plan_combinations(plans, [1, 4]))

  staged.write_model(tf1_model_dir, records)  # Copy and warmup file, on ram://.
  path = warmup_file.warmup_file_path(staged.model_dir)
  assert path.startswith('ram://')
  assert len(warmup_file.read_warmup_file(path)) == len(records) > 0
  result = serving.replay_warmup(staged.model_dir)
  assert result.records == len(records)
  report = report_lib.WarmupReport(
      model=staged.model_dir, warmup_file=report_lib.warmup_file_section(path, records))
  staged.write_report(report)
  with tf.io.gfile.GFile(os.path.join(staged.root, warmed_model.REPORT_FILE)) as f:
    assert report_lib.WarmupReport.from_json(f.read()) == report
