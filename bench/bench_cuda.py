"""fastnn on an NVIDIA GPU against fastnn on the CPU and PyTorch on the same GPU.

    python bench/bench_cuda.py [--n 20000] [--n-online-torch 3000] [--repeat 3] [--json out.json]

784-128-10 (tanh, softmax), float32, plain SGD, MNIST from $FASTNN_MNIST or ../shared/data/mnist.npz
(the synthetic MNIST-shaped task otherwise). Online and mini-batches of 8, 32, 128, 512: median of
``repeat`` epochs after a warm-up epoch (compilation and the copy of the data to the GPU apart;
the figures include bringing the weights back after each epoch). fastnn's CPU figures on one
thread. PyTorch's per-example loop is slow: its online figure is timed on --n-online-torch
examples. Goals (issue 7): mini-batch >= PyTorch up to batch 128, online >= 10x PyTorch.
"""
import argparse
import json
import statistics
import time

import numba

from fastnn import bench, peers
from fastnn.device import check, describe
from bench_vs_torch import load

BATCHES = (1, 8, 32, 128, 512)


def fastnn_rate(x, y, batch, repeat, device):
    """(examples/s, seconds of the warm-up fit: compilation included)."""
    net = bench.build((128,), "tanh", 10, "float32", seed=0, device=device)
    mode = "online" if batch == 1 else "minibatch"
    lr = bench.default_lr(batch, len(x))
    t0 = time.perf_counter()
    net.fit(x, y, mode=mode, batch_size=batch, epochs=1, lr=lr)
    warm = time.perf_counter() - t0
    net.fit(x, y, mode=mode, batch_size=batch, epochs=repeat, lr=lr)
    return len(x) / statistics.median(net.history_["time"]), warm


def torch_rate(x, y, batch, repeat):
    """PyTorch on the GPU from fastnn's initial weights, or None when it sees no GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    weights = bench.build((128,), "tanh", 10, "float32", seed=0, input_dim=x.shape[1]).get_weights()
    figures = peers.run("torch", (x, y, x[:1000], y[:1000]), (128,), "tanh", batch, repeat, bench.default_lr(batch, len(x)),
                        1, weights, dtype="float32", device="cuda")
    return figures["examples_per_s"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--n-online-torch", type=int, default=3000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    try:
        check("cuda")
    except RuntimeError as e:
        raise SystemExit(f"bench_cuda: {e}")
    numba.set_num_threads(1)
    x, y, source = load(a.n)
    print(f"data: {source}; 784-128-10 tanh/softmax; float32; GPU: {describe()}; CPU: 1 thread, {bench.cpu_model()}")
    print(f"{'batch':>6}{'GPU ex/s':>12}{'CPU ex/s':>12}{'torch GPU':>12}{'vs torch':>10}{'GPU warm-up s':>15}")
    rows = []
    for batch in BATCHES:
        gpu, warm = fastnn_rate(x, y, batch, a.repeat, "cuda")
        cpu, _ = fastnn_rate(x, y, batch, a.repeat, "cpu")
        n_torch = a.n_online_torch if batch == 1 else len(x)
        try:
            torch = torch_rate(x[:n_torch], y[:n_torch], batch, a.repeat)
        except ImportError:
            torch = None
        ratio = f"{gpu / torch:.1f}x" if torch else "-"
        print(f"{batch:>6}{gpu:>12,.0f}{cpu:>12,.0f}{torch or float('nan'):>12,.0f}{ratio:>10}{warm:>15.1f}", flush=True)
        rows.append({"batch_size": batch, "fastnn_gpu": gpu, "fastnn_cpu": cpu, "torch_gpu": torch, "gpu_warm_up_s": warm})
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"data": source, "gpu": describe(), "cpu": bench.cpu_model(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
