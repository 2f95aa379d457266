"""Slow, obviously correct NumPy versions of the forward and backward pass (test oracles).

Written independently of fastnn.kernels: formulas from the papers, plain matrix products.
"""
import numpy as np

SELU_L, SELU_A = 1.0507009873554805, 1.6732632423543772


def act(name, z, p, alpha=None):
    """(f(z), f'(z)) for a hidden or output activation; p: the activation's config dict."""
    if name == "linear":
        return z, np.ones_like(z)
    if name == "logistic":
        y = 1 / (1 + np.exp(-z))
        return y, y * (1 - y)
    if name == "tanh":
        return np.tanh(z), 1 - np.tanh(z) ** 2
    if name == "lecun_tanh":
        return 1.7159 * np.tanh(2 * z / 3), 1.7159 * 2 / 3 * (1 - np.tanh(2 * z / 3) ** 2)
    if name == "tanh_linear":
        return np.tanh(z) + p["a"] * z, 1 - np.tanh(z) ** 2 + p["a"]
    if name == "relu":
        return np.maximum(z, 0), (z > 0).astype(z.dtype)
    if name in ("leaky_relu", "rrelu", "prelu"):
        s = {"leaky_relu": lambda: p["alpha"], "rrelu": lambda: 0.5 * (p["lower"] + p["upper"]), "prelu": lambda: alpha}[name]()
        s = np.broadcast_to(s, z.shape)
        return np.where(z > 0, z, s * z), np.where(z > 0, 1.0, s)
    if name == "elu":
        return np.where(z > 0, z, p["alpha"] * np.expm1(z)), np.where(z > 0, 1.0, p["alpha"] * np.exp(z))
    if name == "selu":
        return SELU_L * np.where(z > 0, z, SELU_A * np.expm1(z)), SELU_L * np.where(z > 0, 1.0, SELU_A * np.exp(z))
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True), None
    raise KeyError(name)


def loss_and_grads(net, weights, X, T):
    """Mean loss and gradients (list of dicts like get_weights) of ``net``'s architecture."""
    acts = [(layer.activation.name, layer.activation.get_config()) for layer in net.layers]
    A, cache = X, []
    for (name, p), w in zip(acts, weights):
        Z = A @ w["W"] + w["b"]
        Y, dY = act(name, Z, p, w.get("alpha"))
        cache.append((A, Z, dY))
        A = Y
    n = X.shape[0]
    out = acts[-1][0]
    grads = [{} for _ in weights]
    if net.loss == "cross_entropy" and out == "softmax":
        loss = -np.sum(T * np.log(A)) / n
        delta = (A - T) / n
    elif net.loss == "cross_entropy":
        loss = -np.sum(T * np.log(A) + (1 - T) * np.log(1 - A)) / n
        delta = (A - T) / n
    else:
        loss = 0.5 * np.sum((A - T) ** 2) / n
        if "alpha" in weights[-1]:
            grads[-1]["alpha"] = np.sum((A - T) / n * np.minimum(cache[-1][1], 0), axis=0)
        delta = (A - T) / n * cache[-1][2]
    for l in range(len(weights) - 1, -1, -1):
        A_prev = cache[l][0]
        grads[l]["W"] = A_prev.T @ delta
        grads[l]["b"] = delta.sum(axis=0)
        if l > 0:
            dA = delta @ weights[l]["W"].T
            Zp, dYp = cache[l - 1][1], cache[l - 1][2]
            if "alpha" in weights[l - 1]:
                grads[l - 1]["alpha"] = np.sum(dA * np.minimum(Zp, 0), axis=0)
            delta = dA * dYp
    return loss, grads


