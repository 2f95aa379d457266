"""The affine part of a Dense layer: Z = A W + b and its gradients, for a chunk of examples.

Two implementations of each product, chosen per layer by the caller:
- row loops over the non-zero inputs only: for one example (online learning) and for sparse
  inputs such as MNIST (about 80% zeros, or ReLU outputs) they do only the work the non-zeros
  need;
- BLAS (``np.dot`` with an output array, no allocation) for dense mini-batches.
"""
import numpy as np
from numba import njit

from .options import KERNEL

_FAST = {"contract", "reassoc", "nsz"}  # lets LLVM vectorise the dot products; never assumes "no NaN"


@njit(**KERNEL)
def nonzeros(x, nz):
    """Write the indices of the non-zeros of x to nz[:m]; return m.

    Branch-free: on inputs like MNIST a data-dependent branch per input mispredicts so often
    that listing the non-zeros first makes the row loops about twice as fast.
    """
    m = 0
    for k in range(x.size):
        nz[m] = k
        m += x[k] != 0.0
    return m


@njit(**KERNEL, fastmath=_FAST)
def affine_forward(A, W, b, Z, use_blas, nz):
    """Z = A @ W + b (overwrites Z); nz is int64 scratch of length fan_in."""
    B = A.shape[0]
    fan_out = W.shape[1]
    if use_blas:
        np.dot(A, W, Z)
        for r in range(B):
            for j in range(fan_out):
                Z[r, j] += b[j]
        return
    for r in range(B):
        x = A[r]
        z = Z[r]
        for j in range(fan_out):  # a loop: slice assignment compiles a shape check and its message
            z[j] = b[j]
        m = nonzeros(x, nz)
        q = 0
        # Four input rows per sweep: z is loaded and stored a quarter as often.
        while q + 4 <= m:
            k0, k1, k2, k3 = nz[q], nz[q + 1], nz[q + 2], nz[q + 3]
            a0, a1, a2, a3 = x[k0], x[k1], x[k2], x[k3]
            w0, w1, w2, w3 = W[k0], W[k1], W[k2], W[k3]
            for j in range(fan_out):
                z[j] += a0 * w0[j] + a1 * w1[j] + a2 * w2[j] + a3 * w3[j]
            q += 4
        for q in range(q, m):
            a = x[nz[q]]
            w = W[nz[q]]
            for j in range(fan_out):
                z[j] += a * w[j]


@njit(**KERNEL, fastmath=_FAST)
def backprop_input(dZ, W, dA, use_blas):
    """dA = dZ @ W.T (overwrites dA): the error sent back to the layer below."""
    B, fan_out = dZ.shape
    fan_in = W.shape[0]
    if use_blas:
        np.dot(dZ, W.T, dA)
        return
    for r in range(B):
        d = dZ[r]
        for k in range(fan_in):
            w = W[k]
            s = dA.dtype.type(0.0)
            for j in range(fan_out):
                s += d[j] * w[j]
            dA[r, k] = s


@njit(**KERNEL, fastmath=_FAST)
def add_bias_grad(dZ, db, scale):
    """db += scale * column sums of dZ."""
    s = db.dtype.type(scale)
    for r in range(dZ.shape[0]):
        for j in range(dZ.shape[1]):
            db[j] += s * dZ[r, j]


@njit(**KERNEL, fastmath=_FAST)
def add_weight_grad(A, dZ, dW, scale, nz, k0, k1):
    """dW[k0:k1] += scale * (A.T @ dZ)[k0:k1] by row loops over the non-zeros of A.

    With dW a view into theta and scale = -lr / batch this *is* the SGD step, so online
    learning never writes a gradient buffer. Threads own disjoint row ranges [k0, k1).
    """
    fan_out = dZ.shape[1]
    s = dW.dtype.type(scale)  # stay in the array's precision: float32 SIMD is twice as wide
    for r in range(A.shape[0]):
        x = A[r, k0:k1]
        d = dZ[r]
        m = nonzeros(x, nz)
        for q in range(m):
            sa = s * x[nz[q]]
            w = dW[k0 + nz[q]]
            for j in range(fan_out):
                w[j] += sa * d[j]


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
