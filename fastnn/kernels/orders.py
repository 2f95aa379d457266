"""Example orders that need a loop over the examples (compiled: no Python per example)."""
import numpy as np
from numba import njit

from .options import KERNEL


@njit(**KERNEL)
def interleave(members, starts, priority):
    """An order in which consecutive examples belong to different classes whenever the class
    counts allow it: at each position the class with the most examples left that is not the
    previous one (ties to the higher ``priority``; the greedy rule that never gets stuck while
    no class holds more than half of what is left).

    members: example indices grouped by class (class c at starts[c]:starts[c + 1]), each
    group already shuffled.
    """
    k = starts.size - 1
    left = starts[1:] - starts[:-1]
    taken = np.zeros(k, np.int64)
    out = np.empty(members.size, np.int64)
    prev = -1
    for i in range(members.size):
        best = -1
        for c in range(k):
            if c == prev or left[c] == 0:
                continue
            if best < 0 or left[c] > left[best] or (left[c] == left[best] and priority[c] > priority[best]):
                best = c
        if best < 0:  # only the previous class is left: a repeat cannot be avoided
            best = prev
        out[i] = members[starts[best] + taken[best]]
        taken[best] += 1
        left[best] -= 1
        prev = best
    return out
