"""Batch normalization against central differences, the NumPy reference and its definitions."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastnn
from tests import reference
from tests.test_gradients import numeric_grads


def bn_net(widths=(6, 5), hidden="tanh", seed=0, momentum=0.9, n_out=3, input_dim=4):
    layers = [fastnn.Dense(w, activation=hidden, batch_norm=fastnn.BatchNorm(momentum=momentum)) for w in widths]
    return fastnn.Network(layers + [fastnn.Dense(n_out, activation="softmax")], dtype="float64", seed=seed,
                          input_dim=input_dim)


def problem(n, n_in=4, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)) * rng.uniform(0.5, 3, size=n_in) + offset
    return X, np.arange(n) % 3


def randomize(net, rng):
    w = net.get_weights()
    for d in w:
        for name in d:
            d[name] = d[name] + rng.normal(scale=0.3, size=d[name].shape)
    net.set_weights(w)


def moving_stats(net):
    out = []
    for l in range(len(net.layers)):
        s0, m = net._layout[l, 8], net.layers[l].units  # STAT_OFF
        out.append(None if s0 < 0 else (net._bn_stats[s0 : s0 + m], net._bn_stats[s0 + m : s0 + 2 * m]))
    return out


@settings(max_examples=12, deadline=None)
@given(n=st.integers(3, 9), widths=st.lists(st.integers(1, 6), min_size=1, max_size=2),
       hidden=st.sampled_from(["tanh", "prelu", "relu", "logistic"]), seed=st.integers(0, 1000))
def test_gradients_through_batch_statistics_match_central_differences(n, widths, hidden, seed):
    net = bn_net(tuple(widths), hidden, seed)
    rng = np.random.default_rng(seed)
    randomize(net, rng)
    X, y = problem(n, seed=seed)
    y = np.arange(n) % 3
    loss, grads = net.loss_and_gradients(X, y)
    expected = reference.bn_forward(net, net.get_weights(), X)
    T = np.eye(3)[y]
    assert loss == pytest.approx(-np.mean(np.sum(T * np.log(expected), axis=1)), rel=1e-10)
    numeric = numeric_grads(net, X, y)
    for g, want in zip(grads, numeric):
        assert set(g) == set(want)
        for name in want:
            np.testing.assert_allclose(g[name], want[name], rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("n,offset", [(60, 0.0), (12, 1e4)])
def test_large_and_offset_batches_match_the_reference(n, offset):
    """60 rows: BLAS and the thread split run; offset inputs (1e4 + O(1)): a one-pass sum of
    squares would lose the batch variance to cancellation."""
    net = bn_net(widths=(6, 5), hidden="prelu", seed=11)
    randomize(net, np.random.default_rng(11))
    X, y = problem(n, seed=11, offset=offset)
    loss, grads = net.loss_and_gradients(X, y)
    expected = reference.bn_forward(net, net.get_weights(), X)
    assert loss == pytest.approx(-np.mean(np.log(expected[np.arange(n), y])), rel=1e-9)
    numeric = numeric_grads(net, X, y, eps=1e-5)
    for g, want in zip(grads, numeric):
        for name in want:
            np.testing.assert_allclose(g[name], want[name], rtol=1e-4, atol=1e-6, err_msg=name)


def test_float32_keeps_a_small_spread_under_a_large_beta():
    """beta = 10 and x W of spread 1e-3: adding beta before normalising would round x W at the
    scale of beta in float32 (dgamma off by 16%); beta is added after."""
    X, y = problem(40, seed=12)
    nets = [bn_net(widths=(4,), seed=12) for _ in range(2)]
    w = nets[0].get_weights()
    w[0]["W"] *= 1e-3
    w[0]["beta"][:] = 10.0
    grads = []
    for dtype in ("float32", "float64"):
        net = fastnn.Network(nets[0].layers, dtype=dtype, input_dim=4)
        net.set_weights(w)
        grads.append(net.loss_and_gradients(X, y)[1][0]["gamma"])
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-3, atol=1e-6)


def test_constant_input_gives_no_nan():
    """A constant feature (zero batch variance at the first layer's unit) stays finite."""
    X, y = problem(12)
    X[:, :] = 3.0  # every net input of the first layer is constant over the batch
    net = bn_net()
    loss, grads = net.loss_and_gradients(X, y)
    assert np.isfinite(loss) and all(np.isfinite(v).all() for d in grads for v in d.values())
    net.fit(X, y, batch_size=4, epochs=2, lr=0.1)
    assert np.isfinite(net.history_["loss"]).all() and np.isfinite(net.forward(X)).all()


def test_inference_uses_folded_moving_statistics():
    X, y = problem(40, seed=3)
    net = bn_net(seed=3).fit(X, y, batch_size=8, epochs=3, lr=0.1)
    stats = moving_stats(net)
    want = reference.bn_forward(net, net.get_weights(), X, stats)
    np.testing.assert_allclose(net.forward(X), want, rtol=1e-10, atol=1e-12)
    assert net._inference_params()[1][:, 7].max() == -1  # GAMMA_OFF cleared: no batch norm left at inference


def test_moving_averages_follow_their_definition():
    """With a rate too small to move a weight, every batch sees the same network; the moving
    averages must be m^k (0, 1) + sum of (1 - m) m^(k-i) (batch mean, unbiased batch variance)."""
    X, y = problem(13, seed=5)
    net = bn_net(widths=(4,), seed=5, momentum=0.7)
    w = net.get_weights()
    net.fit(X, y, batch_size=4, epochs=1, lr=1e-300, shuffle=False)  # batches 4, 4, 5: the single last example joins
    assert net._opt_steps == 3
    np.testing.assert_array_equal(net.get_weights()[0]["W"], w[0]["W"])
    mean, var = np.zeros(4), np.ones(4)
    for rows in (slice(0, 4), slice(4, 8), slice(8, 13)):
        Z = X[rows] @ w[0]["W"]
        b = len(Z)
        mean = 0.7 * mean + 0.3 * Z.mean(axis=0)
        var = 0.7 * var + 0.3 * Z.var(axis=0) * b / (b - 1)
    got_mean, got_var = moving_stats(net)[0]
    np.testing.assert_allclose(got_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(got_var, var, rtol=1e-12)


def test_training_set_statistics_are_numpys_mean_and_variance():
    """Layer by layer: the second layer's statistics are taken through the first layer's
    inference form (its exact statistics already set). Offset inputs in float32: a one-pass
    sum of squares would lose the variance to cancellation."""
    X, y = problem(3000, seed=7, offset=1e4)
    net = bn_net(seed=7)
    net.fit(X, y, batch_size=100, epochs=1, lr=0.01)
    X32 = X.astype(np.float32)
    net32 = fastnn.Network(net.layers, dtype="float32", input_dim=4)
    net32.set_weights(net.get_weights())
    for model, Xm, rtol in ((net, X, 1e-10), (net32, X32, 2e-3)):
        model.set_batch_norm_statistics(Xm)
        w = net.get_weights()
        Z1 = X @ w[0]["W"]
        np.testing.assert_allclose(moving_stats(model)[0][0], Z1.mean(axis=0), rtol=rtol)
        np.testing.assert_allclose(moving_stats(model)[0][1], Z1.var(axis=0), rtol=rtol)
        if model is net:  # float32 rounds the offset first layer's outputs beyond this check
            A1 = np.tanh(w[0]["gamma"] * (Z1 - Z1.mean(axis=0)) / np.sqrt(Z1.var(axis=0) + 1e-5) + w[0]["beta"])
            Z2 = A1 @ w[1]["W"]
            # to the last digits of fastnn's vectorised tanh and of the folded weights
            np.testing.assert_allclose(moving_stats(model)[1][0], Z2.mean(axis=0), rtol=1e-7, atol=1e-9)
            np.testing.assert_allclose(moving_stats(model)[1][1], Z2.var(axis=0), rtol=1e-7)
    via_fit = bn_net(seed=7).fit(X, y, batch_size=100, epochs=1, lr=0.01, bn_statistics="training_set")
    np.testing.assert_allclose(via_fit._bn_stats, net._bn_stats, rtol=1e-12)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "delta_bar_delta", "rmsprop", "rprop"])
