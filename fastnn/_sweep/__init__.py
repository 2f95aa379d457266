"""Sweeps: the lecture's comparisons as one command (`fastnn sweep`), each run a Dask task.

Importing this module imports no Dask; ``sweep`` does when it runs.
"""
from .driver import sweep

__all__ = ["sweep"]
