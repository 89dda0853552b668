"""TFRecord framing: each record's 12-byte header, checked before anything trusts it.

A TFRecord is a sequence of records, each: length (uint64, little-endian), the
masked CRC-32C of those 8 bytes, `length` bytes of data, the masked CRC-32C of
the data. TensorFlow's C++ reader allocates `length` bytes before it checks the
file holds them, so a header with a valid CRC and a forged length (2^40) makes
it, and so TF Serving, try to allocate a terabyte. Checking the headers first is
cheap: a warmup file holds at most 1000 records.
"""

import struct

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
