"""Kernel-level properties: the two matrix-product paths agree, RReLU's training path."""
import numpy as np
import pytest

import fastnn
from fastnn import _threads, network
from fastnn._threads import Plan
from fastnn.kernels import train as k
from fastnn.kernels.activations import uniform_hash
from fastnn._targets import Targets


def small_net(hidden="tanh", dtype="float64"):
    return fastnn.Network([fastnn.Dense(13, activation=hidden), fastnn.Dense(7, activation="relu"),
                           fastnn.Dense(3, activation="softmax")], dtype=dtype, seed=5, input_dim=5)


def sparse_data(rng, n=41):
    X = rng.normal(size=(n, 5)) * (rng.random((n, 5)) < 0.3)  # mostly zeros: exercises the skip lists
    return X, np.arange(n) % 3


@pytest.mark.parametrize("hidden", ["tanh", "prelu", "relu"])
def test_blas_and_row_loops_agree(monkeypatch, hidden):
    rng = np.random.default_rng(0)
    X, y = sparse_data(rng)
    net = small_net(hidden)
    monkeypatch.setattr(network, "BLAS_MIN_ROWS", 10**9)
    loops = net.loss_and_gradients(X, y), net.forward(X)
    monkeypatch.setattr(network, "BLAS_MIN_ROWS", 1)
    monkeypatch.setattr(network, "SPARSE_INPUT_DENSITY", 0.0)
    blas = net.loss_and_gradients(X, y), net.forward(X)
    assert network.Network._plan(net, X, 256)[1].all()  # really on the BLAS path now
    assert loops[0][0] == pytest.approx(blas[0][0], rel=1e-12)
    for g1, g2 in zip(loops[0][1], blas[0][1]):
        for name in g1:
            np.testing.assert_allclose(g1[name], g2[name], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(loops[1], blas[1], rtol=1e-12)


def test_chunked_gradient_equals_single_chunk(monkeypatch):
    rng = np.random.default_rng(1)
    X, y = sparse_data(rng, 29)
    net = small_net()
    whole = net.loss_and_gradients(X, y)
    monkeypatch.setattr(network, "CHUNK", 4)  # 29 rows in chunks of 4: a short last chunk
    parts = net.loss_and_gradients(X, y)
    assert whole[0] == pytest.approx(parts[0], rel=1e-12)
    for g1, g2 in zip(whole[1], parts[1]):
        for name in g1:
            np.testing.assert_allclose(g1[name], g2[name], rtol=1e-10, atol=1e-14)


def test_uniform_hash_is_uniform_and_deterministic():
    u = np.array([uniform_hash(np.uint64(7), 1, r, j) for r in range(200) for j in range(50)])
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    assert uniform_hash(np.uint64(7), 1, 3, 4) == uniform_hash(np.uint64(7), 1, 3, 4)
    assert uniform_hash(np.uint64(7), 1, 3, 4) != uniform_hash(np.uint64(8), 1, 3, 4)


def test_rrelu_training_gradient_with_fixed_draws():
    """While training, RReLU slopes are random; with the draws fixed (one key) the gradient of
    the training-mode loss must still match finite differences, and differ from inference."""
    rng = np.random.default_rng(2)
    net = small_net("rrelu")
    X, y = rng.normal(size=(9, 5)), np.arange(9) % 3
    T = Targets.infer(y, "cross_entropy", "softmax", 3).encode(y, 3, np.float64)
    key = np.uint64(12345)
    plan = Plan(9, np.zeros(3, dtype=np.int64), 1, 1)  # one chunk of the 9 rows, row loops, one thread
    theta = net._theta

    def loss_grad(train):
        g = np.empty_like(theta)
        return k.loss_and_grad(theta, g, net._layout, net._act_params, plan, X, T, 1, train, key), g

    (loss, grad), (loss_inf, _) = loss_grad(True), loss_grad(False)
    assert loss != loss_inf
    eps = 1e-6
    for i in rng.choice(theta.size, 25, replace=False):
        orig = theta[i]
        theta[i] = orig + eps
        up = loss_grad(True)[0]
        theta[i] = orig - eps
        down = loss_grad(True)[0]
        theta[i] = orig
        assert grad[i] == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-7)


def test_fast_tanh_against_numpy():
    from fastnn.kernels.activations import fast_tanh
    x = np.concatenate([np.geomspace(1e-12, 30, 4000), -np.geomspace(1e-12, 30, 4000), [0.0, 400.0, -400.0]])
    t = np.array([fast_tanh(v) for v in x])
    r = np.tanh(x)
    assert np.abs(t - r).max() <= 3e-16
    big = np.abs(x) > 1e-4
    assert (np.abs(t - r)[big] / np.abs(r[big])).max() < 1e-12
    assert fast_tanh(0.0) == 0.0 and fast_tanh(400.0) == 1.0 and fast_tanh(-400.0) == -1.0


