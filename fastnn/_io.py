"""Model files: one .npz of plain arrays and a JSON config, guarded by a SHA-256 digest.

A model file is untrusted input: ``load`` reads it as data, and this is all a file can make
fastnn do.

* **Run no code.** There is no pickle (nor np.load): the members are read with :mod:`zipfile`
  and the npy header parser of :mod:`numpy.lib.format` (a Python literal of at most
  ``_HEADER_BYTES``, read by ``ast.literal_eval``); a member is read only when its header
  declares the dtype the model expects, so never an object array; the JSON config names
  classes only from fixed tables (activations, initialisers, optimizers, preprocessing steps).
* **Allocate what the model it declares needs, and a bounded amount more.** The config member
  is read when it declares at most ``MAX_TEXT_BYTES``. From the config follow the shape and
  dtype of every array the model holds: the weights, optimizer state and batch-norm
  statistics exactly, each preprocessing step's arrays within the sizes its fit can give for
  the inputs it gets (PCA: up to inputs x inputs), the class labels as one per class of the
  output layer in ``MAX_TEXT_BYTES`` plus 16 bytes each. A member's npy header and zip size
  must agree with that before its data is read, streamed into an array of that size (a
  deflated member is never decompressed beyond it). Members the model does not hold are never
  read. A model whose network, or whose arrays in all, could not fit in the machine's physical
  memory is refused before any array is allocated. Building the network allocates a fresh set
  of weights before it takes the arrays read, so a load peaks at about twice the model's
  arrays; parsing the JSON adds at most ~25 times ``MAX_TEXT_BYTES`` (the Python objects of a
  crafted config), and zipfile's directory of the members memory in proportion to the file.
* **Pass no damage off as a model.** The digest and each member's CRC turn a damaged file
  into an error; as anyone can recompute the digest, the contents are then checked as
  untrusted input (shapes, finiteness, ranges, sorted classes) before a Network is built.

Every failure is a ValueError naming the file.
"""
import hashlib
import json
import math
import zipfile
from typing import NamedTuple

import numpy as np

from . import _checks, optimizers, preprocessing
from ._files import atomic_write
from ._targets import LABEL_KINDS, Targets, n_classes
from .kernels.layout import FAN_OUT, STAT_OFF
from .layers import Dense, build_layout, check_layers

FORMAT = "fastnn"
VERSION = 2  # 2: optimizer state (any rule) instead of the SGD velocity
# The config and the labels are the only members without a size the model fixes. A config is
# a few kB plus ~20 bytes per feature name (200,000 named columns fit), and its JSON, crafted
# as nested empty lists, costs ~25 times its size in Python objects: ~100 MB at most.
MAX_TEXT_BYTES = 4 * 2**20
_HEADER_BYTES = 4096  # a header np.save writes for these arrays takes 128 bytes
_CHUNK = 2**20  # bytes per read of a member's data


def _digest(config_bytes, arrays):
    h = hashlib.sha256(config_bytes)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode())
        h.update(a)  # the array's buffer: no copy of the weights
    return np.frombuffer(h.digest(), dtype=np.uint8)


def _max_label_bytes(n):
    """Bytes the classes array may take: any numbers, or labels of MAX_TEXT_BYTES in all."""
    return MAX_TEXT_BYTES + 16 * n


def save(net, path):
    config = {
        "format": FORMAT, "version": VERSION,
        "layers": [layer.get_config() for layer in net.layers],
        "loss": net.loss, "dtype": net.dtype, "seed": net.seed, "input_dim": net.input_dim,
        "rng_state": net._rng.bit_generator.state,
        "targets": None if net._targets is None else net._targets.get_config(),
        "optimizer": net._optimizer.get_config(), "opt_steps": net._opt_steps,
        "preprocess": [step.get_config() for step in net.preprocess], "net_input_dim": int(net._layout[0, 0]),
        "feature_names": net.feature_names_, "scale_targets": net.scale_targets,
    }
    arrays = {"theta": net._theta, "opt_state": net._opt_state, "bn_stats": net._bn_stats}
    for i, step in enumerate(net.preprocess):
        arrays.update({f"pre{i}_{name}": a for name, a in step.get_arrays().items()})
    if net._targets is not None and net._targets.classification:
        arrays["classes"] = net._targets.classes
        if arrays["classes"].nbytes > _max_label_bytes(len(arrays["classes"])):
            raise ValueError(f"the class labels take {arrays['classes'].nbytes} bytes; a model file holds labels of "
                             f"{MAX_TEXT_BYTES} bytes at most: train on shorter labels (or their indices)")
    config_bytes = json.dumps(config, sort_keys=True).encode()
    if len(config_bytes) > MAX_TEXT_BYTES:  # load would refuse it
        raise ValueError(f"the model's description takes {len(config_bytes)} bytes (its feature names?); a model file "
                         f"holds {MAX_TEXT_BYTES} at most: set net.feature_names_ = None before saving")
    arrays["config"] = np.frombuffer(config_bytes, dtype=np.uint8)
    arrays["sha256"] = _digest(config_bytes, {k: v for k, v in arrays.items() if k != "config"})
    with atomic_write(path) as f:  # a failed save leaves the previous model at path intact
        np.savez(f, **arrays)


