"""fit(sample_weight=...): against repeated examples, NumPy losses and the reference SGD."""
import numpy as np
import pytest

from fastnn.kernels import online, train as _train
from tests import reference
from tests.test_training import data, tiny

# 13 integer weights, two of them zero; example 1 (the only one of class 2) keeps a weight
W_INT = np.array([2, 3, 0, 1, 1, 0, 1, 2, 1, 1, 4, 1, 1])
KINDS = {"softmax": {}, "mse": {"out": "linear", "loss": "mse", "n_out": 2}}


def targets(kind, X, y):
    return np.stack([X[:, 0] - X[:, 1], X[:, 2] * X[:, 3]], axis=1) if kind == "mse" else y


def assert_same_weights(a, b, rtol=0.0):
    for ga, gb in zip(a.get_weights(), b.get_weights()):
        for name in gb:
            if rtol:
                np.testing.assert_allclose(ga[name], gb[name], rtol=rtol, atol=1e-14, err_msg=name)
            else:
                np.testing.assert_array_equal(ga[name], gb[name], err_msg=name)


def weighted_grad_fn(net):
    """grad_fn for reference.sgd_train: T's last column weights each example's loss and gradient."""
    def grad_fn(weights, Xb, Tb):
        parts = [reference.loss_and_grads(net, weights, Xb[i : i + 1], Tb[i : i + 1, :-1]) for i in range(len(Xb))]
        w, b = Tb[:, -1], len(Xb)
        loss = sum(wi * l for wi, (l, _) in zip(w, parts)) / b
        grads = [{k: sum(wi * g[l][k] for wi, (_, g) in zip(w, parts)) / b for k in layer}
                 for l, layer in enumerate(parts[0][1])]
        return loss, grads
    return grad_fn


@pytest.mark.parametrize("kind", KINDS)
def test_integer_weights_are_repeated_examples_in_full_batch(kind):
    """Oracle: the unweighted full-batch fit on np.repeat(X, w) (zero-weight examples gone)."""
    X, y = data()
    y = targets(kind, X, y)
    fit = dict(mode="batch", epochs=3, lr=0.1, shuffle=False)
    weighted = tiny(**KINDS[kind]).fit(X, y, sample_weight=W_INT, **fit)
    repeated = tiny(**KINDS[kind]).fit(np.repeat(X, W_INT, axis=0), np.repeat(y, W_INT, axis=0), **fit)
    assert_same_weights(weighted, repeated, rtol=1e-10)
    np.testing.assert_allclose(weighted.history_["loss"], repeated.history_["loss"], rtol=1e-10)


def test_epoch_loss_is_the_weighted_mean_of_numpy_cross_entropies():
    """Oracle: sum(w * l) / sum(w), l each example's softmax cross-entropy in NumPy at the initial weights."""
    X, y = data()
    net = tiny(input_dim=5)
    hidden, out = net.get_weights()
    Z = np.tanh(X @ hidden["W"] + hidden["b"]) @ out["W"] + out["b"]
    log_p = Z - Z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    per_example = -log_p[np.arange(len(y)), y]  # the classes are 0, 1, 2: column = label
    w = np.random.default_rng(5).uniform(0.0, 3.0, size=len(y))
    w[3] = 0.0
    net.fit(X, y, mode="batch", epochs=1, lr=0.1, sample_weight=w)
    assert net.history_["loss"][0] == pytest.approx(np.sum(w * per_example) / np.sum(w), rel=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode,batch_size", [("online", 1), ("minibatch", 5)])
def test_weighted_sgd_matches_the_reference(kind, mode, batch_size):
    """Oracle: reference SGD where each example's gradient is scaled by w / mean(w)."""
    X, y = data()
    y = targets(kind, X, y)
    w = np.random.default_rng(2).uniform(0.0, 3.0, size=len(y))
    w[4] = 0.0
    net = tiny(input_dim=5, **KINDS[kind])
    w0 = net.get_weights()
    net.fit(X, y, mode=mode, batch_size=batch_size, epochs=2, lr=0.1, shuffle=False, sample_weight=w)
    T = np.eye(3)[y] if kind == "softmax" else y
    T = np.hstack([T, (w / w.mean())[:, None]])
    expected = reference.sgd_train(w0, weighted_grad_fn(net), X, T, [np.arange(len(X))] * 2, batch_size, lr=0.1)
    for got, want in zip(net.get_weights(), expected):
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("mode,batch_size", [("online", None), ("minibatch", 5)])
def test_uniform_weights_are_no_weights(mode, batch_size):
    """Oracle: the unweighted fit, bitwise (weights are normalised to mean 1); a weight of 2 on one example differs."""
    X, y = data()

    def fit(w):
        return tiny(seed=1).fit(X, y, mode=mode, batch_size=batch_size, epochs=2, lr=0.1, sample_weight=w)

    plain = fit(None)
    for w in (np.ones(len(y)), np.full(len(y), 3.0)):
        weighted = fit(w)
        assert_same_weights(weighted, plain)
        assert weighted.history_["loss"] == plain.history_["loss"]
    w = np.ones(len(y))
    w[6] = 2.0
    changed = fit(w)
    assert not np.allclose(changed.get_weights()[0]["W"], plain.get_weights()[0]["W"], rtol=1e-6, atol=0)


BAD = {"length": np.ones(12), "negative": W_INT - 1, "nan": np.where(W_INT > 1, np.nan, 1.0),
       "inf": np.where(W_INT > 1, np.inf, 1.0), "zeros": np.zeros(13), "strings": np.full(13, "1"),
       "2-D": np.ones((13, 1)), "scalar": 1.0}


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
def test_bad_sample_weight_is_refused_and_changes_nothing(bad):
    """Oracle: the state before the call (fitted network); an untouched network (unfitted one)."""
    X, y = data()
    fitted = tiny().fit(X, y, epochs=1, lr=0.1, momentum=0.9)
    before = fitted.get_weights(), fitted._opt_state.copy(), fitted._opt_steps, dict(fitted.history_)
    with pytest.raises((ValueError, TypeError), match="sample_weight"):
        fitted.fit(X, y, epochs=1, lr=0.1, momentum=0.9, sample_weight=bad)
    for got, want in zip(fitted.get_weights(), before[0]):
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
    np.testing.assert_array_equal(fitted._opt_state, before[1])
    assert (fitted._opt_steps, fitted.history_) == before[2:]
    fresh = tiny()
    with pytest.raises((ValueError, TypeError), match="sample_weight"):
        fresh.fit(X, y, sample_weight=bad)
    assert fresh._theta is None and fresh.input_dim is None and fresh.classes_ is None
    assert_same_weights(fresh.fit(X, y, epochs=1, lr=0.1), tiny().fit(X, y, epochs=1, lr=0.1))  # no draw was spent


def test_read_only_X_trains_and_predicts_as_a_writeable_copy():
    """Oracle: the same fit and predictions on a writeable copy, with no kernel compiled anew."""
    X, y = data()
    read_only = X.copy()
    read_only.setflags(write=False)
    writeable = tiny().fit(X, y, batch_size=5, epochs=2, lr=0.1)
    proba = writeable.predict_proba(X)
    kernels = (_train.train_epoch, _train.forward, online.sgd_online_epoch)
    compiled = [len(k.signatures) for k in kernels]
    net = tiny().fit(read_only, y, batch_size=5, epochs=2, lr=0.1)
    assert_same_weights(net, writeable)
    np.testing.assert_array_equal(net.predict_proba(read_only), proba)
    np.testing.assert_array_equal(net.predict(read_only), writeable.predict(X))
    assert [len(k.signatures) for k in kernels] == compiled
