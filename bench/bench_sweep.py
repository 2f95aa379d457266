"""A study of 48 runs three ways: `fastnn sweep` on a LocalCluster of two workers, the same runs
one after another in this process, and scikit-learn's GridSearchCV of its MLPClassifier with
n_jobs=2 on the nearest grid.

Study: 4 activations (tanh, lecun_tanh, relu, elu; scikit-learn: tanh, logistic, relu, identity)
x 2 modes (online, mini-batches of 32) x 2 rates (0.01, 0.03) x 3 seeds, 784-100-10 on the first
--n-train MNIST digits (pixels / 255), --epochs epochs, tested on 10,000 test digits. Every
fit runs on one thread. Reported: wall time, runs per minute, and the per-run cost, from which
a cluster of N machines (2 workers each) would take about runs x per-run cost / (2 N) plus
Dask's per-task overhead (measured here as the sweep's wall time minus the ideal).

    python bench/bench_sweep.py                 # about 5 minutes on two idle cores
    python bench/bench_sweep.py --quick         # smoke test
    python bench/bench_sweep.py --no-sklearn
"""
import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ACTIVATIONS = ("tanh", "lecun_tanh", "relu", "elu")
SKLEARN_ACTIVATIONS = ("tanh", "logistic", "relu", "identity")


def mnist(n_train):
    path = Path(os.environ.get("FASTNN_MNIST", HERE.parent.parent / "shared" / "data" / "mnist.npz"))
    with np.load(path) as d:
        return (d["x_train"][:n_train].reshape(n_train, -1), d["y_train"][:n_train],
                d["x_test"].reshape(len(d["x_test"]), -1), d["y_test"])


def spec(data, epochs, seeds, quick):
    grid = {"layers": [f"100:{a},10:softmax" for a in ACTIVATIONS[: 2 if quick else 4]],
            "mode": ["online", "minibatch"], "lr": [0.01, 0.03], "seed": list(range(seeds))}
    return {"data": data, "epochs": epochs, "grid": grid}


def fastnn_sweep(study, workers):
    """(seconds to start the cluster, seconds of the sweep on it, rows)."""
    from dask.distributed import Client, LocalCluster

    import fastnn

    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(workers)
        t1 = time.perf_counter()
        rows = fastnn.sweep(study, client=client)
        return t1 - t0, time.perf_counter() - t1, rows


def sequential(study):
    from fastnn._sweep import driver, spec as _spec
    from fastnn._sweep.run import run_one

    fixed, grid = _spec.load(study)
    configs = _spec.runs(fixed, grid)
    table = driver._load(fixed["data"], None)
    driver.warm_up(["float32"])
    t0 = time.perf_counter()
    rows = [run_one(c, table) for c in configs]
    return time.perf_counter() - t0, rows


def sklearn_search(x, y, xt, yt, epochs, seeds, quick):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, PredefinedSplit
    from sklearn.neural_network import MLPClassifier

    X = np.vstack([x, xt]).astype(np.float32) / 255
    Y = np.concatenate([y, yt])
    fold = np.r_[np.full(len(x), -1), np.zeros(len(xt))]  # train on x, score on the test digits
    grid = {"activation": list(SKLEARN_ACTIVATIONS[: 2 if quick else 4]), "batch_size": [1, 32],
            "learning_rate_init": [0.01, 0.03], "random_state": list(range(seeds))}
    search = GridSearchCV(MLPClassifier(hidden_layer_sizes=(100,), solver="sgd", momentum=0.0, max_iter=epochs,
                                        tol=0.0, n_iter_no_change=epochs + 1),
                          grid, cv=PredefinedSplit(fold), n_jobs=2, refit=False)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, Y)
    return time.perf_counter() - t0, search.cv_results_


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-train", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--no-sklearn", dest="sklearn", action="store_false")
    ap.add_argument("--quick", action="store_true", help="2 activations, 1 seed, 2,000 digits")
    args = ap.parse_args()
    if args.quick:
        args.n_train, args.seeds = 2000, 1
    x, y, xt, yt = mnist(args.n_train)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "study.npz")
        np.savez(data, x_train=x, y_train=y, x_test=xt, y_test=yt)  # uint8: the model scales by 1/255
        study = spec(data, args.epochs, args.seeds, args.quick)
        results = {}
        start, *results["fastnn sweep, LocalCluster of 2 workers (started)"] = fastnn_sweep(study, 2)
        results["fastnn, one process, one run after another"] = sequential(study)
        if args.sklearn:
            results["scikit-learn GridSearchCV, n_jobs=2"] = sklearn_search(x, y, xt, yt, args.epochs, args.seeds,
                                                                            args.quick)
    n = len(results["fastnn, one process, one run after another"][1])
    per_run = results["fastnn, one process, one run after another"][0] / n
    print(f"{n} runs of 784-100-10, {args.n_train} MNIST digits, {args.epochs} epoch(s) each, one thread per fit, "
          f"{os.cpu_count()} cores")
    print("| how | wall s | runs/min | mean test acc |\n|---|---:|---:|---:|")
    for name, (seconds, rows) in results.items():
        if isinstance(rows, dict):
            acc = float(np.mean(rows["mean_test_score"]))
        else:
            acc = float(np.mean([float(r["test_accuracy"]) for r in rows if r.get("test_accuracy") not in (None, "")]))
        print(f"| {name} | {seconds:.1f} | {60 * n / seconds:.1f} | {acc:.4f} |")
    sweep_s = results["fastnn sweep, LocalCluster of 2 workers (started)"][0]
    overhead = (sweep_s - per_run * n / 2) / n
    print(f"starting the LocalCluster: {start:.1f} s (not in the sweep's wall time); per run: {per_run:.2f} s on one "
          f"thread; the sweep's cost per run over the ideal (runs x cost / 2 workers): {overhead:.3f} s (data "
          "scatter, worker warm-up, Dask scheduling)")
    print("a cluster of N machines with 2 workers each: about "
          f"{n} x {per_run:.2f} s / (2 N) + {overhead:.2f} s x {n} / (2 N) of scheduling")


if __name__ == "__main__":
    main()
