"""How fastnn uses threads: only where a parallel region pays for itself, and politely.

A parallel region costs microseconds to enter, and far more when another process is busy on
the machine: its threads wait at every barrier for a thread that the other process pushed
off its core. Two processes fitting a small network with two threads each on two cores ran
4-18x slower than one thread each (issue 12). So:

- a chunk is split over threads only when its work (rows x multiply-adds per row) is above
  PARALLEL_MIN_WORK, measured by ``bench/bench_threads.py``; below it fastnn and BLAS run on
  one thread, which is also faster alone;
- OpenMP's idle threads spin only briefly before they sleep (GOMP_SPINCOUNT, set at import
  unless the user set it or OMP_WAIT_POLICY), so a process between parallel regions leaves
  the cores to others;
- the BLAS thread limit that a fit sets is restored to what was there before the first of
  any concurrent fits, whatever order they finish in.
"""
import contextlib
import os
import threading
from typing import NamedTuple

import numba
import numpy as np

PARALLEL_MIN_WORK = 500_000  # multiply-adds per chunk; below this one thread is as fast (bench_threads.py)
ROWS_PER_PART = 128  # with fewer rows per thread, splitting gained nothing on any network measured
SPIN_COUNT = "10000"  # about 10-30 us of spinning: covers the gap between a chunk's regions, not a pause


def configure_openmp():
    """Short spins for GNU OpenMP's idle threads; read when Numba first loads its OpenMP pool,
    so this runs at ``import fastnn``. Leaves any setting of the user's alone."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)


class Plan(NamedTuple):
    """How a pass over X runs: rows per chunk, per-layer BLAS flags, threads that split each
    chunk (n_parts) and BLAS threads per part."""
    chunk: int
    use_blas: np.ndarray
    n_parts: int
    blas: int


def threads():
    """Threads fastnn may use: Numba's setting (numba.set_num_threads, NUMBA_NUM_THREADS), at
    most OMP_NUM_THREADS when that is set and NUMBA_NUM_THREADS is not. joblib's process
    workers and Dask's set OMP_NUM_THREADS to their share of the cores (1 on a machine as busy
    as its cores), so many fits at once run a thread each instead of fighting for the cores."""
    n = numba.get_num_threads()
    share = os.environ.get("OMP_NUM_THREADS", "")
    if "NUMBA_NUM_THREADS" not in os.environ and share.isdigit() and int(share) >= 1:
        n = min(n, int(share))
    return n


def split(chunk, macs_per_row):
    """(n_parts, BLAS threads per part) for chunks of ``chunk`` rows costing ``macs_per_row``
    multiply-adds each: one and one below the break-even or when the chunk has too few rows for
    two parts, else Numba's threads."""
    n_parts = min(threads(), chunk // ROWS_PER_PART)
    if n_parts < 2 or chunk * macs_per_row < PARALLEL_MIN_WORK:
        return 1, 1  # BLAS on one thread too: its idle pool would spin beside other processes
    return n_parts, max(1, threads() // n_parts)


_lock = threading.Lock()
_active = 0  # fits and predictions inside blas_limit now, in every thread of the process
_outer = None  # the threadpoolctl limiter of the first of them: it restores what was there
_controller = None  # threadpoolctl's view of the loaded BLAS libraries, found once


def _blas_controller():
    """The threadpoolctl controller, made once: finding the libraries reads /proc/self/maps
    (3 ms), which a full-batch optimizer calling the kernels hundreds of times cannot pay.
    SciPy's BLAS (the one Numba's np.dot calls, loaded lazily at the first compile) is loaded
    first, so the controller sees it; a BLAS loaded later is not limited."""
    global _controller
    if _controller is None:
        import scipy.linalg.cython_blas  # noqa: F401  (0.4 s once, at the first fit or prediction)
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def blas_limit(n):
    """Limit BLAS to ``n`` threads for a kernel call. Concurrent calls (fits in several Python
    threads) share the process's BLAS, so the limit of the latest applies and the original is
    restored when the last one leaves; nested threadpoolctl contexts would restore out of order.
    """
    global _active, _outer
    with _lock:
        limiter = _blas_controller().limit(limits=n, user_api="blas")
        if _active == 0:
            _outer = limiter
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                _outer.restore_original_limits()
                _outer = None
