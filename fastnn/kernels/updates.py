"""Update rules over the flat parameter vector: SGD, delta-bar-delta, RMSprop, Adam, Rprop.

Each rule is one scalar function of (weight, gradient, state...) returning the new values, so
the formula is written once for the CPU loops here and the CUDA kernels (one thread per
weight). A rule's state is ``state[0:n_state]``, rows of the length of theta (velocity,
gains, moments, step sizes). ``hp`` holds the rule's hyper-parameters in the order its
:mod:`fastnn.optimizers` class documents.
"""
import math

import numpy as np
from numba import njit

from .dense import nonzeros
from .layout import B_OFF, FAN_IN, FAN_OUT, W_OFF
from .options import KERNEL

SGD, DELTA_BAR_DELTA, RMSPROP, ADAM, RPROP = 0, 1, 2, 3, 4


@njit(**KERNEL, inline="always")
def sgd_step(w, g, v, eta, mu, nesterov):
    """v <- mu v - eta g; w <- w + v, or w + mu v - eta g with Nesterov (Sutskever et al. 2013)."""
    v = mu * v - eta * g
    return (w + mu * v - eta * g if nesterov else w + v), v


@njit(**KERNEL, inline="always")
def delta_bar_delta_step(w, g, gain, bar, eta, kappa, phi, theta, gain_min, gain_max):
    """Jacobs (1988): the gain grows by kappa while g agrees in sign with the running average
    of past gradients (bar), shrinks to phi * gain when it disagrees, stays within limits.
    theta is (smoothing, 1 - smoothing): the arguments are all of the array's dtype, since a
    Python int in the arithmetic would turn float32 into float64 and halve the SIMD width."""
    agree = g * bar
    if agree > 0:
        gain = min(gain + kappa, gain_max)
    elif agree < 0:
        gain = max(gain * phi, gain_min)
    return w - eta * gain * g, gain, theta[1] * g + theta[0] * bar


@njit(**KERNEL, inline="always")
def rmsprop_step(w, g, ms, eta, rho, eps):
    """Hinton (lecture 6e): divide the gradient by a running root mean square of its values.
    rho is (rho, 1 - rho)."""
    ms = rho[0] * ms + rho[1] * g * g
    return w - eta * g / (math.sqrt(ms) + eps), ms  # eps: no division by zero for a weight never moved


@njit(**KERNEL, inline="always")
def adam_step(w, g, m, v, eta_t, beta1, beta2, eps_t):
    """Kingma & Ba (2015), algorithm 1 in the form of their section 2: the bias corrections
    c1 = 1 - beta1^t, c2 = 1 - beta2^t are folded into eta_t = eta sqrt(c2) / c1 and
    eps_t = eps sqrt(c2), which leaves one division per weight. beta1, beta2 are (beta, 1 - beta)."""
    m = beta1[0] * m + beta1[1] * g
    v = beta2[0] * v + beta2[1] * g * g
    return w - eta_t * m / (math.sqrt(v) + eps_t), m, v


@njit(**KERNEL, inline="always")
def rprop_step(w, g, step, g_prev, scale, eta_plus, eta_minus, step_min, step_max):
    """iRprop- (Igel & Huesken 2000): only the sign of g counts. The step grows while the sign
    holds, shrinks when it flips; after a flip g counts as 0, so the next step does not adapt."""
    agree = g * g_prev
    if agree > 0:
        step = min(step * eta_plus, step_max)
    elif agree < 0:
        step = max(step * eta_minus, step_min)
        g = g - g  # zero of g's dtype
    if g > 0:
        w = w - scale * step
    elif g < 0:
        w = w + scale * step
    return w, step, g


@njit(**KERNEL)
def rule_coefficients(code, hp, eta, mu, t, scale, f):
    """The scalars rule ``code``'s step takes, in dtype f, for its t-th update at rate eta
    (momentum mu, Rprop's layer scale): a 7-tuple, unused entries zero. Made once per update and
    layer (on the GPU by each thread), so a Python float never turns float32 arithmetic into float64.

    SGD (eta, mu); delta-bar-delta (eta, kappa, phi, smoothing, 1 - smoothing, gain_min,
    gain_max); RMSprop (eta, rho, 1 - rho, eps); Adam (eta_t, beta1, 1 - beta1, beta2,
    1 - beta2, eps_t); Rprop (scale, eta_plus, eta_minus, step_min, step_max).
    """
    z = f(0.0)
    if code == SGD:
        return f(eta), f(mu), z, z, z, z, z
    if code == DELTA_BAR_DELTA:
        return f(eta), f(hp[0]), f(hp[1]), f(hp[2]), f(1.0 - hp[2]), f(hp[3]), f(hp[4])
    if code == RMSPROP:
        return f(eta), f(hp[0]), f(1.0 - hp[0]), f(hp[1]), z, z, z
    if code == ADAM:
        root_c2 = math.sqrt(1.0 - hp[1] ** t)
        return f(eta * root_c2 / (1.0 - hp[0] ** t)), f(hp[0]), f(1.0 - hp[0]), f(hp[1]), f(1.0 - hp[1]), \
            f(hp[2] * root_c2), z
    return f(scale), f(hp[0]), f(hp[1]), f(hp[2]), f(hp[3]), z, z  # RPROP


