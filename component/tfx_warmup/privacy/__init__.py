"""Privacy-minimal records: each keeps only the features its signature parses, proven harmless."""

from tfx_warmup.privacy.stripping import Keep
from tfx_warmup.privacy.stripping import plan_keeps
from tfx_warmup.privacy.stripping import strip_and_prove
from tfx_warmup.privacy.stripping import Stripped
