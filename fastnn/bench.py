"""The benchmark behind `fastnn bench`: online against mini-batch training of one network."""
import os
import platform
import statistics
import time
import warnings

import numpy as np

from . import __version__, peers
from ._files import atomic_write
from .layers import Dense
from ._targets import Targets
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


def build(hidden, activation, n_outputs, dtype, seed, input_dim=None, device="cpu"):
    layers = [Dense(h, activation=activation) for h in hidden] + [Dense(n_outputs, activation="softmax")]
    return Network(layers, loss="cross_entropy", dtype=dtype, seed=seed, input_dim=input_dim, device=device)


def compare(peer, data, hidden, activation, dtype, mode, batch_size, epochs, lr, threads, seed=0, target=None,
            device="cpu"):
    """The peer's figures for one configuration, trained from fastnn's initial weights where it can
    (on the same device: PyTorch on the GPU for device="cuda")."""
    n_out = len(np.unique(data[1]))
    weights = build(hidden, activation, n_out, dtype, seed, input_dim=data[0].shape[1]).get_weights()
    return peers.run(peer, data, hidden, activation, min(batch_size, len(data[0])), epochs, lr, threads, weights,
                     target, dtype, device)


def add_peer(row, peer, figures):
    """Peer figures into a row, with the ratio fastnn / peer of examples per second."""
    for key in ("examples_per_s", "test_accuracy", "seconds_to_target"):
        row[f"{peer}_{key}"] = figures[key]
    row[f"{peer}_ratio"] = row["examples_per_s"] / figures["examples_per_s"]
    row[f"{peer}_curve"] = figures["curve"]


