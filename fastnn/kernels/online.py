"""Online learning at the memory limit: plain SGD, one example at a time, on theta by offsets.

The epoch loop of kernels.train works on chunks through per-layer views; for one example per
update those views, slices and tuple lookups (reference counts, calls into C) cost as much as
the arithmetic of a small network. Here an example touches only flat arrays: theta, the
inputs and one flat buffer each for the net inputs, outputs and deltas of every unit, read by
the offsets of the layout table through the row loops that the chunk kernels use too
(kernels.dense, kernels.activations). Nothing is allocated, sliced or viewed per example, and
the example's non-zero inputs are listed once for both passes over the first layer's rows.

Plain SGD (no momentum) is applied during backpropagation: each layer's weights move right
after they sent the error down. The lazy rules (kernels.lazy) run the same passes through
one_example, with the gradient into a buffer. L2 weight decay shrinks every W each update,
w <- w (1 - eta lambda) - eta g; the first layer's rows of zero inputs get no gradient, so
their shrinking waits, as a product of the factors since the row was last touched, until the
next example that uses the row (or the end of the epoch). An example then costs what its
non-zeros need even with decay. Networks with PReLU layers (their slopes have a gradient of
their own) and the rules without a lazy form (Adam, SGD with momentum and decay) take the
general epoch of kernels.train.
"""
from typing import NamedTuple

import numpy as np
from numba import njit

from .activations import activate_units, activation_backward_units
from .dense import add_scaled_row, affine_nz_row, affine_row, backprop_row, nonzeros_at, outer_nz_row, outer_row, \
    scale_range, scale_row, scale_rows
from .layout import ACT, B_OFF, FAN_IN, FAN_OUT, P1, P2, UNIT_OFF, W_OFF
from .losses import MSE, row_delta
from .options import KERNEL
from .train import runtime_bool


@njit(**KERNEL)
def sgd_online_epoch(theta, layout, act_params, X, T, order, lr, rule, loss_code, key, errors, ws):
    """One epoch of plain SGD over X[order], an update per example at rate lr[step] (times
    rule.layer_scale[l] for layer l, with rule.weight_decay on the weights W); returns (summed
    loss, number of updates) as kernels.train.train_epoch, stopping after the update whose loss
    overflows. ``errors`` (size n, or empty) receives each example's loss; ws: a Workspace.
    Needs lr[step] * layer_scale * weight_decay < 1 (a decay that does not flip the weights)."""
    L, n_in = layout.shape[0], layout[0, FAN_IN]
    out, u_out, m = layout[L - 1, ACT], layout[L - 1, UNIT_OFF], layout[L - 1, FAN_OUT]
    X_, buf = X.reshape(X.size), buffers(theta, layout, ws)
    z, a, d, nz, Z_out, A_out, D_out, alpha = buf
    nz0 = np.empty(n_in, np.int32)  # the example's non-zero inputs
    lazy = rule.weight_decay != 0.0
    log_kept = _log_kept(lr, rule.layer_scale[0] * rule.weight_decay)
    last = np.zeros(n_in if lazy else 0, np.int64)  # the updates whose decay each first-layer row has had
    train = runtime_bool(True, order.size)
    total = 0.0
    steps = 0
    for step in range(order.size):
        i = order[step]
        m0 = nonzeros_at(X_, i * n_in, n_in, nz0)
        if lazy:
            _catch_up(theta, layout, nz0, m0, last, step, log_kept)
        # one_example's steps written out: its call per example cost 15-25% on 64-32-10.
        x0 = i * n_in
        forward_one(theta, layout, act_params, X_, x0, nz0, m0, z, a, nz, alpha, train, key, i)
        loss = row_delta(Z_out, A_out, T, np.int64(0), i, loss_code, out, D_out)
        if errors.size > 0:
            errors[i] = loss
        total += loss
        if loss_code == MSE:  # d holds dL/dA of the outputs
            activation_backward_units(d, z, a, u_out, m, out, act_params[L - 1, P1], act_params[L - 1, P2], alpha,
                                      train, key, L - 1, i)
        backward_one(theta, theta, layout, act_params, X_, x0, nz0, m0, z, a, d, nz, lr[step], rule, train, alpha,
                     train, key, i)  # fused: a run-time True (see runtime_bool)
        for q in range(m0 if lazy else 0):
            last[nz0[q]] = step + 1
        steps = step + 1
        if not np.isfinite(total):
            break
    if lazy:  # every first-layer row brought up to the last update
        _catch_up(theta, layout, np.arange(n_in, dtype=np.int32), n_in, last, steps, log_kept)
    return total, steps


class Buffers(NamedTuple):
    """One example's scratch, taken out of the Workspace once per epoch: the net inputs z,
    outputs a and deltas d of every unit (flat), a non-zero index list, the output layer's z, a
    and d as (1, m) arrays (what row_delta reads) and an empty slope array (no PReLU here)."""
    z: np.ndarray
    a: np.ndarray
    d: np.ndarray
    nz: np.ndarray
    Z_out: np.ndarray
    A_out: np.ndarray
    D_out: np.ndarray
    no_alpha: np.ndarray


@njit(**KERNEL)
def buffers(theta, layout, ws):
    """The Buffers in ws for a network of this layout."""
    L = layout.shape[0]
    u0, m = layout[L - 1, UNIT_OFF], layout[L - 1, FAN_OUT]
    z, a, d = ws.Z, ws.A, ws.dZ
    return Buffers(z, a, d, ws.nz, z[u0 : u0 + m].reshape(1, m), a[u0 : u0 + m].reshape(1, m),
                   d[u0 : u0 + m].reshape(1, m), theta[:0])