_VERSIONS = (1, 2)  # 1: theta and the SGD velocity
# What a crafted file can make zipfile, json, numpy or the constructors raise; all become ValueError.
_BAD_FILE = (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError, MemoryError, IndexError)
_BAD_ZIP = (OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError)


def load(path, network_cls):
    """Rebuild a Network from ``path``; every member is checked against the config before it
    is read, and every array against the model before the network takes it."""
    try:
        config, model, arrays, steps = _read(path)
    except _BAD_ZIP + _BAD_FILE as e:
        raise ValueError(f"{path!s} is not a readable fastnn model file: {_reason(e)}") from None
    try:
        return _build(config, model, arrays, steps, network_cls)
    except _BAD_FILE as e:
        raise ValueError(f"{path!s} holds an inconsistent fastnn model: {_reason(e)}") from None


def _reason(e):
    # A KeyError says only the key: a config entry that is missing or names no known class.
    return f"unknown or missing entry {e}" if isinstance(e, KeyError) else e


def _read(path):
    """(config, declared model, arrays by member name, preprocessing steps), digest checked."""
    with open(path, "rb") as f:
        if f.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):  # a zip's first member, or an empty zip
            raise ValueError("it does not start like a zip archive; a fastnn model is the .npz that Network.save "
                             "(or fastnn train --save) writes")
    with zipfile.ZipFile(path) as zf:
        archive = _Archive(zf)
        if not {"config.npy", "sha256.npy"} <= archive.members:
            raise ValueError("not a fastnn model file: no config or digest")
        config_bytes = archive.array("config", (range(MAX_TEXT_BYTES + 1),), np.dtype(np.uint8)).tobytes()
        config = _parse(config_bytes)
        model = _declared(config)
        shapes = model.shapes
        if shapes["bn_stats"] == (0,) and "bn_stats.npy" not in archive.members:  # files from before batch norm
            del shapes["bn_stats"]
        arrays = {name: archive.array(name, shape, model.dtype) for name, shape in shapes.items()}
        if config["targets"] is not None and "classes.npy" in archive.members:
            n = n_classes(model.layers[-1].units)
            arrays["classes"] = archive.array("classes", (n,), LABEL_KINDS, _max_label_bytes(n))
        steps = _read_steps(archive, config["preprocess"], config["input_dim"], arrays)
        digest = archive.array("sha256", (32,), np.dtype(np.uint8))
    if not np.array_equal(digest, _digest(config_bytes, arrays)):
        raise ValueError("the file is corrupted or was modified after saving (its SHA-256 digest does not match)")
    if config["version"] == 1:
        arrays["opt_state"] = arrays.pop("velocity")[None, :]
    arrays.setdefault("bn_stats", np.zeros(0, dtype=model.dtype))
    return config, model, arrays, steps


def _parse(config_bytes):
    """The config as the current version has it: version 1 (plain SGD velocity), and version 2
    from before batch norm and preprocessing (no preprocess, net_input_dim)."""
    config = json.loads(config_bytes.decode())
    if not isinstance(config, dict) or config.get("format") != FORMAT or config.get("version") not in _VERSIONS:
        raise ValueError(f"not a fastnn model file of version {VERSION}")
    if config["version"] == 1:
        config["optimizer"] = optimizers.SGD().get_config()
        config["opt_steps"] = 0
    config.setdefault("preprocess", [])
    config.setdefault("net_input_dim", config.get("input_dim"))
    for name in ("input_dim", "net_input_dim"):
        dim = config[name]
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"{name} must be a positive integer, got {dim!r}")
    return config


