"""Epoch-level kernels: a whole epoch of training, prediction and the full-batch gradient.

A batch is processed in chunks of at most ``chunk`` examples (bounded scratch memory even in
full-batch mode, except with batch norm, whose statistics need the whole batch in one chunk);
the gradient of the chunks is summed into ``out`` before the update. In
"fused" mode (plain SGD, one chunk per batch) ``out`` is theta itself and the scale of
layer l is -lr * layer_scale[l] / batch, so backpropagation applies the update as it goes.
"""
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from .activations import PRELU, activate, activation_backward
from .dense import add_bias_grad, add_partial_sums, affine_forward, backprop_input, partial_weight_grad, \
    sparse_affine, sparse_weight_grad, weight_grad_block
from .batchnorm import batch_norm_backward, batch_norm_forward, merge_moments, update_moving_averages
from .layout import ACT, ALPHA_OFF, B_OFF, BN_EPS, BN_MOMENTUM, FAN_IN, FAN_OUT, GAMMA_OFF, STAT_OFF, UNIT_OFF, W_OFF
from .losses import MSE, output_delta
from .options import KERNEL
from .updates import apply_update


@njit(**KERNEL, inline="always")
def layer_params(theta, layout, l):
    """Views of layer l's W (fan_in, fan_out), b (beta with batch norm), PReLU slopes and
    batch-norm gamma (the last two empty if absent) in theta."""
    fan_in, fan_out = layout[l, FAN_IN], layout[l, FAN_OUT]
    w0, b0, a0, g0 = layout[l, W_OFF], layout[l, B_OFF], layout[l, ALPHA_OFF], layout[l, GAMMA_OFF]
    W = theta[w0 : w0 + fan_in * fan_out].reshape(fan_in, fan_out)
    b = theta[b0 : b0 + fan_out]
    alpha = theta[a0 : a0 + fan_out] if a0 >= 0 else theta[0:0]
    gamma = theta[g0 : g0 + fan_out] if g0 >= 0 else theta[0:0]
    return W, b, alpha, gamma


@njit(**KERNEL, inline="always")
def _units(buf, layout, l, c, chunk):
    """Layer l's (c, fan_out) block of a per-unit scratch buffer laid out for ``chunk`` rows."""
    off = chunk * layout[l, UNIT_OFF]
    m = layout[l, FAN_OUT]
    return buf[off : off + c * m].reshape(c, m)


class Workspace(NamedTuple):
    """Scratch for one chunk of ``chunk`` rows, made once per fit (per call of the other
    kernels): the gathered inputs X0 (a BLAS first layer), the net inputs Z, outputs A and
    deltas dZ of every layer's units, per thread a block of BLAS dW products (tmp), one
    example's non-zero index list (nz: the online kernels), for each row-loop layer l the
    non-zero inputs of each row (lists[l, r, :counts[l, r]]) and the row numbers 0, 1, .. of
    its inputs (ident), and for batch norm x_hat (Xh), the batch statistics (bn) and the zero
    bias of its affine pass."""
    X0: np.ndarray
    lists: np.ndarray
    counts: np.ndarray
    ident: np.ndarray
    Z: np.ndarray
    A: np.ndarray
    dZ: np.ndarray
    tmp: np.ndarray
    nz: np.ndarray
    Xh: np.ndarray
    bn: np.ndarray
    zero_b: np.ndarray


