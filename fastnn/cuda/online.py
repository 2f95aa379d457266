"""Online learning on the GPU: one persistent kernel walks a whole epoch, an example at a time.

A handful of kernel launches per example would cost more than the example's arithmetic, so
one block of launch.ONLINE_THREADS threads runs the epoch's order inside the GPU, with a barrier
between layers. Per layer the threads split the units (forward pass) and the weights' columns
(backward pass); when a layer has fewer units than the block has threads, each unit's inputs are
split over a group of threads too. The inputs arrive as compressed rows (only the non-zeros: an
example of MNIST has about 150 of 784), so the first layer's loops have no branch and touch only
the rows of W the example needs. Plain SGD is applied during backpropagation (as on the CPU); the
other rules form the gradient and update every weight, except where the CPU's lazy rows apply
(SGD with momentum, delta-bar-delta, RMSprop; no weight decay): there the first layer's rows of
zero inputs are left alone and caught up in closed form when next touched (fastnn.kernels.lazy).
"""
import math

from numba import cuda, int64

from ..kernels import lazy as _cpu_lazy
from ..kernels.activations import PRELU, SOFTMAX
from ..kernels.layout import ACT, ALPHA_OFF, B_OFF, FAN_IN, FAN_OUT, P1, P2, UNIT_OFF, W_OFF
from ..kernels.losses import MSE
from ..kernels.updates import DELTA_BAR_DELTA, SGD
from .activations import act_forward, prelu_backward_column, softmax_row, unit_backward, unit_slope
from .losses import row_delta
from .shared import device_function
from .updates import rule_coefficients, rule_step, update_layers

idle_steps = device_function(_cpu_lazy.idle_steps)

MAX_THREADS = 1024  # CUDA's largest block: sizes the shared partial sums for any launch.ONLINE_THREADS


@cuda.jit(device=True, inline="always")  # returns a view: inlined, not called
def _units(buf, layout, l):
    """Layer l's (1, fan_out) view of a (1, units) buffer."""
    u0 = layout[l, UNIT_OFF]
    return buf[:, u0 : u0 + layout[l, FAN_OUT]]


@cuda.jit(device=True, inline="always")  # returns a view: inlined, not called
def _slopes(theta, layout, l):
    """Layer l's PReLU slopes in theta (empty for other activations)."""
    a0 = layout[l, ALPHA_OFF]
    return theta[a0 : a0 + layout[l, FAN_OUT]] if a0 >= 0 else theta[0:0]


@cuda.jit(device=True)
def _split(fan_out, tid, nt):
    """(groups, g, j, stride): a layer of fan_out units over nt threads. With fewer units than
    threads, groups = nt // fan_out threads share each unit, thread tid being in group g of unit
    j (g >= groups: idle); otherwise one group, thread tid taking units j, j + nt, ..."""
    if fan_out >= nt:
        return 1, 0, tid, nt
    return nt // fan_out, tid // fan_out, tid % fan_out, fan_out


@cuda.jit(device=True)
def _partial_net_input(theta, layout, l, j, g, groups, indptr, indices, values, i, A):
    """Group g's share of sum_k x_k W[k, j] for layer l: the inputs g, g + groups, ... (the
    example's non-zeros for layer 0, the units of layer l - 1 otherwise)."""
    fan_out, w0 = layout[l, FAN_OUT], layout[l, W_OFF]
    s = theta.dtype.type(0.0)
    if l == 0:
        for q in range(indptr[i] + g, indptr[i + 1], groups):
            s += values[q] * theta[w0 + indices[q] * fan_out + j]
    else:
        u0 = layout[l - 1, UNIT_OFF]
        for k in range(g, layout[l, FAN_IN], groups):
            s += A[0, u0 + k] * theta[w0 + k * fan_out + j]
    return s


@cuda.jit(device=True)
def _add_weight_grad(target, layout, l, j, g, groups, sc, d, indptr, indices, values, i, A):
    """target's W[k, j] += sc * x_k * d for group g's inputs k of layer l (non-zero ones only)."""
    fan_out, w0 = layout[l, FAN_OUT], layout[l, W_OFF]
    if l == 0:
        for q in range(indptr[i] + g, indptr[i + 1], groups):
            target[w0 + indices[q] * fan_out + j] += sc * values[q] * d
    else:
        u0 = layout[l - 1, UNIT_OFF]
        for k in range(g, layout[l, FAN_IN], groups):
            a = A[0, u0 + k]
            if a != 0.0:  # ReLU zeros: no write
                target[w0 + k * fan_out + j] += sc * a * d


@cuda.jit(device=True)
def _finish_unit(theta, layout, act_params, l, j, s, Z, A, key, i):
    """Unit j of layer l: Z = b + s, and A = f(Z) (softmax waits for the whole layer)."""
    code, u0 = layout[l, ACT], layout[l, UNIT_OFF]
    z = theta[layout[l, B_OFF] + j] + s
    Z[0, u0 + j] = z
    if code != SOFTMAX:
        p = unit_slope(code, act_params[l, P1], act_params[l, P2], _slopes(theta, layout, l), j, True, key, l, i)
        A[0, u0 + j] = act_forward(code, z, p)


