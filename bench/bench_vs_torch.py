"""fastnn against PyTorch (eager, a normal training loop) in one process, same data and network.

    python bench/bench_vs_torch.py [--threads 1] [--n 20000] [--repeat 5]

Real MNIST from $FASTNN_MNIST or ../shared/data/mnist.npz (the synthetic task otherwise).
--threads sets Numba's threads (fastnn splits chunks of 32 or more examples over them), the
BLAS threads and PyTorch's.
784-128-10 tanh / softmax, cross-entropy, plain SGD, float32; online and mini-batches of
8, 32, 128, 512; plus 64-32-10 online on MNIST shrunk to 8x8. Each figure is the median of
``repeat`` epochs after a warm-up epoch (compilation apart). PyTorch rows are skipped, with
a note, when torch is not installed.
"""
import argparse
import os
import statistics
import time
from pathlib import Path

import numba
import numpy as np
from threadpoolctl import threadpool_limits

import fastnn
from fastnn import datasets

HERE = Path(__file__).resolve().parent


def load(n):
    path = Path(os.environ.get("FASTNN_MNIST", HERE.parent.parent / "shared" / "data" / "mnist.npz"))
    if path.exists():
        x, y, _, _ = datasets.load_npz(path)
        return x[:n], y[:n], f"MNIST ({path})"
    x, y, _, _ = datasets.synthetic_mnist(n, 1000)
    return x, y, "synthetic MNIST-shaped task (MNIST not found)"


def shrink_to_8x8(x):
    """28x28 -> crop 24x24 -> 3x3 block means: 64 inputs, like the classic 8x8 digits."""
    img = x.reshape(-1, 28, 28)[:, 2:26, 2:26].reshape(-1, 8, 3, 8, 3)
    return np.ascontiguousarray(img.mean(axis=(2, 4)).reshape(-1, 64), dtype=np.float32)


def time_fastnn(x, y, hidden, batch, repeat, lr=0.01):
    net = fastnn.Network([fastnn.Dense(hidden, activation="tanh"), fastnn.Dense(10, activation="softmax")], seed=0)
    mode = "online" if batch == 1 else "minibatch"
    net.fit(x, y, mode=mode, batch_size=batch, epochs=1, lr=lr)  # warm-up (compiles or loads the cache)
    net.fit(x, y, mode=mode, batch_size=batch, epochs=repeat, lr=lr)
    return len(x) / statistics.median(net.history_["time"])


def time_torch(torch, x, y, hidden, batch, repeat, lr=0.01):
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 10))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    X, Y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    times = []
    for _ in range(repeat + 1):
        order = torch.randperm(len(X))
        t0 = time.perf_counter()
        for s in range(0, len(X), batch):
            idx = order[s : s + batch]
            opt.zero_grad()
            loss_fn(model(X[idx]), Y[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return len(X) / statistics.median(times[1:])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--n", type=int, default=20000, help="training examples per epoch (fastnn)")
    p.add_argument("--n-torch-online", type=int, default=4000, help="examples per online epoch for PyTorch (it is slow)")
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    try:
        import torch
        torch.set_num_threads(a.threads)
    except ImportError:
        torch = None
    x, y, source = load(a.n)
    x8 = shrink_to_8x8(x) if x.shape[1] == 784 else None
    print(f"data: {source}; float32; {a.threads} thread(s); median of {a.repeat} epochs; fastnn {fastnn.__version__}"
          + (f", torch {torch.__version__}" if torch else ", torch not installed (pip install torch)"))
    print(f"{'network':<12}{'batch':>6}{'fastnn ex/s':>14}{'torch ex/s':>13}{'ratio':>8}")
    runs = [(784, 128, b) for b in (1, 8, 32, 128, 512)] + ([(64, 32, 1)] if x8 is not None else [])
    numba.set_num_threads(a.threads)
    ours, theirs = [], []
    with threadpool_limits(a.threads):
        # All fastnn runs first: PyTorch's OpenMP threads keep spinning for a while after
        # each call and would steal the second core from whatever runs next.
        for n_in, hidden, batch in runs:
            ours.append(time_fastnn(x if n_in == 784 else x8, y, hidden, batch, a.repeat))
        for n_in, hidden, batch in runs:
            xs = x if n_in == 784 else x8
            m = a.n_torch_online if batch == 1 else len(xs)
            theirs.append(time_torch(torch, xs[:m], y[:m], hidden, batch, a.repeat) if torch else None)
    for (n_in, hidden, batch), mine, peer in zip(runs, ours, theirs):
        t = f"{peer:>13,.0f}{mine / peer:>8.1f}" if peer else f"{'-':>13}{'-':>8}"
        print(f"{f'{n_in}-{hidden}-10':<12}{batch:>6}{mine:>14,.0f}{t}")

if __name__ == "__main__":
    main()
