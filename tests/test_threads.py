"""Threads: used only where the work pays, and the BLAS limit restored whatever the order."""
import os
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import fastnn
from fastnn import _threads


def blas_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture
def three_blas_threads():
    """A known BLAS setting to come back to (3: not what any fit sets, nor the default here)."""
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS fastnn limits)

    with threadpool_limits(3, user_api="blas"):
        yield


def test_blas_limits_restore_the_original_when_left_out_of_order(three_blas_threads):
    first, second = _threads.blas_limit(1), _threads.blas_limit(2)
    first.__enter__()
    second.__enter__()
    assert set(blas_threads()) == {2}
    first.__exit__(None, None, None)  # the first to enter leaves first
    assert set(blas_threads()) == {2}  # the second is still running with its limit
    second.__exit__(None, None, None)
    assert set(blas_threads()) == {3}


def test_concurrent_fits_in_threads_restore_blas(three_blas_threads, monkeypatch):
    monkeypatch.setattr(_threads, "PARALLEL_MIN_WORK", 0)  # every chunk planned with threads: BLAS limited
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 5)), np.arange(64) % 3

    def fit(seed):
        for _ in range(5):
            fastnn.Network([fastnn.Dense(7, "tanh"), fastnn.Dense(3, "softmax")], seed=seed).fit(X, y, epochs=2,
                                                                                              batch_size=32)

    workers = [threading.Thread(target=fit, args=(s,)) for s in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert set(blas_threads()) == {3}


@pytest.mark.parametrize("rows,macs,threads,expected", [
    (32, 30 * 100 + 100 * 2, 2, (1, 1)),  # a batch of 32 on 30-100-2: one thread is faster
    (128, 784 * 128 + 128 * 10, 1, (1, 1)),  # one thread allowed
    (128, 784 * 128 + 128 * 10, 2, (1, 1)),  # MNIST batches of 128: as fast on one thread
    (512, 784 * 128 + 128 * 10, 2, (2, 1)),  # batches of 512: worth two parts
    (512, 30 * 100 + 100 * 2, 4, (4, 1)),
    (8, 10**7, 4, (1, 1)),  # too few rows to split: one thread, BLAS included
])
def test_threads_only_above_the_break_even(monkeypatch, rows, macs, threads, expected):
    monkeypatch.setattr(_threads, "threads", lambda: threads)
    assert _threads.split(rows, macs) == expected


def test_idle_openmp_threads_spin_briefly(monkeypatch):
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    _threads.configure_openmp()
    assert int(os.environ["GOMP_SPINCOUNT"]) <= 100_000
    monkeypatch.setenv("GOMP_SPINCOUNT", "5")
    _threads.configure_openmp()
    assert os.environ["GOMP_SPINCOUNT"] == "5"  # the user's setting stays


def test_a_workers_share_of_the_cores_caps_the_threads(monkeypatch):
    """OMP_NUM_THREADS (set by joblib's and Dask's worker processes) caps fastnn's threads
    unless NUMBA_NUM_THREADS says otherwise; numba's own setting is the upper bound."""
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    monkeypatch.setattr(_threads.numba, "get_num_threads", lambda: 4)
    for share, expected in [("1", 1), ("3", 3), ("8", 4), ("", 4), ("none", 4), ("0", 4)]:
        monkeypatch.setenv("OMP_NUM_THREADS", share)
        assert _threads.threads() == expected, share
    monkeypatch.setenv("NUMBA_NUM_THREADS", "4")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _threads.threads() == 4


def test_joblib_process_workers_fit_on_their_share_of_the_cores():
    """Two joblib (loky) workers on this machine: each may use at most cpu_count // 2 threads."""
    joblib = pytest.importorskip("joblib")
    got = joblib.Parallel(n_jobs=2)(joblib.delayed(_threads.threads)() for _ in range(2))
    assert max(got) <= max(1, joblib.cpu_count() // 2)
