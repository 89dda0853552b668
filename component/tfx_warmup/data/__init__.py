"""The examples: where they are (`examples.ExamplesSource`) and the Beam sampling of them."""

from tfx_warmup.data.examples import ExamplesSource
from tfx_warmup.data.examples import resolve_examples
from tfx_warmup.data.sample import SampleExamples
