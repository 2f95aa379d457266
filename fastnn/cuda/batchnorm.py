"""Batch normalization on the GPU (twins of :mod:`fastnn.kernels.batchnorm`): a thread per unit,
which walks the batch's rows (reads coalesced across the units), in float64 as on the CPU."""
from numba import cuda

from ..kernels import batchnorm as _cpu
from ..kernels.batchnorm import INV_STD, MEAN, VAR
from .shared import device_function

column_moments, input_grad, inverse_std, moving_average = (
    device_function(f) for f in (_cpu.column_moments, _cpu.input_grad, _cpu.inverse_std, _cpu.moving_average))


@cuda.jit(cache=True)
def batch_norm_forward_kernel(Z, Xh, gamma, beta, eps, bn, u0):
    """Z (= x W) <- gamma * x_hat + beta, x_hat written to Xh; bn[:, u0 + j] = mean, variance,
    1 / sqrt(variance + eps) of unit j over the batch (two passes, as on the CPU)."""
    B, m = Z.shape
    for j in range(cuda.grid(1), m, cuda.gridsize(1)):
        mean, m2 = column_moments(Z, j)
        var = m2 / B
        inv_std = inverse_std(var, eps)
        bn[MEAN, u0 + j], bn[VAR, u0 + j], bn[INV_STD, u0 + j] = mean, var, inv_std
        for r in range(B):
            Xh[r, j] = (Z[r, j] - mean) * inv_std
            Z[r, j] = gamma[j] * Xh[r, j] + beta[j]  # from x_hat rounded to the dtype, as on the CPU


@cuda.jit(cache=True)
def update_moving_averages_kernel(stats, s0, bn, u0, m, momentum, batch):
    """Moving mean and (unbiased) variance of the raw net input, a thread per unit."""
    unbias = batch / (batch - 1.0)
    for j in range(cuda.grid(1), m, cuda.gridsize(1)):
        stats[s0 + j] = moving_average(stats[s0 + j], bn[MEAN, u0 + j], momentum)
        stats[s0 + m + j] = moving_average(stats[s0 + m + j], unbias * bn[VAR, u0 + j], momentum)


@cuda.jit(cache=True)
def batch_norm_backward_kernel(dY, Xh, gamma, bn, u0, dgamma, dbeta, scale):
    """dY becomes dL/dZ through the batch statistics; dgamma += scale sum(dY x_hat),
    dbeta += scale sum(dY). A thread per unit; gamma is read before it moves."""
    B, m = dY.shape
    for j in range(cuda.grid(1), m, cuda.gridsize(1)):
        s1 = 0.0
        s2 = 0.0
        for r in range(B):
            s1 += dY[r, j]
            s2 += dY[r, j] * Xh[r, j]
        g, inv_std = gamma[j], bn[INV_STD, u0 + j]
        for r in range(B):
            dY[r, j] = input_grad(dY[r, j], Xh[r, j], g, inv_std, B, s1, s2)
        dgamma[j] += scale * s2
        dbeta[j] += scale * s1
