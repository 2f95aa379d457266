"""Model files: one .npz of plain arrays and a JSON config, guarded by a SHA-256 digest.

No pickle anywhere: ``np.load(..., allow_pickle=False)`` reads only numeric and string arrays,
so loading a file never executes code. The digest turns a truncated or edited file into a
clear error instead of a silently different model.
"""
import hashlib
import json
import zipfile

import numpy as np

from ._targets import Targets
from .layers import Dense

FORMAT = "fastnn"
VERSION = 1


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
    }
    arrays = {"theta": net._theta, "velocity": net._velocity}
    if net._targets is not None and net._targets.classification:
        arrays["classes"] = net._targets.classes
    config_bytes = json.dumps(config, sort_keys=True).encode()
    arrays["config"] = np.frombuffer(config_bytes, dtype=np.uint8)
    arrays["sha256"] = _digest(config_bytes, {k: v for k, v in arrays.items() if k != "config"})
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _read(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"{path!s} is not a readable fastnn model file (truncated or not an .npz?): {e}") from None
    for key in ("config", "sha256", "theta", "velocity"):
        if key not in arrays:
            raise ValueError(f"{path!s} is not a fastnn model file: the array {key!r} is missing")
    config_bytes = arrays.pop("config").tobytes()
    digest = arrays.pop("sha256")
    if not np.array_equal(digest, _digest(config_bytes, arrays)):
        raise ValueError(f"{path!s} is corrupted or was modified after saving (its SHA-256 digest does not match)")
    return json.loads(config_bytes.decode()), arrays


def load(path, network_cls):
    """Rebuild a Network from ``path``; every shape is checked against the config."""
    config, arrays = _read(path)
    if config.get("format") != FORMAT or config.get("version") != VERSION:
        raise ValueError(f"{path!s} is not a fastnn model file of version {VERSION}")
    try:
        net = network_cls([Dense.from_config(c) for c in config["layers"]], loss=config["loss"],
                          dtype=config["dtype"], seed=config["seed"], input_dim=config["input_dim"])
        net._rng.bit_generator.state = config["rng_state"]
        for name in ("theta", "velocity"):
            a = arrays[name]
            if a.shape != net._theta.shape or a.dtype != net._theta.dtype:
                raise ValueError(f"array {name!r} has {a.dtype} {a.shape}, the layers need {net._theta.dtype} {net._theta.shape}")
        net._theta[:], net._velocity[:] = arrays["theta"], arrays["velocity"]
        t = config["targets"]
        if t is not None:
            classes = arrays.get("classes")
            net._targets = Targets(classes=classes, n_targets=t["n_targets"], flat=t["flat"], values=tuple(t["values"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path!s} holds an inconsistent fastnn model: {e}") from None
    return net
