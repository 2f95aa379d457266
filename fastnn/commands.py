"""The logic behind `fastnn train`, `fastnn predict` and `fastnn info` (cli.py only parses).

Errors in the user's input (options, data and model files) are ValueError or TypeError, and
an OptionError where one option is to blame; cli.py reports them as usage errors (exit status
2). An OSError while writing is a failure of the machine, not of the input (exit status 1).
"""
import contextlib
import csv
import os
import platform
import signal
import sys
import warnings

import numpy as np

from . import __version__, datasets, device, optimizers, preprocessing, sampling, specs
from ._files import atomic_write
from ._report import epoch_line
from .network import DivergenceWarning, Network, load


class OptionError(ValueError):
    """A ValueError caused by one command-line option or argument, named by ``option``."""

    def __init__(self, option, message):
        super().__init__(message)
        self.option = option


@contextlib.contextmanager
def option(name):
    """A ValueError or TypeError raised inside becomes an OptionError naming the option."""
    try:
        yield
    except OptionError:
        raise
    except (ValueError, TypeError) as e:
        raise OptionError(name, str(e)) from None


def loss_for(layers):
    """Cross-entropy after softmax or logistic outputs, squared error otherwise."""
    return "cross_entropy" if layers[-1].activation.name in ("softmax", "logistic") else "mse"


def split(x, y, fraction, rng, name="--validation-split"):
    """(x_train, y_train, x_val, y_val): a random ``fraction`` of the examples held out."""
    n_val = int(round(fraction * len(x)))
    if fraction > 0 and not 1 <= n_val < len(x):
        raise ValueError(f"{name} ({fraction:g}) leaves {n_val} of {len(x)} examples held out; use more examples")
    perm = rng.permutation(len(x))
    val, train = perm[:n_val], perm[n_val:]
    return x[train], y[train], x[val], y[val]


class Interrupt:
    """Ctrl-C while a command runs: ``requested`` after the first; ``message`` says what
    finishes before the command stops."""

    def __init__(self):
        self.requested = False
        self.message = "stopping after this epoch (a second Ctrl-C aborts when the epoch's compiled loop returns)"


@contextlib.contextmanager
def stop_on_interrupt():
    """While training and saving: Ctrl-C sets Interrupt.requested instead of raising, so the
    epoch finishes and the model is still saved whole; a second Ctrl-C interrupts at once."""
    state = Interrupt()

    def handler(signum, frame):
        if state.requested:
            raise KeyboardInterrupt
        state.requested = True
        print(f"\n{state.message}", file=sys.stderr)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (e.g. a test runner): no handler, never requested
        yield state
        return
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


def progress_line(net, epoch, epochs, n, train_acc=None):
    return epoch_line(net.history_, epoch, epochs, n, train_acc)


def train(data, target, layers, mode, batch_size, epochs, lr, optimizer, momentum, preprocess, order,
          validation_split, seed, dtype, save, echo, device="cpu", nesterov=False, weight_decay=0.0, loss=None,
          early_stopping=None, bn_statistics="moving", log=None, scale_targets=True, layer_scaling=None):
    """Train a network on a data file; returns (net, test metrics or None)."""
    if nesterov and momentum == 0.0:
        raise OptionError("--nesterov", "--nesterov changes how momentum is applied and has no effect without it: "
                                        "add --momentum (e.g. 0.9)")
    table = _training_data(data, target, echo)
    net = _network(table, layers, preprocess, dtype, seed, device, loss, scale_targets)
    rate, optimizer, order = _rules(lr, optimizer, order)
    y = table.y
    if net.loss == "mse" and y.dtype.kind in "iub":
        y = y.astype(np.float64)  # integer targets of a regression (ages, counts), not class labels
    x, val = table.x, None
    if validation_split:
        with option("--validation-split"):
            x, y, x_val, y_val = split(x, y, validation_split, np.random.default_rng(seed))
        val = (x_val, y_val)
    probe = slice(0, 10000)  # without validation data: the accuracy on (up to) 10,000 training examples

    unfitted = [type(step).__name__ for step in net.preprocess if not step.fitted]
    if unfitted and x.size >= LARGE_INPUTS:  # fitted inside fit: say what the wait is
        echo(f"fitting the preprocessing ({', '.join(unfitted)}) on {x.shape[0]:,} x {x.shape[1]:,} inputs")
    with stop_on_interrupt() as stop:
        def after_epoch(model, epoch):
            acc = None
            if val is None and model.classes_ is not None:
                acc = model.evaluate(x[probe], y[probe])["accuracy"]
            echo(progress_line(model, epoch, epochs, len(x), acc))
            return stop.requested
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DivergenceWarning)  # the CLI reports net.diverged_ in one line
            net.fit(x, y, mode=mode, batch_size=batch_size, epochs=epochs, lr=rate, optimizer=optimizer,
                    momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, early_stopping=early_stopping,
                    bn_statistics=bn_statistics, layer_scaling=layer_scaling, order=order, validation_data=val,
                    callback=after_epoch)
        if log:
            write_history(log, net.history_)
        if save:  # still under the handler: a Ctrl-C now waits for the whole file
            stop.message = f"saving {save} first (a second Ctrl-C aborts the save and keeps any previous file)"
            net.save(save)
    test = net.evaluate(table.x_test, table.y_test) if table.x_test is not None and table.y_test is not None else None
    return net, test


