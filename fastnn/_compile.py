"""Saying so while Numba compiles: the first fit of a dtype waits for fastnn's kernels.

Numba compiles each kernel at its first call for a dtype and caches the machine code on disk
(``fastnn info`` says where), so this wait comes once per machine, dtype and fastnn version.
A newcomer should not take it for a hang: the first fit that must compile prints one line
with the wait to expect. Callers that time training (progress bars, ETAs, ``fastnn bench``)
compile before they start their clocks.
"""
import sys

import numpy as np

# Seconds to compile each top-level kernel with what it calls, measured by
# bench/bench_first_run.py (empty cache, 2 threads, Xeon 2.8 GHz). Kernels share callees,
# so the sum over-states a little: an estimate, said as "about".
COMPILE_SECONDS = {"forward": 11, "train_epoch": 11, "lazy_epoch": 5, "sgd_online_epoch": 4}

_announced = set()  # (kernel, dtype) pairs already announced in this process


def is_compiled(kernel, dtype):
    """Whether ``kernel`` (a Numba dispatcher whose first argument is theta) has machine code
    for theta of ``dtype`` in this process or in its on-disk cache. None if that cannot be told
    (a Numba without these internals, or with the JIT disabled): then nothing is said."""
    import numba

    dtype = numba.from_dtype(np.dtype(dtype))
    try:
        if any(sig and getattr(sig[0], "dtype", None) == dtype for sig in kernel.overloads):
            return True  # compiled in this process: no need to read the cache's index
        index = kernel._cache._cache_file._load_index()
    except Exception:  # noqa: BLE001 (private Numba API: any failure means "cannot tell")
        return None
    return any(key[0] and getattr(key[0][0], "dtype", None) == dtype for key in index)


def announce(kernels, dtype, file=None):
    """Print "compiling fastnn's kernels for <dtype>, once: about N s" if some of ``kernels``
    must compile for ``dtype`` (each kernel said once per process); returns the message or None."""
    dtype = str(np.dtype(dtype))
    missing = [k for k in dict.fromkeys(kernels) if (k, dtype) not in _announced and is_compiled(k, dtype) is False]
    if not missing:
        return None
    _announced.update((k, dtype) for k in missing)
    seconds = sum(COMPILE_SECONDS.get(k.py_func.__name__, 5) for k in missing)
    message = (f"compiling fastnn's kernels for {dtype}, once: about {seconds} s "
               f"(Numba caches them for the next runs)")
    print(message, file=file or sys.stderr, flush=True)
    return message
