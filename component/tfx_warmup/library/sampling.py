"""Step 2: sample the examples with Beam, the one step that must see every record.

As TFDV computes statistics: the data-bound work is a PTransform
(`data.sample.SampleExamples`) that any runner executes; its one small result,
the sample, comes back to this process as a file in the staging area (a remote
runner's workers can reach it) and is read once.
"""

import dataclasses
import os
from typing import Callable, List

import apache_beam as beam

from tfx_warmup import progress
from tfx_warmup.data import examples as examples_lib
from tfx_warmup.data import runners
from tfx_warmup.data import sample as sample_lib
from tfx_warmup.options import WarmupOptions

# Sampled examples held back from the warmup file to act as live traffic when
# measuring: a warmup file must not be judged on the requests it replays.
NUM_LIVE_EXAMPLES = 32


@dataclasses.dataclass
class Sample:
  """The examples the records are built from, and held-back ones to act as live traffic."""
  splits: List[str]
  warmup: List[bytes]
  live: List[bytes]
  described: str = ''  # Where they came from, for messages: 'the glob at ...'.


def sample_examples(source: examples_lib.ExamplesSource, options: WarmupOptions,
                    make_pipeline: Callable[[], beam.Pipeline], scratch_dir: str) -> Sample:
  """Samples `options.num_examples` (and, when measuring the cold start or the swap,
  NUM_LIVE_EXAMPLES more) with Beam.

  Live examples are chosen uniformly among the records the warmup sample did
  not take, so the two never overlap and the warmup file is the same with or
  without measuring. Nothing is read when nothing needs examples
  (existing_warmup='keep' without measuring).
  """
  splits = source.choose_splits(options.splits)
  n = options.num_examples
  live = options.measure or options.measure_swap
  if options.existing_warmup == 'keep' and not live:
    return Sample(splits, [], [], source.described)
  path = os.path.join(scratch_dir, 'sample.tfrecord')
  with progress.reporter().stage('Sampling examples'):
    # The runner's failures (making the pipeline, running it) are said in one line naming
    # it; building the graph is this package's own code, whose errors stay as they are.
    with runners.runner_failures(lambda: None):
      pipeline = make_pipeline()
    _ = (examples_lib.read_splits(pipeline, source, splits)
         | 'SampleExamples' >> sample_lib.SampleExamples(
             n, options.seed, options.sampling, options.stratify_feature,
             held_back=NUM_LIVE_EXAMPLES if live else 0)
         | 'WriteSample' >> examples_lib.WriteSample(path))
    with runners.runner_failures(lambda: type(pipeline.runner).__name__), (
        examples_lib.reading_errors(source, splits)):
      pipeline.run().wait_until_finish()
  sampled = examples_lib.read_sample(path)
  return Sample(splits, sampled[:n], sampled[n:], source.described)