@njit(**KERNEL)
def workspace(theta, layout, n_in, plan):
    """The Workspace of a pass planned by ``plan`` (fastnn._threads.Plan) over n_in inputs;
    the batch-norm parts are empty without batch norm."""
    chunk, use_blas, n_parts = plan.chunk, plan.use_blas, plan.n_parts
    L = layout.shape[0]
    units = layout[L - 1, UNIT_OFF] + layout[L - 1, FAN_OUT]
    tmp_size = 0
    max_fan_in = 0
    has_bn = False
    for l in range(L):
        max_fan_in = max(max_fan_in, layout[l, FAN_IN])
        has_bn = has_bn or layout[l, GAMMA_OFF] >= 0
        if use_blas[l]:
            tmp_size = max(tmp_size, layout[l, FAN_IN] * layout[l, FAN_OUT])
    tmp_size *= n_parts  # one block of partial BLAS products per thread
    f = theta.dtype
    # Row-loop layers come first (plans: none, the first or all): list planes 0..n_lists-1, as
    # wide as their largest fan-in. int32: half the memory of int64 (with batch norm a
    # full-batch chunk is the whole training set), and the online kernels' lists are int32 too.
    n_lists, list_width = 0, 0
    while n_lists < L and not use_blas[n_lists]:
        list_width = max(list_width, layout[n_lists, FAN_IN])
        n_lists += 1
    lists = np.empty((n_lists, chunk, list_width), np.int32)
    return Workspace(np.empty(chunk * n_in if use_blas[0] else 0, f), lists, np.empty((n_lists, chunk), np.int64),
                     np.arange(chunk), np.empty(chunk * units, f), np.empty(chunk * units, f),
                     np.empty(chunk * units, f), np.empty(tmp_size, f), np.empty(max_fan_in, np.int32),
                     np.empty(chunk * units if has_bn else 0, f), np.empty((3, units if has_bn else 0), np.float64),
                     np.zeros(units if has_bn else 0, f))


# Multi-threading: a chunk's rows (forward pass, deltas) or a layer's input rows k (dW) are
# split into n_parts contiguous parts, one prange iteration each. With n_parts == 1 the same
# calls run on the whole chunk without entering a parallel region, which would cost about
# 1.5 us: too much per example in online learning. Only prange is parallelised: no array
# expression in these functions turns into a hidden parallel loop.
_PARALLEL = {"prange": True, "comprehension": False, "setitem": False, "reduction": False, "numpy": False,
             "stencil": False, "fusion": False, "inplace_binop": False}


@njit(**KERNEL)
def runtime_bool(flag, n):
    """flag (n >= 0) typed as a run-time bool: a literal True or False argument would compile
    a second copy of every kernel it reaches (the forward pass in training and in inference)."""
    return n >= 0 and flag


@njit(**KERNEL, inline="always")
def _part(t, n_parts, n):
    """Bounds [lo, hi) of part t of range(n) cut into n_parts near-equal parts."""
    return t * n // n_parts, (t + 1) * n // n_parts


@njit(**KERNEL)
def param_views(theta, layout):
    """Per-layer views into theta: lists of W (fan_in, fan_out), b and PReLU slopes.

    Made once per kernel call, not per example: each view costs a reshape (a call into C) and
    two atomic reference counts; perf put those at about 30% of online learning on 64-32-10.
    """
    L = layout.shape[0]
    Ws = [layer_params(theta, layout, l)[0] for l in range(L)]
    bs = [layer_params(theta, layout, l)[1] for l in range(L)]
    alphas = [layer_params(theta, layout, l)[2] for l in range(L)]
    gammas = [layer_params(theta, layout, l)[3] for l in range(L)]
    return Ws, bs, alphas, gammas


@njit(**KERNEL)
def unit_views(ws, layout, c, chunk):
    """Views of the chunk scratch for its first c rows: the inputs, and per layer Z, A, dZ and
    x_hat (batch-norm layers; empty views for the others)."""
    X0, Zb, Ab, dZb, Xhb = ws.X0, ws.Z, ws.A, ws.dZ, ws.Xh
    L = layout.shape[0]
    n_in = layout[0, FAN_IN]
    A_in = X0[: c * n_in].reshape(c, n_in) if X0.size > 0 else X0.reshape(0, n_in)  # empty: X read in place
    Zs = [_units(Zb, layout, l, c, chunk) for l in range(L)]
    As = [_units(Ab, layout, l, c, chunk) for l in range(L)]
    Ds = [_units(dZb, layout, l, c, chunk) for l in range(L)]
    Xhs = [_units(Xhb, layout, l, c, chunk) if layout[l, GAMMA_OFF] >= 0 else Xhb[:0].reshape(0, layout[l, FAN_OUT])
           for l in range(L)]
    return A_in, Zs, As, Ds, Xhs


