"""Memory sizes as people write them for a container: '4Gi', '512Mi', '2G', '1.5GiB'.

`swap_memory_limit` is the serving container's limit, so it is read the way a
Kubernetes manifest (`resources.limits.memory`) or `docker run --memory` writes
it, not only as a number of some unit the user has to look up.
"""

import re
from typing import Optional

_UNITS = {'': 1, 'b': 1,
          'k': 1000, 'kb': 1000, 'ki': 1024, 'kib': 1024,
          'm': 1000 ** 2, 'mb': 1000 ** 2, 'mi': 1024 ** 2, 'mib': 1024 ** 2,
          'g': 1000 ** 3, 'gb': 1000 ** 3, 'gi': 1024 ** 3, 'gib': 1024 ** 3,
          't': 1000 ** 4, 'tb': 1000 ** 4, 'ti': 1024 ** 4, 'tib': 1024 ** 4}
_QUANTITY = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$')
EXAMPLES = "'4Gi', '512Mi', '2G' or a number of bytes"


def memory_mib(text: str) -> Optional[float]:
  """`text` in MiB; None when it is not a memory size."""
  match = _QUANTITY.match(str(text))
  if not match or match.group(2).lower() not in _UNITS:
    return None
  value = float(match.group(1)) * _UNITS[match.group(2).lower()] / 1024 ** 2
  return value if value > 0 else None
