"""fastnn.sklearn: scikit-learn's own estimator checks, and scikit-learn's MLP as the oracle."""
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="fastnn.sklearn needs scikit-learn (pip install 'fastnn[sklearn]')")

from sklearn import neural_network as sk  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402
from fastnn import optimizers, preprocessing, schedules  # noqa: E402
from fastnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CHECKED = [
    MLPClassifier(), MLPRegressor(),  # scikit-learn's defaults: adam, batches of min(200, n)
    MLPClassifier(solver="lbfgs"), MLPRegressor(solver="lbfgs"),
    MLPClassifier(activation="selu", solver="rmsprop", init=None),  # fastnn's own choices
    MLPRegressor(activation="lecun_tanh", init=None, solver="sgd", momentum=0.5, learning_rate="adaptive",
                 preprocess=[preprocessing.Standardizer()]),
]


@parametrize_with_checks(CHECKED)
def test_scikit_learn_estimator_checks(estimator, check):
    """scikit-learn's own suite (every check, none declared as expected to fail)."""
    check(estimator)


def _classification(n=45, seed=0, classes=3):
    X, y = make_classification(n, 6, n_informative=4, n_classes=classes, random_state=seed)
    return StandardScaler().fit_transform(X), y


def _regression(n=45, seed=0, targets=1):
    X, y = make_regression(n, 6, n_informative=4, n_targets=targets, noise=0.1, random_state=seed)
    return StandardScaler().fit_transform(X), y / np.std(y)


def _same_start(ours, theirs, X, y, **fit):
    """Both estimators initialised by one epoch, then ours given scikit-learn's weights."""
    theirs.fit(X, y, **fit)
    ours.fit(X, y, **fit)
    for W, b, W_sk, b_sk in zip(ours.coefs_, ours.intercepts_, theirs.coefs_, theirs.intercepts_):
        W[:], b[:] = W_sk, b_sk  # coefs_ and intercepts_ are views of network_'s parameters
    ours.best_loss_ = getattr(theirs, "best_loss_", None)  # what tol compares the next epochs with
    return ours, theirs


@pytest.mark.parametrize("kind", ["classifier", "binary", "regressor", "multioutput"])
@pytest.mark.parametrize("solver, batch", [("sgd", 5), ("sgd", 45), ("adam", 5), ("adam", 45)])
def test_training_matches_scikit_learn(kind, solver, batch):
    """From the same weights, epochs of SGD (momentum, L2, mini-batches of 5 or full batches with
    sample weights) or Adam give scikit-learn's MLP's weights and loss_curve_."""
    if kind in ("classifier", "binary"):
        X, y = _classification(classes=3 if kind == "classifier" else 2)
        est, ref = MLPClassifier, sk.MLPClassifier
    else:
        X, y = _regression(targets=1 if kind == "regressor" else 2)
        est, ref = MLPRegressor, sk.MLPRegressor
    # Weighted examples: in full batches as in scikit-learn; in mini-batches fastnn divides by the
    # training set's mean weight, scikit-learn by each batch's sum (see fastnn.sklearn).
    sw = np.random.default_rng(1).integers(1, 4, size=len(y)).astype(float) if batch == len(y) else None
    params = dict(hidden_layer_sizes=(7,), activation="tanh", solver=solver, batch_size=batch, shuffle=False, alpha=0.01,
                  learning_rate_init=0.05, momentum=0.5, nesterovs_momentum=False, max_iter=1, warm_start=True,
                  epsilon=1e-30,  # Adam: fastnn bias-corrects epsilon, scikit-learn does not; here that is moot
                  random_state=0, tol=0.0, n_iter_no_change=1000)
    ours, theirs = _same_start(est(**params), ref(**params), X, y, sample_weight=sw)
    ours.set_params(max_iter=4)
    theirs.set_params(max_iter=4)
    ours.fit(X, y, sample_weight=sw)
    theirs.fit(X, y, sample_weight=sw)
    rtol = 1e-9 if solver == "sgd" else 1e-7  # Adam's m / sqrt(v) amplifies rounding where v is tiny
    for W, W_sk in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(W, W_sk, rtol=rtol, atol=1e-12)
    # The loss: scikit-learn divides the squared error of k outputs by k, fastnn does not; and the
    # L2 term of an epoch's loss is scikit-learn's over the weights before each update, fastnn's
    # over the epoch's starting weights: the same in full batches only.
    if kind != "multioutput" and batch == len(y):
        np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=rtol)


