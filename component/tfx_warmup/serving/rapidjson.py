"""rapidjson 1.1.0 as TF Serving parses a REST body with it, and quotes values in its errors.

TF Serving reads every REST body with rapidjson (v1.1.0, tensorflow_serving/workspace.bzl)
under `kParseIterativeFlag | kParseNanAndInfFlag | kParseStopWhenDoneFlag`
(util/json_tensor.cc, ParseJson), and quotes JSON values in its error messages with
rapidjson's PrettyWriter, cut at 256 bytes (JsonValueToDebugString). Python's `json`
module parses another language, so this module ports what TF Serving runs:

- `parse(data)` is rapidjson's iterative reader into a document: its grammar, its values
  and its error codes and offsets ("JSON Parse error: Missing a comma or ']' after an
  array element. at offset: 12" is TF Serving's text, and the offset is rapidjson's).
- `debug_string(value)` is the 256-byte PrettyWriter quote.

Where Python's `json` and rapidjson disagree, the replica does what rapidjson does:

- NaN and infinities: rapidjson reads `NaN`, `Inf`, `Infinity`, `-Inf`, `-Infinity` and
  `-NaN` (a NaN, sign dropped); Python reads only `NaN`, `Infinity` and `-Infinity`.
  rapidjson's number reader also runs on after them: `NaN.5` is 0.5, `Infe2` is 0.0. So
  does the replica: it ports the reader, not a regular expression of it.
- Numbers: an integer without fraction or exponent in [-2^63, 2^64) stays an exact integer
  (int64 ids beyond 2^53 survive); others are doubles computed as rapidjson computes them
  without kParseFullPrecisionFlag (the significand times a power of ten, which can differ
  from Python's correctly rounded `float()` in the last bit). A number that does not fit
  a double is refused ("Number too big to be stored in double", offset of its first
  character), as are exponents past 308 even when the value would be 0 (`0e400`).
  A double that fits a double but not a float (1e39 for a DT_FLOAT input) is not refused:
  it becomes inf, as TF Serving's `GetFloat()` cast makes it (its test
  FloatTensorThatExceedsMaxReturnsInf).
- Nesting depth: the iterative reader has no depth limit, and neither has this parser
  (TF Serving's test nests 500,000 arrays); Python's `json` raises RecursionError.
- Duplicate keys: rapidjson keeps every member in document order, and TF Serving reads
  a key with `FindMember`, the first one. `Object` keeps all members; `find` returns the
  first. (Python's `json` keeps the last.)
- After the root value, TF Serving stops (kParseStopWhenDoneFlag): `{"instances": [1]} x`
  is accepted. Python's `json` refuses "Extra data".
- Bytes: a NUL byte ends the document wherever it stands (the stream's Peek() returns
  '\\0' there as at the end); the bytes EF, BB, BF are each skipped if they start the
  body, in that order (a UTF-8 BOM); strings are not checked for valid UTF-8 (no
  kParseValidateEncodingFlag), so any bytes reach the tensor; a raw control character in
  a string is refused; `\\u` escapes of a lone low surrogate are encoded as three bytes,
  a high surrogate without its low half is refused.

Documents are parsed with Python's C `json` first, with hooks that keep numbers as their
text and objects as member lists; whatever that reader refuses or cannot decide the way
rapidjson would (a `\\ud...` escape, a number too big, invalid UTF-8, a BOM, deep nesting,
trailing bytes, rapidjson-only spellings) is parsed again by the port, which gives
rapidjson's verdict. Both produce the same document (tests hold them to it); the first is
only faster.

Documents: null is None, booleans are bool, numbers are `Number`, strings are `str`
holding the body's bytes decoded as UTF-8 with 'surrogateescape' (so `to_bytes` gives the
exact bytes back), arrays are `list` and objects are `Object`.

Doubles in messages are printed with rapidjson's Grisu2, ported: its digits are not always
the shortest that round-trip (Python's repr), e.g. 1730605171.6204015 for the double Python
prints as 1730605171.6204014.
"""

import json
import math
import re
import struct
from typing import Any, List, Tuple

