"""The training behind both estimators: scikit-learn's MLP semantics on a fastnn.Network."""
import warnings
from numbers import Real

import numpy as np
import scipy.optimize
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SkMLP
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import _checks, activations, initializers, optimizers, sampling, schedules
from ..kernels.layout import B_OFF, FAN_IN, FAN_OUT, W_OFF
from ..layers import Dense
from ..network import Network
from . import _rates

SKLEARN_ACTIVATIONS = {"identity": "linear", "logistic": "logistic", "tanh": "tanh", "relu": "relu"}
HIDDEN_ACTIVATIONS = set(SKLEARN_ACTIVATIONS) | {name for name, cls in activations.ACTIVATIONS.items() if cls.hidden}


class BaseMLP(BaseEstimator):
    """scikit-learn's MLP parameters and training loop over a fastnn.Network (``network_``).

    Subclasses define how y becomes the network's targets (``_targets``) and what the output
    layer is (``_output``).
    """

    _parameter_constraints = {
        **_SkMLP._parameter_constraints,  # scikit-learn's own checks, so its errors are exactly its own
        "activation": [StrOptions(HIDDEN_ACTIVATIONS), activations.Activation],
        "solver": [StrOptions(set(_rates.SOLVERS)), optimizers.Optimizer],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither"), schedules.Schedule, schedules.Rule],
        "init": [None, StrOptions(set(initializers.INITIALIZERS))],
        "batch_norm": ["boolean"],
        "order": [None, StrOptions(set(sampling.ORDERS)), sampling.Emphasis],
        "preprocess": [None, list],
        "layer_scaling": [None, StrOptions({"fan_in"})],
        "dtype": [None, StrOptions({"float32", "float64"})],
        "device": [StrOptions({"cpu", "cuda"})],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, init="glorot_uniform", batch_norm=False, order=None,
                 preprocess=None, layer_scaling=None, dtype=None, device="cpu"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.init = init
        self.batch_norm = batch_norm
        self.order = order
        self.preprocess = preprocess
        self.layer_scaling = layer_scaling
        self.dtype = dtype
        self.device = device

    # ----------------------------------------------------------------- fitted parameters
    @property
    def coefs_(self):
        """Per layer the weight matrix W (fan_in, fan_out): views of ``network_``'s parameters."""
        return [self._layer_view(l, "W") for l in range(self.n_layers_ - 1)]

    @property
    def intercepts_(self):
        """Per layer the biases (fan_out,) (beta for batch-norm layers): views, as coefs_."""
        return [self._layer_view(l, "b") for l in range(self.n_layers_ - 1)]

    def _layer_view(self, l, name):
        check_is_fitted(self, "network_")
        net = self.network_
        fan_in, fan_out = net._layout[l, FAN_IN], net._layout[l, FAN_OUT]
        if name == "W":
            start = net._layout[l, W_OFF]
            return net._theta[start : start + fan_in * fan_out].reshape(fan_in, fan_out)
        start = net._layout[l, B_OFF]
        return net._theta[start : start + fan_out]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # accepted as scikit-learn's MLP does; densified for the kernels
        return tags

    # ----------------------------------------------------------------- fitting
    def fit(self, X, y, sample_weight=None):
        """Fit the model to X (n_samples, n_features) and y; returns self.

        sample_weight (n_samples,), optional, weighs each example's loss and gradient in the
        compiled loops (and scales the L2 penalty as scikit-learn does: alpha / sum of weights)."""
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental):
        state = dict(self.__dict__)
        net = getattr(self, "network_", None)
        kept = None if net is None else (net._snapshot(), net._optimizer)
        try:
            return self._fit_checked(X, y, sample_weight, incremental)
        except Exception as error:  # a refused call leaves the estimator as it was (a fitted network_ included)
            if isinstance(error, Warning):  # a warning turned into an error: the fit itself happened
                raise
            self.__dict__.clear()
            self.__dict__.update(state)
            if kept is not None:
                net._restore(kept[0])
                net._optimizer = kept[1]
            raise

    def _fit_checked(self, X, y, sample_weight, incremental):
        hidden = self._hidden_sizes()
        first = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first)
        X = X.toarray() if sparse.issparse(X) else X
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        self._random_state = check_random_state(self.random_state)
        if first:
            self._initialize(X, Y, hidden)
        elif [layer.units for layer in self.network_.layers[:-1]] != hidden:
            raise ValueError(f"hidden_layer_sizes={self.hidden_layer_sizes!r} differs from the fitted network's "
                             f"{tuple(layer.units for layer in self.network_.layers[:-1])}; a warm start or partial_fit "
                             "continues the same network: use warm_start=False to start afresh")
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, y, sample_weight)
        else:
            self._fit_stochastic(X, y, sample_weight, incremental)
        return self

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if np.any(np.array(sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(h) for h in sizes]

    def _initialize(self, X, Y, hidden):
        """A fresh network and the attributes scikit-learn's MLP sets at its first fit."""
        self.n_iter_, self.t_ = 0, 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(hidden) + 2
        self.out_activation_, loss = self._output(Y)
        act = self.activation
        act = SKLEARN_ACTIVATIONS.get(act, act) if isinstance(act, str) else act
        out = "linear" if self.out_activation_ == "identity" else self.out_activation_
        layers = [Dense(h, act, init=self.init, batch_norm=self.batch_norm) for h in hidden]
        layers.append(Dense(self.n_outputs_, out, init=self.init))
        dtype = self.dtype or X.dtype.name
        seed = int(self._random_state.randint(np.iinfo(np.int32).max))
        self.network_ = Network(layers, loss=loss, dtype=dtype, seed=seed, preprocess=self.preprocess,
                                device=self.device)
        self.network_._targets = self._targets(Y)  # classes as fit saw them: partial_fit may not show all
        if self.solver != "lbfgs":
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
            else:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = None, None, np.inf

    def _l2_term(self, decay, mask):
        """The L2 term scikit-learn adds to the loss it reports: decay / 2 * |W|^2, where decay =
        alpha / (weight of a batch) is what it adds, times W, to the gradient."""
        W = self.network_._theta[mask].astype(np.float64)
        return 0.5 * decay * float(W @ W)

    def _fit_stochastic(self, X, y, sample_weight, incremental):
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        validation = None
        if self.early_stopping:
            X, X_val, y, y_val, sample_weight, sw_val = self._split(X, y, sample_weight)
            validation = (X_val, y_val, sw_val)
        n, net = X.shape[0], self.network_
        bs = _rates.batch_size(self, n)
        decay = self.alpha / (bs * (1.0 if sample_weight is None else float(np.mean(sample_weight))))
        rates = _rates.learning_rate(self, n, self.t_)
        opt = _rates.optimizer(self)
        if net._theta is None:  # the weights now (as fit would make them): the first epoch's L2 term needs them
            self._prepared(X, y, sample_weight)
        elif not incremental:  # scikit-learn's fit starts its optimizer afresh
            net._optimizer, net._opt_steps = opt, 0
            net._opt_state = opt.init_state(net._theta.size, schedules.get(rates).table(0, 0, 1)[0][0], net._theta.dtype)
        self.n_iter_ = 0
        epoch_end = _EpochEnd(self, rates, decay, n, validation)
        try:
            net.fit(X, self._network_y(y), mode="online" if bs == 1 else "minibatch", epochs=1 if incremental else self.max_iter,
                    lr=rates, batch_size=None if bs == 1 else bs, optimizer=opt, weight_decay=decay,
                    layer_scaling=self.layer_scaling, shuffle=self.shuffle, order=self.order, callback=epoch_end,
                    sample_weight=sample_weight)
        except KeyboardInterrupt:  # as scikit-learn: keep what was learnt
            warnings.warn("Training interrupted by user.")
        if net.diverged_ and self.n_iter_ == 0:  # as scikit-learn: no model rather than untrained weights
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large values "
                             "and need to be preprocessed (or lower learning_rate_init).")
        if self.early_stopping and self._best is not None:
            net._restore(self._best)
            del self._best  # not pickled with the estimator
        if not incremental and not epoch_end.stopped and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                          "hasn't converged yet.", ConvergenceWarning)

    def _split(self, X, y, sample_weight):
        """scikit-learn's early-stopping split (stratified for classifiers with one output unit)."""
        stratify = y if self._stratify() else None
        arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
        parts = train_test_split(*arrays, random_state=self._random_state, test_size=self.validation_fraction,
                                 stratify=stratify)
        if parts[1].shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of your dataset.")
        if sample_weight is None:
            parts = parts + [None, None]
        parts[3] = self._decode(parts[3])  # scored as predictions are: labels, for a classifier
        self._best = None
        return parts

    def _update_no_improvement_count(self, validation):
        """scikit-learn's rule: an epoch improves when the loss falls (or the validation score
        rises) by more than tol; early stopping keeps the weights of the best score."""
        if self.early_stopping:
            score = self._score(*validation)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            improved = score >= self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best = self.network_._snapshot()
        else:
            improved = self.loss_curve_[-1] <= self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])
        self._no_improvement_count = 0 if improved else self._no_improvement_count + 1

    def _prepared(self, X, y, sample_weight):
        """(X, T) as network_'s kernels take them, its preprocessing fitted and its weights made."""
        net = self.network_
        Xc, T, targets, pipeline = net._prepare(_checks.features(X, "X", net.dtype), self._network_y(y), sample_weight)
        net._commit(X.shape[1], Xc, targets, pipeline)
        return Xc, T

    def _fit_lbfgs(self, X, y, sample_weight):
        """scipy's L-BFGS-B on fastnn's compiled full-batch loss and gradient, plus the L2 term
        alpha / (2 sum of weights) |W|^2 that scikit-learn adds."""
        net = self.network_
        Xc, T = self._prepared(X, y, sample_weight)
        plan = net._plan(Xc, Xc.shape[0], train=True)
        grad = np.empty_like(net._theta)
        mask = net._weight_mask()
        decay = self.alpha / (X.shape[0] if sample_weight is None else float(np.sum(sample_weight)))

        def loss_and_grad(theta):
            net._theta[:] = theta
            loss = net._loss_and_grad(Xc, T, grad, plan)
            g = grad.astype(np.float64)
            g[mask] += decay * theta[mask]
            return loss + 0.5 * decay * float(theta[mask] @ theta[mask]), g

        result = scipy.optimize.minimize(loss_and_grad, net._theta.astype(np.float64), method="L-BFGS-B", jac=True,
                                         options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        self.loss_ = float(result.fun)
        net._theta[:] = result.x
        if net._batch_norm:
            net._set_bn_statistics(Xc)
        if self.verbose:
            print(f"L-BFGS: {self.n_iter_} iterations, loss = {self.loss_:.8f}")

    # ----------------------------------------------------------------- prediction
    def _forward(self, X):
        """The output layer's values for X, checked as scikit-learn checks it."""
        check_is_fitted(self, "network_")
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32), reset=False)
        X = X.toarray() if sparse.issparse(X) else X
        return self.network_.forward(X)