@cuda.jit(device=True)
def _forward(theta, layout, act_params, indptr, indices, values, i, Z, A, key, tid, nt):
    """Forward pass of example i into Z and A. Groups of threads that share a unit sum their
    partial net inputs in a fixed order (the same result on every run)."""
    part = cuda.shared.array(MAX_THREADS, dtype=theta.dtype)
    for l in range(layout.shape[0]):
        fan_out = layout[l, FAN_OUT]
        groups, g, j0, stride = _split(fan_out, tid, nt)
        if g < groups:
            for j in range(j0, fan_out, stride):
                s = _partial_net_input(theta, layout, l, j, g, groups, indptr, indices, values, i, A)
                if groups == 1:
                    _finish_unit(theta, layout, act_params, l, j, s, Z, A, key, i)
                else:
                    part[g * fan_out + j] = s
        if groups > 1:  # the same for every thread of the block: all reach the barrier
            cuda.syncthreads()
            if tid < fan_out:
                s = part[tid]
                for h in range(1, groups):
                    s += part[h * fan_out + tid]
                _finish_unit(theta, layout, act_params, l, tid, s, Z, A, key, i)
        cuda.syncthreads()
        if layout[l, ACT] == SOFTMAX and tid == 0:
            softmax_row(_units(Z, layout, l), _units(A, layout, l), 0)
        cuda.syncthreads()


@cuda.jit(device=True)
def _unit_backward(theta, target, D, Z, A, layout, act_params, scale, l, j, key, i):
    """Unit j of layer l: D *= f'(Z); PReLU adds scale * dL/dalpha to its slope's slot in target."""
    code = layout[l, ACT]
    Dl, Zl = _units(D, layout, l), _units(Z, layout, l)
    alpha = _slopes(theta, layout, l)
    if code == PRELU:
        prelu_backward_column(Dl, Zl, alpha, _slopes(target, layout, l), scale, j)
    else:
        unit_backward(Dl, Zl, _units(A, layout, l), 0, j, code, act_params[l, P1], act_params[l, P2], alpha, True,
                      key, l, i)


@cuda.jit(device=True)
def _backward(theta, target, layout, act_params, indptr, indices, values, i, Z, A, D, lr, layer_scale, fused, key,
              tid, nt, first_W):
    """Backpropagate D (the output deltas) through every layer; target (theta itself when fused,
    else the zeroed gradient) += scale * the gradient, scale = -lr * layer scale when fused.
    first_W=False leaves the first layer's W out (lazy rows: _lazy_first_layer forms it)."""
    f = theta.dtype.type
    for l in range(layout.shape[0] - 1, -1, -1):
        fan_in, fan_out, w0, b0 = layout[l, FAN_IN], layout[l, FAN_OUT], layout[l, W_OFF], layout[l, B_OFF]
        u0 = layout[l, UNIT_OFF]
        if l > 0:  # dL/dA of layer l - 1 from W before it moves, then through f'
            scale = -lr * layer_scale[l - 1] if fused else 1.0
            for k in range(tid, fan_in, nt):
                s = f(0.0)
                for j in range(fan_out):
                    s += D[0, u0 + j] * theta[w0 + k * fan_out + j]
                D[0, layout[l - 1, UNIT_OFF] + k] = s
                _unit_backward(theta, target, D, Z, A, layout, act_params, scale, l - 1, k, key, i)
            cuda.syncthreads()
        sc = f(-lr * layer_scale[l] if fused else 1.0)
        groups, g, j0, stride = _split(fan_out, tid, nt)
        if g < groups:  # each weight has one owner thread: no reduction
            for j in range(j0, fan_out, stride):
                d = D[0, u0 + j]
                if l > 0 or first_W:
                    _add_weight_grad(target, layout, l, j, g, groups, sc, d, indptr, indices, values, i, A)
                if g == 0:
                    target[b0 + j] += sc * d
        cuda.syncthreads()


@cuda.jit(device=True, inline="always")  # returns a view: inlined, not called
def _decaying(rule, state):
    """The state row that decays while a weight idles: delta-bar-delta's bar, else the first row
    (SGD's velocity, RMSprop's mean square)."""
    return state[state.shape[0] - 1] if rule == DELTA_BAR_DELTA else state[0]


@cuda.jit(device=True)
def _catch_up(theta, S, layout, k, j, last, t, factors):
    """First-layer weight (k, j) and its decaying state S brought from update last[k] to t."""
    s = t - last[k]
    p = layout[0, W_OFF] + k * layout[0, FAN_OUT] + j
    theta[p], S[p] = idle_steps(theta[p], S[p], factors[0, s], factors[1, s])


