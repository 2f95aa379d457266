"""Input normalisation kept with the model (LeCun et al. 1998, "Efficient BackProp", 4.3):
shift each input to mean zero, scale to similar variances, decorrelate where possible.

    net = fastnn.Network(layers, preprocess=[Standardizer(), PCA(0.9, whiten=True)])

The network fits its preprocessing on the training data at its first ``fit`` and applies it
in ``fit``, ``predict``, ``evaluate`` and the rest; ``save`` keeps the fitted arrays. Each
step also works on its own: ``fit``, ``transform``, ``fit_transform``.
"""
import copy
import numbers

import numpy as np
from threadpoolctl import threadpool_limits

from . import _checks

GRAM_ROWS = 8192  # rows per float64 block of the covariance: bounded memory on 60,000 x 784
MIN_SCALE = 1e-150  # a model file with a smaller std or sqrt(variance) is crafted: x / scale overflows


class NotFittedError(ValueError):
    """A preprocessing step was used before it was fitted."""


class _Step:
    _arrays = ()  # names of the fitted arrays (saved with the model)

    @property
    def fitted(self):
        return all(getattr(self, name, None) is not None for name in self._arrays)

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    def _check(self, X, name="X"):
        if not self.fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(X) first (or let Network.fit do it)")
        n_in = getattr(self, "n_features_in_")
        return _checks.features(X, name, np.float64 if np.asarray(X).dtype == np.float64 else np.float32, n_in)

    def get_arrays(self):
        return {name: getattr(self, name) for name in self._arrays}

    def set_arrays(self, arrays):
        for name in self._arrays:
            setattr(self, name, np.asarray(arrays[name]))
        self.n_features_in_ = int(self.mean_.shape[0])
        return self


class Standardizer(_Step):
    """z-scores: (x - mean) / std per input. A constant input is only centred (by its value,
    exactly), so it becomes 0 and never NaN or a huge number."""

    _arrays = ("mean_", "scale_")

    def __init__(self):
        self.mean_ = self.scale_ = None

    def fit(self, X):
        X = _checks.features(X, "X", np.float32 if np.asarray(X).dtype == np.float32 else np.float64)
        constant = (X == X[0]).all(axis=0)  # exactly: a float64 mean of 0.1s is not exactly 0.1
        self.mean_ = np.where(constant, X[0], X.mean(axis=0, dtype=np.float64))
        self.scale_ = np.where(constant, 1.0, X.std(axis=0, dtype=np.float64))  # divide by 1, not by ~0
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = self._check(X)
        return ((X - self.mean_) / self.scale_).astype(X.dtype)

    def output_dim(self):
        return self.n_features_in_

    def consistent(self):
        """Whether the fitted arrays could come from fit (model files are untrusted)."""
        return (self.mean_.ndim == 1 and self.scale_.shape == self.mean_.shape
                and bool(np.all(self.scale_ >= MIN_SCALE)))

    def get_config(self):
        return {"name": "Standardizer"}

    def __repr__(self):
        return "Standardizer()"


