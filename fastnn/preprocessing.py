"""Input normalisation kept with the model (LeCun et al. 1998, "Efficient BackProp", 4.3):
shift each input to mean zero, scale to similar variances, decorrelate where possible.

    net = fastnn.Network(layers, preprocess=[Standardizer(), PCA(0.9, whiten=True)])

The network fits its preprocessing on the training data at its first ``fit`` and applies it
in ``fit``, ``predict``, ``evaluate`` and the rest; ``save`` keeps the fitted arrays. Each
step also works on its own: ``fit``, ``transform``, ``fit_transform``. ``Scale(factor)``
learns nothing (fitted when made): a fixed rescaling, such as 0-255 pixels to [0, 1], that
belongs to the model like the fitted steps.
"""
import copy
import numbers

import numpy as np
from threadpoolctl import threadpool_limits

from . import _checks

BLOCK_BYTES = 2**20  # float64 temporaries per block of rows of the moments, whatever the size of X
GRAM_ROWS = 8192  # rows per block of the covariance: BLAS at full speed, bounded memory on 60,000 x 784
MIN_SCALE = 1e-150  # a model file with a smaller std or sqrt(variance) is crafted: x / scale overflows


class NotFittedError(ValueError):
    """A preprocessing step was used before it was fitted."""


class _Step:
    _arrays = ()  # names of the fitted arrays (saved with the model)
    n_features_in_ = None  # inputs seen at fit; None for a step that takes any number (Scale)

    @property
    def fitted(self):
        return all(getattr(self, name, None) is not None for name in self._arrays)

    def fit_transform(self, X, sample_weight=None):
        return self.fit(X, sample_weight).transform(X)

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

    def array_shapes(self, d):
        """The shapes fit gives the fitted arrays for ``d`` inputs; an entry may be a range of
        the lengths fit can choose (model files: each array is checked before it is read)."""
        return {name: (d,) for name in self._arrays}


class Scale(_Step):
    """x * factor for every input: a fixed rescaling, known before any data, that the model
    keeps like its fitted steps. ``Scale(1/255)`` maps 0-255 pixel values to [0, 1] (large
    raw inputs saturate tanh and sigmoid units; LeCun et al. 1998, 4.3).

    Nothing is learned: the step is fitted when made and takes any number of inputs (``fit``
    only records ``n_features_in_``, which then binds it to that number).

    Parameters
    ----------
    factor : float > 0
        The finite factor every input is multiplied by, in the dtype of X.
    """

    def __init__(self, factor):
        self.factor = _checks.number("factor", factor, low=0.0, low_open=True)

    def fit(self, X, sample_weight=None):
        self.n_features_in_ = _checks.features(X, "X", np.float32).shape[1]
        return self

    def transform(self, X):
        X = self._check(X)
        with np.errstate(over="ignore"):  # reported by finite() below, naming the factor
            Z = X * X.dtype.type(self.factor)
        _checks.finite(Z, f"X * {self.factor!r}")
        return Z

    def output_dim(self):
        return self.n_features_in_

    def consistent(self):
        return True  # the constructor checked the factor, and there are no arrays

    def set_arrays(self, arrays):
        return self

    def get_config(self):
        return {"name": "Scale", "factor": self.factor}

    def __repr__(self):
        return f"Scale({self.factor!r})"


class Standardizer(_Step):
    """z-scores: (x - mean) / std per input. A constant input is only centred (by its value,
    exactly), so it becomes 0 and never NaN or a huge number. With ``sample_weight`` the
    mean and std are weighted (an integer weight k counts the row k times; rows of weight 0
    are left out, also when deciding what is constant)."""

    _arrays = ("mean_", "scale_")

    def __init__(self):
        self.mean_ = self.scale_ = None

    def fit(self, X, sample_weight=None):
        X, w = _weighted(X, sample_weight)
        constant = np.ones(X.shape[1], dtype=bool)
        for B in _row_blocks(X):
            constant &= (B == X[0]).all(axis=0)  # exactly: a float64 mean of 0.1s is not exactly 0.1
        mean = _column_mean(X, w)
        # Two passes, float64 sums of squared deviations from the mean: no cancellation as in
        # E[x^2] - E[x]^2 (Chan, Golub & LeVeque 1983).
        ss = sum((np.square(Xc, out=Xc) * wc[:, None]).sum(axis=0) for Xc, wc in _centred_blocks(X, mean, w))
        self.mean_ = np.where(constant, X[0], mean)
        self.scale_ = np.where(constant, 1.0, np.sqrt(ss / w.sum()))  # divide by 1, not by ~0
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
    explained_variance_ (k,), explained_variance_ratio_ (k,). ``fit(X, sample_weight)``
    weighs the mean and covariance (an integer weight k counts the row k times).
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

    def fit(self, X, sample_weight=None):
        X, w = _weighted(X, sample_weight)
        n, d = X.shape
        if isinstance(self.n_components, int) and self.n_components > min(n, d):
            raise ValueError(f"n_components={self.n_components} is more than the {d} inputs (or {n} examples) allow; "
                             f"use at most {min(n, d)}, or a fraction of the variance such as 0.9")
        if w.sum() <= 1.0:
            raise ValueError("PCA needs at least 2 examples (a total weight above 1) to estimate a covariance")
        mean = _column_mean(X, w)
        with threadpool_limits(1):  # a 784 x 784 SVD: BLAS threads on a busy 2-core machine cost 30x
            _, s2, Vt = np.linalg.svd(_covariance(X, mean, w), hermitian=True)
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

    def array_shapes(self, d):
        k = range(1, d + 1)  # any number of components up to d; consistent() checks the rest
        return {"mean_": (d,), "components_": (k, d), "explained_variance_": (k,), "explained_variance_ratio_": (k,)}

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


