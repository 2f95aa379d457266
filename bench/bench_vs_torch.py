"""fastnn against PyTorch (eager, a normal training loop) in one process, same data and network.

    python bench/bench_vs_torch.py [--threads 1 2] [--runs 3] [--n 20000] [--repeat 3]

Real MNIST from $FASTNN_MNIST or ../shared/data/mnist.npz (the synthetic task otherwise), raw
pixels / 255 (about 80% zeros). --threads sets Numba's threads (fastnn splits chunks of 32 or
more examples over them), the BLAS threads and PyTorch's; each count is a table of its own.
784-128-10 tanh / softmax, cross-entropy, plain SGD, float32; online and mini-batches of
8, 32, 128, 512; 64-32-10 online on MNIST shrunk to 8x8; and mini-batches of 512 on dense
random inputs against the GEMM limit: the same five matrix products per batch (forward, the
error sent down, both weight gradients) alone, torch.mm, which no training loop can beat.
Each figure is the median of ``repeat`` epochs after a warm-up epoch (compilation apart);
``runs`` independent runs of the whole table give the ranges printed. PyTorch rows are
skipped, with a note, when torch is not installed.
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


def time_gemm_limit(torch, x, hidden, batch, repeat):
    """Examples/s of the five matrix products of a 784-hidden-10 SGD step alone (torch.mm into
    preallocated outputs), over an epoch of x in batches: the ceiling of any training loop."""
    g = torch.Generator().manual_seed(0)
    W1, W2 = torch.randn(x.shape[1], hidden, generator=g), torch.randn(hidden, 10, generator=g)
    X = torch.from_numpy(x)
    H, Z2 = torch.empty(batch, hidden), torch.empty(batch, 10)
    dH, dW1, dW2 = torch.empty(batch, hidden), torch.empty_like(W1), torch.empty_like(W2)
    times = []
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        for s in range(0, len(X) - batch + 1, batch):
            Xb = X[s : s + batch]
            torch.mm(Xb, W1, out=H)
            torch.mm(H, W2, out=Z2)
            torch.mm(Z2, W2.T, out=dH)
            torch.mm(H.T, Z2, out=dW2)
            torch.mm(Xb.T, dH, out=dW1)
        times.append(time.perf_counter() - t0)
    return (len(X) // batch * batch) / statistics.median(times[1:])


# (label, inputs, hidden units, batch size); "dense" rows run on dense random inputs and are
# compared with the GEMM limit instead of PyTorch's training loop.
ROWS = [("784-128-10", "mnist", 128, b) for b in (1, 8, 32, 128, 512)] + [
    ("64-32-10", "mnist8x8", 32, 1), ("784-128-10 dense", "dense", 128, 512)]


def run_table(torch, inputs, y, a):
    """(fastnn ex/s, peer ex/s) for every row, one run."""
    ours, theirs = [], []
    # All fastnn runs first: PyTorch's OpenMP threads keep spinning for a while after each
    # call and would steal the second core from whatever runs next.
    for _, kind, hidden, batch in ROWS:
        ours.append(time_fastnn(inputs[kind], y, hidden, batch, a.repeat))
    for _, kind, hidden, batch in ROWS:
        xs = inputs[kind]
        m = a.n_torch_online if batch == 1 else len(xs)
        if torch is None:
            theirs.append(None)
        elif kind == "dense":
            theirs.append(time_gemm_limit(torch, xs, hidden, batch, a.repeat))
        else:
            theirs.append(time_torch(torch, xs[:m], y[:m], hidden, batch, a.repeat))
    return ours, theirs


def spread(values):
    med = statistics.median(values)
    return f"{med:>10,.0f} ({min(values) / med - 1:+.0%} {max(values) / med - 1:+.0%})"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1])
    p.add_argument("--runs", type=int, default=3, help="independent runs of the whole table (ranges)")
    p.add_argument("--n", type=int, default=20000, help="training examples per epoch (fastnn)")
    p.add_argument("--n-torch-online", type=int, default=4000,
                   help="examples per online epoch for PyTorch (it is slow)")
    p.add_argument("--repeat", type=int, default=3, help="timed epochs per figure (median)")
    a = p.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    x, y, source = load(a.n)
    inputs = {"mnist": x, "dense": np.random.default_rng(0).uniform(-1, 1, x.shape).astype(np.float32)}
    if x.shape[1] == 784:
        inputs["mnist8x8"] = shrink_to_8x8(x)
    rows = [r for r in ROWS if r[1] in inputs]
    for threads in a.threads:
        if torch:
            torch.set_num_threads(threads)
        numba.set_num_threads(threads)
        with threadpool_limits(threads):
            results = [run_table(torch, inputs, y, a) for _ in range(a.runs)]
        print(f"\ndata: {source}; float32; {threads} thread(s); median of {a.repeat} epochs, {a.runs} runs "
              f"(median, range); fastnn {fastnn.__version__}"
              + (f", torch {torch.__version__}" if torch else ", torch not installed (pip install torch)"))
        print(f"{'network':<18}{'batch':>6}{'fastnn ex/s':>23}{'peer ex/s':>23}{'ratio':>13}")
        for i, (label, kind, hidden, batch) in enumerate(rows):
            mine = [r[0][i] for r in results]
            peer = [r[1][i] for r in results]
            line = f"{label:<18}{batch:>6}{spread(mine):>23}"
            if peer[0]:
                ratios = [m / q for m, q in zip(mine, peer)]
                line += f"{spread(peer):>23}{min(ratios):>7.2f}-{max(ratios):<5.2f}"
                line += "  (peer: GEMM limit)" if kind == "dense" else ""
            print(line)

if __name__ == "__main__":
    main()
