"""Training on device="cuda" against the CPU path (same seed, same order) and the NumPy reference."""
import warnings

import numpy as np
import pytest

from tests.cuda.conftest import require_cuda

require_cuda()

import fastnn  # noqa: E402
from fastnn import network, optimizers  # noqa: E402
from tests import reference  # noqa: E402
from tests.test_optimizers import RULES, assert_weights_close, hp  # noqa: E402
from tests.test_training import data, tiny  # noqa: E402


def sparse_data(n=13, seed=0):
    X, y = data(n, seed)
    X[np.abs(X) < 0.5] = 0.0  # zero inputs: the online kernel skips their rows
    return X, y


def fit_both(make, X, y, **fit):
    """(CPU network, CUDA network) after the same fit from the same seed."""
    nets = []
    for device in ("cpu", "cuda"):
        net = make()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # neither path may diverge
            net.fit(X, y, device=device, **fit)
        nets.append(net)
    return nets


def assert_same_training(cpu, gpu, rtol=1e-10, atol=1e-12):
    assert_weights_close(gpu.get_weights(), cpu.get_weights(), rtol, atol)
    np.testing.assert_allclose(gpu._opt_state, cpu._opt_state, rtol=rtol, atol=atol)
    np.testing.assert_allclose(gpu._bn_stats, cpu._bn_stats, rtol=rtol, atol=atol)
    np.testing.assert_allclose(gpu.history_["loss"], cpu.history_["loss"], rtol=rtol)
    assert gpu._opt_steps == cpu._opt_steps


MODES = [("online", None), ("minibatch", 5), ("batch", None)]


@pytest.mark.parametrize("mode,batch_size", MODES)
@pytest.mark.parametrize("hidden,out,loss", [("tanh", "softmax", "cross_entropy"), ("prelu", "logistic", "cross_entropy"),
                                             ("rrelu", "linear", "mse"), ("selu", "prelu", "mse")])
def test_one_epoch_matches_cpu(mode, batch_size, hidden, out, loss):
    X, y = sparse_data()
    if loss == "mse":
        y = np.stack([X[:, 0] - X[:, 1], X[:, 2], X[:, 3] * X[:, 4]], axis=1)
    cpu, gpu = fit_both(lambda: tiny(hidden, out=out, loss=loss, seed=3), X, y, mode=mode, batch_size=batch_size,
                        epochs=2, lr=0.05)
    assert_same_training(cpu, gpu)


@pytest.mark.parametrize("opt", RULES, ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("mode,batch_size", MODES)
def test_update_rules_match_the_reference(opt, mode, batch_size):
    """As tests/test_optimizers.py on the CPU: every rule, weight decay and per-layer rates."""
    if isinstance(opt, optimizers.Rprop) and mode == "online":
        pytest.skip("Rprop refuses online mode")
    check_against_reference(opt, mode, batch_size, weight_decay=0.01)


@pytest.mark.parametrize("opt", RULES[:3], ids=lambda o: type(o).__name__)
def test_lazy_first_layer_rows_online_match_the_reference(opt):
    """Online without weight decay: momentum, delta-bar-delta and RMSprop leave the rows of zero
    inputs idle and catch them up in closed form, exactly."""
    check_against_reference(opt, "online", None, weight_decay=0.0)


def check_against_reference(opt, mode, batch_size, weight_decay):
    X, y = sparse_data()
    net = tiny("prelu", input_dim=5)
    w0 = net.get_weights()
    net.fit(X, y, mode=mode, batch_size=batch_size, epochs=2, lr=0.05, shuffle=False, optimizer=opt,
            weight_decay=weight_decay, layer_scaling="fan_in", device="cuda")
    T = net._targets.encode(y, 3, np.float64)
    bs = {"online": 1, "minibatch": 5, "batch": 13}[mode]
    expected = reference.train(w0, lambda w, Xb, Tb: reference.loss_and_grads(net, w, Xb, Tb), X, T,
                               [np.arange(13)] * 2, bs, 0.05, type(opt).__name__, hp(opt), weight_decay,
                               [1 / np.sqrt(5), 1 / np.sqrt(7)], return_state=True)
    assert_weights_close(net.get_weights(), expected[0])
    for row, want in zip(net._opt_state, expected[1]):
        assert_weights_close(net._unflatten(row), want)


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 2e-4)])
def test_batch_norm_minibatches_match_cpu(dtype, rtol):
    """Batch statistics, moving averages and the last single example joining the batch before (13 = 4 + 4 + 5)."""
    X, y = sparse_data()

    def make():
        return fastnn.Network([fastnn.Dense(6, "relu", batch_norm=True), fastnn.Dense(5, "tanh", batch_norm=True),
                               fastnn.Dense(3, "softmax")], dtype=dtype, seed=1)

    cpu, gpu = fit_both(make, X.astype(dtype), y, mode="minibatch", batch_size=4, epochs=2, lr=0.1,
                        optimizer="adam")
    assert_same_training(cpu, gpu, rtol, atol=rtol * 1e-2)


