"""fastnn: compiled training of fully connected neural networks.

Importing fastnn compiles nothing; kernels compile (or load from Numba's cache) at first use.
"""
__version__ = "0.1.0"  # first: modules imported below read it

from . import _threads

_threads.configure_openmp()  # before Numba starts its OpenMP pool: idle threads must not hog the cores

from . import activations, initializers, losses, optimizers, preprocessing, sampling, schedules
from .layers import BatchNorm, Dense
from .network import DivergenceWarning, Network, load
from ._sweep import sweep

__all__ = ["BatchNorm", "Dense", "DivergenceWarning", "Network", "activations", "initializers", "load", "losses",
           "optimizers", "preprocessing", "sampling", "schedules", "sweep"]
