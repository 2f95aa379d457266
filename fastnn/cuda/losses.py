"""Output-layer losses on the GPU (twin of :mod:`fastnn.kernels.losses`)."""
from numba import cuda

from ..kernels import losses as _cpu
from .shared import device_function

row_delta = device_function(_cpu.row_delta)


@cuda.jit(cache=True)
def output_delta_kernel(Z, A, T, rows, loss_code, act_code, dZ, errors, total):
    """A thread per row: dZ[r] as output_delta writes it, errors[rows[r]] = its loss (when
    errors is not empty) and total[0] += its loss (float64)."""
    for r in range(cuda.grid(1), Z.shape[0], cuda.gridsize(1)):
        loss = row_delta(Z, A, T, r, rows[r], loss_code, act_code, dZ)
        if errors.size > 0:
            errors[rows[r]] = loss
        cuda.atomic.add(total, 0, loss)