def test_full_batch_in_several_chunks(monkeypatch):
    """A batch larger than the GPU chunk sums the chunks' gradients before one update."""
    monkeypatch.setattr(network, "CUDA_CHUNK", 4)
    X, y = sparse_data()
    cpu, gpu = fit_both(lambda: tiny("relu", seed=2), X, y, mode="batch", epochs=3, lr=0.5)
    assert_same_training(cpu, gpu)


def test_float32_online_matches_cpu():
    X, y = sparse_data(n=20)
    cpu, gpu = fit_both(lambda: tiny("lecun_tanh", dtype="float32", seed=4), X.astype(np.float32), y, mode="online",
                        epochs=2, lr=0.1, momentum=0.5)
    assert_same_training(cpu, gpu, rtol=1e-4, atol=1e-6)


def test_emphasis_order_records_each_example_loss():
    X, y = sparse_data()
    cpu, gpu = fit_both(lambda: tiny(seed=5), X, y, mode="online", epochs=2, lr=0.05, order="emphasis")
    np.testing.assert_allclose(gpu.example_errors_, cpu.example_errors_, rtol=1e-10)
    assert_same_training(cpu, gpu)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the simulator's Python arithmetic warns as it overflows
@pytest.mark.parametrize("mode,batch_size", MODES)
def test_divergence_restores_the_weights_as_on_the_cpu(mode, batch_size):
    """The GPU finishes a diverging epoch that the CPU stops early; both restore the end of the
    last finite epoch."""
    X, y = sparse_data()
    Y = np.stack([X[:, 0] * 1e3] * 3, axis=1)
    nets = []
    for device in ("cpu", "cuda"):
        net = tiny("relu", out="linear", loss="mse", seed=0)
        with pytest.warns(fastnn.DivergenceWarning):
            net.fit(X, Y, mode=mode, batch_size=batch_size, epochs=60, lr=1e3, device=device)
        assert net.diverged_
        nets.append(net)
    assert len(nets[1].history_["loss"]) == len(nets[0].history_["loss"])
    assert_weights_close(nets[1].get_weights(), nets[0].get_weights(), 1e-8, 0)


def test_network_device_and_validation_after_each_epoch():
    """device= on the network; validation and early stopping read the weights of every epoch."""
    X, y = sparse_data(n=20)
    nets = []
    for device in ("cpu", "cuda"):
        net = fastnn.Network([fastnn.Dense(5, "tanh"), fastnn.Dense(3, "softmax")], dtype="float64", seed=8,
                             device=device)
        net.fit(X[:13], y[:13], mode="minibatch", batch_size=4, epochs=4, lr=0.3, validation_data=(X[13:], y[13:]),
                early_stopping=2)
        nets.append(net)
    np.testing.assert_allclose(nets[1].history_["val_loss"], nets[0].history_["val_loss"], rtol=1e-10)
    assert nets[1].best_epoch_ == nets[0].best_epoch_
    np.testing.assert_allclose(nets[1].predict_proba(X), nets[0].predict_proba(X), rtol=1e-10)


def test_bench_rows_on_the_gpu_match_the_cpu():
    """`fastnn bench --device cuda` trains through the same bench.run_one."""
    from fastnn import bench

    rng = np.random.default_rng(0)
    x, xt = rng.normal(size=(24, 6)), rng.normal(size=(10, 6))
    y, yt = (x[:, 0] > 0).astype(int), (xt[:, 0] > 0).astype(int)
    rows = [bench.run_one((x, y, xt, yt), (4,), "tanh", "float64", "minibatch", 8, 1, 0.3, compile_s=0.0,
                          evals_per_epoch=2, device=device) for device in ("cpu", "cuda")]
    assert rows[1]["device"] == "cuda"
    assert [c["test_accuracy"] for c in rows[1]["curve"]] == [c["test_accuracy"] for c in rows[0]["curve"]]
    assert rows[1]["train_loss"] == pytest.approx(rows[0]["train_loss"], rel=1e-10)


def test_a_callback_that_changes_the_weights_is_seen_by_the_next_epoch():
    X, y = sparse_data()

    def halve(net, epoch):
        net.set_weights([{k: v / 2 for k, v in w.items()} for w in net.get_weights()])

    cpu, gpu = fit_both(lambda: tiny(seed=6), X, y, mode="minibatch", batch_size=5, epochs=2, lr=0.2, callback=halve)
    assert_same_training(cpu, gpu)
