"""fastnn.sklearn.MLPClassifier against scikit-learn's MLPClassifier: test accuracy and speed,
same parameters, same data, same process, one thread each.

Data sets (float64, scikit-learn's default dtype):
  digits   load_digits, X / 16; train_test_split(random_state=0, stratified), 25% test
  cancer   load_breast_cancer, z-scored by a StandardScaler fitted on the train split; same split
  mnist    the first --mnist-train training digits, pixels / 255, and the first --mnist-test
           test digits (FASTNN_MNIST or ../shared/data/mnist.npz; skipped with a note if absent)
Configurations (hidden_layer_sizes=(100,), relu, alpha=1e-4 and every other default):
  online    solver="sgd", batch_size=1, momentum=0, learning_rate_init=0.01, a fixed number of
            epochs (tol=0, n_iter_no_change=max_iter: both run exactly max_iter epochs)
  batch32   solver="sgd", batch_size=32, momentum=0.9 (Nesterov), learning_rate_init=0.01,
            fixed epochs as online
  defaults  the constructor's defaults (adam, batch_size="auto" = 200, max_iter=200, tol=1e-4):
            each library stops when its own loss stops improving, so epochs may differ
  online0   online with alpha=0 (not run unless asked for: --configs online0); with alpha > 0
            every online step decays all 79,400 weights (MNIST); with alpha=0 fastnn updates
            only the first-layer weights of non-zero pixels
Plus a fastnn float32 row for online MNIST (--no-float32 to skip), compared with scikit-learn's
float64 row.

One thread each: numba.set_num_threads(1) and threadpoolctl.threadpool_limits(1) around both
libraries. Before the timed fits of a row, each library fits once on the first 64 training
examples (max_iter=1), untimed. fastnn's warm-up is reported apart ("warm-up s"): the first
of each dtype loads the kernels from Numba's on-disk cache (or compiles them where the cache
is cold), later ones only build the network; --cold-cache points Numba at an empty cache
directory, so the first warm-up measures the whole compilation. Fits of the two libraries
alternate, so a busy neighbour slows both alike. Each library fits --repeats times with random_state=0 and
once more with each further seed (--seeds 5: random_state 1..4); every fit is timed. "fit s"
is the median of the whole fit() call over those fits; "s/epoch" the median of fit time /
epochs; "ex/s" training examples / s/epoch; test accuracy and epochs are means over the
seeds (a test example is 0.22 points on digits, 0.70 on cancer, 0.01 on MNIST). On
fastnn rows "speed x" is fastnn's examples/s over scikit-learn's (per-epoch speed), "fit x"
scikit-learn's fit time over fastnn's (differs only where the epochs differ), "d acc" the
accuracy difference in points. The last lines check the issue's bar: test accuracy within 1
point of scikit-learn's everywhere, at least 10x its speed online, never slower at its
defaults. ConvergenceWarnings are silenced.

    python bench/bench_sklearn.py                    # all, median of 3 (about 6 minutes on an idle core)
    python bench/bench_sklearn.py --quick            # smoke test (15 s): MNIST 2,000, 1 repeat, few epochs
    python bench/bench_sklearn.py --seeds 3 --json sklearn.json
    python bench/bench_sklearn.py --datasets mnist --configs online online0
"""
import argparse
import atexit
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATASETS = ("digits", "cancer", "mnist")
CONFIGS = {
    "online": dict(solver="sgd", batch_size=1, momentum=0.0, learning_rate_init=0.01),
    "batch32": dict(solver="sgd", batch_size=32, momentum=0.9, learning_rate_init=0.01),
    "defaults": {},
    "online0": dict(solver="sgd", batch_size=1, momentum=0.0, learning_rate_init=0.01, alpha=0.0),
}
DEFAULT_CONFIGS = ("online", "batch32", "defaults")
# Fixed epochs (max_iter) of the sgd configurations. scikit-learn's online epoch on 10,000
# MNIST digits takes about 14 s on one core, so MNIST gets fewer.
EPOCHS = {"online": {"digits": 10, "cancer": 10, "mnist": 3},
          "batch32": {"digits": 30, "cancer": 30, "mnist": 20}}
EPOCHS["online0"] = EPOCHS["online"]
QUICK_EPOCHS = {"online": 1, "online0": 1, "batch32": 2}
QUICK_DEFAULTS_MAX_ITER = 10
WARMUP_ROWS = 64


