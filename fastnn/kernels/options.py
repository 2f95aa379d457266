"""Compilation options shared by every kernel.

error_model="numpy": a float division by zero gives inf or NaN (which the epoch loop detects
as divergence) instead of a Python exception; without it every division carries a zero
check that stops LLVM from vectorising the loop around it.
"""

KERNEL = {"cache": True, "error_model": "numpy"}
