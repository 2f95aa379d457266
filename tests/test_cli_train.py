"""`fastnn train`: every fit option has a flag, defaults that give a good model, the closing advice."""
import csv

import numba
import numpy as np
import pytest
from click.testing import CliRunner

import fastnn
from fastnn import commands
from fastnn.cli import DIVERGED, main
from fastnn.network import Network


def write_table(path, X, y, name="label"):
    with open(path, "w") as f:
        f.write(",".join(f"x{i}" for i in range(X.shape[1])) + f",{name}\n")
        for xi, yi in zip(X, y):
            f.write(",".join(f"{v:.6g}" for v in xi) + f",{yi}\n")


def wine_like(n=150, seed=0):
    """Three classes told apart by features on scales of 1 to 1000, like scikit-learn's wine
    data: unscaled, they saturate every hidden unit."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.normal(size=(n, 4)) + y[:, None] * np.array([3.0, -3.0, 2.0, 0.0])
    return X * np.array([1.0, 10.0, 100.0, 1000.0]) + np.array([13.0, 100.0, 700.0, 5000.0]), y


def train(tmp_path, *args):
    return CliRunner().invoke(main, ["train", "--data", str(tmp_path / "d.csv"), "--target", "label", *args])


def test_every_fit_option_reaches_fit(tmp_path, monkeypatch):
    X, y = wine_like()
    write_table(tmp_path / "d.csv", X, y)
    seen = {}
    real = Network.fit

    def spy(self, *a, **kw):
        seen.update(kw)
        return real(self, *a, **kw)

    monkeypatch.setattr(Network, "fit", spy)
    threads = numba.get_num_threads()
    log = tmp_path / "history.csv"
    result = train(tmp_path, "--layers", "8:tanh:lecun_normal:bn,3:softmax", "--epochs", "30", "--momentum", "0.9",
                   "--nesterov", "--weight-decay", "0.001", "--early-stopping", "2", "--bn-statistics",
                   "training_set", "--validation-split", "0.3", "--lr", "2", "--threads", "1", "--quiet",
                   "--log", str(log), "--layer-scaling", "fan_in", "--save", str(tmp_path / "m.npz"))
    assert result.exit_code == 0, result.output
    assert {k: seen[k] for k in ("nesterov", "weight_decay", "early_stopping", "bn_statistics", "layer_scaling")} == {
        "nesterov": True, "weight_decay": 0.001, "early_stopping": 2, "bn_statistics": "training_set",
        "layer_scaling": "fan_in"}
    assert numba.get_num_threads() == threads  # --threads holds for the command only
    assert "epoch " not in result.output  # --quiet
    rows = list(csv.DictReader(log.open()))
    assert list(rows[0]) == ["epoch", "loss", "lr", "time", "val_loss", "val_accuracy"]
    # a rate of 2 with momentum 0.9 overshoots: early stopping ends the run before epoch 30
    assert 3 <= len(rows) < 30 and [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))


def test_loss_flag_and_its_errors(tmp_path):
    X, y = wine_like(60)
    write_table(tmp_path / "d.csv", X, y % 2)
    result = train(tmp_path, "--layers", "4:tanh,1:logistic", "--loss", "mse", "--save", str(tmp_path / "m.npz"))
    assert result.exit_code == 0, result.output
    assert fastnn.load(tmp_path / "m.npz").loss == "mse"  # the default after logistic is cross_entropy
    bad = train(tmp_path, "--layers", "4:tanh,3:softmax", "--loss", "mse")
    assert bad.exit_code == 2 and "Invalid value for --loss: a softmax output layer goes with" in bad.output
    assert "epoch" not in bad.output
    bad = train(tmp_path, "--layers", "4:tanh,3:softmax", "--nesterov")
    assert bad.exit_code == 2 and "Invalid value for --nesterov:" in bad.output and "add --momentum" in bad.output


def test_inputs_are_standardized_by_default(tmp_path):
    """scikit-learn's wine data (features on scales of 0.1 to 1000): its MLPClassifier's defaults
    score 0.91; fastnn train's must give a good model without tuning too. Unscaled, the ReLUs
    saturate (issue 16 measured 0.40)."""
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    write_table(tmp_path / "d.csv", X_train, y_train)
    scores = {}
    for preprocess in "default", "none":
        flags = () if preprocess == "default" else ("--preprocess", "none")
        result = train(tmp_path, "--layers", "100:relu,3:softmax", *flags, "--save", str(tmp_path / "m.npz"))
        assert result.exit_code in ((0,) if preprocess == "default" else (0, DIVERGED)), result.output
        net = fastnn.load(tmp_path / "m.npz")
        scores[preprocess] = net.evaluate(X_test, y_test)["accuracy"], [type(s).__name__ for s in net.preprocess]
    # measured: 0.98 by default (0.94-0.98 over seeds 0-2), 0.41 with none
    assert scores["default"][0] > 0.9 and scores["default"][1] == ["Standardizer"]
    assert scores["none"][0] < 0.7 and scores["none"][1] == []


def test_inputs_already_in_unit_range_keep_their_zeros(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.random((40, 5)) * (rng.random((40, 5)) < 0.3)  # pixel-like: [0, 1], mostly zeros
    write_table(tmp_path / "d.csv", X, np.arange(40) % 2)
    result = train(tmp_path, "--layers", "4:tanh,2:softmax", "--save", str(tmp_path / "m.npz"))
    assert result.exit_code == 0, result.output
    assert fastnn.load(tmp_path / "m.npz").preprocess == []


def test_a_diverged_run_saves_what_it_kept_and_exits_3(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 3))
    write_table(tmp_path / "d.csv", X, 1e6 * X[:, 0])
    result = train(tmp_path, "--layers", "8:relu,1:linear", "--lr", "10", "--epochs", "5", "--save",
                   str(tmp_path / "m.npz"))
    assert result.exit_code == DIVERGED == 3, result.output
    assert "training diverged" in result.output and "kept and saved" in result.output
    net = fastnn.load(tmp_path / "m.npz")
    assert np.isfinite(net.predict(X)).all()


class _Fit:
    def __init__(self, losses, val=None, stopped=None, best=None):
        self.history_ = {"loss": losses} if val is None else {"loss": losses, "val_loss": val}
        self.stopped_epoch_, self.best_epoch_ = stopped, best


@pytest.mark.parametrize("fit,expected", [
    (_Fit([1.0, 0.5]), "the loss was still falling fast (1 -> 0.5 in the last epoch): more --epochs"),
    (_Fit([1.0, 0.5], val=[0.6, 0.9]), "the val_loss rose in the last epoch (0.6 -> 0.9, best 0.6): lower --lr"),
    (_Fit([1.0, 0.995]), None),
    (_Fit([1.0]), None),
    (_Fit([1.0, 0.5, 0.7], stopped=3), None),  # early stopping kept the best epoch: nothing to advise
    (_Fit([1.0, 0.5, 0.7], best=2), "the loss rose in the last epoch (0.5 -> 0.7): lower --lr; the best epoch was kept"),
])
def test_closing_advice_reads_the_monitored_loss(fit, expected):
    advice = commands.trend_advice(fit)
    assert advice == expected if expected is None else advice.startswith(expected)


def test_fit_verbose_prints_the_cli_epoch_line(capsys):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(30, 3)), np.arange(30) % 2
    net = fastnn.Network([fastnn.Dense(4, activation="tanh"), fastnn.Dense(2, activation="softmax")], seed=0)
    net.fit(X, y, epochs=2, validation_data=(X, y), verbose=True)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [commands.epoch_line({k: v[: i + 1] for k, v in net.history_.items()}, i + 1, 2, 30)
                     for i in range(2)]
    assert lines[0].startswith("epoch 1/2  loss ") and "  val_acc " in lines[0] and lines[0].endswith(" ex/s")


def test_long_steps_say_what_the_wait_is(tmp_path, monkeypatch):
    """Reading a large CSV shows its progress by tenths; fitting preprocessing on many inputs
    says so before the wait (thresholds lowered here: the file is small)."""
    from fastnn import datasets
    X, y = wine_like(3000)  # 100 kB: read by the text layer 8 kB at a time
    write_table(tmp_path / "d.csv", X, y)
    monkeypatch.setattr(commands, "LARGE_FILE", 0)
    monkeypatch.setattr(commands, "LARGE_INPUTS", 0)
    monkeypatch.setattr(datasets, "BLOCK_ROWS", 30)  # a hundred blocks
    result = train(tmp_path, "--layers", "4:tanh,3:softmax", "--save", str(tmp_path / "m.npz"))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    reading = [line for line in lines if line.startswith(f"reading {tmp_path / 'd.csv'} (0 MiB): ")]
    percents = [int(line.rsplit(" ", 1)[1][:-1]) for line in reading]
    assert percents == sorted(set(percents)) and percents[-1] == 100 and len(percents) >= 5
    fitting = lines.index("fitting the preprocessing (Standardizer) on 3,000 x 4 inputs")
    assert fitting < min(i for i, line in enumerate(lines) if line.startswith("epoch 1/"))
    quiet = train(tmp_path, "--layers", "4:tanh,3:softmax", "--quiet")
    assert "reading" not in quiet.output and "fitting" not in quiet.output
