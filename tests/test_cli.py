import json

from click.testing import CliRunner

from fastnn.cli import main


def test_bench_runs_every_mode_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", "--n-train", "300", "--epochs", "1", "--layers", "16",
                                       "--batch-sizes", "8,1000", "--lr", "0.05", "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["rows"]
    # 1000 > n: that mini-batch size is skipped, full batch still runs.
    assert [(r["mode"], r["batch_size"]) for r in rows] == [("online", 1), ("minibatch", 8), ("batch", 300)]
    for r in rows:
        assert r["examples_per_s"] > 0 and r["compile_s"] >= 0 and r["n_train"] == 300
        assert r["network"] == "784-16-10" and r["dtype"] == "float32"
    acc = {r["mode"]: r["test_accuracy"] for r in rows}
    # One epoch of 300 examples on the 10-class synthetic task (chance: 0.1). Measured: online
    # 0.48, minibatch 0.37, full batch 0.29; one update per example learns most per epoch.
    assert acc["online"] > 0.3 and acc["online"] > acc["batch"]
    assert "examples/s" in result.output and "online" in result.output


def test_bench_time_to_accuracy_repeats_and_csv(tmp_path):
    import csv
    out = tmp_path / "bench.csv"
    result = CliRunner().invoke(main, ["bench", "--n-train", "600", "--epochs", "3", "--layers", "16", "--batch-sizes",
                                       "32", "--target", "0.3", "--repeat", "2", "--csv", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))  # one per run
    assert [(r["mode"], r["seed"]) for r in rows] == [(m, s) for m in ("online", "minibatch", "batch") for s in "01"]
    for r in rows:
        assert r["repeats"] == "2" and float(r["examples_per_s"]) > 0
        assert float(r["lr"]) > 0 and r["threads"] == "1" and r["dtype"] == "float32"
    # The synthetic task (chance 0.1) passes 30% within 3 epochs online (measured: after 180
    # examples). The test accuracy is measured after every 60 examples (a tenth of the epoch).
    online = rows[0]
    assert int(online["examples_to_target"]) % 60 == 0 and int(online["examples_to_target"]) < 1800
    assert 0 < float(online["seconds_to_target"]) <= 3 * float(online["seconds_per_epoch"]) * 1.5
    assert "s to 0.3" in result.output


def test_bench_rejects_bad_options():
    runner = CliRunner()
    bad = runner.invoke(main, ["bench", "--layers", "12,x"])
    assert bad.exit_code == 2 and "comma-separated integers" in bad.output
    bad = runner.invoke(main, ["bench", "--activation", "swish", "--n-train", "100"])
    assert bad.exit_code == 2 and "activation must be one of" in bad.output
    bad = runner.invoke(main, ["bench", "--activation", "softmax", "--n-train", "100"])
    assert bad.exit_code == 2 and "cannot be used on hidden layers" in bad.output


def test_bench_reports_an_unreadable_data_file(tmp_path):
    import numpy as np
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((3, 4)))
    result = CliRunner().invoke(main, ["bench", "--data", str(bad)])
    assert result.exit_code == 2 and "lacks the array(s) ['y_train', 'x_test', 'y_test']" in result.output
    (tmp_path / "junk.npz").write_text("not a zip")
    result = CliRunner().invoke(main, ["bench", "--data", str(tmp_path / "junk.npz")])
    assert result.exit_code == 2 and "cannot read" in result.output


