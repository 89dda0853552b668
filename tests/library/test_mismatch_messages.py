"""Every path that runs records words an example/parse mismatch alike (issue 20, point 1).

The probe, the full replay and the measurement each name the feature, what the
signature parses, what the examples hold, and where the examples are; the data
is blamed, not the model. Without examples to blame (a model's own warmup file),
the replay keeps TF Serving's verdict, in one line.
"""

import pytest
import tensorflow as tf

from tfx_warmup import library
from tfx_warmup import serving
from tfx_warmup.errors import ExamplesError, LiveRequestError
from tfx_warmup.options import WarmupOptions
from tfx_warmup.requests import build

WHERE = 'the glob at /data/eval-*'
# The tf1 test model parses 'hours' as int64; these examples hold floats, as CsvExampleGen
# writes a column with a decimal point.
EXPECTED = ("The examples (the glob at /data/eval-*) do not match what signature '{}' parses: "
            "feature 'hours' is parsed as int64; the examples hold float. The examples were "
            'written with another schema')


@pytest.fixture(scope='module')
def hours_as_floats(examples):
  floats = []
  for example in examples[:8]:
    copy = tf.train.Example.FromString(example.SerializeToString())
    copy.features.feature['hours'].ClearField('int64_list')
    copy.features.feature['hours'].float_list.value.append(3.5)
    floats.append(copy.SerializeToString())
  return floats


@pytest.fixture(scope='module')
def mismatched_records(tf1_model_dir, hours_as_floats):
  """One record per signature and batch size, built from examples the model cannot parse."""
  with library.plan_warmup(tf1_model_dir, WarmupOptions(batch_sizes=[1])) as plan:
    return build.build_warmup_records(hours_as_floats, plan.combinations, 1)


def test_the_full_replay_blames_the_examples_naming_the_feature(tf1_model_dir,
                                                                mismatched_records):
  with serving.load(tf1_model_dir) as servable:
    with pytest.raises(ExamplesError) as error:
      library.validate_records(servable, mismatched_records, examples=WHERE)
  assert str(error.value).startswith(EXPECTED.format(
      serving.record_key(mismatched_records[0]).signature)), error.value


def test_without_examples_to_blame_the_replay_gives_tf_servings_verdict_in_one_line(
    tf1_model_dir, mismatched_records):
  with serving.load(tf1_model_dir) as servable:
    with pytest.raises(serving.WarmupReplayError) as error:
      library.validate_records(servable, mismatched_records, examples=None)
  message = str(error.value)
  assert '\n' not in message and '{{node' not in message
  assert ("Key: hours, Index: 0. Data types don't match. Data type: float but expected "
          'type: int64 (node ParseExample/ParseExampleV2)') in message
  assert message.endswith('TF Serving would refuse to load this model.')


def test_a_live_request_failing_in_the_measurement_blames_the_examples(tf1_model_dir,
                                                                       mismatched_records):
  with pytest.raises(ExamplesError) as error:
    library.measure_cold_start(tf1_model_dir, mismatched_records[:1], with_warmup=False,
                               examples=WHERE)
  assert str(error.value).startswith(EXPECTED.format(
      serving.record_key(mismatched_records[0]).signature))


def test_a_live_request_failing_without_examples_is_a_one_line_live_request_error(
    tf1_model_dir, mismatched_records):
  with pytest.raises(LiveRequestError) as error:
    library.measure_cold_start(tf1_model_dir, mismatched_records[:1], with_warmup=False)
  key = serving.record_key(mismatched_records[0])
  assert str(error.value).startswith(
      f"Live request 0 ({key.api}, signature '{key.signature}', batch size 1) fails in the "
      'measurement: INVALID_ARGUMENT: ')
  assert error.value.signature == key.signature and '\n' not in str(error.value)
