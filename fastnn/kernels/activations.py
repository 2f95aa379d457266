"""Scalar activation formulas and their per-layer loops.

Each formula lives once, in ``act_forward`` / ``act_grad``, as plain scalar code that
Numba can also compile for the GPU. PReLU and RReLU are leaky ReLUs whose slope the
caller supplies per unit (PReLU: a learned parameter) or per unit and example
(RReLU while training: a counter-based random draw, see ``uniform_hash``).
"""
import math

import numpy as np
from numba import njit

from .mathfn import fast_exp, fast_tanh
from .options import KERNEL

# Int codes; fastnn.activations maps names to these. Never renumber: saved models store names,
# but cached kernels and the CUDA twins compare against these values.
LINEAR = 0
LOGISTIC = 1
TANH = 2
LECUN_TANH = 3
TANH_LINEAR = 4
RELU = 5
LEAKY_RELU = 6
RRELU = 7
PRELU = 8
ELU = 9
SELU = 10
SOFTMAX = 11

LECUN_A = 1.7159  # LeCun et al. 1998, "Efficient BackProp", section 4.4: f(x) = 1.7159 tanh(2x/3)
LECUN_S = 2.0 / 3.0
SELU_LAMBDA = 1.0507009873554805  # Klambauer et al. 2017, eq. 2
SELU_ALPHA = 1.6732632423543772


# One scalar function per formula. act_forward / act_grad dispatch on the code (one call
# per element, as a GPU thread would); the layer loops below call the hot ones directly, so
# the compiler sees straight-line arithmetic it can vectorise.


@njit(**KERNEL)
def logistic(z):
    return 1.0 / (1.0 + fast_exp(-z))  # fast_exp clamps: no overflow for very negative z


@njit(**KERNEL)
def lecun_tanh(z):
    return LECUN_A * fast_tanh(LECUN_S * z)


@njit(**KERNEL)
def relu(z):
    return z if z > 0.0 else 0.0 * z


@njit(**KERNEL)
def d_logistic(y):
    return y * (1.0 - y)


@njit(**KERNEL)
def d_tanh(y):
    return 1.0 - y * y


@njit(**KERNEL)
def d_lecun_tanh(y):
    t = y / LECUN_A
    return LECUN_A * LECUN_S * (1.0 - t * t)


@njit(**KERNEL)
def d_relu(z):
    return 1.0 if z > 0.0 else 0.0


@njit(**KERNEL)
def act_forward(code, z, p1):
    """f(z) for activation ``code``; p1 is the leaky slope, tanh_linear's a or ELU's alpha."""
    if code == LOGISTIC:
        return logistic(z)
    if code == TANH:
        return fast_tanh(z)
    if code == LECUN_TANH:
        return lecun_tanh(z)
    if code == TANH_LINEAR:
        return fast_tanh(z) + p1 * z
    if code == RELU:
        return relu(z)
    if code == LEAKY_RELU or code == RRELU or code == PRELU:
        return z if z > 0.0 else p1 * z
    if code == ELU:
        return z if z > 0.0 else p1 * math.expm1(z)
    if code == SELU:
        return SELU_LAMBDA * z if z > 0.0 else SELU_LAMBDA * SELU_ALPHA * math.expm1(z)
    return z


@njit(**KERNEL)
def act_grad(code, z, y, p1):
    """f'(z) given the net input z and the output y = f(z) (reused where it is cheaper)."""
    if code == LOGISTIC:
        return d_logistic(y)
    if code == TANH:
        return d_tanh(y)
    if code == LECUN_TANH:
        return d_lecun_tanh(y)
    if code == TANH_LINEAR:
        t = fast_tanh(z)
        return 1.0 - t * t + p1
    if code == RELU:
        return d_relu(z)
    if code == LEAKY_RELU or code == RRELU or code == PRELU:
        return 1.0 if z > 0.0 else p1
    if code == ELU:
        return 1.0 if z > 0.0 else y + p1
    if code == SELU:
        return SELU_LAMBDA if z > 0.0 else y + SELU_LAMBDA * SELU_ALPHA
    return 1.0


@njit(**KERNEL)
def uniform_hash(key, layer, row, unit):
    """A uniform number in [0, 1) that depends only on its four integer arguments.

    Counter-based (SplitMix64 finaliser, Steele et al. 2014), so the forward and backward pass
    draw the same RReLU slope without storing it, and a GPU thread can draw it too.
    """
    x = np.uint64(key)
    x ^= np.uint64(layer) * np.uint64(0x9E3779B97F4A7C15)
    x ^= np.uint64(row) * np.uint64(0xBF58476D1CE4E5B9)
    x += np.uint64(unit) * np.uint64(0x94D049BB133111EB)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(**KERNEL)
def unit_slope(code, p1, p2, alpha, j, train, key, layer, row):
    """The per-unit parameter handed to act_forward / act_grad for unit j of one example."""
    if code == PRELU:
        return alpha[j]
    if code == RRELU:
        if train:
            return p1 + (p2 - p1) * uniform_hash(key, layer, row, j)
        return 0.5 * (p1 + p2)  # inference uses the mean slope (Xu et al. 2015)
    return p1


