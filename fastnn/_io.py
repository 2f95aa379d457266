"""Model files: one .npz of plain arrays and a JSON config, guarded by a SHA-256 digest.

No pickle anywhere: ``np.load(..., allow_pickle=False)`` reads only numeric and string arrays,
so loading a file never executes code. The digest turns a damaged file into a clear error
instead of a silently different model; as anyone can recompute it, the contents are also
checked as untrusted input.
"""
import hashlib
import json
import zipfile

import numpy as np

from ._targets import Targets
from . import optimizers, preprocessing
from .kernels.layout import FAN_OUT, STAT_OFF
from .layers import Dense, build_layout

FORMAT = "fastnn"
VERSION = 2  # 2: optimizer state (any rule) instead of the SGD velocity


def _digest(config_bytes, arrays):
    h = hashlib.sha256(config_bytes)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return np.frombuffer(h.digest(), dtype=np.uint8)


def save(net, path):
    config = {
        "format": FORMAT, "version": VERSION,
        "layers": [layer.get_config() for layer in net.layers],
        "loss": net.loss, "dtype": net.dtype, "seed": net.seed, "input_dim": net.input_dim,
        "rng_state": net._rng.bit_generator.state,
        "targets": None if net._targets is None else net._targets.get_config(),
        "optimizer": net._optimizer.get_config(), "opt_steps": net._opt_steps,
        "preprocess": [step.get_config() for step in net.preprocess], "net_input_dim": int(net._layout[0, 0]),
        "feature_names": net.feature_names_,
    }
    arrays = {"theta": net._theta, "opt_state": net._opt_state, "bn_stats": net._bn_stats}
    for i, step in enumerate(net.preprocess):
        arrays.update({f"pre{i}_{name}": a for name, a in step.get_arrays().items()})
    if net._targets is not None and net._targets.classification:
        arrays["classes"] = net._targets.classes
    config_bytes = json.dumps(config, sort_keys=True).encode()
    arrays["config"] = np.frombuffer(config_bytes, dtype=np.uint8)
    arrays["sha256"] = _digest(config_bytes, {k: v for k, v in arrays.items() if k != "config"})
    with open(path, "wb") as f:
        np.savez(f, **arrays)


_ARRAYS = {1: ("theta", "velocity"), 2: ("theta", "opt_state")}  # per format version; others optional
# What a crafted file can make json, numpy or the constructors raise; all become ValueError.
_BAD_FILE = (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError, MemoryError, IndexError)


