"""Compile every CUDA kernel of fastnn to PTX, float32 and float64, without a GPU.

Needs numba-cuda and NVVM (pip install "numba-cuda[cu12]"; no driver, no GPU). The CUDA
simulator runs the kernels as Python, so it cannot tell whether numba.cuda accepts them (types,
the @njit helpers they call); this script can. Usage: python scripts/cuda_compile_check.py
"""
import sys

import numba
import numpy as np
from numba import cuda

import numba.cuda.dispatcher as _dispatcher


class _Device:  # device functions compile for the current device's compute capability: pretend one
    compute_capability = (8, 0)


_dispatcher.get_current_device = lambda: _Device()

from fastnn.cuda import activations, batchnorm, dense, losses, online, updates  # noqa: E402


def _args(f):
    """Example arguments of every kernel in dtype f (their types are what compiles)."""
    i64, u64 = np.int64(1), np.uint64(3)
    M, v, rows = np.zeros((4, 3), f), np.zeros(3, f), np.zeros(4, np.int64)
    layout, ap = np.zeros((2, 9), np.int64), np.zeros((2, 4))
    bn, stats, total = np.zeros((3, 5)), np.zeros(6, f), np.zeros(1)
    state, hp = np.zeros((2, 9), f), np.zeros(5)
    return {
        dense.gather_kernel: (M, rows, M),
        dense.affine_forward_kernel: (M, M, v, M),
        dense.backprop_input_kernel: (M, M, M),
        dense.add_weight_grad_kernel: (M, M, M, 0.5),
        dense.add_bias_grad_kernel: (M, v, 0.5),
        activations.activate_kernel: (M, M, i64, 0.1, 0.2, v, True, u64, i64, rows),
        activations.activation_backward_kernel: (M, M, M, i64, 0.1, 0.2, v, v, 0.5, True, u64, i64, rows),
        losses.output_delta_kernel: (M, M, M, rows, i64, i64, M, np.zeros(4), total),
        batchnorm.batch_norm_forward_kernel: (M, M, v, v, 1e-5, bn, i64),
        batchnorm.update_moving_averages_kernel: (stats, i64, bn, i64, i64, 0.9, i64),
        batchnorm.batch_norm_backward_kernel: (M, M, v, bn, i64, v, v, 0.5),
        updates.apply_update_kernel: (i64, hp, v, v, state[:, :3].copy(), layout, np.ones(2), 0.0, 0.1, 0.9, i64),
        online.train_online_kernel: (v, v, state[:, :3].copy(), layout, ap, rows, rows, v, M, rows, np.ones(4), np.ones(4), i64, hp,
                                     0.0, np.ones(2), i64, i64, True, u64, np.zeros(4), True, rows,
                                     np.zeros((2, 5), f), M[:1], M[:1], M[:1], np.zeros(2)),
    }


def main():
    failures = 0
    for f in (np.float32, np.float64):
        for kernel, args in _args(f).items():
            sig = tuple(numba.typeof(a) for a in args)
            name = f"{kernel.py_func.__module__}.{kernel.py_func.__name__}[{np.dtype(f).name}]"
            try:
                ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(8, 0))
                print(f"ok    {name}: {len(ptx.splitlines())} lines of PTX")
            except Exception as e:  # report every kernel, then fail
                failures += 1
                print(f"FAIL  {name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
