"""The replica's rapidjson: TF Serving's JSON reader and error quotes, not Python's `json`.

The expected errors, offsets, values and quotes below are rapidjson 1.1.0's own answers:
they were produced by compiling the v1.1.0 headers (the version TF Serving's
workspace.bzl pins) with TF Serving's ParseJson stream and flags and its
JsonValueToDebugString writer, and running these bodies through it. The same harness
agreed with `rapidjson.parse` and `rapidjson.parse_exact` on 9,000 generated and mutated
bodies, and with the Grisu2 port on 4,000 random doubles; it needs a C++ compiler and
rapidjson's sources, so it is not part of the suite.
"""

import json
import math
import struct

import hypothesis
import pytest
from hypothesis import strategies as st

from tfx_warmup.serving import rapidjson
from tfx_warmup.serving.rapidjson import Number
from tfx_warmup.serving.rest_json import base64_unescape

# Body -> (GetParseError_En text, offset), as rapidjson 1.1.0 reports them.
_ERRORS = {
    b'  ': ('The document is empty.', 2),
    b']': ('The document is empty.', 0),
    b'{': ('Missing a name for object member.', 1),
    b'[': ('Invalid value.', 1),
    b'{"a"': ('Missing a colon after a name of object member.', 4),
    b'{"a":': ('Invalid value.', 5),
    b'{"a":1': ("Missing a comma or '}' after an object member.", 6),
    b'[1,2': ("Missing a comma or ']' after an array element.", 4),
    b'{"a":1,}': ('Missing a name for object member.', 7),
    b'[1,]': ('Invalid value.', 3),
    b'{1:2}': ('Missing a name for object member.', 1),
    b'instances = [1, 2]': ('Invalid value.', 0),
    b'[nul]': ('Invalid value.', 4),
    b'[tru]': ('Invalid value.', 4),
    b'[-]': ('Invalid value.', 2),
    b'[+1]': ('Invalid value.', 1),
    b'[01]': ("Missing a comma or ']' after an array element.", 2),
    b'[1.]': ('Miss fraction part in number.', 3),
    b'[1e+]': ('Miss exponent in number.', 4),
    b'[Nax]': ('Invalid value.', 3),
    b'[Infinit]': ('Invalid value.', 8),
    b'[Ix]': ('Invalid value.', 2),
    b'["a\\x"]': ('Invalid escape character in string.', 3),
    b'["\\u12G4"]': ('Incorrect hex digit after \\u escape in string.', 2),
    b'["\\ud800"]': ('The surrogate pair in string is invalid.', 2),
    b'["\\ud800\\u0041"]': ('The surrogate pair in string is invalid.', 2),
    b'["a\x01"]': ('Invalid escape character in string.', 3),
    b'["abc': ('Missing a closing quotation mark in string.', 5),
    b'[1e309]': ('Number too big to be stored in double.', 1),
    b'[-1e309]': ('Number too big to be stored in double.', 1),
    b'[0e400]': ('Number too big to be stored in double.', 1),
    b'[' + b'9' * 400 + b']': ('Number too big to be stored in double.', 1),
    b'\xef\xbb\xbf[1,]': ('Invalid value.', 6),
    b'[1\x00]': ("Missing a comma or ']' after an array element.", 2),
}


@pytest.mark.parametrize('body', sorted(_ERRORS))
def test_parse_errors_are_rapidjsons(body):
  for parse in (rapidjson.parse, rapidjson.parse_exact):
    with pytest.raises(rapidjson.ParseError) as raised:
      parse(body)
    assert (raised.value.text, raised.value.offset) == _ERRORS[body]


def _bits(value: float) -> int:
  return struct.unpack('<Q', struct.pack('<d', value))[0]


def test_nan_and_infinity_spellings_and_what_follows_them():
  """Python's json refuses all but NaN/Infinity/-Infinity; rapidjson reads on after them."""
  body = b'[Inf, -Inf, Infinity, -Infinity, NaN, -NaN, NaN.5, Infe2, -Infinity.25]'
  with pytest.raises(ValueError):
    json.loads(body)
  values = [n.value for n in rapidjson.parse(body)]
  assert values[:4] == [math.inf, -math.inf, math.inf, -math.inf]
  assert math.isnan(values[4]) and math.isnan(values[5])
  assert _bits(values[5]) == 0x7FF8000000000000  # The sign of -NaN is dropped.
  assert values[6:] == [0.5, 0.0, -0.25]


def test_integers_stay_exact_in_int64_and_uint64_range():
  body = (b'[18446744073709551615, 18446744073709551616, -9223372036854775808, '
          b'-9223372036854775809, 9007199254740993]')
  assert rapidjson.parse(body) == [
      Number(18446744073709551615, False), Number(2.0**64, True),
      Number(-9223372036854775808, False), Number(-2.0**63, True),
      Number(9007199254740993, False)]


def test_doubles_as_rapidjson_computes_them_without_full_precision():
  body = b'[4087631411681.238039615e118, 1.8e308, 2.2250738585072011e-308, 0.1e-400]'
  values = [n.value for n in rapidjson.parse(body)]
  assert [_bits(v) for v in values] == [0x5B0D7C33E31E1643, 0x7FF0000000000000,
                                        0x0010000000000000, 0]
  # Python's correctly rounded reading differs in the last bit for the first and third.
  assert _bits(float('4087631411681.238039615e118')) != 0x5B0D7C33E31E1643
  assert _bits(float('2.2250738585072011e-308')) != 0x0010000000000000


