"""Where do threads pay? Training throughput with each chunk on one thread against split over
all of Numba's threads, per network and batch size: the break-even behind
fastnn._threads.PARALLEL_MIN_WORK (multiply-adds per chunk).

Random dense inputs (BLAS for every layer), or with --mnist real MNIST pixels / 255 (80%
zeros: the first layer skips them in compiled loops), float32, plain SGD, median of --repeat
epochs after a warm-up, one process, run on an otherwise idle machine.

    python bench/bench_threads.py            # NUMBA_NUM_THREADS=all cores
    python bench/bench_threads.py --mnist    # 784-128-10 on MNIST (FASTNN_MNIST or ../shared/data)
"""
import argparse
import os
import statistics
import sys
import time

import numba
import numpy as np

import fastnn
from fastnn import _threads

SHAPES = [(30, 100, 2), (64, 32, 10), (784, 128, 10), (784, 512, 10)]
BATCHES = [16, 32, 64, 128, 256, 512]


def inputs(widths, n, mnist):
    if mnist:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_load import job_data

        X, y = job_data("mnist")
        return X[:n], y[:n]
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, widths[0])).astype(np.float32), np.arange(n) % widths[-1]


def throughput(widths, batch, n, repeat, mnist):
    X, y = inputs(widths, n, mnist)
    net = fastnn.Network([fastnn.Dense(widths[1], "tanh"), fastnn.Dense(widths[2], "softmax")], seed=0)
    net.fit(X[:batch * 2], y[:batch * 2], batch_size=batch, epochs=1, lr=0.01)  # compile / warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        net.fit(X, y, batch_size=batch, epochs=1, lr=0.01)
        times.append(time.perf_counter() - t0)
    return n / statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--examples", type=int, default=8192)
    ap.add_argument("--mnist", action="store_true", help="784-128-10 on real MNIST instead of random inputs")
    args = ap.parse_args()
    shapes = [(784, 128, 10)] if args.mnist else SHAPES
    print(f"{numba.get_num_threads()} threads, float32, {args.examples} examples per epoch, median of {args.repeat}")
    print(f"{'network':<12}{'batch':>6}{'work/chunk':>12}{'1 thread ex/s':>15}{'split ex/s':>12}{'split/1':>9}")
    for widths in shapes:
        for batch in BATCHES:
            work = batch * (widths[0] * widths[1] + widths[1] * widths[2])
            figures = []
            for min_work, rows in ((float("inf"), 10**9), (0, 16)):  # never split; split every chunk of 32+
                _threads.PARALLEL_MIN_WORK, _threads.ROWS_PER_PART = min_work, rows
                figures.append(throughput(widths, batch, args.examples, args.repeat, args.mnist))
            print(f"{'-'.join(map(str, widths)):<12}{batch:>6}{work:>12.3g}{figures[0]:>15,.0f}{figures[1]:>12,.0f}"
                  f"{figures[1] / figures[0]:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
