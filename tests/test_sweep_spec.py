"""fastnn sweep's specs: grid expansion, run identity, resume and bad specs (no Dask needed)."""
import numpy as np
import pytest

from fastnn._sweep import driver, spec


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    np.savez(tmp_path / "toy.npz", x_train=X[:40], y_train=y[:40], x_test=X[40:], y_test=y[40:])
    return tmp_path


def _spec_file(folder, text):
    path = folder / "spec.toml"
    path.write_text(text)
    return path


def test_every_combination_is_one_run_with_its_whole_configuration(data):
    """2 x 3 x 2 grid: 12 runs in grid order, fixed settings and defaults in every one, the data
    path relative to the spec file."""
    path = _spec_file(data, 'data = "toy.npz"\nepochs = 3\n[grid]\nlayers = ["4:tanh,2:softmax", "4:relu,2:softmax"]\n'
                            'lr = [0.01, 0.1, "search_then_converge:0.1,100"]\nseed = [0, 1]\n')
    configs = spec.runs(*spec.load(path))
    assert len(configs) == 12 and len({spec.run_id(c) for c in configs}) == 12
    assert [c["seed"] for c in configs[:4]] == [0, 1, 0, 1] and configs[0]["lr"] == 0.01
    assert all(c["epochs"] == 3 and c["mode"] == "minibatch" and c["data"] == str(data / "toy.npz") for c in configs)
    assert set(configs[0]) == set(spec.DEFAULTS)


def test_a_fixed_value_that_becomes_a_grid_key_names_the_same_run(data):
    """run_id depends on the configuration, not on where a value was written; 1 and 1.0 are one value."""
    fixed = spec.runs(*spec.load({"data": str(data / "toy.npz"), "layers": "4:tanh,2:softmax", "momentum": 0}))
    grid = spec.runs(*spec.load({"data": str(data / "toy.npz"), "grid": {"layers": ["4:tanh,2:softmax"],
                                                                          "momentum": [0.0, 0.5]}}))
    assert spec.run_id(fixed[0]) == spec.run_id(grid[0]) != spec.run_id(grid[1])


@pytest.mark.parametrize("text, message", [
    ('data = "toy.npz"\nlayers = "4:tanh,2:softmax"\nlerning_rate = 0.1\n', "unknown key 'lerning_rate'"),
    ('data = "toy.npz"\nlayers = "4:tanh,2:softmax"\nepochs = "ten"\n', "epochs = 'ten': must be an integer"),
    ('data = "toy.npz"\n[grid]\nlayers = ["4:tanhh,2:softmax"]\n', "grid layers = '4:tanhh,2:softmax'"),
    ('data = "toy.npz"\nlayers = "4:tanh,2:softmax"\nlr = "cosine:0.1"\n', "unknown schedule 'cosine'"),
    ('data = "missing.npz"\nlayers = "4:tanh,2:softmax"\n', "no such file"),
    ('data = "toy.npz"\nlayers = "4:tanh,2:softmax"\n[grid]\nseed = 3\n', "grid key 'seed' must be a non-empty list"),
    ('data = "toy.npz"\n', "needs layers"),
    ('data = "toy.npz"\nlayers = "4:tanh,2:softmax"\nmode = "stochastic"\n', "mode = 'stochastic'"),
    ('data = "toy.npz\n', "not valid TOML"),
    ('data = "toy.npz"\nlayers = "4:tanh,2:softmax"\nnesterov = "yes"\n', "nesterov = 'yes': must be true or false"),
    ('data = "toy.npz"\nlayers = "4:tanh,2:softmax"\nloss = "hinge"\n', "loss = 'hinge': must be one of"),
    ('data = "toy.npz"\nlayers = "4:tanh,2:softmax"\nearly_stopping = 0\n', "early_stopping = 0: must be an integer"),
])
def test_bad_specs_name_the_key_and_value(data, text, message):
    """Each mistake is refused before anything runs, naming the key and the value."""
    with pytest.raises(spec.SpecError, match=message.replace("(", "\\(")):
        spec.load(_spec_file(data, text))


