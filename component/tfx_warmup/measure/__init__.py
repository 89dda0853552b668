"""Measures what warmup buys: first-request latency after a load, in fresh processes."""
