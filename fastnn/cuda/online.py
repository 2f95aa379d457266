"""Online learning on the GPU: one persistent kernel walks a whole epoch, an example at a time.

A handful of kernel launches per example would cost more than the example's arithmetic, so
one block of launch.ONLINE_THREADS threads runs the epoch's order inside the GPU: per example
the threads split each layer's units (forward pass) and the weights' columns (backward pass),
with a barrier between layers. Plain SGD is applied during backpropagation, only to the rows
of non-zero inputs (as on the CPU); the other rules form the gradient and update every weight.
"""
import math

from numba import cuda, int64

from ..kernels.activations import PRELU, SOFTMAX
from ..kernels.layout import ACT, ALPHA_OFF, B_OFF, FAN_IN, FAN_OUT, P1, P2, UNIT_OFF, W_OFF
from ..kernels.losses import MSE
from .activations import act_forward, prelu_backward_column, softmax_row, unit_backward, unit_slope
from .losses import row_delta
from .updates import update_layers


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
def _input(X, i, A, layout, l, k):
    """Input k of layer l for example i: X[i, k], or unit k of layer l - 1."""
    return X[i, k] if l == 0 else A[0, layout[l - 1, UNIT_OFF] + k]


@cuda.jit(device=True)
def _forward(theta, layout, act_params, X, i, Z, A, key, tid, nt):
    """Forward pass of example i into Z and A, a thread per unit; zero inputs are skipped
    (every thread sees the same input: no divergence)."""
    for l in range(layout.shape[0]):
        fan_in, fan_out, w0, b0 = layout[l, FAN_IN], layout[l, FAN_OUT], layout[l, W_OFF], layout[l, B_OFF]
        code, u0 = layout[l, ACT], layout[l, UNIT_OFF]
        alpha = _slopes(theta, layout, l)
        for j in range(tid, fan_out, nt):
            z = theta[b0 + j]
            for k in range(fan_in):
                a = _input(X, i, A, layout, l, k)
                if a != 0.0:
                    z += a * theta[w0 + k * fan_out + j]
            Z[0, u0 + j] = z
            if code != SOFTMAX:
                p = unit_slope(code, act_params[l, P1], act_params[l, P2], alpha, j, True, key, l, i)
                A[0, u0 + j] = act_forward(code, z, p)
        cuda.syncthreads()
        if code == SOFTMAX and tid == 0:
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
def _backward(theta, target, layout, act_params, X, i, Z, A, D, lr, layer_scale, fused, key, tid, nt):
    """Backpropagate D (the output deltas) through every layer; target (theta itself when fused,
    else the zeroed gradient) += scale * the gradient, scale = -lr * layer scale when fused."""
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
        for j in range(tid, fan_out, nt):
            d = D[0, u0 + j]
            for k in range(fan_in):
                a = _input(X, i, A, layout, l, k)
                if a != 0.0:
                    target[w0 + k * fan_out + j] += sc * a * d
            target[b0 + j] += sc * d
        cuda.syncthreads()


@cuda.jit(cache=True)
def train_online_kernel(theta, grad, state, layout, act_params, X, T, order, lr, mom, rule, hp, nesterov, weight_decay,
                        layer_scale, t0, loss_code, fused, key, errors, Z, A, D, out):
    """One online epoch over X[order] (twin of kernels.train.train_epoch with batch_size 1) in one
    block. Z, A, D: (1, units) scratch; grad: zeros, left zero (unused when fused: plain SGD). out[0] = the
    summed loss, out[1] = the number of updates; stops after the update whose loss overflows."""
    tid, nt = cuda.threadIdx.x, cuda.blockDim.x
    L = layout.shape[0]
    target = theta if fused else grad
    stop = cuda.shared.array(1, int64)
    out_code, m = layout[L - 1, ACT], layout[L - 1, FAN_OUT]
    total = 0.0
    steps = 0
    for step in range(order.size):
        i = order[step]
        _forward(theta, layout, act_params, X, i, Z, A, key, tid, nt)
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
        _backward(theta, target, layout, act_params, X, i, Z, A, D, lr[step], layer_scale, fused, key, tid, nt)
        if not fused:
            update_layers(rule, hp, theta, grad, state, layout, layer_scale, weight_decay, lr[step], mom[step], nesterov,
                          t0 + step + 1, tid, nt)
            cuda.syncthreads()
        steps = step + 1
        if stop[0]:
            break
    if tid == 0:
        out[0] = total
        out[1] = steps
