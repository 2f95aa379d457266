"""Model files: bit-for-bit round trips, and clear errors for damaged files."""
import numpy as np
import pytest

import fastnn


def trained(tmp_path, labels=("a", "b", "c")):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    y = np.array(labels)[np.arange(30) % 3]
    net = fastnn.Network([fastnn.Dense(5, activation="prelu"), fastnn.Dense(4, activation=fastnn.activations.LeakyReLU(0.2)),
                          fastnn.Dense(3, activation="softmax")], seed=3)
    net.fit(X, y, epochs=2, lr=0.05, momentum=0.9, batch_size=4)
    path = tmp_path / "model.npz"
    net.save(path)
    return net, path, X, y


def test_round_trip_is_bit_for_bit_and_training_continues_identically(tmp_path):
    net, path, X, y = trained(tmp_path)
    net2 = fastnn.load(path)
    for a, b in zip(net.get_weights(), net2.get_weights()):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    assert net2.layers[1].activation == fastnn.activations.LeakyReLU(0.2)
    np.testing.assert_array_equal(net.predict(X), net2.predict(X))
    assert list(net2.classes_) == ["a", "b", "c"]
    # Momentum and the random state travel with the model: a second fit continues exactly.
    net.fit(X, y, epochs=1, lr=0.05, momentum=0.9, batch_size=4)
    net2.fit(X, y, epochs=1, lr=0.05, momentum=0.9, batch_size=4)
    np.testing.assert_array_equal(net.get_weights()[0]["W"], net2.get_weights()[0]["W"])


def test_regression_model_round_trip(tmp_path):
    X = np.random.default_rng(1).normal(size=(20, 3))
    net = fastnn.Network([fastnn.Dense(2, activation="linear")], loss="mse", dtype="float64", seed=0).fit(X, X[:, :2])
    net.save(tmp_path / "r.npz")
    np.testing.assert_array_equal(fastnn.load(tmp_path / "r.npz").predict(X), net.predict(X))


def test_truncated_file(tmp_path):
    _, path, _, _ = trained(tmp_path)
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.npz"):
        fastnn.load(tmp_path / "cut.npz")


def test_tampered_weights(tmp_path):
    _, path, _, _ = trained(tmp_path)
    with np.load(path) as d:
        arrays = {k: d[k] for k in d.files}
    arrays["theta"] = arrays["theta"].copy()
    arrays["theta"][0] += 1.0
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="corrupted or was modified"):
        fastnn.load(tmp_path / "bad.npz")


def test_not_a_model(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a fastnn model file"):
        fastnn.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a readable fastnn model"):
        fastnn.load(tmp_path / "text.npz")


def test_file_holds_only_numbers_and_text(tmp_path):
    _, path, _, _ = trained(tmp_path)
    # allow_pickle=False raises on any object array; every array is numbers or text.
    with np.load(path, allow_pickle=False) as d:
        assert set(d.files) == {"theta", "opt_state", "bn_stats", "config", "sha256", "classes"}
        assert {d[k].dtype.kind for k in d.files} <= set("fuU")


def forge(path, out, edit_config=None, **arrays):
    """A copy of a model file with edits and a recomputed digest: damage the digest cannot see."""
    import json
    from fastnn import _io
    with np.load(path) as d:
        data = {k: d[k] for k in d.files}
    config = json.loads(data.pop("config").tobytes())
    data.pop("sha256")
    if edit_config:
        config = edit_config(config)
    data.update(arrays)
    config_bytes = json.dumps(config).encode()
    data["sha256"] = _io._digest(config_bytes, data)
    data["config"] = np.frombuffer(config_bytes, dtype=np.uint8)
    np.savez(out, **data)
    return out


def set_key(key, value):
    def edit(config):
        config[key] = value
        return config
    return edit


@pytest.mark.parametrize("edit,arrays,match", [
    (lambda c: [], {}, "not a fastnn model file"),
    (set_key("input_dim", None), {}, "input_dim"),
    (set_key("rng_state", {"bit_generator": "PCG64", "state": {"state": -1, "inc": 1}, "has_uint32": 0, "uinteger": 0}),
     {}, "inconsistent"),
    (lambda c: {**c, "layers": [{**c["layers"][0], "units": 10**12}] + c["layers"][1:]}, {}, "finite"),
    (None, {"classes": np.array(["a", "b", "c", "d", "e"])}, "classes must be 3"),
    (None, {"classes": np.array(["b", "a", "c"])}, "sorted"),
    (None, {"theta": "nan"}, "finite"),
    (lambda c: {**c, "targets": {**c["targets"], "values": ["a", "b"]}}, {}, "inconsistent"),
    (set_key("opt_steps", True), {}, "opt_steps"),
    (set_key("opt_steps", 2**64), {}, "opt_steps"),
    (set_key("optimizer", {"name": "Adam", "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}), {}, "inconsistent"),  # 1 state row
    (set_key("optimizer", {"name": "Pickle"}), {}, "inconsistent"),
    (set_key("optimizer", {"name": "RMSprop", "rho": 0.9, "eps": 1e-8}), {"opt_state": "negative"}, "'ms' must lie"),
])
def test_forged_files_raise_value_errors(tmp_path, edit, arrays, match):
    _, path, _, _ = trained(tmp_path)
    if arrays.get("theta") == "nan":
        with np.load(path) as d:
            arrays = {"theta": d["theta"] * np.nan}
    if arrays.get("opt_state") == "negative":  # a running mean square below zero
        with np.load(path) as d:
            arrays = {"opt_state": -np.abs(d["opt_state"]) - 1}
    bad = forge(path, tmp_path / "forged.npz", edit, **arrays)
    with pytest.raises(ValueError, match=match):
        fastnn.load(bad)


def test_numpy_integer_seed_saves(tmp_path):
    X = np.random.default_rng(0).normal(size=(10, 2))
    net = fastnn.Network([fastnn.Dense(2, activation="softmax")], seed=np.int64(3)).fit(X, np.arange(10) % 2)
    net.save(tmp_path / "m.npz")
    assert fastnn.load(tmp_path / "m.npz").seed == 3


def test_format_version_1_files_load(tmp_path):
    """Files from before the optimizer state (version 1: theta and the SGD velocity) still load."""
    import json
    from fastnn import _io
    net, path, X, _ = trained(tmp_path)
    with np.load(path) as d:
        config = json.loads(d["config"].tobytes())
        data = {"theta": d["theta"], "velocity": np.full_like(d["theta"], 0.5), "classes": d["classes"]}
    config = {k: v for k, v in config.items() if k not in ("optimizer", "opt_steps")}
    config["version"] = 1
    for layer in config["layers"]:
        del layer["batch_norm"]
    config_bytes = json.dumps(config).encode()
    data["sha256"] = _io._digest(config_bytes, data)
    data["config"] = np.frombuffer(config_bytes, dtype=np.uint8)
    np.savez(tmp_path / "v1.npz", **data)
    back = fastnn.load(tmp_path / "v1.npz")
    np.testing.assert_array_equal(back._opt_state[0], 0.5)
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