# ----------------------------------------------------------------------------- data
def mnist_path():
    return Path(os.environ.get("FASTNN_MNIST", HERE.parent.parent / "shared" / "data" / "mnist.npz"))


def load(name, n_train, n_test):
    """(X_train, y_train, X_test, y_test) as float64, or None (MNIST absent)."""
    from sklearn.datasets import load_breast_cancer, load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if name == "mnist":
        path = mnist_path()
        if not path.exists():
            return None
        with np.load(path) as d:
            return (d["x_train"][:n_train].reshape(-1, 784) / 255.0, d["y_train"][:n_train].astype(np.int64),
                    d["x_test"][:n_test].reshape(-1, 784) / 255.0, d["y_test"][:n_test].astype(np.int64))
    X, y = (load_digits if name == "digits" else load_breast_cancer)(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    if name == "digits":
        return X_train / 16.0, y_train, X_test / 16.0, y_test
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), y_train, scaler.transform(X_test), y_test


# ----------------------------------------------------------------------------- runs
def params(config, dataset, quick):
    """Constructor parameters shared by both libraries (random_state apart)."""
    p = dict(CONFIGS[config])
    if config in EPOCHS:
        epochs = QUICK_EPOCHS[config] if quick else EPOCHS[config][dataset]
        p.update(max_iter=epochs, tol=0.0, n_iter_no_change=epochs)  # never stops early
    elif quick:
        p.update(max_iter=QUICK_DEFAULTS_MAX_ITER)
    return p


def warm_up(cls, p, X, y):
    """Seconds of one fit on the first WARMUP_ROWS examples (fastnn: compile or cache load)."""
    t0 = time.perf_counter()
    cls(**{**p, "max_iter": 1, "random_state": 0}).fit(X[:WARMUP_ROWS], y[:WARMUP_ROWS])
    return time.perf_counter() - t0


def measure(libs, p, data, seeds, repeats):
    """Fit every library ``repeats`` times with random_state=0, then once with each further
    seed, alternating libraries (and which goes first); returns per library the list of
    (seed, seconds, epochs, test accuracy %)."""
    X, y, X_test, y_test = data
    runs = {name: [] for name, _, _ in libs}
    for k, seed in enumerate([0] * (repeats - 1) + list(range(seeds))):
        for name, cls, dtype in (libs if k % 2 == 0 else libs[::-1]):
            est = cls(**p, random_state=seed)
            Xd = X.astype(dtype, copy=False)
            t0 = time.perf_counter()
            est.fit(Xd, y)
            sec = time.perf_counter() - t0
            runs[name].append((seed, sec, est.n_iter_, 100.0 * est.score(X_test.astype(dtype, copy=False), y_test)))
    return runs


def summarize(dataset, config, library, dtype, n_train, runs, warmup):
    by_seed = {}
    for seed, _, epochs, acc in runs:
        by_seed.setdefault(seed, (epochs, acc))  # fits of one seed are identical; keep the first
    sec = statistics.median(r[1] for r in runs)
    per_epoch = statistics.median(r[1] / r[2] for r in runs)
    return dict(dataset=dataset, config=config, library=library, dtype=dtype, threads=1,
                n_train=n_train, epochs=statistics.mean(e for e, _ in by_seed.values()),
                accuracy=statistics.mean(a for _, a in by_seed.values()),
                accuracy_per_seed=[a for _, a in by_seed.values()], fit_s=sec, epoch_s=per_epoch,
                examples_per_s=n_train / per_epoch, fits=len(runs), warmup_s=warmup,
                runs=[dict(seed=s, fit_s=t, epochs=e, accuracy=a) for s, t, e, a in runs])


