"""Targets: class labels <-> indicator matrices, regression targets <-> 2-D arrays."""
import numpy as np

from . import _checks, losses

UNBOUNDED_OUTPUTS = ("linear", "tanh_linear")  # outputs that can reach any z-score
LABEL_KINDS = "biuUfS"  # numpy kinds fit takes as class labels: booleans, integers, floats, str, bytes
_NUMERIC = "biuf"  # labels of these kinds compare as numbers: 1, 1.0 and True are one class


class Targets:
    """How a network reads and writes its targets; fixed at the first fit.

    classes : array of the class labels (sorted), or None for regression.
    n_targets : regression targets per example, and whether y was 1-D (``flat``).
    values : (negative, positive) indicator values for classification.
    shift, scale : per regression target, what the network learns is (y - shift) / scale, and
        its outputs are mapped back; None: y as it is.
    """

    def __init__(self, classes=None, n_targets=None, flat=False, values=(0.0, 1.0), shift=None, scale=None):
        self.classes, self.n_targets, self.flat, self.values = classes, n_targets, flat, values
        self.shift, self.scale = shift, scale

    @classmethod
    def infer(cls, y, loss, output_activation, n_outputs, scale=False):
        """Targets for the first fit; checks that the output layer can represent them. ``scale``:
        learn regression targets as z-scores (the mean and standard deviation of this y), when
        the output is unbounded (UNBOUNDED_OUTPUTS): a logistic, tanh or ReLU output could not
        reach z-scores of either sign, and its targets are taken as they are."""
        y = np.asarray(y)
        if losses.is_classification(loss, y):
            labels = _labels(y)
            classes = np.unique(labels)
            k = len(classes)
            if k < 2:
                raise ValueError(f"y holds a single class ({classes[0]!r}); classification needs at least two")
            if n_classes(n_outputs) != k:
                raise ValueError(
                    f"y has {k} classes but the output layer has {n_outputs} units; "
                    f"use Dense({k}, ...) as the last layer" + (" (or Dense(1, ...) for two classes)" if k == 2 else "")
                )
            return cls(classes=classes, values=losses.target_values(loss, output_activation))
        y2 = _regression(y)
        if y2.shape[1] != n_outputs:
            raise ValueError(f"y has {y2.shape[1]} target(s) per example but the output layer has {n_outputs} units")
        if not scale or output_activation not in UNBOUNDED_OUTPUTS:
            return cls(n_targets=y2.shape[1], flat=y.ndim == 1)
        y64 = y2.astype(np.float64)
        std = y64.std(axis=0)
        return cls(n_targets=y2.shape[1], flat=y.ndim == 1, shift=y64.mean(axis=0).tolist(),
                   scale=np.where(std > 0, std, 1.0).tolist())  # a constant target: shifted only

    @property
    def classification(self):
        return self.classes is not None

    def encode(self, y, n_outputs, dtype, name="y"):
        """The (n, n_outputs) target matrix T for y, checked against what the network knows."""
        y = np.asarray(y)
        if not self.classification:
            T = _regression(y, name)
            if T.shape[1] != self.n_targets:
                raise ValueError(f"{name} has {T.shape[1]} target(s) per example; the network was fitted with {self.n_targets}")
            if self.scale is not None:
                T = (T - np.asarray(self.shift)) / np.asarray(self.scale)
            with np.errstate(over="ignore"):
                T = np.ascontiguousarray(T, dtype=dtype)
            _checks.finite(T, name)
            return T
        labels = _labels(y, name)
        kinds = labels.dtype.kind + self.classes.dtype.kind
        if kinds[0] != kinds[1] and not set(kinds) <= set(_NUMERIC):
            raise ValueError(f"{name} holds labels of dtype {labels.dtype}; the network was fitted on labels {self.classes.tolist()}")
        index = np.searchsorted(self.classes, labels)
        index = np.minimum(index, len(self.classes) - 1)
        unknown = self.classes[index] != labels
        if unknown.any():
            raise ValueError(
                f"{name} holds label(s) {np.unique(labels[unknown])[:5].tolist()} that the network does not know; "
                f"its classes are {self.classes.tolist()}"
            )
        return losses.encode_classes(index, len(self.classes), n_outputs, self.values, dtype)

    def decode(self, outputs):
        """Predictions from network outputs: class labels or regression values."""
        if self.classification:
            return self.classes[losses.decode_classes(outputs, self.values)]
        if self.scale is not None:
            outputs = (outputs * np.asarray(self.scale) + np.asarray(self.shift)).astype(outputs.dtype)
        return outputs[:, 0].copy() if self.flat else outputs

    def get_config(self):
        return {"n_targets": self.n_targets, "flat": self.flat, "values": list(self.values), "shift": self.shift,
                "scale": self.scale}

    @classmethod
    def from_config(cls, config, classes, n_outputs):
        """Targets from get_config() and the classes array (None for regression) of a model
        file, checked as untrusted input against the ``n_outputs`` units of the output layer."""
        values = tuple(float(v) for v in config["values"])
        if len(values) != 2 or not np.isfinite(values).all():
            raise ValueError(f"target values must be two finite numbers, got {config['values']!r:.100}")
        if classes is None:
            n, flat = config["n_targets"], config["flat"]
            if n != n_outputs or not isinstance(flat, bool) or (flat and n != 1):
                raise ValueError(f"{n!r} regression targets (flat={flat!r}) for {n_outputs} outputs")
            shift, scale = config.get("shift"), config.get("scale")  # absent in files before target scaling
            if (shift is None) != (scale is None):
                raise ValueError("target shift and scale must be given together")
            if scale is not None:
                shift, scale = _numbers(shift, n, "target shift"), _numbers(scale, n, "target scale")
                if min(scale) <= 0:
                    raise ValueError(f"target scale must be positive, got {scale!r:.100}")
            return cls(n_targets=n_outputs, flat=flat, shift=shift, scale=scale)
        check_classes(classes, n_classes(n_outputs))
        return cls(classes=classes, values=values)