def pick_lr(data, hidden, activation, dtype, mode, batch_size, seed=0, n_max=5000, device="cpu"):
    """The short built-in search: of 0.3, 1 and 3 times the default rate, the one whose weights
    have the lowest loss on the subset after one epoch on at most n_max examples (scored after
    training: the epoch's own loss is measured before each update, which in full-batch mode is
    the same for every rate)."""
    x_train, y_train = data[0][:n_max], data[1][:n_max]
    base = default_lr(batch_size, len(data[0]))
    best, best_loss = base, np.inf
    for lr in (0.3 * base, base, 3 * base):
        net = build(hidden, activation, len(np.unique(data[1])), dtype, seed, device=device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a rate that diverges simply loses
            net.fit(x_train, y_train, mode=mode, batch_size=min(batch_size, len(x_train)), epochs=1, lr=lr)
        loss = net.evaluate(x_train, y_train)["loss"] if net.history_["loss"] else np.inf
        if loss < best_loss:
            best, best_loss = lr, loss
    return best


def warm_up(data, hidden, activation, dtype, mode, batch_size, seed=0, device="cpu"):
    """Seconds to compile (or load from Numba's cache) what this mode runs: a first call on a
    few examples of every class."""
    x_train, y_train = data[0], data[1]
    few = np.concatenate([np.flatnonzero(y_train == c)[:8] for c in np.unique(y_train)])
    t0 = time.perf_counter()
    build(hidden, activation, len(np.unique(y_train)), dtype, seed, device=device).fit(
        x_train[few], y_train[few], mode=mode, batch_size=min(batch_size, len(few)), epochs=1, lr=1e-3)
    return time.perf_counter() - t0


def run_one(data, hidden, activation, dtype, mode, batch_size, epochs, lr, seed=0, target=None, compile_s=None,
            evals_per_epoch=10, device="cpu"):
    """Train one configuration; returns a row of figures.

    Each epoch is one shuffled pass, trained in ``evals_per_epoch`` consecutive parts (whole
    mini-batches; full batch: one part) with the test accuracy measured after each, so the
    time to reach ``target`` is resolved within an epoch. Timings are the compiled loops'
    alone: compilation (measured by warm_up unless given) and the evaluations are left out.
    """
    x_train, y_train, x_test, y_test = data
    n = len(x_train)
    B = min(batch_size, n)
    net = build(hidden, activation, len(np.unique(y_train)), dtype, seed, device=device)
    net._targets = Targets.infer(y_train, net.loss, "softmax", net.layers[-1].units)  # every class, from the start
    if compile_s is None:
        compile_s = warm_up(data, hidden, activation, dtype, mode, batch_size, seed, device)
    step = peers.part_size(n, B, evals_per_epoch)
    rng = np.random.default_rng(seed)
    curve, times, losses, seen = [], [], [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # divergence is reported in the row
        for _ in range(epochs):
            order, epoch_time, epoch_loss = rng.permutation(n), 0.0, 0.0
            for s in range(0, n, step):
                part = order[s : s + step]
                net.fit(x_train[part], y_train[part], mode=mode, batch_size=min(B, part.size), epochs=1, lr=lr,
                        shuffle=False)
                if net.diverged_:
                    break
                epoch_time += net.history_["time"][0]
                epoch_loss += net.history_["loss"][0] * part.size
                seen += part.size
                curve.append((sum(times) + epoch_time, seen, net.evaluate(x_test, y_test)["accuracy"]))
            if net.diverged_:
                break
            times.append(epoch_time)
            losses.append(epoch_loss / n)
    row = _row(data, hidden, activation, dtype, mode, B, epochs, lr, seed, target, compile_s, curve, times, losses,
               net.diverged_)
    row["device"] = device
    return row


def _row(data, hidden, activation, dtype, mode, B, epochs, lr, seed, target, compile_s, curve, times, losses,
         diverged):
    n = len(data[0])
    seconds = statistics.median(times) if times else float("nan")
    reached = next(((t, k) for t, k, acc in curve if target is not None and acc >= target), (None, None))
    return {
        "mode": mode, "batch_size": B, "examples_per_s": n / seconds, "seconds_per_epoch": seconds,
        "compile_s": compile_s, "epochs": epochs, "lr": lr, "train_loss": losses[-1] if losses else float("nan"),
        "test_accuracy": curve[-1][2] if curve else float("nan"), "target": target,
        "seconds_to_target": reached[0], "examples_to_target": reached[1],
        "curve": [{"seconds": t, "examples": k, "test_accuracy": acc} for t, k, acc in curve],
        "network": "-".join(str(u) for u in [data[0].shape[1], *hidden, len(np.unique(data[1]))]),
        "activation": activation, "dtype": dtype, "n_train": n, "seed": seed, "diverged": diverged,
    }


def summarize(runs):
    """One row from repeats of a configuration: the run of median time to target (else of
    median examples/s) with its own curve, loss and seed; examples/s and test accuracy the
    medians with their spread; compile time the first run's (the others find it compiled)."""
    by_target = all(r["seconds_to_target"] is not None for r in runs)
    key = (lambda r: r["seconds_to_target"]) if by_target else (lambda r: r["examples_per_s"])
    row = dict(sorted(runs, key=key)[(len(runs) - 1) // 2])
    row["compile_s"] = runs[0]["compile_s"]
    speeds = [r["examples_per_s"] for r in runs]
    row["examples_per_s"] = statistics.median(speeds)
    row["examples_per_s_min"], row["examples_per_s_max"] = min(speeds), max(speeds)
    row["seconds_per_epoch"] = statistics.median(r["seconds_per_epoch"] for r in runs)
    row["test_accuracy"] = statistics.median(r["test_accuracy"] for r in runs)
    if not by_target:  # a time to target only when every repeat reached it
        row["seconds_to_target"] = row["examples_to_target"] = None
    row["diverged"] = any(r["diverged"] for r in runs)
    row["repeats"] = len(runs)
    return row


def configurations(n, batch_sizes):
    yield "online", 1
    for b in batch_sizes:
        if b < n:
            yield "minibatch", b
    yield "batch", n


def environment(threads, dtype, device="cpu"):
    import numba

    from .device import describe
    return {"fastnn": __version__, "numba": numba.__version__, "numpy": np.__version__, "threads": numba.get_num_threads(),
            "dtype": dtype, "cpu": cpu_model(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "device": device, "gpu": describe() if device == "cuda" else None}


CSV_FIELDS = ("device", "mode", "batch_size", "seed", "lr", "lr_searched", "diverged", "examples_per_s", "examples_per_s_min", "examples_per_s_max",
              "seconds_per_epoch", "compile_s", "train_loss", "test_accuracy", "target", "seconds_to_target",
              "examples_to_target", "epochs", "repeats", "network", "activation", "dtype", "n_train")


def mode_label(row):
    """A row's mode as the table's closing sentence and the plot's legend name it."""
    return {"minibatch": f"mini-batch {row['batch_size']}", "batch": "full batch"}.get(row["mode"], row["mode"])


def format_table(rows):
    """fastnn's rows, then one block per compared peer; under 120 columns. A searched rate is
    marked *; the spread of examples/s appears with repeats only."""
    target = rows[0].get("target")
    spread = any(r.get("repeats", 1) > 1 for r in rows)
    head = (f"{'mode':<10}{'batch':>7}{'lr':>10}{'examples/s':>13}" + (f"{'spread':>9}" if spread else "") +
            f"{'s/epoch':>9}{'compile s':>10}{'train loss':>11}{'test acc':>9}" +
            (f"{f's to {target:g}':>11}{'examples':>11}" if target else ""))
    lines = [head, "-" * len(head)]
    for r in rows:
        lr = f"{r['lr']:.3g}" + ("*" if r.get("lr_searched") else " ")
        line = f"{r['mode']:<10}{r['batch_size']:>7}{lr:>10}{r['examples_per_s']:>13,.0f}"
        if spread:
            width = (r.get("examples_per_s_max", 0) - r.get("examples_per_s_min", 0)) / r["examples_per_s"]
            line += f"{width:>8.0%} "
        line += (f"{r['seconds_per_epoch']:>9.3f}{r['compile_s']:>10.2f}{r['train_loss']:>11.4f}"
                 f"{r['test_accuracy']:>9.4f}")
        if target:
            line += _reached(r, "")
        lines.append(line)
    if any(r.get("lr_searched") for r in rows):
        lines.append("* the rate a short search picked (0.3, 1 and 3 times a default, one epoch on up to 5,000 examples)")
    for p in (p for p in peers.PEERS if f"{p}_ratio" in rows[0]):
        peer_head = (f"{p:<10}{'batch':>7}{'examples/s':>13}{'fastnn/' + p:>16}{'test acc':>9}" +
                     (f"{f's to {target:g}':>11}" if target else ""))
        lines += ["", peer_head, "-" * len(peer_head)]
        for r in rows:
            line = (f"{r['mode']:<10}{r['batch_size']:>7}{r[p + '_examples_per_s']:>13,.0f}{r[p + '_ratio']:>15.1f}x"
                    f"{r[p + '_test_accuracy']:>9.4f}")
            if target:
                line += _reached(r, p + "_")[:11]
            lines.append(line)
    return "\n".join(lines)


def _reached(row, prefix):
    """The seconds (and, for fastnn, examples) to the target accuracy, or dashes."""
    seconds = row.get(prefix + "seconds_to_target")
    if seconds is None:
        return f"{'-':>11}{'-':>11}"
    examples = row.get(prefix + "examples_to_target")
    return f"{seconds:>11.3g}" + (f"{examples:>11,}" if examples is not None else f"{'-':>11}")


def verdict(rows):
    """The closing sentence of `fastnn bench`: which mode reached the target accuracy first and
    how much sooner than the next (and than each peer's fastest), which had the best
    throughput; without a target, which ended with the best test accuracy."""
    target = rows[0].get("target")
    rows = [r for r in rows if np.isfinite(r["examples_per_s"]) and np.isfinite(r["test_accuracy"])]
    if not rows:
        return "Every mode diverged: lower --lr."
    fastest = max(rows, key=lambda r: r["examples_per_s"])
    throughput = f"the highest throughput was {mode_label(fastest)}'s ({fastest['examples_per_s']:,.0f} examples/s)"
    if target is None:
        best = max(rows, key=lambda r: r["test_accuracy"])
        return (f"After {best['epochs']} epoch(s), {mode_label(best)} reached the best test accuracy "
                f"({best['test_accuracy']:.4f}); {throughput}. --target-accuracy compares the time to an accuracy.")
    reached = sorted((r for r in rows if r["seconds_to_target"] is not None), key=lambda r: r["seconds_to_target"])
    if not reached:
        return f"No mode reached {target:g} test accuracy in {rows[0]['epochs']} epoch(s); {throughput}."
    first = reached[0]
    text = f"{mode_label(first)} reached {target:g} test accuracy first, in {first['seconds_to_target']:.3g} s"
    if len(reached) > 1:
        text += (f" ({reached[1]['seconds_to_target'] / max(first['seconds_to_target'], 1e-9):.1f}x sooner than "
                 f"{mode_label(reached[1])}, the next)")
    for p in (p for p in peers.PEERS if f"{p}_ratio" in rows[0]):
        times = [r[p + "_seconds_to_target"] for r in rows if r.get(p + "_seconds_to_target") is not None]
        ratio = f"{min(times) / max(first['seconds_to_target'], 1e-9):.1f}x" if times else ""
        text += f"; {p}'s fastest mode took {min(times):.3g} s ({ratio} as long)" if times else f"; {p} did not reach it"
    return text + f"; {throughput}."


def per_run(runs, rows):
    """Every run of every configuration, each with its configuration's peer figures (the
    peers run once per configuration)."""
    out = []
    for summary, configuration in zip(rows, runs.values()):
        shared = {k: v for k, v in summary.items() if k.split("_")[0] in peers.PEERS}
        out += [{**run, **shared, "repeats": len(configuration)} for run in configuration]
    return out


def write_csv(path, rows, env):
    """One line per configuration, with the environment (versions, threads, dtype, CPU) in each;
    through atomic_write, so a failure part-way keeps the previous file."""
    import csv

    env_fields = ("fastnn", "numba", "numpy", "python", "threads", "cpu", "gpu")
    fields = CSV_FIELDS + peer_fields(rows)
    with atomic_write(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields + env_fields)
        for r in rows:
            w.writerow([r.get(k) for k in fields] + [env[k] for k in env_fields])


def peer_fields(rows):
    return tuple(f"{p}_{k}" for p in peers.PEERS if f"{p}_ratio" in rows[0]
                 for k in ("examples_per_s", "ratio", "test_accuracy", "seconds_to_target"))
