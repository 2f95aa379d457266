"""Cost of the per-weight update rules against plain SGD, per epoch, in one process.

    python bench/bench_optimizers.py [--n 20000] [--repeat 5] [--batch-sizes 1,32]

784-128-10 tanh / softmax on MNIST from $FASTNN_MNIST or ../shared/data/mnist.npz (the
synthetic task otherwise), float32, one thread. Each figure is the median of ``repeat``
epochs after a warm-up epoch (compilation apart); the ratio is epoch time over plain SGD's.
"""
import argparse
import statistics

import numba

import fastnn
from bench_vs_torch import load

RULES = [("sgd", fastnn.optimizers.SGD(), 0.01), ("sgd momentum 0.9", fastnn.optimizers.SGD(0.9), 0.002),
         ("delta_bar_delta", fastnn.optimizers.DeltaBarDelta(), 0.01), ("rmsprop", fastnn.optimizers.RMSprop(), 0.001),
         ("adam", fastnn.optimizers.Adam(), 0.001)]


def epoch_seconds(x, y, batch, opt, lr, repeat):
    net = fastnn.Network([fastnn.Dense(128, activation="tanh"), fastnn.Dense(10, activation="softmax")], seed=0)
    mode = "online" if batch == 1 else "minibatch"
    net.fit(x, y, mode=mode, batch_size=batch, epochs=1, lr=lr, optimizer=opt)  # warm-up: compile or load the cache
    net.fit(x, y, mode=mode, batch_size=batch, epochs=repeat, lr=lr, optimizer=opt)
    return statistics.median(net.history_["time"]), net.history_["loss"][-1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--batch-sizes", default="1,32")
    a = p.parse_args()
    numba.set_num_threads(1)
    x, y, source = load(a.n)
    print(f"data: {source}; 784-128-10 tanh/softmax; float32; 1 thread; median of {a.repeat} epochs")
    print(f"{'batch':>5}  {'rule':<18}{'examples/s':>12}{'vs SGD':>8}{'loss':>8}")
    for batch in (int(b) for b in a.batch_sizes.split(",")):
        base = None
        for name, opt, lr in RULES:
            sec, loss = epoch_seconds(x, y, batch, opt, lr, a.repeat)
            base = base or sec
            print(f"{batch:>5}  {name:<18}{len(x) / sec:>12,.0f}{sec / base:>8.2f}{loss:>8.3f}")


if __name__ == "__main__":
    main()