class PCA(_Step):
    """Principal components (via the SVD of the covariance matrix).

    Parameters
    ----------
    n_components : int >= 1 or float in (0, 1]
        How many components to keep; a fraction keeps the fewest components that explain at
        least that fraction of the variance (0.9: 90%).
    whiten : bool, default False
        Divide each component by the square root of its variance, so the inputs are
        uncorrelated with unit variance and the error surface of a linear unit turns circular.

    Attributes after fit: mean_ (d,), components_ (k, d) rows of unit length,
    explained_variance_ (k,), explained_variance_ratio_ (k,).
    """

    _arrays = ("mean_", "components_", "explained_variance_", "explained_variance_ratio_")

    def __init__(self, n_components, whiten=False):
        if isinstance(n_components, bool) or not isinstance(n_components, numbers.Real):
            raise TypeError(f"n_components must be an int >= 1 or a fraction in (0, 1], got {n_components!r}")
        if isinstance(n_components, numbers.Integral):
            n_components = _checks.number("n_components", int(n_components), low=1, integer=True)
        else:
            n_components = _checks.number("n_components", n_components, low=0.0, high=1.0, low_open=True)
        if not isinstance(whiten, (bool, np.bool_)):
            raise TypeError(f"whiten must be True or False, got {whiten!r}")
        self.n_components, self.whiten = n_components, bool(whiten)
        self.mean_ = self.components_ = self.explained_variance_ = self.explained_variance_ratio_ = None

    def fit(self, X):
        X = _checks.features(X, "X", np.float32 if np.asarray(X).dtype == np.float32 else np.float64)
        n, d = X.shape
        if isinstance(self.n_components, int) and self.n_components > min(n, d):
            raise ValueError(f"n_components={self.n_components} is more than the {d} inputs (or {n} examples) allow; "
                             f"use at most {min(n, d)}, or a fraction of the variance such as 0.9")
        if n < 2:
            raise ValueError("PCA needs at least 2 examples to estimate a covariance")
        mean = X.mean(axis=0, dtype=np.float64)
        with threadpool_limits(1):  # a 784 x 784 SVD: BLAS threads on a busy 2-core machine cost 30x
            _, s2, Vt = np.linalg.svd(_covariance(X, mean), hermitian=True)
        s2 = np.where(s2 > s2[0] * s2.size * np.finfo(np.float64).eps, s2, 0.0)  # rounding, not variance
        ratio = s2 / s2.sum() if s2.sum() > 0 else np.full_like(s2, 1.0 / s2.size)
        k = self.n_components if isinstance(self.n_components, int) else _components_for(ratio, self.n_components)
        self.mean_, self.components_ = mean, _sign_fixed(Vt[:k])
        self.explained_variance_, self.explained_variance_ratio_ = s2[:k], ratio[:k]
        self.n_features_in_ = d
        return self

    def _scale(self):
        # Whitening divides by sqrt(variance); a component of variance 0 (below rounding at fit)
        # is left unscaled: dividing by ~1e-8 would turn a test value into ~1e8.
        var = self.explained_variance_
        return np.where(var > 0, np.sqrt(np.where(var > 0, var, 1.0)), 1.0) if self.whiten else np.ones_like(var)

    def transform(self, X):
        X = self._check(X)
        return (((X - self.mean_) @ self.components_.T) / self._scale()).astype(X.dtype)

    def inverse_transform(self, Z):
        """Back to input space: the reconstruction from the kept components."""
        if not self.fitted:
            raise NotFittedError("PCA is not fitted yet: call fit(X) first")
        Z = _checks.features(Z, "Z", np.float64, self.components_.shape[0])
        return (Z * self._scale()) @ self.components_ + self.mean_

    def output_dim(self):
        return self.components_.shape[0]

    def consistent(self):
        """Whether the fitted arrays could come from fit (model files are untrusted)."""
        k = self.components_.shape[0] if self.components_.ndim == 2 else -1
        var, ratio = self.explained_variance_, self.explained_variance_ratio_
        return (self.mean_.ndim == 1 and self.components_.shape == (k, self.mean_.size) and k >= 1
                and var.shape == (k,) and ratio.shape == (k,) and bool(np.all((var == 0) | (var >= MIN_SCALE**2)))
                and bool(np.all((ratio >= 0) & (ratio <= 1)))
                and np.allclose(np.linalg.norm(self.components_, axis=1), 1.0, atol=1e-6)
                and (not isinstance(self.n_components, int) or self.n_components == k))

    def get_config(self):
        return {"name": "PCA", "n_components": self.n_components, "whiten": self.whiten}

    def __repr__(self):
        return f"PCA({self.n_components!r}, whiten={self.whiten!r})"


def _covariance(X, mean):
    """(X - mean).T (X - mean) / (n - 1) in float64, a block of rows at a time."""
    n, d = X.shape
    C = np.zeros((d, d))
    for r0 in range(0, n, GRAM_ROWS):
        Xc = X[r0 : r0 + GRAM_ROWS] - mean
        C += Xc.T @ Xc
    return C / (n - 1)


def _components_for(ratio, fraction):
    """The fewest leading components whose variance ratios sum to at least ``fraction``."""
    k = int(np.searchsorted(np.cumsum(ratio), fraction * (1 - 1e-12)) + 1)  # 1e-12: fraction 1.0 despite rounding
    return min(k, ratio.size)


def _sign_fixed(V):
    """Each component with its largest-magnitude entry positive: the same signs on every run."""
    signs = np.sign(V[np.arange(V.shape[0]), np.argmax(np.abs(V), axis=1)])
    return V * np.where(signs == 0, 1.0, signs)[:, None]


STEPS = {"Standardizer": Standardizer, "PCA": PCA}


def check_pipeline(preprocess):
    """The list of steps (an empty list for None)."""
    if preprocess is None:
        return []
    if not isinstance(preprocess, (list, tuple)):
        preprocess = [preprocess]
    for i, step in enumerate(preprocess):
        if not isinstance(step, (Standardizer, PCA)):
            raise TypeError(f"preprocess[{i}] must be fastnn.preprocessing.Standardizer() or PCA(...), got {step!r}")
    return copy.deepcopy(list(preprocess))  # the network's own: refitting the user's steps changes nothing


def from_config(config, arrays):
    """A fitted step from get_config() and get_arrays() (model files)."""
    config = dict(config)
    cls = STEPS[config.pop("name")]
    return cls(**config).set_arrays(arrays)


def fitted(steps, X):
    """The steps fitted on X in turn, each on the previous one's output: copies of the steps
    not fitted yet (a failing step leaves the originals as they were), the fitted ones as they are."""
    out = []
    for step in steps:
        if not step.fitted:
            step = copy.deepcopy(step).fit(X)
        X = step.transform(X)
        out.append(step)
    return out


def apply(steps, X):
    """X through the fitted steps, C-contiguous in X's dtype."""
    for step in steps:
        X = step.transform(X)
    return np.ascontiguousarray(X)