# GetParseError_En, rapidjson/error/en.h.
DOCUMENT_EMPTY = 'The document is empty.'
VALUE_INVALID = 'Invalid value.'
OBJECT_MISS_NAME = 'Missing a name for object member.'
OBJECT_MISS_COLON = 'Missing a colon after a name of object member.'
OBJECT_MISS_COMMA = "Missing a comma or '}' after an object member."
ARRAY_MISS_COMMA = "Missing a comma or ']' after an array element."
BAD_HEX = 'Incorrect hex digit after \\u escape in string.'
BAD_SURROGATE = 'The surrogate pair in string is invalid.'
BAD_ESCAPE = 'Invalid escape character in string.'
MISS_QUOTE = 'Missing a closing quotation mark in string.'
NUMBER_TOO_BIG = 'Number too big to be stored in double.'
MISS_FRACTION = 'Miss fraction part in number.'
MISS_EXPONENT = 'Miss exponent in number.'


class ParseError(ValueError):
  """rapidjson's parse error: its English text and the byte offset it reports."""

  def __init__(self, text: str, offset: int):
    super().__init__(f'{text} at offset: {offset}')
    self.text = text
    self.offset = offset


class Number:  # noqa: PLW1641  (compared, never hashed)
  """A JSON number as rapidjson holds it: an exact integer, or a double.

  rapidjson keeps an integer literal in [-2^63, 2^64) as an integer and answers IsInt,
  IsUint, IsInt64 and IsUint64 by its range; any other number is a double.
  """
  __slots__ = ('value', 'is_double')

  def __init__(self, value, is_double: bool):
    self.value = value
    self.is_double = is_double

  def __repr__(self):
    return f'Number({self.value!r}, is_double={self.is_double})'

  def __eq__(self, other):
    if not isinstance(other, Number) or self.is_double != other.is_double:
      return False
    if self.is_double:  # Bitwise: NaN equals NaN, -0.0 differs from 0.0.
      return _same_double(self.value, other.value)
    return self.value == other.value

  @property
  def is_int(self) -> bool:
    return not self.is_double and -2**31 <= self.value < 2**31

  @property
  def is_uint(self) -> bool:
    return not self.is_double and 0 <= self.value < 2**32

  @property
  def is_int64(self) -> bool:
    return not self.is_double and -2**63 <= self.value < 2**63

  @property
  def is_uint64(self) -> bool:
    return not self.is_double and 0 <= self.value < 2**64

  def as_double(self) -> float:
    """GetDouble(): an integer is converted (rounded to nearest, as static_cast does)."""
    return self.value if self.is_double else float(self.value)


def _same_double(a: float, b: float) -> bool:
  if math.isnan(a) or math.isnan(b):
    return math.isnan(a) and math.isnan(b)
  return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


class Object:  # noqa: PLW1641  (compared, never hashed)
  """A JSON object's members, in document order, duplicates kept (as rapidjson's Document)."""
  __slots__ = ('members',)

  def __init__(self, members=()):
    self.members: List[Tuple[str, Any]] = list(members)

  def find(self, key: str, default=None):
    """FindMember: the first member named `key`."""
    for name, value in self.members:
      if name == key:
        return value
    return default

  def __contains__(self, key: str) -> bool:
    return any(name == key for name, _ in self.members)

  def __len__(self):
    return len(self.members)

  def __eq__(self, other):
    return isinstance(other, Object) and self.members == other.members

  def __repr__(self):
    return f'Object({self.members!r})'


def to_bytes(text: str) -> bytes:
  """The body's bytes a document string stands for."""
  return text.encode('utf-8', 'surrogateescape')


def _from_bytes(data: bytes) -> str:
  return data.decode('utf-8', 'surrogateescape')


def parse(data: bytes):
  """The document rapidjson parses from `data` under TF Serving's flags; ParseError if none."""
  data = _stream(data)
  if b'\\ud' not in data and b'\\uD' not in data:
    try:
      text = data.decode('utf-8')
    except UnicodeDecodeError:
      pass
    else:
      try:
        return json.loads(text, object_pairs_hook=Object, parse_int=_int_literal,
                          parse_float=_float_literal, parse_constant=_constant)
      except (ValueError, RecursionError):  # ParseError too: the port names the offset.
        pass
  return _Reader(data).parse()