@njit(**KERNEL, parallel=_PARALLEL)
def _gather_parts(X, rows, A_in, n_parts):
    if n_parts == 1:
        _gather(X, rows, A_in)
    else:
        c = rows.size
        for t in prange(n_parts):
            r0, r1 = _part(t, n_parts, c)
            _gather(X, rows[r0:r1], A_in[r0:r1])


@njit(**KERNEL)
def _gather(X, rows, A_in):
    # Gather: the data itself is never permuted. A plain loop: slice assignment compiles slowly.
    for r in range(rows.size):
        for k in range(A_in.shape[1]):
            A_in[r, k] = X[rows[r], k]


@njit(**KERNEL)
def forward_chunk(params, units, layout, act_params, plan, X, rows, train, key, ws, stats):
    """Forward pass of examples X[rows] into the unit views (inputs, Z and A of every layer).

    A BLAS first layer gathers the rows; a row-loop one reads their non-zeros where they lie
    in X. Row-loop layers list each row's non-zeros in ws for the backward pass. Batch-norm
    layers normalise with the statistics of these rows (the whole batch); when ``stats`` is not
    empty (training) their moving averages take a step.
    """
    use_blas, n_parts, bn = plan.use_blas, plan.n_parts, ws.bn
    Ws, bs, alphas, gammas = params
    A_in, Zs, As, _, Xhs = units
    if use_blas[0]:
        _gather_parts(X, rows, A_in, n_parts)
    for l in range(layout.shape[0]):
        norm = layout[l, GAMMA_OFF] >= 0
        b = ws.zero_b[: layout[l, FAN_OUT]] if norm else bs[l]
        A, A_rows = _layer_input(A_in, As, X, rows, ws, use_blas, l)
        _affine_parts(A, A_rows, Ws[l], b, Zs[l], use_blas[l] != 0, ws.lists, ws.counts, l, n_parts)
        if norm:
            u0 = layout[l, UNIT_OFF]
            batch_norm_forward(Zs[l], Xhs[l], gammas[l], bs[l], act_params[l, BN_EPS], bn, u0)
            if stats.size > 0:
                update_moving_averages(stats, layout[l, STAT_OFF], bn, u0, layout[l, FAN_OUT],
                                       act_params[l, BN_MOMENTUM], rows.size)
        _activate_parts(Zs[l], As[l], layout[l, ACT], act_params[l, 0], act_params[l, 1], alphas[l], train, key, l,
                        rows, n_parts)


@njit(**KERNEL, inline="always")
def _layer_input(A_in, As, X, rows, ws, use_blas, l):
    """Layer l's inputs as (array, rows of it): the gathered batch (a BLAS first layer), the
    data itself (a row-loop first layer) or the layer below's outputs."""
    if l > 0:
        return As[l - 1], ws.ident[: rows.size]
    return (A_in, ws.ident[: rows.size]) if use_blas[0] else (X, rows)


@njit(**KERNEL, parallel=_PARALLEL)
def _affine_parts(A, rows, W, b, Z, blas, lists, counts, l, n_parts):
    """Z = A[rows] @ W + b over row parts: by BLAS (A holds exactly these rows), or by row
    loops over each row's non-zeros, listed in lists[l] / counts[l]."""
    if n_parts == 1:
        _affine_part(A, rows, W, b, Z, blas, lists, counts, l, np.int64(0), rows.size)
    else:
        for t in prange(n_parts):
            r0, r1 = _part(t, n_parts, rows.size)
            _affine_part(A, rows, W, b, Z, blas, lists, counts, l, r0, r1)


@njit(**KERNEL, inline="always")
def _affine_part(A, rows, W, b, Z, blas, lists, counts, l, r0, r1):
    if blas:
        affine_forward(A[r0:r1], W, b, Z[r0:r1])
    else:  # a row-loop layer: it has a list plane (BLAS layers have none)
        sparse_affine(A, rows[r0:r1], W, b, Z[r0:r1], lists[l, r0:r1], counts[l, r0:r1])


