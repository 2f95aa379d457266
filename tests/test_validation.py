"""Bad input: a clear error that names the argument, and the network exactly as before."""
import numpy as np
import pytest

import fastnn
from fastnn import optimizers, schedules


@pytest.fixture
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4))
    y = np.arange(20) % 3
    net = fastnn.Network([fastnn.Dense(5, activation="tanh"), fastnn.Dense(3, activation="softmax")], seed=0)
    net.fit(X, y, epochs=1, lr=0.05)
    return net, X, y


def snapshot(net):
    return (net._theta.copy(), net._opt_state.copy(), net._opt_steps, net._rng.bit_generator.state, dict(net.history_),
            repr(net._optimizer))


def with_nan(X):
    X = X.copy()
    X[3, 2] = np.nan
    return X


BAD_FIT = [
    ("X", lambda X, y: (with_nan(X), y, {})),
    ("X", lambda X, y: (np.where(X > 1, np.inf, X), y, {})),
    ("X", lambda X, y: (X[:, 0], y, {})),
    ("features", lambda X, y: (X[:, :3], y, {})),
    ("different lengths", lambda X, y: (X, y[:-1], {})),
    ("empty", lambda X, y: (X[:0], y[:0], {})),
    ("dtype", lambda X, y: (X.astype(str), y, {})),
    ("does not know", lambda X, y: (X, y + 5, {})),
    ("mode", lambda X, y: (X, y, {"mode": "stochastic"})),
    ("lr", lambda X, y: (X, y, {"lr": 0.0})),
    ("lr", lambda X, y: (X, y, {"lr": -1.0})),
    ("lr", lambda X, y: (X, y, {"lr": float("nan")})),
    ("batch_size", lambda X, y: (X, y, {"batch_size": 0})),
    ("batch_size", lambda X, y: (X, y, {"batch_size": 21})),
    ("batch_size", lambda X, y: (X, y, {"batch_size": 2.5})),
    ("epochs", lambda X, y: (X, y, {"epochs": 0})),
    ("momentum", lambda X, y: (X, y, {"momentum": 1.0})),
    ("weight_decay", lambda X, y: (X, y, {"weight_decay": -0.1})),
    ("nesterov", lambda X, y: (X, y, {"nesterov": "yes"})),
    ("validation_data", lambda X, y: (X, y, {"validation_data": (X,)})),
    ("validation_data\\[0\\]", lambda X, y: (X, y, {"validation_data": (with_nan(X), y)})),
    ("scalar", lambda X, y: (X, 5, {})),
    ("lr", lambda X, y: (X, y, {"lr": 1e39})),  # beyond float32
    ("X contains", lambda X, y: (X * 1e39, y, {})),
    ("optimizer", lambda X, y: (X, y, {"optimizer": "adagrad"})),
    ("Rprop .*online", lambda X, y: (X, y, {"optimizer": "rprop", "mode": "online"})),
    ("total_steps=3", lambda X, y: (X, y, {"lr": schedules.OneCycle(0.01, total_steps=3), "epochs": 4})),
    ("momentum=0.9 .*options of plain SGD", lambda X, y: (X, y, {"optimizer": "adam", "momentum": 0.9})),
    ("cycles the momentum", lambda X, y: (X, y, {"lr": schedules.OneCycle(0.01, total_steps=99, momentum=(0.9, 0.8)),
                                                 "optimizer": "adam"})),
    ("initial step size", lambda X, y: (X, y, {"lr": schedules.SearchThenConverge(0.1, 10), "optimizer": "rprop"})),
    ("layer_scaling", lambda X, y: (X, y, {"layer_scaling": "fan_out"})),
    ("early_stopping", lambda X, y: (X, y, {"early_stopping": 0})),
    ("lr must be", lambda X, y: (X, y, {"lr": "fast"})),
    ("batch_size", lambda X, y: (X, y, {"optimizer": "adam", "batch_size": 0})),  # a new kind of optimizer, then a bad option
    ("batch_size=8 has no effect with mode='online'", lambda X, y: (X, y, {"mode": "online", "batch_size": 8})),
    ("batch_size=5 has no effect with mode='batch'", lambda X, y: (X, y, {"mode": "batch", "batch_size": 5})),
    ("lr must be finite", lambda X, y: (X, y, {"lr": 10**400})),  # an int beyond float64
    ("epochs must fit a 64-bit integer", lambda X, y: (X, y, {"epochs": 2**64})),
    ("weight_decay must be finite", lambda X, y: (X, y, {"weight_decay": 10**400})),
]


