"""The `tfx-warmup` command line: `generate`, `inspect`, `verify`, `swap`, over the library."""

from tfx_warmup.cli.entry import main
