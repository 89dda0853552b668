"""ModelWarmer's parameters, declared once (`parameters`), and the options a run uses."""

from tfx_warmup.options.parameters import BY_NAME
from tfx_warmup.options.parameters import DEFAULT_BATCH_SIZES
from tfx_warmup.options.parameters import Parameter
from tfx_warmup.options.parameters import PARAMETERS
from tfx_warmup.options.warmup_options import WarmupOptions
