"""Online learning with lazy first-layer rows: an epoch of single examples in which the rows
of W1 whose input is zero are left alone and caught up in closed form when next touched.

On sparse inputs (MNIST is about 80% zeros) the gradient of a first-layer weight row is zero
whenever its input is. For rules whose idle step has a closed form an example then costs what
its non-zeros need instead of a pass over every weight:
- delta-bar-delta with g = 0 keeps w and the gain (g * bar = 0) and multiplies bar by the
  smoothing: s idle steps multiply it by smoothing^s;
- RMSprop with g = 0 keeps w and multiplies ms by rho: s idle steps, rho^s;
- SGD with a constant momentum mu: v <- mu v, w <- w + v (Nesterov: w + mu v), so s idle
  steps give v mu^s and w + v (mu + ... + mu^s) (Nesterov: mu times that sum).
Adam keeps moving the weights with g = 0 by a step that has no closed form: every weight.

A module of its own: a fit whose rule has no lazy rows never compiles it.
"""
import numpy as np
from numba import njit

from .dense import nonzeros_at
from .layout import B_OFF, FAN_IN, FAN_OUT, UNIT_OFF, W_OFF
from .online import buffers, one_example
from .options import KERNEL
from .train import runtime_bool
from .updates import DELTA_BAR_DELTA, RMSPROP, SGD, layer_end, rule_coefficients, sgd_step, delta_bar_delta_step, \
    rmsprop_step, update_range


def has_lazy_rows(rule, batch_size, mom):
    """Whether an epoch updates first-layer rows lazily: online, no weight decay (it makes
    every g non-zero), and for SGD a constant momentum (a cycled one has no closed form)."""
    if batch_size != 1 or rule.weight_decay != 0.0:
        return False
    if rule.code == SGD:
        return bool(mom.size > 0 and mom[0] > 0.0 and np.all(mom == mom[0]))
    return rule.code in (DELTA_BAR_DELTA, RMSPROP)


@njit(**KERNEL)
def first_layer_rows(M, layout):
    """Rows (fan_in, fan_out) of the first layer's W within a flat array M (theta, grad, a state row)."""
    w0, b0 = layout[0, W_OFF], layout[0, B_OFF]
    return M[w0:b0].reshape(layout[0, FAN_IN], layout[0, FAN_OUT])


@njit(**KERNEL)
def lazy_views(theta, state, layout):
    """First-layer (fan_in, fan_out) views of theta and the state rows, made once per epoch."""
    return (first_layer_rows(theta, layout), first_layer_rows(state[0], layout),
            first_layer_rows(state[state.shape[0] - 1], layout))


@njit(**KERNEL)
def idle_factors(code, hp, mu, n, dtype):
    """For s = 0 .. n idle updates: factors[0, s], the decay of the idle state (bar, ms or v),
    and factors[1, s], the weight's drift per unit of v (SGD). Once per epoch, not per row."""
    decay = hp[2] if code == DELTA_BAR_DELTA else (hp[0] if code == RMSPROP else mu)
    nesterov = code == SGD and hp[0] != 0.0
    factors = np.zeros((2, n + 1), dtype)
    drift = 0.0
    for s in range(n + 1):
        factors[0, s] = decay ** float(s)
        if code == SGD:
            factors[1, s] = mu * drift if nesterov else drift
            drift += mu ** float(s + 1)
    return factors


@njit(**KERNEL, inline="always")
def idle_steps(w, s, factor, drift):
    """A weight and its decaying state after idle updates (g = 0), in closed form: the state
    times factor (decay^steps), the weight moved by drift times the state before (SGD's velocity)."""
    return w + drift * s, s * factor


@njit(**KERNEL, inline="always")
def _catch_up_row(drifts, W, S, k, last, t, factors):
    """Apply first-layer row k's idle updates last[k] + 1 .. t to its decaying state S (and,
    when the weights drift, to W); last[k] = t."""
    s = t - last[k]
    if s > 0:
        factor, drift = factors[0, s], factors[1, s]
        if drifts:
            for j in range(W.shape[1]):
                W[k, j], S[k, j] = idle_steps(W[k, j], S[k, j], factor, drift)
        else:
            for j in range(W.shape[1]):
                S[k, j] *= factor
        last[k] = t


@njit(**KERNEL, inline="always")
def _decaying(code, views):
    """(weights drift while idle, the state that decays: bar, or ms, or v). Chosen once per
    call, not per row: every array picked out of a tuple costs reference counts."""
    return code == SGD, (views[2] if code == DELTA_BAR_DELTA else views[1])


@njit(**KERNEL)
def catch_up_rows(code, rows, m, last, t, views, factors):
    """Bring first-layer rows rows[:m] (the example's non-zero inputs) up to update t before the
    forward pass reads them, when the idle steps move the weights (SGD with momentum). Other
    rules fold the idle decay into the update (lazy_rows): a separate pass over the rows costs
    an L2 miss per row, as the forward pass in between evicts them from L1."""
    W = views[0]
    drifts, S = _decaying(code, views)
    if not drifts:
        return
    for q in range(m):
        _catch_up_row(drifts, W, S, rows[q], last, t, factors)