@njit(**KERNEL)
def one_example(theta, target, layout, act_params, X_, i, nz0, m0, T, buf, loss_code, lr, rule, fused, train, key,
                errors):
    """Forward and backward pass of example i (row i of X, flattened in X_; its non-zero inputs
    nz0[:m0]); returns its loss, recorded in errors[i] unless errors is empty. fused: plain SGD's
    step taken on theta (target) during the backward pass; else the gradient is added to target
    (a zero gradient buffer) but for the first layer's W, which the caller updates lazily from
    the deltas left in buf.d."""
    L = layout.shape[0]
    x0, u_out, m = i * layout[0, FAN_IN], layout[L - 1, UNIT_OFF], layout[L - 1, FAN_OUT]
    z, a, d, nz, alpha = buf.z, buf.a, buf.d, buf.nz, buf.no_alpha
    forward_one(theta, layout, act_params, X_, x0, nz0, m0, z, a, nz, alpha, train, key, i)
    loss = row_delta(buf.Z_out, buf.A_out, T, np.int64(0), i, loss_code, layout[L - 1, ACT], buf.D_out)
    if errors.size > 0:
        errors[i] = loss
    if loss_code == MSE:  # d holds dL/dA of the outputs
        activation_backward_units(d, z, a, u_out, m, layout[L - 1, ACT], act_params[L - 1, P1], act_params[L - 1, P2],
                                  alpha, train, key, L - 1, i)
    backward_one(theta, target, layout, act_params, X_, x0, nz0, m0, z, a, d, nz, lr, rule, fused, alpha, train, key, i)
    return loss


@njit(**KERNEL)
def _log_kept(lr, c):
    """log_kept[s] = sum over updates u < s of log(1 - lr[u] c): the log of the fraction of a
    weight that decay keeps over the first s updates of the epoch. Sums of logs, not products,
    so that the ratio of two of them never divides zero by zero."""
    log_kept = np.zeros(lr.size + 1)
    for u in range(lr.size):
        log_kept[u + 1] = log_kept[u] + np.log1p(-lr[u] * c)
    return log_kept


@njit(**KERNEL)
def _catch_up(theta, layout, rows, m, last, t, log_kept):
    """Apply to first-layer rows rows[:m] the decay of the updates last[k] .. t - 1 they missed."""
    w0, fan_out = layout[0, W_OFF], layout[0, FAN_OUT]
    for q in range(m):
        k = rows[q]
        if last[k] < t:
            scale_row(theta, w0, fan_out, k, np.exp(log_kept[t] - log_kept[last[k]]))
            last[k] = t


@njit(**KERNEL)
def forward_one(theta, layout, act_params, x, x0, nz0, m0, z, a, nz, alpha, train, key, row):
    """Net inputs z and outputs a of every unit for the example x[x0:x0 + fan_in], whose
    non-zero inputs are nz0[:m0] (example ``row`` of the data: RReLU's draws)."""
    for l in range(layout.shape[0]):
        fan_in, fan_out, u0 = layout[l, FAN_IN], layout[l, FAN_OUT], layout[l, UNIT_OFF]
        w0, b0 = layout[l, W_OFF], layout[l, B_OFF]
        if l == 0:
            affine_nz_row(x, x0, nz0, m0, theta, w0, theta, b0, z, u0, fan_out)
        else:
            affine_row(a, layout[l - 1, UNIT_OFF], fan_in, theta, w0, theta, b0, z, u0, fan_out, nz)
        activate_units(z, a, u0, fan_out, layout[l, ACT], act_params[l, P1], act_params[l, P2], alpha, train, key, l,
                       row)


@njit(**KERNEL)
def backward_one(theta, target, layout, act_params, x, x0, nz0, m0, z, a, d, nz, lr, rule, fused, alpha, train, key,
                 row):
    """Backpropagate the output deltas d of one example. fused (plain SGD, target is theta):
    layer l's W and b move by -lr * layer_scale[l] times their gradient (W's with the decay),
    after W sent the error down; of the first layer only the rows of the non-zero inputs
    nz0[:m0] move. Else target += the gradient, the first layer's W left out."""
    for l in range(layout.shape[0] - 1, -1, -1):
        fan_in, fan_out, u0 = layout[l, FAN_IN], layout[l, FAN_OUT], layout[l, UNIT_OFF]
        w0 = layout[l, W_OFF]
        eta = lr * rule.layer_scale[l]
        scale = -eta if fused else 1.0
        decay = fused and rule.weight_decay != 0.0
        if l > 0:
            v0 = layout[l - 1, UNIT_OFF]
            backprop_row(d, u0, theta, w0, fan_in, fan_out, d, v0)
            activation_backward_units(d, z, a, v0, fan_in, layout[l - 1, ACT], act_params[l - 1, P1],
                                      act_params[l - 1, P2], alpha, train, key, l - 1, row)
        add_scaled_row(target, layout[l, B_OFF], d, u0, fan_out, scale)
        if l > 0:
            if decay:
                scale_range(theta, w0, fan_in * fan_out, 1.0 - eta * rule.weight_decay)
            outer_row(a, layout[l - 1, UNIT_OFF], fan_in, d, u0, fan_out, target, w0, scale, nz)
        elif fused:
            if decay:
                scale_rows(theta, w0, fan_out, nz0, m0, 1.0 - eta * rule.weight_decay)
            outer_nz_row(x, x0, nz0, m0, d, u0, fan_out, theta, w0, scale)
