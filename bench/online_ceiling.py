"""How fast can online learning go on this machine? A bare, hand-specialised loop against
fastnn's general engine, same data and network, in one process: 64-32-10 on MNIST shrunk to
8x8, and 784-128-10 on MNIST itself.

    python bench/online_ceiling.py [--repeat 5]

The bare loop is one @njit function written for exactly these networks (tanh hidden layer,
softmax output, cross-entropy, plain SGD, float32, skipping zero inputs), with nothing
general in it: no layer list, no activation codes, no chunking. It is the ceiling that a
general engine approaches from below, and the evidence behind the engine issue's note that
1,000,000 examples/s for 64-32-10 online is beyond one core of these machines. Not a second
implementation to maintain: nothing in fastnn calls it.
"""
import argparse
import statistics
import time

import numpy as np
from numba import njit

import fastnn
from fastnn.kernels.mathfn import fast_exp, fast_tanh
from bench_vs_torch import load, shrink_to_8x8


@njit(error_model="numpy")
def bare_epoch(X, y, order, W1, b1, W2, b2, lr):
    n_in, H = W1.shape
    O = W2.shape[1]
    h = np.empty(H, np.float32)
    p = np.empty(O, np.float32)
    d1 = np.empty(H, np.float32)
    for i in order:
        x = X[i]
        h[:] = b1
        for k in range(n_in):
            if x[k] != 0:
                for j in range(H):
                    h[j] += x[k] * W1[k, j]
        for j in range(H):
            h[j] = fast_tanh(h[j])
        p[:] = b2
        for k in range(H):
            for j in range(O):
                p[j] += h[k] * W2[k, j]
        m = p.max()
        s = np.float32(0)
        for j in range(O):
            p[j] = fast_exp(p[j] - m)
            s += p[j]
        for j in range(O):
            p[j] /= s
        p[y[i]] -= 1  # output delta of softmax + cross-entropy
        for k in range(H):
            acc = np.float32(0)
            for j in range(O):
                acc += W2[k, j] * p[j]
            d1[k] = acc * (1 - h[k] * h[k])
        for k in range(H):
            for j in range(O):
                W2[k, j] -= lr * h[k] * p[j]
        b2 -= lr * p
        for k in range(n_in):
            if x[k] != 0:
                for j in range(H):
                    W1[k, j] -= lr * x[k] * d1[j]
        b1 -= lr * d1


def time_bare(x, y, hidden, repeat, lr=np.float32(0.01)):
    rng = np.random.default_rng(0)
    W1 = (rng.standard_normal((x.shape[1], hidden)) / np.sqrt(x.shape[1])).astype(np.float32)
    W2 = (rng.standard_normal((hidden, 10)) / np.sqrt(hidden)).astype(np.float32)
    b1, b2 = np.zeros(hidden, np.float32), np.zeros(10, np.float32)
    times = []
    for _ in range(repeat + 1):  # the first call compiles
        order = rng.permutation(len(x))
        t0 = time.perf_counter()
        bare_epoch(x, y, order, W1, b1, W2, b2, lr)
        times.append(time.perf_counter() - t0)
    return len(x) / statistics.median(times[1:])


def time_fastnn(x, y, hidden, repeat):
    net = fastnn.Network([fastnn.Dense(hidden, activation="tanh"), fastnn.Dense(10, activation="softmax")], seed=0)
    net.fit(x, y, mode="online", epochs=1, lr=0.01)
    net.fit(x, y, mode="online", epochs=repeat, lr=0.01)
    return len(x) / statistics.median(net.history_["time"])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=60000)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    x, y, source = load(a.n)
    x8 = shrink_to_8x8(x)
    y = np.asarray(y, dtype=np.int64)
    print(f"data: {source}; tanh/softmax online; float32; 1 thread; median of {a.repeat} epochs")
    for label, inputs, hidden in (("64-32-10 (8x8)", x8, 32), ("784-128-10", x, 128)):
        print(f"{label:<16} bare loop: {time_bare(inputs, y, hidden, a.repeat):>9,.0f} examples/s   "
              f"fastnn: {time_fastnn(inputs, y, hidden, a.repeat):>9,.0f} examples/s")


if __name__ == "__main__":
    main()
