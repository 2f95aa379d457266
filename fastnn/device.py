"""Where a network trains: "cpu" (Numba's @njit kernels) or "cuda" (numba.cuda kernels).

Asking for "cuda" checks, in this order, that the optional numba-cuda package is installed and
that it finds a GPU; each failure names what is missing. Nothing here imports numba.cuda until
"cuda" is asked for, so CPU users never initialise CUDA.
"""
import importlib.util
import os

DEVICES = ("cpu", "cuda")


def simulated():
    """Whether numba's CUDA simulator stands in for a GPU (NUMBA_ENABLE_CUDASIM=1, tests)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"


def check(device, name="device"):
    """The device name, validated; for "cuda", raises unless numba-cuda and a GPU are there."""
    if device not in DEVICES:
        raise ValueError(f"{name} must be one of {DEVICES}, got {device!r}")
    if device == "cuda" and not simulated():
        if importlib.util.find_spec("numba_cuda") is None:
            raise RuntimeError(f"{name}='cuda' needs the optional numba-cuda package, which is not installed: "
                               f"pip install 'fastnn[cuda]' (or pip install numba-cuda[cu12]), or use {name}='cpu'")
        from numba import cuda

        if not cuda.is_available():
            raise RuntimeError(f"{name}='cuda': numba-cuda is installed but finds no usable NVIDIA GPU (no GPU, or no "
                               f"driver: see `fastnn info` and numba.cuda.detect()); use {name}='cpu'")
    return device


def describe():
    """One line on the CUDA path for `fastnn info`: the GPU, or why there is none. Imports numba.cuda."""
    if simulated():
        return "CUDA simulator (NUMBA_ENABLE_CUDASIM=1): kernels run on the CPU, for tests only"
    if importlib.util.find_spec("numba_cuda") is None:
        return "not available: the numba-cuda package is not installed (pip install 'fastnn[cuda]')"
    from numba import cuda

    if not cuda.is_available():
        return "not available: numba-cuda is installed but finds no NVIDIA GPU or driver"
    gpu = cuda.get_current_device()
    name = gpu.name.decode() if isinstance(gpu.name, bytes) else gpu.name
    return f"{name} (compute capability {gpu.compute_capability[0]}.{gpu.compute_capability[1]})"
