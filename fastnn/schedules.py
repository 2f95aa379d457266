"""Learning rates: schedules (pure functions of the step) and rules that watch the error.

A schedule maps the update count t = 1, 2, ... (the t-th weight update of a ``fit`` call; with
``per="epoch"`` the t-th epoch) to a rate. Online and mini-batch training count updates the
same way, so a schedule means the same per update in every mode. Per epoch ``fit`` turns it
into a table that the compiled epoch loop reads: a per-update schedule costs nothing per
example.

A rule (:class:`Performance`, :class:`Adaptive`) holds one rate per epoch and changes it
between epochs from the monitored error: the validation loss when ``fit`` has
``validation_data``, else the mean training loss of the epoch. ``fit`` restarts a rule from
``eta0``; afterwards ``rule.rate`` is the last rate it chose.

Pass either as ``fit(..., lr=schedule_or_rule)``; a float means ``Constant(lr)``.
"""
import numpy as np

from . import _checks

PER = ("step", "epoch")


def _rate(name, value):
    return _checks.number(name, value, low=0.0, low_open=True)


class Schedule:
    """Base class: subclasses define ``_eta(t)`` for a float64 array t >= 1."""

    total_steps = None  # a schedule defined only up to here (OneCycle)

    def __init__(self, per="step"):
        self.per = _checks.choice("per", per, PER)

    def __call__(self, t):
        """The rate of update (or epoch) t >= 1; t may be an array."""
        t = np.asarray(t, dtype=np.float64)
        return self._eta(t)

    def momentum(self, t):
        """The momentum of update t, or None when the schedule leaves the momentum alone."""
        return None

    # Used by fit: rates (and momenta, or None) for the n updates of epoch `epoch` (0-based)
    # that follow the t0 updates made before it in this fit call.
    def _ts(self, epoch, t0, n):
        return np.full(n, epoch + 1.0) if self.per == "epoch" else np.arange(t0 + 1, t0 + n + 1, dtype=np.float64)

    def table(self, epoch, t0, n):
        ts = self._ts(epoch, t0, n)
        return np.broadcast_to(self(ts), (n,)).astype(np.float64), self.momentum(ts)

    def start(self):
        return self

    def observe(self, error):
        """Schedules do not watch the error."""

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class Constant(Schedule):
    """eta(t) = eta."""

    def __init__(self, eta, per="step"):
        super().__init__(per)
        self.eta = _rate("eta", eta)

    def _eta(self, t):
        return np.full_like(t, self.eta)


class StochasticApproximation(Schedule):
    """eta(t) = kappa / t (Robbins & Monro 1951): the sum of the rates diverges, the sum of their
    squares converges, so SGD converges, but slowly."""

    def __init__(self, kappa, per="step"):
        super().__init__(per)
        self.kappa = _rate("kappa", kappa)

    def _eta(self, t):
        return self.kappa / t


class SearchThenConverge(Schedule):
    """eta(t) = eta0 / (1 + t / tau) (Darken & Moody 1990): nearly constant ("search") while
    t << tau, then kappa / t-like ("converge") with kappa = eta0 * tau."""

    def __init__(self, eta0, tau, per="step"):
        super().__init__(per)
        self.eta0, self.tau = _rate("eta0", eta0), _rate("tau", tau)

    def _eta(self, t):
        return self.eta0 / (1.0 + t / self.tau)


class Power(Schedule):
    """eta(t) = eta0 / (1 + t / s)^c; c = 1 is search-then-converge, c = 0.5 a gentler fall."""

    def __init__(self, eta0, s, c=1.0, per="step"):
        super().__init__(per)
        self.eta0, self.s, self.c = _rate("eta0", eta0), _rate("s", s), _rate("c", c)

    def _eta(self, t):
        return self.eta0 / (1.0 + t / self.s) ** self.c


class Exponential(Schedule):
    """eta(t) = eta0 * base^(t / s): the rate falls by the factor ``base`` every s updates."""

    def __init__(self, eta0, s, base=0.1, per="step"):
        super().__init__(per)
        self.eta0, self.s = _rate("eta0", eta0), _rate("s", s)
        self.base = _checks.number("base", base, low=0.0, high=1.0, low_open=True, high_open=True)

    def _eta(self, t):
        return self.eta0 * self.base ** (t / self.s)