def sgd_train(weights, grad_fn, X, T, orders, batch_size, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """Reference mini-batch SGD with (Nesterov) momentum."""
    return train(weights, grad_fn, X, T, orders, batch_size, lr, "SGD", {"momentum": momentum, "nesterov": nesterov},
                 weight_decay)


def init_state(rule, w, lr):
    zeros = np.zeros_like(w)
    return {"SGD": [zeros], "DeltaBarDelta": [np.ones_like(w), zeros], "RMSprop": [zeros], "Adam": [zeros, zeros.copy()],
            "Rprop": [np.full_like(w, lr), zeros]}[rule]


def rule_step(rule, hp, w, g, s, eta, t, scale=1.0):
    """One update of the array w by gradient g, state list s (updated in place); returns new w.

    The papers' formulas: Sutskever et al. 2013 (momentum), Jacobs 1988 (delta-bar-delta),
    Tieleman & Hinton 2012 (RMSprop), Kingma & Ba 2015 (Adam), Igel & Huesken 2000 (iRprop-).
    """
    if rule == "SGD":
        s[0] = hp["momentum"] * s[0] - eta * g
        return w + (hp["momentum"] * s[0] - eta * g if hp["nesterov"] else s[0])
    if rule == "DeltaBarDelta":
        gain, bar = s
        agree = g * bar
        gain = np.where(agree > 0, np.minimum(gain + hp["increase"], hp["gain_max"]),
                        np.where(agree < 0, np.maximum(gain * hp["decrease"], hp["gain_min"]), gain))
        s[0], s[1] = gain, (1 - hp["smoothing"]) * g + hp["smoothing"] * bar
        return w - eta * gain * g
    if rule == "RMSprop":
        s[0] = hp["rho"] * s[0] + (1 - hp["rho"]) * g**2
        return w - eta * g / (np.sqrt(s[0]) + hp["eps"])
    if rule == "Adam":
        s[0] = hp["beta1"] * s[0] + (1 - hp["beta1"]) * g
        s[1] = hp["beta2"] * s[1] + (1 - hp["beta2"]) * g**2
        m_hat, v_hat = s[0] / (1 - hp["beta1"] ** t), s[1] / (1 - hp["beta2"] ** t)
        return w - eta * m_hat / (np.sqrt(v_hat) + hp["eps"])
    if rule == "Rprop":
        step, g_prev = s
        agree = g * g_prev
        step = np.where(agree > 0, np.minimum(step * hp["increase"], hp["step_max"]),
                        np.where(agree < 0, np.maximum(step * hp["decrease"], hp["step_min"]), step))
        g = np.where(agree < 0, 0.0, g)
        s[0], s[1] = step, g
        return w - scale * np.sign(g) * step
    raise KeyError(rule)


def train(weights, grad_fn, X, T, orders, batch_size, lr, rule="SGD", hp=None, weight_decay=0.0, layer_scale=None,
          return_state=False):
    """Reference training: for each epoch's order, one rule step per batch on its mean gradient.

    lr: a number or a function of the update count t = 1, 2, ...; layer_scale: per layer factor.
    Returns the weights, and with return_state the rule's state: per state row, dicts like the weights.
    """
    w = [{k: v.copy() for k, v in d.items()} for d in weights]
    eta = lr if callable(lr) else (lambda t: lr)
    scale = layer_scale if layer_scale is not None else [1.0] * len(w)
    state = [{k: init_state(rule, v, eta(1)) for k, v in d.items()} for d in w]
    t = 0
    for order in orders:
        for s in range(0, len(order), batch_size):
            rows = order[s : s + batch_size]
            _, g = grad_fn(w, X[rows], T[rows])
            t += 1
            for l, (wl, gl, sl) in enumerate(zip(w, g, state)):
                for k in wl:
                    gk = gl[k] + (weight_decay * wl[k] if k == "W" else 0.0)
                    wl[k] = rule_step(rule, hp or {}, wl[k], gk, sl[k], eta(t) * scale[l], t, scale[l])
    if return_state:
        rows = len(state[0]["W"])
        return w, [[{k: v[r] for k, v in sl.items()} for sl in state] for r in range(rows)]
    return w


def bn_forward(net, weights, X, stats=None):
    """Outputs of a network with batch-norm layers: batch statistics of X (training), or the
    moving statistics ``stats`` (one (mean, var) per layer, None where no batch norm)."""
    A = X
    for l, (layer, w) in enumerate(zip(net.layers, weights)):
        Z = A @ w["W"]
        if "gamma" in w:
            eps = layer.batch_norm.eps
            mean, var = (Z.mean(axis=0), Z.var(axis=0)) if stats is None else stats[l]
            Z = w["gamma"] * (Z - mean) / np.sqrt(var + eps) + w["beta"]
        else:
            Z = Z + w["b"]
        A = act(layer.activation.name, Z, layer.activation.get_config(), w.get("alpha"))[0]
    return A