def parse_exact(data: bytes):
  """`parse` by the port alone, without Python's reader first (for tests)."""
  return _Reader(_stream(data)).parse()


def _stream(data: bytes) -> bytes:
  """What rapidjson's EncodedInputStream<UTF8, MemoryStream> reads of `data`.

  Its constructor skips EF, BB and BF each if next; its Peek() returns '\\0' at a NUL
  byte as at the end, so a NUL ends the document. Offsets still count from the first byte:
  the skipped prefix is kept as spaces, which the reader skips as it skips whitespace
  (before the root, where nothing else can stand).
  """
  end = data.find(b'\0')
  if end >= 0:
    data = data[:end]
  skipped = 0
  for byte in (0xEF, 0xBB, 0xBF):
    if len(data) > skipped and data[skipped] == byte:
      skipped += 1
  return b' ' * skipped + data[skipped:] if skipped else data


def _int_literal(text: str) -> Number:
  value = int(text)
  if -2**63 <= value < 2**64:
    return Number(value, False)
  return _number_of(text)


_SHORT_FLOAT = re.compile(r'-?(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?\Z')


def _float_literal(text: str) -> Number:
  match = _SHORT_FLOAT.match(text)
  digits = match.group(1) + (match.group(2) or '')
  places = len(match.group(2) or '')
  power = int(match.group(3) or 0) - places
  if len(digits) <= 15 and -22 <= power <= 22:
    # An exact significand under 2^53 times or over an exact power of ten: one IEEE
    # operation, correctly rounded, as float() is.
    return Number(float(text), True)
  return _number_of(text)


def _constant(text: str) -> Number:
  return Number({'NaN': math.nan, 'Infinity': math.inf, '-Infinity': -math.inf}[text], True)


def _number_of(text: str) -> Number:
  number, _ = _read_number(text.encode('ascii'), 0)
  return number


def _pow10(n: int) -> float:
  return float(f'1e{n}')


def _fast_path(significand: float, exp: int) -> float:
  if exp < -308:
    return 0.0
  if exp >= 0:
    return significand * _pow10(exp)
  return significand / _pow10(-exp)


def _strtod_normal_precision(d: float, p: int) -> float:
  if p < -308:
    return _fast_path(_fast_path(d, -308), p + 308)
  return _fast_path(d, p)


_DIGITS = frozenset(b'0123456789')


