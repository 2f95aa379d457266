"""The affine part of a Dense layer: Z = A W + b and its gradients, for a chunk of examples.

Two implementations of each product, chosen per layer by the caller:
- row loops that skip zero inputs: for one example (online learning) and for sparse inputs
  such as MNIST (about 80% zeros) they do only the work the non-zeros need;
- BLAS (``np.dot`` with an output array, no allocation) for dense mini-batches.
"""
import numpy as np
from numba import njit

_FAST = {"contract", "reassoc", "nsz"}  # lets LLVM vectorise the dot products; never assumes "no NaN"


@njit(cache=True, fastmath=_FAST)
def affine_forward(A, W, b, Z, use_blas):
    """Z = A @ W + b (overwrites Z)."""
    B, fan_in = A.shape
    fan_out = W.shape[1]
    if use_blas:
        np.dot(A, W, Z)
        for r in range(B):
            for j in range(fan_out):
                Z[r, j] += b[j]
        return
    for r in range(B):
        z = Z[r]
        z[:] = b
        for k in range(fan_in):
            a = A[r, k]
            if a != 0.0:
                w = W[k]
                for j in range(fan_out):
                    z[j] += a * w[j]


@njit(cache=True, fastmath=_FAST)
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


@njit(cache=True, fastmath=_FAST)
def add_param_grads(A, dZ, dW, db, scale, use_blas, tmp):
    """dW += scale * A.T @ dZ and db += scale * column sums of dZ.

    With dW, db views into theta and scale = -lr / batch this *is* the SGD step, so online
    learning never writes a gradient buffer. ``tmp`` (fan_in * fan_out) serves the BLAS path.
    """
    B, fan_in = A.shape
    fan_out = dZ.shape[1]
    s = dW.dtype.type(scale)
    for r in range(B):
        for j in range(fan_out):
            db[j] += s * dZ[r, j]
    if use_blas:
        t = tmp[: fan_in * fan_out].reshape(fan_in, fan_out)
        np.dot(A.T, dZ, t)
        for k in range(fan_in):
            for j in range(fan_out):
                dW[k, j] += s * t[k, j]
        return
    for r in range(B):
        d = dZ[r]
        for k in range(fan_in):
            a = A[r, k]
            if a != 0.0:
                s = dW.dtype.type(scale * a)  # stay in the array's precision: float32 SIMD is 2x wider
                w = dW[k]
                for j in range(fan_out):
                    w[j] += s * d[j]
