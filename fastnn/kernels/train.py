"""Epoch-level kernels: a whole epoch of training, prediction and the full-batch gradient.

A batch is processed in chunks of at most ``chunk`` examples (bounded scratch memory even in
full-batch mode); the gradient of the chunks is summed into ``out`` before the update. In
"fused" mode (plain SGD, one chunk per batch) ``out`` is theta itself and the scale is
-lr / batch, so backpropagation applies the update as it goes.
"""
import numpy as np
from numba import njit, prange

from .activations import PRELU, activate, activation_backward
from .dense import add_bias_grad, add_partial_sums, add_weight_grad, affine_forward, backprop_input, partial_weight_grad
from .layout import ACT, ALPHA_OFF, B_OFF, FAN_IN, FAN_OUT, UNIT_OFF, W_OFF
from .losses import MSE, output_delta
from .options import KERNEL


@njit(**KERNEL, inline="always")
def layer_params(theta, layout, l):
    """Views of layer l's W (fan_in, fan_out), b and PReLU slopes (empty if none) in theta."""
    fan_in, fan_out = layout[l, FAN_IN], layout[l, FAN_OUT]
    w0, b0, a0 = layout[l, W_OFF], layout[l, B_OFF], layout[l, ALPHA_OFF]
    W = theta[w0 : w0 + fan_in * fan_out].reshape(fan_in, fan_out)
    b = theta[b0 : b0 + fan_out]
    alpha = theta[a0 : a0 + fan_out] if a0 >= 0 else theta[0:0]
    return W, b, alpha


@njit(**KERNEL, inline="always")
def _units(buf, layout, l, c, chunk):
    """Layer l's (c, fan_out) block of a per-unit scratch buffer laid out for ``chunk`` rows."""
    off = chunk * layout[l, UNIT_OFF]
    m = layout[l, FAN_OUT]
    return buf[off : off + c * m].reshape(c, m)


@njit(**KERNEL)
def _workspace(theta, layout, n_in, chunk, use_blas, n_parts):
    """Scratch for one chunk: inputs, net inputs Z, outputs A, deltas dZ, and per thread a
    block of BLAS dW products and a non-zero index list."""
    L = layout.shape[0]
    units = layout[L - 1, UNIT_OFF] + layout[L - 1, FAN_OUT]
    tmp_size = 0
    max_fan_in = 0
    for l in range(L):
        max_fan_in = max(max_fan_in, layout[l, FAN_IN])
        if use_blas[l]:
            tmp_size = max(tmp_size, layout[l, FAN_IN] * layout[l, FAN_OUT])
    tmp_size *= n_parts  # one block of partial BLAS products per thread
    X0 = np.empty(chunk * n_in, theta.dtype)
    Zb = np.empty(chunk * units, theta.dtype)
    Ab = np.empty(chunk * units, theta.dtype)
    dZb = np.empty(chunk * units, theta.dtype)
    tmp = np.empty(tmp_size, theta.dtype)
    nz = np.empty((n_parts, max_fan_in), np.int64)
    return X0, Zb, Ab, dZb, tmp, nz


# Multi-threading: a chunk's rows (forward pass, deltas) or a layer's input rows k (dW) are
# split into n_parts contiguous parts, one prange iteration each. With n_parts == 1 the same
# calls run on the whole chunk without entering a parallel region, which would cost about
# 1.5 us: too much per example in online learning. Only prange is parallelised: no array
# expression in these functions turns into a hidden parallel loop.
_PARALLEL = {"prange": True, "comprehension": False, "setitem": False, "reduction": False, "numpy": False,
             "stencil": False, "fusion": False, "inplace_binop": False}


@njit(**KERNEL, inline="always")
def _part(t, n_parts, n):
    """Bounds [lo, hi) of part t of range(n) cut into n_parts near-equal parts."""
    return t * n // n_parts, (t + 1) * n // n_parts


@njit(**KERNEL)
def _gather(X, rows, A_in):
    for r in range(rows.size):
        A_in[r, :] = X[rows[r]]  # gather: the data itself is never permuted


@njit(**KERNEL, parallel=_PARALLEL)
def forward_chunk(theta, layout, act_params, use_blas, X, rows, train, key, X0, Zb, Ab, nz, chunk, n_parts):
    """Forward pass of examples X[rows] into Zb / Ab; returns (inputs, outputs) views."""
    c = rows.size
    n_in = X.shape[1]
    A_in = X0[: c * n_in].reshape(c, n_in)
    _gather(X, rows, A_in)
    A = A_in
    for l in range(layout.shape[0]):
        W, b, alpha = layer_params(theta, layout, l)
        Z = _units(Zb, layout, l, c, chunk)
        A_next = _units(Ab, layout, l, c, chunk)
        code, p1, p2 = layout[l, ACT], act_params[l, 0], act_params[l, 1]
        if n_parts == 1:
            affine_forward(A, W, b, Z, use_blas[l] != 0, nz[0])
        else:
            for t in prange(n_parts):
                r0, r1 = _part(t, n_parts, c)
                affine_forward(A[r0:r1], W, b, Z[r0:r1], use_blas[l] != 0, nz[t])
        if n_parts == 1:
            activate(Z, A_next, code, p1, p2, alpha, train, key, l, rows)
        else:
            for t in prange(n_parts):
                r0, r1 = _part(t, n_parts, c)
                activate(Z[r0:r1], A_next[r0:r1], code, p1, p2, alpha, train, key, l, rows[r0:r1])
        A = A_next
    return A_in, A