def bench_row(dataset, config, data, args):
    from sklearn.neural_network import MLPClassifier as SkMLP

    from fastnn.sklearn import MLPClassifier as FnMLP

    p = params(config, dataset, args.quick)
    X, y = data[0], data[1]
    libs = [("fastnn", FnMLP, "float64"), ("sklearn", SkMLP, "float64")]
    if dataset == "mnist" and config == "online" and args.float32:
        libs.insert(1, ("fastnn", FnMLP, "float32"))
    libs = [(f"{name} {dtype}", cls, dtype) for name, cls, dtype in libs]
    warm = {}
    for name, cls, dtype in libs:
        warm[name] = warm_up(cls, p, X.astype(dtype), y)
    runs = measure(libs, p, data, args.seeds, args.repeats)
    rows = [summarize(dataset, config, name.split()[0], dtype, len(X), runs[name],
                      warm[name] if name.startswith("fastnn") else None) for name, _, dtype in libs]
    ref = rows[-1]
    for row in rows:
        row["speedup"] = row["examples_per_s"] / ref["examples_per_s"]
        row["fit_speedup"] = ref["fit_s"] / row["fit_s"]
        row["accuracy_diff"] = row["accuracy"] - ref["accuracy"]
        row["params"] = {k: v for k, v in p.items()}
    return rows


# ----------------------------------------------------------------------------- report
def environment(cache):
    import numba
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    import fastnn
    from fastnn.bench import cpu_model

    blas = sorted({f"{i['internal_api']} {i['version']} ({i['num_threads']} thr)" for i in threadpool_info()})
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return dict(cpu=cpu_model(), logical_cores=os.cpu_count(), usable_cores=cores, load_avg=os.getloadavg(),
                python=platform.python_version(), fastnn=fastnn.__version__, numba=numba.__version__,
                numpy=np.__version__, scipy=scipy.__version__, sklearn=sklearn.__version__,
                numba_threads=numba.get_num_threads(), numba_threading_layer=_threading_layer(), blas=blas,
                kernel_cache=cache)


def _threading_layer():
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        return "not started"


COLUMNS = ["data set", "config", "library", "dtype", "threads", "epochs", "test acc %", "d acc", "fit s", "s/epoch",
           "ex/s", "speed x", "fit x", "warm-up s"]


def fmt_row(r):
    sk = r["library"] == "sklearn"
    epochs = f"{r['epochs']:.0f}" if float(r["epochs"]).is_integer() else f"{r['epochs']:.1f}"
    return [r["dataset"], r["config"], r["library"], r["dtype"], str(r["threads"]), epochs, f"{r['accuracy']:.2f}",
            "" if sk else f"{r['accuracy_diff']:+.2f}", f"{r['fit_s']:.3f}", f"{r['epoch_s']:.4f}",
            f"{r['examples_per_s']:,.0f}", "" if sk else f"{r['speedup']:.1f}", "" if sk else f"{r['fit_speedup']:.1f}",
            "" if r["warmup_s"] is None else f"{r['warmup_s']:.2f}"]


def markdown(rows):
    right = {"threads", "epochs", "test acc %", "d acc", "fit s", "s/epoch", "ex/s", "speed x", "fit x", "warm-up s"}
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join("---:" if c in right else "---" for c in COLUMNS) + "|"]
    lines += ["| " + " | ".join(fmt_row(r)) + " |" for r in rows]
    return "\n".join(lines)