class _Declared(NamedTuple):
    """What a config declares: the layers, optimizer and dtype, and the shapes of the arrays
    (by member name) that follow from them."""
    layers: list
    optimizer: optimizers.Optimizer
    dtype: np.dtype
    shapes: dict


def _declared(config):
    layers = check_layers([Dense.from_config(c) for c in config["layers"]])
    _, _, n_params, n_stats = build_layout(config["net_input_dim"], layers)
    optimizer = optimizers.from_config(config["optimizer"])
    state = "velocity" if config["version"] == 1 else "opt_state"
    shapes = {"theta": (n_params,), state: (n_params,) if state == "velocity" else (optimizer.n_state, n_params),
              "bn_stats": (n_stats,)}
    return _Declared(layers, optimizer, np.dtype(_checks.dtype(config["dtype"])), shapes)


def _read_steps(archive, configs, input_dim, arrays):
    """The preprocessing steps with their arrays, each read within the shapes the step takes
    for the inputs it gets (the previous step's outputs); the arrays go into ``arrays`` too."""
    steps, dim = [], input_dim
    for i, config in enumerate(configs):
        step = preprocessing.from_config(config)
        own = {name: archive.array(f"pre{i}_{name}", shape, np.dtype(np.float64))
               for name, shape in step.array_shapes(dim).items()}
        steps.append(step.set_arrays(own))
        arrays.update({f"pre{i}_{name}": a for name, a in own.items()})
        dim = preprocessing.output_dim([step], dim)
    return steps


class _Archive:
    """The members of an open model file, each read only when its declared size is the one
    expected; the bytes allocated so far stay within the machine's memory."""

    def __init__(self, zf):
        self.zf, self.members, self.allocated = zf, set(zf.namelist()), 0

    def array(self, name, shape, dtype, max_bytes=None):
        """The array in member ``name``.npy. ``shape`` holds ints or ranges of lengths;
        ``dtype`` is a numpy dtype, or a string of the dtype kinds allowed (native byte order)."""
        if f"{name}.npy" not in self.members:
            raise ValueError(f"not a fastnn model file: the array {name!r} is missing")
        info = self.zf.getinfo(f"{name}.npy")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 1:
            raise ValueError(f"member {info.filename!r} is encrypted or compressed with method {info.compress_type}; "
                             "model files are stored or deflated (np.savez, np.savez_compressed)")
        with self.zf.open(info) as fp:
            got_shape, fortran, got, header_bytes = _npy_header(fp)
            wanted = f"dtype kinds {dtype!r}" if isinstance(dtype, str) else dtype.str
            if not _shape_fits(got_shape, shape) or not (
                    got.kind in dtype and got.isnative if isinstance(dtype, str) else got == dtype):
                raise ValueError(f"member {info.filename!r} holds {got.str} {got_shape}; "
                                 f"the model's config calls for {wanted} {_shape_text(shape)}")
            nbytes = math.prod(got_shape) * got.itemsize
            self._allocate(info.filename, nbytes, max_bytes)
            if info.file_size != header_bytes + nbytes:
                raise ValueError(f"member {info.filename!r} declares {info.file_size} bytes; its npy header says "
                                 f"{header_bytes + nbytes}")
            if fortran:  # np.save keeps the order of an F-contiguous array (PCA's components); kernels take C order
                return np.ascontiguousarray(_fill(fp, np.empty(got_shape[::-1], dtype=got)).T)
            return _fill(fp, np.empty(got_shape, dtype=got))

    def _allocate(self, member, nbytes, max_bytes):
        if max_bytes is not None and nbytes > max_bytes:
            raise ValueError(f"member {member!r} takes {nbytes} bytes, more than the {max_bytes} allowed")
        self.allocated += nbytes
        _checks.fits_in_memory(self.allocated, f"the arrays of this model file (up to {member!r})")


class _HeaderStream:
    """A member's first bytes for numpy's npy header parser, which reads the header length it
    is told (up to 4 GiB) before it checks it: reads past _HEADER_BYTES are refused here."""

    def __init__(self, fp):
        self.fp, self.nbytes = fp, 0

    def read(self, size):
        if self.nbytes + size > _HEADER_BYTES:
            raise ValueError(f"an npy header longer than {_HEADER_BYTES} bytes")
        data = self.fp.read(size)
        self.nbytes += len(data)
        return data


