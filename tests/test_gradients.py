"""Gradients against central finite differences (float64) and the NumPy reference."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastnn
from fastnn import activations
from fastnn._targets import Targets
from tests import reference

HIDDEN = [name for name, cls in activations.ACTIVATIONS.items() if cls.hidden]
# (output activation, loss, kind of targets)
OUTPUTS = [
    ("softmax", "cross_entropy", "classes"),
    ("logistic", "cross_entropy", "binary"),
    ("linear", "mse", "regression"),
    ("lecun_tanh", "mse", "classes"),  # LeCun's +1/-1 targets
    ("tanh", "mse", "binary"),
    ("logistic", "mse", "classes"),
    ("elu", "mse", "regression"),
    ("prelu", "mse", "regression"),
    ("tanh_linear", "mse", "regression"),
    ("relu", "mse", "regression"),
    ("leaky_relu", "mse", "regression"),
    ("selu", "mse", "regression"),
]


def make_problem(rng, n, n_in, n_out, kind):
    X = rng.normal(size=(n, n_in))
    if kind == "regression":
        return X, rng.normal(size=(n, n_out))
    k = 2 if kind == "binary" else n_out
    y = np.arange(n) % k  # every class present
    rng.shuffle(y)
    return X, y


def numeric_grads(net, X, y, eps=1e-6):
    """Central differences of the loss with respect to every parameter, as get_weights()."""
    weights = net.get_weights()
    out = [{k: np.zeros_like(v) for k, v in d.items()} for d in weights]
    for l, d in enumerate(weights):
        for name, arr in d.items():
            for idx in np.ndindex(arr.shape):
                orig = arr[idx]
                arr[idx] = orig + eps
                net.set_weights(weights)
                up = net.loss_and_gradients(X, y)[0]
                arr[idx] = orig - eps
                net.set_weights(weights)
                down = net.loss_and_gradients(X, y)[0]
                arr[idx] = orig
                out[l][name][idx] = (up - down) / (2 * eps)
    net.set_weights(weights)
    return out


def randomize(net, rng):
    """Non-zero biases and varied PReLU slopes, so no net input sits exactly on a ReLU kink
    (zero biases put a unit fed by a dead ReLU at z = 0, where differences are undefined)."""
    weights = net.get_weights()
    for d in weights:
        d["b"] = rng.normal(0.0, 0.5, size=d["b"].shape)
        if "alpha" in d:
            d["alpha"] = rng.uniform(0.05, 0.5, size=d["alpha"].shape)
    net.set_weights(weights)


def build(hidden, output, loss, n_in, n_hidden, n_out, seed):
    layers = [fastnn.Dense(n_hidden, activation=hidden), fastnn.Dense(n_out, activation=output)]
    return fastnn.Network(layers, loss=loss, dtype="float64", seed=seed, input_dim=n_in)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output,loss,kind", OUTPUTS)
@settings(max_examples=3, deadline=None)
@given(n=st.integers(1, 7), n_in=st.integers(1, 5), n_hidden=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_gradient_matches_finite_differences(hidden, output, loss, kind, n, n_in, n_hidden, seed):
    rng = np.random.default_rng(seed)
    n_out = 1 if kind == "binary" else 3
    if kind == "classes" or (kind == "binary" and n < 2):
        n = max(n, n_out)
    n = max(n, 2)
    net = build(hidden, output, loss, n_in, n_hidden, n_out, seed)
    X, y = make_problem(rng, n, n_in, n_out, kind)
    randomize(net, rng)
    loss_value, grads = net.loss_and_gradients(X, y)
    num = numeric_grads(net, X, y)
    for l, (g, ng) in enumerate(zip(grads, num)):
        assert g.keys() == ng.keys()
        for name in g:
            np.testing.assert_allclose(g[name], ng[name], rtol=1e-4, atol=1e-6, err_msg=f"layer {l} {name}")


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output,loss,kind", OUTPUTS[:4])
def test_loss_and_gradients_match_numpy_reference(hidden, output, loss, kind):
    rng = np.random.default_rng(3)
    net = fastnn.Network([fastnn.Dense(7, activation=hidden), fastnn.Dense(5, activation="tanh"),
                          fastnn.Dense(1 if kind == "binary" else 3, activation=output)],
                         loss=loss, dtype="float64", seed=1, input_dim=13)
    X, y = make_problem(rng, 11, 13, 1 if kind == "binary" else 3, kind)
    randomize(net, rng)
    loss_value, grads = net.loss_and_gradients(X, y)
    t = Targets.infer(y, loss, output, net.layers[-1].units)
    T = t.encode(y, net.layers[-1].units, np.float64)
    ref_loss, ref_grads = reference.loss_and_grads(net, net.get_weights(), X, T)
    assert loss_value == pytest.approx(ref_loss, rel=1e-10)
    for g, rg in zip(grads, ref_grads):
        assert g.keys() == rg.keys()
        for name in g:
            np.testing.assert_allclose(g[name], rg[name], rtol=1e-9, atol=1e-12)
