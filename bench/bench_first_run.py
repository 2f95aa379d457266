"""A newcomer's first run: seconds until the first fits of every mode and a prediction are done.

Each measurement is a fresh Python process (so nothing is compiled in memory) that imports
fastnn and fits a 64-32-10 lecun_tanh/softmax network on 600 random sparse examples: online,
mini-batch (32) and full batch, one epoch each, then predicts. "cold" gives the process an empty
NUMBA_CACHE_DIR, so every kernel compiles; "cached" runs again on the cache the cold run left,
which is what every later run of the user pays. Threads: NUMBA_NUM_THREADS (and BLAS) at 1 and 2.
Import time is reported apart (it does not depend on the cache).

--kernels lists what each kernel costs to compile in the first cold process (inclusive: with
what it calls and compiles first; exclusive: alone), from Numba's compile events.

    python bench/bench_first_run.py                 # 1 and 2 threads, median of 3 cold and 3 cached runs
    python bench/bench_first_run.py --repeat 1 --threads 2 --kernels
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
from collections import defaultdict
t0 = time.perf_counter()
import numpy as np
from numba.core import event
incl, excl, stack = defaultdict(float), defaultdict(float), []

class Listener(event.Listener):
    def on_start(self, ev):
        stack.append([time.perf_counter(), 0.0])

    def on_end(self, ev):
        start, inner = stack.pop()
        dt = time.perf_counter() - start
        f = ev.data["dispatcher"].py_func
        name = f"{f.__module__}.{f.__qualname__}"
        incl[name] += dt
        excl[name] += dt - inner
        if stack:
            stack[-1][1] += dt

event.register("numba:compile", Listener())
import fastnn
from fastnn import Dense, Network
import_s = time.perf_counter() - t0
dtype = sys.argv[1]
rng = np.random.default_rng(0)
X = (rng.random((600, 64)) * (rng.random((600, 64)) < 0.3)).astype(dtype)
y = rng.integers(0, 10, 600)
seconds = {}
for mode, batch_size in (("online", 1), ("minibatch", 32), ("batch", 600)):
    net = Network([Dense(32, "lecun_tanh"), Dense(10, "softmax")], dtype=dtype, seed=0)
    t = time.perf_counter()
    net.fit(X, y, mode=mode, batch_size=batch_size, epochs=1, lr=0.01)
    seconds[mode] = time.perf_counter() - t
t = time.perf_counter()
net.predict(X)
seconds["predict"] = time.perf_counter() - t
kernels = sorted(((excl[k], incl[k], k) for k in excl), reverse=True)
print(json.dumps({"import_s": import_s, "seconds": seconds, "kernels": kernels}))
"""


def run(cache_dir, threads, dtype):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", CHILD, dtype], env=env, capture_output=True, text=True, timeout=900)
    if out.returncode:
        sys.exit(f"the child process failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3, help="cold and cached runs per thread count (medians)")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--kernels", action="store_true", help="per-kernel compile seconds of the first cold run")
    args = ap.parse_args()
    print(f"first fits (online, minibatch 32, batch) + predict, 64-32-10, {args.dtype}, "
          f"median of {args.repeat} fresh processes; seconds after import")
    print(f"{'threads':>7} {'cache':>7} {'total s':>8} {'spread':>13} {'online':>7} {'minibatch':>9} {'batch':>6} "
          f"{'predict':>7} {'import s':>8}")
    first, caches = None, []
    for threads in args.threads:
        for label in ("cold", "cached"):
            results = []
            for _ in range(args.repeat):
                if label == "cold":
                    caches.append(tempfile.mkdtemp(prefix="fastnn-cold-"))
                results.append(run(caches[-1], threads, args.dtype))  # cached: on what the last cold run left
                first = first or results[-1]
            totals = [sum(r["seconds"].values()) for r in results]
            med = {k: statistics.median(r["seconds"][k] for r in results) for k in results[0]["seconds"]}
            print(f"{threads:>7} {label:>7} {statistics.median(totals):>8.2f} {min(totals):>6.2f}-{max(totals):<6.2f}"
                  f"{med['online']:>7.2f} {med['minibatch']:>9.2f} {med['batch']:>6.2f} {med['predict']:>7.2f} "
                  f"{statistics.median(r['import_s'] for r in results):>8.2f}")
    for cache in caches:
        shutil.rmtree(cache, ignore_errors=True)
    if args.kernels:
        print("\ncompile seconds per kernel, first cold run (exclusive, inclusive):")
        for ex, inc, name in first["kernels"][:25]:
            print(f"{ex:7.2f} {inc:7.2f}  {name}")


if __name__ == "__main__":
    main()