def _read_number(data: bytes, start: int) -> Tuple[Number, int]:
  """GenericReader::ParseNumber (no full precision): the number at `start` and where it ends.

  Raises ParseError as rapidjson does.
  """
  n = len(data)
  pos = start

  def peek() -> int:
    return data[pos] if pos < n else 0

  def consume(char: str) -> bool:
    nonlocal pos
    if pos < n and data[pos] == ord(char):
      pos += 1
      return True
    return False

  d = 0.0
  use_nan_or_inf = False
  minus = consume('-')
  i = 0
  i64 = 0
  use_64bit = False
  significand_digits = 0
  c = peek()
  if c == ord('0'):
    pos += 1
  elif ord('1') <= c <= ord('9'):
    i = c - 48
    pos += 1
    limit, last = (214748364, ord('8')) if minus else (429496729, ord('5'))
    while peek() in _DIGITS:
      if i >= limit and (i != limit or peek() > last):
        i64 = i
        use_64bit = True
        break
      i = i * 10 + data[pos] - 48
      pos += 1
      significand_digits += 1
  elif c in (ord('I'), ord('N')):
    use_nan_or_inf = True
    if consume('N') and consume('a') and consume('N'):
      d = math.nan
    elif consume('I') and consume('n') and consume('f'):
      d = -math.inf if minus else math.inf
      if peek() == ord('i') and not (consume('i') and consume('n') and consume('i')
                                     and consume('t') and consume('y')):
        raise ParseError(VALUE_INVALID, pos)
    else:
      raise ParseError(VALUE_INVALID, pos)
  else:
    raise ParseError(VALUE_INVALID, pos)

  use_double = False
  if use_64bit:
    limit, last = (0x0CCCCCCCCCCCCCCC, ord('8')) if minus else (0x1999999999999999, ord('5'))
    while peek() in _DIGITS:
      if i64 >= limit and (i64 != limit or peek() > last):
        d = float(i64)
        use_double = True
        break
      i64 = i64 * 10 + data[pos] - 48
      pos += 1
      significand_digits += 1

  if use_double:
    while peek() in _DIGITS:
      if d >= 1.7976931348623157e307:  # DBL_MAX / 10.0
        raise ParseError(NUMBER_TOO_BIG, start)
      d = d * 10 + (data[pos] - 48)
      pos += 1

  exp_frac = 0
  if consume('.'):
    if peek() not in _DIGITS:
      raise ParseError(MISS_FRACTION, pos)
    if not use_double:
      if not use_64bit:
        i64 = i
      while peek() in _DIGITS:
        if i64 > 0x1FFFFFFFFFFFFF:  # 2^53 - 1: the exact fast path ends.
          break
        i64 = i64 * 10 + data[pos] - 48
        pos += 1
        exp_frac -= 1
        if i64 != 0:
          significand_digits += 1
      d = float(i64)
      use_double = True
    while peek() in _DIGITS:
      if significand_digits < 17:
        d = d * 10.0 + (data[pos] - 48)
        exp_frac -= 1
        if d > 0.0:
          significand_digits += 1
      pos += 1

  exp = 0
  if consume('e') or consume('E'):
    if not use_double:
      d = float(i64 if use_64bit else i)
      use_double = True
    exp_minus = False
    if consume('+'):
      pass
    elif consume('-'):
      exp_minus = True
    if peek() not in _DIGITS:
      raise ParseError(MISS_EXPONENT, pos)
    exp = data[pos] - 48
    pos += 1
    if exp_minus:
      while peek() in _DIGITS:
        exp = exp * 10 + data[pos] - 48
        pos += 1
        if exp >= 214748364:  # rapidjson issue #313: consume the rest.
          while peek() in _DIGITS:
            pos += 1
      exp = -exp
    else:
      max_exp = 308 - exp_frac
      while peek() in _DIGITS:
        exp = exp * 10 + data[pos] - 48
        pos += 1
        if exp > max_exp:
          raise ParseError(NUMBER_TOO_BIG, start)

  if use_double:
    d = _strtod_normal_precision(d, exp + exp_frac)
    return Number(-d if minus else d, True), pos
  if use_nan_or_inf:
    return Number(d, True), pos
  value = i64 if use_64bit else i
  return Number(-value if minus else value, False), pos


# The iterative reader's states and tokens (GenericReader::IterativeParse).
_START, _FINISH, _ERROR = 'start', 'finish', 'error'
_OBJECT_INITIAL, _MEMBER_KEY, _KV_DELIMITER = 'object_initial', 'member_key', 'kv_delimiter'
_MEMBER_VALUE, _MEMBER_DELIMITER, _OBJECT_FINISH = 'member_value', 'member_delimiter', 'object_end'
_ARRAY_INITIAL, _ELEMENT, _ELEMENT_DELIMITER = 'array_initial', 'element', 'element_delimiter'
_ARRAY_FINISH, _VALUE = 'array_end', 'value'
_LB, _RB, _LC, _RC, _COMMA, _COLON = '[', ']', '{', '}', ',', ':'
_STRING = '"'
_SCALAR = 'scalar'  # false, true, null or a number (any other byte reads as one).


def _token(byte: int) -> str:
  char = chr(byte)
  return char if char in '[]{},:"' else _SCALAR


