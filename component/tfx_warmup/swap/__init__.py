"""The version swap, performed as TF Serving performs it, under each server config.

While TF Serving loads and warms the next version, the serving one shares its
inter-op threads with the load: `run` performs one swap in a fresh process
(TensorFlow's C++ through `serving.native`, open-loop `traffic`), `cases` are
the configs compared, `measure` runs them side by side and recommends one,
`plot` draws it. The library's step is `tfx_warmup.library.swap`.
"""
