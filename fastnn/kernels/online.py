"""Online learning at the memory limit: plain SGD, one example at a time, on theta by offsets.

The epoch loop of kernels.train works on chunks through per-layer views; for one example per
update those views, slices and tuple lookups (reference counts, calls into C) cost as much as
the arithmetic of a small network. Here an example touches only flat arrays: theta, the
inputs and one flat buffer each for the net inputs, outputs and deltas of every unit, read by
the offsets of the layout table through the row loops that the chunk kernels use too
(kernels.dense, kernels.activations). Nothing is allocated, sliced or viewed per example.

Plain SGD (no momentum, no weight decay) is applied during backpropagation: each layer's
weights move right after they sent the error down. Networks with PReLU layers (their slopes
have a gradient of their own) and every other rule take the general epoch.
"""
import numpy as np
from numba import njit

from .activations import activate_units, activation_backward_units
from .dense import add_scaled_row, affine_row, backprop_row, outer_row
from .layout import ACT, B_OFF, FAN_IN, FAN_OUT, P1, P2, UNIT_OFF, W_OFF
from .losses import MSE, row_delta
from .options import KERNEL
from .train import runtime_bool


@njit(**KERNEL)
def sgd_online_epoch(theta, layout, act_params, X, T, order, lr, layer_scale, loss_code, key, errors, ws):
    """One epoch of plain SGD over X[order], an update per example at rate lr[step] (times
    layer_scale[l] for layer l); returns (summed loss, number of updates) as
    kernels.train.train_epoch, stopping after the update whose loss overflows. ``errors``
    (size n, or empty) receives each example's loss; ws: a Workspace of one row or more."""
    L = layout.shape[0]
    n_in, u_out, m = layout[0, FAN_IN], layout[L - 1, UNIT_OFF], layout[L - 1, FAN_OUT]
    X_ = X.reshape(X.size)
    z, a, d = ws.Z, ws.A, ws.dZ
    # The output layer as (1, m) views for row_delta: made once per epoch, not per example.
    Z_out, A_out, D_out = z[u_out : u_out + m].reshape(1, m), a[u_out : u_out + m].reshape(1, m), \
        d[u_out : u_out + m].reshape(1, m)
    nz, no_alpha = ws.nz[0], theta[:0]
    train = runtime_bool(True, order.size)
    total = 0.0
    steps = 0
    for step in range(order.size):
        i = order[step]
        forward_one(theta, layout, act_params, X_, i * n_in, z, a, nz, no_alpha, train, key, i)
        loss = row_delta(Z_out, A_out, T, 0, i, loss_code, layout[L - 1, ACT], D_out)
        if errors.size > 0:
            errors[i] = loss
        total += loss
        if loss_code == MSE:  # d holds dL/dA of the outputs
            activation_backward_units(d, z, a, u_out, m, layout[L - 1, ACT], act_params[L - 1, P1],
                                      act_params[L - 1, P2], no_alpha, train, key, L - 1, i)
        backward_sgd_one(theta, layout, act_params, X_, i * n_in, z, a, d, nz, lr[step], layer_scale, no_alpha, train,
                         key, i)
        steps = step + 1
        if not np.isfinite(total):
            break
    return total, steps


@njit(**KERNEL)
def forward_one(theta, layout, act_params, x, x0, z, a, nz, alpha, train, key, row):
    """Net inputs z and outputs a of every unit for the example x[x0:x0 + fan_in] (example
    ``row`` of the data: RReLU's draws); the first layer reads x, the others a."""
    for l in range(layout.shape[0]):
        fan_in, fan_out, u0 = layout[l, FAN_IN], layout[l, FAN_OUT], layout[l, UNIT_OFF]
        if l == 0:
            affine_row(x, x0, fan_in, theta, layout[l, W_OFF], theta, layout[l, B_OFF], z, u0, fan_out, nz)
        else:
            affine_row(a, layout[l - 1, UNIT_OFF], fan_in, theta, layout[l, W_OFF], theta, layout[l, B_OFF], z, u0,
                       fan_out, nz)
        activate_units(z, a, u0, fan_out, layout[l, ACT], act_params[l, P1], act_params[l, P2], alpha, train, key, l,
                       row)


@njit(**KERNEL)
def backward_sgd_one(theta, layout, act_params, x, x0, z, a, d, nz, lr, layer_scale, alpha, train, key, row):
    """Backpropagate the output deltas d of one example and take its SGD step: layer l's W and b
    move by -lr * layer_scale[l] times their gradient, after W sent the error down."""
    for l in range(layout.shape[0] - 1, -1, -1):
        fan_in, fan_out, u0 = layout[l, FAN_IN], layout[l, FAN_OUT], layout[l, UNIT_OFF]
        w0 = layout[l, W_OFF]
        scale = -lr * layer_scale[l]
        if l > 0:
            v0 = layout[l - 1, UNIT_OFF]
            backprop_row(d, u0, theta, w0, fan_in, fan_out, d, v0)
            activation_backward_units(d, z, a, v0, fan_in, layout[l - 1, ACT], act_params[l - 1, P1],
                                      act_params[l - 1, P2], alpha, train, key, l - 1, row)
        add_scaled_row(theta, layout[l, B_OFF], d, u0, fan_out, scale)
        if l > 0:
            outer_row(a, layout[l - 1, UNIT_OFF], fan_in, d, u0, fan_out, theta, w0, scale, nz)
        else:
            outer_row(x, x0, fan_in, d, u0, fan_out, theta, w0, scale, nz)
