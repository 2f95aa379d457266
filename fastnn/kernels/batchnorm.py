"""Batch normalization (Ioffe & Szegedy 2015, algorithm 1) of a layer's net input, per unit.

The layer's b slot holds beta, but the affine pass of a batch-norm layer adds no bias: Z = x W,
whose batch statistics (and moving averages) are those of the raw net input. Adding beta
first and taking it off again would round x W at the scale of beta, which in float32 loses
the small spread that weight decay leaves x W with.

``bn`` is float64 scratch of shape (3, units): per unit the batch mean of x W, the batch
variance and 1 / sqrt(variance + eps); each layer uses its columns [UNIT_OFF, + fan_out).
"""
import math

from numba import njit

from .options import KERNEL

MEAN, VAR, INV_STD = 0, 1, 2


# The formulas, once for the CPU loops below and the GPU's thread per unit (fastnn.cuda).


@njit(**KERNEL, inline="always")
def inverse_std(var, eps):
    return 1.0 / math.sqrt(var + eps)  # eps: a constant input gives x_hat = 0, not 0 / 0


@njit(**KERNEL, inline="always")
def moving_average(old, value, momentum):
    return momentum * old + (1.0 - momentum) * value


@njit(**KERNEL, inline="always")
def input_grad(dy, xh, gamma, inv_std, B, s1, s2):
    """dL/dZ of one entry from dY = dL/d(gamma x_hat + beta), s1 = sum dY and s2 = sum dY x_hat
    over the batch's B rows (Ioffe & Szegedy 2015, section 3, for x = Z)."""
    return gamma * inv_std / B * (B * dy - s1 - xh * s2)


@njit(**KERNEL)
def batch_norm_forward(Z, Xh, gamma, beta, eps, bn, u0):
    """Z (= x W) <- gamma * x_hat + beta with x_hat = (Z - batch mean) / sqrt(batch var + eps), written
    to Xh. Two passes (mean, then squared deviations) in float64: no cancellation on large,
    offset inputs, as the one-pass sum of squares would suffer."""
    B, m = Z.shape
    mean, var, inv_std = bn[MEAN, u0 : u0 + m], bn[VAR, u0 : u0 + m], bn[INV_STD, u0 : u0 + m]
    mean[:] = 0.0
    var[:] = 0.0
    for r in range(B):
        for j in range(m):
            mean[j] += Z[r, j]
    for j in range(m):
        mean[j] /= B
    for r in range(B):
        for j in range(m):
            dev = Z[r, j] - mean[j]
            var[j] += dev * dev
    for j in range(m):
        var[j] /= B
        inv_std[j] = inverse_std(var[j], eps)
    f = Z.dtype.type
    for r in range(B):
        for j in range(m):
            xh = f((Z[r, j] - mean[j]) * inv_std[j])
            Xh[r, j] = xh
            Z[r, j] = gamma[j] * xh + beta[j]


@njit(**KERNEL)
def update_moving_averages(stats, s0, bn, u0, m, momentum, batch):
    """Moving mean and variance of the raw net input; the batch variance is made unbiased,
    batch / (batch - 1) times it, as in Ioffe & Szegedy's inference statistics."""
    unbias = batch / (batch - 1.0)
    for j in range(m):
        stats[s0 + j] = moving_average(stats[s0 + j], bn[MEAN, u0 + j], momentum)
        stats[s0 + m + j] = moving_average(stats[s0 + m + j], unbias * bn[VAR, u0 + j], momentum)


@njit(**KERNEL)
def batch_norm_backward(dY, Xh, gamma, bn, u0, dgamma, dbeta, scale):
    """dY (dL/d(gamma x_hat + beta), summed loss) becomes dL/dZ through the batch statistics:
    dZ = inv_std / B (B dx_hat - sum dx_hat - x_hat sum(dx_hat x_hat)), dx_hat = gamma dY.
    dgamma += scale sum(dY x_hat), dbeta += scale sum(dY); gamma is read before it moves."""
    B, m = dY.shape
    s1, s2 = bn[MEAN, u0 : u0 + m], bn[VAR, u0 : u0 + m]  # the forward's mean and variance are spent: reuse
    inv_std = bn[INV_STD, u0 : u0 + m]
    s1[:] = 0.0
    s2[:] = 0.0
    for r in range(B):
        for j in range(m):
            s1[j] += dY[r, j]
            s2[j] += dY[r, j] * Xh[r, j]
    f = dY.dtype.type
    for r in range(B):
        for j in range(m):
            dY[r, j] = f(input_grad(dY[r, j], Xh[r, j], gamma[j], inv_std[j], B, s1[j], s2[j]))
    for j in range(m):
        dgamma[j] += scale * s2[j]
        dbeta[j] += scale * s1[j]


@njit(**KERNEL)
def column_moments(Z, j):
    """(mean, sum of squared deviations from it) of column j of Z, in two float64 passes: no
    cancellation on large, offset values. The GPU's batch statistics use it too."""
    B = Z.shape[0]
    mean = 0.0
    for r in range(B):
        mean += Z[r, j]
    mean /= B
    m2 = 0.0
    for r in range(B):
        dev = Z[r, j] - mean
        m2 += dev * dev
    return mean, m2


@njit(**KERNEL)
def merge_moments(count, mean, m2, Z):
    """Add the rows of Z to running (count, mean, M2) per unit (Chan et al. 1979: stable
    pairwise merging of chunk moments). Returns the new count."""
    B, m = Z.shape
    for j in range(m):
        cm, c2 = column_moments(Z, j)
        total = count + B
        delta = cm - mean[j]
        mean[j] += delta * B / total
        m2[j] += c2 + delta * delta * count * B / total
    return count + B
