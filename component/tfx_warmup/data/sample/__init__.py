"""Samples examples with Beam: a seeded, mergeable choice of the most useful records.

Sampling is the one step that must see every record, so it is the one that runs
on the pipeline's Beam runner (as TFDV computes statistics there): one pass,
memory bounded by the sample, partial results merged across workers. Every
record is ranked by a keyed hash of its bytes and kept by rank alone, so the
sample depends only on the records and the seed (`ranking`: the rank, the k
lowest-ranked records, the CombineFn every strategy extends). One module per
strategy, each a small CombineFn:

  uniform     the `num_examples` lowest ranks.
  coverage    a record of each frequent feature shape (which features are
              present, and how many values each holds) first, then uniformly.
  stratified  a quota per value of `stratify_feature` (e.g. the label) so rare
              classes appear; leftover slots fill uniformly.

The output is one list, ordered so that the first records are the most
informative (coverage picks, or strata round-robin): when fewer requests than
examples are built, they use the front of the list. Beam counters (namespace
`tfx_warmup.sample`) show records read per split, records sampled, shapes
decoded, distinct shapes and strata.

This face is what the rest of tfx-warmup uses: `SampleExamples` (`transform`),
the PTransform, and `sample_combine_fn`, its CombineFn by strategy name.
"""

from tfx_warmup.ranking import METRICS_NAMESPACE
from tfx_warmup.data.sample.transform import SampleExamples
from tfx_warmup.data.sample.transform import Sampling
from tfx_warmup.data.sample.transform import sample_combine_fn

__all__ = ['METRICS_NAMESPACE', 'SampleExamples', 'Sampling', 'sample_combine_fn']
