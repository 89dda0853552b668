"""tfx-warmup without TFX: the library on plain paths, and the TF Serving replica alone.

The README's "Without TFX" snippets are this module's code (a test keeps them
identical, and runs both functions).
"""

from tfx_warmup import library


def warm(model_dir: str, examples_glob: str, output_dir: str):
  """Writes a warmed copy of a SavedModel, with warmup records built from your examples."""
  report = library.warm_model(
      model_dir,
      library.resolve_examples(examples_glob),  # TFRecords of tf.Examples; '.gz' = GZIP
      output_dir,
      library.WarmupOptions(batch_sizes=[1, 8, 32], measure=False))
  print(f'{report.warmup_file.records} records, replayed in {report.validation.seconds:.2f} s')
  return report


def tf_serving_verdict(model_dir: str) -> str:
  """Would TF Serving load this model and replay its warmup file? Its own words if not."""
  from tfx_warmup import serving

  try:
    result = serving.replay_warmup(model_dir)
  except serving.ServingError as e:  # The model or a record fails the load.
    return f'TF Serving would refuse it: {e}'
  return f'TF Serving would load it and replay {result.records} warmup records'
