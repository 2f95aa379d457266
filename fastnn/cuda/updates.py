"""Update rules on the GPU (twin of :func:`fastnn.kernels.updates.apply_update`): a thread per weight."""
from numba import cuda

from ..kernels import updates as _cpu
from ..kernels.layout import B_OFF, W_OFF
from .shared import device_function

rule_coefficients, rule_step = device_function(_cpu.rule_coefficients), device_function(_cpu.rule_step)
layer_end = device_function(_cpu.layer_end)


@cuda.jit(device=True)
def update_layers(code, hp, theta, grad, state, layout, layer_scale, weight_decay, eta, mu, t, start, stride,
                  skip_first_W):
    """Update t of the parameters start, start + stride, ... of every layer from grad, which is
    left zero for the next gradient (skip_first_W: all but the first layer's W, which online
    learning updates lazily). L2 decay on the weights W only; layer l at eta * layer_scale[l].
    The rule's coefficients are made once per layer, not per weight."""
    s0, s1 = state[0], state[state.shape[0] - 1]
    two_rows = state.shape[0] > 1  # one-row rules: s1 is s0, and rule_step hands it back unchanged
    f = theta.dtype.type
    for l in range(layout.shape[0]):
        w0, b0 = layout[l, W_OFF], layout[l, B_OFF]
        c = rule_coefficients(code, hp, eta * layer_scale[l], mu, t, layer_scale[l], f)
        first = b0 if skip_first_W and l == 0 else w0
        for i in range(first + start, layer_end(layout, l, theta.size), stride):
            g = grad[i]
            if weight_decay != 0.0 and i < b0:
                g = f(g + weight_decay * theta[i])
            w, a, b = rule_step(code, theta[i], g, s0[i], s1[i], c)
            theta[i] = w
            s0[i] = a
            if two_rows:
                s1[i] = b
            grad[i] = 0.0


@cuda.jit(cache=True)
def apply_update_kernel(code, hp, theta, grad, state, layout, layer_scale, weight_decay, eta, mu, t):
    """One update of theta from the mean gradient grad (left zero), the t-th of this optimizer (t >= 1)."""
    update_layers(code, hp, theta, grad, state, layout, layer_scale, weight_decay, eta, mu, t, cuda.grid(1),
                  cuda.gridsize(1), False)