def _read(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            if "config" not in data.files or "sha256" not in data.files:
                raise ValueError("not a fastnn model file: no config or digest")
            config_bytes = data["config"].tobytes()
            config = json.loads(config_bytes.decode())
            if not isinstance(config, dict) or config.get("format") != FORMAT or config.get("version") not in _ARRAYS:
                raise ValueError(f"not a fastnn model file of version {VERSION}")
            names = _ARRAYS[config["version"]]
            missing = [k for k in names if k not in data.files]
            if missing:
                raise ValueError(f"not a fastnn model file: the array(s) {missing} are missing")
            n_steps = len(config.get("preprocess", ()))
            extra = ("classes", "bn_stats") + tuple(k for k in data.files if k.split("_")[0] in
                                                    {f"pre{i}" for i in range(n_steps)})  # preprocessing arrays
            arrays = {k: data[k] for k in names + extra if k in data.files}  # only what a model holds
            digest = data["sha256"]
        if not np.array_equal(digest, _digest(config_bytes, arrays)):
            raise ValueError("the file is corrupted or was modified after saving (its SHA-256 digest does not match)")
    except (OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) + _BAD_FILE as e:
        raise ValueError(f"{path!s} is not a readable fastnn model file: {e}") from None
    return _upgrade(config, arrays)


def _upgrade(config, arrays):
    """Older files as the current version: version 1 (plain SGD velocity), and version 2 from
    before batch norm and preprocessing (no bn_stats, preprocess, net_input_dim)."""
    if config["version"] == 1:
        arrays["opt_state"] = arrays.pop("velocity")[None, :]
        config["optimizer"] = optimizers.SGD().get_config()
        config["opt_steps"] = 0
    arrays.setdefault("bn_stats", arrays["theta"][:0])
    config.setdefault("preprocess", [])
    config.setdefault("net_input_dim", config.get("input_dim"))
    return config, arrays


def load(path, network_cls):
    """Rebuild a Network from ``path``; every array is checked against the config first.

    The digest catches damage, not forgery (anyone can recompute it), so the contents are
    checked as untrusted input: a crafted file raises ValueError and allocates nothing large.
    """
    config, arrays = _read(path)
    try:
        return _build(config, arrays, network_cls)
    except _BAD_FILE as e:
        raise ValueError(f"{path!s} holds an inconsistent fastnn model: {e}") from None


def _build(config, arrays, network_cls):
    layers = [Dense.from_config(c) for c in config["layers"]]
    input_dim, net_input_dim = config["input_dim"], config["net_input_dim"]
    for name, dim in (("input_dim", input_dim), ("net_input_dim", net_input_dim)):
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"{name} must be a positive integer, got {dim!r}")
    steps = _preprocess(config["preprocess"], arrays, input_dim, net_input_dim)
    _, _, n_params, n_stats = build_layout(net_input_dim, layers)
    optimizer = optimizers.from_config(config["optimizer"])
    opt_steps = config["opt_steps"]
    if isinstance(opt_steps, bool) or not isinstance(opt_steps, int) or not 0 <= opt_steps < 2**62:
        raise ValueError(f"opt_steps must be an integer in [0, 2**62), got {opt_steps!r}")
    # Before the network allocates anything:
    for name, shape in (("theta", (n_params,)), ("opt_state", (optimizer.n_state, n_params)), ("bn_stats", (n_stats,))):
        a = arrays[name]
        if a.shape != shape or a.dtype != np.dtype(config["dtype"]) or not np.isfinite(a).all():
            raise ValueError(f"array {name!r} ({a.dtype} {a.shape}) is not {shape} finite {config['dtype']} numbers")
    net = network_cls(layers, loss=config["loss"], dtype=config["dtype"], seed=config["seed"], input_dim=input_dim,
                      preprocess=steps)
    net._rng.bit_generator.state = config["rng_state"]
    _check_variances(layers, net._layout, arrays["bn_stats"])
    net._theta[:], net._bn_stats[:] = arrays["theta"], arrays["bn_stats"]
    optimizer.check_state(arrays["opt_state"])
    net._optimizer, net._opt_state, net._opt_steps = optimizer, arrays["opt_state"].copy(), opt_steps
    names = config.get("feature_names")
    if names is not None and (not isinstance(names, list) or len(names) != input_dim
                              or not all(isinstance(c, str) for c in names)):
        raise ValueError(f"feature_names must be {input_dim} column names, got {names!r:.100}")
    net.feature_names_ = names
    if config["targets"] is not None:
        net._targets = _targets(config["targets"], arrays.get("classes"), layers[-1].units)
    return net


def _check_variances(layers, layout, stats):
    """The moving variances of batch-norm layers are >= 0 (a negative one gives NaN predictions)."""
    for l, layer in enumerate(layers):
        s0, m = layout[l, STAT_OFF], layout[l, FAN_OUT]
        if s0 >= 0 and stats[s0 + m : s0 + 2 * m].min() < 0:
            raise ValueError(f"layer {l}'s batch-norm variances must be >= 0")


def _preprocess(configs, arrays, input_dim, net_input_dim):
    """The fitted steps, each checked to take the previous one's outputs (finite arrays of the
    right shapes), the last one giving the network's inputs."""
    steps, dim = [], input_dim
    for i, config in enumerate(configs):
        own = {k[len(f"pre{i}_"):]: a for k, a in arrays.items() if k.startswith(f"pre{i}_")}
        step = preprocessing.from_config(config, own)
        for name, a in own.items():
            if a.dtype.kind != "f" or not np.isfinite(a).all():
                raise ValueError(f"preprocessing step {i} array {name!r} must hold finite floats")
        if step.n_features_in_ != dim or not step.consistent():
            raise ValueError(f"preprocessing step {i} ({step!r}) does not fit {dim} inputs")
        steps.append(step)
        dim = step.output_dim()
    if dim != net_input_dim:
        raise ValueError(f"the preprocessing gives {dim} inputs but the network takes {net_input_dim}")
    return steps


def _targets(t, classes, n_outputs):
    values = tuple(float(v) for v in t["values"])
    if len(values) != 2 or not np.isfinite(values).all():
        raise ValueError(f"target values must be two finite numbers, got {t['values']!r}")
    if classes is None:
        if t["n_targets"] != n_outputs or not isinstance(t["flat"], bool):
            raise ValueError(f"{t['n_targets']!r} regression targets for {n_outputs} outputs")
        return Targets(n_targets=n_outputs, flat=t["flat"])
    expected = 2 if n_outputs == 1 else n_outputs
    if classes.ndim != 1 or len(classes) != expected or classes.dtype.kind not in "biuU" \
            or (len(classes) > 1 and not np.all(classes[1:] > classes[:-1])):
        raise ValueError(f"classes must be {expected} sorted, distinct labels, got {classes!r:.100}")
    return Targets(classes=classes, values=values)
