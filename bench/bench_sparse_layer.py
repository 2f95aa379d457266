"""The first layer's products on a batch of MNIST: fastnn's sparse loops against one-thread BLAS.

    python bench/bench_sparse_layer.py [--batch 512] [--repeat 50]

A batch of real MNIST rows (pixels / 255, about 80% zeros) times a 784 x 128 float32 W:
the forward product and the weight gradient through fastnn's loops over each row's non-zeros
(kernels.dense.sparse_affine / sparse_weight_grad), through BLAS on the dense batch (np.dot in
a compiled function, one thread), and through an alternative layout that reads W in blocks of
output columns so that each block stays in the L1 cache (the loops below, kept here as the
measurement behind the README's note, not used by fastnn). Medians of --repeat calls after a
warm-up (compilation apart).
"""
import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
from numba import njit
from threadpoolctl import threadpool_limits

from fastnn import datasets
from fastnn.kernels.dense import sparse_affine, sparse_weight_grad

HERE = Path(__file__).resolve().parent
U = np.uint64
_FAST = {"contract", "reassoc", "nsz"}


@njit
def blas_forward(A, W, Z):
    np.dot(A, W, Z)


@njit
def blas_weight_grad(A, dZ, out):
    np.dot(A.T, dZ, out)


@njit(fastmath=_FAST)
def _block_row(x, x0, nz, m, W, w0, stride, z, z0, width):
    """z[z0:z0 + width] += sum over q < m of x[x0 + nz[q]] * W[w0 + nz[q] * stride:][:width]."""
    x0, w0, z0, width, stride = U(x0), U(w0), U(z0), U(width), U(stride)
    for q in range(m):
        k = U(nz[q])
        a, r = x[x0 + k], w0 + k * stride
        for j in range(width):
            z[z0 + j] += a * W[r + j]


@njit(fastmath=_FAST)
def blocked_forward(X, rows, W, Z, lists, counts, width):
    """Z = X[rows] @ W by blocks of ``width`` output columns (each block of W fits L1)."""
    n_in, n_out = W.shape
    X_, W_, Z_ = X.reshape(X.size), W.reshape(W.size), Z.reshape(Z.size)
    Z_[:] = 0.0
    for j0 in range(0, n_out, width):
        for r in range(rows.size):
            _block_row(X_, rows[r] * n_in, lists[r], counts[r], W_, j0, n_out, Z_, r * n_out + j0,
                       min(width, n_out - j0))


def median_ms(f, *args, repeat):
    f(*args)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--repeat", type=int, default=50)
    a = p.parse_args()
    path = Path(os.environ.get("FASTNN_MNIST", HERE.parent.parent / "shared" / "data" / "mnist.npz"))
    if not path.exists():
        raise SystemExit(f"needs real MNIST: set FASTNN_MNIST (looked for {path})")
    x, _, _, _ = datasets.load_npz(path)
    X = np.ascontiguousarray(x[: a.batch * 8], dtype=np.float32)
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(X))[: a.batch]  # shuffled rows, as in training
    W = (rng.standard_normal((784, 128)) * 0.05).astype(np.float32)
    b, Z = np.zeros(128, np.float32), np.empty((a.batch, 128), np.float32)
    dZ = rng.standard_normal((a.batch, 128)).astype(np.float32)
    lists, counts = np.empty((a.batch, 784), np.int64), np.empty(a.batch, np.int64)
    dense = np.ascontiguousarray(X[rows])
    grad = np.empty_like(W)
    sparse_affine(X, rows, W, b, Z, lists, counts)
    nnz = counts.mean()
    print(f"batch {a.batch} of MNIST, 784x128 float32, {nnz:.0f} non-zeros per row ({nnz / 784:.0%}); "
          f"median of {a.repeat}, one thread")
    with threadpool_limits(1):
        rows_out = [
            ("forward, fastnn (non-zeros, lists made)", median_ms(sparse_affine, X, rows, W, b, Z, lists, counts,
                                                                  repeat=a.repeat)),
            ("forward, BLAS on the dense batch", median_ms(blas_forward, dense, W, Z, repeat=a.repeat)),
        ]
        for width in (16, 32, 64):
            rows_out.append((f"forward, blocks of {width} columns", median_ms(
                blocked_forward, X, rows, W, Z, lists, counts, width, repeat=a.repeat)))
        rows_out += [
            ("weight gradient, fastnn (listed non-zeros)", median_ms(
                sparse_weight_grad, X, rows, lists, counts, dZ, W, -1e-9, np.int64(0), 784, repeat=a.repeat)),
            ("weight gradient, BLAS on the dense batch", median_ms(blas_weight_grad, dense, dZ, grad,
                                                                   repeat=a.repeat)),
        ]
    for name, ms in rows_out:
        print(f"{name:<46} {ms:7.3f} ms")


if __name__ == "__main__":
    main()
