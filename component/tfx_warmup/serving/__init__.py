"""A replica of TF Serving's model load, request path and warmup replay, in process.

No model server runs where pipelines run, so this package answers "would TF
Serving accept this model and this warmup file?" by doing what TF Serving's
TF1-session path does (tensorflow_serving/servables/tensorflow/), module for
module: `servable` loads as saved_model_bundle_factory does; `classifier`,
`regressor`, `predict` and `multi_inference` are the API handlers;
`batching_session` is the server-side batching wrapper; `warmup` the replay;
`warmup_file` the reader; `platform_config` the --platform_config_file. `native`
runs the same calls through TensorFlow's C++ (the wheel's C API), to time them.
It imports nothing from the rest of tfx-warmup, nor TFX: files go through
`tf.io.gfile`, the layer TFX's fileio delegates to (local disks, gs://, and the
filesystems TensorFlow's plugins register), so a TF Serving user without TFX can
use it alone, with TensorFlow and tensorflow-serving-api (test_without_tfx.py
replays a warmup file with `tfx` unimportable):

    import tfx_warmup.serving as serving
    result = serving.replay_warmup('models/ctr/3')   # raises what would fail the load

The face is lazy: `tfx_warmup.serving.contract` and `.errors` import without
TensorFlow.
"""

import importlib

# Public name -> the module that defines it.
_FACE = {
    'load': 'servable', 'load_native': 'servable', 'read_meta_graph': 'servable',
    'Servable': 'servable',
    'ServerConfig': 'platform_config', 'ThreadPool': 'platform_config',
    'platform_config_text': 'platform_config', 'read_platform_config': 'platform_config',
    'replay_warmup': 'warmup', 'replay_records': 'warmup', 'ReplayResult': 'warmup',
    'inspect_warmup': 'inspection', 'Inspection': 'inspection', 'Problem': 'inspection',
    'read_warmup_file': 'warmup_file', 'write_warmup_file': 'warmup_file',
    'warmup_records': 'warmup_file',
    'RecordKey': 'records', 'record_key': 'records', 'summarize': 'records',
    'resolve_model': 'model_paths', 'ModelPath': 'model_paths',
    'BatchingConfig': 'batching_config',
    'request_from_json': 'rest_json',
    'MAX_RECORDS': 'contract', 'Api': 'contract', 'warmup_file_path': 'contract',
    'ServingError': 'errors', 'ServingConfigError': 'errors', 'ModelError': 'errors',
    'LoadError': 'errors', 'RequestError': 'errors', 'WarmupReplayError': 'errors',
}
__all__ = sorted(_FACE)  # noqa: PLE0605  (the names, once: each beside its module above)


def __getattr__(name):
  if name not in _FACE:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  module = importlib.import_module(f'{__name__}.{_FACE[name]}')
  return getattr(module, name)
