"""Losses and the encoding of targets for them.

=================  ===================  ===========================================================
loss               output activation    targets
=================  ===================  ===========================================================
``cross_entropy``  ``softmax``          one unit per class, one-hot targets
``cross_entropy``  ``logistic``         one unit for two classes (0/1), or one unit per class
``mse``            tanh family, linear  classification: +1/-1 targets, as LeCun et al. 1998 teach
``mse``            logistic, ReLU ...   classification: 0/1 targets
``mse``            any                  regression: float targets (n,) or (n, k)
=================  ===================  ===========================================================

``mse`` is E = 1/2 sum_k (y_k - t_k)^2 per example, averaged over examples. With ``mse``, integer,
boolean or string targets mean classification and float targets mean regression.
"""
import numpy as np

from .activations import SYMMETRIC
from .kernels.losses import CROSS_ENTROPY, MSE

LOSSES = {"mse": MSE, "cross_entropy": CROSS_ENTROPY}


def check(loss, output_activation):
    """The kernel code of ``loss``; raises when the output activation cannot go with it."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    if loss == "cross_entropy" and output_activation not in ("softmax", "logistic"):
        raise ValueError(
            f"loss='cross_entropy' needs a softmax or logistic output layer, got {output_activation!r}; "
            "use activation='softmax' on the last Dense, or loss='mse'"
        )
    if loss == "mse" and output_activation == "softmax":
        raise ValueError("a softmax output layer goes with loss='cross_entropy', got loss='mse'")
    return LOSSES[loss]


def is_classification(loss, y):
    """Cross-entropy always classifies; MSE classifies non-float targets."""
    return loss == "cross_entropy" or np.asarray(y).dtype.kind not in "fc"


def target_values(loss, output_activation):
    """(negative, positive) target values of a class-indicator output."""
    if loss == "mse" and output_activation in SYMMETRIC:
        return -1.0, 1.0
    return 0.0, 1.0


def encode_classes(index, n_classes, n_outputs, values, dtype):
    """Indicator targets (n, n_outputs) for class indices; one output means two classes."""
    neg, pos = values
    T = np.full((len(index), n_outputs), neg, dtype=dtype)
    if n_outputs == 1:
        T[index == 1, 0] = pos
    else:
        T[np.arange(len(index)), index] = pos
    return T


def decode_classes(outputs, values):
    """Class indices from network outputs: argmax, or a threshold midway for one output."""
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5 * (values[0] + values[1])).astype(np.int64)
    return np.argmax(outputs, axis=1)
