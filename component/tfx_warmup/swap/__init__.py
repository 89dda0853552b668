"""The version swap, performed as TF Serving performs it, under each way of running it.

While TF Serving loads and warms the next version, the serving one shares its
threads and its allocator with the load, and both versions are in memory: `run`
performs one swap in a fresh process and reads its memory (TensorFlow's C++
through `serving.native`, open-loop `traffic`); `cases` are the ways compared
(TF Serving's defaults, candidate pools, allocators and thread counts, no
warmup), `allocators` finds the libraries to preload, `measure` runs the cases
side by side, `verdict` ranks them by what the swap costs clients and says what
its memory needs, `plot` draws it. The library's step is `tfx_warmup.library.swap`.
"""
