"""The logic behind `fastnn train`, `fastnn predict` and `fastnn info` (cli.py only parses)."""
import contextlib
import os
import platform
import signal
import sys
import warnings

import numpy as np

from . import __version__, datasets, device, specs
from .network import DivergenceWarning, Network, load


def loss_for(layers):
    """Cross-entropy after softmax or logistic outputs, squared error otherwise."""
    return "cross_entropy" if layers[-1].activation.name in ("softmax", "logistic") else "mse"


def split(x, y, fraction, rng):
    """(x_train, y_train, x_val, y_val): a random ``fraction`` of the examples held out."""
    n_val = int(round(fraction * len(x)))
    if fraction > 0 and not 1 <= n_val < len(x):
        raise ValueError(f"--validation-split {fraction} leaves {n_val} of {len(x)} examples for validation")
    perm = rng.permutation(len(x))
    val, train = perm[:n_val], perm[n_val:]
    return x[train], y[train], x[val], y[val]


@contextlib.contextmanager
def stop_on_interrupt():
    """While training: Ctrl-C sets a flag (yielded as a one-item list) instead of raising, so
    the epoch finishes and the model is still saved; a second Ctrl-C interrupts at once."""
    flag = [False]

    def handler(signum, frame):
        if flag[0]:
            raise KeyboardInterrupt
        flag[0] = True
        print("\nstopping after this epoch (a second Ctrl-C aborts when the epoch's compiled loop returns)",
              file=sys.stderr)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (e.g. a test runner): no handler, no flag
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def progress_line(net, epoch, epochs, n, train_acc=None):
    h = net.history_
    parts = [f"epoch {epoch}/{epochs}", f"loss {h['loss'][-1]:.4f}"]
    if train_acc is not None:
        parts.append(f"acc {train_acc:.4f}")
    if "val_loss" in h:
        parts.append(f"val_loss {h['val_loss'][-1]:.4f}")
    if "val_accuracy" in h:
        parts.append(f"val_acc {h['val_accuracy'][-1]:.4f}")
    parts += [f"lr {h['lr'][-1]:.4g}", f"{n / h['time'][-1]:,.0f} ex/s"]
    return "  ".join(parts)


def train(data, target, layers, mode, batch_size, epochs, lr, optimizer, momentum, preprocess, order,
          validation_split, seed, dtype, save, echo, device="cpu"):
    """Train a network on a data file; returns (net, test metrics or None)."""
    x, y, x_test, y_test = datasets.load_table(data, target)
    if y is None:
        raise ValueError(f"{data} has no targets: name the target column with --target")
    hidden = specs.layers(layers)
    names = datasets.csv_features(data, target) if str(data).endswith(".csv") else None
    if loss_for(hidden) == "mse" and y.dtype.kind in "iub":
        y = y.astype(np.float64)  # integer targets of a regression (ages, counts), not class labels
    net = Network(hidden, loss=loss_for(hidden), dtype=dtype, seed=seed, preprocess=specs.preprocess(preprocess or ""),
                  device=device)
    net.feature_names_ = names  # predict reads a CSV's columns by these names
    rng = np.random.default_rng(seed)
    x, y, x_val, y_val = split(x, y, validation_split, rng) if validation_split else (x, y, None, None)
    val = (x_val, y_val) if x_val is not None else None
    probe = slice(0, 10000)  # without validation data: the accuracy on (up to) 10,000 training examples

    with stop_on_interrupt() as stop:
        def after_epoch(model, epoch):
            acc = None
            if val is None and model.classes_ is not None:
                acc = model.evaluate(x[probe], y[probe])["accuracy"]
            echo(progress_line(model, epoch, epochs, len(x), acc))
            return stop[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DivergenceWarning)  # the CLI reports net.diverged_ in one line
            net.fit(x, y, mode=mode, batch_size=batch_size, epochs=epochs, lr=specs.learning_rate(lr),
                    optimizer=optimizer, momentum=momentum, order=order, validation_data=val, callback=after_epoch)
    if save:
        net.save(save)
    test = net.evaluate(x_test, y_test) if x_test is not None and y_test is not None else None
    return net, test


def predict(model, data, target, output):
    """Predictions of a saved model for a data file, written as .npy or CSV (one per line)."""
    net = load(model)
    if str(data).endswith(".csv"):  # by column name when the model knows them, else by position
        x = datasets.load_table(data, target, columns=net.feature_names_)[0]
    else:
        x = _features(data)
    pred = net.predict(x)
    if str(output).endswith(".npy"):
        np.save(output, pred)
    else:
        _write_predictions(output, pred)
    return len(pred)


def _write_predictions(path, pred):
    """CSV with a header: "prediction", or prediction_0.. for several regression outputs."""
    import csv

    rows = pred.reshape(len(pred), -1)
    header = ["prediction"] if rows.shape[1] == 1 else [f"prediction_{j}" for j in range(rows.shape[1])]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows.tolist())


def _features(path):
    """x_test if the .npz has one, else x_train / x."""
    with np.load(path, allow_pickle=False) as d:
        name = next((k for k in ("x_test", "x", "x_train") if k in d.files), None)
        if name is None:
            raise ValueError(f"{path} holds no x_test, x or x_train array; it has {sorted(d.files)}")
        x = d[name]
    x = x.reshape(len(x), -1)
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x


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
