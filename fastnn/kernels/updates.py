"""Update rules over the flat parameter vector: SGD, delta-bar-delta, RMSprop, Adam, Rprop.

Each rule is one scalar function of (weight, gradient, state...) returning the new values, so
the formula is written once for the CPU loops here and the CUDA kernels (one thread per
weight). A rule's state is ``state[0:n_state]``, rows of the length of theta (velocity,
gains, moments, step sizes). ``hp`` holds the rule's hyper-parameters in the order its
:mod:`fastnn.optimizers` class documents.
"""
import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .layout import B_OFF, W_OFF
from .options import KERNEL

SGD, DELTA_BAR_DELTA, RMSPROP, ADAM, RPROP = 0, 1, 2, 3, 4


class Rule(NamedTuple):
    """An update rule as the kernels read it: its code, its hyper-parameters (float64, in the
    order the :mod:`fastnn.optimizers` class documents; SGD's is Nesterov's flag, 1.0 or 0.0),
    the L2 decay of the weights W and each layer's rate factor (LeCun's per-layer rates)."""
    code: int
    hp: np.ndarray
    weight_decay: float
    layer_scale: np.ndarray


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

    SGD (eta, mu, 1 if Nesterov else 0); delta-bar-delta (eta, kappa, phi, smoothing, 1 - smoothing, gain_min,
    gain_max); RMSprop (eta, rho, 1 - rho, eps); Adam (eta_t, beta1, 1 - beta1, beta2,
    1 - beta2, eps_t); Rprop (scale, eta_plus, eta_minus, step_min, step_max).
    """
    z = f(0.0)
    if code == SGD:
        return f(eta), f(mu), f(hp[0]), z, z, z, z
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
def rule_step(code, w, g, s0, s1, c):
    """One step of rule ``code`` on one weight: (w, s0, s1) from the gradient g, the state and
    the coefficients c of rule_coefficients. The GPU's thread per weight; the CPU loops call
    the step functions directly (a loop per rule vectorises)."""
    if code == SGD:
        w, s0 = sgd_step(w, g, s0, c[0], c[1], c[2] != 0)
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
def layer_end(layout, l, size):
    """End of layer l's parameters in theta: where the next layer's W starts."""
    return layout[l + 1, W_OFF] if l + 1 < layout.shape[0] else size


@njit(**KERNEL, inline="always")
def update_slice(code, hp, theta, grad, s0, s1, eta, mu, t, scale):
    """Apply rule ``code`` to the 1-D slice theta, with its gradient and state rows s0, s1
    (rules with one state row ignore s1).

    One loop per rule so each loop vectorises. The loops run from 0 over contiguous 1-D
    slices: a loop over range(i0, i1) keeps Numba's negative-index fix-up and a slice
    state[:, i0:i1] is non-contiguous; either stops LLVM from vectorising (5-10x slower).
    """
    c = rule_coefficients(code, hp, eta, mu, t, scale, theta.dtype.type)
    n = theta.size
    if code == SGD:
        nesterov = c[2] != 0
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
def update_range(code, hp, theta, grad, state, i0, i1, eta, mu, t, scale):
    """update_slice on theta[i0:i1] and the same entries of grad and the state rows."""
    s1 = state.shape[0] - 1
    update_slice(code, hp, theta[i0:i1], grad[i0:i1], state[0, i0:i1], state[s1, i0:i1], eta, mu, t, scale)


@njit(**KERNEL)
def apply_update(rule, theta, grad, state, layout, eta, mu, t):
    """One update of theta from grad (the mean gradient) by ``rule``, the t-th of this
    optimizer (t >= 1), at rate eta and momentum mu.

    L2 decay adds weight_decay * W to the gradient of the weights W (not b, not slopes).
    Layer l moves at eta * layer_scale[l] (LeCun's per-layer rates; Rprop scales its steps).
    """
    for l in range(layout.shape[0]):
        w0, b0 = layout[l, W_OFF], layout[l, B_OFF]
        end = layer_end(layout, l, theta.size)
        if rule.weight_decay != 0.0:
            gW, W = grad[w0:b0], theta[w0:b0]
            for i in range(gW.size):
                gW[i] += rule.weight_decay * W[i]
        scale = rule.layer_scale[l]
        update_range(rule.code, rule.hp, theta, grad, state, w0, end, eta * scale, mu, t, scale)
