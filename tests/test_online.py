"""The online epoch of plain SGD (fastnn.kernels.online): against the NumPy reference, the
general epoch loop and its choice of kernel."""
import numpy as np
import pytest

import fastnn
from fastnn._threads import Plan
from fastnn.kernels import lazy, online, train
from fastnn.kernels.updates import Rule
from fastnn.trainer import Trainer
from tests import reference
from tests.test_training import run_reference


def deep(hidden, out, n_out, loss, seed=0, input_dim=6):
    """6 -> 9 (hidden) -> 5 (relu: sparse outputs that the row loops skip) -> n_out."""
    return fastnn.Network([fastnn.Dense(9, activation=hidden), fastnn.Dense(5, activation="relu"),
                           fastnn.Dense(n_out, activation=out)], loss=loss, dtype="float64", seed=seed,
                          input_dim=input_dim)


def sparse_data(n=17, seed=3):
    """Inputs with about 40% zeros (the first layer's row loops skip them), classes 0-2."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)) * (rng.uniform(size=(n, 6)) < 0.6)
    X[2] = 0.0  # an example without a non-zero input
    return X, rng.permutation(np.arange(n) % 3)


@pytest.fixture
def kernel_calls(monkeypatch):
    """The epochs run by kernels.online.sgd_online_epoch (a spy around it)."""
    calls = []
    kernel = online.sgd_online_epoch

    def spy(*args):
        calls.append(args[0].dtype)
        return kernel(*args)

    monkeypatch.setattr(online, "sgd_online_epoch", spy)
    return calls


@pytest.mark.parametrize("hidden", ["tanh", "lecun_tanh", "logistic", "tanh_linear", "relu", "leaky_relu", "elu",
                                    "selu", "linear", fastnn.activations.RReLU(0.2, 0.2)])
@pytest.mark.parametrize("out,loss", [("softmax", "cross_entropy"), ("linear", "mse"), ("logistic", "cross_entropy"),
                                      ("logistic", "mse")])
def test_online_sgd_matches_the_reference(hidden, out, loss, kernel_calls):
    """Every activation (RReLU with a fixed slope: its draws collapse to one value), the three
    losses and squared error after a non-linear output (its f' in the backward pass)."""
    X, y = sparse_data()
    n_out = 3
    if out == "linear" or (out, loss) == ("logistic", "mse"):
        y = np.stack([X[:, 0] - X[:, 1], X[:, 2] * X[:, 3], np.tanh(X[:, 4])], axis=1)
        y = 1 / (1 + np.exp(-y)) if out == "logistic" else y
    elif out == "logistic":
        y, n_out = (X[:, 0] > 0).astype(int), 1
    net = deep(hidden, out, n_out, loss)
    w0 = net.get_weights()
    lr = 0.05 if loss == "cross_entropy" else 0.01  # a linear network on squared error diverges at 0.05
    net.fit(X, y, mode="online", epochs=2, lr=lr, shuffle=False)
    assert not net.diverged_ and len(kernel_calls) == 2  # both epochs in the online kernel
    expected = run_reference(net, w0, X, y, 2, 1, lr=lr)
    for got, want in zip(net.get_weights(), expected):
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("weight_decay", [1e-3, 0.3])
def test_weight_decay_online_matches_the_reference(weight_decay):
    """The first layer's decay is lazy (rows of zero inputs shrink when next used): the
    reference decays every weight at every update."""
    X, y = sparse_data(19)
    net = deep("tanh", "softmax", 3, "cross_entropy")
    w0 = net.get_weights()
    net.fit(X, y, mode="online", epochs=3, lr=0.1, weight_decay=weight_decay, shuffle=False)
    expected = run_reference(net, w0, X, y, 3, 1, lr=0.1, weight_decay=weight_decay)
    for got, want in zip(net.get_weights(), expected):
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("opt", [fastnn.optimizers.SGD(momentum=0.7),
                                 fastnn.optimizers.SGD(momentum=0.6, nesterov=True),
                                 fastnn.optimizers.RMSprop(rho=0.8, eps=1e-6),
                                 fastnn.optimizers.DeltaBarDelta(increase=0.1, decrease=0.8, smoothing=0.5)],
                         ids=lambda o: repr(o))
def test_lazy_rules_match_the_reference(opt):
    """kernels.lazy on sparse inputs (rows idle for several updates) through a deeper network:
    every step's update of the reference, and the optimizer's state."""
    X, y = sparse_data(21)
    net = deep("tanh", "softmax", 3, "cross_entropy")
    w0 = net.get_weights()
    net.fit(X, y, mode="online", epochs=3, lr=0.05, shuffle=False, optimizer=opt)
    grad_fn = lambda w, Xb, Tb: reference.loss_and_grads(net, w, Xb, Tb)
    hp = {k: getattr(opt, k) for k in opt.get_config() if k != "name"}
    expected, state = reference.train(w0, grad_fn, X, np.eye(3)[y], [np.arange(len(X))] * 3, 1, 0.05,
                                      type(opt).__name__, hp, return_state=True)
    for got, want in zip(net.get_weights(), expected):
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-12)
    for row, want in zip(net._opt_state, state):
        for got, w in zip(net._unflatten(row), want):
            for name in w:
                np.testing.assert_allclose(got[name], w[name], rtol=1e-9, atol=1e-12)


