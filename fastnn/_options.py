"""fit's training options, checked in full before the network changes."""
from dataclasses import dataclass

import numpy as np

from . import _checks, optimizers, sampling, schedules

MODES = ("online", "minibatch", "batch")
LAYER_SCALING = (None, "fan_in")


@dataclass
class FitOptions:
    mode: str
    epochs: int
    rates: object  # a schedules.Schedule or schedules.Rule
    batch_size: int
    optimizer: optimizers.Optimizer
    weight_decay: float
    layer_scaling: object
    early_stopping: object  # None or patience (int)
    order: object  # a name from sampling.ORDERS or a sampling.Emphasis
    bn_statistics: str
    merge_single: bool  # batch norm: a last batch of one example joins the one before

    def steps_per_epoch(self, n):
        return steps_per_epoch(n, self.batch_size, self.merge_single)


def steps_per_epoch(n, batch_size, merge_single):
    """Updates per epoch (as kernels.train.batch_end cuts the batches)."""
    steps = -(-n // batch_size)
    return steps - 1 if merge_single and steps > 1 and n % batch_size == 1 else steps


BN_STATISTICS = ("moving", "training_set")


def check(n, dtype, mode, epochs, lr, batch_size, momentum, nesterov, weight_decay, optimizer, layer_scaling,
          early_stopping, shuffle, bn_statistics, batch_norm, order):
    """FitOptions for n examples, or a ValueError / TypeError naming the argument.

    batch_norm: whether the network has batch-norm layers."""
    _checks.choice("mode", mode, MODES)
    epochs = _checks.number("epochs", epochs, low=1, integer=True)
    rates = schedules.get(lr)
    if batch_size is not None:
        batch_size = _checks.number("batch_size", batch_size, low=1, integer=True)
        if mode == "minibatch" and batch_size > n:
            raise ValueError(f"batch_size={batch_size} is larger than the {n} examples; use batch_size <= {n} or mode='batch'")
    implied = {"online": 1, "batch": n}.get(mode)
    if batch_size is not None and implied is not None and batch_size != implied:
        raise ValueError(f"batch_size={batch_size} has no effect with mode={mode!r}, whose batches are {implied} "
                         f"example(s); leave batch_size out, or use mode='minibatch'")
    batch_size = implied or batch_size or min(32, n)
    _checks.choice("bn_statistics", bn_statistics, BN_STATISTICS)
    if batch_norm and batch_size < 2:
        what = "online mode" if mode == "online" else f"mode={mode!r} with batch_size={batch_size} on {n} example(s)"
        raise ValueError(f"batch norm estimates a variance per mini-batch, which one example cannot give ({what}); "
                         "use mode='minibatch' with batch_size >= 2 (and at least 2 examples)")
    opt = _optimizer(optimizer, momentum, nesterov, mode, batch_size)
    _check_rates(rates, opt, epochs, steps_per_epoch(n, batch_size, batch_norm), dtype)
    if layer_scaling not in LAYER_SCALING:
        raise ValueError(f"layer_scaling must be one of {list(LAYER_SCALING)}, got {layer_scaling!r}")
    if early_stopping is not None:
        early_stopping = _checks.number("early_stopping", early_stopping, low=1, integer=True)
    return FitOptions(mode, epochs, rates, batch_size, opt, _checks.number("weight_decay", weight_decay, low=0.0),
                      layer_scaling, early_stopping, _order(order, shuffle), bn_statistics, bool(batch_norm))


def _order(order, shuffle):
    """order=None follows shuffle (True: "shuffle", False: "sequential")."""
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    if order is None:
        return "shuffle" if shuffle else "sequential"
    if not shuffle and order != "sequential":
        raise ValueError(f"shuffle=False and order={order!r} disagree; pass only order= (e.g. order='sequential')")
    return sampling.check(order)


def _optimizer(optimizer, momentum, nesterov, mode, batch_size):
    if optimizer is None:
        opt = optimizers.SGD(momentum, nesterov)
    else:
        opt = optimizers.get(optimizer)
        if momentum != 0.0 or nesterov:
            raise ValueError(f"momentum={momentum!r} and nesterov={nesterov!r} are options of plain SGD; pass "
                             f"optimizer=fastnn.optimizers.SGD(momentum=..., nesterov=...) instead of optimizer={optimizer!r}")
    opt.check_mode(mode, batch_size)
    return opt


def _check_rates(rates, opt, epochs, steps_per_epoch, dtype):
    if isinstance(opt, optimizers.Rprop) and not isinstance(rates, schedules.Constant):
        raise TypeError(f"with Rprop, lr is the initial step size and must be a number, got {rates!r}")
    if getattr(rates, "cycle_momentum", None) is not None and not isinstance(opt, optimizers.SGD):
        raise ValueError(f"{rates!r} cycles the momentum, which only SGD has; use momentum=None or optimizer=SGD(...)")
    needed = epochs * (steps_per_epoch if rates.per == "step" else 1)
    if rates.total_steps is not None and rates.total_steps < needed:
        unit = "updates" if rates.per == "step" else "epochs"
        raise ValueError(f"the schedule {rates!r} has total_steps={rates.total_steps} but this fit makes {needed} {unit} "
                         f"({epochs} epochs); raise total_steps to at least {needed} or train fewer epochs")
    first = rates.table(0, 0, 1)[0][0] if isinstance(rates, schedules.Schedule) else rates.eta0
    if not first < float(np.finfo(dtype).max):
        raise ValueError(f"lr={first!r} is beyond the range of {dtype}; use a smaller learning rate")
