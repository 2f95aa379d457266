"""CUDA twins of :mod:`fastnn.kernels` (numba.cuda), named as the CPU kernels with a ``_kernel`` suffix.

Imported only when a network trains with ``device="cuda"`` (see :mod:`fastnn.device`): importing
fastnn never imports or initialises CUDA. The kernels call the CPU kernels' scalar helpers
(activations, losses, batch-norm formulas, update rules), which numba.cuda compiles for the GPU,
so each formula is written once.
"""
