"""Update rules: how a gradient moves the weights, passed as ``fit(..., optimizer=...)``.

Each class is a description (its hyper-parameters); the network owns the state, flat arrays as
long as the parameter vector (``n_state`` of them), and the count of updates made. A second
``fit`` with an optimizer of the same class continues from that state, with the new
hyper-parameters; another class starts afresh. Every rule runs in online, mini-batch and
full-batch mode (Rprop: full batch and mini-batch only) and honours ``weight_decay`` and
``layer_scaling``. The formulas are in :mod:`fastnn.kernels.updates`.
"""
import numpy as np

from . import _checks
from .kernels import updates


class Optimizer:
    code = None
    n_state = 0
    _params = ()  # names of the hyper-parameters, in the order the kernel reads them
    _config = ()  # names of the constructor's arguments

    def hyperparams(self):
        """The hyper-parameters as the float64 array the update kernel reads."""
        return np.array([float(getattr(self, name)) for name in self._params], dtype=np.float64)

    def init_state(self, n_params, lr, dtype):
        """Fresh state: (n_state, n_params) zeros unless a rule needs other starting values."""
        return np.zeros((self.n_state, n_params), dtype=dtype)

    def check_mode(self, mode, batch_size):
        """Raise if the rule cannot train in ``mode`` with batches of ``batch_size``."""

    def check_state(self, state):
        """Raise ValueError if ``state`` (from a model file) is not a state this rule can reach."""
        for row, (name, lo, hi) in zip(state, self._state_bounds()):
            if row.size and not (row.min() >= lo and row.max() <= hi):
                raise ValueError(f"{type(self).__name__} state {name!r} must lie in [{lo}, {hi}], "
                                 f"got values in [{row.min()}, {row.max()}]")

    def _state_bounds(self):
        return [(name, -np.inf, np.inf) for name in self._state]

    _state = ()

    def get_config(self):
        return {"name": type(self).__name__, **{name: getattr(self, name) for name in self._config}}

    def __eq__(self, other):
        return type(other) is type(self) and other.get_config() == self.get_config()

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self._config)})"


class SGD(Optimizer):
    """Stochastic gradient descent with (Nesterov) momentum; state: the velocity."""

    code, n_state, _config, _state = updates.SGD, 1, ("momentum", "nesterov"), ("velocity",)
    _params = ("nesterov",)  # the momentum is a table per step (schedules may cycle it)

    def __init__(self, momentum=0.0, nesterov=False):
        self.momentum = _checks.number("momentum", momentum, low=0.0, high=1.0, high_open=True)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)


class DeltaBarDelta(Optimizer):
    """Per-weight gains (Jacobs 1988, as in Hinton's lecture 6d): each weight moves by
    -lr * gain * g. The gain grows by ``increase`` while g has the sign of the running average
    of past gradients (bar <- (1 - smoothing) g + smoothing bar), shrinks to ``decrease``
    times itself when the sign flips, and stays in [gain_min, gain_max]. Gains start at 1;
    smoothing=0 compares with the previous gradient alone (Hinton's form).
    State: gains, bar.
    """

    code, n_state, _state = updates.DELTA_BAR_DELTA, 2, ("gain", "bar")
    _params = _config = ("increase", "decrease", "smoothing", "gain_min", "gain_max")

    def _state_bounds(self):
        return [("gain", min(self.gain_min, 1.0), max(self.gain_max, 1.0)), ("bar", -np.inf, np.inf)]

    def __init__(self, increase=0.05, decrease=0.95, smoothing=0.7, gain_min=0.1, gain_max=10.0):
        self.increase = _checks.number("increase", increase, low=0.0, low_open=True)
        self.decrease = _checks.number("decrease", decrease, low=0.0, high=1.0, low_open=True, high_open=True)
        self.smoothing = _checks.number("smoothing", smoothing, low=0.0, high=1.0, high_open=True)
        self.gain_min = _checks.number("gain_min", gain_min, low=0.0, high=1.0, low_open=True)
        self.gain_max = _checks.number("gain_max", gain_max, low=1.0)

    def init_state(self, n_params, lr, dtype):
        state = super().init_state(n_params, lr, dtype)
        state[0] = 1.0
        return state