def test_every_optimizer_trains_gamma_and_beta(optimizer):
    X, y = problem(30, seed=2)
    net = bn_net(seed=2)
    mode, batch_size = ("batch", None) if optimizer == "rprop" else ("minibatch", 10)
    net.fit(X, y, mode=mode, batch_size=batch_size, epochs=3, lr=0.05, optimizer=optimizer)
    w = net.get_weights()[0]
    assert not np.allclose(w["gamma"], 1.0) and not np.allclose(w["beta"], 0.0)


def test_save_load_keeps_gamma_beta_and_statistics(tmp_path):
    X, y = problem(30, seed=4)
    net = bn_net(seed=4).fit(X, y, batch_size=6, epochs=2, lr=0.1)
    net.save(tmp_path / "bn.npz")
    back = fastnn.load(tmp_path / "bn.npz")
    np.testing.assert_array_equal(back._bn_stats, net._bn_stats)
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    assert repr(back.layers) == repr(net.layers)


@pytest.mark.parametrize("kw,match", [
    ({"mode": "online"}, "online mode"),
    ({"mode": "minibatch", "batch_size": 1}, "batch_size=1"),
])
def test_batch_norm_needs_two_examples_per_batch(kw, match):
    X, y = problem(10)
    net = bn_net()
    before = net._theta.copy(), net._bn_stats.copy()
    with pytest.raises(ValueError, match=match):
        net.fit(X, y, **kw)
    np.testing.assert_array_equal(net._theta, before[0])
    np.testing.assert_array_equal(net._bn_stats, before[1])
    with pytest.raises(ValueError, match="output layer"):
        fastnn.Network([fastnn.Dense(3, activation="softmax", batch_norm=True)])
    with pytest.raises(TypeError, match="batch_norm"):
        fastnn.Dense(3, batch_norm="yes")
    with pytest.raises(ValueError, match="momentum"):
        fastnn.BatchNorm(momentum=1.0)
    with pytest.raises(ValueError, match="no batch-norm layer"):
        fastnn.Network([fastnn.Dense(3, activation="softmax")], input_dim=4).set_batch_norm_statistics(X)