def _rules(lr, optimizer, order):
    """--lr, --optimizer and --order as fit takes them; checked here (fit checks them again) so
    that an error names the option."""
    with option("--lr"):
        rate = specs.learning_rate(lr)
    with option("--optimizer"):
        optimizer = optimizers.get(optimizer) if optimizer is not None else None
    with option("--order"):
        order = sampling.check(order) if order is not None else None
    return rate, optimizer, order


LARGE_FILE = 32 * 2**20  # bytes: reading a CSV this large shows its progress
LARGE_INPUTS = 10**7  # numbers: fitting preprocessing on this many says so first


class ReadingProgress:
    """progress(done, size) for datasets' CSV reader: a line on stderr (through ``echo``) at
    each tenth of a large file, so a long read is not a silent wait."""

    def __init__(self, path, echo):
        self.path, self.echo, self.shown = path, echo, 0

    def __call__(self, done, size):
        tenths = 10 * done // size if size >= LARGE_FILE else 0
        if tenths > self.shown:
            self.shown = tenths
            self.echo(f"reading {self.path} ({size / 2**20:,.0f} MiB): {10 * tenths}%")


def _training_data(data, target, echo=lambda line: None):
    """The Table of --data, with targets."""
    check_target(data, target)
    with option("--data"):
        table = datasets.load_table(data, target, progress=ReadingProgress(data, echo))
    if table.y is None:
        hint = ("--target", "name the target column with --target") if datasets.is_csv(data) else \
            ("--data", "it needs a y_train (or y) array beside x_train (or x)")
        raise OptionError(hint[0], f"{data} has no targets: {hint[1]}")
    return table


FAST_FALL = 0.02  # a last epoch that took the loss down by more than this fraction: not done learning
ROSE = 0.02  # a last epoch that took it up by more than this fraction: a rate too large


def trend_advice(net):
    """One closing line from the monitored loss's last epochs (the validation loss when there is
    one): "still falling fast" (more epochs would help) or "rose" (lower the rate); None when
    neither, or when early stopping already kept the best epoch."""
    h = net.history_
    name = "val_loss" if "val_loss" in h else "loss"
    losses = h[name]
    if len(losses) < 2 or net.stopped_epoch_ is not None:
        return None
    prev, last = losses[-2], losses[-1]
    if last > prev * (1 + ROSE) and net.best_epoch_ is not None:  # early stopping kept the best epoch
        return f"the {name} rose in the last epoch ({prev:.4g} -> {last:.4g}): lower --lr; the best epoch was kept"
    if last > prev * (1 + ROSE):
        return (f"the {name} rose in the last epoch ({prev:.4g} -> {last:.4g}, best {min(losses):.4g}): lower --lr, "
                f"or keep the best epoch with --early-stopping")
    if last < prev * (1 - FAST_FALL):
        return (f"the {name} was still falling fast ({prev:.4g} -> {last:.4g} in the last epoch): more --epochs "
                f"would likely help")
    return None