class _EpochEnd:
    """What scikit-learn's MLP does after each epoch, as the callback of Network.fit: record the
    loss (with its L2 term), count epochs without improvement, then stop or (learning_rate
    "adaptive") divide the rate by 5. Returns True to stop."""

    def __init__(self, est, rates, decay, n, validation):
        self.est, self.rates, self.decay, self.n, self.validation = est, rates, decay, n, validation
        self.mask = est.network_._weight_mask()
        self.l2 = est._l2_term(decay, self.mask)  # of the weights the next epoch starts from
        self.stopped = False

    def __call__(self, net, epoch):
        est = self.est
        est.n_iter_ += 1
        est.t_ += self.n
        # The epoch's loss is measured before each update; its L2 term, as scikit-learn's in full
        # batches, with the weights the epoch started from.
        est.loss_ = net.history_["loss"][-1] + self.l2
        self.l2 = est._l2_term(self.decay, self.mask)
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print("Iteration %d, loss = %.8f" % (est.n_iter_, est.loss_))
        est._update_no_improvement_count(self.validation)
        if est._no_improvement_count <= est.n_iter_no_change:
            return False
        what = "Validation score" if est.early_stopping else "Training loss"
        msg = f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} consecutive epochs."
        if _rates.lower_rate(self.rates, msg, est.verbose):
            self.stopped = True
            return True
        est._no_improvement_count = 0
        return False