class RMSprop(Optimizer):
    """Divide each gradient by the root of its running mean square (Tieleman & Hinton 2012):
    ms <- rho ms + (1 - rho) g^2; w <- w - lr g / (sqrt(ms) + eps). State: ms."""

    code, n_state, _state = updates.RMSPROP, 1, ("ms",)
    _params = _config = ("rho", "eps")

    def _state_bounds(self):
        return [("ms", 0.0, np.inf)]

    def __init__(self, rho=0.9, eps=1e-8):
        self.rho = _checks.number("rho", rho, low=0.0, high=1.0, high_open=True)
        self.eps = _checks.number("eps", eps, low=0.0, low_open=True)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias-corrected moments. State: m, v (and the update count)."""

    code, n_state, _state = updates.ADAM, 2, ("m", "v")
    _params = _config = ("beta1", "beta2", "eps")

    def _state_bounds(self):
        return [("m", -np.inf, np.inf), ("v", 0.0, np.inf)]

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1 = _checks.number("beta1", beta1, low=0.0, high=1.0, high_open=True)
        self.beta2 = _checks.number("beta2", beta2, low=0.0, high=1.0, high_open=True)
        self.eps = _checks.number("eps", eps, low=0.0, low_open=True)


class Rprop(Optimizer):
    """iRprop- (Riedmiller & Braun 1993; Igel & Huesken 2000): each weight has its own step,
    multiplied by ``increase`` while the gradient keeps its sign and by ``decrease`` when it
    flips, within [step_min, step_max]; the weight moves by the step against the sign of g.
    ``fit``'s lr is the initial step of a fresh state (a number: Rprop adapts the steps
    itself; a later fit with Rprop continues with the steps reached and ignores lr). Rprop
    needs the true gradient: full-batch mode (large mini-batches work; online learning does
    not). State: steps, previous gradient.
    """

    code, n_state, _state = updates.RPROP, 2, ("step", "g_prev")
    _params = _config = ("increase", "decrease", "step_min", "step_max")

    def _state_bounds(self):
        return [("step", 0.0, np.inf), ("g_prev", -np.inf, np.inf)]

    def __init__(self, increase=1.2, decrease=0.5, step_min=1e-6, step_max=50.0):
        self.increase = _checks.number("increase", increase, low=1.0, low_open=True)
        self.decrease = _checks.number("decrease", decrease, low=0.0, high=1.0, low_open=True, high_open=True)
        self.step_min = _checks.number("step_min", step_min, low=0.0, low_open=True)
        self.step_max = _checks.number("step_max", step_max, low=self.step_min)

    def init_state(self, n_params, lr, dtype):
        state = super().init_state(n_params, lr, dtype)
        state[0] = min(max(lr, self.step_min), self.step_max)
        return state

    def check_mode(self, mode, batch_size):
        if batch_size == 1:
            raise ValueError(f"Rprop cannot learn online (mode={mode!r}, batch_size=1): it uses only the sign of the "
                             "gradient and needs the full-batch gradient; use mode='batch', or RMSprop (the mini-batch "
                             "form of the same idea) for online learning")


OPTIMIZERS = {cls.__name__: cls for cls in (SGD, DeltaBarDelta, RMSprop, Adam, Rprop)}
_NAMES = {"sgd": SGD, "delta_bar_delta": DeltaBarDelta, "rmsprop": RMSprop, "adam": Adam, "rprop": Rprop}


def get(optimizer):
    """An Optimizer from an instance or a name ("sgd", "delta_bar_delta", "rmsprop", "adam", "rprop")."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _NAMES:
        return _NAMES[optimizer.lower()]()
    raise ValueError(f"optimizer must be one of {sorted(_NAMES)} or a fastnn.optimizers object, got {optimizer!r}")


def from_config(config):
    """Rebuild an optimizer from get_config() (model files); only the classes above."""
    config = dict(config)
    cls = OPTIMIZERS[config.pop("name")]
    return cls(**config)
