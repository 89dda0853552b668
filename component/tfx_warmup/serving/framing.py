"""TFRecord framing: each record's 12-byte header, checked before anything trusts it.

A TFRecord is a sequence of records, each: length (uint64, little-endian), the
masked CRC-32C of those 8 bytes, `length` bytes of data, the masked CRC-32C of
the data. TensorFlow's C++ reader allocates `length` bytes before it checks the
file holds them, so a header with a valid CRC and a forged length (2^40) makes
it, and so TF Serving, try to allocate a terabyte. Checking the headers first is
cheap: a warmup file holds at most 1000 records.
"""

import dataclasses
import struct
from typing import BinaryIO, Optional

import google_crc32c

HEADER_BYTES = 12  # length (8) + masked CRC-32C of the length (4)
FOOTER_BYTES = 4  # masked CRC-32C of the data
_MASK_DELTA = 0xa282ead8


def masked_crc32c(data: bytes) -> int:
  """TFRecord's checksum: CRC-32C, rotated right by 15 bits, plus a constant."""
  crc = google_crc32c.value(data)
  return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xffffffff


def record_length(header: bytes) -> int:
  """The data length a 12-byte header declares; -1 if its CRC does not match (not a header)."""
  if len(header) != HEADER_BYTES:
    return -1
  length, crc = struct.unpack('<QI', header)
  return length if masked_crc32c(header[:8]) == crc else -1


def header(length: int) -> bytes:
  """The 12-byte header of a record of `length` bytes."""
  encoded = struct.pack('<Q', length)
  return encoded + struct.pack('<I', masked_crc32c(encoded))


@dataclasses.dataclass(frozen=True)
class Overrun:
  """A record whose header (its CRC valid) claims more bytes than the file holds after it."""
  record: int
  offset: int  # where its header starts
  length: int  # what the header claims
  file_size: int

  def describe(self) -> str:
    return (f'record {self.record} (at byte {self.offset:,}) claims {size_text(self.length)}, '
            f'but the file holds {self.file_size:,} bytes')


def first_overrun(f: BinaryIO, size: int, most: int) -> Optional[Overrun]:
  """The first of the first `most` records of the open file `f` (of `size` bytes) whose
  header claims more than the file holds; None if every header fits.

  A header whose CRC does not match, or one cut short, ends the scan: TensorFlow's
  reader reports those itself ("corrupted record", "truncated record") without
  allocating what they claim.
  """
  offset = 0
  for index in range(most):
    if size - offset < HEADER_BYTES:
      return None
    f.seek(offset)
    length = record_length(f.read(HEADER_BYTES))
    if length < 0:
      return None
    end = offset + HEADER_BYTES + length + FOOTER_BYTES
    if end > size:
      return Overrun(index, offset, length, size)
    offset = end
  return None


def size_text(length: int) -> str:
  """'112 bytes'; '1,099,511,627,776 bytes (1.0 TiB)'."""
  text = f'{length:,} byte{"" if length == 1 else "s"}'
  for unit, power in (('TiB', 40), ('GiB', 30), ('MiB', 20)):
    if length >= 1 << power:
      return f'{text} ({length / (1 << power):.1f} {unit})'
  return text