# Predict(): the state a token leads to; a pair missing here is the error state.
_PREDICT = {
    _START: {_LB: _ARRAY_INITIAL, _LC: _OBJECT_INITIAL, _STRING: _VALUE, _SCALAR: _VALUE},
    _OBJECT_INITIAL: {_RC: _OBJECT_FINISH, _STRING: _MEMBER_KEY},
    _MEMBER_KEY: {_COLON: _KV_DELIMITER},
    _KV_DELIMITER: {_LB: _ARRAY_INITIAL, _LC: _OBJECT_INITIAL, _STRING: _MEMBER_VALUE,
                    _SCALAR: _MEMBER_VALUE},
    _MEMBER_VALUE: {_RC: _OBJECT_FINISH, _COMMA: _MEMBER_DELIMITER},
    _MEMBER_DELIMITER: {_RC: _OBJECT_FINISH, _STRING: _MEMBER_KEY},
    _ARRAY_INITIAL: {_LB: _ARRAY_INITIAL, _RB: _ARRAY_FINISH, _LC: _OBJECT_INITIAL,
                     _STRING: _ELEMENT, _SCALAR: _ELEMENT},
    _ELEMENT: {_RB: _ARRAY_FINISH, _COMMA: _ELEMENT_DELIMITER},
    _ELEMENT_DELIMITER: {_LB: _ARRAY_INITIAL, _RB: _ARRAY_FINISH, _LC: _OBJECT_INITIAL,
                         _STRING: _ELEMENT, _SCALAR: _ELEMENT},
}

# HandleError(): the error a state reports when the next token cannot follow it.
_STATE_ERROR = {
    _START: DOCUMENT_EMPTY,
    _OBJECT_INITIAL: OBJECT_MISS_NAME, _MEMBER_DELIMITER: OBJECT_MISS_NAME,
    _MEMBER_KEY: OBJECT_MISS_COLON,
    _MEMBER_VALUE: OBJECT_MISS_COMMA,
    _KV_DELIMITER: VALUE_INVALID, _ARRAY_INITIAL: VALUE_INVALID,
    _ELEMENT_DELIMITER: VALUE_INVALID,
    _ELEMENT: ARRAY_MISS_COMMA,
}

_WHITESPACE = re.compile(rb'[ \t\n\r]*')
_PLAIN = re.compile(rb'[^"\\\x00-\x1f]*')
_ESCAPES = {ord('"'): b'"', ord('\\'): b'\\', ord('/'): b'/', ord('b'): b'\b',
            ord('f'): b'\f', ord('n'): b'\n', ord('r'): b'\r', ord('t'): b'\t'}
_HEX = frozenset(b'0123456789abcdefABCDEF')