@njit(**KERNEL)
def softmax_units(z, a, u0, m):
    """a[u0:u0 + m] = softmax(z[u0:u0 + m]) (one example's output layer, flat buffers)."""
    u0, m = np.uint64(u0), np.uint64(m)
    zmax = z[u0]
    for j in range(m):
        zmax = max(zmax, z[u0 + j])
    s = 0.0
    for j in range(m):
        # Shifting by the row maximum keeps exp() from overflowing.
        e = fast_exp(z[u0 + j] - zmax)
        a[u0 + j] = e
        s += e
    for j in range(m):
        a[u0 + j] /= s


@njit(**KERNEL)
def activate_units(z, a, u0, m, code, p1, p2, alpha, train, key, layer, row):
    """a[u0:u0 + m] = f(z[u0:u0 + m]): one example's layer of m units in flat buffers (offsets
    unsigned, so the loops vectorise); ``row`` is the example's index (RReLU draws)."""
    if code == SOFTMAX:
        softmax_units(z, a, u0, m)
        return
    u0, m = np.uint64(u0), np.uint64(m)
    # The common activations get loops of their own (vectorised); the rest go element by element.
    if code == TANH:
        for j in range(m):
            a[u0 + j] = fast_tanh(z[u0 + j])
    elif code == LECUN_TANH:
        for j in range(m):
            a[u0 + j] = lecun_tanh(z[u0 + j])
    elif code == LOGISTIC:
        for j in range(m):
            a[u0 + j] = logistic(z[u0 + j])
    elif code == RELU:
        for j in range(m):
            a[u0 + j] = relu(z[u0 + j])
    else:
        per_unit = code == PRELU or code == RRELU
        for j in range(m):
            p = unit_slope(code, p1, p2, alpha, j, train, key, layer, row) if per_unit else p1
            a[u0 + j] = act_forward(code, z[u0 + j], p)


@njit(**KERNEL)
def activate(Z, A, code, p1, p2, alpha, train, key, layer, rows):
    """A = f(Z) row by row (softmax over each row); rows[b] is example b's index (RReLU draws)."""
    B, m = Z.shape
    Z_, A_ = Z.reshape(Z.size), A.reshape(A.size)  # flat views, once per call
    for b in range(B):
        activate_units(Z_, A_, b * m, m, code, p1, p2, alpha, train, key, layer, rows[b])


@njit(**KERNEL)
def prelu_backward_column(dZ, Z, alpha, dalpha, scale, j):
    """PReLU unit j: dZ[:, j] *= f'(Z[:, j]) and dalpha[j] += scale * dL/dalpha[j]. A column at a
    time, so that dalpha may alias alpha (fused SGD updates theta in place): dZ uses the old
    slope before the slope moves."""
    g = 0.0
    for b in range(Z.shape[0]):
        if Z[b, j] <= 0.0:
            g += dZ[b, j] * Z[b, j]
            dZ[b, j] *= alpha[j]
    dalpha[j] += scale * g


@njit(**KERNEL)
def activation_backward_units(dz, z, a, u0, m, code, p1, p2, alpha, train, key, layer, row):
    """dz[u0:u0 + m] *= f'(z[u0:u0 + m]) for one example's layer (flat buffers, as
    activate_units); every activation but PReLU, whose slopes also get a gradient."""
    u0, m = np.uint64(u0), np.uint64(m)
    if code == TANH:
        for j in range(m):
            dz[u0 + j] *= d_tanh(a[u0 + j])
    elif code == LECUN_TANH:
        for j in range(m):
            dz[u0 + j] *= d_lecun_tanh(a[u0 + j])
    elif code == LOGISTIC:
        for j in range(m):
            dz[u0 + j] *= d_logistic(a[u0 + j])
    elif code == RELU:
        for j in range(m):
            dz[u0 + j] *= d_relu(z[u0 + j])
    else:
        per_unit = code == RRELU
        for j in range(m):
            p = unit_slope(code, p1, p2, alpha, j, train, key, layer, row) if per_unit else p1
            dz[u0 + j] *= act_grad(code, z[u0 + j], a[u0 + j], p)


@njit(**KERNEL)
def activation_backward(dZ, Z, A, code, p1, p2, alpha, dalpha, scale, train, key, layer, rows):
    """dZ *= f'(Z) in place (dZ holds dL/dA on entry); PReLU: dalpha += scale * dL/dalpha."""
    B, m = Z.shape
    if code == PRELU:
        for j in range(m):
            prelu_backward_column(dZ, Z, alpha, dalpha, scale, j)
        return
    dZ_, Z_, A_ = dZ.reshape(dZ.size), Z.reshape(Z.size), A.reshape(A.size)
    for b in range(B):
        activation_backward_units(dZ_, Z_, A_, b * m, m, code, p1, p2, alpha, train, key, layer, rows[b])
