"""tfx-warmup: TF Serving warmup requests for TFX models, built from your own data.

`ModelWarmer` is the TFX component; `replay` is the in-process replica of TF
Serving's load and request path that proves the warmup file is accepted.
"""

from tfx_warmup.component import ModelWarmer

__all__ = ['ModelWarmer']
__version__ = '0.1.0'
