"""CUDA tests: on a GPU, or on numba's simulator in a process of their own:

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda

(the variable must be set before numba is imported). Without either, every module here skips.
Under the simulator the launch geometry is patched small, so several blocks, the grid-stride
tails and the partial tiles run on tiny inputs.
"""
import pytest
from numba import cuda

from fastnn.device import simulated

REASON = "no CUDA GPU: run these with NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda (simulator)"


def require_cuda():
    """Call at the top of a CUDA test module, before it imports fastnn.cuda."""
    if not cuda.is_available():
        pytest.skip(REASON, allow_module_level=True)


@pytest.fixture(autouse=True)
def small_launches(monkeypatch):
    if simulated():
        from fastnn.cuda import launch

        for name, value in (("THREADS", 4), ("TILE", 4), ("ONLINE_THREADS", 6), ("MAX_BLOCKS", 3), ("K_SLAB", 8),
                            ("ROW_SLAB", 3)):
            monkeypatch.setattr(launch, name, value)
