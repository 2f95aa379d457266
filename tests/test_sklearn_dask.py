"""Model selection at scale: Pipeline, GridSearchCV, RandomizedSearchCV and cross_val_score over
fastnn.sklearn estimators, run sequentially, on joblib's loky processes and on a Dask cluster
(joblib's "dask" backend under a dask.distributed Client). With an integer random_state every
backend must give the same scores, bit for bit.

One LocalCluster of two single-threaded worker processes serves the whole module; the client
connects to it by the scheduler's tcp address, as a user of a remote scheduler does.
"""
import re

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="fastnn.sklearn needs scikit-learn (pip install 'fastnn[sklearn]')")
distributed = pytest.importorskip(
    "distributed", reason="the Dask backend tests need dask.distributed (pip install 'fastnn[dask]')")

import joblib  # noqa: E402  (a dependency of scikit-learn)
from scipy.stats import loguniform  # noqa: E402
from sklearn.datasets import load_iris, make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from fastnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# max_iter is kept small on purpose: every fit stops at it.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

START_TIMEOUT = 60  # s for a worker process to start and the client to connect; a cold start is ~5 s
CLOSE_TIMEOUT = 30  # s for the client and the cluster to shut down
SMALL = dict(hidden_layer_sizes=(5,), random_state=0)
SCORE_KEYS = ("mean_test_", "std_test_", "rank_test_", "split")


@pytest.fixture(scope="module")
def data():
    """Tiny problems: iris (150 x 4, 3 classes), a 60 x 5 binary problem, a 60 x 5 regression."""
    X_iris, y_iris = load_iris(return_X_y=True)
    X_bin, y_bin = make_classification(60, 5, n_informative=3, n_redundant=0, random_state=0)
    X_reg, y_reg = make_regression(60, 5, n_informative=4, noise=0.1, random_state=0)
    return {"iris": (X_iris, y_iris), "binary": (StandardScaler().fit_transform(X_bin), y_bin),
            "regression": (StandardScaler().fit_transform(X_reg), y_reg / np.std(y_reg))}


@pytest.fixture(scope="module")
def compiled(data):
    """Fit each kind of model once here, so the Numba kernels are compiled and written to the
    on-disk cache before loky or Dask worker processes start: they load them from there."""
    MLPClassifier(**SMALL, max_iter=2).fit(*data["iris"])
    MLPClassifier(**SMALL, max_iter=2).fit(*data["binary"])
    MLPRegressor(**SMALL, max_iter=2).fit(*data["regression"])


@pytest.fixture(scope="module")
def client(compiled):
    """A Client of a LocalCluster with two worker processes of one thread each, connected by
    the scheduler's address; closed at the end of the module, whatever the tests did."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
        death_timeout=START_TIMEOUT)  # passed to each Nanny: bounds the start of its worker process
    try:
        dask_client = distributed.Client(cluster.scheduler_address, timeout=START_TIMEOUT)
        try:
            dask_client.wait_for_workers(2, timeout=START_TIMEOUT)
            yield dask_client
        finally:
            dask_client.close(timeout=CLOSE_TIMEOUT)
    finally:
        cluster.close(timeout=CLOSE_TIMEOUT)


def _scores(search):
    """The parts of cv_results_ that the backend must not change (all but the timings)."""
    results = search.cv_results_
    return {key: np.asarray(value) for key, value in results.items() if key.startswith(SCORE_KEYS)}


def _assert_same_search(reference, other, backend):
    expected, got = _scores(reference), _scores(other)
    assert got.keys() == expected.keys()
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{key} differs under {backend}")
    assert other.cv_results_["params"] == reference.cv_results_["params"]
    assert other.best_params_ == reference.best_params_, backend
    assert other.best_score_ == reference.best_score_, backend


def _on_dask(client, run, expected_fits):
    """run() under joblib's Dask backend; checks that exactly ``expected_fits`` calls of
    scikit-learn's _fit_and_score ran as Dask tasks, on the cluster's workers (so joblib did not
    quietly run them in this process). Returns run()'s result."""
    with distributed.get_task_stream(client=client) as tasks, joblib.parallel_backend("dask"):
        result = run()
    # joblib names each task after its batch: "batch_of__fit_and_score_<calls>_calls-<uuid>"
    batches = [task for task in tasks.data if "_fit_and_score_" in str(task["key"])]
    assert batches, f"no _fit_and_score task ran on the cluster; tasks seen: {[t['key'] for t in tasks.data]}"
    workers = set(client.scheduler_info()["workers"])
    assert {task["worker"] for task in batches} <= workers
    calls = [re.search(r"_(\d+)_calls", str(task["key"])) for task in batches]
    assert all(calls), [task["key"] for task in batches]
    assert sum(int(match.group(1)) for match in calls) == expected_fits
    return result


