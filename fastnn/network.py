"""Network: a stack of Dense layers over one flat parameter vector, trained by compiled epochs."""
import contextlib
import sys
import time
import warnings

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from . import _checks, _io, losses
from ._targets import Targets
from .kernels import train as _train
from .kernels.layout import ALPHA_OFF, B_OFF, FAN_IN, FAN_OUT, W_OFF
from .layers import build_layout, check_layers, init_params

MODES = ("online", "minibatch", "batch")
CHUNK = 512  # examples per forward/backward chunk: bounds scratch memory in full-batch mode
BLAS_MIN_ROWS = 16  # below this many rows per chunk the row loops beat a BLAS call
SPARSE_INPUT_DENSITY = 0.5  # inputs with fewer non-zeros than this use the zero-skipping loops
PARALLEL_MIN_ROWS = 32  # chunks this large are split over numba.get_num_threads() threads


def _threads():
    """Threads a chunk may be split over: Numba's setting (numba.set_num_threads)."""
    return numba.get_num_threads()


def _single_threaded_blas(n_parts):
    """While fastnn's own threads each call BLAS on their rows, BLAS must not start threads of
    its own: two pools spinning on two cores slow training down tenfold."""
    return threadpool_limits(1, user_api="blas") if n_parts > 1 else contextlib.nullcontext()


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the loss became NaN or inf; the weights were restored."""


class Network:
    """A fully connected network trained by compiled online, mini-batch or full-batch SGD.

    Parameters
    ----------
    layers : list of fastnn.Dense
        Hidden layers, then the output layer.
    loss : {"cross_entropy", "mse"}, default "cross_entropy"
        See :mod:`fastnn.losses` for the outputs and target encodings each loss accepts.
    dtype : {"float32", "float64"}, default "float32"
        Precision of the parameters and of all arithmetic in the training loops.
    seed : int or None
        Seeds the weights, the example order of every epoch and RReLU draws.
    input_dim : int, optional
        Number of inputs; by default taken from X at the first ``fit``.

    Notes
    -----
    Chunks of 32 or more examples (mini-batches, full batches, prediction) are split over
    Numba's threads (``numba.set_num_threads`` or ``NUMBA_NUM_THREADS``, all cores by default);
    the results are the same for any number of threads up to rounding. Online learning runs on
    one thread.
    """

    def __init__(self, layers, loss="cross_entropy", dtype="float32", seed=None, input_dim=None):
        self.layers = check_layers(layers)
        self.loss = loss
        self._loss_code = losses.check(loss, self.layers[-1].activation.name)
        self.dtype = np.dtype(_checks.dtype(dtype)).name
        self.seed = None if seed is None else _checks.number("seed", seed, low=0, high=2**63 - 1, integer=True)
        self._rng = np.random.default_rng(seed)
        self.input_dim = None
        self._theta = self._velocity = None
        self._targets = None
        self.history_ = {}
        self.diverged_ = False
        if input_dim is not None:
            self._build(_checks.number("input_dim", input_dim, low=1, integer=True))

    # ----------------------------------------------------------------- structure
    def _build(self, input_dim):
        self._layout, self._act_params, n_params = build_layout(input_dim, self.layers)
        self._theta = init_params(self.layers, self._layout, n_params, self._rng, self.dtype)
        self._velocity = np.zeros_like(self._theta)
        self.input_dim = input_dim

    @property
    def n_params(self):
        """Number of trainable parameters (weights, biases, PReLU slopes)."""
        self._require_built()
        return self._theta.size

    @property
    def classes_(self):
        """The class labels seen at the first fit (sorted), or None for regression."""
        return None if self._targets is None else self._targets.classes

    def _require_built(self):
        if self._theta is None:
            raise RuntimeError("the network has no weights yet: call fit(X, y) first or pass input_dim= to Network")

    def _n_outputs(self):
        return self.layers[-1].units

    # ----------------------------------------------------------------- training
    def fit(self, X, y, mode="minibatch", epochs=1, lr=0.01, batch_size=None, momentum=0.0, nesterov=False,
            weight_decay=0.0, validation_data=None, shuffle=True, verbose=False):
        """Train on (X, y), continuing from the current weights.

        Parameters
        ----------
        X : array (n, n_features)
            Inputs; converted to the network's dtype.
        y : array (n,) or (n, k)
            Class labels (integers or strings) or regression targets (floats).
        mode : {"online", "minibatch", "batch"}, default "minibatch"
            Update after every example, every ``batch_size`` examples, or once per pass.
        epochs : int, default 1
        lr : float, default 0.01
            Learning rate: each update moves the weights by -lr times the mean gradient.
        batch_size : int, optional
            Examples per update in "minibatch" mode (1 <= batch_size <= n); default min(32, n).
        momentum : float in [0, 1), default 0
        nesterov : bool, default False
            Nesterov's accelerated gradient (needs momentum > 0 to differ).
        weight_decay : float >= 0, default 0
            L2 penalty on the weights W (not biases): adds weight_decay * W to their gradient.
        validation_data : (X_val, y_val), optional
            Evaluated after every epoch into history_["val_loss"] (and "val_accuracy").
        shuffle : bool, default True
            Draw a new order of the examples every epoch from the network's seed.
        verbose : bool, default False
            One line per epoch on stderr.

        Returns
        -------
        self. ``history_`` holds per-epoch lists for this call: "loss" (mean training loss
        over the epoch, while training), "lr", "time" (seconds) and the validation entries.
        """
        opts = self._check_fit_options(mode, epochs, lr, batch_size, momentum, nesterov, weight_decay, shuffle)
        X = _checks.features(X, "X", self.dtype, self.input_dim)
        y = np.asarray(y)
        _checks.same_length(X, y)
        targets = self._targets or Targets.infer(y, self.loss, self.layers[-1].activation.name, self._n_outputs())
        T = targets.encode(y, self._n_outputs(), self.dtype)
        val = self._check_validation(validation_data, targets, X.shape[1])
        if opts["batch_size"] is None:
            opts["batch_size"] = min(32, X.shape[0])
        if opts["mode"] == "minibatch" and opts["batch_size"] > X.shape[0]:
            raise ValueError(f"batch_size={batch_size} is larger than the {X.shape[0]} examples; use batch_size <= {X.shape[0]} or mode='batch'")
        # Everything is checked: from here on the call changes the network.
        if self._theta is None:
            self._build(X.shape[1])
        self._targets = targets
        self._run_epochs(X, T, val, opts, verbose)
        return self

    def _check_fit_options(self, mode, epochs, lr, batch_size, momentum, nesterov, weight_decay, shuffle):
        _checks.choice("mode", mode, MODES)
        opts = {
            "mode": mode,
            "epochs": _checks.number("epochs", epochs, low=1, integer=True),
            "lr": _checks.number("lr", lr, low=0.0, low_open=True, high=float(np.finfo(self.dtype).max)),
            "batch_size": None if batch_size is None else _checks.number("batch_size", batch_size, low=1, integer=True),
            "momentum": _checks.number("momentum", momentum, low=0.0, high=1.0, high_open=True),
            "weight_decay": _checks.number("weight_decay", weight_decay, low=0.0),
        }
        for name, flag in (("nesterov", nesterov), ("shuffle", shuffle)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        opts["nesterov"], opts["shuffle"] = bool(nesterov), bool(shuffle)
        return opts

    def _check_validation(self, validation_data, targets, n_features):
        if validation_data is None:
            return None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        Xv = _checks.features(validation_data[0], "validation_data[0]", self.dtype, n_features)
        _checks.same_length(Xv, validation_data[1], "validation_data[0]", "validation_data[1]")
        Tv = targets.encode(validation_data[1], self._n_outputs(), self.dtype, name="validation_data[1]")
        return Xv, Tv

    def _plan(self, X, batch_size):
        """(chunk size, per-layer BLAS flags, thread parts) for batches of ``batch_size`` rows of X."""
        chunk = min(batch_size, CHUNK, X.shape[0])
        dense_input = np.count_nonzero(X) >= SPARSE_INPUT_DENSITY * X.size
        use_blas = np.zeros(len(self.layers), dtype=np.int64)
        if chunk >= BLAS_MIN_ROWS:
            use_blas[:] = 1
            use_blas[0] = int(dense_input)
        n_parts = 1
        if chunk >= PARALLEL_MIN_ROWS:
            n_parts = max(1, min(_threads(), chunk // (PARALLEL_MIN_ROWS // 2)))
        return chunk, use_blas, n_parts

    def _run_epochs(self, X, T, val, opts, verbose):
        n = X.shape[0]
        B = {"online": 1, "batch": n, "minibatch": opts["batch_size"]}[opts["mode"]]
        plan = self._plan(X, B)
        # Plain SGD on a batch that fits one chunk is applied during backpropagation.
        fused = opts["momentum"] == 0.0 and opts["weight_decay"] == 0.0 and B <= plan[0]
        grad = np.empty(0 if fused else self._theta.size, dtype=self._theta.dtype)
        val_plan = None if val is None else self._plan(val[0], CHUNK)  # once per fit, not per epoch
        history = {"loss": [], "lr": [], "time": []}
        if val is not None:
            history["val_loss"] = []
            if self._targets.classification:
                history["val_accuracy"] = []
        self.history_, self.diverged_ = history, False
        with _single_threaded_blas(max(plan[2], val_plan[2] if val_plan else 1)):
            for epoch in range(opts["epochs"]):
                total, elapsed = self._epoch(X, T, B, plan, grad, fused, opts)
                if not np.isfinite(total):
                    self.diverged_ = True
                    warnings.warn(
                        f"training diverged in epoch {epoch + 1} (the loss or the weights became {total}); the weights were restored "
                        f"to the end of the last finite epoch. Lower the learning rate (lr={opts['lr']}).",
                        DivergenceWarning, stacklevel=3)
                    break
                history["loss"].append(total / n)
                history["lr"].append(opts["lr"])
                history["time"].append(elapsed)
                if val is not None:
                    self._record_validation(history, *val, val_plan)
                if verbose:
                    line = " ".join(f"{k}={v[-1]:.5g}" for k, v in history.items())
                    print(f"epoch {epoch + 1}/{opts['epochs']} {line}", file=sys.stderr)

    def _epoch(self, X, T, B, plan, grad, fused, opts):
        """One compiled epoch; returns (summed loss, seconds). A non-finite loss restores the weights."""
        n = X.shape[0]
        chunk, use_blas, n_parts = plan
        order = self._rng.permutation(n) if opts["shuffle"] else np.arange(n)
        lr_table = np.full(-(-n // B), opts["lr"])
        key = np.uint64(self._rng.integers(0, 2**63))
        saved = self._theta.copy(), self._velocity.copy()
        t0 = time.perf_counter()
        total, _ = _train.train_epoch(
            self._theta, grad, self._velocity, self._layout, self._act_params, use_blas, X, T, order, B, chunk,
            n_parts, lr_table, opts["momentum"], opts["nesterov"], opts["weight_decay"], self._loss_code, fused, key)
        elapsed = time.perf_counter() - t0
        # The loss is measured before each update, so the last updates of an epoch can break
        # the weights with the loss still finite: check the weights themselves too.
        if not (np.isfinite(total) and np.isfinite(self._theta).all() and np.isfinite(self._velocity).all()):
            self._theta[:], self._velocity[:] = saved
            total = np.inf if np.isfinite(total) else total
        return total, elapsed

    def _record_validation(self, history, Xv, Tv, plan):
        loss, outputs = self._forward(Xv, Tv, plan)
        history["val_loss"].append(loss)
        if "val_accuracy" in history:
            values = self._targets.values
            hits = losses.decode_classes(outputs, values) == losses.decode_classes(Tv, values)
            history["val_accuracy"].append(float(np.mean(hits)))

    # ----------------------------------------------------------------- inference
    def _forward(self, X, T=None, plan=None):
        """(mean loss or None, outputs) of the network on checked X."""
        chunk, use_blas, n_parts = plan or self._plan(X, CHUNK)
        out = np.empty((X.shape[0], self._n_outputs()), dtype=self._theta.dtype)
        T_arg = T if T is not None else np.empty((0, self._n_outputs()), dtype=self._theta.dtype)
        with _single_threaded_blas(n_parts):
            total = _train.forward(self._theta, self._layout, self._act_params, use_blas, X, T_arg, self._loss_code,
                                   chunk, n_parts, out)
        return (None if T is None else total / X.shape[0]), out

    def _checked_X(self, X):
        self._require_built()
        return _checks.features(X, "X", self.dtype, self.input_dim)

    def forward(self, X):
        """Outputs of the last layer, shape (n, units), in the network's dtype."""
        return self._forward(self._checked_X(X))[1]

    def predict(self, X):
        """Class labels (classification) or predicted targets (regression)."""
        X = self._checked_X(X)
        if self._targets is None:
            raise RuntimeError("predict needs a fitted network: call fit(X, y) first")
        return self._targets.decode(self._forward(X)[1])

    def predict_proba(self, X):
        """Class probabilities (n, n_classes); needs loss='cross_entropy'.

        Softmax outputs sum to one over the classes. One logistic unit gives (1 - p, p). One
        logistic unit per class gives independent one-vs-rest probabilities, which need not
        sum to one.
        """
        X = self._checked_X(X)
        if self._targets is None or not self._targets.classification or self.loss != "cross_entropy":
            raise ValueError("predict_proba needs a classifier trained with loss='cross_entropy'; use forward(X) for raw outputs")
        P = self._forward(X)[1]
        return np.hstack([1.0 - P, P]) if P.shape[1] == 1 else P

    def evaluate(self, X, y):
        """{"loss": mean loss, "accuracy": fraction correct (classification only)}."""
        X = self._checked_X(X)
        if self._targets is None:
            raise RuntimeError("evaluate needs a fitted network: call fit(X, y) first")
        _checks.same_length(X, y)
        T = self._targets.encode(y, self._n_outputs(), self.dtype)
        loss, outputs = self._forward(X, T)
        result = {"loss": float(loss)}
        if self._targets.classification:
            result["accuracy"] = float(np.mean(self._targets.decode(outputs) == np.asarray(y)))
        return result

    def loss_and_gradients(self, X, y):
        """(mean loss, gradients) on (X, y); gradients shaped as get_weights(). No update.

        RReLU layers use their mean slope here (inference behaviour), so the result is deterministic.
        """
        X = self._checked_X(X)
        _checks.same_length(X, y)
        targets = self._targets or Targets.infer(y, self.loss, self.layers[-1].activation.name, self._n_outputs())
        T = targets.encode(y, self._n_outputs(), self.dtype)
        chunk, use_blas, n_parts = self._plan(X, CHUNK)
        grad = np.empty_like(self._theta)
        with _single_threaded_blas(n_parts):
            loss = _train.loss_and_grad(self._theta, grad, self._layout, self._act_params, use_blas, X, T,
                                        self._loss_code, False, np.uint64(0), chunk, n_parts)
        return float(loss), self._unflatten(grad)

    # ----------------------------------------------------------------- weights
    def _unflatten(self, flat):
        result = []
        for l in range(len(self.layers)):
            fan_in, fan_out = self._layout[l, FAN_IN], self._layout[l, FAN_OUT]
            w0, b0, a0 = self._layout[l, W_OFF], self._layout[l, B_OFF], self._layout[l, ALPHA_OFF]
            d = {"W": flat[w0 : w0 + fan_in * fan_out].reshape(fan_in, fan_out).copy(), "b": flat[b0 : b0 + fan_out].copy()}
            if a0 >= 0:
                d["alpha"] = flat[a0 : a0 + fan_out].copy()
            result.append(d)
        return result

    def get_weights(self):
        """One dict per layer: {"W": (fan_in, fan_out), "b": (fan_out,), "alpha": (fan_out,) for PReLU}; copies."""
        self._require_built()
        return self._unflatten(self._theta)

    def set_weights(self, weights):
        """Replace all parameters; ``weights`` has the structure of get_weights(). Checked in full first."""
        self._require_built()
        expected = self._unflatten(self._theta)
        if not isinstance(weights, (list, tuple)) or len(weights) != len(expected):
            raise ValueError(f"weights must be a list of {len(expected)} dicts (one per layer), got {type(weights).__name__}"
                             + (f" of length {len(weights)}" if hasattr(weights, "__len__") else ""))
        flat = self._theta.copy()
        for l, (got, want) in enumerate(zip(weights, expected)):
            if not isinstance(got, dict) or set(got) != set(want):
                raise ValueError(f"weights[{l}] must be a dict with keys {sorted(want)}, got {got!r:.80}")
            for name, ref in want.items():
                value = np.asarray(got[name])
                if value.shape != ref.shape or value.dtype.kind not in "biuf":
                    raise ValueError(f"weights[{l}][{name!r}] must be a numeric array of shape {ref.shape}, got {value.dtype} {value.shape}")
                with np.errstate(over="ignore"):  # values beyond the dtype's range become inf: reported below
                    _checks.finite(value.astype(self.dtype), f"weights[{l}][{name!r}]")
        for l, got in enumerate(weights):
            for name, offset_col in (("W", W_OFF), ("b", B_OFF), ("alpha", ALPHA_OFF)):
                if name in got:
                    value = np.asarray(got[name]).ravel()
                    start = self._layout[l, offset_col]
                    flat[start : start + value.size] = value
        self._theta[:] = flat

    # ----------------------------------------------------------------- files
    def save(self, path):
        """Write the network to an .npz file (no pickle; see fastnn.load)."""
        self._require_built()
        _io.save(self, path)

    def __repr__(self):
        return f"Network({self.layers!r}, loss={self.loss!r}, dtype={self.dtype!r}, seed={self.seed!r})"


def load(path):
    """Read a network written by Network.save. Never executes code from the file."""
    return _io.load(path, Network)