class OneCycle(Schedule):
    """Smith's 1cycle (2018): a linear rise from eta0 to eta1 over the first half of the cycle, a
    linear fall back to eta0 over the second half, then a linear fall to eta0 * final_ratio
    over the last ``tail`` fraction of the ``total_steps``.

    Parameters
    ----------
    eta0 : float > 0
    eta1 : float >= eta0, default 10 * eta0
    total_steps : int >= 2, required
        Updates (or epochs, with per="epoch") the schedule is defined for; fit refuses to
        train longer.
    tail : float in [0, 1), default 0.1
    final_ratio : float in (0, 1], default 1e-3 (three orders of magnitude)
    momentum : (max, min) or None
        Cycle SGD's momentum the other way: max -> min while the rate rises, back to max while
        it falls, max in the tail. None leaves the optimizer's momentum alone.
    """

    def __init__(self, eta0, eta1=None, total_steps=None, tail=0.1, final_ratio=1e-3, momentum=None, per="step"):
        super().__init__(per)
        self.eta0 = _rate("eta0", eta0)
        self.eta1 = 10.0 * self.eta0 if eta1 is None else _checks.number("eta1", eta1, low=self.eta0)
        if total_steps is None:
            raise TypeError("OneCycle needs total_steps: the number of updates (or epochs) it spans")
        self.total_steps = _checks.number("total_steps", total_steps, low=2, integer=True)
        self.tail = _checks.number("tail", tail, low=0.0, high=1.0, high_open=True)
        self.final_ratio = _checks.number("final_ratio", final_ratio, low=0.0, high=1.0, low_open=True)
        if momentum is not None:
            if not isinstance(momentum, (tuple, list)) or len(momentum) != 2:
                raise ValueError(f"momentum must be a pair (max, min) or None, got {momentum!r}")
            hi = _checks.number("momentum[0]", momentum[0], low=0.0, high=1.0, high_open=True)
            lo = _checks.number("momentum[1]", momentum[1], low=0.0, high=hi)
            momentum = (hi, lo)
        self.cycle_momentum = momentum
        self._cycle = max(2, int(round((1.0 - self.tail) * self.total_steps)))

    def _phase(self, t):
        """(in rise, in fall, fraction of the current phase done) for each t."""
        half = self._cycle / 2.0
        rise = t <= half
        fall = ~rise & (t <= self._cycle)
        frac = np.where(rise, t / half, np.where(fall, (t - half) / half,
                                                 (t - self._cycle) / max(1, self.total_steps - self._cycle)))
        return rise, fall, frac

    def _eta(self, t):
        rise, fall, frac = self._phase(t)
        return np.where(rise, self.eta0 + (self.eta1 - self.eta0) * frac,
                        np.where(fall, self.eta1 - (self.eta1 - self.eta0) * frac,
                                 self.eta0 * (1.0 - (1.0 - self.final_ratio) * frac)))

    def momentum(self, t):
        if self.cycle_momentum is None:
            return None
        hi, lo = self.cycle_momentum
        rise, fall, frac = self._phase(np.asarray(t, dtype=np.float64))
        return np.where(rise, hi - (hi - lo) * frac, np.where(fall, lo + (hi - lo) * frac, hi))


class Rule:
    """Base class of the rules that set one rate per epoch from the monitored error."""

    per = "epoch"
    total_steps = None

    def __init__(self, eta0):
        self.eta0 = _rate("eta0", eta0)
        self.start()

    def start(self):
        """Back to eta0, with no error seen (fit calls this first)."""
        self.rate = self.eta0
        self._errors = []
        return self

    def table(self, epoch, t0, n):
        return np.full(n, self.rate), None

    def observe(self, error):
        """Record the error of the epoch just finished and choose the next epoch's rate."""
        self._errors.append(float(error))
        self.rate = self._next_rate(self._errors)

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_") and k != "rate")
        return f"{type(self).__name__}({params})"


class Performance(Rule):
    """Performance scheduling: multiply the rate by ``factor`` when the error has not improved
    (fallen below best * (1 - threshold)) for ``patience`` epochs; never below ``min_lr``.
    The count starts afresh after each cut."""

    def __init__(self, eta0, factor=0.5, patience=5, min_lr=0.0, threshold=1e-4):
        self.factor = _checks.number("factor", factor, low=0.0, high=1.0, low_open=True, high_open=True)
        self.patience = _checks.number("patience", patience, low=1, integer=True)
        self.min_lr = _checks.number("min_lr", min_lr, low=0.0)
        self.threshold = _checks.number("threshold", threshold, low=0.0, high=1.0, high_open=True)
        if self.min_lr > _rate("eta0", eta0):
            raise ValueError(f"min_lr={min_lr!r} is above eta0={eta0!r}: the rule only lowers the rate; use min_lr <= eta0")
        super().__init__(eta0)

    def start(self):
        self._best, self._wait = np.inf, 0
        return super().start()

    def _next_rate(self, errors):
        if self._wait == 0 and len(errors) == 1 or errors[-1] < self._best - self.threshold * abs(self._best):
            self._best, self._wait = errors[-1], 0
            return self.rate
        self._wait += 1
        if self._wait < self.patience:
            return self.rate
        self._wait = 0
        return max(self.rate * self.factor, self.min_lr)