@njit(**KERNEL, parallel=_PARALLEL)
def _activation_backward_parts(dZ, Z, A, code, p1, p2, alpha, dalpha, scale, train, key, layer, rows, n_parts):
    """activation_backward over row parts; PReLU sums its slope gradient over all rows: one part."""
    if n_parts == 1 or code == PRELU:
        activation_backward(dZ, Z, A, code, p1, p2, alpha, dalpha, scale, train, key, layer, rows)
    else:
        c = rows.size
        for t in prange(n_parts):
            r0, r1 = _part(t, n_parts, c)
            activation_backward(dZ[r0:r1], Z[r0:r1], A[r0:r1], code, p1, p2, alpha, dalpha, scale, train, key,
                                layer, rows[r0:r1])


@njit(**KERNEL, parallel=_PARALLEL)
def _backward_chunk(theta, out, scale, layout, act_params, use_blas, train, key, rows, A_in, Zb, Ab, dZb, tmp, nz,
                    chunk, n_parts):
    """Backpropagate the output deltas in dZb; out += scale * gradient (W before it moves)."""
    c = rows.size
    for l in range(layout.shape[0] - 1, -1, -1):
        W, _, _ = layer_params(theta, layout, l)
        dW, db, _ = layer_params(out, layout, l)
        dZ = _units(dZb, layout, l, c, chunk)
        blas = use_blas[l] != 0
        if l > 0:
            dA = _units(dZb, layout, l - 1, c, chunk)
            if n_parts == 1:
                backprop_input(dZ, W, dA, blas)
            else:
                for t in prange(n_parts):
                    r0, r1 = _part(t, n_parts, c)
                    backprop_input(dZ[r0:r1], W, dA[r0:r1], blas)
            _, _, alpha = layer_params(theta, layout, l - 1)
            _, _, dalpha = layer_params(out, layout, l - 1)
            code = layout[l - 1, ACT]
            Zp, Ap = _units(Zb, layout, l - 1, c, chunk), _units(Ab, layout, l - 1, c, chunk)
            p1, p2 = act_params[l - 1, 0], act_params[l - 1, 1]
            _activation_backward_parts(dA, Zp, Ap, code, p1, p2, alpha, dalpha, scale, train, key, l - 1, rows, n_parts)
            A_prev = Ap
        else:
            A_prev = A_in
        add_bias_grad(dZ, db, scale)
        _add_weight_grad_parts(A_prev, dZ, dW, scale, blas, tmp, nz, n_parts)


@njit(**KERNEL, parallel=_PARALLEL)
def _add_weight_grad_parts(A, dZ, dW, scale, blas, tmp, nz, n_parts):
    """dW += scale * A.T @ dZ. Row loops: each thread owns rows k of dW. BLAS: each thread
    multiplies its rows r of the chunk into its own block of tmp, then the blocks are summed."""
    fan_in = A.shape[1]
    if not blas:
        if n_parts == 1:
            add_weight_grad(A, dZ, dW, scale, nz[0], 0, fan_in)
        else:
            for t in prange(n_parts):
                k0, k1 = _part(t, n_parts, fan_in)
                add_weight_grad(A, dZ, dW, scale, nz[t], k0, k1)
        return
    if n_parts == 1:
        partial_weight_grad(A, dZ, tmp, 0)
        add_partial_sums(tmp, 1, dW, scale, 0, fan_in)
        return
    c = A.shape[0]
    for t in prange(n_parts):
        r0, r1 = _part(t, n_parts, c)
        partial_weight_grad(A[r0:r1], dZ[r0:r1], tmp, t)
    for t in prange(n_parts):
        k0, k1 = _part(t, n_parts, fan_in)
        add_partial_sums(tmp, n_parts, dW, scale, k0, k1)


@njit(**KERNEL, parallel=_PARALLEL)
def _output_delta_parts(Z, A, T, rows, loss_code, code, dZ, n_parts):
    if n_parts == 1:
        return output_delta(Z, A, T, rows, loss_code, code, dZ)
    total = 0.0
    c = rows.size
    for t in prange(n_parts):
        r0, r1 = _part(t, n_parts, c)
        total += output_delta(Z[r0:r1], A[r0:r1], T, rows[r0:r1], loss_code, code, dZ[r0:r1])
    return total