class _Reader:
  """rapidjson's iterative reader (kParseIterativeFlag) with TF Serving's other two flags."""

  def __init__(self, data: bytes):
    self.data = data
    self.pos = 0

  def _skip(self) -> None:
    self.pos = _WHITESPACE.match(self.data, self.pos).end()

  def parse(self):
    data, n = self.data, len(self.data)
    state = _START
    root = None
    stack: List[Tuple[Any, str]] = []  # (container, the state its end returns to)
    key = None
    self._skip()
    while self.pos < n:
      token = _token(data[self.pos])
      target = _PREDICT.get(state, {}).get(token, _ERROR)
      if target == _ERROR:
        raise ParseError(_STATE_ERROR[state], self.pos)
      if target in (_OBJECT_INITIAL, _ARRAY_INITIAL):
        container = Object() if target == _OBJECT_INITIAL else []
        if state in (_ARRAY_INITIAL, _ELEMENT_DELIMITER):
          stack[-1][0].append(container)
          back = _ELEMENT
        elif state == _KV_DELIMITER:
          stack[-1][0].members.append((key, container))
          back = _MEMBER_VALUE
        else:
          root = container
          back = _START
        stack.append((container, back))
        self.pos += 1
      elif target == _MEMBER_KEY:
        key = self._string()
      elif target in (_KV_DELIMITER, _MEMBER_DELIMITER, _ELEMENT_DELIMITER):
        self.pos += 1
      elif target in (_MEMBER_VALUE, _ELEMENT, _VALUE):
        value = self._value()
        if target == _MEMBER_VALUE:
          stack[-1][0].members.append((key, value))
        elif target == _ELEMENT:
          stack[-1][0].append(value)
        else:
          root = value
          target = _FINISH
      else:  # _OBJECT_FINISH, _ARRAY_FINISH
        if state == _MEMBER_DELIMITER:  # No kParseTrailingCommasFlag.
          raise ParseError(OBJECT_MISS_NAME, self.pos)
        if state == _ELEMENT_DELIMITER:
          raise ParseError(VALUE_INVALID, self.pos)
        _, back = stack.pop()
        target = _FINISH if back == _START else back
        self.pos += 1
      state = target
      if state == _FINISH:  # kParseStopWhenDoneFlag: the rest is not read.
        return root
      self._skip()
    raise ParseError(_STATE_ERROR[state], self.pos)

  def _value(self):
    """ParseValue for a scalar: by its first byte."""
    first = self.data[self.pos]
    if first == ord('"'):
      return self._string()
    for word, value in ((b'null', None), (b'true', True), (b'false', False)):
      if first == word[0]:
        self.pos += 1
        for byte in word[1:]:
          if self.pos < len(self.data) and self.data[self.pos] == byte:
            self.pos += 1
          else:
            raise ParseError(VALUE_INVALID, self.pos)
        return value
    number, self.pos = _read_number(self.data, self.pos)
    return number

  def _string(self) -> str:
    """ParseString without encoding validation: the bytes, escapes decoded."""
    data, n = self.data, len(self.data)
    self.pos += 1
    out = bytearray()
    while True:
      end = _PLAIN.match(data, self.pos).end()
      out += data[self.pos:end]
      self.pos = end
      if self.pos >= n:
        raise ParseError(MISS_QUOTE, self.pos)
      c = data[self.pos]
      if c == ord('"'):
        self.pos += 1
        return _from_bytes(bytes(out))
      if c != ord('\\'):  # A raw control character.
        raise ParseError(BAD_ESCAPE, self.pos)
      escape_offset = self.pos
      self.pos += 1
      e = data[self.pos] if self.pos < n else 0
      if e in _ESCAPES:
        out += _ESCAPES[e]
        self.pos += 1
      elif e == ord('u'):
        self.pos += 1
        codepoint = self._hex4(escape_offset)
        if 0xD800 <= codepoint <= 0xDBFF:
          if data[self.pos:self.pos + 2] != b'\\u':
            raise ParseError(BAD_SURROGATE, escape_offset)
          self.pos += 2
          low = self._hex4(escape_offset)
          if not 0xDC00 <= low <= 0xDFFF:
            raise ParseError(BAD_SURROGATE, escape_offset)
          codepoint = (((codepoint - 0xD800) << 10) | (low - 0xDC00)) + 0x10000
        out += chr(codepoint).encode('utf-8', 'surrogatepass')
      else:
        raise ParseError(BAD_ESCAPE, escape_offset)

  def _hex4(self, escape_offset: int) -> int:
    digits = self.data[self.pos:self.pos + 4]
    if len(digits) < 4 or any(byte not in _HEX for byte in digits):
      raise ParseError(BAD_HEX, escape_offset)
    self.pos += 4
    return int(digits, 16)


# JsonValueToDebugString: PrettyWriter (4-space indent, kFormatSingleLineArray) behind
# JsonWriterWithLimit, which refuses each event once 256 bytes are written.
DEBUG_LIMIT = 256
_STRING_ESCAPES = {0x08: b'\\b', 0x09: b'\\t', 0x0A: b'\\n', 0x0C: b'\\f', 0x0D: b'\\r',
                   0x22: b'\\"', 0x5C: b'\\\\'}
_NEEDS_ESCAPE = re.compile(rb'[\x00-\x1f"\\]')


class _Stop(Exception):  # noqa: N818  (a signal, not an error)
  """A handler returned false: Value::Accept stops writing."""


