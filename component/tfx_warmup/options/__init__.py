"""ModelWarmer's parameters: declared once, as `WarmupOptions`' fields, and what reads them."""

from tfx_warmup.options.parameter import Parameter
from tfx_warmup.options.warmup_options import BY_NAME
from tfx_warmup.options.warmup_options import DEFAULT_BATCH_SIZES
from tfx_warmup.options.warmup_options import PARAMETERS
from tfx_warmup.options.warmup_options import WarmupOptions