@njit(**KERNEL, inline="always")
def rule_step(code, w, g, s0, s1, c, nesterov):
    """One step of rule ``code`` on one weight: (w, s0, s1) from the gradient g, the state and
    the coefficients c of rule_coefficients. The GPU's thread per weight; the CPU loops call
    the step functions directly (a loop per rule vectorises)."""
    if code == SGD:
        w, s0 = sgd_step(w, g, s0, c[0], c[1], nesterov)
    elif code == DELTA_BAR_DELTA:
        w, s0, s1 = delta_bar_delta_step(w, g, s0, s1, c[0], c[1], c[2], (c[3], c[4]), c[5], c[6])
    elif code == RMSPROP:
        w, s0 = rmsprop_step(w, g, s0, c[0], (c[1], c[2]), c[3])
    elif code == ADAM:
        w, s0, s1 = adam_step(w, g, s0, s1, c[0], (c[1], c[2]), (c[3], c[4]), c[5])
    else:  # RPROP
        w, s0, s1 = rprop_step(w, g, s0, s1, c[0], c[1], c[2], c[3], c[4])
    return w, s0, s1


@njit(**KERNEL, inline="always")
def _layer_end(layout, l, size):
    """End of layer l's parameters in theta: where the next layer's W starts."""
    return layout[l + 1, W_OFF] if l + 1 < layout.shape[0] else size


@njit(**KERNEL, inline="always")
def update_slice(code, hp, theta, grad, s0, s1, eta, mu, nesterov, t, scale):
    """Apply rule ``code`` to the 1-D slice theta, with its gradient and state rows s0, s1
    (rules with one state row ignore s1).

    One loop per rule so each loop vectorises. The loops run from 0 over contiguous 1-D
    slices: a loop over range(i0, i1) keeps Numba's negative-index fix-up and a slice
    state[:, i0:i1] is non-contiguous; either stops LLVM from vectorising (5-10x slower).
    """
    c = rule_coefficients(code, hp, eta, mu, t, scale, theta.dtype.type)
    n = theta.size
    if code == SGD:
        for i in range(n):
            theta[i], s0[i] = sgd_step(theta[i], grad[i], s0[i], c[0], c[1], nesterov)
    elif code == DELTA_BAR_DELTA:
        avg = (c[3], c[4])
        for i in range(n):
            theta[i], s0[i], s1[i] = delta_bar_delta_step(theta[i], grad[i], s0[i], s1[i], c[0], c[1], c[2], avg, c[5],
                                                          c[6])
    elif code == RMSPROP:
        rho = (c[1], c[2])
        for i in range(n):
            theta[i], s0[i] = rmsprop_step(theta[i], grad[i], s0[i], c[0], rho, c[3])
    elif code == ADAM:
        beta1, beta2 = (c[1], c[2]), (c[3], c[4])
        for i in range(n):
            theta[i], s0[i], s1[i] = adam_step(theta[i], grad[i], s0[i], s1[i], c[0], beta1, beta2, c[5])
    else:  # RPROP
        for i in range(n):
            theta[i], s0[i], s1[i] = rprop_step(theta[i], grad[i], s0[i], s1[i], c[0], c[1], c[2], c[3], c[4])


@njit(**KERNEL, inline="always")
def _update_range(code, hp, theta, grad, state, i0, i1, eta, mu, nesterov, t, scale):
    """update_slice on theta[i0:i1] and the same entries of grad and the state rows."""
    s1 = state.shape[0] - 1
    update_slice(code, hp, theta[i0:i1], grad[i0:i1], state[0, i0:i1], state[s1, i0:i1], eta, mu, nesterov, t, scale)


@njit(**KERNEL)
def apply_update(code, hp, theta, grad, state, layout, layer_scale, weight_decay, eta, mu, nesterov, t):
    """One update of theta from grad (the mean gradient), the t-th of this optimizer (t >= 1).

    L2 decay adds weight_decay * W to the gradient of the weights W (not b, not slopes).
    Layer l moves at eta * layer_scale[l] (LeCun's per-layer rates; Rprop scales its steps).
    """
    L = layout.shape[0]
    for l in range(L):
        w0, b0 = layout[l, W_OFF], layout[l, B_OFF]
        end = _layer_end(layout, l, theta.size)
        if weight_decay != 0.0:
            gW, W = grad[w0:b0], theta[w0:b0]
            for i in range(gW.size):
                gW[i] += weight_decay * W[i]
        _update_range(code, hp, theta, grad, state, w0, end, eta * layer_scale[l], mu, nesterov, t, layer_scale[l])


