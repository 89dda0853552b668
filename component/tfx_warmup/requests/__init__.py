"""The warmup requests: which signatures and batch sizes to warm, and the records that warm them.

`signatures` decides how a client calls each signature; `parse_keys` reads what
each one parses; `build` plans the combinations and builds the records
(`raw_tensors` for Keras-style inputs); `example_fit` and `diagnosis` tell the
examples' problems from the model's, in the user's terms; `existing_warmup` is
the input model's own file.
"""

from tfx_warmup.requests.build import build_warmup_records
from tfx_warmup.requests.build import Combination
from tfx_warmup.requests.build import plan_combinations
from tfx_warmup.requests.signatures import ModelPlan
from tfx_warmup.requests.signatures import plan_signatures
from tfx_warmup.requests.signatures import RequestKind
from tfx_warmup.requests.signatures import SignaturePlan
