"""Activation functions: names, parameters and the int codes the kernels use.

Use a name for the defaults (``Dense(64, activation="leaky_relu")``) or an object to set the
parameters (``Dense(64, activation=LeakyReLU(alpha=0.2))``). The formulas live once, in
:mod:`fastnn.kernels.activations`.
"""
import numbers

from .kernels import activations as _k


class Activation:
    """Base class: ``name``, kernel ``code``, parameters and the default initialiser."""

    name = None
    code = None
    default_init = "glorot_uniform"
    hidden = True  # may be used on a hidden layer
    output = True  # may be used on the output layer

    def params(self):
        """(p1, p2): the two float parameters handed to the kernels."""
        return 0.0, 0.0

    def get_config(self):
        """The parameters as a dict of floats (saved with a model)."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()


def _check_range(owner, name, value, low, high, hint):
    """Reject a parameter outside [low, high) with a message naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not (low <= value < high):
        raise ValueError(f"{owner}: {name} must be in [{low}, {high}), got {value!r}; {hint}")
    return value


class Linear(Activation):
    """f(x) = x: regression outputs."""

    name, code = "linear", _k.LINEAR


class Logistic(Activation):
    """f(x) = 1 / (1 + exp(-x)): outputs in (0, 1); two-class output with cross-entropy."""

    name, code = "logistic", _k.LOGISTIC


class Tanh(Activation):
    """f(x) = tanh(x): symmetric, so hidden outputs average near zero (LeCun et al. 1998)."""

    name, code = "tanh", _k.TANH


class LeCunTanh(Activation):
    """f(x) = 1.7159 tanh(2x/3): f(+-1) = +-1, unit variance outputs for unit variance inputs.

    LeCun et al. 1998, "Efficient BackProp", section 4.4; train its outputs on +1/-1 targets.
    """

    name, code = "lecun_tanh", _k.LECUN_TANH
    default_init = "lecun_normal"


class TanhLinear(Activation):
    """f(x) = tanh(x) + a x: the small linear term keeps the gradient off flat spots."""

    name, code = "tanh_linear", _k.TANH_LINEAR
    default_init = "lecun_normal"

    def __init__(self, a=0.1):
        self.a = _check_range("TanhLinear", "a", a, 0.0, 1.0, "a small slope such as 0.1 is typical")

    def params(self):
        return self.a, 0.0

    def get_config(self):
        return {"a": self.a}


class ReLU(Activation):
    """f(x) = max(0, x)."""

    name, code = "relu", _k.RELU
    default_init = "he_normal"


class LeakyReLU(Activation):
    """f(x) = x for x > 0, alpha x otherwise (Maas et al. 2013); alpha in [0.01, 0.3] typical."""

    name, code = "leaky_relu", _k.LEAKY_RELU
    default_init = "he_normal"

    def __init__(self, alpha=0.01):
        self.alpha = _check_range("LeakyReLU", "alpha", alpha, 0.0, 1.0, "use e.g. alpha=0.01 or 0.2")

    def params(self):
        return self.alpha, 0.0

    def get_config(self):
        return {"alpha": self.alpha}


class RReLU(Activation):
    """Randomized leaky ReLU (Xu et al. 2015): while training, the slope of each unit and
    example is drawn uniformly from [lower, upper]; at inference it is (lower + upper) / 2."""

    name, code = "rrelu", _k.RRELU
    default_init = "he_normal"
    output = False

    def __init__(self, lower=1.0 / 8.0, upper=1.0 / 3.0):
        self.lower = _check_range("RReLU", "lower", lower, 0.0, 1.0, "the default is 1/8")
        self.upper = _check_range("RReLU", "upper", upper, 0.0, 1.0, "the default is 1/3")
        if self.upper < self.lower:
            raise ValueError(f"RReLU: upper ({upper!r}) must be >= lower ({lower!r}); swap them")

    def params(self):
        return self.lower, self.upper

    def get_config(self):
        return {"lower": self.lower, "upper": self.upper}


class PReLU(Activation):
    """Parametric ReLU (He et al. 2015): one learned slope per unit, starting at ``init``."""

    name, code = "prelu", _k.PRELU
    default_init = "he_normal"

    def __init__(self, init=0.25):
        self.init = _check_range("PReLU", "init", init, 0.0, 1.0, "the default is 0.25")

    def get_config(self):
        return {"init": self.init}


class ELU(Activation):
    """f(x) = x for x > 0, alpha (exp(x) - 1) otherwise (Clevert et al. 2016)."""

    name, code = "elu", _k.ELU
    default_init = "he_normal"

    def __init__(self, alpha=1.0):
        self.alpha = _check_range("ELU", "alpha", alpha, 0.0, 10.0, "the default is 1.0")

    def params(self):
        return self.alpha, 0.0

    def get_config(self):
        return {"alpha": self.alpha}


class SELU(Activation):
    """Scaled ELU (Klambauer et al. 2017) with its fixed constants; pair with lecun_normal."""

    name, code = "selu", _k.SELU
    default_init = "lecun_normal"


class Softmax(Activation):
    """exp(x_k) / sum_j exp(x_j) over the output units: class probabilities; output layer only."""

    name, code = "softmax", _k.SOFTMAX
    hidden = False


_CLASSES = (Linear, Logistic, Tanh, LeCunTanh, TanhLinear, ReLU, LeakyReLU, RReLU, PReLU, ELU, SELU, Softmax)
ACTIVATIONS = {cls.name: cls for cls in _CLASSES}
# Outputs symmetric around zero: classification targets for them are encoded +1/-1.
SYMMETRIC = ("tanh", "lecun_tanh", "tanh_linear", "linear")


def get(activation):
    """An Activation from a name or an Activation instance; a clear error otherwise."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation in ACTIVATIONS:
        return ACTIVATIONS[activation]()
    raise ValueError(
        f"activation must be one of {sorted(ACTIVATIONS)} or a fastnn.activations object, "
        f"got {activation!r}"
    )


def from_config(name, config):
    """Rebuild an activation saved as (name, parameters)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r} in model file")
    return ACTIVATIONS[name](**config)
