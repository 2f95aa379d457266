"""Weighted fits (sample_weight) on device="cuda" against the CPU path (same seed, same order)."""
import numpy as np
import pytest

from tests.cuda.conftest import require_cuda

require_cuda()

from tests.cuda.test_cuda_training import assert_same_training, fit_both, sparse_data  # noqa: E402
from tests.test_training import tiny  # noqa: E402


@pytest.mark.parametrize("mode,batch_size", [("online", None), ("minibatch", 5)])
@pytest.mark.parametrize("out,loss", [("softmax", "cross_entropy"), ("prelu", "mse")])
def test_weighted_fit_matches_cpu(mode, batch_size, out, loss):
    """Oracle: the CPU fit with the same weights and seed (checked against NumPy in tests/test_sample_weight.py)."""
    X, y = sparse_data()
    if loss == "mse":
        y = np.stack([X[:, 0] - X[:, 1], X[:, 2], X[:, 3] * X[:, 4]], axis=1)
    w = np.random.default_rng(1).uniform(0.0, 3.0, size=len(X))
    w[2] = 0.0
    cpu, gpu = fit_both(lambda: tiny(out=out, loss=loss, seed=3), X, y, mode=mode, batch_size=batch_size, epochs=2,
                        lr=0.05, sample_weight=w)
    assert_same_training(cpu, gpu)
