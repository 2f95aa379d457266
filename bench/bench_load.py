"""Several fastnn processes on one machine: does each slow the others down?

Runs a training job in one process alone, then in N processes at once (started together
after each has compiled and warmed up), and reports the median wall time of the fit in each
case and the slowdown (together / alone). Thread settings are whatever fastnn chooses by
default (or --threads). Jobs:

  small   426 x 30 (scikit-learn's breast-cancer training split in size), 100 ReLU units,
          batch 32, 50 epochs, float32
  mnist   784-128-10 tanh/softmax, batches of 128, one epoch on 20,000 MNIST digits
          (FASTNN_MNIST or ../shared/data/mnist.npz; the synthetic MNIST-shaped task otherwise)
  mnist512  the same in batches of 512, which fastnn splits over threads

    python bench/bench_load.py                # both jobs, 1 and 2 processes, 3 runs each
    python bench/bench_load.py --job small --processes 3 --repeat 5
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
JOBS = ["small", "mnist", "mnist512"]


def job_data(job):
    import numpy as np

    if job == "small":
        rng = np.random.default_rng(0)
        X = rng.normal(size=(426, 30)).astype(np.float32)
        y = (X[:, :3].sum(axis=1) > 0).astype(int)
        return X, y
    path = os.environ.get("FASTNN_MNIST", os.path.join(HERE, "..", "..", "shared", "data", "mnist.npz"))
    if os.path.exists(path):
        with np.load(path) as d:
            X, y = d["x_train"][:20000].reshape(-1, 784).astype(np.float32) / 255, d["y_train"][:20000]
    else:
        from fastnn.datasets import synthetic_mnist

        X, y = synthetic_mnist(20000, 1000)[:2]
    return X, y


def job_fit(job, X, y):
    import fastnn

    if job == "small":
        net = fastnn.Network([fastnn.Dense(100, "relu"), fastnn.Dense(2, "softmax")], seed=0)
        return lambda: net.fit(X, y, batch_size=32, epochs=50, lr=0.01)
    net = fastnn.Network([fastnn.Dense(128, "tanh"), fastnn.Dense(10, "softmax")], seed=0)
    return lambda: net.fit(X, y, batch_size=512 if job == "mnist512" else 128, epochs=1, lr=0.05)


def worker(job, start_at):
    """One process: warm up, wait for the common start, time the fit; prints JSON."""
    X, y = job_data(job)
    fit = job_fit(job, X, y)
    fit()  # compile (or load from the cache) and touch every buffer once
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.perf_counter()
    fit()
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def run(job, n_proc, threads):
    env = dict(os.environ)
    if threads:
        env["NUMBA_NUM_THREADS"] = str(threads)
    start_at = time.time() + 8.0  # time for every process to import and warm up
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", job, str(start_at)], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(n_proc)]
    out = [json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1])["seconds"] for p in procs]
    return max(out)  # the time until the last of them is done


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        return worker(sys.argv[2], float(sys.argv[3]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--job", choices=JOBS, action="append")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="NUMBA_NUM_THREADS for every process (default: unset)")
    args = ap.parse_args()
    print(f"{os.cpu_count()} logical cores; NUMBA_NUM_THREADS={args.threads or os.environ.get('NUMBA_NUM_THREADS', 'default')}")
    print(f"{'job':<7}{'alone s':>10}{f'{args.processes} at once s':>16}{'slowdown':>10}")
    for job in args.job or JOBS:
        alone = statistics.median(run(job, 1, args.threads) for _ in range(args.repeat))
        together = statistics.median(run(job, args.processes, args.threads) for _ in range(args.repeat))
        print(f"{job:<7}{alone:>10.4f}{together:>16.4f}{together / alone:>9.2f}x", flush=True)


if __name__ == "__main__":
    main()
