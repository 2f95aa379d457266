"""Layer specifications and their place in the flat parameter vector."""
import numpy as np

from . import activations, initializers
from .kernels import layout as col


class Dense:
    """A fully connected layer: y = f(x W + b).

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
    """

    def __init__(self, units, activation="linear", init=None):
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.init = self.activation.default_init if init is None else initializers.check(init)

    def get_config(self):
        act = self.activation
        return {"units": self.units, "activation": act.name, "activation_params": act.get_config(), "init": self.init}

    @classmethod
    def from_config(cls, config):
        act = activations.from_config(config["activation"], config["activation_params"])
        return cls(config["units"], activation=act, init=config["init"])

    def __repr__(self):
        return f"Dense({self.units}, activation={self.activation!r}, init={self.init!r})"


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
        if act.name == "softmax" and layer.units < 2:
            raise ValueError(
                f"layers[{i}] is a softmax over {layer.units} unit: its output is always 1 and it learns nothing; "
                "use Dense(1, activation='logistic') for two classes"
            )
    return list(layers)


def build_layout(input_dim, layers):
    """The int64 layout table, float64 activation parameters and the parameter count.

    Per layer, theta holds W (fan_in x fan_out, row-major), then b, then the PReLU slopes.
    """
    layout = np.zeros((len(layers), col.N_COLS), dtype=np.int64)
    act_params = np.zeros((len(layers), 2), dtype=np.float64)
    offset, units, fan_in = 0, 0, input_dim
    for l, layer in enumerate(layers):
        fan_out = layer.units
        row = layout[l]
        row[col.FAN_IN], row[col.FAN_OUT] = fan_in, fan_out
        row[col.W_OFF] = offset
        row[col.B_OFF] = offset + fan_in * fan_out
        offset = row[col.B_OFF] + fan_out
        row[col.ALPHA_OFF] = -1
        if layer.activation.name == "prelu":
            row[col.ALPHA_OFF] = offset
            offset += fan_out
        row[col.ACT] = layer.activation.code
        row[col.UNIT_OFF] = units
        act_params[l] = layer.activation.params()
        units += fan_out
        fan_in = fan_out
    return layout, act_params, int(offset)


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
    return theta
