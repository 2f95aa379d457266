"""`fastnn predict`: probabilities, the score when the data holds targets, and outputs that
never destroy an input or a file of another kind."""
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

import fastnn
from fastnn.cli import main
from tests.test_cli_train import write_table


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clf")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 3))
    y = np.array(["a", "b", "c"])[np.argmax(X, axis=1)]
    write_table(folder / "d.csv", X, y)
    result = CliRunner().invoke(main, ["train", "--data", str(folder / "d.csv"), "--target", "label", "--layers",
                                       "8:tanh,3:softmax", "--epochs", "5", "--save", str(folder / "m.npz")])
    assert result.exit_code == 0, result.output
    return folder, X, y


def predict(*args):
    return CliRunner().invoke(main, ["predict", *map(str, args)])


def test_proba_writes_a_column_per_class_and_the_score_goes_to_stderr(classifier, tmp_path):
    folder, X, y = classifier
    out = tmp_path / "p.csv"
    result = predict(folder / "m.npz", "--data", folder / "d.csv", "--target", "label", "--output", out, "--proba",
                     "--threads", "1")
    assert result.exit_code == 0, result.output
    net = fastnn.load(folder / "m.npz")
    assert out.read_text().splitlines()[0] == "a,b,c"
    # the CSV holds X to 6 digits: probabilities agree to about that
    np.testing.assert_allclose(np.loadtxt(out, delimiter=",", skiprows=1), net.predict_proba(X), atol=1e-5)
    assert f"score: accuracy {net.evaluate(X, y)['accuracy']:.4f}" in result.output


def test_no_score_without_targets_and_predictions_even_when_the_targets_cannot_be_scored(classifier, tmp_path):
    folder, X, _ = classifier
    write_table(tmp_path / "x.csv", X, np.zeros(len(X)), name="unused")
    out = tmp_path / "p.npy"
    result = predict(folder / "m.npz", "--data", tmp_path / "x.csv", "--target", "unused", "--output", out)
    # the column holds numbers, not the model's labels: the predictions are written, the score
    # names why there is none
    assert result.exit_code == 0, result.output
    assert "no score: y holds labels of dtype float64; the network was fitted on labels ['a', 'b', 'c']" in result.output
    from fastnn import datasets
    np.testing.assert_array_equal(np.load(out), fastnn.load(folder / "m.npz").predict(
        datasets.load_inputs(tmp_path / "x.csv", "unused")))
    plain = tmp_path / "plain.csv"
    plain.write_text("x0,x1,x2\n" + "\n".join(",".join(f"{v:.6g}" for v in row) for row in X.tolist()) + "\n")
    result = predict(folder / "m.npz", "--data", plain, "--output", tmp_path / "p.npy")
    assert result.exit_code == 0 and "score:" not in result.output and "no score" not in result.output, result.output


def test_regression_scores_match_scikit_learn(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 2))
    y = 3 * X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=120)
    np.savez(tmp_path / "r.npz", x_train=X[:80], y_train=y[:80], x_test=X[80:], y_test=y[80:])
    result = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "r.npz"), "--layers", "8:tanh,1:linear",
                                       "--epochs", "20", "--save", str(tmp_path / "m.npz")])
    assert result.exit_code == 0, result.output
    net = fastnn.load(tmp_path / "m.npz")
    pred = net.predict(X[80:])
    got = net.evaluate(X[80:], y[80:])
    assert got["r2"] == pytest.approx(r2_score(y[80:], pred), rel=1e-9)
    assert got["mae"] == pytest.approx(mean_absolute_error(y[80:], pred), rel=1e-9)
    assert got["rmse"] == pytest.approx(root_mean_squared_error(y[80:], pred), rel=1e-9)
    assert got["r2"] > 0.5  # 20 epochs learn most of a linear map (measured 0.84)
    result = predict(tmp_path / "m.npz", "--data", tmp_path / "r.npz", "--output", tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    assert f"score: r2 {got['r2']:.4f}  mae {got['mae']:.4f}  rmse {got['rmse']:.4f}" in result.output
    bad = predict(tmp_path / "m.npz", "--data", tmp_path / "r.npz", "--output", tmp_path / "q.csv", "--proba")
    assert bad.exit_code == 2 and "Invalid value for --proba" in bad.output and not (tmp_path / "q.csv").exists()


def test_two_target_regression_metrics_average_r2_as_scikit_learn():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 3))
    Y = np.c_[X[:, 0], 5 * X[:, 1] + 100]
    net = fastnn.Network([fastnn.Dense(6, activation="tanh"), fastnn.Dense(2, activation="linear")], loss="mse",
                         seed=0, dtype="float64")
    net.fit(X, Y, epochs=3, lr=0.01)
    got, pred = net.evaluate(X, Y), net.predict(X)
    assert got["r2"] == pytest.approx(r2_score(Y, pred), rel=1e-12)
    assert got["rmse"] == pytest.approx(root_mean_squared_error(Y, pred), rel=1e-12)
    assert got["mae"] == pytest.approx(mean_absolute_error(Y, pred), rel=1e-12)


def test_outputs_never_replace_an_input_or_a_file_of_another_kind(classifier, tmp_path):
    folder, _, _ = classifier
    model, data = folder / "m.npz", folder / "d.csv"
    before = model.read_bytes(), data.read_bytes()
    cases = [
        (["predict", model, "--data", data, "--target", "label", "--output", model], "--output", "an input"),
        (["predict", model, "--data", data, "--target", "label", "--output", data], "--output", "an input"),
        (["train", "--data", data, "--target", "label", "--layers", "2:softmax", "--save", data], "--save", "an input"),
        (["train", "--data", data, "--target", "label", "--layers", "2:softmax", "--log", data], "--log", "an input"),
    ]
    other = tmp_path / "notes.txt"
    other.write_text("someone's notes\n")
    cases.append((["train", "--data", data, "--target", "label", "--layers", "3:softmax", "--save", other], "--save",
                  "an existing text file and this would replace it with npz"))
    image = tmp_path / "photo.png"  # binary, neither npz nor npy: not "text" a CSV may replace
    image.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    cases.append((["predict", model, "--data", data, "--target", "label", "--output", image], "--output",
                  "an existing binary file and this would replace it with text"))
    log = tmp_path / "same.npz"
    cases.append((["train", "--data", data, "--target", "label", "--layers", "3:softmax", "--save", log, "--log", log],
                  "--log", "--log and --save both name"))
    for args, option, message in cases:
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 2 and f"Invalid value for {option}" in result.output, (args, result.output)
        assert message in result.output and "epoch" not in result.output, (args, result.output)
    assert (model.read_bytes(), data.read_bytes()) == before and other.read_text() == "someone's notes\n"
    again = tmp_path / "p.csv"  # earlier predictions of the same kind are replaced
    for _ in range(2):
        assert predict(model, "--data", data, "--target", "label", "--output", again).exit_code == 0
