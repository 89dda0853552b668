"""The replica stands alone: nothing under tfx_warmup/serving imports the rest of tfx-warmup."""

import ast
import glob
import os

import tfx_warmup.serving

_SERVING = os.path.dirname(tfx_warmup.serving.__file__)


def _imported_modules(path: str):
  with open(path) as f:
    tree = ast.parse(f.read())
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
      yield node.module
      yield from (f'{node.module}.{alias.name}' for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      yield '.' * node.level + (node.module or '')  # Relative: inside serving by construction.


def test_serving_imports_only_itself_of_tfx_warmup():
  files = sorted(glob.glob(os.path.join(_SERVING, '**', '*.py'), recursive=True))
  assert len(files) > 10
  leaks = [f'{os.path.relpath(path, _SERVING)}: {module}' for path in files
           for module in _imported_modules(path)
           if module.startswith('tfx_warmup') and not (
               module == 'tfx_warmup.serving' or module.startswith('tfx_warmup.serving.'))]
  assert not leaks


def test_the_check_sees_an_import_of_the_rest(tmp_path):
  """The test above can fail: an import of the component is found."""
  path = tmp_path / 'leaky.py'
  path.write_text('from tfx_warmup.options import parameters\nimport tfx_warmup.errors\n')
  assert list(_imported_modules(str(path))) == [
      'tfx_warmup.options', 'tfx_warmup.options.parameters', 'tfx_warmup.errors']


def test_the_contract_facts_live_in_serving():
  from tfx_warmup.options import BY_NAME, checks
  from tfx_warmup.serving import contract
  assert checks.MAX_RECORDS is BY_NAME['max_records'].default is contract.MAX_RECORDS == 1000
  assert contract.warmup_file_path('/m/1') == '/m/1/assets.extra/tf_serving_warmup_requests'