def bar(rows):
    """The issue's bar: within 1 accuracy point everywhere, >= 10x online, never slower at defaults."""
    notes = []
    for r in rows:
        if r["library"] != "fastnn":
            continue
        what = f"{r['dataset']} {r['config']} {r['dtype']}"
        if r["accuracy_diff"] < -1.0:
            notes.append(f"- MISS accuracy: {what} is {-r['accuracy_diff']:.2f} points below scikit-learn")
        if r["config"] == "online" and r["speedup"] < 10:
            notes.append(f"- MISS speed: {what} is {r['speedup']:.1f}x scikit-learn (bar: 10x)")
        if r["config"] == "defaults" and min(r["speedup"], r["fit_speedup"]) < 1:
            notes.append(f"- MISS speed: {what} at the defaults: {r['speedup']:.2f}x per epoch, "
                         f"{r['fit_speedup']:.2f}x per fit (bar: never slower)")
    return notes or ["- all rows meet the bar (accuracy within 1 point, online >= 10x, defaults >= 1x)"]


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed fits per library with random_state=0 (median); default 3, 1 with --quick")
    ap.add_argument("--seeds", type=int, default=1,
                    help="random_state 0..seeds-1, one more fit each beyond the first; accuracy is their mean")
    ap.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    ap.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(DEFAULT_CONFIGS))
    ap.add_argument("--mnist-train", type=int, default=10000)
    ap.add_argument("--mnist-test", type=int, default=10000)
    ap.add_argument("--no-float32", dest="float32", action="store_false", help="skip fastnn's float32 online MNIST row")
    ap.add_argument("--cold-cache", action="store_true", help="empty Numba cache: warm-ups measure full compilation")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 1 repeat, MNIST 2,000/2,000, 1 online and 2 batch32 epochs, max_iter=10 defaults")
    ap.add_argument("--json", metavar="FILE", help="also write settings, machine and rows as JSON")
    args = ap.parse_args()
    args.repeats = args.repeats or (1 if args.quick else 3)
    if args.repeats < 1 or args.seeds < 1:
        ap.error(f"--repeats and --seeds must be >= 1, got {args.repeats} and {args.seeds}")
    if args.quick:
        args.mnist_train, args.mnist_test = min(args.mnist_train, 2000), min(args.mnist_test, 2000)
    cache = "default (warm-up = compile or cache load)"
    if args.cold_cache:  # read when Numba is imported, so set before the first import of numba/fastnn
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastnn-bench-cache-")
        cache = "cold (an empty NUMBA_CACHE_DIR: warm-up = full compile)"
        atexit.register(shutil.rmtree, os.environ["NUMBA_CACHE_DIR"], ignore_errors=True)

    import numba
    import scipy.linalg.cython_blas  # noqa: F401  (load SciPy's BLAS now, so threadpool_limits sees it)
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    import fastnn.sklearn  # noqa: F401

    warnings.simplefilter("ignore", ConvergenceWarning)
    numba.set_num_threads(1)
    start = time.perf_counter()
    rows = []
    with threadpool_limits(1):
        env = environment(cache)
        print(f"Machine: {env['cpu']}, {env['logical_cores']} logical cores ({env['usable_cores']} usable), "
              f"load average {env['load_avg'][0]:.2f} at start")
        print(f"Versions: fastnn {env['fastnn']}, numba {env['numba']}, numpy {env['numpy']}, scipy {env['scipy']}, "
              f"scikit-learn {env['sklearn']}, Python {env['python']}; BLAS {', '.join(env['blas'])}")
        print(f"Threads: 1 per library (numba.set_num_threads(1), threadpool_limits(1)); kernel cache {cache}")
        print(f"Runs: {args.repeats} fit(s) with random_state=0 + 1 per further seed, {args.seeds} seed(s) in all; "
              "times are medians over the fits, accuracy and epochs means over the seeds"
              + ("; --quick (smoke test, not a measurement)" if args.quick else ""), flush=True)
        for dataset in args.datasets:
            data = load(dataset, args.mnist_train, args.mnist_test)
            if data is None:
                print(f"note: MNIST skipped, not found at {mnist_path()} (set FASTNN_MNIST)", flush=True)
                continue
            print(f"{dataset}: {len(data[0])} train, {len(data[2])} test, {data[0].shape[1]} features", flush=True)
            for config in args.configs:
                t0 = time.perf_counter()
                new = bench_row(dataset, config, data, args)
                rows += new
                print(f"  {config}: " + "; ".join(f"{r['library']} {r['dtype']} {r['accuracy']:.2f}% "
                                                   f"{r['fit_s']:.3f} s" for r in new)
                      + f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    elapsed = time.perf_counter() - start
    load_end = os.getloadavg()[0]
    print()
    print(markdown(rows))
    print()
    print(f"{env['cpu']}, 1 thread per library; fastnn {env['fastnn']}, numba {env['numba']}, "
          f"numpy {env['numpy']}, scikit-learn {env['sklearn']}; median of {args.repeats + args.seeds - 1} fits, "
          f"accuracy mean of {args.seeds} seed(s); "
          f"load average {env['load_avg'][0]:.2f} at start, {load_end:.2f} at end; "
          f"{elapsed:.0f} s in all.")
    print("\n".join(bar(rows)))
    if args.json:
        settings = dict(vars(args), epochs=EPOCHS, warmup_rows=WARMUP_ROWS)
        with open(args.json, "w") as f:
            json.dump(dict(settings=settings, machine=env, load_avg_end=load_end, seconds=elapsed, rows=rows), f,
                      indent=1, default=str)


if __name__ == "__main__":
    main()
