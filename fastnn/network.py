"""Network: a stack of Dense layers over one flat parameter vector, trained by compiled epochs."""
import sys
import time
import warnings

import numpy as np

from . import _checks, _compile, _io, _metrics, _options, device as _device, losses, optimizers, preprocessing, sampling
from ._targets import Targets
from .kernels import train as _train
from .kernels.updates import Rule
from .kernels.layout import B_OFF, FAN_IN, FAN_OUT, STAT_OFF
from ._divergence import Guard
from ._report import epoch_line
from ._threads import Plan, blas_limit, split
from ._stopping import EarlyStopping
from ._weights import WeightAccess
from .layers import build_layout, check_layers, fold_batch_norm, init_params, init_stats

CHUNK = 512  # examples per forward/backward chunk: bounds scratch memory in full-batch mode
BLAS_MIN_ROWS = 16  # below this many rows per chunk the row loops beat a BLAS call
SPARSE_INPUT_DENSITY = 0.5  # inputs with fewer non-zeros than this use the zero-skipping loops
CUDA_CHUNK = 4096  # examples per chunk on the GPU (more rows per kernel launch; memory is plentiful)


class DivergenceWarning(RuntimeWarning):
    """Training diverged (the loss became NaN or inf, or grew by orders of magnitude) and the
    weights were restored; or the weights grew beyond any sensible range."""


