"""The TFX component: `ModelWarmer`, its declarative spec, and its executor."""

from tfx_warmup.component.component import ModelWarmer
from tfx_warmup.component.executor import Executor
from tfx_warmup.component.spec import ModelWarmerSpec
