"""MLPClassifier and MLPRegressor: how each reads y and what its output layer is."""
import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d, validate_data

from .._targets import LABEL_KINDS, Targets
from . import _rates
from ._base import BaseMLP


def _stochastic(est):
    if est.solver == "lbfgs":
        raise AttributeError(f"partial_fit is only available for stochastic optimizers. {est.solver} is not stochastic.")
    return True


class _Scored:
    def _score(self, X, y, sample_weight=None):
        """The score early stopping watches (accuracy or R^2 of the predictions of X)."""
        y_pred = self._predict(X)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return self._score_function(y, y_pred, sample_weight=sample_weight)


class MLPClassifier(ClassifierMixin, _Scored, BaseMLP):
    """Multi-layer perceptron classifier trained by fastnn: scikit-learn's MLPClassifier,
    parameter for parameter, with fastnn's compiled kernels underneath.

    scikit-learn's parameters (``hidden_layer_sizes`` ... ``max_fun``) mean what they mean in
    ``sklearn.neural_network.MLPClassifier`` and have its defaults. Some accept more:

    activation : any fastnn hidden activation name ("lecun_tanh", "selu", "prelu", ...) or
        ``fastnn.activations`` object, as well as "identity", "logistic", "tanh", "relu".
    solver : also "rmsprop", "delta_bar_delta", "rprop" or a ``fastnn.optimizers`` object.
    learning_rate_init : also a ``fastnn.schedules`` schedule or rule (then ``learning_rate``
        is not read).
    batch_size : 1 is online learning (an update after every example).

    fastnn's own parameters, whose defaults keep scikit-learn's behaviour:

    init : str or None, default "glorot_uniform"
        Weight initialiser (``fastnn.initializers``); None takes each activation's own
        default (He for ReLUs, LeCun for SELU ...). Biases start at zero.
    batch_norm : bool, default False
        Batch normalisation on the hidden layers.
    order : None or str or fastnn.sampling.Emphasis
        "interleave", "balanced", "emphasis" ...; None follows ``shuffle``.
    preprocess : list of fastnn.preprocessing steps, optional
        Fitted at the first fit and kept in the model (``Standardizer()``, ``PCA(...)``).
    layer_scaling : None or "fan_in"
        LeCun's per-layer rates.
    dtype : None, "float32" or "float64"
        None follows X (float32 stays float32, anything else is float64), as scikit-learn.
    device : "cpu" or "cuda"

    The fitted network is ``network_`` (a ``fastnn.Network``: ``network_.save(path)``);
    ``coefs_`` and ``intercepts_`` are views of its parameters.
    """

    _score_function = staticmethod(accuracy_score)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the previous "
                                     f"call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        return X, self._label_binarizer.transform(y).astype(np.float64)

    def _output(self, Y):
        if self.order in ("interleave", "balanced") and self._label_binarizer.y_type_.startswith("multilabel"):
            raise ValueError(f"order={self.order!r} arranges the examples by class, but multi-label targets give an "
                             "example several classes; use order=None (shuffle) or 'emphasis'")
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax", "cross_entropy"
        return "logistic", "cross_entropy"

    def _stratify(self):
        return self.n_outputs_ == 1

    def _decode(self, Y):
        return self._label_binarizer.inverse_transform(Y)

    def _labels(self):
        """The class labels as the network stores them, or None (multi-label, or labels of a
        kind a model file cannot hold): then the network is fitted on the indicator matrix."""
        classes = self.classes_
        if self._label_binarizer.y_type_.startswith("multilabel"):
            return None
        if classes.dtype.kind == "O":
            try:
                classes = np.asarray(classes.tolist())
            except (TypeError, ValueError):
                return None
        ok = classes.dtype.kind in LABEL_KINDS and len(np.unique(classes)) == len(classes)
        return classes if ok and np.all(classes[1:] > classes[:-1]) else None

    def _targets(self, Y):
        labels = self._labels()
        self._net_labels = labels
        if labels is None:
            return Targets(n_targets=Y.shape[1], flat=False)
        return Targets(classes=labels, values=(0.0, 1.0))

    def _network_y(self, Y):
        """y for network_.fit: labels the network knows, or the indicator matrix."""
        if self._net_labels is None:
            return Y
        index = Y[:, 0] if Y.shape[1] == 1 else np.argmax(Y, axis=1)
        return self._net_labels[index.astype(np.intp)]

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); ``classes`` (all labels) is needed at the first call."""
        _stochastic(self)
        if _check_partial_fit_first_call(self, classes):
            self._validate_params()
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
        return self._fit(X, y, sample_weight, incremental=True)

    partial_fit = available_if(_stochastic)(partial_fit)

    def _predict(self, X):
        y_pred = self._forward(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def predict(self, X):
        """Class labels (n_samples,) or, multi-label, an indicator matrix (n_samples, n_classes)."""
        return self._predict(X)

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), in the order of classes_."""
        y_pred = self._forward(X)
        if self.out_activation_ == "logistic":  # a saturated logistic unit rounds to 1.0; no class is that certain
            np.minimum(y_pred, np.nextafter(y_pred.dtype.type(1), y_pred.dtype.type(0)), out=y_pred)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return np.vstack([1 - y_pred, y_pred]).T if y_pred.ndim == 1 else y_pred

    def predict_log_proba(self, X):
        """log(predict_proba(X))."""
        P = self.predict_proba(X)
        return np.log(P, out=P)


class MLPRegressor(RegressorMixin, _Scored, BaseMLP):
    """Multi-layer perceptron regressor trained by fastnn: scikit-learn's MLPRegressor,
    parameter for parameter (``loss="squared_error"``; "poisson" is not available yet), with
    fastnn's own parameters as :class:`MLPClassifier` documents them."""

    _parameter_constraints = {**BaseMLP._parameter_constraints, "loss": [StrOptions({"squared_error", "poisson"})]}
    _score_function = staticmethod(r2_score)

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, init="glorot_uniform",
                 batch_norm=False, order=None, preprocess=None, layer_scaling=None, dtype=None, device="cpu"):
        self.loss = loss
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
                         learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
                         max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
                         warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
                         early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
                         beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun, init=init,
                         batch_norm=batch_norm, order=order, preprocess=preprocess, layer_scaling=layer_scaling,
                         dtype=dtype, device=device)

    def _validate_input(self, X, y, incremental, reset):
        if self.loss == "poisson":
            raise ValueError("loss='poisson' is not available in fastnn yet (it needs an exp output unit); "
                             "use loss='squared_error', or sklearn.neural_network.MLPRegressor for Poisson targets")
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _output(self, Y):
        return "identity", "mse"

    def _stratify(self):
        return False

    def _decode(self, y):
        return y

    def _targets(self, Y):
        return Targets(n_targets=Y.shape[1], flat=False)

    def _network_y(self, y):
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y)."""
        _stochastic(self)
        if not hasattr(self, "network_"):
            self._validate_params()
        return self._fit(X, y, sample_weight, incremental=True)

    partial_fit = available_if(_stochastic)(partial_fit)

    def _predict(self, X):
        y_pred = self._forward(X)
        return y_pred.ravel() if self.n_outputs_ == 1 else y_pred

    def predict(self, X):
        """Predicted targets (n_samples,) or (n_samples, n_outputs)."""
        return self._predict(X)
