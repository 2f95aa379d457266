"""Training semantics against the NumPy reference SGD, and behaviour on real data."""

import warnings

import numpy as np
import pytest

import fastnn
from fastnn._targets import Targets
from tests import reference


def tiny(hidden="tanh", seed=0, dtype="float64", out="softmax", loss="cross_entropy", n_out=3, input_dim=None):
    return fastnn.Network([fastnn.Dense(7, activation=hidden), fastnn.Dense(n_out, activation=out)],
                          loss=loss, dtype=dtype, seed=seed, input_dim=input_dim)


def data(n=13, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)


def run_reference(net, w0, X, y, epochs, batch_size, **opts):
    T = Targets.infer(y, net.loss, net.layers[-1].activation.name, net.layers[-1].units).encode(y, net.layers[-1].units, np.float64)
    orders = [np.arange(len(X))] * epochs
    grad_fn = lambda w, Xb, Tb: reference.loss_and_grads(net, w, Xb, Tb)
    return reference.sgd_train(w0, grad_fn, X, T, orders, batch_size, **opts)


@pytest.mark.parametrize("mode,batch_size", [("online", 1), ("minibatch", 5), ("minibatch", 13), ("batch", 13)])
@pytest.mark.parametrize("opts", [{}, {"momentum": 0.9}, {"momentum": 0.8, "nesterov": True, "weight_decay": 0.01},
                                  {"weight_decay": 0.1}])
@pytest.mark.parametrize("hidden", ["tanh", "prelu"])
def test_fit_matches_reference_sgd(mode, batch_size, opts, hidden):
    X, y = data()
    net = tiny(hidden, input_dim=5)
    w0 = net.get_weights()
    net.fit(X, y, mode=mode, batch_size=batch_size, epochs=3, lr=0.1, shuffle=False, **opts)
    expected = run_reference(net, w0, X, y, 3, batch_size, lr=0.1, **opts)
    for got, want in zip(net.get_weights(), expected):
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("opts", [{}, {"momentum": 0.9, "nesterov": True}])
@pytest.mark.parametrize("out,loss", [("softmax", "cross_entropy"), ("prelu", "mse")])
def test_large_batches_on_blas_and_threads_match_reference(monkeypatch, opts, out, loss):
    """70 examples in batches of 35: chunks large enough for BLAS and for 3 thread parts."""
    from fastnn import _threads
    monkeypatch.setattr(_threads, "threads", lambda: 3)
    monkeypatch.setattr(_threads, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(_threads, "ROWS_PER_PART", 16)
    X, y = data(70, seed=1)
    if loss == "mse":
        y = np.stack([X[:, 0], X[:, 1] * X[:, 2], -X[:, 3]], axis=1)
    net = tiny(out=out, loss=loss, input_dim=5)
    w0 = net.get_weights()
    assert net._plan(X, 35)[1][1] == 1 and net._plan(X, 35)[2] == 2  # BLAS on layer 2, two parts
    net.fit(X, y, mode="minibatch", batch_size=35, epochs=2, lr=0.05, shuffle=False, **opts)
    expected = run_reference(net, w0, X, y, 2, 35, lr=0.05, **opts)
    for got, want in zip(net.get_weights(), expected):
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-12)


def test_online_fused_update_equals_gradient_buffer_path():
    """Online plain SGD updates theta during backpropagation; any weight decay routes the same
    steps through the gradient buffer and sgd_update. A decay of 1e-300 changes no number, so
    the two paths must agree to rounding, and minibatch with batch_size=1 is online learning."""
    X, y = data(31)
    fused = tiny(seed=4, hidden="prelu").fit(X, y, mode="online", epochs=2, lr=0.05)
    buffered = tiny(seed=4, hidden="prelu").fit(X, y, mode="online", epochs=2, lr=0.05, weight_decay=1e-300)
    one = tiny(seed=4, hidden="prelu").fit(X, y, mode="minibatch", batch_size=1, epochs=2, lr=0.05)
    for wf, wb, wo in zip(fused.get_weights(), buffered.get_weights(), one.get_weights()):
        for name in wf:
            np.testing.assert_allclose(wf[name], wb[name], rtol=1e-12, atol=1e-14)
            np.testing.assert_array_equal(wf[name], wo[name])


def test_warm_start_continues_exactly_and_shuffle_is_seeded():
    X, y = data(31)
    once = tiny(seed=9).fit(X, y, epochs=4, lr=0.05, batch_size=4)
    twice = tiny(seed=9).fit(X, y, epochs=2, lr=0.05, batch_size=4).fit(X, y, epochs=2, lr=0.05, batch_size=4)
    ordered = tiny(seed=9).fit(X, y, epochs=4, lr=0.05, batch_size=4, shuffle=False)
    np.testing.assert_array_equal(once.get_weights()[0]["W"], twice.get_weights()[0]["W"])
    assert not np.allclose(once.get_weights()[0]["W"], ordered.get_weights()[0]["W"])


