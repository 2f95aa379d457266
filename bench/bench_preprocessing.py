"""Time to fit and apply the preprocessing on all of MNIST (60,000 x 784).

    python bench/bench_preprocessing.py [--repeat 3]

Standardizer, then PCA(0.95, whiten=True) fitted on its output, as Network.fit does it;
float32 data, NumPy's BLAS with its default threads. Median of ``repeat`` runs.
"""
import argparse
import statistics
import time


from bench_vs_torch import load
from fastnn.preprocessing import PCA, Standardizer


def timed(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=60000)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    x, _, source = load(a.n)
    print(f"data: {source}, {x.shape[0]} x {x.shape[1]} {x.dtype}; median of {a.repeat}")
    t_std, std = timed(lambda: Standardizer().fit(x), a.repeat)
    z = std.transform(x)
    t_pca, pca = timed(lambda: PCA(0.95, whiten=True).fit(z), a.repeat)
    t_apply, _ = timed(lambda: pca.transform(std.transform(x)), a.repeat)
    print(f"Standardizer.fit          {t_std:6.2f} s")
    print(f"PCA(0.95, whiten).fit     {t_pca:6.2f} s  ({pca.components_.shape[0]} components)")
    print(f"transform, both steps     {t_apply:6.2f} s")
    print(f"total                     {t_std + t_pca + t_apply:6.2f} s")


if __name__ == "__main__":
    main()
