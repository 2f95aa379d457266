"""Regression scores of predictions against targets, as scikit-learn defines them."""
import numpy as np


def regression(y, pred):
    """{"r2", "mae", "rmse"} of predictions against targets y (n,) or (n, k), each averaged over
    the targets as scikit-learn's r2_score, mean_absolute_error and root_mean_squared_error do.
    R^2 = 1 - SS_res / SS_tot; a constant target scores 1.0 when predicted exactly, else 0.0
    (scikit-learn's force_finite)."""
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    err = np.asarray(pred, dtype=np.float64).reshape(y.shape) - y
    ss_res = (err ** 2).sum(axis=0)
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), (ss_res == 0).astype(float))
    rmse = np.sqrt((err ** 2).mean(axis=0))
    return {"r2": float(r2.mean()), "mae": float(np.abs(err).mean()), "rmse": float(rmse.mean())}
