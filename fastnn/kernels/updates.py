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

from .layout import B_OFF, W_OFF
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
    of past gradients (bar), shrinks to phi * gain when it disagrees, stays within limits."""
    agree = g * bar
    if agree > 0:
        gain = min(gain + kappa, gain_max)
    elif agree < 0:
        gain = max(gain * phi, gain_min)
    return w - eta * gain * g, gain, (1 - theta) * g + theta * bar


@njit(**KERNEL, inline="always")
def rmsprop_step(w, g, ms, eta, rho, eps):
    """Hinton (lecture 6e): divide the gradient by a running root mean square of its values."""
    ms = rho * ms + (1 - rho) * g * g
    return w - eta * g / (math.sqrt(ms) + eps), ms  # eps: no division by zero for a weight never moved


@njit(**KERNEL, inline="always")
def adam_step(w, g, m, v, eta, beta1, beta2, eps, c1, c2):
    """Kingma & Ba (2015), algorithm 1; c1 = 1 - beta1^t and c2 = 1 - beta2^t correct the bias."""
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return w - eta * (m / c1) / (math.sqrt(v / c2) + eps), m, v


@njit(**KERNEL, inline="always")
def rprop_step(w, g, step, g_prev, scale, eta_plus, eta_minus, step_min, step_max):
    """iRprop- (Igel & Huesken 2000): only the sign of g counts. The step grows while the sign
    holds, shrinks when it flips; after a flip g counts as 0, so the next step does not adapt."""
    agree = g * g_prev
    if agree > 0:
        step = min(step * eta_plus, step_max)
    elif agree < 0:
        step = max(step * eta_minus, step_min)
        g = 0 * g
    return w - scale * np.sign(g) * step, step, g


@njit(**KERNEL)
def _update_range(code, hp, theta, grad, state, i0, i1, eta, mu, nesterov, t, scale):
    """Apply rule ``code`` to theta[i0:i1]; one loop per rule so each loop vectorises."""
    f = theta.dtype.type
    eta, mu = f(eta), f(mu)
    if code == SGD:
        v = state[0]
        for i in range(i0, i1):
            theta[i], v[i] = sgd_step(theta[i], grad[i], v[i], eta, mu, nesterov)
    elif code == DELTA_BAR_DELTA:
        gain, bar = state[0], state[1]
        kappa, phi, avg, lo, hi = f(hp[0]), f(hp[1]), f(hp[2]), f(hp[3]), f(hp[4])
        for i in range(i0, i1):
            theta[i], gain[i], bar[i] = delta_bar_delta_step(theta[i], grad[i], gain[i], bar[i], eta, kappa, phi, avg,
                                                             lo, hi)
    elif code == RMSPROP:
        ms = state[0]
        rho, eps = f(hp[0]), f(hp[1])
        for i in range(i0, i1):
            theta[i], ms[i] = rmsprop_step(theta[i], grad[i], ms[i], eta, rho, eps)
    elif code == ADAM:
        m, v = state[0], state[1]
        beta1, beta2, eps = f(hp[0]), f(hp[1]), f(hp[2])
        c1, c2 = f(1.0 - hp[0] ** t), f(1.0 - hp[1] ** t)
        for i in range(i0, i1):
            theta[i], m[i], v[i] = adam_step(theta[i], grad[i], m[i], v[i], eta, beta1, beta2, eps, c1, c2)
    else:  # RPROP
        step, g_prev = state[0], state[1]
        up, down, lo, hi, s = f(hp[0]), f(hp[1]), f(hp[2]), f(hp[3]), f(scale)
        for i in range(i0, i1):
            theta[i], step[i], g_prev[i] = rprop_step(theta[i], grad[i], step[i], g_prev[i], s, up, down, lo, hi)


@njit(**KERNEL)
def apply_update(code, hp, theta, grad, state, layout, layer_scale, weight_decay, eta, mu, nesterov, t):
    """One update of theta from grad (the mean gradient), the t-th of this optimizer (t >= 1).

    L2 decay adds weight_decay * W to the gradient of the weights W (not b, not slopes).
    Layer l moves at eta * layer_scale[l] (LeCun's per-layer rates; Rprop scales its steps).
    """
    L = layout.shape[0]
    for l in range(L):
        w0, b0 = layout[l, W_OFF], layout[l, B_OFF]
        end = layout[l + 1, W_OFF] if l + 1 < L else theta.size
        if weight_decay != 0.0:
            for i in range(w0, b0):
                grad[i] += weight_decay * theta[i]
        _update_range(code, hp, theta, grad, state, w0, end, eta * layer_scale[l], mu, nesterov, t, layer_scale[l])
