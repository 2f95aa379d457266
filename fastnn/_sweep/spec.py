"""Sweep specifications: a TOML file (or dict) of fixed settings and a [grid] of lists.

Keys are `fastnn train`'s option names with underscores. Every combination of the grid is one
run; each run is described by its whole configuration (every key, defaults filled in), so a
setting that was fixed and becomes a grid key names the same runs, and ``run_id`` (canonical
JSON of the configuration) recognises runs already done.
"""
import itertools
import json
import os
from numbers import Integral, Real

from .. import optimizers, sampling, specs

MODES = ("online", "minibatch", "batch")
DTYPES = ("float32", "float64")
# key: (default, check). A check returns the value as the run uses it or raises ValueError /
# TypeError; it builds the fastnn objects, so an unknown activation or schedule fails here.
DEFAULTS = {
    "data": None, "target": None, "layers": None, "n_train": None, "mode": "minibatch", "batch_size": None,
    "epochs": 10, "lr": 0.01, "optimizer": None, "momentum": 0.0, "preprocess": None, "order": None,
    "validation_split": 0.0, "seed": 0, "dtype": "float32", "target_accuracy": None,
    "nesterov": False, "weight_decay": 0.0, "loss": None, "early_stopping": None, "bn_statistics": "moving",
    "layer_scaling": None, "scale_targets": True,
}
REQUIRED = ("data", "layers")


def _integer(low):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
            raise TypeError(f"must be an integer >= {low}")
        return int(value)
    return check


def _real(low, high, low_open=False, high_open=False):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError("must be a number")
        if (value <= low if low_open else value < low) or (value >= high if high_open else value > high):
            raise ValueError(f"must be in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}")
        return float(value)
    return check


def _text(parse=None, choices=None):
    def check(value):
        if not isinstance(value, str):
            raise TypeError("must be a string")
        if choices is not None and value not in choices:
            raise ValueError(f"must be one of {list(choices)}")
        if parse is not None:
            parse(value)
        return value
    return check


def _flag(value):
    if not isinstance(value, bool):
        raise TypeError("must be true or false")
    return value


def _lr(value):
    if isinstance(value, str):
        specs.learning_rate(value)
        return value
    return _real(0.0, float("inf"), low_open=True, high_open=True)(value)


CHECKS = {
    "data": _text(), "target": _text(), "layers": _text(specs.layers), "n_train": _integer(1),
    "mode": _text(choices=MODES), "batch_size": _integer(1), "epochs": _integer(1), "lr": _lr,
    "optimizer": _text(optimizers.get), "momentum": _real(0.0, 1.0, high_open=True),
    "preprocess": _text(specs.preprocess), "order": _text(sampling.check), "validation_split": _real(0.0, 1.0, high_open=True),
    "seed": _integer(0), "dtype": _text(choices=DTYPES), "target_accuracy": _real(0.0, 1.0, low_open=True),
    "nesterov": _flag, "weight_decay": _real(0.0, float("inf"), high_open=True),
    "loss": _text(choices=("cross_entropy", "mse")), "early_stopping": _integer(1),
    "bn_statistics": _text(choices=("moving", "training_set")), "layer_scaling": _text(choices=("fan_in",)),
    "scale_targets": _flag,
}


class SpecError(ValueError):
    """A sweep specification that cannot run; the message names the key and the value."""


def load(spec):
    """(fixed settings, grid) from a TOML path or a dict, checked in full; paths made absolute
    (relative to the spec file, or to the working directory for a dict)."""
    if isinstance(spec, (str, os.PathLike)):
        base = os.path.dirname(os.path.abspath(spec))
        spec = _read_toml(spec)
    else:
        base = os.getcwd()
        if not isinstance(spec, dict):
            raise SpecError(f"a sweep spec is a TOML file path or a dict, got {type(spec).__name__}")
    fixed = {k: v for k, v in spec.items() if k != "grid"}
    grid = spec.get("grid", {})
    if not isinstance(grid, dict):
        raise SpecError(f"[grid] must be a table of lists, got {grid!r:.80}")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SpecError(f"grid key {key!r} must be a non-empty list of values, got {values!r:.80}")
        if key in fixed:
            raise SpecError(f"{key!r} is both a fixed setting and a grid key; keep one")
    for where, key, value in [("", k, v) for k, v in fixed.items()] + \
            [("grid ", k, v) for k, vs in grid.items() for v in vs]:
        _check(where, key, value)
    missing = [k for k in REQUIRED if k not in fixed and k not in grid]
    if missing:
        raise SpecError(f"the spec needs {' and '.join(missing)} (e.g. data = \"mnist.npz\", layers = \"128:tanh,10:softmax\")")
    fixed = _absolute(fixed, base)
    grid = {k: [_absolute({k: v}, base)[k] for v in vs] for k, vs in grid.items()}
    for path in {fixed["data"]} if "data" in fixed else set(grid["data"]):
        if not os.path.isfile(path):
            raise SpecError(f"data = {path!r}: no such file")
    return fixed, grid


def _read_toml(path):
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise SpecError(f"cannot read the spec {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path} is not valid TOML: {e}") from None


def _check(where, key, value):
    if key not in CHECKS:
        raise SpecError(f"unknown {where}key {key!r}; the keys are {sorted(CHECKS)}")
    try:
        CHECKS[key](value)
    except (TypeError, ValueError) as e:
        raise SpecError(f"{where}{key} = {value!r:.80}: {e}") from None


def _absolute(settings, base):
    if "data" in settings:
        settings = {**settings, "data": os.path.normpath(os.path.join(base, settings["data"]))}
    return settings


def runs(fixed, grid):
    """Every run's whole configuration (all keys, defaults filled in), in grid order."""
    keys = list(grid)
    out = []
    for values in itertools.product(*(grid[k] for k in keys)):
        config = {**DEFAULTS, **fixed, **dict(zip(keys, values))}
        out.append({k: v if v is None else CHECKS[k](v) for k, v in config.items()})  # 1 and 1.0: one run
    return out


def run_id(config):
    """Canonical JSON of a configuration: the same run, whether a key was fixed or in the grid."""
    return json.dumps({k: config.get(k) for k in sorted(DEFAULTS)}, sort_keys=True)