@njit(**KERNEL)
def flush_lazy_rows(code, last, t, views, factors):
    """Bring every first-layer row up to update t (the end of an epoch)."""
    W = views[0]
    drifts, S = _decaying(code, views)
    for k in range(last.size):
        _catch_up_row(drifts, W, S, k, last, t, factors)


@njit(**KERNEL)
def lazy_rows(code, hp, views, X, i, d, nz, m, last, t, factors, eta, mu):
    """Update first-layer rows k = nz[:m] by the gradient X[i, k] * d[j], formed as it is used
    (never stored), with the decay of each row's idle steps folded in (SGD's rows were caught
    up by catch_up_rows: factor 1). One loop nest per rule, as in update_slice: a shared loop
    with the rule chosen inside ran 25% slower. The 2-D arrays are indexed, not cut into row
    views: each view costs two atomic reference counts, three times the arithmetic here."""
    W, S0, S1 = views
    c = rule_coefficients(code, hp, eta, mu, t, 1.0, W.dtype.type)
    if code == SGD:
        nesterov = c[2] != 0
        for q in range(m):
            k = nz[q]
            for j in range(W.shape[1]):
                W[k, j], S0[k, j] = sgd_step(W[k, j], X[i, k] * d[j], S0[k, j], c[0], c[1], nesterov)
            last[k] = t
    elif code == DELTA_BAR_DELTA:
        avg = (c[3], c[4])
        for q in range(m):
            k = nz[q]
            factor = factors[0, t - 1 - last[k]]
            for j in range(W.shape[1]):
                W[k, j], S0[k, j], S1[k, j] = delta_bar_delta_step(W[k, j], X[i, k] * d[j], S0[k, j], S1[k, j] * factor,
                                                                   c[0], c[1], c[2], avg, c[5], c[6])
            last[k] = t
    else:  # RMSPROP
        rho = (c[1], c[2])
        for q in range(m):
            k = nz[q]
            factor = factors[0, t - 1 - last[k]]
            for j in range(W.shape[1]):
                W[k, j], S0[k, j] = rmsprop_step(W[k, j], X[i, k] * d[j], S0[k, j] * factor, c[0], rho, c[3])
            last[k] = t


@njit(**KERNEL)
def lazy_update(rule, theta, grad, state, layout, eta, mu, t, X, i, d, nz, m, last, views, factors):
    """Update t for example X[i], whose non-zero inputs are nz[:m] and first-layer deltas d: the
    first-layer rows of those inputs (idle since update last[k]; SGD's were caught up by
    catch_up_rows), then every other parameter from grad, which it leaves zero."""
    code, hp, scales = rule.code, rule.hp, rule.layer_scale
    lazy_rows(code, hp, views, X, i, d, nz, m, last, t, factors, eta * scales[0], mu)
    for l in range(layout.shape[0]):
        start = layout[l, B_OFF] if l == 0 else layout[l, W_OFF]
        end = layer_end(layout, l, theta.size)
        update_range(code, hp, theta, grad, state, start, end, eta * scales[l], mu, t, scales[l])
        grad[start:end] = 0.0


@njit(**KERNEL)
def lazy_epoch(theta, grad, state, layout, act_params, X, T, order, ws, lr, mom, rule, t0, loss_code, key, errors):
    """One online epoch over X[order] with lazy first-layer rows (has_lazy_rows), for networks
    without PReLU layers; arguments and result as in kernels.train.train_epoch (ws: a Workspace
    of one row; no batch norm: it needs two examples a batch). The examples' passes are the
    online kernel's (kernels.online.one_example), on flat arrays; grad is left zero."""
    n_in, u0, fan_out = layout[0, FAN_IN], layout[0, UNIT_OFF], layout[0, FAN_OUT]
    X_, buf = X.reshape(X.size), buffers(theta, layout, ws)
    d_first = ws.dZ[u0 : u0 + fan_out]  # the first layer's deltas, where one_example leaves them
    nz0 = np.empty(n_in, np.int32)  # the example's non-zero inputs
    views = lazy_views(theta, state, layout)
    factors = idle_factors(rule.code, rule.hp, mom[0], order.size, theta.dtype)
    last = np.full(n_in, t0)  # the update each first-layer row has seen
    grad[:] = 0.0
    train = runtime_bool(True, order.size)
    fused = runtime_bool(False, order.size)
    total = 0.0
    steps = 0
    for step in range(order.size):
        i = order[step]
        t = t0 + step + 1
        m0 = nonzeros_at(X_, i * n_in, n_in, nz0)
        catch_up_rows(rule.code, nz0, m0, last, t - 1, views, factors)
        total += one_example(theta, grad, layout, act_params, X_, i, nz0, m0, T, buf, loss_code, lr[step], rule, fused,
                             train, key, errors)
        lazy_update(rule, theta, grad, state, layout, lr[step], mom[step], t, X, i, d_first, nz0, m0, last, views,
                    factors)
        steps = step + 1
        if not np.isfinite(total):
            break
    flush_lazy_rows(rule.code, last, t0 + steps, views, factors)
    return total, steps