def test_rows_already_written_are_not_run_again(data, tmp_path, monkeypatch):
    """Resume: with the same --out, only runs missing from it are handed to the cluster; a wider
    grid runs only its new combinations."""
    out = tmp_path / "rows.csv"
    ran = []

    def fake_run(todo, tables, client, workers, out_path, progress, n_done, n_total):
        ran.append(len(todo))
        rows = {}
        with driver._writer(out_path) as write:
            for config in todo:
                row = {**config, **{m: None for m in driver.METRICS}, "error": "", "run_id": spec.run_id(config)}
                rows[row["run_id"]] = row
                write(row)
        return rows

    monkeypatch.setattr(driver, "_run", fake_run)
    base = {"data": str(data / "toy.npz"), "layers": "4:tanh,2:softmax", "grid": {"seed": [0, 1]}}
    assert len(driver.sweep(base, out=out)) == 2
    assert len(driver.sweep(base, out=out)) == 2 and ran == [2]  # nothing left to run
    wider = {**base, "grid": {"seed": [0, 1, 2], "lr": [0.01, 0.1]}}
    rows = driver.sweep(wider, out=out)
    assert ran == [2, 4] and len(rows) == 6  # lr=0.01 is the default the first rows ran with


def test_a_run_that_fails_is_a_row():
    """run_one never raises: an impossible configuration gives a row whose error says why."""
    from fastnn._sweep.run import run_one
    from fastnn.datasets import Table

    X = np.zeros((10, 3), np.float32)
    config = {**spec.DEFAULTS, "layers": "4:tanh,5:softmax", "epochs": 1}  # 5 outputs for 2 classes
    row = run_one(config, Table(X, np.arange(10) % 2, None, None, None, False))
    assert "classes" in row["error"] and row["test_accuracy"] is None


def test_rows_read_back_have_the_types_of_fresh_rows(data, tmp_path):
    """A resumed row equals the row the run returned (numbers, bools, the configuration)."""
    out = tmp_path / "rows.csv"
    config = spec.runs(*spec.load({"data": str(data / "toy.npz"), "layers": "4:tanh,2:softmax"}))[0]
    row = {**config, "test_accuracy": 0.75, "test_loss": 0.5, "train_loss": 0.25, "epochs_run": 10, "seconds": 1.5,
           "examples_per_s": 1e5, "diverged": False, "seconds_to_target": None, "examples_to_target": None,
           "error": "", "run_id": spec.run_id(config)}
    with driver._writer(out) as write:
        write(row)
    assert driver._typed(config, driver._read_rows(out)[row["run_id"]]) == row


def test_without_dask_the_command_says_how_to_install_it(data, monkeypatch):
    """`fastnn sweep` on a machine without dask.distributed: the extra to install, nothing written."""
    import importlib.util

    from click.testing import CliRunner

    from fastnn.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name, *a))
    path = _spec_file(data, 'data = "toy.npz"\nlayers = "4:tanh,2:softmax"\n')
    result = CliRunner().invoke(main, ["sweep", str(path), "--out", str(data / "rows.csv")])
    assert result.exit_code == 1 and "pip install 'fastnn[dask]'" in result.output
    assert not (data / "rows.csv").exists()


def test_train_s_later_options_reach_fit(monkeypatch):
    """Keys are train's options: the ones issue 16 gave train reach fit in a sweep too."""
    from fastnn._sweep.run import run_one
    from fastnn.datasets import Table
    from fastnn.network import Network

    seen, real = {}, Network.fit
    monkeypatch.setattr(Network, "fit", lambda self, *a, **kw: seen.update(kw) or real(self, *a, **kw))
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 3)).astype(np.float32)
    options = {"nesterov": True, "momentum": 0.5, "weight_decay": 0.01, "early_stopping": 2,
               "bn_statistics": "training_set", "layer_scaling": "fan_in"}
    config = {**spec.DEFAULTS, "layers": "4:tanh:lecun_normal:bn,2:softmax", "epochs": 2, **options}
    row = run_one(config, Table(X, (X[:, 0] > 0).astype(int), None, None, None, False))
    assert row["error"] == "" and {k: seen[k] for k in options} == options
