"""Cost of batch normalization per epoch, and prediction with it folded into W and b.

    python bench/bench_batchnorm.py [--n 20000] [--repeat 5]

784-128-64-10 (tanh hidden layers), MNIST from $FASTNN_MNIST or ../shared/data/mnist.npz (the
synthetic task otherwise), float32, one thread, plain SGD; median of ``repeat`` epochs after a
warm-up epoch (compilation apart). Prediction: median of 5 passes over the data.
"""
import argparse
import statistics
import time

import numba

import fastnn
from bench_vs_torch import load


def build(bn):
    hidden = [fastnn.Dense(u, activation="tanh", batch_norm=bn) for u in (128, 64)]
    return fastnn.Network(hidden + [fastnn.Dense(10, activation="softmax")], seed=0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    numba.set_num_threads(1)
    x, y, source = load(a.n)
    print(f"data: {source}; 784-128-64-10 tanh/softmax; float32; 1 thread; median of {a.repeat} epochs")
    print(f"{'batch':>5}  {'batch norm':<11}{'train ex/s':>12}{'predict ex/s':>14}{'loss':>8}")
    for batch in (32, 128):
        for bn in (False, True):
            net = build(bn)
            net.fit(x, y, batch_size=batch, epochs=1, lr=0.05)
            net.fit(x, y, batch_size=batch, epochs=a.repeat, lr=0.05)
            train = len(x) / statistics.median(net.history_["time"])
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                net.predict(x)
                times.append(time.perf_counter() - t0)
            pred = len(x) / statistics.median(times)
            print(f"{batch:>5}  {'yes' if bn else 'no':<11}{train:>12,.0f}{pred:>14,.0f}{net.history_['loss'][-1]:>8.3f}")


if __name__ == "__main__":
    main()
