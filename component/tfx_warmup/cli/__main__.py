"""`python -m tfx_warmup.cli`: the `tfx-warmup` command."""

import sys

from tfx_warmup.cli.entry import main

sys.exit(main())
