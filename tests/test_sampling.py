"""Example orders: their defining properties, and emphasis recorded by the epoch loop."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn import sampling
from tests import reference
from tests.test_training import data, tiny

labels = st.lists(st.integers(0, 4), min_size=2, max_size=80).map(np.array).filter(lambda c: np.unique(c).size > 1)


def dense_codes(c):
    """Class indices 0..k-1 as the network passes them (every class present)."""
    return np.unique(c, return_inverse=True)[1]


@settings(max_examples=60, deadline=None)
@given(c=labels, seed=st.integers(0, 2**32))
def test_shuffle_and_interleave_are_permutations(c, seed):
    c = dense_codes(c)
    for order in ("shuffle", "interleave", "sequential"):
        idx = sampling.epoch_order(order, c.size, 4, c, np.random.default_rng(seed), None)
        assert np.array_equal(np.sort(idx), np.arange(c.size)), order


@settings(max_examples=80, deadline=None)
@given(c=labels, seed=st.integers(0, 2**32))
def test_interleave_never_repeats_a_class_when_the_counts_allow(c, seed):
    c = dense_codes(c)
    idx = sampling.epoch_order("interleave", c.size, 4, c, np.random.default_rng(seed), None)
    repeats = int(np.sum(c[idx][1:] == c[idx][:-1]))
    biggest = np.bincount(c).max()
    rest = c.size - biggest
    assert repeats == max(0, biggest - rest - 1)  # zero whenever no class outnumbers all others + 1


@settings(max_examples=60, deadline=None)
@given(c=labels, batch=st.integers(1, 17), seed=st.integers(0, 2**32))
def test_balanced_batches_hold_the_classes_in_equal_numbers(c, batch, seed):
    c = dense_codes(c)
    k = c.max() + 1
    idx = sampling.epoch_order("balanced", c.size, batch, c, np.random.default_rng(seed), None)
    assert idx.size == c.size and idx.min() >= 0 and idx.max() < c.size
    for s in range(0, c.size, batch):
        counts = np.bincount(c[idx[s : s + batch]], minlength=k)
        assert counts.max() - counts.min() <= 1, counts


def test_balanced_draws_minority_classes_more_often():
    c = np.r_[np.zeros(90, int), np.ones(10, int)]
    idx = sampling.epoch_order("balanced", 100, 10, c, np.random.default_rng(0), None)
    assert np.sum(c[idx] == 1) == 50 and np.unique(idx[c[idx] == 1]).size == 10  # each minority example 5 times


def test_emphasis_presents_large_errors_more_often():
    errors = np.r_[np.full(50, 0.01), np.full(50, 1.0)]
    rng = np.random.default_rng(0)
    counts = np.bincount(np.concatenate([sampling.epoch_order(sampling.Emphasis(0.1), 100, 1, None, rng, errors)
                                         for _ in range(50)]), minlength=100)
    # weights 0.01 + 0.1 * 0.505 and 1 + 0.1 * 0.505: 17.4 times as often, none starved
    ratio = counts[50:].mean() / counts[:50].mean()
    assert 14 < ratio < 21 and counts.min() > 0


def test_emphasis_records_each_examples_loss_in_the_epoch_loop():
    """The loop overwrites the loss of each example it presents: poisoning the starting losses
    shows which ones it recorded (with a rate too small to move a weight, the reference's)."""
    X, y = data(31)
    net = tiny(input_dim=5)
    forward = net._forward

    def poisoned(X, T=None, plan=None, errors=None):
        out = forward(X, T, plan, errors)
        if errors is not None:
            errors[:] = 123.0
        return out

    net._forward = poisoned
    net.fit(X, y, mode="online", epochs=2, lr=1e-300, order="emphasis")
    T = np.eye(3)[y]
    want = -np.sum(T * np.log(reference.bn_forward(net, net.get_weights(), X)), axis=1)
    seen = net.example_errors_ != 123.0
    assert seen.sum() > 15
    np.testing.assert_allclose(net.example_errors_[seen], want[seen], rtol=1e-10)


@pytest.mark.parametrize("order", ["interleave", "balanced", "emphasis", sampling.Emphasis(0.5)])
@pytest.mark.parametrize("mode", ["online", "minibatch"])
def test_every_order_trains_in_both_modes(order, mode):
    X, y = data(40)
    batch_size = 6 if mode == "minibatch" else None
    net = tiny(input_dim=5).fit(X, y, mode=mode, batch_size=batch_size, epochs=20, lr=0.1, order=order)
    assert net.evaluate(X, y)["accuracy"] > 0.8


@pytest.mark.parametrize("kw,match", [
    ({"order": "random"}, "order must be one of"),
    ({"order": "interleave", "y": "regression"}, "regression"),
    ({"order": "balanced", "y": "regression"}, "regression"),
    ({"order": "interleave", "shuffle": False}, "disagree"),
])
def test_bad_orders_raise_and_change_nothing(kw, match):
    X, y = data(20)
    kw = dict(kw)
    regression = kw.pop("y", None) == "regression"
    net = tiny(input_dim=5, out="linear", loss="mse", n_out=1) if regression else tiny(input_dim=5)
    before = net._theta.copy(), net._rng.bit_generator.state
    with pytest.raises(ValueError, match=match):
        net.fit(X, X[:, 0] if regression else y, **kw)
    np.testing.assert_array_equal(net._theta, before[0])
    assert net._rng.bit_generator.state == before[1]


def test_balanced_skips_classes_the_data_lacks():
    c = np.array([0, 2, 2, 0, 2, 0, 2, 2])  # class 1 known to the network, absent here
    idx = sampling.epoch_order("balanced", c.size, 4, c, np.random.default_rng(0), None)
    for s in range(0, 8, 4):
        assert np.bincount(c[idx[s : s + 4]], minlength=3).tolist() == [2, 0, 2]


def test_emphasis_starts_from_the_current_losses():
    """A second fit draws by the losses under the weights the first fit left, not uniformly."""
    X, y = data(31)
    net = tiny(input_dim=5).fit(X, y, epochs=30, lr=0.2, batch_size=4)
    net.fit(X, y, epochs=1, lr=1e-300, batch_size=4, order="emphasis")
    T = np.eye(3)[y]
    want = -np.sum(T * np.log(reference.bn_forward(net, net.get_weights(), X)), axis=1)
    np.testing.assert_allclose(net.example_errors_, want, rtol=1e-9)
    assert want.max() > 10 * want.min()
    zero = tiny(input_dim=5, out="linear", loss="mse", n_out=1).fit(X, 0 * X[:, 0], epochs=1, lr=1e-300,
                                                                      order="emphasis")  # all losses 0: uniform
    assert np.isfinite(zero.history_["loss"]).all()