def _numbers(values, n, name):
    """``values`` from an untrusted file: a list of ``n`` finite numbers."""
    if not isinstance(values, list) or len(values) != n or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values):
        raise ValueError(f"{name} must be {n} finite numbers, got {values!r:.100}")
    return [float(v) for v in values]


def n_classes(n_outputs):
    """The classes an output layer of ``n_outputs`` units tells apart (one unit: two)."""
    return 2 if n_outputs == 1 else n_outputs


def check_classes(classes, n):
    """``classes`` as fit leaves them (np.unique of the labels): ``n`` labels of a kind fit
    accepts, finite, sorted and distinct; else ValueError saying which property fails."""
    _labels(classes, "classes")
    if len(classes) != n:
        raise ValueError(f"classes must hold {n} labels (one per class of the output layer), got {len(classes)}")
    if np.any(classes[1:] < classes[:-1]):
        raise ValueError(f"classes must be sorted, got {classes.tolist()!r:.100}")
    repeated = classes[1:][classes[1:] == classes[:-1]]
    if repeated.size:
        raise ValueError(f"classes must be distinct, got {repeated.tolist()[0]!r} twice in {classes.tolist()!r:.100}")


def _labels(y, name="y"):
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one class label per example) for classification, got shape {y.shape}")
    if y.dtype.kind not in LABEL_KINDS:
        raise TypeError(f"{name} has dtype {y.dtype}; class labels must be all numbers, booleans, str or bytes")
    if y.dtype.kind == "f":
        _checks.finite(y, name)
    return y


def _regression(y, name="y"):
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {y.dtype}; regression targets must be numbers, e.g. {name}.astype(np.float32)")
    if y.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (n,) or (n, k), got {y.shape}")
    y2 = y.reshape(-1, 1) if y.ndim == 1 else y
    _checks.finite(y2.astype(np.float64, copy=False), name)
    return y2
