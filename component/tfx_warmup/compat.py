"""The one place that knows how the supported TFX stacks differ (TFX 1.14, 1.15 and 1.16).

  TFX 1.14  TensorFlow 2.13: tfx's examples_utils has no custom split patterns;
            Keras 2 is tf.keras (no tf_keras package).
  TFX 1.15  TensorFlow 2.15: Keras 2 is tf.keras; TF_USE_LEGACY_KERAS=1 without
            tf_keras breaks every tf.keras use (RecursionError).
  TFX 1.16  TensorFlow 2.16: tf.keras is Keras 3; Keras 2 is tf_keras, chosen
            with TF_USE_LEGACY_KERAS=1.

The replica (`tfx_warmup.serving`) stands alone and handles its one TensorFlow
difference itself: TensorFlow 2.13's SignatureDef has no `defaults`.

Importing this module imports neither TensorFlow nor TFX (`prefer_legacy_keras`
must run before TensorFlow is imported); its functions import what they use.
"""

import importlib.util
import json
import os
from typing import Dict, Optional


# examples_utils.CUSTOM_SPLIT_PATTERN_PROPERTY_NAME of TFX >= 1.15: the same name and JSON.
CUSTOM_SPLIT_PATTERN_PROPERTY_NAME = 'custom_split_pattern'


def prefer_legacy_keras() -> None:
  """TF_USE_LEGACY_KERAS=1, unless set, where tf_keras is installed. Call before importing TF.

  TensorFlow 2.16 (TFX 1.16) needs it for Keras 2; 2.15 without tf_keras fails
  every tf.keras use if it is set; 2.13 ignores it.
  """
  if importlib.util.find_spec('tf_keras') is not None:
    os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')


def custom_split_patterns(examples) -> Optional[Dict[str, str]]:
  """Split name -> file pattern relative to the artifact's uri; None without the property."""
  if not examples.has_custom_property(CUSTOM_SPLIT_PATTERN_PROPERTY_NAME):
    return None
  return json.loads(examples.get_string_custom_property(CUSTOM_SPLIT_PATTERN_PROPERTY_NAME))


def set_custom_split_patterns(examples, split_to_pattern: Dict[str, str]) -> None:
  examples.set_string_custom_property(CUSTOM_SPLIT_PATTERN_PROPERTY_NAME,
                                      json.dumps(split_to_pattern))


def split_file_pattern(examples, split: str) -> str:
  """The files of `split`: its custom pattern, else every file of Split-<split>/, as TFX reads."""
  from tfx.types import artifact_utils
  from tfx.utils import io_utils
  patterns = custom_split_patterns(examples)
  if patterns is not None:
    if split not in patterns:
      raise ValueError(f'Missing split {split} for artifact with custom split pattern '
                       'properties')
    return os.path.join(examples.uri, patterns[split])
  return io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], split))


def legacy_keras():
  """Keras 2, as TFX trains with it: tf_keras on TensorFlow >= 2.16, else tf.keras."""
  import tensorflow as tf
  major, minor = (int(p) for p in tf.__version__.split('.')[:2])
  if (major, minor) >= (2, 16):
    import tf_keras
    return tf_keras
  return tf.keras


def keras_major_version() -> int:
  """The major version of the `keras` package (3 beside TensorFlow >= 2.16, else 2)."""
  import keras
  return int(keras.__version__.split('.')[0])
