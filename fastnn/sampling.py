"""The order in which an epoch presents the examples (LeCun et al. 1998, "Efficient BackProp",
4.2): ``fit(..., order=...)``.

- "shuffle": a new random permutation every epoch (the default);
- "sequential": the data's own order;
- "interleave": consecutive examples (almost) never of the same class;
- "balanced": every mini-batch holds the classes in equal numbers (differing by at most one);
  minority classes are drawn more often, majority classes less, and an epoch still has n
  examples;
- "emphasis" (or ``Emphasis(floor)``): examples are drawn with probability growing with their
  most recent error, so the network sees more of what it gets wrong; an epoch draws n examples.

Every order is an index array drawn from the network's seed before the epoch; the compiled
epoch loop walks it (and, for emphasis, records each example's loss as it goes).
"""
import numpy as np

from . import _checks
from .kernels import orders as _orders

ORDERS = ("shuffle", "sequential", "interleave", "balanced", "emphasis")
NEEDS_CLASSES = ("interleave", "balanced")


class Emphasis:
    """LeCun's emphasizing scheme: example i is drawn with probability proportional to
    e_i + floor * mean(e), e_i its loss when last presented (1 before it was ever presented).
    The floor keeps every example in play: none is starved once it is learnt."""

    name = "emphasis"

    def __init__(self, floor=0.1):
        self.floor = _checks.number("floor", floor, low=0.0, low_open=True)

    def __repr__(self):
        return f"Emphasis(floor={self.floor!r})"


def check(order):
    """The order as a name or an Emphasis object."""
    if isinstance(order, Emphasis):
        return order
    _checks.choice("order", order, ORDERS)
    return Emphasis() if order == "emphasis" else order


def check_order(order, targets):
    name = getattr(order, "name", order)
    if name in NEEDS_CLASSES and not targets.classification:
        raise ValueError(f"order={name!r} arranges the examples by class, but y holds regression targets; "
                         "use order='shuffle' or 'emphasis'")


def epoch_order(order, n, batch_size, classes, rng, errors):
    """The int64 index array of one epoch. ``classes``: class index per example (or None);
    ``errors``: each example's last loss (emphasis)."""
    if order == "sequential":
        return np.arange(n)
    if order == "shuffle":
        return rng.permutation(n)
    if order == "interleave":
        members, starts = _grouped(classes, rng)
        return _orders.interleave(members, starts, rng.permutation(starts.size - 1))
    if order == "balanced":
        return _balanced(classes, n, batch_size, rng)
    weight = errors + order.floor * errors.mean()
    if not (weight.sum() > 0 and np.isfinite(weight.sum())):  # every loss 0: nothing to emphasise
        return rng.integers(0, n, size=n)
    return rng.choice(n, size=n, p=weight / weight.sum())


def _grouped(classes, rng):
    """(members, starts): example indices grouped by class, shuffled within each class."""
    perm = rng.permutation(classes.size)
    members = perm[np.argsort(classes[perm], kind="stable")]
    starts = np.searchsorted(classes[members], np.arange(classes.max() + 2))
    return members, starts


def _balanced(classes, n, batch_size, rng):
    """Batches of batch_size (the last one shorter) holding each class size // k or one more
    times; each class's examples are cycled through in shuffled passes. Classes the network
    knows but this data lacks take no slots."""
    present, classes = np.unique(classes, return_inverse=True)
    k = present.size
    sizes = np.full(-(-n // batch_size), batch_size)
    sizes[-1] = n - batch_size * (sizes.size - 1)
    # Per batch: size // k of every class, plus one of (size % k) classes drawn at random.
    counts = np.repeat((sizes // k)[:, None], k, axis=1)
    extra = np.argsort(rng.random((sizes.size, k)), axis=1) < (sizes % k)[:, None]
    counts += extra
    slots = np.repeat(np.tile(np.arange(k), sizes.size), counts.ravel())  # class of each position, batch by batch
    batch_of = np.repeat(np.arange(sizes.size), sizes)
    slots = slots[np.lexsort((rng.random(n), batch_of))]  # shuffle positions within each batch
    order = np.empty(n, np.int64)
    for c in range(k):  # a loop over classes, not examples
        where = np.flatnonzero(slots == c)
        own = np.flatnonzero(classes == c)
        if where.size == 0:
            continue
        passes = -(-where.size // own.size)
        order[where] = np.concatenate([rng.permutation(own) for _ in range(passes)])[: where.size]
    return order
