"""device="cuda" without numba-cuda or without a GPU: a clear error, nothing changed; CPU users never import CUDA."""
import importlib.util
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import device
from tests.test_training import data, tiny


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match=r"device must be one of \('cpu', 'cuda'\), got 'gpu'"):
        fastnn.Network([fastnn.Dense(2, "softmax")], device="gpu")


def test_missing_numba_cuda_is_named(monkeypatch):
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numba_cuda" else real(name, *a))
    with pytest.raises(RuntimeError, match=r"device='cuda' needs the optional numba-cuda package.*fastnn\[cuda\]"):
        fastnn.Network([fastnn.Dense(2, "softmax")], device="cuda")
    X, y = data()
    net = tiny(input_dim=5)
    before = net.get_weights()
    with pytest.raises(RuntimeError, match="numba-cuda"):
        net.fit(X, y, device="cuda")
    for got, want in zip(net.get_weights(), before):
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
    assert net.history_ == {}


def test_missing_gpu_is_named(monkeypatch):
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "numba_cuda" else real(name, *a))
    from numba import cuda

    monkeypatch.setattr(cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="numba-cuda is installed but finds no usable NVIDIA GPU"):
        device.check("cuda")
    assert "no NVIDIA GPU" in device.describe()


def test_cpu_training_never_imports_cuda():
    code = ("import sys, numpy as np, fastnn\n"
            "X = np.random.default_rng(0).normal(size=(20, 4)); y = (X[:, 0] > 0).astype(int)\n"
            "net = fastnn.Network([fastnn.Dense(3, 'tanh'), fastnn.Dense(2, 'softmax')], seed=0)\n"
            "net.fit(X, y, mode='online'); net.predict(X)\n"
            "assert not [m for m in sys.modules if m.startswith(('numba.cuda', 'numba_cuda', 'fastnn.cuda'))]\n")
    subprocess.run([sys.executable, "-c", code], check=True)
