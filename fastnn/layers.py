"""Layer specifications and their place in the flat parameter vector."""
import numpy as np

from . import _checks, activations, initializers
from .kernels import layout as col


class BatchNorm:
    """Batch normalization of a hidden layer's net input (Ioffe & Szegedy 2015).

    Training normalises each unit's net input with the mean and variance of the mini-batch,
    then scales by gamma and shifts by beta (learned; beta replaces the layer's bias).
    Inference uses moving averages of the batch statistics (or, after
    ``Network.set_batch_norm_statistics``, those of the whole training set).

    Parameters
    ----------
    momentum : float in [0, 1), default 0.9
        Weight of the old value in each moving-average update: avg <- momentum avg + (1 - momentum) batch.
    eps : float > 0, default 1e-5
        Added to the variance before its square root: a constant input (variance 0) gives
        x_hat = 0, not NaN.
    """

    def __init__(self, momentum=0.9, eps=1e-5):
        self.momentum = _checks.number("momentum", momentum, low=0.0, high=1.0, high_open=True)
        self.eps = _checks.number("eps", eps, low=0.0, low_open=True)

    def get_config(self):
        return {"momentum": self.momentum, "eps": self.eps}

    def __repr__(self):
        return f"BatchNorm(momentum={self.momentum!r}, eps={self.eps!r})"


class Dense:
    """A fully connected layer: y = f(x W + b), or f(BN(x W)) with batch normalization.

    Parameters
    ----------
    units : int
        Number of units (outputs) of the layer, >= 1.
    activation : str or fastnn.activations.Activation, default "linear"
        See :mod:`fastnn.activations`.
    init : str or None
        Weight initialiser (see :mod:`fastnn.initializers`); None takes the activation's
        default: he_normal for the ReLU family and ELU, lecun_normal for lecun_tanh,
        tanh_linear and selu, glorot_uniform otherwise.
    batch_norm : bool or BatchNorm, default False
        Normalise the net input before the activation (hidden layers only); True means
        BatchNorm() with its defaults. The layer then has gamma and beta instead of b.
    """

    def __init__(self, units, activation="linear", init=None, batch_norm=False):
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.init = self.activation.default_init if init is None else initializers.check(init)
        if batch_norm is True:
            batch_norm = BatchNorm()
        if not (batch_norm is False or batch_norm is None or isinstance(batch_norm, BatchNorm)):
            raise TypeError(f"Dense: batch_norm must be True, False or a fastnn.BatchNorm, got {batch_norm!r}")
        self.batch_norm = batch_norm or None

    def get_config(self):
        act = self.activation
        bn = None if self.batch_norm is None else self.batch_norm.get_config()
        return {"units": self.units, "activation": act.name, "activation_params": act.get_config(), "init": self.init,
                "batch_norm": bn}

    @classmethod
    def from_config(cls, config):
        act = activations.from_config(config["activation"], config["activation_params"])
        bn = config.get("batch_norm")  # absent in files of format version 1
        return cls(config["units"], activation=act, init=config["init"],
                   batch_norm=False if bn is None else BatchNorm(**bn))

    def __repr__(self):
        bn = "" if self.batch_norm is None else f", batch_norm={self.batch_norm!r}"
        return f"Dense({self.units}, activation={self.activation!r}, init={self.init!r}{bn})"


def check_layers(layers):
    """Validate a list of Dense layers: softmax and RReLU have their place."""
    if not isinstance(layers, (list, tuple)) or len(layers) == 0:
        raise ValueError(f"layers must be a non-empty list of fastnn.Dense, got {layers!r}")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Dense):
            raise TypeError(f"layers[{i}] must be a fastnn.Dense, got {type(layer).__name__}")
        last = i == len(layers) - 1
        act = layer.activation
        if not last and not act.hidden:
            raise ValueError(
                f"layers[{i}] uses {act.name} on a hidden layer; it belongs on the output layer only "
                "(use e.g. 'tanh' or 'relu' for hidden layers)"
            )
        if last and not act.output:
            raise ValueError(f"layers[{i}] (the output layer) cannot use {act.name}; use it on hidden layers")
        if last and layer.batch_norm is not None:
            raise ValueError(f"layers[{i}] is the output layer: batch norm normalises hidden layers only; "
                             "remove batch_norm from the last Dense")
        if act.name == "softmax" and layer.units < 2:
            raise ValueError(
                f"layers[{i}] is a softmax over {layer.units} unit: its output is always 1 and it learns nothing; "
                "use Dense(1, activation='logistic') for two classes"
            )
    return list(layers)


