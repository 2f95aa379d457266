"""The CPU kernels' scalar helpers as the CUDA kernels call them.

On a GPU, numba.cuda compiles the @njit dispatchers themselves as device functions: one
formula, two targets. Numba's CUDA simulator runs kernels as Python and hands them its own
array objects, which an @njit function cannot type; there the helpers run as their Python
source (``py_func``), which calls the scalar @njit functions below it with plain numbers.
"""
from ..device import simulated


def device_function(fn):
    """fn (an @njit dispatcher) as a CUDA kernel calls it."""
    return fn.py_func if simulated() else fn
