"""tfx-warmup: TF Serving warmup requests for TFX models, built from your own data.

The parts, one folder each:
  component/  `ModelWarmer`, the TFX component (spec, executor)
  library/    the steps of a warmup run without TFX artifacts (`warm_model`)
  cli/        the `tfx-warmup` command line
  serving/    the in-process replica of TF Serving's load, request path and
              warmup replay; it stands alone
  data/       reading examples and sampling them with Beam
  traffic/    serving traffic logs: read, held against the model, profiled with Beam
  requests/   which signatures and batch sizes to warm, and building records
  privacy/    stripping records to the features their signatures parse
  measure/    the cold start a warmup file removes, the process's memory, and the
              one fresh process every measurement runs in
  swap/       the version swap as TF Serving performs it, measured per way of
              serving (pools, allocator, threads), its memory, and the command
              that keeps the serving version flat
  report/     the typed report and its text
  options/    the parameters, each declared once as a WarmupOptions field
"""

__all__ = ['ModelWarmer']
__version__ = '0.1.0'


def __getattr__(name):
  # Lazy, so the command line and light users skip the TFX component stack.
  if name == 'ModelWarmer':
    from tfx_warmup.component import ModelWarmer
    return ModelWarmer
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
