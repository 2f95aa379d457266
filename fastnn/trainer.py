"""Training epochs on the CPU: the twin of :class:`fastnn.cuda.train.Trainer`.

A Trainer holds what one fit's epochs share (the arrays, a gradient buffer and the scratch of
one chunk, made once per fit) and runs an epoch as one compiled call: online epochs of plain
SGD in :func:`fastnn.kernels.online.sgd_online_epoch`, online epochs of a rule with lazy
first-layer rows in :func:`fastnn.kernels.lazy.lazy_epoch`, every other epoch in
:func:`fastnn.kernels.train.train_epoch`. ``Network`` drives either device's Trainer through
the same ``epoch``, ``upload`` and ``download``.
"""
import numpy as np

from .kernels import lazy, online, train
from .kernels.layout import ALPHA_OFF
from .kernels.updates import SGD


class Trainer:
    """The CPU side of one fit: theta, the optimizer state and the batch-norm statistics (the
    network's own arrays, updated in place), X, T, a gradient buffer and the Workspace of
    ``plan`` (fastnn._threads.Plan)."""

    def __init__(self, theta, state, stats, layout, act_params, X, T, plan):
        self.layout, self.act_params, self.X, self.T, self.plan = layout, act_params, X, T, plan
        self.upload(theta, state, stats)
        self.grad = theta[:0]  # a gradient buffer only for the epochs that need one (not plain SGD's)
        self.ws = train.workspace(theta, layout, X.shape[1], plan)

    def upload(self, theta, state, stats):
        """Train these arrays from now on (a callback may have replaced the network's)."""
        self.theta, self.state, self.stats = theta, state, stats

    def download(self, theta, state, stats):
        """Nothing to copy: the epochs updated the network's arrays in place."""

    def kernel(self, batch_size, rule, lr, mom):
        """The compiled kernel that runs an epoch at rates lr[step] and momenta mom[step]."""
        plain = rule.code == SGD and not np.any(mom)
        no_slopes = np.all(self.layout[:, ALPHA_OFF] < 0)  # PReLU slopes have a gradient: the general loop
        decays = lr * rule.layer_scale[0] * rule.weight_decay  # the online kernel's lazy decay needs < 1
        if batch_size == 1 and plain and no_slopes and np.all(decays < 1.0):
            return online.sgd_online_epoch
        if no_slopes and lazy.has_lazy_rows(rule, batch_size, mom):
            return lazy.lazy_epoch
        return train.train_epoch

    def epoch(self, order, batch_size, lr, mom, rule, t0, loss_code, fused, key, errors):
        """One epoch over X[order] in batches of ``batch_size`` by ``rule`` (kernels.updates.Rule),
        rates lr[step] and momenta mom[step], after t0 updates of the optimizer; returns
        (summed loss, number of updates). See kernels.train.train_epoch."""
        args = (self.layout, self.act_params, self.X, self.T, order)
        kernel = self.kernel(batch_size, rule, lr, mom)
        if kernel is online.sgd_online_epoch:
            return kernel(self.theta, *args, lr, rule, loss_code, key, errors, self.ws)
        if not fused and self.grad.size != self.theta.size:
            self.grad = np.zeros_like(self.theta)
        if kernel is lazy.lazy_epoch:
            return lazy.lazy_epoch(self.theta, self.grad, self.state, *args, self.ws, lr, mom, rule, t0, loss_code, key,
                                   errors)
        return train.train_epoch(self.theta, self.grad, self.state, self.stats, *args, batch_size, self.plan, self.ws,
                                 lr, mom, rule, t0, loss_code, fused, key, errors)
