"""The affine part of a Dense layer: Z = A W + b and its gradients, for a chunk of examples.

Two implementations of each product, chosen per layer by the caller:
- row loops over the non-zero inputs only: for one example (online learning) and for sparse
  inputs such as MNIST (about 80% zeros, or ReLU outputs) they do only the work the non-zeros
  need. On a batch each row's non-zeros are listed once, where the row lies (in the data
  itself for a first layer: no gather), for the forward product and the weight gradient;
- BLAS (``np.dot`` with an output array, no allocation) for dense mini-batches.

The row loops are written once, on flat arrays and offsets (``*_row``), for the chunk loops here
and the online epoch (fastnn.kernels.online), which walks theta by offsets instead of making
views per example. Offsets are uint64 inside: with signed indices Numba adds a negative-index
fix-up to every access, which stops LLVM from vectorising the loop (3.5x slower measured).
"""
import numpy as np
from numba import njit

from .options import KERNEL

_FAST = {"contract", "reassoc", "nsz"}  # lets LLVM vectorise the dot products; never assumes "no NaN"
U = np.uint64  # the type of offsets in the row loops (see the module's notes)
# Offsets of zero are passed as np.int64(0): a literal 0 would compile a second copy of the
# row loop it reaches (Numba specialises on literal arguments).


@njit(**KERNEL)
def nonzeros_at(x, x0, n, nz):
    """Write the indices k < n of the non-zeros x[x0 + k] to nz[:m]; return m.

    Branch-free: on inputs like MNIST a data-dependent branch per input mispredicts so often
    that listing the non-zeros first makes the row loops about twice as fast.
    """
    x0 = U(x0)
    m = 0
    for k in range(U(n)):
        nz[m] = k
        m += x[x0 + k] != 0.0
    return m


@njit(**KERNEL, fastmath=_FAST)
def affine_row(x, x0, n_in, W, w0, b, b0, z, z0, n_out, nz):
    """z[z0:z0 + n_out] = b[b0:...] + the n_in inputs x[x0:...] times the (n_in, n_out) matrix
    at W[w0:], over the non-zero inputs only; nz is integer scratch of length n_in."""
    affine_nz_row(x, x0, nz, nonzeros_at(x, x0, n_in, nz), W, w0, b, b0, z, z0, n_out)


@njit(**KERNEL, fastmath=_FAST)
def affine_nz_row(x, x0, nz, m, W, w0, b, b0, z, z0, n_out):
    """affine_row over the inputs x[x0 + nz[q]], q < m, listed by the caller (nonzeros_at)."""
    x0, w0, b0, z0, n_out = U(x0), U(w0), U(b0), U(z0), U(n_out)
    for j in range(n_out):
        z[z0 + j] = b[b0 + j]
    q = 0
    # Four input rows per sweep: z is loaded and stored a quarter as often.
    while q + 4 <= m:
        k0, k1, k2, k3 = U(nz[q]), U(nz[q + 1]), U(nz[q + 2]), U(nz[q + 3])
        a0, a1, a2, a3 = x[x0 + k0], x[x0 + k1], x[x0 + k2], x[x0 + k3]
        r0, r1, r2, r3 = w0 + k0 * n_out, w0 + k1 * n_out, w0 + k2 * n_out, w0 + k3 * n_out
        for j in range(n_out):
            z[z0 + j] += a0 * W[r0 + j] + a1 * W[r1 + j] + a2 * W[r2 + j] + a3 * W[r3 + j]
        q += 4
    for q in range(q, m):
        k = U(nz[q])
        a, r = x[x0 + k], w0 + k * n_out
        for j in range(n_out):
            z[z0 + j] += a * W[r + j]


@njit(**KERNEL, fastmath=_FAST)
def backprop_row(d, d0, W, w0, n_in, n_out, da, a0):
    """da[a0 + k] = sum_j d[d0 + j] W[k, j] for the (n_in, n_out) matrix at W[w0:]: the error
    one example sends back to the layer below."""
    d0, w0, a0, n_out = U(d0), U(w0), U(a0), U(n_out)
    for k in range(U(n_in)):
        r = w0 + k * n_out
        s = da.dtype.type(0.0)
        for j in range(n_out):
            s += d[d0 + j] * W[r + j]
        da[a0 + k] = s


@njit(**KERNEL, fastmath=_FAST)
def outer_row(x, x0, n_in, d, d0, n_out, W, w0, scale, nz):
    """W[k, j] += scale * x[x0 + k] * d[d0 + j] for the (n_in, n_out) matrix at W[w0:], over the
    non-zeros of x only (one example's weight gradient, or its SGD step when W is theta)."""
    outer_nz_row(x, x0, nz, nonzeros_at(x, x0, n_in, nz), d, d0, n_out, W, w0, scale)


@njit(**KERNEL, fastmath=_FAST)
def outer_nz_row(x, x0, nz, m, d, d0, n_out, W, w0, scale):
    """outer_row over the inputs x[x0 + nz[q]], q < m, listed by the caller (nonzeros_at)."""
    x0, d0, w0, n_out = U(x0), U(d0), U(w0), U(n_out)
    s = W.dtype.type(scale)  # stay in the array's precision: float32 SIMD is twice as wide
    for q in range(m):
        k = U(nz[q])
        sa, r = s * x[x0 + k], w0 + k * n_out
        for j in range(n_out):
            W[r + j] += sa * d[d0 + j]


@njit(**KERNEL, fastmath=_FAST)
def scale_range(W, w0, n, factor):
    """W[w0:w0 + n] times factor (weight decay of a whole matrix)."""
    w0 = U(w0)
    f = W.dtype.type(factor)
    for i in range(U(n)):
        W[w0 + i] *= f