@njit(**KERNEL, parallel=_PARALLEL)
def _activate_parts(Z, A, code, p1, p2, alpha, train, key, layer, rows, n_parts):
    if n_parts == 1:
        activate(Z, A, code, p1, p2, alpha, train, key, layer, rows)
    else:
        c = Z.shape[0]
        for t in prange(n_parts):
            r0, r1 = _part(t, n_parts, c)
            activate(Z[r0:r1], A[r0:r1], code, p1, p2, alpha, train, key, layer, rows[r0:r1])


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
def _backprop_input_parts(dZ, W, dA, blas, n_parts):
    if n_parts == 1:
        backprop_input(dZ, W, dA, blas)
    else:
        c = dZ.shape[0]
        for t in prange(n_parts):
            r0, r1 = _part(t, n_parts, c)
            backprop_input(dZ[r0:r1], W, dA[r0:r1], blas)


@njit(**KERNEL)
def _backward_chunk(params, grads, scales, units, layout, act_params, plan, X, rows, train, key, ws):
    """Backpropagate the output deltas; grads of layer l += scales[l] * its gradient (each W is
    used before it moves)."""
    use_blas, n_parts, bn = plan.use_blas, plan.n_parts, ws.bn
    Ws, _, alphas, gammas = params
    dWs, dbs, dalphas, dgammas = grads
    A_in, Zs, As, Ds, Xhs = units
    for l in range(layout.shape[0] - 1, -1, -1):
        blas = use_blas[l] != 0
        norm = layout[l, GAMMA_OFF] >= 0
        if norm:  # Ds[l] becomes dL/d(x W); dbeta and dgamma from the values before
            batch_norm_backward(Ds[l], Xhs[l], gammas[l], bn, layout[l, UNIT_OFF], dgammas[l], dbs[l], scales[l])
        if l > 0:
            _backprop_input_parts(Ds[l], Ws[l], Ds[l - 1], blas, n_parts)
            p1, p2 = act_params[l - 1, 0], act_params[l - 1, 1]
            _activation_backward_parts(Ds[l - 1], Zs[l - 1], As[l - 1], layout[l - 1, ACT], p1, p2, alphas[l - 1],
                                       dalphas[l - 1], scales[l - 1], train, key, l - 1, rows, n_parts)
        if not norm:
            add_bias_grad(Ds[l], dbs[l], scales[l])
        A, A_rows = _layer_input(A_in, As, X, rows, ws, use_blas, l)
        _add_weight_grad_parts(A, A_rows, Ds[l], dWs[l], scales[l], blas, ws.tmp, ws.lists, ws.counts, l, n_parts)


@njit(**KERNEL, parallel=_PARALLEL)
def _add_weight_grad_parts(A, rows, dZ, dW, scale, blas, tmp, lists, counts, l, n_parts):
    """dW += scale * A[rows].T @ dZ. Row loops: each thread owns rows k of dW and walks the
    non-zeros that the forward pass listed in lists[l]. BLAS (A holds exactly these rows): each
    thread multiplies its rows r of the chunk into its own block of tmp, then the blocks are summed."""
    fan_in, fan_out = dW.shape
    if not blas:
        if n_parts == 1:
            sparse_weight_grad(A, rows, lists[l], counts[l], dZ, dW, scale, np.int64(0), fan_in)
        else:
            for t in prange(n_parts):
                k0, k1 = _part(t, n_parts, fan_in)
                sparse_weight_grad(A, rows, lists[l], counts[l], dZ, dW, scale, k0, k1)
        return
    if n_parts == 1:
        partial_weight_grad(A, dZ, weight_grad_block(tmp, np.int64(0), fan_in, fan_out))
        add_partial_sums(tmp, n_parts, dW, scale, *_part(0, n_parts, fan_in))
        return
    c = A.shape[0]
    for t in prange(n_parts):
        r0, r1 = _part(t, n_parts, c)
        partial_weight_grad(A[r0:r1], dZ[r0:r1], weight_grad_block(tmp, np.int64(t), fan_in, fan_out))
    for t in prange(n_parts):
        k0, k1 = _part(t, n_parts, fan_in)
        add_partial_sums(tmp, n_parts, dW, scale, k0, k1)