def write_csv(path, n=120, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.array(["lo", "hi"])[(X[:, 0] + X[:, 1] > 0).astype(int)]
    with open(path, "w") as f:
        f.write("a,b,c,label\n")
        for xi, yi in zip(X, y):
            f.write(",".join(f"{v:.5f}" for v in xi) + f",{yi}\n")
    return X, y


def test_train_then_predict_on_a_csv(tmp_path):
    import numpy as np
    X, y = write_csv(tmp_path / "d.csv")
    model, out = tmp_path / "m.npz", tmp_path / "p.csv"
    result = CliRunner().invoke(main, [
        "train", "--data", str(tmp_path / "d.csv"), "--target", "label", "--layers", "8:tanh:lecun_normal:bn,2:softmax",
        "--epochs", "12", "--batch-size", "8", "--lr", "search_then_converge:0.2,500", "--optimizer", "sgd",
        "--preprocess", "standardize", "--order", "balanced", "--validation-split", "0.25", "--save", str(model)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 12 and "val_acc" in lines[-1] and "ex/s" in lines[-1]
    result = CliRunner().invoke(main, ["predict", str(model), "--data", str(tmp_path / "d.csv"), "--target", "label",
                                       "--output", str(out)])
    assert result.exit_code == 0, result.output
    pred = np.loadtxt(out, dtype=str, skiprows=1)
    assert out.read_text().startswith("prediction")
    assert pred.shape == (120,) and np.mean(pred == y) > 0.85  # a linearly separable pair of classes
    # The columns in another order (and an extra one): read by name, the same predictions.
    fields = [line.split(",") for line in (tmp_path / "d.csv").read_text().splitlines()]
    (tmp_path / "e.csv").write_text("\n".join(",".join([f[2], "extra" if i == 0 else "9", f[0], f[1]])
                                              for i, f in enumerate(fields)) + "\n")
    again = CliRunner().invoke(main, ["predict", str(model), "--data", str(tmp_path / "e.csv"), "--output",
                                      str(tmp_path / "q.csv")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "q.csv").read_text() == out.read_text()


def test_ctrl_c_stops_after_the_epoch_and_saves(tmp_path, monkeypatch):
    import os
    import signal

    from fastnn import commands
    write_csv(tmp_path / "d.csv")
    line = commands.progress_line

    def interrupt_at_epoch_3(net, epoch, epochs, n, acc=None):
        if epoch == 3:
            os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C during epoch 3
        return line(net, epoch, epochs, n, acc)

    monkeypatch.setattr(commands, "progress_line", interrupt_at_epoch_3)
    result = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "d.csv"), "--target", "label", "--layers",
                                       "4:tanh,2:softmax", "--epochs", "50", "--save", str(tmp_path / "m.npz")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 3 and " acc " in lines[-1]  # no validation split: accuracy on the training data
    assert (tmp_path / "m.npz").exists()


def test_train_and_predict_report_bad_input(tmp_path):
    write_csv(tmp_path / "d.csv")
    runner = CliRunner()
    base = ["train", "--data", str(tmp_path / "d.csv"), "--target", "label"]
    cases = [
        (["--layers", "8:tanh,2:softmax", "--target", "nope"], "no column 'nope'"),
        (["--layers", "eight:tanh,2:softmax"], "expected units:activation"),
        (["--layers", "8:tanh:uniformish,2:softmax"], "unknown initialiser"),
        (["--layers", "8:tanh,2:softmax", "--lr", "cosine:0.1"], "unknown schedule"),
        (["--layers", "8:tanh,2:softmax", "--preprocess", "pca"], "expected standardize"),
        (["--layers", "8:tanh,2:softmax", "--order", "random"], "order must be one of"),
        (["--layers", "8:tanh,2:softmax", "--optimizer", "adagrad"], "optimizer must be one of"),
    ]
    for extra, message in cases:
        result = runner.invoke(main, base + extra)
        assert result.exit_code != 0 and message in result.output, (extra, result.output)
    result = runner.invoke(main, ["predict", str(tmp_path / "d.csv"), "--data", str(tmp_path / "d.csv")])
    assert result.exit_code != 0 and "not a readable fastnn model" in result.output


def test_info_names_versions_threads_cuda_and_cache():
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0
    for key in ("fastnn", "numba", "numpy", "threads", "cuda", "kernel cache"):
        assert key in result.output


def test_bench_compare_names_a_missing_peer(monkeypatch):
    from fastnn import peers
    monkeypatch.setattr(peers.importlib.util, "find_spec", lambda name: None)
    result = CliRunner().invoke(main, ["bench", "--n-train", "200", "--epochs", "1", "--layers", "8",
                                       "--batch-sizes", "32", "--lr", "0.05", "--compare", "torch"])
    assert result.exit_code == 0, result.output
    assert "--compare torch: skipped, torch is not installed (pip install torch" in result.output
    assert "torch ex/s" not in result.output


def test_bench_compares_with_pytorch_from_the_same_initial_weights():
    """Full batch from the same initial weights: every update is the same arithmetic, so
    PyTorch's test accuracy after each epoch equals fastnn's (up to float32 rounding)."""
    import pytest
    pytest.importorskip("torch")
    from fastnn import bench, datasets
    data = datasets.synthetic_mnist(400, 300)
    ours = bench.run_one(data, (16,), "tanh", "float32", "batch", 400, 3, 0.5)
    theirs = bench.compare("torch", data, (16,), "tanh", "float32", "batch", 400, 3, 0.5, 1)
    assert len(ours["curve"]) == len(theirs["curve"]) == 3  # full batch: one evaluation per epoch
    for a, b in zip(ours["curve"], theirs["curve"]):
        assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 2 / 300


def test_bench_plot_draws_a_png_or_names_matplotlib(tmp_path):
    import importlib.util
    out = tmp_path / "curves.png"
    result = CliRunner().invoke(main, ["bench", "--n-train", "200", "--epochs", "2", "--layers", "8",
                                       "--batch-sizes", "32", "--lr", "0.05", "--plot", str(out)])
    if importlib.util.find_spec("matplotlib") is None:
        assert result.exit_code == 1 and "--plot needs matplotlib" in result.output
    else:
        assert result.exit_code == 0, result.output
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_survives_a_diverging_rate(tmp_path):
    import json
    out = tmp_path / "b.json"
    result = CliRunner().invoke(main, ["bench", "--n-train", "200", "--epochs", "1", "--layers", "8", "--activation",
                                       "relu", "--batch-sizes", "32", "--lr", "1e30", "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["rows"]
    assert any(r["diverged"] for r in rows)


def test_train_regression_with_integer_targets_and_output_checks(tmp_path):
    import numpy as np
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    age = np.round(30 + 10 * X[:, 0]).astype(int)
    with open(tmp_path / "r.csv", "w") as f:
        f.write("x1,x2,age\n" + "".join(f"{a:.4f},{b:.4f},{c}\n" for (a, b), c in zip(X, age)))
    base = ["train", "--data", str(tmp_path / "r.csv"), "--target", "age", "--layers", "8:tanh,1:linear",
            "--preprocess", "standardize", "--epochs", "2", "--lr", "0.001"]
    result = CliRunner().invoke(main, base)
    assert result.exit_code == 0, result.output  # integer targets of a linear output: regression, not 40 classes
    result = CliRunner().invoke(main, base + ["--save", str(tmp_path / "missing" / "m.npz")])
    assert result.exit_code == 2 and "does not exist" in result.output and "epoch" not in result.output


def test_device_cuda_without_numba_cuda_is_a_clear_error(monkeypatch):
    """Before any work: the message names the missing package (the option and the install line)."""
    import importlib.util

    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numba_cuda" else real(name, *a))
    for command in (["bench"], ["train", "--data", __file__, "--layers", "2:softmax"]):
        result = CliRunner().invoke(main, command + ["--device", "cuda"])
        assert result.exit_code == 2, result.output
        assert "--device='cuda' needs the optional numba-cuda package" in result.output
        assert "fastnn[cuda]" in result.output and "training" not in result.output
