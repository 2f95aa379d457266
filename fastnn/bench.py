"""The benchmark behind `fastnn bench`: online against mini-batch training of one network."""
import os
import platform
import statistics
import time

import numpy as np

from . import __version__
from .layers import Dense
from .network import Network

DEFAULT_BATCH_SIZES = (8, 32, 128, 512)


def default_lr(batch_size, n):
    """Rates that train the default task well in each mode (larger batches take larger steps)."""
    if batch_size == 1:
        return 0.01
    if batch_size >= n:
        return 0.5
    return min(0.1, 0.01 * batch_size ** 0.5)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build(hidden, activation, n_outputs, dtype, seed):
    layers = [Dense(h, activation=activation) for h in hidden] + [Dense(n_outputs, activation="softmax")]
    return Network(layers, loss="cross_entropy", dtype=dtype, seed=seed)


def run_one(data, hidden, activation, dtype, mode, batch_size, epochs, lr, seed=0):
    """Train one configuration; returns a row of figures. Timings exclude compilation."""
    x_train, y_train, x_test, y_test = data
    n = len(x_train)
    n_out = len(np.unique(y_train))
    kw = {"mode": mode, "batch_size": min(batch_size, n), "lr": lr}
    # A first call on a few examples of every class compiles (or loads from Numba's cache)
    # what this mode runs.
    few = np.concatenate([np.flatnonzero(y_train == c)[:8] for c in np.unique(y_train)])
    t0 = time.perf_counter()
    build(hidden, activation, n_out, dtype, seed).fit(x_train[few], y_train[few], epochs=1,
                                                    **{**kw, "batch_size": min(batch_size, len(few))})
    compile_s = time.perf_counter() - t0
    net = build(hidden, activation, n_out, dtype, seed)
    net.fit(x_train, y_train, epochs=epochs, **kw)
    seconds = statistics.median(net.history_["time"])
    return {
        "mode": mode, "batch_size": kw["batch_size"], "examples_per_s": n / seconds, "seconds_per_epoch": seconds,
        "compile_s": compile_s, "epochs": epochs, "lr": lr, "train_loss": net.history_["loss"][-1],
        "test_accuracy": net.evaluate(x_test, y_test)["accuracy"],
        "network": "-".join(str(u) for u in [x_train.shape[1], *hidden, n_out]), "activation": activation,
        "dtype": dtype, "n_train": n,
    }


def configurations(n, batch_sizes):
    yield "online", 1
    for b in batch_sizes:
        if b < n:
            yield "minibatch", b
    yield "batch", n


def environment(threads, dtype):
    import numba
    return {"fastnn": __version__, "numba": numba.__version__, "numpy": np.__version__, "threads": threads,
            "dtype": dtype, "cpu": cpu_model(), "cpu_count": os.cpu_count(), "python": platform.python_version()}


def format_table(rows):
    head = f"{'mode':<10}{'batch':>7}{'examples/s':>13}{'s/epoch':>10}{'compile s':>11}{'train loss':>12}{'test acc':>10}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['mode']:<10}{r['batch_size']:>7}{r['examples_per_s']:>13,.0f}{r['seconds_per_epoch']:>10.3f}"
                     f"{r['compile_s']:>11.2f}{r['train_loss']:>12.4f}{r['test_accuracy']:>10.4f}")
    return "\n".join(lines)
