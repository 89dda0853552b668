"""The facts of TF Serving's warmup contract, as its source fixes them.

tensorflow_serving/servables/tensorflow/saved_model_warmup_util.cc and
saved_model_warmup.cc: where the file lives, how many records it may hold,
which log types a record may carry. Plain Python without TensorFlow, so the
command line's option checks can read `MAX_RECORDS` and still answer `--help`
at once.
"""

import enum
import os
from typing import Optional

# <export_dir>/assets.extra/tf_serving_warmup_requests (kRequestsFileName).
WARMUP_DIR = 'assets.extra'
WARMUP_FILE_NAME = 'tf_serving_warmup_requests'
# kMaxNumRecords: one more fails the load with INVALID_ARGUMENT.
MAX_RECORDS = 1000
# An empty ModelSpec.signature_name means this signature.
DEFAULT_SIGNATURE = 'serving_default'
# SignatureDef method names TF Serving's Classify and Regress APIs dispatch on.
CLASSIFY_METHOD = 'tensorflow/serving/classify'
REGRESS_METHOD = 'tensorflow/serving/regress'
PREDICT_METHOD = 'tensorflow/serving/predict'


def warmup_file_path(saved_model_dir: str) -> str:
  """Where TF Serving looks for the warmup file of the SavedModel at `saved_model_dir`."""
  return os.path.join(saved_model_dir, WARMUP_DIR, WARMUP_FILE_NAME)


class Api(str, enum.Enum):
  """The request APIs a warmup record may replay, named as PredictionLog's log types name them.

  `session_run_log` and `predict_streamed_log` exist in PredictionLog but fail
  the load with UNIMPLEMENTED; a record with no log type is skipped.
  """
  CLASSIFY = 'classify'
  REGRESS = 'regress'
  PREDICT = 'predict'
  MULTI_INFERENCE = 'multi_inference'

  @property
  def log_type(self) -> str:
    """The PredictionLog field of a record of this API: 'classify_log', ..."""
    return f'{self.value}_log'

  @classmethod
  def of_log_type(cls, log_type: str) -> Optional['Api']:
    """The API of a PredictionLog field; None for one warmup does not replay."""
    return next((api for api in cls if api.log_type == log_type), None)