def test_lbfgs_matches_scikit_learn():
    """From the same weights, scipy's L-BFGS on fastnn's compiled loss and gradient reaches the
    loss and weights of scikit-learn's (the same optimizer on its NumPy loss)."""
    X, y = _classification()
    params = dict(hidden_layer_sizes=(5,), activation="tanh", solver="lbfgs", alpha=0.1, max_iter=1, warm_start=True,
                  random_state=0)
    ours, theirs = _same_start(MLPClassifier(**params), sk.MLPClassifier(**params), X, y)
    for est in (ours, theirs):
        est.set_params(max_iter=15).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-7)
    np.testing.assert_allclose(ours.coefs_[0], theirs.coefs_[0], rtol=1e-5, atol=1e-8)


def test_defaults_learn_like_scikit_learn():
    """scikit-learn's defaults on real data (digits): the accuracy of scikit-learn's MLP within 2 points."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    params = dict(hidden_layer_sizes=(32,), max_iter=60, random_state=0)
    ours = MLPClassifier(**params).fit(Xtr, ytr).score(Xte, yte)
    theirs = sk.MLPClassifier(**params).fit(Xtr, ytr).score(Xte, yte)
    assert ours > 0.93 and abs(ours - theirs) < 0.02, (ours, theirs)


def test_convergence_warning_only_when_max_iter_ends_training():
    """max_iter reached before tol: ConvergenceWarning; stopped by tol: none, after as many epochs as
    scikit-learn's MLP runs from the same weights."""
    X, y = _classification()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    params = dict(hidden_layer_sizes=(5,), max_iter=1, warm_start=True, tol=1e-3, n_iter_no_change=2, random_state=0)
    ours, theirs = _same_start(MLPClassifier(**params), sk.MLPClassifier(**params), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for est in (ours, theirs):
            est.set_params(max_iter=500).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ < 500


def test_multilabel_and_multioutput():
    """Multi-label indicator targets (logistic outputs) and two regression targets, as scikit-learn's MLP takes them."""
    X, _ = _classification(60)
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] < 0.5]).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    assert clf.predict(X).shape == Y.shape and clf.score(X, Y) > 0.8  # exact-match accuracy over 3 labels
    P = clf.predict_proba(X)
    assert P.shape == Y.shape and np.all((P > 0) & (P < 1))
    X, Y = _regression(60, targets=2)
    reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (60, 2) and reg.score(X, Y) > 0.9