class _PrettyWriter:
  """rapidjson's PrettyWriter with JsonWriterWithLimit in front."""

  def __init__(self, limit: int):
    self.out = bytearray()
    self.limit = limit
    self.levels: List[List] = []  # [in_array, value_count]

  def _event(self) -> None:
    if len(self.out) >= self.limit:
      raise _Stop()

  def _prefix(self) -> None:
    if not self.levels:
      return
    level = self.levels[-1]
    if level[0]:
      if level[1] > 0:
        self.out += b', '
    else:
      if level[1] > 0:
        self.out += b',\n' if level[1] % 2 == 0 else b': '
      else:
        self.out += b'\n'
      if level[1] % 2 == 0:
        self.out += b' ' * (4 * len(self.levels))
    level[1] += 1

  def scalar(self, value) -> None:
    self._event()
    self._prefix()
    if value is None:
      self.out += b'null'
    elif value is True:
      self.out += b'true'
    elif value is False:
      self.out += b'false'
    elif isinstance(value, Number):
      if not value.is_double:
        self.out += str(value.value).encode()
      elif math.isfinite(value.value):
        self.out += _dtoa(value.value).encode()
      else:  # Writer::WriteDouble without kWriteNanAndInfFlag: returns false.
        raise _Stop()
    else:
      self.string(value)

  def string(self, text: str) -> None:
    data = to_bytes(text)
    self.out += b'"' + _NEEDS_ESCAPE.sub(_escape, data) + b'"'

  def start(self, in_array: bool) -> None:
    self._event()
    self._prefix()
    self.levels.append([in_array, 0])
    self.out += b'[' if in_array else b'{'

  def key(self, name: str) -> None:
    self._event()
    self._prefix()
    self.string(name)

  def end(self) -> None:
    self._event()
    in_array, count = self.levels.pop()
    if in_array:
      self.out += b']'
    else:
      if count:
        self.out += b'\n' + b' ' * (4 * len(self.levels))
      self.out += b'}'


def _escape(match) -> bytes:
  byte = match.group()[0]
  return _STRING_ESCAPES.get(byte) or b'\\u00%02X' % byte


def debug_string(value, limit: int = DEBUG_LIMIT) -> str:
  """JsonValueToDebugString: the value as TF Serving quotes it in an error message.

  Bytes that are not UTF-8 (the body's own) are shown as \\xNN escapes.
  """
  return debug_bytes(value, limit).decode('utf-8', 'backslashreplace')


def debug_bytes(value, limit: int = DEBUG_LIMIT) -> bytes:
  """JsonValueToDebugString's bytes."""
  writer = _PrettyWriter(limit)
  # Value::Accept, iteratively: a document may nest 500,000 deep.
  stack = [iter([('value', value)])]
  try:
    while stack:
      item = next(stack[-1], None)
      if item is None:
        stack.pop()
        if len(stack) > 0:
          writer.end()
        continue
      kind, node = item
      if kind == 'key':
        writer.key(node)
      elif isinstance(node, list):
        writer.start(True)
        stack.append(('value', element) for element in node)
      elif isinstance(node, Object):
        writer.start(False)
        stack.append(entry for name, member in node.members
                     for entry in (('key', name), ('value', member)))
      else:
        writer.scalar(node)
  except _Stop:
    pass
  return bytes(writer.out)


def _dtoa(value: float) -> str:
  """rapidjson's internal::dtoa: Grisu2's digits, then Prettify (324 decimal places)."""
  if value == 0:
    return '-0.0' if math.copysign(1.0, value) < 0 else '0.0'
  sign = '-' if value < 0 else ''
  digits, k = _grisu2(abs(value))
  length = len(digits)
  kk = length + k
  if 0 <= k and kk <= 21:
    text = digits + '0' * (kk - length) + '.0'
  elif 0 < kk <= 21:
    text = digits[:kk] + '.' + digits[kk:]
  elif -6 < kk <= 0:
    text = '0.' + '0' * -kk + digits
  elif length == 1:
    text = f'{digits}e{kk - 1}'
  else:
    text = f'{digits[0]}.{digits[1:]}e{kk - 1}'
  return sign + text


# Grisu2 (rapidjson/internal/dtoa.h, diyfp.h) on 64-bit "do-it-yourself" floats (f, e),
# f * 2^e. Its digits are not always the shortest that round-trip (Python's repr), so
# messages quoting a double would differ without it.
_MASK64 = (1 << 64) - 1
_HIDDEN_BIT = 1 << 52


