import json
import os
import signal
import sys

import pytest
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
                                       "32", "--target-accuracy", "0.3", "--repeat", "2", "--csv", str(out)])
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
    assert "s to 0.3" in result.output and "reached 0.3 test accuracy first" in result.output


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
    assert result.exit_code == 2 and "junk.npz is not an .npz archive" in result.output
    assert "pass an .npz with x_train, y_train, x_test, y_test, or a CSV file" in result.output


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


def test_train_and_predict_report_bad_input_as_usage_errors(tmp_path):
    """Every error of the user's input exits with status 2, as click's own checks do, naming the
    option where one is to blame."""
    write_csv(tmp_path / "d.csv")
    (tmp_path / "e.csv").write_text("a,b,c,label\n1,2,3,x\n4,,6,y\n")
    runner = CliRunner()
    base = ["train", "--data", str(tmp_path / "d.csv"), "--target", "label"]
    cases = [
        (["--layers", "8:tanh,2:softmax", "--target", "nope"], "--data", "no column 'nope'"),
        (["--layers", "eight:tanh,2:softmax"], "--layers", "expected units:activation"),
        (["--layers", "8:tanh:uniformish,2:softmax"], "--layers", "unknown initialiser"),
        (["--layers", "8:tanh,2:softmax", "--lr", "cosine:0.1"], "--lr", "unknown schedule"),
        (["--layers", "8:tanh,2:softmax", "--preprocess", "pca"], "--preprocess", "expected standardize"),
        (["--layers", "8:tanh,2:softmax", "--order", "random"], "--order", "order must be one of"),
        (["--layers", "8:tanh,2:softmax", "--optimizer", "adagrad"], "--optimizer", "optimizer must be one of"),
        (["--layers", "8:tanh,2:softmax", "--validation-split", "0.001"], "--validation-split", "leaves 0 of 120"),
        (["--layers", "8:tanh,2:softmax", "--batch-size", "500"], None, "batch_size=500 is larger than the 120"),
        (["--layers", "8:tanh,2:softmax", "--mode", "online", "--batch-size", "8"], None, "has no effect"),
        (["--layers", "8:tanh,2:softmax", "--data", str(tmp_path / "e.csv")], "--data", "line 3, column 'b'"),
    ]
    for extra, option, message in cases:
        result = runner.invoke(main, base + extra)
        assert result.exit_code == 2 and message in result.output, (extra, result.output)
        assert option is None or f"Invalid value for {option}:" in result.output, (extra, result.output)
        assert "epoch" not in result.output, (extra, result.output)
    result = runner.invoke(main, ["predict", str(tmp_path / "d.csv"), "--data", str(tmp_path / "d.csv")])
    assert result.exit_code == 2 and "Invalid value for MODEL" in result.output
    assert "not a readable fastnn model" in result.output


def test_help_says_what_the_exit_statuses_mean():
    text = " ".join(CliRunner().invoke(main, ["--help"]).output.split())
    assert "Exit status: 0 on success; 2 for a usage error" in text
    assert "1 for a failure that is not the input's" in text


def test_target_with_npz_data_is_refused(tmp_path):
    import numpy as np
    np.savez(tmp_path / "d.npz", x_train=np.zeros((20, 3)), y_train=np.arange(20) % 2)
    for command in (["train", "--layers", "2:softmax"], ["predict", __file__]):
        result = CliRunner().invoke(main, command + ["--data", str(tmp_path / "d.npz"), "--target", "label"])
        assert result.exit_code == 2, result.output
        assert "Invalid value for --target: --target names a column of CSV data" in result.output


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


def test_bench_outputs_are_checked_before_and_failures_exit_1():
    quick = ["bench", "--n-train", "100", "--epochs", "1", "--layers", "4", "--batch-sizes", "32", "--lr", "0.05"]
    result = CliRunner().invoke(main, quick + ["--json", "/proc/b.json"])  # no file can be made there
    assert result.exit_code == 2 and "Invalid value for --json: cannot write /proc/b.json" in result.output
    assert "online" not in result.output  # refused before the benchmark ran
    result = CliRunner().invoke(main, quick + ["--csv", "/dev/full"])  # opens, but every write fails
    assert result.exit_code == 1 and "cannot write /dev/full: No space left on device" in result.output


def test_bench_plot_format_is_checked_before_the_benchmark(tmp_path):
    pytest.importorskip("matplotlib")
    result = CliRunner().invoke(main, ["bench", "--n-train", "100", "--epochs", "1", "--layers", "4", "--batch-sizes",
                                       "32", "--lr", "0.05", "--plot", str(tmp_path / "curves.xyz")])
    assert result.exit_code == 2 and "matplotlib cannot draw a .xyz file" in result.output
    assert "online" not in result.output  # refused before the benchmark ran


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