def test_string_labels_pickle_and_network_file(tmp_path):
    """String labels; the estimator pickles; network_ saves in fastnn's format and predicts the same labels."""
    X, y = _classification()
    labels = np.array(["ant", "bee", "cat"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit(X, labels)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    clf.network_.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(fastnn.load(tmp_path / "m.npz").predict(X), clf.predict(X))
    assert set(clf.predict(X)) <= set(labels)


def test_partial_fit_classes_and_online_mode():
    """partial_fit needs classes once, learns a class it has not seen yet, refuses unknown ones;
    batch_size=1 updates after every example."""
    X, y = _classification()
    clf = MLPClassifier(hidden_layer_sizes=(5,), batch_size=1, solver="sgd", random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert clf.classes_.tolist() == [0, 1, 2] and clf.predict_proba(X).shape == (len(y), 3)
    assert clf.network_._opt_steps == np.sum(y < 2) and clf.n_iter_ == 1 and clf.t_ == np.sum(y < 2)
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit(X, y + 1)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


def test_early_stopping_keeps_the_best_validation_score():
    """early_stopping: the restored weights score best_validation_score_ on the same validation split."""
    X, y = _classification(120)
    clf = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, validation_fraction=0.25, max_iter=40,
                        n_iter_no_change=3, random_state=0).fit(X, y)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    from sklearn.model_selection import train_test_split

    _, Xv, _, yv = train_test_split(X, y, random_state=_split_state(0), test_size=0.25)  # as scikit-learn splits
    assert clf.score(Xv, yv) == clf.best_validation_score_


def _split_state(random_state):
    """The RandomState the estimator's split draws from: after the network's seed."""
    rs = np.random.RandomState(random_state)
    rs.randint(np.iinfo(np.int32).max)
    return rs


@pytest.mark.parametrize("learning_rate", ["invscaling", "adaptive"])
def test_sgd_learning_rate_rules(learning_rate):
    """invscaling: epoch e runs at eta0 / (e n + 1)^power_t; adaptive: the rate is divided by 5 after
    n_iter_no_change epochs without improvement, instead of stopping."""
    X, y = _classification()
    clf = MLPClassifier(hidden_layer_sizes=(5,), solver="sgd", learning_rate=learning_rate, learning_rate_init=0.1,
                        power_t=0.5, max_iter=6, tol=10.0 if learning_rate == "adaptive" else 0.0,
                        n_iter_no_change=1 if learning_rate == "adaptive" else 100, random_state=0).fit(X, y)
    rates = clf.network_.history_["lr"]
    if learning_rate == "invscaling":
        np.testing.assert_allclose(rates, [0.1 / (e * len(y) + 1) ** 0.5 for e in range(6)])
    else:  # tol=10: only the first epoch improves (on inf); two more without: the rate drops, the count restarts
        np.testing.assert_allclose(rates, [0.1, 0.1, 0.1, 0.02, 0.02, 0.004])


def test_fastnn_choices_reach_the_network():
    """fastnn's activations, initialisers, schedules, update rules and preprocessing are used, and the
    estimator's own parameters are not changed by fit."""
    X, y = _classification()
    steps = [preprocessing.Standardizer()]
    schedule = schedules.SearchThenConverge(0.05, 20)
    clf = MLPClassifier(hidden_layer_sizes=(6, 4), activation="lecun_tanh", init="lecun_normal", solver=optimizers.RMSprop(),
                        learning_rate_init=schedule, preprocess=steps, batch_norm=True, order="balanced", batch_size=9,
                        max_iter=5, random_state=0, dtype="float32").fit(X, y)
    net = clf.network_
    assert [layer.activation.name for layer in net.layers] == ["lecun_tanh", "lecun_tanh", "softmax"]
    assert [layer.init for layer in net.layers] == ["lecun_normal"] * 3 and net.layers[0].batch_norm is not None
    assert isinstance(net._optimizer, optimizers.RMSprop) and net.dtype == "float32"
    np.testing.assert_allclose(net.history_["lr"][0], np.mean(schedule(np.arange(1, 6))), rtol=1e-12)
    assert net.preprocess[0].fitted and not steps[0].fitted  # the model's copy is fitted, the parameter is not
    assert clf.predict(X).shape == y.shape and clf.coefs_[1].shape == (6, 4)


def test_model_selection_on_one_machine():
    """clone, Pipeline, GridSearchCV and cross_val_score with n_jobs=2: the same scores as sequentially."""
    X, y = _classification(60)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0))
    grid = {"mlpclassifier__activation": ["tanh", "selu"], "mlpclassifier__alpha": [1e-4, 1e-2]}
    one = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    two = GridSearchCV(clone(pipe), grid, cv=3, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(one.cv_results_["mean_test_score"], two.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(cross_val_score(pipe, X, y, cv=3), cross_val_score(pipe, X, y, cv=3, n_jobs=2))


def test_refused_parameters_and_data_leave_the_model_unchanged():
    """Bad parameters raise scikit-learn's InvalidParameterError naming them; a refused refit keeps the fitted model."""
    X, y = _classification()
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    for bad in [dict(activation="softmax"), dict(solver="newton"), dict(learning_rate_init=-1.0), dict(dtype="int8"),
                dict(init="zeros"), dict(order="random")]:
        name = next(iter(bad))
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
            clone(clf).set_params(**bad).fit(X, y)
    with pytest.raises(ValueError, match="multi-label"):
        clf.set_params(order="interleave").fit(X, np.column_stack([y == 0, y == 1]))  # no one class per example
    clf.set_params(order=None)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.fit(np.full_like(X, np.nan), y)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    with pytest.raises(ValueError, match="poisson"):
        MLPRegressor(loss="poisson").fit(*_regression())


def test_import_fastnn_imports_no_extra():
    """``import fastnn`` loads neither scikit-learn nor Dask."""
    code = "import sys, fastnn; print(sorted(m for m in ('sklearn', 'dask', 'distributed') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_warm_start_continues_the_same_network():
    """warm_start continues from the fitted weights (one more epoch = two epochs at once, with
    partial_fit's semantics), and refuses a changed architecture instead of ignoring it."""
    X, y = _classification()
    params = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, max_iter=1, random_state=0)
    warm = MLPClassifier(warm_start=True, **params).fit(X, y).fit(X, y)
    both = MLPClassifier(**params).partial_fit(X, y, classes=np.unique(y)).partial_fit(X, y)
    np.testing.assert_array_equal(warm.coefs_[0], both.coefs_[0])
    assert warm.t_ == 2 * len(y) and len(warm.loss_curve_) == 2
    before = warm.coefs_[0].copy()
    with pytest.raises(ValueError, match="hidden_layer_sizes=\\(6,\\) differs"):
        warm.set_params(hidden_layer_sizes=(6,)).fit(X, y)
    np.testing.assert_array_equal(warm.coefs_[0], before)