def _split_over_threads(monkeypatch, parts=3):
    """Make every chunk of >= 2 rows run as ``parts`` prange parts (uneven, more than the cores)."""
    monkeypatch.setattr(_threads, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(_threads, "ROWS_PER_PART", 1)
    monkeypatch.setattr(_threads, "threads", lambda: parts)


# The plans: row loops throughout (small batches), BLAS throughout (dense inputs), and the
# MNIST plan: a row-loop first layer reading X in place, BLAS above it.
PLANS = {"loops": [0, 0], "blas": [1, 1], "mixed": [0, 1]}


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("hidden,out,loss", [("tanh", "softmax", "cross_entropy"), ("prelu", "prelu", "mse"),
                                             ("rrelu", "logistic", "cross_entropy")])
def test_thread_parts_agree_with_one_part(monkeypatch, plan, hidden, out, loss):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(23, 5)) * (rng.random((23, 5)) < 0.5)
    n_out = 3
    y = np.arange(23) % 3 if loss == "cross_entropy" else rng.normal(size=(23, n_out))
    make = lambda: fastnn.Network([fastnn.Dense(13, activation=hidden), fastnn.Dense(n_out, activation=out)],
                                  loss=loss, dtype="float64", seed=2, input_dim=5)
    if plan != "loops":
        monkeypatch.setattr(network, "BLAS_MIN_ROWS", 1)
        monkeypatch.setattr(network, "SPARSE_INPUT_DENSITY", 0.0 if plan == "blas" else 1.0)
    serial = make()
    one = serial.loss_and_gradients(X, y), serial.forward(X)
    serial.fit(X, y, batch_size=10, epochs=2, lr=0.05)
    serial.fit(X, y, batch_size=10, epochs=1, lr=0.05, momentum=0.9)
    _split_over_threads(monkeypatch)
    parallel = make()
    assert parallel._plan(X, 10)[2] == 3 and parallel._plan(X, 10)[1].tolist() == PLANS[plan]
    many = parallel.loss_and_gradients(X, y), parallel.forward(X)
    parallel.fit(X, y, batch_size=10, epochs=2, lr=0.05)
    parallel.fit(X, y, batch_size=10, epochs=1, lr=0.05, momentum=0.9)
    assert one[0][0] == pytest.approx(many[0][0], rel=1e-12)
    np.testing.assert_allclose(one[1], many[1], rtol=1e-12)
    for g1, g2, w1, w2 in zip(one[0][1], many[0][1], serial.get_weights(), parallel.get_weights()):
        for name in g1:
            np.testing.assert_allclose(g1[name], g2[name], rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(w1[name], w2[name], rtol=1e-10, atol=1e-13)


def test_fast_exp_against_numpy():
    from fastnn.kernels.mathfn import fast_exp
    x = np.concatenate([np.linspace(-700, 700, 20001), np.linspace(-1, 1, 2001), [0.0]])
    got = np.array([fast_exp(v) for v in x])
    assert np.max(np.abs(got / np.exp(x) - 1)) < 1e-15
    assert fast_exp(-1e6) > 0.0 and np.isfinite(fast_exp(1e6))  # clamped, never 0 or inf
    assert np.isnan(fast_exp(np.nan))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_affine_and_weight_grad_against_numpy(dtype):
    """The first layer's sparse products read the chunk's rows where they lie in X (shuffled,
    one all-zero row); the weight gradient over any input range [k0, k1) uses the lists the
    forward pass made."""
    from fastnn.kernels.dense import sparse_affine, sparse_weight_grad
    rng = np.random.default_rng(6)
    X = (rng.normal(size=(12, 9)) * (rng.random((12, 9)) < 0.3)).astype(dtype)
    X[4] = 0.0
    rows = np.array([7, 4, 0, 11, 3])
    W, b = rng.normal(size=(9, 6)).astype(dtype), rng.normal(size=6).astype(dtype)
    dZ = rng.normal(size=(rows.size, 6)).astype(dtype)
    Z = np.empty((rows.size, 6), dtype)
    lists, counts = np.full((rows.size, 9), -1, np.int32), np.empty(rows.size, np.int64)
    sparse_affine(X, rows, W, b, Z, lists, counts)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(Z, X[rows] @ W + b, rtol=tol, atol=tol)
    np.testing.assert_array_equal(counts, np.count_nonzero(X[rows], axis=1))
    for k0, k1 in [(0, 9), (0, 4), (4, 9), (3, 3)]:
        dW = W.copy()
        sparse_weight_grad(X, rows, lists, counts, dZ, dW, -0.5, k0, k1)
        want = W.copy()
        want[k0:k1] -= 0.5 * (X[rows].T @ dZ)[k0:k1]
        np.testing.assert_allclose(dW, want, rtol=tol, atol=tol)
