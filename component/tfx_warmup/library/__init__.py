"""tfx-warmup as a library: the steps of a warmup run, without TFX artifacts.

`warm_model` runs them all (what ModelWarmer's executor and `tfx-warmup
generate` call); each step is also a function of its own, taking paths and
options and returning typed values:

    plan = plan_warmup(model_dir, options)              # load as TF Serving, decide
    sample = sample_examples(source, options, beam.Pipeline, scratch_dir)   # Beam
    built = build_records(plan, sample)                 # build, strip, prove
    validation = validate_records(plan.servable, built.records)   # replay
    cold_start = measure_cold_start(written_model_dir, built.live)   # fresh processes
    swap = measure_swap(serving_model_dir, written_model_dir, built.live)   # the swap
    swap = write_server_config(swap, output_dir, model_name)   # platform_config.pbtxt

A model warmed before (by anyone) has two more, each returning its report:
`verify_model` (replay as TF Serving's load would, and time the cold start)
and `swap_models` (the version swap between two of them).
"""

from tfx_warmup.data.examples import ExamplesSource
from tfx_warmup.data.examples import resolve_examples
from tfx_warmup.library.measurement import measure_cold_start
from tfx_warmup.library.live import one_record_per_key
from tfx_warmup.library.loading import tag_sets_explained
from tfx_warmup.library.output import Layout
from tfx_warmup.library.output import MODEL_ARTIFACT
from tfx_warmup.library.output import REPORT_FILE
from tfx_warmup.library.output import SAVED_MODEL
from tfx_warmup.library.plan import plan_warmup
from tfx_warmup.library.plan import WarmupPlan
from tfx_warmup.library.records import build_records
from tfx_warmup.library.records import BuiltRecords
from tfx_warmup.library.run import warm_model
from tfx_warmup.library.sampling import Sample
from tfx_warmup.library.sampling import sample_examples
from tfx_warmup.library.swap import measure_swap
from tfx_warmup.library.swap import swap_models
from tfx_warmup.library.swap import write_server_config
from tfx_warmup.library.traffic import profile_traffic
from tfx_warmup.library.validation import validate_records
from tfx_warmup.library.verify import verify_model
from tfx_warmup.options import WarmupOptions
from tfx_warmup.report import WarmupReport
from tfx_warmup.serving import resolve_model