def _npy_header(fp):
    """(shape, fortran_order, dtype, header bytes) of npy format 1.0 or 2.0 (what np.save writes)."""
    stream = _HeaderStream(fp)
    version = np.lib.format.read_magic(stream)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"npy format version {version} is not one np.save writes for these arrays")
    parse = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return (*parse(stream, max_header_size=_HEADER_BYTES), stream.nbytes)


def _shape_fits(shape, expected):
    return len(shape) == len(expected) and all(n in e if isinstance(e, range) else n == e
                                               for n, e in zip(shape, expected))


def _shape_text(shape):
    dims = [f"{e.start}..{e.stop - 1}" if isinstance(e, range) else str(e) for e in shape]
    return f"({', '.join(dims)}{',' * (len(dims) == 1)})"


def _fill(fp, a):
    """``a`` filled with the next a.nbytes bytes of ``fp``, a chunk at a time (no second copy)."""
    view = memoryview(a.reshape(-1).view(np.uint8))
    pos = 0
    while pos < len(view):
        chunk = fp.read(min(_CHUNK, len(view) - pos))
        if not chunk:
            raise EOFError(f"the data ends after {pos} of {len(view)} bytes")
        view[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
    return a


def _build(config, model, arrays, steps, network_cls):
    layers, optimizer, dtype = model.layers, model.optimizer, model.dtype
    opt_steps = config["opt_steps"]
    if isinstance(opt_steps, bool) or not isinstance(opt_steps, int) or not 0 <= opt_steps < 2**62:
        raise ValueError(f"opt_steps must be an integer in [0, 2**62), got {opt_steps!r}")
    for name in ("theta", "opt_state", "bn_stats"):  # shapes and dtypes: checked as they were read
        if not np.isfinite(arrays[name]).all():
            raise ValueError(f"array {name!r} must hold finite {dtype} numbers")
    _check_steps(steps, config["input_dim"], config["net_input_dim"])
    # Built for the inputs of its first layer, then given the checked steps before them: the
    # constructor would ask the last step for its output size, which a Scale leaves open.
    net = network_cls(layers, loss=config["loss"], dtype=dtype.name, seed=config["seed"],
                      input_dim=config["net_input_dim"], scale_targets=config.get("scale_targets", False) is True)
    net.preprocess, net.input_dim = steps, config["input_dim"]
    net._rng.bit_generator.state = config["rng_state"]
    _check_variances(layers, net._layout, arrays["bn_stats"])
    optimizer.check_state(arrays["opt_state"])
    # The arrays were read for this network alone: it takes them (no copies).
    net._theta, net._bn_stats = arrays["theta"], arrays["bn_stats"]
    net._optimizer, net._opt_state, net._opt_steps = optimizer, arrays["opt_state"], opt_steps
    names = config.get("feature_names")
    if names is not None and (not isinstance(names, list) or len(names) != net.input_dim
                              or not all(isinstance(c, str) for c in names)):
        raise ValueError(f"feature_names must be {net.input_dim} column names, got {names!r:.100}")
    net.feature_names_ = names
    if config["targets"] is not None:
        net._targets = Targets.from_config(config["targets"], arrays.get("classes"), layers[-1].units)
    return net


def _check_variances(layers, layout, stats):
    """The moving variances of batch-norm layers are >= 0 (a negative one gives NaN predictions)."""
    for l, layer in enumerate(layers):
        s0, m = layout[l, STAT_OFF], layout[l, FAN_OUT]
        if s0 >= 0 and stats[s0 + m : s0 + 2 * m].min() < 0:
            raise ValueError(f"layer {l}'s batch-norm variances must be >= 0")


def _check_steps(steps, input_dim, net_input_dim):
    """Each step's arrays as its fit could leave them (finite, consistent), and the last one
    giving the network's inputs (their shapes were bounded as they were read)."""
    for i, step in enumerate(steps):
        if not all(np.isfinite(a).all() for a in step.get_arrays().values()) or not step.consistent():
            raise ValueError(f"preprocessing step {i} ({step!r}) holds arrays its fit cannot give")
    dim = preprocessing.output_dim(steps, input_dim)
    if dim != net_input_dim:
        raise ValueError(f"the preprocessing gives {dim} inputs but the network takes {net_input_dim}")