@njit(**KERNEL, parallel=_PARALLEL)
def _output_delta_parts(Z, A, T, rows, loss_code, code, dZ, n_parts, errors):
    if n_parts == 1:
        return output_delta(Z, A, T, rows, loss_code, code, dZ, errors)
    total = 0.0
    c = rows.size
    for t in prange(n_parts):
        r0, r1 = _part(t, n_parts, c)
        total += output_delta(Z[r0:r1], A[r0:r1], T, rows[r0:r1], loss_code, code, dZ[r0:r1], errors)
    return total


@njit(**KERNEL)
def _chunk_units(ws, full, layout, c, chunk):
    """The unit views for a chunk of c rows: the prepared views if they have c rows."""
    return full if c == full[0].shape[0] else unit_views(ws, layout, c, chunk)


@njit(**KERNEL)
def batch_end(start, n, batch_size, merge_single):
    """End of the batch that starts at ``start``; with merge_single a last batch of one
    example joins this one (batch norm needs two examples for a variance)."""
    end = min(start + batch_size, n)
    return n if merge_single and n - end == 1 else end


@njit(**KERNEL)
def batch_pass(params, grads, scales, layout, act_params, X, T, rows, loss_code, train, key, ws, full, plan, stats,
               errors):
    """grads of layer l += scales[l] * gradient of the summed loss over X[rows]; returns the summed loss.

    ``full``: unit_views for a whole chunk, prepared once by the caller. ``stats``: the
    moving batch-norm statistics to update, or empty. ``errors``: per-example losses to
    record, or empty.
    """
    chunk, n_parts = plan.chunk, plan.n_parts
    L = layout.shape[0]
    code = layout[L - 1, ACT]
    total = 0.0
    for c0 in range(0, rows.size, chunk):
        r = rows[c0 : c0 + chunk]
        units = _chunk_units(ws, full, layout, r.size, chunk)
        forward_chunk(params, units, layout, act_params, plan, X, r, train, key, ws, stats)
        Z, A, dZ = units[1][L - 1], units[2][L - 1], units[3][L - 1]
        total += _output_delta_parts(Z, A, T, r, loss_code, code, dZ, n_parts, errors)
        if loss_code == MSE:
            _activation_backward_parts(dZ, Z, A, code, act_params[L - 1, 0], act_params[L - 1, 1],
                                       params[2][L - 1], grads[2][L - 1], scales[L - 1], train, key, L - 1, r, n_parts)
        _backward_chunk(params, grads, scales, units, layout, act_params, plan, X, r, train, key, ws)
    return total


@njit(**KERNEL)
def train_epoch(theta, grad, state, stats, layout, act_params, X, T, order, batch_size, plan, ws, lr, mom, rule, t0,
                loss_code, fused, key, errors):
    """One epoch over X[order] in batches of ``batch_size``, planned by ``plan`` in the
    workspace ``ws``; lr[step] and mom[step] are the rate and momentum of each step, ``rule``
    the update (kernels.updates.Rule) and t0 the number of updates it made before.

    With batch norm (``stats`` not empty: the moving statistics) a last batch of one example,
    whose variance cannot be estimated, joins the batch before it. ``errors`` (size n, or
    empty) receives the loss of each example presented.

    ``fused``: plain SGD on batches of one chunk, applied during backpropagation (no gradient
    buffer). Returns (summed loss of the examples seen, number of steps). Stops early, with a
    non-finite loss, as soon as the loss overflows: the caller restores the weights.
    """
    full = unit_views(ws, layout, min(batch_size, plan.chunk), plan.chunk)
    params = param_views(theta, layout)
    grads = params if fused else param_views(grad, layout)
    scales = np.empty(layout.shape[0])
    train = runtime_bool(True, order.size)
    total = 0.0
    step = 0
    start = 0
    while start < order.size:
        end = batch_end(start, order.size, batch_size, stats.size > 0)
        rows = order[start:end]
        start = end
        for l in range(scales.size):  # a loop, not an array expression: no allocation per step
            scales[l] = -lr[step] / rows.size * rule.layer_scale[l] if fused else 1.0 / rows.size
        if not fused:
            grad[:] = 0.0
        total += batch_pass(params, grads, scales, layout, act_params, X, T, rows, loss_code, train, key, ws, full,
                            plan, stats, errors)
        if not fused:
            apply_update(rule, theta, grad, state, layout, lr[step], mom[step], t0 + step + 1)
        step += 1
        if not np.isfinite(total):
            break
    return total, step


