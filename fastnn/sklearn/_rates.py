"""scikit-learn's solver and learning-rate parameters as fastnn optimizers and schedules."""
import warnings

import numpy as np

from .. import optimizers, schedules

STOCHASTIC_SOLVERS = ("sgd", "adam", "rmsprop", "delta_bar_delta", "rprop")
SOLVERS = ("lbfgs",) + STOCHASTIC_SOLVERS
MIN_ADAPTIVE_LR = 1e-6  # scikit-learn's "adaptive" stops once the rate would fall below this


class InvScaling(schedules.Schedule):
    """scikit-learn's "invscaling": the rate of an epoch is eta0 / (s + 1)^power_t, s the number
    of examples the solver had seen before it (``t_``), fixed through the epoch."""

    def __init__(self, eta0, power_t, n, seen):
        super().__init__(per="epoch")
        self.eta0, self.power_t, self.n, self.seen = eta0, power_t, n, seen

    def _eta(self, t):
        return self.eta0 / (self.seen + (t - 1.0) * self.n + 1.0) ** self.power_t


class Adaptive(schedules.Rule):
    """scikit-learn's "adaptive": the rate stays until the estimator divides it by 5 (when
    the loss or validation score stops improving); the estimator's callback sets ``rate``."""

    def _next_rate(self, errors):
        return self.rate


def optimizer(est):
    """The fastnn update rule for a stochastic ``est.solver`` (a name or an optimizer object)."""
    solver = est.solver
    if isinstance(solver, optimizers.Optimizer):
        return solver
    if solver == "sgd":
        return optimizers.SGD(est.momentum, est.nesterovs_momentum and est.momentum > 0)
    if solver == "adam":
        return optimizers.Adam(est.beta_1, est.beta_2, est.epsilon)
    if solver == "rmsprop":
        return optimizers.RMSprop(eps=est.epsilon)
    return optimizers.get(solver)


def learning_rate(est, n, seen):
    """The lr fit trains with: a fastnn schedule or rule passed as ``learning_rate_init``, or
    scikit-learn's ``learning_rate`` (read only by solver="sgd", as in scikit-learn)."""
    lr = est.learning_rate_init
    if isinstance(lr, (schedules.Schedule, schedules.Rule)):
        return lr
    if est.solver == "sgd" and est.learning_rate == "invscaling":
        return InvScaling(float(lr), float(est.power_t), n, seen)
    if est.solver == "sgd" and est.learning_rate == "adaptive":
        return Adaptive(float(lr))
    return float(lr)


def lower_rate(rates, msg, verbose):
    """scikit-learn's trigger_stopping: True to stop; "adaptive" divides the rate by 5 instead
    while it stays above MIN_ADAPTIVE_LR."""
    if not isinstance(rates, Adaptive) or rates.rate <= MIN_ADAPTIVE_LR:
        if verbose:
            print(msg + (" Learning rate too small." if isinstance(rates, Adaptive) else "") + " Stopping.")
        return True
    rates.rate /= 5.0
    if verbose:
        print(msg + f" Setting learning rate to {rates.rate:f}")
    return False


def batch_size(est, n):
    """scikit-learn's batch size: "auto" is min(200, n); larger than n is clipped, with its warning."""
    if est.batch_size == "auto":
        return min(200, n)
    if est.batch_size > n:
        warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
    return int(np.clip(est.batch_size, 1, n))