def _block_rows(X):
    """Rows of X whose float64 copy fits BLOCK_BYTES."""
    return max(1, BLOCK_BYTES // (8 * X.shape[1]))


def _row_blocks(X, rows=None):
    """X in blocks of ``rows`` rows; by default _block_rows(X)."""
    rows = rows or _block_rows(X)
    for r0 in range(0, X.shape[0], rows):
        yield X[r0 : r0 + rows]


def _weighted(X, sample_weight):
    """(X checked, float64 weights): the rows of positive weight only, or all rows with weight 1."""
    X = _checks.features(X, "X", np.float32 if np.asarray(X).dtype == np.float32 else np.float64)
    if sample_weight is None:
        return X, np.ones(X.shape[0])
    w = _checks.sample_weight(sample_weight, X.shape[0], normalize=False)
    kept = w > 0
    return (X, w) if kept.all() else (X[kept], w[kept])


def _column_mean(X, w):
    """The float64 weighted mean of each column, summed a block of rows at a time."""
    total = np.zeros(X.shape[1])
    for B, wb in zip(_row_blocks(X), _row_blocks(w, _block_rows(X))):
        total += wb @ B.astype(np.float64)
    return total / w.sum()


def _centred_blocks(X, mean, w, rows=None):
    """(X - mean in float64, its weights), a block of rows at a time (each block a new array)."""
    rows = rows or _block_rows(X)
    for B, wb in zip(_row_blocks(X, rows), _row_blocks(w, rows)):
        yield B - mean, wb


def _covariance(X, mean, w):
    """sum_i w_i (x_i - mean)(x_i - mean)^T / (sum w - 1) in float64, a block of rows at a
    time (unweighted: the sample covariance, n - 1)."""
    d = X.shape[1]
    C = np.zeros((d, d))
    for Xc, wc in _centred_blocks(X, mean, w, GRAM_ROWS):
        C += Xc.T @ (Xc * wc[:, None])
    return C / (w.sum() - 1)


def _components_for(ratio, fraction):
    """The fewest leading components whose variance ratios sum to at least ``fraction``."""
    k = int(np.searchsorted(np.cumsum(ratio), fraction * (1 - 1e-12)) + 1)  # 1e-12: fraction 1.0 despite rounding
    return min(k, ratio.size)


def _sign_fixed(V):
    """Each component with its largest-magnitude entry positive: the same signs on every run."""
    signs = np.sign(V[np.arange(V.shape[0]), np.argmax(np.abs(V), axis=1)])
    return V * np.where(signs == 0, 1.0, signs)[:, None]


STEPS = {"Scale": Scale, "Standardizer": Standardizer, "PCA": PCA}


def check_pipeline(preprocess):
    """The list of steps (an empty list for None)."""
    if preprocess is None:
        return []
    if not isinstance(preprocess, (list, tuple)):
        preprocess = [preprocess]
    for i, step in enumerate(preprocess):
        if not isinstance(step, _Step):
            raise TypeError(f"preprocess[{i}] must be a fastnn.preprocessing step (Scale(...), Standardizer() or "
                            f"PCA(...)), got {step!r}")
    return copy.deepcopy(list(preprocess))  # the network's own: refitting the user's steps changes nothing


def from_config(config):
    """The step of get_config() (model files); ``set_arrays`` then gives it the fitted arrays."""
    config = dict(config)
    return STEPS[config.pop("name")](**config)


def output_dim(steps, input_dim):
    """The number of inputs the fitted ``steps`` give from ``input_dim``; ValueError when a
    step was fitted on another number. A step fitted for any number (Scale) keeps it."""
    dim = input_dim
    for i, step in enumerate(steps):
        if step.n_features_in_ is None:
            continue
        if step.n_features_in_ != dim:
            raise ValueError(f"preprocess[{i}] ({step!r}) was fitted on {step.n_features_in_} inputs but gets {dim}; "
                             f"fit it on data of {dim} columns, or leave it unfitted for Network.fit to fit")
        dim = step.output_dim()
    return dim


def fitted(steps, X, sample_weight=None):
    """The steps fitted on X in turn (weighted by ``sample_weight``), each on the previous one's
    output: copies of the steps not fitted yet (a failing step leaves the originals as they
    were), the fitted ones as they are."""
    out = []
    for step in steps:
        if not step.fitted:
            step = copy.deepcopy(step).fit(X, sample_weight)
        X = step.transform(X)
        out.append(step)
    return out


def apply(steps, X):
    """X through the fitted steps, C-contiguous in X's dtype."""
    for step in steps:
        X = step.transform(X)
    return np.ascontiguousarray(X)