@cuda.jit(device=True)
def _catch_up_inputs(theta, S, layout, indptr, indices, i, last, t, factors, tid, nt):
    """SGD with momentum: the first-layer rows of example i's non-zero inputs brought up to
    update t before the forward pass reads them (their idle steps move the weights)."""
    fan_out, q0, m = layout[0, FAN_OUT], indptr[i], indptr[i + 1] - indptr[i]
    for e in range(tid, m * fan_out, nt):
        _catch_up(theta, S, layout, indices[q0 + e // fan_out], e % fan_out, last, t, factors)
    cuda.syncthreads()  # every thread has read last[k] before it moves
    for q in range(q0 + tid, q0 + m, nt):
        last[indices[q]] = t
    cuda.syncthreads()


@cuda.jit(device=True)
def _lazy_first_layer(rule, hp, theta, state, layout, eta, mu, t, D, indptr, indices, values, i, last,
                      factors, tid, nt):
    """Update t of the first-layer rows of example i's non-zero inputs from the gradient
    x_k * d_j, formed as it is used, with the decay of each row's idle steps folded in (SGD's
    rows were caught up before: factor 1). Twin of kernels.lazy.lazy_rows."""
    fan_out, w0, u0 = layout[0, FAN_OUT], layout[0, W_OFF], layout[0, UNIT_OFF]
    s0, s1 = state[0], state[state.shape[0] - 1]
    two_rows = state.shape[0] > 1
    c = rule_coefficients(rule, hp, eta, mu, t, 1.0, theta.dtype.type)
    q0, m = indptr[i], indptr[i + 1] - indptr[i]
    for e in range(tid, m * fan_out, nt):
        q, j = q0 + e // fan_out, e % fan_out
        k = indices[q]
        p = w0 + k * fan_out + j
        a, b = s0[p], s1[p]
        factor = factors[0, t - 1 - last[k]]
        if rule == DELTA_BAR_DELTA:
            b = b * factor
        else:
            a = a * factor
        w, a, b = rule_step(rule, theta[p], values[q] * D[0, u0 + j], a, b, c)
        theta[p] = w
        s0[p] = a
        if two_rows:
            s1[p] = b
    cuda.syncthreads()
    for q in range(q0 + tid, q0 + m, nt):
        last[indices[q]] = t
    cuda.syncthreads()


@cuda.jit(cache=True)
def train_online_kernel(theta, grad, state, layout, act_params, indptr, indices, values, T, order, lr, mom, rule, hp,
                        weight_decay, layer_scale, t0, loss_code, fused, key, errors, lazy, last, factors, Z,
                        A, D, out):
    """One online epoch over the examples order in one block (twin of kernels.online.sgd_online_epoch
    and kernels.lazy.lazy_epoch; for what they leave out the CPU takes its general epoch). The
    inputs: example i's non-zeros are values[indptr[i]:indptr[i + 1]] at columns indices[...]
    (ascending). Z, A, D: (1, units) scratch; grad: zeros, left zero (unused when fused: plain
    SGD). lazy: the first layer's rows are updated lazily (last[k]: the update row k has seen, t0
    on entry; factors: kernels.lazy.idle_factors). out[0] = the summed loss, out[1] = the number
    of updates; stops after the update whose loss overflows."""
    tid, nt = cuda.threadIdx.x, cuda.blockDim.x
    L = layout.shape[0]
    target = theta if fused else grad
    stop = cuda.shared.array(1, int64)
    out_code, m = layout[L - 1, ACT], layout[L - 1, FAN_OUT]
    total = 0.0
    steps = 0
    S = _decaying(rule, state)
    for step in range(order.size):
        i = order[step]
        t = t0 + step + 1
        if lazy and rule == SGD:
            _catch_up_inputs(theta, S, layout, indptr, indices, i, last, t - 1, factors, tid, nt)
        _forward(theta, layout, act_params, indptr, indices, values, i, Z, A, key, tid, nt)
        if tid == 0:
            loss = row_delta(_units(Z, layout, L - 1), _units(A, layout, L - 1), T, 0, i, loss_code, out_code,
                             _units(D, layout, L - 1))
            if errors.size > 0:
                errors[i] = loss
            total += loss
            stop[0] = not math.isfinite(total)
        cuda.syncthreads()
        if loss_code == MSE:  # D holds dL/dA of the outputs
            scale = -lr[step] * layer_scale[L - 1] if fused else 1.0
            for j in range(tid, m, nt):
                _unit_backward(theta, target, D, Z, A, layout, act_params, scale, L - 1, j, key, i)
            cuda.syncthreads()
        _backward(theta, target, layout, act_params, indptr, indices, values, i, Z, A, D, lr[step], layer_scale,
                  fused, key, tid, nt, not lazy)
        if lazy:
            _lazy_first_layer(rule, hp, theta, state, layout, lr[step] * layer_scale[0], mom[step], t, D,
                              indptr, indices, values, i, last, factors, tid, nt)
        if not fused:
            update_layers(rule, hp, theta, grad, state, layout, layer_scale, weight_decay, lr[step], mom[step], t,
                          tid, nt, lazy)
            cuda.syncthreads()
        steps = step + 1
        if stop[0]:
            break
    if lazy:  # every first-layer row brought up to the last update
        fan_out = layout[0, FAN_OUT]
        for e in range(tid, layout[0, FAN_IN] * fan_out, nt):
            _catch_up(theta, S, layout, e // fan_out, e % fan_out, last, t0 + steps, factors)
    if tid == 0:
        out[0] = total
        out[1] = steps
