"""Output-layer losses: the loss of a chunk and dL/dZ of the output layer.

dZ is the derivative of the *summed* loss; callers scale by 1/batch.
"""
import numpy as np
from numba import njit

from .activations import LOGISTIC, SOFTMAX
from .mathfn import fast_exp
from .options import KERNEL

MSE = 0  # E = 1/2 sum_k (y_k - t_k)^2 per example (LeCun et al. 1998)
CROSS_ENTROPY = 1  # softmax: -sum_k t_k log y_k; logistic: -sum_k t log y + (1 - t) log(1 - y)


@njit(**KERNEL)
def _softplus(z):
    # log(1 + exp(z)) without overflow for large z and without losing log1p accuracy for small.
    if z > 0.0:
        return z + np.log1p(np.exp(-z))
    return np.log1p(np.exp(z))


@njit(**KERNEL)
def output_delta(Z, A, T, rows, loss_code, act_code, dZ, errors):
    """Sum of the loss over a chunk (targets T[rows]); overwrites dZ. When ``errors`` is not
    empty, errors[rows[r]] = the loss of row r (emphasis orders read them).

    dZ becomes dL/dZ (cross-entropy) or dL/dA (MSE).

    Cross-entropy is only paired with its canonical output (softmax, logistic), where
    dL/dZ = A - T; MSE may follow any output activation, so the caller applies f'(Z).
    """
    B, m = Z.shape
    total = 0.0
    if loss_code == CROSS_ENTROPY and act_code == SOFTMAX:
        for r in range(B):
            zmax = Z[r, 0]
            for j in range(1, m):
                zmax = max(zmax, Z[r, j])
            s = 0.0
            for j in range(m):
                s += fast_exp(Z[r, j] - zmax)
            lse = zmax + np.log(s)  # log-sum-exp: the loss from Z, not log(A), so A = 0 is no -inf
            row = 0.0
            for j in range(m):
                row += T[rows[r], j] * (lse - Z[r, j])
                dZ[r, j] = A[r, j] - T[rows[r], j]
            total += _record(errors, rows[r], row)
        return total
    if loss_code == CROSS_ENTROPY and act_code == LOGISTIC:
        for r in range(B):
            row = 0.0
            for j in range(m):
                row += _softplus(Z[r, j]) - T[rows[r], j] * Z[r, j]
                dZ[r, j] = A[r, j] - T[rows[r], j]
            total += _record(errors, rows[r], row)
        return total
    for r in range(B):
        row = 0.0
        for j in range(m):
            e = A[r, j] - T[rows[r], j]
            row += 0.5 * e * e
            dZ[r, j] = e  # dL/dA: the caller multiplies by f'(Z) (activation_backward)
        total += _record(errors, rows[r], row)
    return total


@njit(**KERNEL, inline="always")
def _record(errors, i, loss):
    if errors.size > 0:
        errors[i] = loss
    return loss