@pytest.mark.parametrize("match,case", BAD_FIT, ids=[f"{i}-{m}" for i, (m, _) in enumerate(BAD_FIT)])
def test_bad_fit_changes_nothing(fitted, match, case):
    net, X, y = fitted
    before = snapshot(net)
    Xb, yb, kw = case(X, y)
    with pytest.raises((ValueError, TypeError), match=match):
        net.fit(Xb, yb, **kw)
    after = snapshot(net)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]


def test_bad_targets_before_the_first_fit():
    X = np.zeros((6, 2))
    net = fastnn.Network([fastnn.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="4 classes but the output layer has 3 units"):
        net.fit(X, np.arange(6) % 4)
    with pytest.raises(ValueError, match="single class"):
        net.fit(X, np.zeros(6, dtype=int))
    with pytest.raises(ValueError, match="y contains 1 NaN"):
        fastnn.Network([fastnn.Dense(1)], loss="mse").fit(X, np.array([0, 1, np.nan, 0, 0, 0.0]))
    reg = fastnn.Network([fastnn.Dense(1)], loss="mse")
    with pytest.raises(ValueError, match="y contains 1 NaN or inf value.*beyond the range of float32"):
        reg.fit(X, np.array([0, 1, 1e39, 0, 0, 0.0]))  # finite in float64, inf in float32
    assert net._theta is None and reg._theta is None and reg._targets is None  # nothing was built


@pytest.mark.parametrize("make,match", [
    (lambda: fastnn.Dense(4, activation="swish"), "activation must be one of"),
    (lambda: fastnn.Dense(4, init="xavier"), "init must be one of"),
    (lambda: fastnn.Dense(0), "units must be a positive integer"),
    (lambda: fastnn.activations.LeakyReLU(alpha=1.0), "alpha must be in \\[0.0, 1.0\\)"),
    (lambda: fastnn.activations.LeakyReLU(alpha=-0.1), "alpha"),
    (lambda: fastnn.activations.RReLU(lower=0.3, upper=0.1), "upper"),
    (lambda: fastnn.Network([fastnn.Dense(4)], loss="hinge"), "loss must be one of"),
    (lambda: fastnn.Network([fastnn.Dense(4, activation="softmax"), fastnn.Dense(2, activation="softmax")]), "hidden layer"),
    (lambda: fastnn.Network([fastnn.Dense(4, activation="tanh")], loss="cross_entropy"), "softmax or logistic"),
    (lambda: fastnn.Network([fastnn.Dense(4, activation="softmax")], dtype="float16"), "dtype"),
    (lambda: fastnn.Network([fastnn.Dense(4, activation="softmax")], seed=-1), "seed"),
    (lambda: fastnn.Network([fastnn.Dense(4, activation="softmax")], seed=2**70), "seed"),
    (lambda: fastnn.Network([fastnn.Dense(3, activation="softmax")], input_dim=10**30), "input_dim must fit"),
    (lambda: fastnn.Network([fastnn.Dense(99999999999, "tanh"), fastnn.Dense(3, "softmax")], input_dim=10),
     "10-99999999999-3 with about 1.6e\\+12 parameters would need .* GiB of memory and this machine has"),
    (lambda: schedules.SearchThenConverge(0.1, 10**400), "must be finite"),
    (lambda: schedules.OneCycle(0.1, total_steps=2**64), "total_steps must fit a 64-bit integer"),
    (lambda: fastnn.Network([fastnn.Dense(1, activation="softmax")]), "use Dense\\(1, activation='logistic'\\)"),
    (lambda: fastnn.Network([], loss="mse"), "layers"),
])
def test_bad_construction(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_bad_inference_and_weights(fitted):
    net, X, y = fitted
    before = snapshot(net)
    with pytest.raises(ValueError, match="X has 2 features but the network takes 4"):
        net.predict(X[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        net.evaluate(with_nan(X), y)
    w = net.get_weights()
    w[0]["W"] = w[0]["W"][:2]
    with pytest.raises(ValueError, match="weights\\[0\\]\\['W'\\] must be a numeric array of shape \\(4, 5\\)"):
        net.set_weights(w)
    w = net.get_weights()
    w[0]["W"] = w[0]["W"].astype(np.float64)
    w[0]["W"][0, 0] = 1e39  # finite in float64, inf in the network's float32
    with pytest.raises(ValueError, match="weights\\[0\\]\\['W'\\] contains 1 NaN or inf"):
        net.set_weights(w)
    w = net.get_weights()
    w[1]["b"] = w[1]["b"] * np.nan
    with pytest.raises(ValueError, match="weights\\[1\\]\\['b'\\] contains 3 NaN"):
        net.set_weights(w)
    np.testing.assert_array_equal(before[0], net._theta)
    with pytest.raises(RuntimeError, match="fit"):
        fastnn.Network([fastnn.Dense(2, activation="softmax")]).get_weights()


def test_set_weights_accepts_lists_and_round_trips(fitted):
    net, X, _ = fitted
    w = net.get_weights()
    as_lists = [{k: v.tolist() for k, v in d.items()} for d in w]
    w[0]["W"][0, 0] += 1.0
    as_lists[0]["W"][0][0] += 1.0
    net.set_weights(as_lists)
    np.testing.assert_array_equal(net.get_weights()[0]["W"], w[0]["W"].astype(np.float32))


BAD_OBJECTS = [
    ("kappa", lambda: schedules.StochasticApproximation(0)),
    ("tau", lambda: schedules.SearchThenConverge(0.1, -1)),
    ("c", lambda: schedules.Power(0.1, 10, c=0)),
    ("base", lambda: schedules.Exponential(0.1, 10, base=1.5)),
    ("total_steps must", lambda: schedules.OneCycle(0.1, total_steps=1)),
    ("needs total_steps", lambda: schedules.OneCycle(0.1, 0.5)),
    ("eta1", lambda: schedules.OneCycle(0.1, 0.01, 10)),
    ("tail", lambda: schedules.OneCycle(0.1, total_steps=10, tail=1.0)),
    ("momentum\\[1\\]", lambda: schedules.OneCycle(0.1, total_steps=10, momentum=(0.8, 0.9))),
    ("per", lambda: schedules.Constant(0.1, per="batch")),
    ("eta0", lambda: schedules.Performance(-0.1)),
    ("factor", lambda: schedules.Performance(0.1, factor=1.5)),
    ("patience", lambda: schedules.Performance(0.1, patience=0)),
    ("down", lambda: schedules.Adaptive(0.1, down=2.0)),
    ("up", lambda: schedules.Adaptive(0.1, up=0.9)),
    ("window", lambda: schedules.Adaptive(0.1, window=0)),
    ("min_lr <= eta0", lambda: schedules.Adaptive(0.1, min_lr=0.5)),
    ("momentum", lambda: optimizers.SGD(momentum=1.0)),
    ("decrease", lambda: optimizers.DeltaBarDelta(decrease=1.2)),
    ("gain_min", lambda: optimizers.DeltaBarDelta(gain_min=0.0)),
    ("rho", lambda: optimizers.RMSprop(rho=1.0)),
    ("beta1", lambda: optimizers.Adam(beta1=-0.1)),
    ("eps", lambda: optimizers.Adam(eps=0.0)),
    ("increase", lambda: optimizers.Rprop(increase=0.9)),
    ("step_max", lambda: optimizers.Rprop(step_min=1.0, step_max=0.5)),
]


@pytest.mark.parametrize("match,make", BAD_OBJECTS, ids=[m for m, _ in BAD_OBJECTS])
def test_bad_schedule_and_optimizer_parameters(match, make):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
