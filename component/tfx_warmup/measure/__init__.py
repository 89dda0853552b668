"""Measures what warmup buys: first-request latency after a load, in fresh processes.

`child` is the one process boundary every measurement crosses (the cold start
here, the swap's runs in `tfx_warmup.swap`): one entry point, results and typed
errors as JSON.
"""
