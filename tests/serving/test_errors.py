"""TensorFlow's error text, as one line a person reads."""

import pytest
import tensorflow as tf

from tfx_warmup.serving.errors import one_line


def test_a_graph_error_keeps_the_kernels_words_and_names_the_node():
  message = ("Name: <unknown>, Key: hours, Index: 0.  Data types don't match. Data type: float "
             'but expected type: int64\n\t [[{{node ParseExample/ParseExampleV2}}]]')
  assert one_line(message) == ("Name: <unknown>, Key: hours, Index: 0. Data types don't match. "
                               'Data type: float but expected type: int64 (node '
                               'ParseExample/ParseExampleV2)')


def test_an_eager_error_loses_tensorflows_wrapping(tmp_path):
  path = tmp_path / 'random'
  path.write_bytes(bytes(range(7, 200)) * 3)
  with pytest.raises(tf.errors.DataLossError) as error:
    list(tf.data.TFRecordDataset([str(path)]))
  assert '{{function_node' in str(error.value)
  text = one_line(str(error.value))
  assert '{{function_node' not in text and '[Op:' not in text and '\n' not in text
  assert text.startswith('corrupted record at 0')