class Adaptive(Rule):
    """Hinton's adaptive global rate (Neural Networks for Machine Learning, lecture 6):
    lower the rate when the error gets worse or oscillates, raise it when the error falls
    consistently but slowly.

    "Slowly" depends on what has been seen. Until the error first rises, the rate has never been
    too large: a search phase raises it by ``search_up`` after every epoch whose fall was slow
    (below ``slow`` of the error) or larger than the fall before it. A rate far too small gives
    falls that grow as it is raised (the error has not started to level off); a good rate gives
    shrinking falls, and the search leaves it alone. So a rate 10,000 times too small, which
    Hinton's rule alone would raise by 10% per epoch, at most, is raised geometrically until
    the falls shrink or the error rises. After the first rise, Hinton's rule. After every
    epoch, E_t the monitored error and F_t = E_{t-1} - E_t its fall:

    1. E_t > E_{t-1} (worse, or the upswing of an oscillation): rate *= ``down``; the search ends;
    2. while searching, if the error fell (F_t > 0) and F_t < ``slow`` * E_{t-1} or F_t >= F_{t-1}:
       rate *= ``search_up``;
    3. otherwise, if the error fell in each of the last ``window`` epochs and each fall was
       smaller than ``slow`` times the error before it: rate *= ``up``;
    4. otherwise (falling fast enough, or too few epochs seen) the rate stays.
    The rate is kept within [min_lr, max_lr]. An oscillating error rises every other epoch,
    so each rise cuts the rate until the oscillation stops.

    Defaults: down=0.5, up=1.1, window=3, slow=0.01 (1% per epoch), search_up=3, min_lr=0,
    max_lr=inf. search_up=1 gives Hinton's rule from the start.
    """

    def __init__(self, eta0, down=0.5, up=1.1, window=3, slow=0.01, min_lr=0.0, max_lr=np.inf, search_up=3.0):
        self.down = _checks.number("down", down, low=0.0, high=1.0, low_open=True, high_open=True)
        self.up = _checks.number("up", up, low=1.0, low_open=True)
        self.window = _checks.number("window", window, low=1, integer=True)
        self.slow = _checks.number("slow", slow, low=0.0, high=1.0, low_open=True)
        self.search_up = _checks.number("search_up", search_up, low=1.0)
        self.min_lr = _checks.number("min_lr", min_lr, low=0.0)
        self.max_lr = max_lr if max_lr == np.inf else _checks.number("max_lr", max_lr, low=0.0, low_open=True)
        if self.max_lr < self.min_lr or not (self.min_lr <= _rate("eta0", eta0) <= self.max_lr):
            raise ValueError(f"need min_lr <= eta0 <= max_lr, got {self.min_lr}, {eta0}, {self.max_lr}")
        super().__init__(eta0)

    def start(self):
        self._rose = False
        return super().start()

    def _searching(self, errors):
        """The last fall was slow, or no smaller than the one before: the error is not levelling off."""
        fall = errors[-2] - errors[-1]  # > 0: a flat error (or one at 0) is no reason to raise
        return 0 < fall and (fall < self.slow * abs(errors[-2]) or (len(errors) > 2 and fall >= errors[-3] - errors[-2]))

    def _next_rate(self, errors):
        if len(errors) < 2:
            return self.rate
        rate = self.rate
        if errors[-1] > errors[-2]:
            self._rose = True
            rate *= self.down
        elif not self._rose and self.search_up > 1.0 and self._searching(errors):
            rate *= self.search_up
        else:
            recent = np.asarray(errors[-self.window - 1 :])
            falls = recent[:-1] - recent[1:]
            if len(falls) == self.window and np.all(falls > 0) and np.all(falls < self.slow * np.abs(recent[:-1])):
                rate *= self.up
        return float(min(max(rate, self.min_lr), self.max_lr))


def get(lr):
    """The schedule or rule that ``fit(..., lr=lr)`` uses; a number means Constant(lr)."""
    if isinstance(lr, (Schedule, Rule)):
        return lr
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)):
        raise TypeError(f"lr must be a positive number, a fastnn.schedules schedule or a rule, got {lr!r}")
    return Constant(_checks.number("lr", lr, low=0.0, low_open=True))