def build_layout(input_dim, layers):
    """The int64 layout table, the float64 per-layer parameters, the parameter count and the
    size of the batch-norm statistics array.

    Per layer, theta holds W (fan_in x fan_out, row-major), then b (beta with batch norm),
    then the PReLU slopes, then gamma (batch norm). The statistics array holds, per
    batch-norm layer, the moving mean and then the moving variance of its raw net input x W.
    """
    _check_size(input_dim, layers)
    layout = np.zeros((len(layers), col.N_COLS), dtype=np.int64)
    act_params = np.zeros((len(layers), col.N_PARAMS), dtype=np.float64)
    offset, units, fan_in, n_stats = 0, 0, input_dim, 0
    for l, layer in enumerate(layers):
        fan_out = layer.units
        row = layout[l]
        row[col.FAN_IN], row[col.FAN_OUT] = fan_in, fan_out
        row[col.W_OFF] = offset
        row[col.B_OFF] = offset + fan_in * fan_out
        offset = row[col.B_OFF] + fan_out
        row[col.ALPHA_OFF] = row[col.GAMMA_OFF] = row[col.STAT_OFF] = -1
        if layer.activation.name == "prelu":
            row[col.ALPHA_OFF] = offset
            offset += fan_out
        if layer.batch_norm is not None:
            row[col.GAMMA_OFF], row[col.STAT_OFF] = offset, n_stats
            offset += fan_out
            n_stats += 2 * fan_out
            act_params[l, col.BN_MOMENTUM] = layer.batch_norm.momentum
            act_params[l, col.BN_EPS] = layer.batch_norm.eps
        row[col.ACT] = layer.activation.code
        row[col.UNIT_OFF] = units
        act_params[l, col.P1 : col.P2 + 1] = layer.activation.params()
        units += fan_out
        fan_in = fan_out
    return layout, act_params, int(offset), n_stats


def _check_size(input_dim, layers):
    """Refuse a network that could not fit in memory before its int64 offsets overflow or its
    arrays are allocated: float32 weights and their gradients are the least training needs."""
    widths = [input_dim] + [layer.units for layer in layers]
    n_params = sum((a + 3) * b for a, b in zip(widths, widths[1:]))  # W, b, PReLU slopes, gamma: a bound
    _checks.fits_in_memory(2 * 4 * n_params, f"a network {'-'.join(map(str, widths))} with about {n_params:.3g} parameters")


def init_params(layers, layout, n_params, rng, dtype):
    """A new theta: weights from each layer's initialiser, zero biases, PReLU slopes at init."""
    theta = np.zeros(n_params, dtype=dtype)
    for l, layer in enumerate(layers):
        fan_in, fan_out = layout[l, col.FAN_IN], layout[l, col.FAN_OUT]
        w0 = layout[l, col.W_OFF]
        theta[w0 : w0 + fan_in * fan_out] = initializers.initialize(layer.init, fan_in, fan_out, rng).ravel()
        if layout[l, col.ALPHA_OFF] >= 0:
            a0 = layout[l, col.ALPHA_OFF]
            theta[a0 : a0 + fan_out] = layer.activation.init
        if layout[l, col.GAMMA_OFF] >= 0:
            g0 = layout[l, col.GAMMA_OFF]
            theta[g0 : g0 + fan_out] = 1.0  # gamma = 1, beta = 0: the plain normalised input
    return theta


def init_stats(layout, n_stats, dtype):
    """Moving averages before any batch: mean 0, variance 1 (the identity normalisation)."""
    stats = np.zeros(n_stats, dtype=dtype)
    for l in range(layout.shape[0]):
        s0, m = layout[l, col.STAT_OFF], layout[l, col.FAN_OUT]
        if s0 >= 0:
            stats[s0 + m : s0 + 2 * m] = 1.0
    return stats


def fold_batch_norm(theta, stats, layout, act_params, upto=None):
    """(theta, layout) of the same network in inference form: each batch-norm layer (below
    ``upto``) folded into its W and b with the moving statistics,
    W' = W gamma / sqrt(var + eps), b' = beta - gamma mean / sqrt(var + eps),
    and marked plain in the layout, so prediction costs no more than without batch norm."""
    theta, layout = theta.copy(), layout.copy()
    for l in range(layout.shape[0] if upto is None else upto):
        g0, s0 = layout[l, col.GAMMA_OFF], layout[l, col.STAT_OFF]
        if g0 < 0:
            continue
        fan_in, m = layout[l, col.FAN_IN], layout[l, col.FAN_OUT]
        w0, b0 = layout[l, col.W_OFF], layout[l, col.B_OFF]
        eps = act_params[l, col.BN_EPS]
        scale = theta[g0 : g0 + m] / np.sqrt(stats[s0 + m : s0 + 2 * m].astype(np.float64) + eps)
        theta[w0 : w0 + fan_in * m] = (theta[w0 : w0 + fan_in * m].reshape(fan_in, m) * scale).ravel()
        theta[b0 : b0 + m] -= scale * stats[s0 : s0 + m]
        layout[l, col.GAMMA_OFF] = layout[l, col.STAT_OFF] = -1
    return theta, layout
