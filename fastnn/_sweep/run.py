"""One run of a sweep: train the configuration on the data, return its row. Never raises: a
run that fails is a row with its error, a run that diverges a row with diverged=True."""
import time
import warnings

import numpy as np

from .. import commands
from ..network import DivergenceWarning

METRICS = ("test_accuracy", "test_loss", "train_loss", "epochs_run", "seconds", "examples_per_s", "diverged",
           "seconds_to_target", "examples_to_target", "error")
HOLDOUT = 0.1  # without a test split, the share of the training data held out for test_accuracy


def run_one(config, table):
    """The row of ``config`` (a whole configuration, see spec.runs) trained on ``table`` (a
    datasets.Table): the configuration's values and METRICS. One thread: runs are the unit
    of parallelism, and one thread gives the same numbers on every worker."""
    import numba

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    row = dict(config)
    try:
        row.update(_train(config, table))
    except Exception as e:  # noqa: BLE001 - any failure of one run is that run's row
        row.update({m: None for m in METRICS}, error=f"{type(e).__name__}: {e}".splitlines()[0][:300])
    finally:
        numba.set_num_threads(threads)
    return row


def _split(config, table):
    """(x, y, x_test, y_test): the first n_train training examples; the test split, or a held-out share."""
    n = config["n_train"] or len(table.x)
    x, y = table.x[:n], np.asarray(table.y)[:n]
    if table.x_test is not None and table.y_test is not None:
        return x, y, table.x_test, np.asarray(table.y_test)
    rng = np.random.default_rng(config["seed"])
    x, y, x_val, y_val = commands.split(x, y, HOLDOUT, rng)
    return x, y, x_val, y_val


def _train(config, table):
    x, y, x_test, y_test = _split(config, table)
    net = commands._network(table, config["layers"], config["preprocess"], config["dtype"], config["seed"], "cpu",
                            config["loss"], config["scale_targets"])
    rate, optimizer, order = commands._rules(str(config["lr"]), config["optimizer"], config["order"])
    if net.loss == "mse" and y.dtype.kind in "iub":
        y, y_test = y.astype(np.float64), y_test.astype(np.float64)
    val = None
    if config["validation_split"]:
        x, y, x_val, y_val = commands.split(x, y, config["validation_split"], np.random.default_rng(config["seed"]))
        val = (x_val, y_val)
    reached = {}
    target = config["target_accuracy"]

    def after_epoch(model, epoch):
        if target is not None and "epoch" not in reached and model.evaluate(x_test, y_test).get("accuracy", 0) >= target:
            reached.update(epoch=epoch, seconds=float(np.sum(model.history_["time"])))

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)  # reported in the row
        net.fit(x, y, mode=config["mode"], batch_size=config["batch_size"], epochs=config["epochs"], lr=rate,
                optimizer=optimizer, momentum=config["momentum"], nesterov=config["nesterov"],
                weight_decay=config["weight_decay"], early_stopping=config["early_stopping"],
                bn_statistics=config["bn_statistics"], layer_scaling=config["layer_scaling"], order=order,
                validation_data=val, callback=after_epoch if target is not None else None)
    seconds = time.perf_counter() - t0
    test = net.evaluate(x_test, y_test)
    epochs_run = len(net.history_["loss"])
    return {
        "test_accuracy": test.get("accuracy"), "test_loss": test["loss"],
        "train_loss": net.history_["loss"][-1] if epochs_run else None, "epochs_run": epochs_run,
        "seconds": seconds, "examples_per_s": len(x) * epochs_run / max(float(np.sum(net.history_["time"])), 1e-12),
        "diverged": bool(net.diverged_), "seconds_to_target": reached.get("seconds"),
        "examples_to_target": reached["epoch"] * len(x) if reached else None, "error": "",
    }