def test_strings_keep_bytes_and_lone_low_surrogates():
  body = b'["\\udc00", "\xff\xfe", "\\u0000", "\\/\\b\\f\\n\\r\\t"]'
  values = [rapidjson.to_bytes(s) for s in rapidjson.parse(body)]
  assert values == [b'\xed\xb0\x80', b'\xff\xfe', b'\x00', b'/\b\f\n\r\t']


def test_the_document_ends_after_the_root_and_at_a_nul_byte():
  assert rapidjson.parse(b'{"a":1} trailing') == rapidjson.Object([('a', Number(1, False))])
  assert rapidjson.parse(b'[1]\x00[') == [Number(1, False)]
  with pytest.raises(ValueError):
    json.loads(b'{"a":1} trailing')


def test_duplicate_keys_are_all_kept_and_find_returns_the_first():
  document = rapidjson.parse(b'{"a": 1, "a": 2}')
  assert document.members == [('a', Number(1, False)), ('a', Number(2, False))]
  assert document.find('a') == Number(1, False)
  assert json.loads('{"a": 1, "a": 2}') == {'a': 2}


def test_deep_nesting_parses_where_python_recurses():
  body = b'[' * 100000 + b']' * 100000
  with pytest.raises(RecursionError):
    json.loads(body)
  depth = 0
  value = rapidjson.parse(body)
  while value:
    value, depth = value[0], depth + 1
  assert depth == 100000 - 1


# JsonValueToDebugString of each body's document, as rapidjson 1.1.0 writes it.
_QUOTES = {
    b'{"a":1} trailing': b'{\n    "a": 1\n}',
    b'"just a string"': b'"just a string"',
    b'[Inf, 1]': b'[',  # WriteDouble refuses a non-finite double: the quote stops.
    b'[18446744073709551615, 18446744073709551616, -9223372036854775808, '
    b'-9223372036854775809, 9007199254740993]':
        b'[18446744073709551615, 18446744073709553000.0, -9223372036854775808, '
        b'-9223372036854776000.0, 9007199254740993]',
    b'[4087631411681.238039615e118, 1.8e308]': b'[4.0876314116812388e130, ',
    b'["\\udc00", "\xff\xfe", "\\u0000", "\\/\\b\\f\\n\\r\\t"]':
        b'["\xed\xb0\x80", "\xff\xfe", "\\u0000", "/\\b\\f\\n\\r\\t"]',
    b'[1730605171.6204014, 0.1, 1e21, 1e-7, 100.0, -0.0, 5e-324]':
        b'[1730605171.6204015, 0.1, 1e21, 1e-7, 100.0, -0.0, 5e-324]',
    b'{"o": {"p": [{"q": []}, {}]}, "x": null}':
        b'{\n    "o": {\n        "p": [{\n                "q": []\n            }, {}]\n    },\n'
        b'    "x": null\n}',
}


@pytest.mark.parametrize('body', sorted(_QUOTES))
def test_quotes_are_rapidjsons_pretty_writer(body):
  assert rapidjson.debug_bytes(rapidjson.parse(body)) == _QUOTES[body]


def test_quotes_stop_at_the_first_event_past_256_bytes():
  document = rapidjson.parse(('[' + ', '.join(str(10**6 + i) for i in range(100)) + ']').encode())
  quote = rapidjson.debug_bytes(document)
  # Each element after the first writes ', 10000xy' (9 bytes): the 29th starts at byte
  # 251 < 256 and is written whole, up to byte 260; the 30th is refused.
  assert quote == ('[' + ', '.join(str(10**6 + i) for i in range(29))).encode()


def test_quoted_bytes_that_are_not_utf8_are_escaped_in_the_message():
  assert rapidjson.debug_string(rapidjson.parse(b'["\xff"]')) == '["\\xff"]'


_JSON_TEXT = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=3), children, max_size=4),
    max_leaves=12).map(json.dumps)
_NOISE = st.sampled_from([b'N', b'I', b'nf', b'e', b'.', b'-', b'0', b'9', b'"', b'\\', b'\\u',
                          b'\\ud800', b'\\udc00', b'{', b'}', b'[', b']', b',', b':', b' ',
                          b'\x00', b'\x01', b'\xff', b'\xef', b'Infinity', b'1e309'])


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(text=_JSON_TEXT, edits=st.lists(st.tuples(st.integers(0, 200), _NOISE),
                                                  max_size=3))
def test_pythons_reader_first_gives_what_the_port_alone_gives(text, edits):
  """`parse` tries Python's C reader before the port: the two never disagree."""
  body = text.encode('utf-8', 'surrogatepass')
  for offset, noise in edits:
    position = offset % (len(body) + 1)
    body = body[:position] + noise + body[position:]

  def outcome(parse):
    try:
      return 'ok', parse(body)
    except rapidjson.ParseError as e:
      return 'error', (e.text, e.offset)
  assert outcome(rapidjson.parse) == outcome(rapidjson.parse_exact)


@pytest.mark.parametrize('text, decoded', [
    (b'aGVsbG8=', b'hello'), (b'aGVsbG8', b'hello'), (b'aGVs bG8\n=', b'hello'),
    (b'aGVsbG8.', b'hello'), (b'', b''), (b'aGk=', b'hi'), (b'aGk', b'hi'), (b'aGk==', None),
    (b'aGVsbG8==', None), (b'a', None), (b'aGVsbG8=x', None), (b'aGV$bG8=', None),
    (b'aGVsbG8-', None), (b'QUJD', b'ABC'), (b'QUJD=', None), (b'aGl=', b'hi'),
])
def test_base64_as_absl_unescapes_it(text, decoded):
  assert base64_unescape(text) == decoded
