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
    (lambda c: {**c, "layers": [{**c["layers"][0], "units": 10**12}] + c["layers"][1:]}, {}, "memory"),
    (None, {"classes": np.array(["a", "b", "c", "d", "e"])}, r"'classes.npy' holds <U1 \(5,\).*\(3,\)"),
    (None, {"classes": np.array(["b", "a", "c"])}, "sorted"),
    (None, {"theta": "nan"}, "finite"),
    (lambda c: {**c, "targets": {**c["targets"], "values": ["a", "b"]}}, {}, "inconsistent"),
    (set_key("opt_steps", True), {}, "opt_steps"),
    (set_key("opt_steps", 2**64), {}, "opt_steps"),
    (set_key("optimizer", {"name": "Adam", "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}), {}, r"'opt_state.npy'.*\(2, "),  # 1 state row
    (set_key("optimizer", {"name": "Pickle"}), {}, "unknown or missing entry 'Pickle'"),
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


def labelled(y, outputs, loss="cross_entropy", out="softmax"):
    """A tiny network fitted for one epoch on 13 examples with targets y."""
    X = np.random.default_rng(2).normal(size=(13, 4))
    net = fastnn.Network([fastnn.Dense(5, activation="tanh"), fastnn.Dense(outputs, activation=out)], loss=loss, seed=1)
    return net.fit(X, y, epochs=1, batch_size=4, lr=0.1), X


THREE = np.arange(13) % 3


@pytest.mark.parametrize("y,outputs,loss,out", [
    (THREE.astype(np.float64), 3, "cross_entropy", "softmax"),  # fastnn train: a label column written 1.0
    (THREE.astype(np.float32), 3, "cross_entropy", "softmax"),
    (THREE.astype(np.float16), 3, "cross_entropy", "softmax"),
    (THREE - 1, 3, "cross_entropy", "softmax"),
    (THREE.astype(np.uint8), 3, "mse", "tanh"),
    (np.array(["a", "b", "c"])[THREE], 3, "cross_entropy", "softmax"),
    (np.array([b"a", b"bb", b"c"])[THREE], 3, "cross_entropy", "softmax"),
    (THREE == 1, 1, "cross_entropy", "logistic"),  # two classes on one logistic unit
    ((THREE == 1) * 2.5, 1, "cross_entropy", "logistic"),
    ((THREE == 1) * 2.5, 2, "cross_entropy", "softmax"),
    (THREE * 0.5, 1, "mse", "linear"),  # flat regression targets
])
def test_whatever_fit_accepts_round_trips_with_identical_predictions(tmp_path, y, outputs, loss, out):
    net, X = labelled(y, outputs, loss, out)
    net.save(tmp_path / "m.npz")
    back = fastnn.load(tmp_path / "m.npz")
    want, got = net.predict(X), back.predict(X)
    assert got.dtype == want.dtype == (y.dtype if net.classes_ is not None else net.dtype)
    np.testing.assert_array_equal(got, want)
    assert back.evaluate(X, y) == net.evaluate(X, y)


def test_float_labels_compare_as_numbers_after_loading(tmp_path):
    """A model trained on labels read as 0.0, 1.0, 2.0 (a CSV column written 1.0) takes the
    same labels as integers, and the reverse: numbers are one class whatever their dtype."""
    net, X = labelled(THREE.astype(np.float64), 3)
    net.save(tmp_path / "m.npz")
    back = fastnn.load(tmp_path / "m.npz")
    assert back.evaluate(X, THREE) == net.evaluate(X, THREE.astype(np.float64))
    ints, _ = labelled(THREE, 3)
    assert ints.evaluate(X, THREE.astype(np.float32)) == ints.evaluate(X, THREE)
    with pytest.raises(ValueError, match=r"label\(s\) \[0.5\]"):
        ints.evaluate(X, THREE * 0.5)
    with pytest.raises(ValueError, match="dtype <U"):
        ints.evaluate(X, THREE.astype(str))


@pytest.mark.parametrize("classes,match", [
    (np.array([0.0, 2.0, 1.0]), r"classes must be sorted, got \[0.0, 2.0, 1.0\]"),
    (np.array([0.0, 1.0, 1.0]), "classes must be distinct, got 1.0 twice"),
    (np.array([0.0, -0.0, 1.0]), "classes must be distinct, got -0.0 twice"),
    (np.array([0.0, np.nan, 1.0]), "classes contains 1 NaN"),
    (np.array([b"a", b"b", b"b"]), "classes must be distinct, got b'b' twice"),
])
def test_forged_classes_name_the_property_that_fails(tmp_path, classes, match):
    net, _ = labelled(THREE.astype(classes.dtype), 3)
    net.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match=match):
        fastnn.load(forge(tmp_path / "m.npz", tmp_path / "forged.npz", classes=classes))


@pytest.mark.parametrize("name,text", [("m.csv", "label,x\n1,0.5\n"), ("m.txt", "0.5 1.0\n"), ("empty.npz", "")])
def test_a_file_that_is_not_a_zip_names_the_format_expected(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError) as info:
        fastnn.load(tmp_path / name)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / name} is not a readable fastnn model file: it does not start like a zip")
    assert "Network.save" in message and "pickle" not in message


def _no_temporary_files(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


def test_an_interrupted_save_keeps_the_previous_model(tmp_path, monkeypatch):
    """Ctrl-C half-way through writing: the old file is intact and no temporary file is left."""
    net, path, X, _ = trained(tmp_path)
    before = path.read_bytes()

    def half_then_interrupt(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        net.save(path)
    assert path.read_bytes() == before and _no_temporary_files(tmp_path)


def test_a_save_beyond_the_file_size_limit_keeps_the_previous_model(tmp_path):
    """Fault injection: RLIMIT_FSIZE below the model's size in a child process (SIGXFSZ
    ignored, so the write fails with EFBIG as on a full disk)."""
    import subprocess
    import sys

    net, path, X, _ = trained(tmp_path)
    before = path.read_bytes()
    code = f"""
import resource, signal, numpy as np, fastnn
net = fastnn.load({str(path)!r})
net.fit(np.random.default_rng(1).normal(size=(30, 4)), np.array(["a", "b", "c"] * 10), epochs=1, lr=0.1)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) // 2}, {len(before) // 2}))
try:
    net.save({str(path)!r})
except OSError as e:
    print("refused:", e.strerror)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "refused: File too large" in out.stdout, out.stderr
    assert path.read_bytes() == before and _no_temporary_files(tmp_path)
    np.testing.assert_array_equal(fastnn.load(path).predict(X), net.predict(X))


def test_a_new_save_is_readable_by_others(tmp_path):
    """The temporary file is created 0600; the model takes the umask's mode, or the old file's."""
    import os

    net, path, _, _ = trained(tmp_path)
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    path.chmod(0o640)
    net.save(path)
    assert path.stat().st_mode & 0o777 == 0o640