def test_per_layer_rates_match_the_reference():
    X, y = sparse_data(23)
    net = deep("tanh", "softmax", 3, "cross_entropy")
    w0 = net.get_weights()
    net.fit(X, y, mode="online", epochs=2, lr=0.1, layer_scaling="fan_in", shuffle=False)
    scale = 1.0 / np.sqrt(net._layout[:, 0].astype(float))  # LeCun: rates as 1 / sqrt(fan_in)
    grad_fn = lambda w, Xb, Tb: reference.loss_and_grads(net, w, Xb, Tb)
    expected = reference.train(w0, grad_fn, X, np.eye(3)[y], [np.arange(len(X))] * 2, 1, 0.1, "SGD",
                               {"momentum": 0.0, "nesterov": False}, layer_scale=scale)
    for got, want in zip(net.get_weights(), expected):
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-12)


def epoch_inputs(dtype, n=29, seed=5):
    """(network, X, T with a trailing weight column, shuffled order) for direct kernel calls:
    RReLU draws per example, MSE on logistic outputs (the output's f' in the backward pass)."""
    rng = np.random.default_rng(seed)
    net = fastnn.Network([fastnn.Dense(8, activation="rrelu"), fastnn.Dense(4, activation="logistic")], loss="mse",
                         dtype=dtype, seed=seed, input_dim=6)
    X = (rng.normal(size=(n, 6)) * (rng.uniform(size=(n, 6)) < 0.5)).astype(dtype)
    T = np.hstack([rng.uniform(size=(n, 4)), rng.uniform(0.0, 2.0, size=(n, 1))]).astype(dtype)
    return net, X, T, rng.permutation(n)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_online_epoch_equals_the_general_loop(dtype, weight_decay):
    """Oracle: kernels.train.train_epoch with batches of one (fused SGD; with decay through its
    gradient buffer), on the same shuffled order, keyed RReLU draws, example weights and
    per-layer rates: the same weights, summed loss and per-example losses, up to rounding."""
    net, X, T, order = epoch_inputs(dtype)
    lr, scale, key = np.linspace(0.2, 0.1, len(order)), np.array([0.7, 1.3]), np.uint64(99)
    rule = Rule(0, np.zeros(1), weight_decay, scale)
    plan = Plan(1, np.zeros(2, np.int64), 1, 1)
    runs = []
    for kernel in (online.sgd_online_epoch, train.train_epoch):
        theta, errors = net._theta.copy(), np.zeros(len(X))
        ws = train.workspace(theta, net._layout, X.shape[1], plan)
        if kernel is online.sgd_online_epoch:
            total, steps = kernel(theta, net._layout, net._act_params, X, T, order, lr, rule, 0, key, errors, ws)
        else:
            fused = weight_decay == 0.0
            total, steps = kernel(theta, np.zeros_like(theta), np.zeros((1, theta.size), theta.dtype), theta[:0],
                                  net._layout, net._act_params, X, T, order, 1, plan, ws, lr, np.zeros(len(order)),
                                  rule, 0, 0, fused, key, errors)
        runs.append((theta, total, steps, errors))
    rtol = 1e-5 if dtype == "float32" else 1e-12
    (theta, total, steps, errors), (theta_ref, total_ref, steps_ref, errors_ref) = runs
    assert steps == steps_ref == len(order) and np.all(errors > 0)
    np.testing.assert_allclose(theta, theta_ref, rtol=rtol, atol=rtol * 1e-2)
    np.testing.assert_allclose(errors, errors_ref, rtol=rtol)
    assert total == pytest.approx(total_ref, rel=rtol)
    assert not np.allclose(theta, net._theta)  # the epoch moved the weights


def trainer(hidden="tanh"):
    net = fastnn.Network([fastnn.Dense(4, activation=hidden), fastnn.Dense(3, activation="softmax")], dtype="float64",
                         seed=0, input_dim=5)
    X, T = np.zeros((6, 5)), np.zeros((6, 3))
    return Trainer(net._theta, np.zeros((1, net._theta.size)), net._bn_stats, net._layout, net._act_params, X, T,
                   Plan(1, np.zeros(2, np.int64), 1, 1))


@pytest.mark.parametrize("hidden,batch_size,code,weight_decay,momentum,kernel", [
    ("tanh", 1, 0, 0.0, 0.0, online.sgd_online_epoch),  # plain SGD online
    ("tanh", 1, 0, 1e-4, 0.0, online.sgd_online_epoch),  # with weight decay (lazy on the first layer)
    ("tanh", 1, 0, 20.0, 0.0, train.train_epoch),  # a decay that flips the weights (lr * 20 > 1): no lazy form
    ("tanh", 1, 0, 0.0, 0.9, lazy.lazy_epoch),  # momentum: lazy first-layer rows
    ("tanh", 1, 2, 0.0, 0.0, lazy.lazy_epoch),  # RMSprop
    ("tanh", 1, 3, 0.0, 0.0, train.train_epoch),  # Adam moves idle weights too: every weight
    ("tanh", 1, 0, 1e-4, 0.9, train.train_epoch),  # momentum and weight decay
    ("prelu", 1, 0, 0.0, 0.0, train.train_epoch),  # PReLU slopes have a gradient of their own
    ("prelu", 1, 2, 0.0, 0.0, train.train_epoch),  # (the online passes have no slopes)
    ("tanh", 4, 0, 0.0, 0.0, train.train_epoch),  # mini-batches
])
def test_kernel_choice(hidden, batch_size, code, weight_decay, momentum, kernel):
    rule = Rule(code, np.zeros(3), weight_decay, np.ones(2))
    assert trainer(hidden).kernel(batch_size, rule, np.full(5, 0.1), np.full(5, momentum)) is kernel
