"""Divergence: fit's watch for a loss that became NaN or inf or grew by orders of magnitude.

An epoch's loss is measured before each of its updates, so it describes the weights the epoch
went through, not the weights it ends with: in full-batch mode epoch k's loss belongs to the
weights at the end of epoch k - 1. The weights to fall back on are therefore checked with a
forward pass of their own, never trusted because the loss that preceded them was finite.
"""
import math
from collections import deque

import numpy as np

BLOWUP = 100.0  # an epoch whose mean loss exceeds this many times the reference loss is diverging
WEIGHT_LIMIT = 1e6  # |w| beyond this is no longer learning the data (inputs and targets of unit scale)
PROBE_ROWS = 1024  # examples that measure the loss of the weights a fit starts from


def reference_loss(T, loss, output_activation):
    """The mean loss of a network that has learnt nothing: outputs of zero (mse), uniform class
    probabilities (softmax cross-entropy) or 1/2 per unit (logistic cross-entropy)."""
    if loss == "mse":
        return 0.5 * float(np.mean(np.sum(np.square(T, dtype=np.float64), axis=1)))
    k = T.shape[1]
    return math.log(k) if output_activation == "softmax" else k * math.log(2.0)


class Guard:
    """Watches the epochs of one fit and restores weights known to give a sane loss.

    Keeps the network's state from the start of the fit and of the last two epochs (the
    snapshots fit took anyway); ``limit`` is BLOWUP times the larger of the reference loss and
    the loss of the starting weights, so a fit that starts badly is not called diverging.
    """

    def __init__(self, net, X, T):
        self.net, self.X, self.T = net, X, T
        self.start = net._snapshot()
        self.epoch_starts = deque(maxlen=2)  # (epoch index, snapshot at its start)
        k = net.layers[-1].units  # a trailing column of T holds example weights (kernels.losses)
        self.reference = reference_loss(T[:, :k], net.loss, net.layers[-1].activation.name)
        start_loss = net._forward(X[:PROBE_ROWS], T[:PROBE_ROWS])[0]
        self.limit = BLOWUP * max(self.reference, start_loss if np.isfinite(start_loss) else 0.0)
        self.warned_weights = False

    def begin_epoch(self, epoch):
        self.epoch_starts.append((epoch, self.start if epoch == 0 else self.net._snapshot()))

    def trouble(self, mean_loss):
        """Why the epoch that just ended diverged, or None when it did not."""
        net = self.net
        if not np.isfinite(mean_loss):
            return f"the loss became {mean_loss}"
        if not all(np.isfinite(a).all() for a in (net._theta, net._opt_state, net._bn_stats)):
            return "the weights became inf or NaN"
        if mean_loss > self.limit:
            return (f"the loss grew to {mean_loss:.3g}, over {BLOWUP:g} times that of a network that has learnt "
                    f"nothing ({self.reference:.3g})")
        return None

    def large_weights(self):
        """max |w| when it first exceeds WEIGHT_LIMIT in this fit, else None."""
        top = float(np.max(np.abs(self.net._theta)))
        if self.warned_weights or top <= WEIGHT_LIMIT:
            return None
        self.warned_weights = True
        return top

    def restore(self):
        """Put back the latest state whose own loss on all of X is finite and below the limit,
        trying the starts of the last two epochs, then the start of the fit. Returns the number
        of completed epochs whose weights are now in place (0: as before this fit)."""
        for epoch, snapshot in reversed(self.epoch_starts):
            self.net._restore(snapshot)
            if self._sane():
                return epoch
        self.net._restore(self.start)  # the network as the caller gave it, sane or not
        return 0

    def _sane(self):
        with np.errstate(all="ignore"):
            loss = self.net._forward(self.X, self.T)[0]
        return bool(np.isfinite(loss)) and loss <= self.limit

    def advice(self, lr):
        """What to change: the rate always; the targets when large regression targets feed mse."""
        hint = f"Lower the learning rate (lr={np.max(lr):g} in this epoch)"
        top = float(np.max(np.abs(self.T)))
        if self.net.loss == "mse" and top > 10.0:
            hint += f", and scale the targets (they reach |y| = {top:.3g}; e.g. (y - y.mean()) / y.std())"
        return hint + "."
