"""The first-compile message: said when a kernel has no machine code for the dtype, in memory
or in Numba's on-disk cache, once per process, kernel and dtype; never said once it has."""
import importlib.util
import io
import subprocess
import sys

import numpy as np
import pytest

from fastnn import _compile

KERNEL_SOURCE = '''
from numba import njit

@njit(cache=True)
def first(theta):
    return theta[0]
'''


@pytest.fixture
def fresh_kernel(tmp_path, monkeypatch):
    """A cached kernel in its own module (its cache in tmp_path/__pycache__), never compiled yet;
    the announcements of earlier tests forgotten."""
    path = tmp_path / "tiny_kernel.py"
    path.write_text(KERNEL_SOURCE)
    spec = importlib.util.spec_from_file_location("tiny_kernel", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(_compile, "_announced", set())
    return module.first, path


def test_announces_a_kernel_to_compile_once_per_dtype(fresh_kernel):
    kernel, _ = fresh_kernel
    out = io.StringIO()
    assert _compile.is_compiled(kernel, np.float32) is False
    message = _compile.announce([kernel], "float32", file=out)
    assert message == out.getvalue().strip()
    assert message.startswith("compiling fastnn's kernels for float32, once: about ")
    assert _compile.announce([kernel], "float32", file=out) is None  # once per process, kernel and dtype
    assert out.getvalue().count("compiling") == 1
    assert "for float64" in _compile.announce([kernel], "float64", file=out)  # another dtype compiles anew


def test_silent_once_compiled_in_memory_or_on_disk(fresh_kernel):
    kernel, path = fresh_kernel
    kernel(np.ones(2, np.float32))
    out = io.StringIO()
    assert _compile.is_compiled(kernel, np.float32) and not _compile.is_compiled(kernel, np.float64)
    assert _compile.announce([kernel], "float32", file=out) is None and out.getvalue() == ""
    # A new process finds the machine code in the on-disk cache: nothing to say there either.
    probe = (f"import importlib.util, numpy as np; from fastnn import _compile\n"
             f"spec = importlib.util.spec_from_file_location('tiny_kernel', {str(path)!r})\n"
             f"m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
             f"print(_compile.is_compiled(m.first, np.float32), _compile.is_compiled(m.first, np.float64))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_the_estimate_counts_a_kernel_named_twice_once(fresh_kernel, monkeypatch):
    kernel, _ = fresh_kernel
    monkeypatch.setitem(_compile.COMPILE_SECONDS, "first", 7)
    assert "about 7 s" in _compile.announce([kernel, kernel], "float64", file=io.StringIO())


@pytest.mark.parametrize("kwargs, epoch_kernel", [
    ({"mode": "minibatch", "batch_size": 4}, "train_epoch"),
    ({"mode": "online", "optimizer": "rmsprop"}, "lazy_epoch"),  # lazy first-layer rows
])
def test_fit_announces_the_kernels_it_will_run(monkeypatch, kwargs, epoch_kernel):
    from fastnn import Dense, Network

    calls = []
    monkeypatch.setattr(_compile, "announce", lambda kernels, dtype: calls.append(
        ([k.py_func.__name__ for k in kernels], dtype)))
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 5)), np.arange(12) % 3
    Network([Dense(4, "tanh"), Dense(3, "softmax")], dtype="float64", seed=0).fit(X, y, epochs=1, **kwargs)
    assert calls == [(["forward", epoch_kernel], "float64")]
