"""Artifact URIs may be gs://, s3:// or hdfs://: every file access goes through TFX's fileio.

Two checks: the package never touches files with Python's builtins or os/shutil,
and the model-side stages (plan, write, read, replay, report) run unchanged on
TensorFlow's in-memory `ram://` filesystem, which no builtin can open. Reading
and sampling examples go through Beam's own filesystems (gs://, s3://, hdfs://);
committing is one `fileio.rename` of a directory, which local disks and GCS do
(ram:// keeps no directory entries, so it cannot).
"""

import ast
import glob
import json
import os

import pytest
import tensorflow as tf
from tfx.utils import io_utils

from tfx_warmup import replay
from tfx_warmup import signatures
from tfx_warmup import warmed_model
from tfx_warmup import warmup_file
from tfx_warmup import warmup_requests

_PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        'component', 'tfx_warmup')
_LOCAL_ONLY = {'open', 'os.path.exists', 'os.path.isdir', 'os.path.isfile', 'os.path.getsize',
               'os.makedirs', 'os.mkdir', 'os.remove', 'os.rename', 'os.replace', 'os.listdir',
               'os.walk', 'os.scandir', 'os.unlink', 'os.rmdir', 'glob.glob'}


def _dotted(node: ast.AST) -> str:
  if isinstance(node, ast.Name):
    return node.id
  if isinstance(node, ast.Attribute):
    return f'{_dotted(node.value)}.{node.attr}'
  return ''


@pytest.mark.parametrize('path', sorted(glob.glob(os.path.join(_PACKAGE, '*.py'))),
                         ids=os.path.basename)
def test_module_does_no_local_only_file_io(path):
  with open(path) as f:
    tree = ast.parse(f.read())
  offenders = [f'{os.path.basename(path)}:{node.lineno} {_dotted(node.func)}'
               for node in ast.walk(tree) if isinstance(node, ast.Call)
               and (_dotted(node.func) in _LOCAL_ONLY or _dotted(node.func).startswith('shutil.'))]
  imports = [f'{os.path.basename(path)}:{node.lineno} import shutil' for node in ast.walk(tree)
             if isinstance(node, ast.Import) and any(a.name == 'shutil' for a in node.names)]
  assert not offenders + imports, 'use tfx.dsl.io.fileio instead: ' + ', '.join(offenders + imports)


def test_model_side_stages_run_on_a_non_local_filesystem(tf1_model_dir, examples):
  staged = warmed_model.StagedOutput('ram://tfx-warmup-test/warmed_model.incomplete')
  io_utils.copy_dir(tf1_model_dir, staged.model_dir)  # As staged_output copies the input.
  plans = signatures.plan_signatures(staged.model_dir, ['serve']).usable
  records = warmup_requests.build_warmup_records(
      [e.SerializeToString() for e in examples[:8]],
      warmup_requests.plan_combinations(plans, [1, 4]))

  path = warmup_file.warmup_file_path(staged.model_dir)
  assert warmup_file.write_warmup_file(path, records) == len(records) > 0
  assert len(warmup_file.read_warmup_file(path)) == len(records)
  result = replay.replay_warmup(staged.model_dir)
  assert result.records == len(records)
  staged.write_report({'records': result.records})
  with tf.io.gfile.GFile(os.path.join(staged.root, warmed_model.REPORT_FILE)) as f:
    assert json.load(f) == {'records': len(records)}