@njit(**KERNEL)
def loss_and_grad(theta, grad, layout, act_params, plan, X, T, loss_code, train, key):
    """Mean loss over X and its gradient, written into grad (no update)."""
    ws = workspace(theta, layout, X.shape[1], plan)
    rows = np.arange(X.shape[0])
    grad[:] = 0.0
    n = X.shape[0]
    full = unit_views(ws, layout, plan.chunk, plan.chunk)
    total = batch_pass(param_views(theta, layout), param_views(grad, layout), np.full(layout.shape[0], 1.0 / n), layout,
                       act_params, X, T, rows, loss_code, train, key, ws, full, plan, theta[:0], np.empty(0))
    return total / n


@njit(**KERNEL)
def _inference_chunk(params, ws, full, layout, act_params, plan, X, rows):
    """Inference forward pass of X[rows] (a chunk); returns its unit views."""
    units = _chunk_units(ws, full, layout, rows.size, plan.chunk)
    forward_chunk(params, units, layout, act_params, plan, X, rows, runtime_bool(False, rows.size), np.uint64(0), ws,
                  ws.Z[:0])  # no moving statistics to update
    return units


@njit(**KERNEL)
def forward(theta, layout, act_params, plan, X, T, loss_code, out, errors):
    """Inference outputs of every row of X into out (n, n_outputs).

    Returns the summed loss against T, or 0.0 when T has no rows (prediction only); ``errors``
    (n, or empty) receives each example's loss.
    """
    chunk = plan.chunk
    ws = workspace(theta, layout, X.shape[1], plan)
    full = unit_views(ws, layout, chunk, chunk)
    params = param_views(theta, layout)
    L = layout.shape[0]
    n = X.shape[0]
    rows = np.arange(n)
    total = 0.0
    for c0 in range(0, n, chunk):
        r = rows[c0 : c0 + chunk]
        units = _inference_chunk(params, ws, full, layout, act_params, plan, X, r)
        A = units[2][L - 1]
        for i in range(r.size):  # loops, not out[c0:...] = A: slice assignment compiles a shape check
            for j in range(A.shape[1]):
                out[c0 + i, j] = A[i, j]
        if T.shape[0] > 0:
            total += _output_delta_parts(units[1][L - 1], A, T, r, loss_code, layout[L - 1, ACT], units[3][L - 1],
                                         plan.n_parts, errors)
    return total


@njit(**KERNEL)
def net_input_moments(theta, layout, act_params, plan, X, l, mean, var):
    """Mean and variance over all of X of layer l's raw net input x W, through the inference
    network below it (theta and layout folded: no batch norm left in layers < l; layer l's
    bias slot zero). Chunk moments merged pairwise (Chan et al.): stable on large, offset inputs."""
    sub = layout[: l + 1].copy()
    sub[l, GAMMA_OFF] = -1  # plain affine with the zero bias: Z = x W
    chunk = plan.chunk
    ws = workspace(theta, sub, X.shape[1], plan)
    full = unit_views(ws, sub, chunk, chunk)
    params = param_views(theta, sub)
    rows = np.arange(X.shape[0])
    mean[:] = 0.0
    m2 = np.zeros(mean.size)
    count = 0
    for c0 in range(0, X.shape[0], chunk):
        r = rows[c0 : c0 + chunk]
        units = _inference_chunk(params, ws, full, sub, act_params, plan, X, r)
        count = merge_moments(count, mean, m2, units[1][l])
    for j in range(var.size):
        var[j] = m2[j] / count
