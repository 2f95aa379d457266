"""Activations on the GPU (twins of :mod:`fastnn.kernels.activations`), through the CPU's scalar helpers."""
from numba import cuda

from ..kernels import activations as _cpu
from ..kernels.activations import PRELU, SOFTMAX
from .shared import device_function

act_forward, act_grad, unit_slope = (device_function(f) for f in (_cpu.act_forward, _cpu.act_grad, _cpu.unit_slope))
prelu_backward_column, softmax_units = device_function(_cpu.prelu_backward_column), device_function(_cpu.softmax_units)


@cuda.jit(device=True)
def softmax_row(Z, A, b):
    """A[b] = softmax(Z[b]) by the CPU's formula (softmax_units on the row)."""
    softmax_units(Z[b], A[b], 0, Z.shape[1])


@cuda.jit(cache=True)
def activate_kernel(Z, A, code, p1, p2, alpha, train, key, layer, rows):
    """A = f(Z): a thread per entry, or per row for softmax; rows[b] is example b's index (RReLU draws)."""
    B, m = Z.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    if code == SOFTMAX:
        for b in range(start, B, stride):
            softmax_row(Z, A, b)
        return
    for e in range(start, B * m, stride):
        b, j = e // m, e % m
        A[b, j] = act_forward(code, Z[b, j], unit_slope(code, p1, p2, alpha, j, train, key, layer, rows[b]))


@cuda.jit(device=True)
def unit_backward(dZ, Z, A, b, j, code, p1, p2, alpha, train, key, layer, row):
    """dZ[b, j] *= f'(Z[b, j]) for every activation but PReLU (prelu_backward_column)."""
    p = unit_slope(code, p1, p2, alpha, j, train, key, layer, row)
    dZ[b, j] *= act_grad(code, Z[b, j], A[b, j], p)


@cuda.jit(cache=True)
def activation_backward_kernel(dZ, Z, A, code, p1, p2, alpha, dalpha, scale, train, key, layer, rows):
    """dZ *= f'(Z) (dZ holds dL/dA on entry): a thread per entry; PReLU a thread per unit,
    which also sums dalpha += scale * dL/dalpha over the rows."""
    B, m = Z.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    if code == PRELU:
        for j in range(start, m, stride):
            prelu_backward_column(dZ, Z, alpha, dalpha, scale, j)
        return
    for e in range(start, B * m, stride):
        b, j = e // m, e % m
        unit_backward(dZ, Z, A, b, j, code, p1, p2, alpha, train, key, layer, rows[b])
