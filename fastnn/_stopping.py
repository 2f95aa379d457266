"""Early stopping: fit's watcher of the monitored error between epochs."""
import numpy as np


class EarlyStopping:
    """Stop after ``patience`` epochs without a new best error; keep a copy of the best state."""

    def __init__(self, patience):
        self.patience = patience
        self.best, self.best_epoch, self.wait, self.snapshot = np.inf, None, 0, None

    def stop(self, error, epoch, net):
        if self.patience is None:
            return False
        if error < self.best:
            self.best, self.best_epoch, self.wait, self.snapshot = error, epoch, 0, net._snapshot()
            return False
        self.wait += 1
        if self.wait >= self.patience:
            net.stopped_epoch_ = epoch + 1
            return True
        return False

    def restore_best(self, net):
        """Leave the best state seen in place (also when the epochs ran out first)."""
        net.best_epoch_ = None if self.best_epoch is None else self.best_epoch + 1
        if self.snapshot is not None:
            net._restore(self.snapshot)
