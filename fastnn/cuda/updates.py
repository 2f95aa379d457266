"""Update rules on the GPU (twin of :func:`fastnn.kernels.updates.apply_update`): a thread per weight."""
from numba import cuda

from ..kernels.layout import B_OFF, W_OFF
from ..kernels import updates as _cpu
from .shared import device_function

rule_coefficients, rule_step = device_function(_cpu.rule_coefficients), device_function(_cpu.rule_step)


@cuda.jit(device=True)
def update_weight(code, hp, theta, grad, s0, s1, two_rows, i, l, layout, layer_scale, weight_decay, eta, mu,
                  nesterov, t):
    """Update t of theta[i], a parameter of layer l, from grad[i]; L2 decay on weights W only.
    s0, s1: the state rows (the same row for one-row rules: two_rows False, s1 not written)."""
    g = grad[i]
    if weight_decay != 0.0 and i < layout[l, B_OFF]:
        g = grad.dtype.type(g + weight_decay * theta[i])
    c = rule_coefficients(code, hp, eta * layer_scale[l], mu, t, layer_scale[l], theta.dtype.type)
    w, a, b = rule_step(code, theta[i], g, s0[i], s1[i], c, nesterov)
    theta[i] = w
    s0[i] = a
    if two_rows:
        s1[i] = b


@cuda.jit(device=True)
def layer_of(layout, i):
    """The layer whose parameters hold theta[i] (layers are few: a scan)."""
    l = 0
    while l + 1 < layout.shape[0] and i >= layout[l + 1, W_OFF]:
        l += 1
    return l


@cuda.jit
def apply_update_kernel(code, hp, theta, grad, state, layout, layer_scale, weight_decay, eta, mu, nesterov, t):
    """One update of theta from the mean gradient grad, the t-th of this optimizer (t >= 1)."""
    s0, s1 = state[0], state[state.shape[0] - 1]
    two_rows = state.shape[0] > 1
    for i in range(cuda.grid(1), theta.size, cuda.gridsize(1)):
        update_weight(code, hp, theta, grad, s0, s1, two_rows, i, layer_of(layout, i), layout, layer_scale,
                      weight_decay, eta, mu, nesterov, t)


@cuda.jit
def fill_kernel(a, value):
    """a[:] = value (a device array's own fill would copy from the host)."""
    for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        a[i] = value
