"""The `tfx-warmup` command line: `generate`, `inspect`, `verify` over the library and the replica."""

from tfx_warmup.cli.entry import main
