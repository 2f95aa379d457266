"""Validation at the boundary: every public entry point checks here, kernels trust their input.

Each error names the argument, what was received and how to fix it.
"""
import math
import numbers
import os

import numpy as np

DTYPES = {"float32": np.float32, "float64": np.float64}


def dtype(value):
    """The numpy float type for 'float32' / 'float64' (or those numpy types)."""
    try:
        name = np.dtype(value).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {value!r}")
    return DTYPES[name]


def features(X, name, dtype, n_features=None):
    """X as a finite, C-contiguous, writeable 2-D array of ``dtype`` (copied only when needed:
    a read-only X, e.g. a memory map, is copied, since Numba compiles every kernel anew for
    read-only arrays)."""
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} has dtype {X.dtype}; pass numbers (float32 or float64), e.g. {name}.astype(np.float32)"
        )
    if X.ndim != 2:
        hint = f"{name}.reshape(-1, 1) for a single feature" if X.ndim == 1 else f"{name}.reshape(len({name}), -1)"
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}; use {hint}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}); pass at least one example with one feature")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features but the network takes {n_features}; pass the same columns as at fit")
    with np.errstate(over="ignore"):  # values beyond float32's range become inf: reported by finite()
        X = np.ascontiguousarray(X, dtype=dtype)
    if not X.flags.writeable:
        X = X.copy()
    finite(X, name)
    return X


def sample_weight(sample_weight, n, normalize=True):
    """Per-example weights as float64 (n,), scaled to mean 1 with ``normalize`` (so the loss
    stays a weighted mean and the rates keep their meaning), or None; a ValueError / TypeError
    naming the problem."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight has dtype {w.dtype}; pass numbers, one per example")
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},) (one weight per example), got {w.shape}")
    w = w.astype(np.float64)
    finite(w, "sample_weight")
    if w.min() < 0.0 or w.sum() <= 0.0:
        raise ValueError("sample_weight must be >= 0 with a positive sum, got values in "
                         f"[{w.min():.3g}, {w.max():.3g}] summing to {w.sum():.3g}")
    if not normalize:
        return w
    w = w / w.max()  # first: the sum of finite weights near float64's limit would overflow
    return w / w.mean()


def finite(a, name):
    """Reject NaN and inf, naming where the first one is."""
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} contains {int(bad.sum())} NaN or inf value(s) (or values beyond the range of "
                f"{a.dtype}), the first at index {where}; remove, impute or rescale them"
            )


def same_length(X, y, xname="X", yname="y"):
    if np.ndim(y) == 0:
        raise ValueError(f"{yname} must hold one target per example, got the scalar {y!r}")
    if len(X) != len(y):
        raise ValueError(f"{xname} and {yname} have different lengths ({len(X)} and {len(y)}); pass one target per example")


def number(name, value, low=None, high=None, low_open=False, high_open=False, integer=False):
    """A real (or integer) number within the stated bounds, else a clear error. Integers must
    also fit int64 and reals float64 (they reach compiled code and NumPy arrays)."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "an integer" if integer else "a number"
        raise TypeError(f"{name} must be {what}, got {value!r} ({type(value).__name__})")
    if integer and not -(2**63) <= value < 2**63:
        raise ValueError(f"{name} must fit a 64-bit integer, got {value!r}")
    if not integer and not _finite_float(value):
        raise ValueError(f"{name} must be finite (within float64's range), got {value!r:.40}")
    lo_bad = low is not None and (value <= low if low_open else value < low)
    hi_bad = high is not None and (value >= high if high_open else value > high)
    if lo_bad or hi_bad:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low}"
        hi = "" if high is None else f"{high}" + (")" if high_open else "]")
        lo = lo or "(-inf"
        hi = hi or "inf)"
        raise ValueError(f"{name} must be in {lo}, {hi}, got {value!r}")
    return int(value) if integer else float(value)


def _finite_float(value):
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int beyond float64, e.g. 10**400
        return False


def physical_memory():
    """Bytes of RAM of this machine (2**62 where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 2**62


def fits_in_memory(n_bytes, what):
    """Refuse, before anything is allocated, what could never fit in this machine's memory."""
    total = physical_memory()
    if n_bytes > total:
        raise ValueError(f"{what} would need {_gib(n_bytes)} of memory and this machine has {_gib(total)}; "
                         "use fewer units or inputs")


def _gib(n_bytes):
    return f"{n_bytes / 2**30:.3g} GiB"


def choice(name, value, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value
