import json

from click.testing import CliRunner

from fastnn.cli import main


def test_bench_runs_every_mode_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", "--n-train", "300", "--epochs", "1", "--layers", "16",
                                       "--batch-sizes", "8,1000", "--json", str(out)])
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
