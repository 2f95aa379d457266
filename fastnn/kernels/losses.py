"""Output-layer losses: the loss of a chunk and dL/dZ of the output layer.

dZ is the derivative of the *summed* loss; callers scale by 1/batch.

Weighted examples: T may carry one column more than the output layer has units; that trailing
column holds each example's weight, which multiplies its loss and its dZ (so it reaches the
gradient in every mode, on both devices, with no extra argument through the epoch loops).
"""
import math

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
        return z + math.log1p(math.exp(-z))
    return math.log1p(math.exp(z))


@njit(**KERNEL)
def output_delta(Z, A, T, rows, loss_code, act_code, dZ, errors):
    """Sum of the loss over a chunk (targets T[rows]); overwrites dZ. When ``errors`` is not
    empty, errors[rows[r]] = the loss of row r (emphasis orders read them).

    dZ becomes dL/dZ (cross-entropy) or dL/dA (MSE).
    """
    total = 0.0
    for r in range(Z.shape[0]):
        loss = row_delta(Z, A, T, r, rows[r], loss_code, act_code, dZ)
        if errors.size > 0:
            errors[rows[r]] = loss
        total += loss
    return total


@njit(**KERNEL)
def row_delta(Z, A, T, r, i, loss_code, act_code, dZ):
    """The loss of row r of a chunk against its target T[i]; overwrites dZ[r].

    Cross-entropy is only paired with its canonical output (softmax, logistic), where
    dL/dZ = A - T; MSE may follow any output activation, so the caller applies f'(Z). A
    trailing weight column of T (see the module's notes) scales the row's loss and dZ.
    """
    m = Z.shape[1]
    loss = 0.0
    if loss_code == CROSS_ENTROPY and act_code == SOFTMAX:
        zmax = Z[r, 0]
        for j in range(1, m):
            zmax = max(zmax, Z[r, j])
        s = 0.0
        for j in range(m):
            s += fast_exp(Z[r, j] - zmax)
        lse = zmax + math.log(s)  # log-sum-exp: the loss from Z, not log(A), so A = 0 is no -inf
        for j in range(m):
            loss += T[i, j] * (lse - Z[r, j])
            dZ[r, j] = A[r, j] - T[i, j]
    elif loss_code == CROSS_ENTROPY and act_code == LOGISTIC:
        for j in range(m):
            loss += _softplus(Z[r, j]) - T[i, j] * Z[r, j]
            dZ[r, j] = A[r, j] - T[i, j]
    else:
        for j in range(m):
            e = A[r, j] - T[i, j]
            loss += 0.5 * e * e
            dZ[r, j] = e  # dL/dA: the caller multiplies by f'(Z) (activation_backward)
    if T.shape[1] > m:
        w = T[i, m]
        for j in range(m):
            dZ[r, j] *= w
        loss *= w
    return loss