def write_history(path, history):
    """fit's history_ as CSV: one row per epoch, a column per entry (loss, lr, time, ...)."""
    names = list(history)
    with atomic_write(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch"] + names)
        for i in range(len(history["loss"])):
            w.writerow([i + 1] + [repr(float(history[k][i])) for k in names])


def _network(table, layers, preprocess, dtype, seed, device, loss=None, scale_targets=True):
    """The untrained network for the table, its preprocessing first scaling uint8 pixels by
    1/255: the model scales them, so the Python API, a CSV of the same pixels and this command
    all give it the same numbers."""
    with option("--layers"):
        hidden = specs.layers(layers)
    with option("--preprocess"):
        steps = default_preprocess(table) if preprocess is None else specs.preprocess(preprocess)
    if table.uint8:
        steps.insert(0, preprocessing.Scale(1 / 255))
    with option("--layers" if loss is None else "--loss"):
        net = Network(hidden, loss=loss or loss_for(hidden), dtype=dtype, seed=seed, preprocess=steps, device=device,
                      scale_targets=scale_targets)
    net.feature_names_ = table.names  # predict reads a CSV's columns by these names
    return net


BENCH_TEST_FRACTION = 0.2  # of a CSV's rows held out as `fastnn bench`'s test set


def bench_data(data, target, preprocess, n_train):
    """(x_train, y_train, x_test, y_test) for `fastnn bench`: an .npz's four arrays (uint8 pixels
    scaled to [0, 1]) or a CSV's rows with the --target column as labels, a random fifth held out
    for testing; the first n_train training rows; then the preprocessing (train's default: z-scores
    unless every input lies in [-1, 1]) fitted on them and applied to both."""
    if target is not None and not datasets.is_csv(data):
        raise OptionError("--target", f"--target names a column of CSV data, but {data} is read as an .npz: "
                                      "leave --target out")
    with option("--data"):
        if datasets.is_csv(data):
            if target is None:
                raise OptionError("--target", f"{data} is a CSV: name its label column with --target")
            table = datasets.load_table(data, target)
            x_train, y_train, x_test, y_test = split(table.x, table.y, BENCH_TEST_FRACTION, np.random.default_rng(0),
                                                     "bench's test fifth")
            unseen = np.setdiff1d(y_test, y_train[:n_train])
            if unseen.size:
                raise ValueError(f"{data}: the held-out fifth has label(s) {unseen[:5].tolist()} that the training "
                                 f"rows (the first {n_train:,} of the rest) lack; use more rows or --n-train")
        else:
            x_train, y_train, x_test, y_test = datasets.load_npz(data)
    x_train, y_train = x_train[:n_train], y_train[:n_train]
    with option("--preprocess"):
        steps = specs.preprocess(preprocess) if preprocess is not None else default_preprocess(
            datasets.Table(x_train, y_train, None, None, None, False))
    for step in steps:
        x_train = step.fit_transform(x_train)
    return x_train, y_train, preprocessing.apply(steps, x_test), y_test


def default_preprocess(table):
    """z-scores, unless every input already lies in [-1, 1] (uint8 pixels, which the model scales
    to [0, 1]): z-scores would turn their zeros, which the first layer skips, into non-zeros."""
    small = table.uint8 or table.x.size == 0 or float(np.abs(table.x).max()) <= 1.0
    return [] if small else [preprocessing.Standardizer()]


def check_target(data, target):
    """--target names a CSV column; with an .npz, whose targets are an array of their own, it
    would be silently ignored."""
    if target is not None and not datasets.is_csv(data):
        raise OptionError("--target", f"--target names a column of CSV data, but {data} is read as an .npz (its "
                                      "targets are the array y_train or y): leave --target out")


def predict(model, data, target, output, proba=False, echo=lambda line: None):
    """Predictions (or class probabilities) of a saved model for a data file, written as .npy or
    CSV; returns (their number, the scores from Network.evaluate when the data holds targets)."""
    check_target(data, target)
    with option("MODEL"):
        net = load(model)
    if proba and not (net.classes_ is not None and net.loss == "cross_entropy"):
        raise OptionError("--proba", f"{model} is not a classifier trained with cross-entropy: it has no class "
                                     "probabilities; leave --proba out")
    with option("--data"):  # by column name when the model knows them, else by position
        x, y = datasets.load_labeled(data, target, columns=net.feature_names_, progress=ReadingProgress(data, echo))
        pred = net.predict_proba(x) if proba else net.predict(x)
    _write_predictions(output, pred, net.classes_ if proba else None)
    return len(pred), _score(net, x, y)


def _score(net, x, y):
    """{metric: value} of the predictions against targets y, None without them, or
    {"no score": reason} when y cannot be scored (labels the model does not know)."""
    if y is None:
        return None
    try:
        return {k: v for k, v in net.evaluate(x, y).items() if k != "loss"}
    except (ValueError, TypeError) as e:
        return {"no score": str(e)}


def _write_predictions(path, pred, classes=None):
    """.npy, or else CSV with a header: "prediction", prediction_0.. for several regression
    outputs, or the class labels over their probabilities (``classes``). Through atomic_write:
    a failure part-way leaves the previous file as it was."""
    if str(path).endswith(".npy"):
        with atomic_write(path) as f:
            np.save(f, pred)
        return
    rows = pred.reshape(len(pred), -1)
    if classes is not None:
        header = [str(c) for c in classes.tolist()]
    else:
        header = ["prediction"] if rows.shape[1] == 1 else [f"prediction_{j}" for j in range(rows.shape[1])]
    with atomic_write(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows.tolist())


def info():
    """Versions, threads, CUDA and the kernel cache, as (name, value) pairs."""
    import numba

    try:
        cuda = device.describe()
    except Exception as e:  # a broken driver must not break `fastnn info`
        cuda = f"unavailable ({e})"
    kernels = os.path.join(os.path.dirname(__file__), "kernels", "__pycache__")
    return [
        ("fastnn", __version__), ("python", platform.python_version()), ("numba", numba.__version__),
        ("numpy", np.__version__), ("threads", f"{numba.get_num_threads()} (NUMBA_NUM_THREADS or numba.set_num_threads)"),
        ("cpu", f"{os.cpu_count()} logical cores"), ("cuda", cuda),
        ("kernel cache", os.environ.get("NUMBA_CACHE_DIR") or kernels),
    ]