def test_grid_search_pipeline_same_scores_sequential_loky_and_dask(data, compiled, client):
    """GridSearchCV over a scaler + MLPClassifier pipeline: the same cv_results_ scores (accuracy,
    and log loss, which shows any difference in the last bits) and best_params_ with n_jobs=1,
    n_jobs=2 (loky) and on the Dask cluster."""
    X, y = data["iris"]
    grid = {"mlpclassifier__activation": ["tanh", "lecun_tanh"], "mlpclassifier__learning_rate_init": [1e-2, 1e-3]}

    def search(n_jobs):
        pipeline = make_pipeline(StandardScaler(), MLPClassifier(**SMALL, max_iter=30))
        return GridSearchCV(pipeline, grid, scoring=["accuracy", "neg_log_loss"], refit="accuracy", cv=3,
                            n_jobs=n_jobs, error_score="raise").fit(X, y)

    sequential = search(1)
    assert np.all(np.isfinite(sequential.cv_results_["mean_test_neg_log_loss"]))
    assert sequential.best_score_ > 0.6  # chance is 1/3: the networks did learn
    _assert_same_search(sequential, search(2), "loky (n_jobs=2)")
    _assert_same_search(sequential, _on_dask(client, lambda: search(-1), expected_fits=4 * 3), "dask")


def test_randomized_search_regressor_same_scores_sequential_and_dask(data, compiled, client):
    """RandomizedSearchCV (n_iter=3, random_state=0) over MLPRegressor: the same candidates,
    scores and best_params_ sequentially and on the Dask cluster."""
    X, y = data["regression"]
    distributions = {"alpha": loguniform(1e-5, 1e-1), "learning_rate_init": loguniform(1e-3, 1e-1),
                     "activation": ["tanh", "relu", "lecun_tanh"]}

    def search(n_jobs):
        return RandomizedSearchCV(MLPRegressor(**SMALL, max_iter=50), distributions, n_iter=3, cv=3,
                                  random_state=0, n_jobs=n_jobs, error_score="raise").fit(X, y)

    sequential = search(1)
    assert np.all(np.isfinite(sequential.cv_results_["mean_test_score"]))
    assert sequential.best_score_ > 0.5  # R^2 well above predicting the mean (0)
    _assert_same_search(sequential, _on_dask(client, lambda: search(-1), expected_fits=3 * 3), "dask")


def test_cross_val_score_same_scores_sequential_loky_and_dask(data, compiled, client):
    """cross_val_score (log loss) of an MLPClassifier: identical fold scores with n_jobs=1,
    n_jobs=2 (loky) and on the Dask cluster."""
    X, y = data["binary"]

    def scores(n_jobs):
        return cross_val_score(MLPClassifier(**SMALL, max_iter=30, learning_rate_init=1e-2), X, y, cv=5,
                               scoring="neg_log_loss", n_jobs=n_jobs, error_score="raise")

    sequential = scores(1)
    assert -sequential.mean() < np.log(2)  # below the log loss of guessing 1/2
    np.testing.assert_array_equal(scores(2), sequential, err_msg="loky (n_jobs=2)")
    np.testing.assert_array_equal(_on_dask(client, lambda: scores(-1), expected_fits=5), sequential,
                                  err_msg="dask")