def test_batch_norm_rescues_a_deep_narrow_logistic_network_on_mnist(mnist):
    """The lecture's claim on real data: six hidden layers of 32 logistic units with N(0, 1)
    weights saturate and learn slowly; with batch norm the same network in the same 2 epochs
    (10,000 digits, batches of 32) learns much better at every rate. Measured with seed 0, test
    accuracy plain / batch norm: lr 0.1: 36.1% / 68.8%, 0.5: 71.2% / 83.9%, 1: 78.2% / 84.9%,
    2: 75.1% / 86.4%."""
    x, y, xt, yt = mnist

    def accuracy(bn, lr):
        layers = [fastnn.Dense(32, activation="logistic", init="normal", batch_norm=bn) for _ in range(6)]
        net = fastnn.Network(layers + [fastnn.Dense(10, activation="softmax")], seed=0)
        net.fit(x[:10000], y[:10000], batch_size=32, epochs=2, lr=lr)
        return net.evaluate(xt, yt)["accuracy"]

    rates = (0.1, 0.5, 1.0, 2.0)
    plain = [accuracy(False, lr) for lr in rates]
    normed = [accuracy(True, lr) for lr in rates]
    assert all(b > p + 0.05 for p, b in zip(plain, normed)), (plain, normed)
    assert max(normed) > max(plain) + 0.05 and max(normed) > 0.84, (plain, normed)
