"""fastnn: compiled training of fully connected neural networks.

Importing fastnn compiles nothing; kernels compile (or load from Numba's cache) at first use.
"""
from . import activations, initializers, losses, optimizers, schedules
from .layers import BatchNorm, Dense
from .network import DivergenceWarning, Network, load

__all__ = ["BatchNorm", "Dense", "DivergenceWarning", "Network", "activations", "initializers", "load", "losses", "optimizers",
           "schedules"]
__version__ = "0.1.0"
