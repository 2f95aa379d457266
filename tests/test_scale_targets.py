"""Regression targets learnt as z-scores: kept in the model, mapped back by predict."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

import fastnn
from fastnn import _io
from fastnn.cli import DIVERGED, main


def regression_net(scale):
    return fastnn.Network([fastnn.Dense(8, activation="tanh"), fastnn.Dense(2, activation="linear")], loss="mse",
                          dtype="float64", seed=0, scale_targets=scale)


def large_targets(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, np.c_[5000 + 1000 * X[:, 0], -3 + 0.01 * X[:, 1]]  # scales 1000 and 0.01


def test_scaled_targets_train_as_z_scores_and_predict_in_their_units(tmp_path):
    X, Y = large_targets()
    net = regression_net(True).fit(X, Y, epochs=30, lr=0.05)
    mean, std = Y.mean(axis=0), Y.std(axis=0)
    # What the network learns is the z-score: its raw outputs map back to the predictions.
    np.testing.assert_allclose(net.predict(X), net.forward(X) * std + mean, rtol=1e-12)
    # Its losses are those of the z-scores: the same weights, unscaled, on z-scores made by hand.
    plain = regression_net(False)
    plain.fit(X, (Y - mean) / std, epochs=1, lr=1e-12)
    plain.set_weights(net.get_weights())
    assert net.evaluate(X, Y)["loss"] == pytest.approx(plain.evaluate(X, (Y - mean) / std)["loss"], rel=1e-12)
    assert net.evaluate(X, Y)["r2"] > 0.9  # both targets, whatever their scale (measured 0.97)
    net.save(tmp_path / "m.npz")
    back = fastnn.load(tmp_path / "m.npz")
    assert back.scale_targets and np.array_equal(back.predict(X), net.predict(X))
    # Unscaled, the same training cannot follow targets of 5,000 +- 1,000 (measured R^2: -384).
    raw = regression_net(False).fit(X, Y, epochs=30, lr=0.05)
    assert raw.evaluate(X, Y)["r2"] < 0.0


def test_bounded_outputs_take_the_targets_as_they_are():
    """A logistic output cannot reach negative z-scores: 0/1 targets stay 0/1 (else predictions
    would be confined to [0.5, 1] once mapped back)."""
    X, _ = large_targets(60)
    y = (X[:, 0] > 0).astype(float)
    net = fastnn.Network([fastnn.Dense(8, activation="tanh"), fastnn.Dense(1, activation="logistic")], loss="mse",
                         seed=0, scale_targets=True).fit(X, y, epochs=20, lr=0.5)
    assert net._targets.scale is None
    pred = net.predict(X)
    assert pred.min() < 0.3 and pred.max() > 0.7 and net.evaluate(X, y)["r2"] > 0.3


def test_a_constant_target_is_shifted_not_divided_by_zero():
    X, Y = large_targets(50)
    Y[:, 1] = 7.0
    net = regression_net(True).fit(X, Y, epochs=5, lr=0.05)
    assert np.isfinite(net.predict(X)).all() and net._targets.scale[1] == 1.0


@pytest.mark.parametrize("shift,scale,match", [([1.0], [1.0, 2.0], "target shift must be 2 finite numbers"),
                                               ([0.0, 1.0], [1.0, 0.0], "target scale must be positive"),
                                               ([0.0, 1.0], None, "given together"),
                                               ([0.0, "x"], [1.0, 1.0], "target shift must be")])
def test_forged_target_scaling_is_refused(tmp_path, shift, scale, match):
    X, Y = large_targets(20)
    regression_net(True).fit(X, Y, epochs=1, lr=0.01).save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as d:
        arrays = {k: d[k] for k in d.files if k not in ("config", "sha256")}
        config = json.loads(d["config"].tobytes())
    config["targets"]["shift"], config["targets"]["scale"] = shift, scale
    text = json.dumps(config).encode()
    arrays["sha256"] = _io._digest(text, arrays)
    np.savez(tmp_path / "forged.npz", config=np.frombuffer(text, dtype=np.uint8), **arrays)
    with pytest.raises(ValueError, match=match):
        fastnn.load(tmp_path / "forged.npz")


def test_cli_scales_regression_targets_by_default(tmp_path):
    """Issue 16: scikit-learn's diabetes data with raw targets (25-346) predicted about -1e17
    and exited 0. Now the targets are z-scores by default; unscaled, the run diverges and says so."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True, scaled=False)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    with open(tmp_path / "d.csv", "w") as f:
        f.write(",".join(f"x{i}" for i in range(X.shape[1])) + ",target\n")
        f.writelines(",".join(f"{v:.6g}" for v in row) + f",{t:g}\n" for row, t in zip(X_train, y_train))
    base = ["train", "--data", str(tmp_path / "d.csv"), "--target", "target", "--layers", "100:relu,1:linear",
            "--save", str(tmp_path / "m.npz")]
    result = CliRunner().invoke(main, base)
    assert result.exit_code == 0, result.output
    scores = fastnn.load(tmp_path / "m.npz").evaluate(X_test, y_test)
    assert scores["r2"] > 0.1 and scores["rmse"] < 80  # measured: 0.24 and 62 (the targets' std: 77)
    result = CliRunner().invoke(main, base + ["--no-scale-targets"])
    assert result.exit_code == DIVERGED and "training diverged" in result.output
