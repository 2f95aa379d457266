"""Weight initialisers, exact to their definitions; biases always start at zero.

fan_in: inputs of a layer; fan_out: its units; m = (fan_in + fan_out) / 2.

========================  ===================================  ====================================
name                      distribution                         source
========================  ===================================  ====================================
``normal``                N(0, 1)                              the traditional choice (too large)
``lecun_normal``          N(0, 1 / fan_in)                     LeCun et al. 1998, section 4.6
``lecun_uniform``         U(-r, r), r = sqrt(3 / fan_in)       same variance, uniform
``glorot_normal``         N(0, 1 / m)                          Glorot & Bengio 2010
``glorot_uniform``        U(-r, r), r = sqrt(3 / m)            Glorot & Bengio 2010, eq. 16
``he_normal``             N(0, 2 / fan_in)                     He et al. 2015
``he_uniform``            U(-r, r), r = sqrt(6 / fan_in)       same variance, uniform
========================  ===================================  ====================================
"""
import numpy as np


def _std(name, fan_in, fan_out):
    m = 0.5 * (fan_in + fan_out)
    return {
        "normal": 1.0,
        "lecun_normal": np.sqrt(1.0 / fan_in),
        "lecun_uniform": np.sqrt(1.0 / fan_in),
        "glorot_normal": np.sqrt(1.0 / m),
        "glorot_uniform": np.sqrt(1.0 / m),
        "he_normal": np.sqrt(2.0 / fan_in),
        "he_uniform": np.sqrt(2.0 / fan_in),
    }[name]


INITIALIZERS = (
    "normal", "lecun_normal", "lecun_uniform", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
)


def check(init):
    """Return ``init`` if it names an initialiser, else raise a ValueError that lists them."""
    if init not in INITIALIZERS:
        raise ValueError(f"init must be one of {list(INITIALIZERS)} (or None for the activation's default), got {init!r}")
    return init


def initialize(name, fan_in, fan_out, rng):
    """A (fan_in, fan_out) float64 weight matrix drawn from ``rng`` (numpy Generator)."""
    std = _std(check(name), fan_in, fan_out)
    if name.endswith("uniform"):
        r = np.sqrt(3.0) * std  # U(-r, r) has variance r^2 / 3
        return rng.uniform(-r, r, size=(fan_in, fan_out))
    return rng.normal(0.0, std, size=(fan_in, fan_out))