class Network(WeightAccess):
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
        Number of inputs (features of X); by default taken from X at the first ``fit``.
    preprocess : list of fastnn.preprocessing steps, optional
        E.g. ``[Standardizer(), PCA(0.9, whiten=True)]``: fitted on the training data at the
        first ``fit`` (steps already fitted are kept), applied to every X the network sees,
        saved with it.
    device : {"cpu", "cuda"}, default "cpu"
        Where ``fit`` trains: "cuda" runs the same training with numba.cuda kernels on an
        NVIDIA GPU (needs the ``fastnn[cuda]`` extra and a GPU; the error says which is
        missing). Prediction and evaluation run on the CPU; the weights are the same arrays.
    scale_targets : bool, default False
        Regression with a linear (or tanh_linear) output: learn the targets as z-scores (the
        mean and standard deviation of the first fit's y, saved with the model); predict maps
        the outputs back. Bounded outputs (logistic, tanh, ReLU) take the targets as they are. The losses of history_,
        evaluate and loss_and_gradients are then those of the z-scores; evaluate's r2, mae and
        rmse are in the targets' units. Targets of large scale (prices, counts) otherwise need
        a tiny rate, or diverge.

    Notes
    -----
    Chunks (mini-batches, full batches, prediction) whose work is large enough to pay for a
    parallel region are split over Numba's threads (``numba.set_num_threads`` or
    ``NUMBA_NUM_THREADS``, all cores by default); smaller ones and online learning run on one
    thread (see ``fastnn._threads``). The results are the same for any number of threads up
    to rounding.
    """

    def __init__(self, layers, loss="cross_entropy", dtype="float32", seed=None, input_dim=None, preprocess=None,
                 device="cpu", scale_targets=False):
        self.device = _device.check(device)
        if not isinstance(scale_targets, (bool, np.bool_)):
            raise TypeError(f"scale_targets must be True or False, got {scale_targets!r}")
        self.scale_targets = bool(scale_targets)
        self.layers = check_layers(layers)
        self.preprocess = preprocessing.check_pipeline(preprocess)
        self.loss = loss
        self._loss_code = losses.check(loss, self.layers[-1].activation.name)
        self.dtype = np.dtype(_checks.dtype(dtype)).name
        self.seed = None if seed is None else _checks.number("seed", seed, low=0, high=2**63 - 1, integer=True)
        self._rng = np.random.default_rng(seed)
        self.input_dim = None
        self._theta = self._opt_state = None
        self._optimizer, self._opt_steps = optimizers.SGD(), 0
        self._targets = None
        self.history_ = {}
        self.diverged_ = False
        self.best_epoch_ = self.stopped_epoch_ = None
        self.example_errors_ = None  # emphasis: each example's loss when last presented
        self.feature_names_ = None  # names of the input columns, when known (fastnn train on a CSV)
        if input_dim is not None:
            input_dim = _checks.number("input_dim", input_dim, low=1, integer=True)
            if not all(step.fitted for step in self.preprocess):
                raise ValueError("input_dim with preprocessing that is not fitted yet: the network's inputs are known "
                                 "only after the first fit; leave input_dim out (or fit the steps first)")
            self._build(input_dim, preprocessing.output_dim(self.preprocess, input_dim))

    # ----------------------------------------------------------------- structure
    def _build(self, input_dim, net_input_dim):
        """Weights for ``input_dim`` features that reach the first layer as ``net_input_dim``."""
        self._layout, self._act_params, n_params, n_stats = build_layout(net_input_dim, self.layers)
        self._bn_stats = init_stats(self._layout, n_stats, self.dtype)
        self._theta = init_params(self.layers, self._layout, n_params, self._rng, self.dtype)
        self._opt_state = self._optimizer.init_state(self._theta.size, 0.0, self._theta.dtype)
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

    @property
    def _batch_norm(self):
        return any(layer.batch_norm is not None for layer in self.layers)

    # ----------------------------------------------------------------- training
    def fit(self, X, y, mode="minibatch", epochs=1, lr=0.01, batch_size=None, momentum=0.0, nesterov=False,
            weight_decay=0.0, optimizer=None, layer_scaling=None, early_stopping=None, validation_data=None,
            shuffle=True, order=None, bn_statistics="moving", verbose=False, callback=None, device=None,
            sample_weight=None):
        """Train on (X, y), continuing from the current weights and optimizer state.

        Parameters
        ----------
        X : array (n, n_features)
            Inputs; converted to the network's dtype.
        y : array (n,) or (n, k)
            Class labels (integers or strings) or regression targets (floats).
        mode : {"online", "minibatch", "batch"}, default "minibatch"
            Update after every example, every ``batch_size`` examples, or once per pass.
        epochs : int, default 1
        lr : float, schedule or rule, default 0.01
            Learning rate: a number (constant), a :mod:`fastnn.schedules` schedule of the update
            count (``SearchThenConverge(0.1, 2000)``) or a rule that watches the error
            (``Performance``, ``Adaptive``). Schedules count the updates of this call from 1.
        batch_size : int, optional
            Examples per update in "minibatch" mode (1 <= batch_size <= n); default min(32, n).
        momentum : float in [0, 1), default 0
        nesterov : bool, default False
            Shorthand for ``optimizer=SGD(momentum, nesterov)``.
        weight_decay : float >= 0, default 0
            L2 penalty on the weights W (not biases): adds weight_decay * W to their gradient.
        optimizer : str or fastnn.optimizers object, optional
            The update rule: SGD (default), DeltaBarDelta, RMSprop, Adam or Rprop. Its state
            (velocity, gains, moments, steps) stays on the network: a later fit with the same
            kind of optimizer continues from it, and save / load keep it.
        layer_scaling : {None, "fan_in"}
            "fan_in": layer l learns at lr / sqrt(fan_in of l) (LeCun et al. 1998, section 4.7),
            so that all layers learn at a similar speed; with every optimizer.
        early_stopping : int, optional
            Stop after this many epochs without a new best monitored error (the validation loss,
            or the training loss without validation_data) and restore the best weights.
        validation_data : (X_val, y_val), optional
            Evaluated after every epoch into history_["val_loss"] (and "val_accuracy").
        shuffle : bool, default True
            Draw a new order of the examples every epoch from the network's seed
            (shuffle=False: the data's order).
        order : str or fastnn.sampling.Emphasis, optional
            "shuffle", "sequential", "interleave" (no two consecutive examples of one class),
            "balanced" (classes in equal numbers in every mini-batch) or "emphasis" (examples
            drawn more often the larger their last error); see :mod:`fastnn.sampling`.
        bn_statistics : {"moving", "training_set"}, default "moving"
            What batch-norm layers use at inference after this fit: the moving averages of the
            batch statistics, or the exact statistics of all of X (set_batch_norm_statistics).
            With batch norm, mini-batches need 2 or more examples, and a last batch of one
            example joins the batch before it.
        verbose : bool, default False
            One line per epoch on stderr.
        callback : callable, optional
            Called after every epoch as callback(net, epoch) (epoch counts from 1, history_
            is up to date); returning True stops training after that epoch.
        device : {"cpu", "cuda"}, optional
            Where this call trains (default: the network's ``device``). On "cuda" the data,
            weights and optimizer state go to the GPU once per call; the weights come back
            after every epoch (validation, early stopping and callbacks read them).
        sample_weight : array (n,) of numbers >= 0, optional
            Each example's weight in the loss: the loss becomes the weighted mean and each
            example's gradient is scaled by its weight over the mean weight, in the compiled
            loops of every mode (an integer weight k acts as k copies of the example, exactly
            so in full-batch mode). Validation and early stopping on the training data use the
            weighted loss too; validation_data is unweighted.

        Returns
        -------
        self. ``history_`` holds per-epoch lists for this call: "loss" (mean training loss
        over the epoch, while training), "lr" (the mean rate of the epoch's updates),
        "momentum" (when a schedule cycles it), "time" (seconds) and the validation entries.
        ``best_epoch_`` and ``stopped_epoch_`` (or None) report early stopping.
        """
        X = _checks.features(X, "X", self.dtype, self.input_dim)
        opts = _options.check(X.shape[0], self.dtype, mode, epochs, lr, batch_size, momentum, nesterov, weight_decay,
                              optimizer, layer_scaling, early_stopping, shuffle, bn_statistics, self._batch_norm, order)
        device = self.device if device is None else _device.check(device)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable as callback(net, epoch), got {callback!r}")
        raw_features = X.shape[1]
        X, T, targets, pipeline = self._prepare(X, y, sample_weight)
        sampling.check_order(opts.order, targets)
        val = self._check_validation(validation_data, targets, raw_features, pipeline)
        # Everything is checked: from here on the call changes the network.
        self._commit(raw_features, X, targets, pipeline)
        self._use_optimizer(opts.optimizer, opts.rates.table(0, 0, 1)[0][0])
        self._run_epochs(X, T, val, opts, verbose, callback, device)
        if opts.bn_statistics == "training_set" and self._batch_norm and not self.diverged_:
            self._set_bn_statistics(X)  # X is already preprocessed
        return self

    def _prepare(self, X, y, sample_weight=None):
        """What fit trains on, checked, with the network unchanged: (X as the first layer sees it,
        the targets T (with a trailing weight column when weighted, see kernels.losses), the
        Targets, the fitted preprocessing). X has passed _checks.features."""
        y = np.asarray(y)
        _checks.same_length(X, y)
        w = _checks.sample_weight(sample_weight, X.shape[0])
        targets = self._targets or self._infer_targets(y)
        T = targets.encode(y, self._n_outputs(), self.dtype)
        if w is not None:
            T = np.ascontiguousarray(np.hstack([T, w[:, None].astype(T.dtype)]))
        pipeline = preprocessing.fitted(self.preprocess, X, sample_weight)  # copies: nothing changes if a step fails
        X = preprocessing.apply(pipeline, X)
        if self._theta is not None and X.shape[1] != self._layout[0, FAN_IN]:  # the kernels index by the layout
            raise ValueError(f"the preprocessing gives {X.shape[1]} inputs but the network takes {self._layout[0, FAN_IN]}")
        return X, T, targets, pipeline

    def _infer_targets(self, y):
        return Targets.infer(y, self.loss, self.layers[-1].activation.name, self._n_outputs(), scale=self.scale_targets)

    def _commit(self, raw_features, X, targets, pipeline):
        """Adopt what _prepare checked: the preprocessing, the targets, and weights if none yet."""
        self.preprocess = pipeline
        if self._theta is None:
            self._build(raw_features, X.shape[1])
        self._targets = targets

    def _use_optimizer(self, opt, lr0):
        """Keep the state of an optimizer of the same kind; start afresh for another kind."""
        if type(opt) is not type(self._optimizer):
            self._opt_state = opt.init_state(self._theta.size, lr0, self._theta.dtype)
            self._opt_steps = 0
        self._optimizer = opt

    def _check_validation(self, validation_data, targets, n_features, pipeline):
        if validation_data is None:
            return None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        Xv = _checks.features(validation_data[0], "validation_data[0]", self.dtype, n_features)
        Xv = preprocessing.apply(pipeline, Xv)
        _checks.same_length(Xv, validation_data[1], "validation_data[0]", "validation_data[1]")
        Tv = targets.encode(validation_data[1], self._n_outputs(), self.dtype, name="validation_data[1]")
        return Xv, Tv

    def _plan(self, X, batch_size, train=False, device="cpu"):
        """The Plan of a pass over X in batches of ``batch_size`` rows: chunk size, per-layer BLAS
        flags and threads (only where the chunk's work pays for them, see fastnn._threads).

        Training with batch norm needs a whole batch in one chunk (its statistics), plus one
        row for a last single example that joins it.
        """
        if train and self._batch_norm:
            chunk = min(batch_size + 1, X.shape[0])
        else:
            chunk = min(batch_size, CUDA_CHUNK if device == "cuda" else CHUNK, X.shape[0])
        density = np.count_nonzero(X) / X.size
        use_blas = np.zeros(len(self.layers), dtype=np.int64)
        if chunk >= BLAS_MIN_ROWS:
            use_blas[:] = 1
            use_blas[0] = int(density >= SPARSE_INPUT_DENSITY)
        macs = self._layout[:, FAN_IN] * self._layout[:, FAN_OUT]
        macs_per_row = float(macs.sum()) - (1.0 - density) * macs[0] * (1 - use_blas[0])  # zero inputs are skipped
        return Plan(chunk, use_blas, *split(chunk, macs_per_row))

    def _layer_scale(self, layer_scaling):
        fan_in = self._layout[:, FAN_IN].astype(np.float64)
        return 1.0 / np.sqrt(fan_in) if layer_scaling == "fan_in" else np.ones_like(fan_in)

    def _run_epochs(self, X, T, val, opts, verbose, callback, device):
        n = X.shape[0]
        plan = self._plan(X, opts.batch_size, train=True, device=device)
        cycled = getattr(opts.rates, "cycle_momentum", None) is not None
        plain = isinstance(opts.optimizer, optimizers.SGD) and opts.optimizer.momentum == 0.0 and not cycled
        # Plain SGD on a batch that fits one chunk is applied during backpropagation.
        fused = plain and opts.weight_decay == 0.0 and opts.batch_size <= plan.chunk
        val_plan = None if val is None else self._plan(val[0], CHUNK)  # once per fit, not per epoch
        # Early stopping without validation data scores the weights it would restore (the end of
        # each epoch) on the training data: the epoch's mean loss belongs to earlier weights.
        score_plan = self._plan(X, CHUNK) if opts.early_stopping and val is None else None
        history = self._new_history(val, cycled)
        rates, stopper = opts.rates.start(), EarlyStopping(opts.early_stopping)
        opt = self._optimizer
        rule = Rule(opt.code, opt.hyperparams(), float(opts.weight_decay), self._layer_scale(opts.layer_scaling))
        trainer = self._trainer(X, T, plan, device, online=opts.batch_size == 1)
        if device == "cpu":  # before the first forward pass (the divergence guard's) compiles
            lr, mom = rates.table(0, 0, 1)
            kernel = trainer.kernel(opts.batch_size, rule, lr, self._momenta(mom, 1))
            _compile.announce((_train.forward, kernel), self.dtype)
        k = self._n_outputs()  # T[:, k], when present, holds the example weights
        classes = losses.decode_classes(T[:, :k], self._targets.values) if self._targets.classification else None
        errors = np.empty(0)
        if isinstance(opts.order, sampling.Emphasis):  # start from each example's loss under the current weights
            errors = np.empty(n)
            self._forward(X, T, errors=errors)
        self.example_errors_ = errors if errors.size else None
        t0 = 0
        with blas_limit(plan.blas):
            guard = Guard(self, X, T)
            for epoch in range(opts.epochs):
                lr, mom = rates.table(epoch, t0, opts.steps_per_epoch(n))
                guard.begin_epoch(epoch)
                total, elapsed = self._epoch(trainer, n, rule, fused, opts, lr, mom, classes, errors)
                trouble = guard.trouble(total / n)
                if trouble:  # then training stops: a GPU's copies are not used again
                    self._warn_divergence(epoch, trouble, guard, lr, stopper, history)
                    break
                self._warn_large_weights(guard, lr)
                t0 += lr.size
                self._record_epoch(history, total / n, lr, mom, elapsed, val, val_plan)
                error = history["val_loss"][-1] if val is not None else history["loss"][-1]
                rates.observe(error)
                if verbose:  # the line `fastnn train` prints
                    print(epoch_line(history, epoch + 1, opts.epochs, n), file=sys.stderr)
                if score_plan is not None:
                    error = self._forward(X, T, score_plan)[0]
                stop = callback is not None and callback(self, epoch + 1)  # called every epoch, the last one too
                if callback is not None:
                    trainer.upload(self._theta, self._opt_state, self._bn_stats)  # the callback may change them
                if stopper.stop(error, epoch, self) or stop:
                    break
        stopper.restore_best(self)
        if plain:  # plain SGD keeps no velocity, whichever path ran (a later momentum fit starts at rest)
            self._opt_state[0] = 0.0

    def _new_history(self, val, cycled):
        self.diverged_, self.stopped_epoch_ = False, None
        history = {"loss": [], "lr": [], "time": []}
        if cycled:
            history["momentum"] = []
        if val is not None:
            history["val_loss"] = []
            if self._targets.classification:
                history["val_accuracy"] = []
        self.history_ = history
        return history

    def _record_epoch(self, history, loss, lr, mom, elapsed, val, val_plan):
        history["loss"].append(loss)
        history["lr"].append(float(np.mean(lr)))
        if "momentum" in history:
            history["momentum"].append(float(np.mean(mom)))
        history["time"].append(elapsed)
        if val is not None:
            self._record_validation(history, *val, val_plan)

    def _warn_divergence(self, epoch, trouble, guard, lr, stopper, history):
        """Restore sane weights, cut history_ to the epochs they ended, and say what to do."""
        self.diverged_ = True
        kept = guard.restore()
        for values in history.values():
            del values[kept:]
        where = f"to the end of epoch {kept}" if kept else "to what they were before this fit"
        then = " (then early stopping restores its best epoch)" if stopper.snapshot is not None else ""
        warnings.warn(f"training diverged in epoch {epoch + 1} ({trouble}); the weights were restored {where}{then}. "
                      f"{guard.advice(lr)}", DivergenceWarning, stacklevel=4)

    def _warn_large_weights(self, guard, lr):
        top = guard.large_weights()
        if top is not None:
            warnings.warn(f"the weights reached |w| = {top:.3g}, far beyond the range where a network learns; "
                          f"the model is likely useless. {guard.advice(lr)} Standardize the inputs.",
                          DivergenceWarning, stacklevel=4)

    def _snapshot(self):
        return self._theta.copy(), self._opt_state.copy(), self._opt_steps, self._bn_stats.copy()

    def _restore(self, snapshot):
        self._theta[:], self._opt_state[:], self._opt_steps, self._bn_stats[:] = snapshot

    def _trainer(self, X, T, plan, device, online):
        """The Trainer of one fit on ``device``: on the GPU it holds the device copies of the data,
        weights and state (sent once per fit), on the CPU the workspace."""
        arrays = (self._theta, self._opt_state, self._bn_stats, self._layout, self._act_params, X, T)
        if device == "cuda":
            from .cuda.train import Trainer

            return Trainer(*arrays, plan.chunk, online=online)
        from .trainer import Trainer

        return Trainer(*arrays, plan)

    def _momenta(self, mom, steps):
        """The momentum of each of ``steps`` updates: the schedule's (cycled), else the optimizer's."""
        return mom if mom is not None else np.full(steps, getattr(self._optimizer, "momentum", 0.0))

    def _epoch(self, trainer, n, rule, fused, opts, lr, mom, classes, errors):
        """One compiled epoch of ``trainer`` over n examples; returns (summed loss, seconds).

        classes: class index per example (orders by class); errors: each example's last loss,
        updated by the epoch (emphasis; empty otherwise)."""
        order = sampling.epoch_order(opts.order, n, opts.batch_size, classes, self._rng, errors)
        mom = self._momenta(mom, lr.size)
        key = np.uint64(self._rng.integers(0, 2**63))
        t0 = time.perf_counter()
        total, steps = trainer.epoch(order, opts.batch_size, lr, mom, rule, self._opt_steps, self._loss_code, fused,
                                     key, errors)
        trainer.download(self._theta, self._opt_state, self._bn_stats)
        elapsed = time.perf_counter() - t0
        self._opt_steps += steps
        return total, elapsed

    def _record_validation(self, history, Xv, Tv, plan):
        loss, outputs = self._forward(Xv, Tv, plan)
        history["val_loss"].append(loss)
        if "val_accuracy" in history:
            values = self._targets.values
            hits = losses.decode_classes(outputs, values) == losses.decode_classes(Tv, values)
            history["val_accuracy"].append(float(np.mean(hits)))

    # ----------------------------------------------------------------- inference
    def _forward(self, X, T=None, plan=None, errors=None):
        """(mean loss or None, outputs) of the network on checked X; with T and ``errors`` (n,),
        each example's loss is written there."""
        plan = plan or self._plan(X, CHUNK)
        out = np.empty((X.shape[0], self._n_outputs()), dtype=self._theta.dtype)
        T_arg = T if T is not None else np.empty((0, self._n_outputs()), dtype=self._theta.dtype)
        theta, layout = self._inference_params()
        with blas_limit(plan.blas):
            total = _train.forward(theta, layout, self._act_params, plan, X, T_arg, self._loss_code, out,
                                   np.empty(0) if errors is None else errors)
        return (None if T is None else total / X.shape[0]), out

    def _checked_X(self, X):
        """X checked against the features seen at fit, through the preprocessing."""
        self._require_built()
        X = preprocessing.apply(self.preprocess, _checks.features(X, "X", self.dtype, self.input_dim))
        if X.shape[1] != self._layout[0, FAN_IN]:  # a step refitted behind the network's back
            raise ValueError(f"the preprocessing gives {X.shape[1]} inputs but the network takes {self._layout[0, FAN_IN]}")
        return X

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
        """{"loss": mean loss, and "accuracy" (fraction correct) for a classifier or "r2",
        "mae" and "rmse" of the predictions for a regression (as scikit-learn's r2_score,
        mean_absolute_error and root_mean_squared_error)."""
        X = self._checked_X(X)
        if self._targets is None:
            raise RuntimeError("evaluate needs a fitted network: call fit(X, y) first")
        _checks.same_length(X, y)
        T = self._targets.encode(y, self._n_outputs(), self.dtype)
        loss, outputs = self._forward(X, T)
        result = {"loss": float(loss)}
        if self._targets.classification:
            result["accuracy"] = float(np.mean(self._targets.decode(outputs) == np.asarray(y)))
        else:
            result.update(_metrics.regression(y, self._targets.decode(outputs)))
        return result

    def loss_and_gradients(self, X, y):
        """(mean loss, gradients) on (X, y); gradients shaped as get_weights(). No update.

        RReLU layers use their mean slope here (inference behaviour), so the result is
        deterministic. Batch-norm layers normalise with the statistics of X, as a training
        step on the batch X would (their moving averages do not move).
        """
        X = self._checked_X(X)
        _checks.same_length(X, y)
        targets = self._targets or self._infer_targets(y)
        T = targets.encode(y, self._n_outputs(), self.dtype)
        if self._batch_norm and X.shape[0] < 2:
            raise ValueError("batch norm normalises with the statistics of X, which one example cannot give; pass 2 or more")
        grad = np.empty_like(self._theta)
        loss = self._loss_and_grad(X, T, grad, self._plan(X, X.shape[0], train=True))
        return loss, self._unflatten(grad)

    def _loss_and_grad(self, X, T, grad, plan):
        """Mean loss over prepared (X, T) at the current weights; its gradient into grad (flat).
        Full-batch optimizers (fastnn.sklearn's L-BFGS) call this with one plan for all calls."""
        with blas_limit(plan.blas):
            return float(_train.loss_and_grad(self._theta, grad, self._layout, self._act_params, plan, X, T,
                                              self._loss_code, False, np.uint64(0)))

    # ----------------------------------------------------------------- batch norm
    def _inference_params(self):
        """(theta, layout) for prediction: batch norm folded into W and b (no cost per example)."""
        if not self._batch_norm:
            return self._theta, self._layout
        return fold_batch_norm(self._theta, self._bn_stats, self._layout, self._act_params)

    def set_batch_norm_statistics(self, X):
        """Replace the moving averages of every batch-norm layer by the exact mean and variance
        of its net input over all of X, layer by layer through the inference network below it
        (Ioffe & Szegedy 2015, algorithm 2, with the population variance, ddof=0, where the
        moving averages use the unbiased batch variance). Compiled passes over X; returns self."""
        X = self._checked_X(X)
        if not self._batch_norm:
            raise ValueError("the network has no batch-norm layer (Dense(..., batch_norm=True)); nothing to set")
        if X.shape[0] < 2:
            raise ValueError(f"X has {X.shape[0]} example; statistics of the training set need 2 or more")
        return self._set_bn_statistics(X)

    def _set_bn_statistics(self, X):
        """set_batch_norm_statistics on X as the first layer sees it (after preprocessing)."""
        stats = self._bn_stats.copy()
        plan = self._plan(X, CHUNK)
        with blas_limit(plan.blas):
            for l in range(len(self.layers)):
                s0, m = self._layout[l, STAT_OFF], self._layout[l, FAN_OUT]
                if s0 < 0:
                    continue
                theta, layout = fold_batch_norm(self._theta, stats, self._layout, self._act_params, upto=l)
                b0 = layout[l, B_OFF]
                theta[b0 : b0 + m] = 0.0  # the raw net input x W, without beta
                mean, var = np.empty(m), np.empty(m)
                _train.net_input_moments(theta, layout, self._act_params, plan, X, l, mean, var)
                stats[s0 : s0 + m], stats[s0 + m : s0 + 2 * m] = mean, var
        with np.errstate(over="ignore"):
            _checks.finite(stats.astype(self.dtype), "the statistics of X (too large for the dtype?)")
        self._bn_stats[:] = stats
        return self

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
