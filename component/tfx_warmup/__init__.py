"""tfx-warmup: TF Serving warmup requests for TFX models, built from your own data.

`ModelWarmer` is the TFX component; `replay` is the in-process replica of TF
Serving's load and request path that proves the warmup file is accepted.
"""

__all__ = ['ModelWarmer']
__version__ = '0.1.0'


def __getattr__(name):
  # Lazy, so `python -m tfx_warmup.<module>` and light users skip the TFX component stack.
  if name == 'ModelWarmer':
    from tfx_warmup.component import ModelWarmer  # pylint: disable=g-import-not-at-top
    return ModelWarmer
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