def _cached_power_of_ten(k: int) -> Tuple[int, int]:
  """10^k as a normalized 64-bit significand, rounded to nearest, and its binary exponent."""
  if k >= 0:
    n = 10**k
    e = n.bit_length() - 64
    if e <= 0:
      return n << -e, e
    f = (n + (1 << (e - 1))) >> e
  else:
    d = 10**-k
    shift = 63 + d.bit_length()
    f, rest = divmod(1 << shift, d)
    if f.bit_length() > 64:
      shift -= 1
      f, rest = divmod(1 << shift, d)
    if 2 * rest >= d:
      f += 1
    e = -shift
  if f.bit_length() > 64:  # Rounded up to 2^64.
    f, e = f >> 1, e + 1
  return f, e


# kCachedPowers_F/E: 10^-348 ... 10^340 in steps of 8.
_CACHED_POWERS = [_cached_power_of_ten(k) for k in range(-348, 341, 8)]


def _diy_multiply(a: Tuple[int, int], b: Tuple[int, int]) -> Tuple[int, int]:
  product = a[0] * b[0]
  high = product >> 64
  if product & (1 << 63):
    high += 1
  return high & _MASK64, a[1] + b[1] + 64


def _grisu2(value: float) -> Tuple[str, int]:
  """Grisu2: the digits rapidjson writes for a positive finite double, and their power of 10."""
  bits = struct.unpack('<Q', struct.pack('<d', value))[0]
  biased = (bits >> 52) & 0x7FF
  f = bits & (_HIDDEN_BIT - 1)
  f, e = (f + _HIDDEN_BIT, biased - 1075) if biased else (f, -1074)
  # NormalizedBoundaries.
  plus_f, plus_e = (f << 1) + 1, e - 1
  while not plus_f & (_HIDDEN_BIT << 1):
    plus_f, plus_e = plus_f << 1, plus_e - 1
  plus_f, plus_e = plus_f << 10, plus_e - 10
  minus_f, minus_e = ((f << 2) - 1, e - 2) if f == _HIDDEN_BIT else ((f << 1) - 1, e - 1)
  minus_f <<= minus_e - plus_e
  # GetCachedPower.
  dk = (-61 - plus_e) * 0.30102999566398114 + 347
  k = int(dk)
  if dk - k > 0.0:
    k += 1
  index = (k >> 3) + 1
  big_k = -(-348 + (index << 3))
  cached = _CACHED_POWERS[index]
  shift = 64 - f.bit_length()
  w = _diy_multiply((f << shift, e - shift), cached)
  wp = _diy_multiply((plus_f, plus_e), cached)
  wm = _diy_multiply((minus_f, plus_e), cached)
  wp = (wp[0] - 1, wp[1])
  return _digit_gen(w, wp, wp[0] - (wm[0] + 1), big_k)


def _digit_gen(w, mp, delta: int, big_k: int) -> Tuple[str, int]:
  one_e = -mp[1]
  one_f = 1 << one_e
  wp_w = mp[0] - w[0]
  p1 = mp[0] >> one_e
  p2 = mp[0] & (one_f - 1)
  kappa = min(len(str(p1)), 9) if p1 else 1  # CountDecimalDigit32
  digits = []
  while kappa > 0:
    divisor = 10**(kappa - 1)
    d, p1 = divmod(p1, divisor)
    if d or digits:
      digits.append(d)
    kappa -= 1
    rest = (p1 << one_e) + p2
    if rest <= delta:
      _grisu_round(digits, delta, rest, (10**kappa) << one_e, wp_w)
      return ''.join(map(str, digits)), big_k + kappa
  while True:
    p2 = (p2 * 10) & _MASK64
    delta = (delta * 10) & _MASK64
    d = p2 >> one_e
    if d or digits:
      digits.append(d)
    p2 &= one_f - 1
    kappa -= 1
    if p2 < delta:
      scale = 10**-kappa if -kappa < 9 else 0
      _grisu_round(digits, delta, p2, one_f, (wp_w * scale) & _MASK64)
      return ''.join(map(str, digits)), big_k + kappa


def _grisu_round(digits: List[int], delta: int, rest: int, ten_kappa: int, wp_w: int) -> None:
  while (rest < wp_w and delta - rest >= ten_kappa
         and ((rest + ten_kappa) & _MASK64 < wp_w
              or wp_w - rest > ((rest + ten_kappa) & _MASK64) - wp_w)):
    digits[-1] -= 1
    rest = (rest + ten_kappa) & _MASK64