@njit(**KERNEL)
def batch_pass(theta, out, scale, layout, act_params, use_blas, X, T, rows, loss_code, train, key, ws, chunk, n_parts):
    """out += scale * gradient of the summed loss over X[rows]; returns the summed loss."""
    X0, Zb, Ab, dZb, tmp, nz = ws
    L = layout.shape[0]
    total = 0.0
    for c0 in range(0, rows.size, chunk):
        r = rows[c0 : c0 + chunk]
        A_in, A = forward_chunk(theta, layout, act_params, use_blas, X, r, train, key, X0, Zb, Ab, nz, chunk, n_parts)
        Z = _units(Zb, layout, L - 1, r.size, chunk)
        dZ = _units(dZb, layout, L - 1, r.size, chunk)
        code = layout[L - 1, ACT]
        total += _output_delta_parts(Z, A, T, r, loss_code, code, dZ, n_parts)
        if loss_code == MSE:
            _, _, alpha = layer_params(theta, layout, L - 1)
            _, _, dalpha = layer_params(out, layout, L - 1)
            p1, p2 = act_params[L - 1, 0], act_params[L - 1, 1]
            _activation_backward_parts(dZ, Z, A, code, p1, p2, alpha, dalpha, scale, train, key, L - 1, r, n_parts)
        _backward_chunk(theta, out, scale, layout, act_params, use_blas, train, key, r, A_in, Zb, Ab, dZb, tmp, nz,
                        chunk, n_parts)
    return total


@njit(**KERNEL)
def sgd_update(theta, grad, velocity, layout, lr, momentum, nesterov, weight_decay):
    """SGD step with L2 decay on the weights W (not b, not slopes) and (Nesterov) momentum.

    v <- mu v - lr g;  theta <- theta + v, or theta + mu v - lr g with Nesterov
    (Sutskever et al. 2013, the form that needs no look-ahead evaluation).
    """
    if weight_decay != 0.0:
        for l in range(layout.shape[0]):
            w0 = layout[l, W_OFF]
            for i in range(w0, w0 + layout[l, FAN_IN] * layout[l, FAN_OUT]):
                grad[i] += weight_decay * theta[i]
    eta = theta.dtype.type(lr)
    mu = theta.dtype.type(momentum)
    if momentum == 0.0:
        for i in range(theta.size):
            theta[i] -= eta * grad[i]
        return
    for i in range(theta.size):
        v = mu * velocity[i] - eta * grad[i]
        velocity[i] = v
        theta[i] += mu * v - eta * grad[i] if nesterov else v


@njit(**KERNEL)
def train_epoch(theta, grad, velocity, layout, act_params, use_blas, X, T, order, batch_size, chunk, n_parts,
                lr, momentum, nesterov, weight_decay, loss_code, fused, key):
    """One epoch over X[order] in batches of ``batch_size``; lr[step] is the rate of each step.

    Returns (summed loss of the examples seen, number of steps). Stops early, with a
    non-finite loss, as soon as the loss overflows: the caller restores the weights.
    """
    ws = _workspace(theta, layout, X.shape[1], chunk, use_blas, n_parts)
    total = 0.0
    step = 0
    for start in range(0, order.size, batch_size):
        rows = order[start : start + batch_size]
        if fused:
            scale = -lr[step] / rows.size
            total += batch_pass(theta, theta, scale, layout, act_params, use_blas, X, T, rows, loss_code, True, key, ws, chunk, n_parts)
        else:
            grad[:] = 0.0
            total += batch_pass(theta, grad, 1.0 / rows.size, layout, act_params, use_blas, X, T, rows, loss_code, True, key, ws, chunk, n_parts)
            sgd_update(theta, grad, velocity, layout, lr[step], momentum, nesterov, weight_decay)
        step += 1
        if not np.isfinite(total):
            break
    return total, step


@njit(**KERNEL)
def loss_and_grad(theta, grad, layout, act_params, use_blas, X, T, loss_code, train, key, chunk, n_parts):
    """Mean loss over X and its gradient, written into grad (no update)."""
    ws = _workspace(theta, layout, X.shape[1], chunk, use_blas, n_parts)
    rows = np.arange(X.shape[0])
    grad[:] = 0.0
    n = X.shape[0]
    total = batch_pass(theta, grad, 1.0 / n, layout, act_params, use_blas, X, T, rows, loss_code, train, key, ws, chunk, n_parts)
    return total / n


@njit(**KERNEL)
def forward(theta, layout, act_params, use_blas, X, T, loss_code, chunk, n_parts, out):
    """Inference outputs of every row of X into out (n, n_outputs).

    Returns the summed loss against T, or 0.0 when T has no rows (prediction only).
    """
    ws = _workspace(theta, layout, X.shape[1], chunk, use_blas, n_parts)
    X0, Zb, Ab, dZb, _, nz = ws
    L = layout.shape[0]
    n = X.shape[0]
    rows = np.arange(n)
    total = 0.0
    for c0 in range(0, n, chunk):
        r = rows[c0 : c0 + chunk]
        _, A = forward_chunk(theta, layout, act_params, use_blas, X, r, False, np.uint64(0), X0, Zb, Ab, nz, chunk, n_parts)
        out[c0 : c0 + r.size] = A
        if T.shape[0] > 0:
            Z = _units(Zb, layout, L - 1, r.size, chunk)
            dZ = _units(dZb, layout, L - 1, r.size, chunk)
            total += _output_delta_parts(Z, A, T, r, loss_code, layout[L - 1, ACT], dZ, n_parts)
    return total
