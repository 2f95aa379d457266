"""scikit-learn estimators trained by fastnn's compiled kernels.

``fastnn.sklearn.MLPClassifier`` and ``MLPRegressor`` take every constructor parameter of
scikit-learn's ``sklearn.neural_network`` MLPs, with the same names, meanings and defaults, and
pass scikit-learn's own estimator checks: change the import and Pipeline, GridSearchCV,
cross-validation and joblib's Dask backend work as before::

    # from sklearn.neural_network import MLPClassifier
    from fastnn.sklearn import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(128,), random_state=0).fit(X, y)

Beyond scikit-learn's parameters they take fastnn's own (every activation, initialiser,
batch norm, orders, schedules, update rules, preprocessing, dtype, device); see
:class:`MLPClassifier`. Needs the ``fastnn[sklearn]`` extra; ``import fastnn`` does not
import this module.
"""
try:
    import sklearn  # noqa: F401
except ImportError as error:  # pragma: no cover - the message is the point
    raise ImportError("fastnn.sklearn needs scikit-learn: pip install 'fastnn[sklearn]'") from error

from ._estimators import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