@njit(**KERNEL, fastmath=_FAST)
def scale_row(W, w0, n_out, k, factor):
    """Row k of the (., n_out) matrix at W[w0:] times factor (weight decay)."""
    r, n_out = U(w0) + U(k) * U(n_out), U(n_out)
    f = W.dtype.type(factor)
    for j in range(n_out):
        W[r + j] *= f


@njit(**KERNEL)
def scale_rows(W, w0, n_out, rows, m, factor):
    """Rows rows[:m] of the (., n_out) matrix at W[w0:] times factor."""
    for q in range(m):
        scale_row(W, w0, n_out, rows[q], factor)


@njit(**KERNEL, fastmath=_FAST)
def affine_forward(A, W, b, Z):
    """Z = A @ W + b by BLAS (overwrites Z)."""
    np.dot(A, W, Z)
    for r in range(A.shape[0]):
        for j in range(W.shape[1]):
            Z[r, j] += b[j]


@njit(**KERNEL, fastmath=_FAST)
def sparse_affine(X, rows, W, b, Z, lists, counts):
    """Z = X[rows] @ W + b over each row's non-zero inputs, read where they lie in X (the data for
    a first layer: no gather; the layer below's outputs for the others); row r's non-zeros go to
    lists[r, :counts[r]] for its weight gradient (sparse_weight_grad)."""
    n_in, n_out = W.shape
    X_, W_, Z_ = X.reshape(X.size), W.reshape(W.size), Z.reshape(Z.size)
    zero = np.int64(0)
    for r in range(rows.size):
        x0 = rows[r] * n_in
        counts[r] = nonzeros_at(X_, x0, n_in, lists[r])
        affine_nz_row(X_, x0, lists[r], counts[r], W_, zero, b, zero, Z_, r * n_out, n_out)


@njit(**KERNEL, fastmath=_FAST)
def sparse_weight_grad(X, rows, lists, counts, dZ, dW, scale, k0, k1):
    """dW[k0:k1] += scale * (X[rows].T @ dZ)[k0:k1] over the non-zeros that sparse_affine listed:
    each input row is scanned once per batch, not once per pass. Threads own row ranges [k0, k1).

    With dW a view into theta and scale = -lr / batch this *is* the SGD step, so plain SGD
    never writes a gradient buffer."""
    n_in, n_out = dW.shape
    X_, dZ_, dW_ = X.reshape(X.size), dZ.reshape(dZ.size), dW.reshape(dW.size)
    for r in range(rows.size):
        nz, m = lists[r], counts[r]  # ascending: a thread's inputs are one run of the list
        q0 = 0
        while q0 < m and nz[q0] < k0:  # a plain loop: np.searchsorted compiles for seconds
            q0 += 1
        q1 = q0
        while q1 < m and nz[q1] < k1:
            q1 += 1
        outer_nz_row(X_, rows[r] * n_in, nz[q0:], q1 - q0, dZ_, r * n_out, n_out, dW_, np.int64(0), scale)


@njit(**KERNEL, fastmath=_FAST)
def backprop_input(dZ, W, dA, use_blas):
    """dA = dZ @ W.T (overwrites dA): the error sent back to the layer below."""
    B, fan_out = dZ.shape
    fan_in = W.shape[0]
    if use_blas:
        np.dot(dZ, W.T, dA)
        return
    dZ_, W_, dA_ = dZ.reshape(dZ.size), W.reshape(W.size), dA.reshape(dA.size)
    for r in range(B):
        backprop_row(dZ_, r * fan_out, W_, np.int64(0), fan_in, fan_out, dA_, r * fan_in)


@njit(**KERNEL, fastmath=_FAST)
def add_scaled_row(y, y0, x, x0, n, scale):
    """y[y0:y0 + n] += scale * x[x0:x0 + n] (a bias's gradient, or its SGD step, from one example)."""
    y0, x0 = U(y0), U(x0)
    s = y.dtype.type(scale)
    for j in range(U(n)):
        y[y0 + j] += s * x[x0 + j]


@njit(**KERNEL, fastmath=_FAST)
def add_bias_grad(dZ, db, scale):
    """db += scale * column sums of dZ."""
    m = dZ.shape[1]
    dZ_ = dZ.reshape(dZ.size)
    for r in range(dZ.shape[0]):
        add_scaled_row(db, np.int64(0), dZ_, r * m, m, scale)


@njit(**KERNEL)
def weight_grad_block(tmp, part, fan_in, fan_out):
    """Block ``part`` of tmp as a (fan_in, fan_out) matrix: one thread's BLAS product."""
    size = fan_in * fan_out
    return tmp[part * size : (part + 1) * size].reshape(fan_in, fan_out)


@njit(**KERNEL)
def partial_weight_grad(A, dZ, block):
    """block = A.T @ dZ by BLAS (A, dZ: one part's rows of the chunk)."""
    np.dot(A.T, dZ, block)


@njit(**KERNEL, fastmath=_FAST)
def add_partial_sums(tmp, n_parts, dW, scale, k0, k1):
    """dW[k0:k1] += scale * (sum of the n_parts blocks of tmp)[k0:k1]."""
    fan_in, fan_out = dW.shape
    s = dW.dtype.type(scale)
    for p in range(n_parts):
        t = weight_grad_block(tmp, p, fan_in, fan_out)
        for k in range(k0, k1):
            for j in range(fan_out):
                dW[k, j] += s * t[k, j]