# Online learning on sparse inputs (MNIST is about 80% zeros): the gradient of a first-layer
# weight row is zero whenever its input is. For rules whose idle step has a closed form the
# rows of zero inputs are left alone and caught up when next touched, so an example costs
# what its non-zeros need instead of a pass over every weight:
# - delta-bar-delta with g = 0 keeps w and the gain (g * bar = 0) and multiplies bar by the
#   smoothing: s idle steps multiply it by smoothing^s;
# - RMSprop with g = 0 keeps w and multiplies ms by rho: s idle steps, rho^s;
# - SGD with a constant momentum mu: v <- mu v, w <- w + v (Nesterov: w + mu v), so s idle
#   steps give v mu^s and w + v (mu + ... + mu^s) (Nesterov: mu times that sum).
# Adam keeps moving the weights with g = 0 by a step that has no closed form: every weight.


@njit(**KERNEL)
def has_lazy_rows(code, batch_size, weight_decay, mom):
    """Whether an epoch updates first-layer rows lazily (weight decay makes every g non-zero;
    a cycled momentum has no closed form)."""
    if batch_size != 1 or weight_decay != 0.0:
        return False
    if code == SGD:
        return mom.size > 0 and mom[0] > 0.0 and np.all(mom == mom[0])
    return code == DELTA_BAR_DELTA or code == RMSPROP


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
def idle_factors(code, hp, mu, nesterov, n, dtype):
    """For s = 0 .. n idle updates: factors[0, s], the decay of the idle state (bar, ms or v),
    and factors[1, s], the weight's drift per unit of v (SGD). Once per epoch, not per row."""
    decay = hp[2] if code == DELTA_BAR_DELTA else (hp[0] if code == RMSPROP else mu)
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
def catch_up_rows(code, x, nz, last, t, views, factors):
    """Bring the first-layer rows of the non-zeros of x up to update t before the forward pass
    reads them, when the idle steps move the weights (SGD with momentum). Other rules fold the
    idle decay into the update (lazy_rows): a separate pass over the rows costs an L2 miss per
    row, as the forward pass in between evicts them from L1."""
    W = views[0]
    drifts, S = _decaying(code, views)
    if not drifts:
        return
    for q in range(nonzeros(x, nz)):
        _catch_up_row(drifts, W, S, nz[q], last, t, factors)


@njit(**KERNEL)
def flush_lazy_rows(code, last, t, views, factors):
    """Bring every first-layer row up to update t (the end of an epoch)."""
    W = views[0]
    drifts, S = _decaying(code, views)
    for k in range(last.size):
        _catch_up_row(drifts, W, S, k, last, t, factors)


@njit(**KERNEL)
def lazy_rows(code, hp, views, x, d, nz, m, last, t, factors, eta, mu, nesterov):
    """Update first-layer rows k = nz[:m] by the gradient x[k] * d[j], formed as it is used
    (never stored), with the decay of each row's idle steps folded in (SGD's rows were caught
    up by catch_up_rows: factor 1). One loop nest per rule, as in update_slice: a shared loop
    with the rule chosen inside ran 25% slower. The 2-D arrays are indexed, not cut into row
    views: each view costs two atomic reference counts, three times the arithmetic here."""
    W, S0, S1 = views
    c = rule_coefficients(code, hp, eta, mu, t, 1.0, W.dtype.type)
    if code == SGD:
        for q in range(m):
            k = nz[q]
            for j in range(W.shape[1]):
                W[k, j], S0[k, j] = sgd_step(W[k, j], x[k] * d[j], S0[k, j], c[0], c[1], nesterov)
            last[k] = t
    elif code == DELTA_BAR_DELTA:
        avg = (c[3], c[4])
        for q in range(m):
            k = nz[q]
            factor = factors[0, t - 1 - last[k]]
            for j in range(W.shape[1]):
                W[k, j], S0[k, j], S1[k, j] = delta_bar_delta_step(W[k, j], x[k] * d[j], S0[k, j], S1[k, j] * factor,
                                                                   c[0], c[1], c[2], avg, c[5], c[6])
            last[k] = t
    else:  # RMSPROP
        rho = (c[1], c[2])
        for q in range(m):
            k = nz[q]
            factor = factors[0, t - 1 - last[k]]
            for j in range(W.shape[1]):
                W[k, j], S0[k, j] = rmsprop_step(W[k, j], x[k] * d[j], S0[k, j] * factor, c[0], rho, c[3])
            last[k] = t


@njit(**KERNEL)
def lazy_update(code, hp, theta, grad, state, layout, layer_scale, eta, mu, nesterov, t, x, d, nz, last, views,
                factors):
    """Update t for one example x whose first-layer deltas are d: the first-layer rows of the
    non-zeros of x (idle since update last[k]; SGD's were caught up by catch_up_rows), then
    every other parameter from grad, which it leaves zero."""
    lazy_rows(code, hp, views, x, d, nz, nonzeros(x, nz), last, t, factors, eta * layer_scale[0], mu, nesterov)
    L = layout.shape[0]
    for l in range(L):
        start = layout[l, B_OFF] if l == 0 else layout[l, W_OFF]
        end = _layer_end(layout, l, theta.size)
        _update_range(code, hp, theta, grad, state, start, end, eta * layer_scale[l], mu, nesterov, t, layer_scale[l])
        grad[start:end] = 0.0