def test_divergence_restores_last_finite_weights():
    X, y = data(31)
    net = tiny(loss="mse", out="linear", n_out=1)
    yr = X[:, 0] * 3.0
    net.fit(X, yr, epochs=1, lr=0.01)
    before = net.get_weights()
    with pytest.warns(fastnn.DivergenceWarning, match="diverged in epoch 1.*lr=1e\\+30"):
        net.fit(X, yr, epochs=3, lr=1e30, mode="online")
    assert net.diverged_ and net.history_["loss"] == []
    for a, b in zip(before, net.get_weights()):
        np.testing.assert_array_equal(a["W"], b["W"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_in_the_last_update_of_an_epoch(dtype):
    """Full batch: one update per epoch, so the loss (measured before it) is finite when the
    update breaks the weights; the weights themselves must be checked and restored."""
    X, _ = data(31)
    net = tiny(loss="mse", out="linear", n_out=1, dtype=dtype)
    yr = X[:, 0] * 3000.0  # gradients in the thousands: lr * gradient overflows the dtype
    net.fit(X, yr, epochs=1, lr=1e-6, mode="batch")
    before = net.get_weights()
    with pytest.warns(fastnn.DivergenceWarning, match="diverged in epoch 1"):
        net.fit(X, yr, epochs=1, lr=1e38 if dtype == "float32" else 1e307, mode="batch")  # the step overflows
    assert net.diverged_ and net.history_["loss"] == []
    for a, b in zip(before, net.get_weights()):
        np.testing.assert_array_equal(a["W"], b["W"])


def test_full_batch_divergence_restores_weights_whose_loss_is_finite():
    """Full batch: epoch k's loss belongs to the weights of epoch k - 1, so the state before the
    epoch whose loss was NaN is itself NaN-producing; the restored weights must predict."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(150, 4)) * 3, rng.integers(0, 3, 150)
    net = fastnn.Network([fastnn.Dense(16, "relu"), fastnn.Dense(16, "relu"), fastnn.Dense(3, "softmax")], seed=0)
    with pytest.warns(fastnn.DivergenceWarning, match="diverged in epoch 2"):
        net.fit(X, y, mode="batch", epochs=4, lr=1e4)
    assert net.diverged_
    assert np.isfinite(net.predict_proba(X)).all() and np.isfinite(net.evaluate(X, y)["loss"])
    assert len(net.history_["loss"]) <= 1  # only epochs whose end is kept


def raw_target_regression(seed=0):
    """Inputs of scale 0.05 (as scikit-learn's diabetes), targets of 25..346 (raw, unscaled)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 10)) * 0.05
    y = np.clip(150 + 1500 * X @ rng.normal(size=10) / np.sqrt(10), 25, 346)
    return X, y


def regressor(seed=0):
    return fastnn.Network([fastnn.Dense(100, "relu"), fastnn.Dense(1, "linear")], loss="mse", seed=seed)


def test_an_exploding_but_finite_loss_is_divergence():
    X, y = raw_target_regression()
    net = regressor()
    with pytest.warns(fastnn.DivergenceWarning, match=r"loss grew to .*scale the targets \(they reach \|y\| = 3\d\d"):
        net.fit(X, y, batch_size=32, epochs=3, lr=0.2)
    assert net.diverged_
    assert net.evaluate(X, y)["loss"] <= 100 * 0.5 * np.mean(y**2)  # no worse than the limit it enforces


def test_slow_or_badly_started_training_is_not_divergence():
    """No false alarm: a small rate on the same raw targets, and a start far worse than the
    reference (N(0, 1) weights on inputs of scale 100) that training then improves."""
    X, y = raw_target_regression()
    with warnings.catch_warnings():
        warnings.simplefilter("error", fastnn.DivergenceWarning)
        net = regressor().fit(X, y, batch_size=32, epochs=3, lr=1e-4)
        assert net.history_["loss"][-1] < net.history_["loss"][0]
        wide = fastnn.Network([fastnn.Dense(50, "linear", init="normal"), fastnn.Dense(1, "linear", init="normal")],
                              loss="mse", seed=0)
        wide.fit(X * 2000, y / 300, batch_size=32, epochs=2, lr=1e-9)
        assert wide.history_["loss"][0] > 100 * 0.5 * np.mean((y / 300) ** 2)
    assert not net.diverged_ and not wide.diverged_


def test_weights_beyond_any_sensible_range_warn():
    X, y = data()
    net = tiny(input_dim=5)
    weights = net.get_weights()
    weights[0]["W"] = weights[0]["W"] * 1e7
    net.set_weights(weights)
    with pytest.warns(fastnn.DivergenceWarning, match=r"weights reached \|w\| = .*Standardize the inputs"):
        net.fit(X, y, epochs=2, lr=1e-9)
    assert not net.diverged_ and len(net.history_["loss"]) == 2


def test_labels_encodings_and_outputs():
    X, y = data(40)
    names = np.array(["cat", "dog", "emu"])[y]
    net = tiny(seed=1).fit(X, names, epochs=30, lr=0.1, batch_size=4)
    assert list(net.classes_) == ["cat", "dog", "emu"]
    assert set(net.predict(X)) <= {"cat", "dog", "emu"}
    assert net.evaluate(X, names)["accuracy"] > 0.8
    P = net.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    # Two classes, one logistic unit: probabilities in two columns.
    yb = (y > 0).astype(int) * 7 - 2  # labels -2 and 5
    logit = tiny(out="logistic", n_out=1).fit(X, yb, epochs=30, lr=0.1, batch_size=4)
    assert logit.predict_proba(X).shape == (40, 2) and set(logit.predict(X)) <= {-2, 5}
    # LeCun: tanh-family outputs with mse learn +1/-1 targets.
    lecun = tiny(out="lecun_tanh", loss="mse").fit(X, y, epochs=30, lr=0.05, batch_size=4)
    assert lecun._targets.values == (-1.0, 1.0)
    assert lecun.evaluate(X, y)["accuracy"] > 0.8
    out = lecun.forward(X)
    assert out.min() < -0.5 and out.max() > 0.5


def test_regression_shapes():
    X, _ = data(40)
    y1 = X[:, 0] - X[:, 1]
    net = tiny(out="linear", loss="mse", n_out=1).fit(X, y1, epochs=50, lr=0.05, batch_size=4)
    assert net.predict(X).shape == (40,) and net.classes_ is None
    assert net.evaluate(X, y1)["loss"] < 0.5 * np.mean(y1**2) / 2
    y2 = np.stack([y1, X[:, 2]], axis=1)
    net2 = tiny(out="linear", loss="mse", n_out=2).fit(X, y2, epochs=2, lr=0.05)
    assert net2.predict(X).shape == (40, 2)


def test_float32_tracks_float64():
    X, y = data(64)
    a = tiny(dtype="float32", seed=3).fit(X, y, epochs=3, lr=0.05, batch_size=8)
    b = tiny(dtype="float64", seed=3).fit(X, y, epochs=3, lr=0.05, batch_size=8)
    assert a.get_weights()[0]["W"].dtype == np.float32
    np.testing.assert_allclose(a.get_weights()[0]["W"], b.get_weights()[0]["W"], rtol=1e-3, atol=1e-5)


def test_history_and_validation():
    X, y = data(40)
    net = tiny().fit(X, y, epochs=3, lr=0.05, validation_data=(X[:10], y[:10]))
    h = net.history_
    assert len(h["loss"]) == len(h["val_loss"]) == len(h["val_accuracy"]) == len(h["lr"]) == 3
    assert h["val_loss"][-1] == pytest.approx(net.evaluate(X[:10], y[:10])["loss"], rel=1e-12)


@pytest.mark.parametrize("mode,batch_size,lr,momentum", [("online", 1, 0.02, 0.0), ("minibatch", 32, 0.05, 0.9)])
def test_learns_real_mnist(mnist, mode, batch_size, lr, momentum):
    """784-64-10 tanh on 10,000 MNIST digits for 2 epochs reaches >= 92% on the 10,000 test digits
    (measured with seed 0: 92.8% online, 93.1% with mini-batches of 32 and momentum 0.9)."""
    x_train, y_train, x_test, y_test = mnist
    net = fastnn.Network([fastnn.Dense(64, activation="tanh"), fastnn.Dense(10, activation="softmax")], seed=0)
    net.fit(x_train[:10000], y_train[:10000], mode=mode, batch_size=batch_size, epochs=2, lr=lr, momentum=momentum)
    acc = net.evaluate(x_test, y_test)["accuracy"]
    assert acc >= 0.92, acc


def test_batches_larger_than_a_chunk_match_reference(monkeypatch):
    """A batch split over several chunks (here 4 rows each) sums their gradients before one update."""
    from fastnn import network
    monkeypatch.setattr(network, "CHUNK", 4)
    X, y = data()
    net = tiny(input_dim=5)
    w0 = net.get_weights()
    net.fit(X, y, mode="minibatch", batch_size=10, epochs=2, lr=0.1, shuffle=False)
    expected = run_reference(net, w0, X, y, 2, 10, lr=0.1)
    for got, want in zip(net.get_weights(), expected):
        np.testing.assert_allclose(got["W"], want["W"], rtol=1e-9, atol=1e-12)
