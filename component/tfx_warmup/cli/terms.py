"""Messages in the command line's words: written once in the library's, shown with our flags.

The library and the component say what a pipeline author or a library user
writes: `tag_set`, "Point ModelWarmer at the Examples ...", `requests`,
`warm_model`. A `tfx-warmup` user typed flags and commands, so every message
the command line shows (an error, a signature left out, a measurement skipped)
says those instead: parameters as their flags (`options.parameters.in_flag_terms`),
and the library's other words by the table below. Plain Python: `--help` stays
free of TensorFlow.
"""

from tfx_warmup.cli.parser import PROG

# The library's words -> what a command-line user typed; the more specific first.
PHRASES = (
    ('Point ModelWarmer at', 'Point --examples at'),  # The examples are what ModelWarmer reads.
    ('`warm_model(measure=True)`', f'`{PROG} generate --measure`'),
    ('`warm_model`', f'`{PROG} generate`'),
    ('`verify_model`', f'`{PROG} verify`'),
    ('`requests`', '--requests FILE'),
    ('`repetitions`', '--repetitions'),
    ('swap_memory_limit', '--memory-limit'),  # The swap's, which `swap` takes as its own flags.
    ('swap_candidates', '--candidates'),
    ('ModelWarmer', PROG),
)


def in_cli_terms(message: str) -> str:
  """`message` as a `tfx-warmup` user reads it: flags and commands, not parameter names."""
  from tfx_warmup.options.parameters import in_flag_terms
  for said, typed in PHRASES:
    message = message.replace(said, typed)
  return in_flag_terms(message)