TRAIN = ["--target", "label", "--layers", "4:tanh,2:softmax", "--epochs", "1"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A model trained by the CLI on write_csv's data: (model path, CSV path)."""
    folder = tmp_path_factory.mktemp("model")
    write_csv(folder / "d.csv")
    result = CliRunner().invoke(main, ["train", "--data", str(folder / "d.csv"), *TRAIN, "--save",
                                       str(folder / "m.npz")])
    assert result.exit_code == 0, result.output
    return folder / "m.npz", folder / "d.csv"


# In a child process: once the model has predicted, no file may grow beyond 100 bytes, so
# writing the predictions fails half-way (EFBIG; SIGXFSZ ignored, else it kills the process).
FILE_LIMIT_AFTER_PREDICTING = """
import resource, signal, sys
from fastnn.network import Network
real = Network.predict
def predict_then_limit(self, X):
    out = real(self, X)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    return out
Network.predict = predict_then_limit
from fastnn.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_predict_output_failing_half_way_keeps_the_previous_file(model, tmp_path, suffix):
    import subprocess
    import numpy as np
    out = tmp_path / f"p{suffix}"
    if suffix == ".npy":  # a previous file of the kind predict writes there (another kind is refused)
        np.save(out, np.arange(3))
    else:
        out.write_text("previous predictions\n")
    previous = out.read_bytes()
    child = subprocess.run([sys.executable, "-c", FILE_LIMIT_AFTER_PREDICTING, "predict", str(model[0]), "--data",
                            str(model[1]), "--target", "label", "--output", str(out)],
                           capture_output=True, text=True, timeout=300)
    assert out.read_bytes() == previous and sorted(tmp_path.iterdir()) == [out]  # no temporary file
    assert child.returncode == 1, child.stderr  # the disk failed, not the input
    assert f"cannot write {out}: File too large" in child.stderr


@pytest.mark.parametrize("target, reason", [("/proc/m.npz", "cannot write /proc/m.npz"),
                                            ("/dev/full", "/dev/full is not a regular file")])
def test_train_refuses_an_unwritable_save_path_before_training(tmp_path, target, reason):
    write_csv(tmp_path / "d.csv")
    result = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "d.csv"), *TRAIN, "--save", target])
    assert result.exit_code == 2 and f"Invalid value for --save: {reason}" in result.output, result.output
    assert "epoch" not in result.output


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_train_refuses_a_read_only_folder_before_training(tmp_path):
    write_csv(tmp_path / "d.csv")
    (tmp_path / "ro").mkdir(mode=0o555)
    result = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "d.csv"), *TRAIN, "--save",
                                       str(tmp_path / "ro" / "m.npz")])
    assert result.exit_code == 2 and "Permission denied" in result.output and "epoch" not in result.output


def test_ctrl_c_during_the_save_still_writes_the_whole_model(tmp_path, monkeypatch):
    from fastnn import load
    from fastnn.network import Network
    write_csv(tmp_path / "d.csv")
    real = Network.save

    def interrupted_save(self, path):
        os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C as the save began
        return real(self, path)

    monkeypatch.setattr(Network, "save", interrupted_save)
    result = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "d.csv"), *TRAIN, "--save",
                                       str(tmp_path / "m.npz")])
    assert result.exit_code == 0, result.output
    assert "saving" in result.output and load(tmp_path / "m.npz").feature_names_ == ["a", "b", "c"]


def test_a_second_ctrl_c_during_the_save_keeps_the_previous_model(tmp_path, monkeypatch):
    import numpy as np
    write_csv(tmp_path / "d.csv")
    np.savez(tmp_path / "m.npz", w=np.arange(3))  # an .npz: a file of another kind is refused before training
    previous = (tmp_path / "m.npz").read_bytes()
    real = os.fsync

    def interrupted_fsync(fd):  # the model is written, not yet in place: the riskiest moment
        os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C: the save goes on
        os.kill(os.getpid(), signal.SIGINT)  # the second: abort now
        return real(fd)

    monkeypatch.setattr(os, "fsync", interrupted_fsync)
    result = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "d.csv"), *TRAIN, "--save",
                                       str(tmp_path / "m.npz")])
    assert result.exit_code == 1 and "Aborted" in result.output, result.output
    assert (tmp_path / "m.npz").read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "m.npz"]  # no temporary file left


def test_train_reads_a_csv_once(tmp_path, monkeypatch):
    import builtins
    write_csv(tmp_path / "d.csv")
    opened, real = [], builtins.open
    monkeypatch.setattr(builtins, "open", lambda file, *a, **k: opened.append(str(file)) or real(file, *a, **k))
    result = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "d.csv"), *TRAIN])
    assert result.exit_code == 0, result.output
    assert opened.count(str(tmp_path / "d.csv")) == 1


def test_duplicate_csv_columns_are_refused_by_train_and_predict(model, tmp_path):
    (tmp_path / "dup.csv").write_text("a,a,c,label\n1,2,3,x\n4,5,6,y\n")
    result = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "dup.csv"), *TRAIN])
    assert result.exit_code == 2 and "['a'] appear more than once" in result.output and "epoch" not in result.output
    (tmp_path / "dup.csv").write_text("a,b,b,c\n1,2,3,4\n")  # the model reads a, b, c by name: which b?
    result = CliRunner().invoke(main, ["predict", str(model[0]), "--data", str(tmp_path / "dup.csv"), "--output",
                                       str(tmp_path / "p.csv")])
    assert result.exit_code == 2 and "['b'] appear more than once" in result.output
    assert not (tmp_path / "p.csv").exists()


def test_uint8_pixels_predict_alike_through_the_cli_a_csv_and_the_api(tmp_path):
    """The CLI's /255 of uint8 inputs is the model's first preprocessing step, so the same pixels
    give the same predictions whichever way they reach the model (a regression: the outputs
    themselves are compared, not class labels that a wrong scale could leave unchanged)."""
    import numpy as np

    import fastnn
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(60, 2, 3), dtype=np.uint8)
    y = x.reshape(60, -1).mean(axis=1) / 255
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y)
    model = tmp_path / "m.npz"
    result = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "d.npz"), "--layers", "4:tanh,1:linear",
                                       "--epochs", "2", "--preprocess", "standardize", "--save", str(model)])
    assert result.exit_code == 0, result.output
    np.savetxt(tmp_path / "x.csv", x.reshape(60, -1), fmt="%d", delimiter=",", comments="",
               header=",".join(f"p{i}" for i in range(6)))
    for data, out in (("d.npz", "npz.npy"), ("x.csv", "csv.npy")):
        result = CliRunner().invoke(main, ["predict", str(model), "--data", str(tmp_path / data), "--output",
                                           str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    net = fastnn.load(model)
    api = net.predict(x.reshape(60, -1))
    np.testing.assert_array_equal(np.load(tmp_path / "npz.npy"), api)
    np.testing.assert_array_equal(np.load(tmp_path / "csv.npy"), api)
    assert [type(step).__name__ for step in net.preprocess] == ["Scale", "Standardizer"]


def test_bench_takes_a_csv_with_its_label_column_and_preprocessing(tmp_path):
    """As train does: --target names the labels, a fifth of the rows is held out, and inputs
    outside [-1, 1] are standardized unless --preprocess says otherwise."""
    import json

    import numpy as np
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) * np.array([1.0, 100.0, 1000.0])
    y = np.array(["lo", "hi"])[(X[:, 0] + X[:, 1] / 100 > 0).astype(int)]
    with open(tmp_path / "d.csv", "w") as f:
        f.write("a,b,c,label\n" + "".join(f"{a:.4f},{b:.4f},{c:.4f},{t}\n" for (a, b, c), t in zip(X, y)))
    base = ["bench", "--data", str(tmp_path / "d.csv"), "--layers", "8:tanh,2:softmax", "--epochs", "3",
            "--batch-sizes", "16", "--lr", "0.05"]
    result = CliRunner().invoke(main, base + ["--target", "label", "--json", str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    assert {r["n_train"] for r in rows} == {160} and rows[0]["network"] == "3-8-2"
    assert max(r["test_accuracy"] for r in rows) > 0.8  # two separable classes, standardized inputs
    for extra, option, message in ((["--target", "nope"], "--data", "no column 'nope'"),
                                   ([], "--target", "name its label column with --target"),
                                   (["--target", "label", "--preprocess", "pca"], "--preprocess", "expected standardize")):
        bad = CliRunner().invoke(main, base + extra)
        assert bad.exit_code == 2 and f"Invalid value for {option}" in bad.output and message in bad.output, bad.output


def test_bench_takes_train_s_layer_spec():
    ok = CliRunner().invoke(main, ["bench", "--n-train", "200", "--epochs", "1", "--layers", "8:relu,10:softmax",
                                   "--batch-sizes", "32", "--lr", "0.05"])
    assert ok.exit_code == 0 and "784-8-10 relu" in ok.output, ok.output
    for layers, extra, message in (("8:relu,4:tanh,10:softmax", [], "hidden layers that share one activation"),
                                   ("8:relu,7:softmax", ["--lr", "0.1"], "the output layer has 7 units but the data has 10"),
                                   ("8:relu,10:softmax", ["--activation", "tanh"], "give one")):
        bad = CliRunner().invoke(main, ["bench", "--n-train", "200", "--layers", layers, *extra])
        assert bad.exit_code == 2 and message in bad.output, bad.output


def test_bench_target_given_a_number_points_to_target_accuracy():
    result = CliRunner().invoke(main, ["bench", "--target", "0.95"])
    assert result.exit_code == 2 and "the accuracy to reach is --target-accuracy 0.95" in result.output


def test_a_csv_from_a_pipe_still_reads(tmp_path):
    """Progress needs a file's size; a pipe has none and must read as before."""
    import threading

    from fastnn import commands, datasets
    fifo = tmp_path / "d.csv"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text("a,b,label\n1,2,x\n3,4,y\n"))
    writer.start()
    table = datasets.load_table(fifo, "label", progress=commands.ReadingProgress(fifo, print))
    writer.join(timeout=10)
    assert table.x.tolist() == [[1.0, 2.0], [3.0, 4.0]] and table.y.tolist() == ["x", "y"]
