"""Other libraries trained side by side with fastnn in `fastnn bench --compare` (optional).

Each peer trains the same network (same layer sizes and hidden activation, softmax +
cross-entropy, plain SGD at the same rate and batch size, the same data and epochs) in this
process. PyTorch starts from fastnn's initial weights; scikit-learn's MLPClassifier draws its
own (it has no way to set them before training). Timings exclude the test evaluations, as
fastnn's do.
"""
import importlib.util
import statistics
import time

import numpy as np

PEERS = ("torch", "sklearn")
_ACTIVATIONS = {"torch": {"tanh": "Tanh", "relu": "ReLU", "logistic": "Sigmoid", "linear": "Identity"},
                "sklearn": {"tanh": "tanh", "relu": "relu", "logistic": "logistic", "linear": "identity"}}


def missing(peer):
    """None when the peer can run, else the reason (the message for the user)."""
    module = {"torch": "torch", "sklearn": "sklearn"}[peer]
    if importlib.util.find_spec(module) is None:
        package = {"torch": "torch", "sklearn": "scikit-learn"}[peer]
        return f"{peer} is not installed (pip install {package}, or pip install 'fastnn[compare]')"
    return None


def supports(peer, activation):
    return activation in _ACTIVATIONS[peer]


def run(peer, data, hidden, activation, batch_size, epochs, lr, threads, initial_weights, target=None,
        dtype="float32"):
    """Train with the peer; returns {"examples_per_s", "test_accuracy", "seconds_to_target", "curve"}.
    Each peer first takes a few untimed steps, as fastnn's figures leave compilation out."""
    return (_torch if peer == "torch" else _sklearn)(data, hidden, activation, batch_size, epochs, lr, threads,
                                                      initial_weights, target, np.dtype(dtype))


def _summary(n, times, accuracies, target):
    curve, total = [], 0.0
    for epoch, (t, acc) in enumerate(zip(times, accuracies), start=1):
        total += t
        curve.append({"seconds": total, "examples": epoch * n, "test_accuracy": acc})
    hit = next((c for c in curve if target is not None and c["test_accuracy"] >= target), None)
    return {"examples_per_s": n / statistics.median(times), "test_accuracy": accuracies[-1],
            "seconds_to_target": hit and hit["seconds"], "examples_to_target": hit and hit["examples"], "curve": curve}


def _torch(data, hidden, activation, batch_size, epochs, lr, threads, initial_weights, target, dtype):
    import torch

    x, y, xt, yt = data
    torch.set_num_threads(threads)
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    act = getattr(torch.nn, _ACTIVATIONS["torch"][activation])
    layers = []
    for i, w in enumerate(initial_weights):
        linear = torch.nn.Linear(*w["W"].shape, dtype=torch_dtype)
        with torch.no_grad():  # fastnn's W is (fan_in, fan_out); torch's weight is its transpose
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w["W"].T, dtype=dtype)))
            linear.bias.copy_(torch.from_numpy(w["b"].astype(dtype)))
        layers += [linear] + ([act()] if i < len(initial_weights) - 1 else [])
    model = torch.nn.Sequential(*layers)
    loss_fn = torch.nn.CrossEntropyLoss()
    classes, codes = np.unique(y, return_inverse=True)
    X, Y = torch.from_numpy(np.ascontiguousarray(x, dtype=dtype)), torch.from_numpy(codes.astype(np.int64))
    Xt = torch.from_numpy(np.ascontiguousarray(xt, dtype=dtype))
    warm = torch.optim.SGD(model.parameters(), lr=0.0)  # untimed warm-up steps that change nothing
    for s in range(0, min(len(X), 4 * batch_size), batch_size):
        warm.zero_grad()
        loss_fn(model(X[s : s + batch_size]), Y[s : s + batch_size]).backward()
        warm.step()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    times, accuracies = [], []
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        t0 = time.perf_counter()
        for s in range(0, len(X), batch_size):
            idx = order[s : s + batch_size]
            opt.zero_grad()
            loss_fn(model(X[idx]), Y[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - t0)
        with torch.no_grad():
            accuracies.append(float(np.mean(classes[model(Xt).argmax(1).numpy()] == yt)))
    return _summary(len(X), times, accuracies, target)


def _sklearn(data, hidden, activation, batch_size, epochs, lr, threads, initial_weights, target, dtype):
    import warnings

    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    x, y, xt, yt = data
    model = MLPClassifier(hidden_layer_sizes=tuple(hidden), activation=_ACTIVATIONS["sklearn"][activation],
                          solver="sgd", learning_rate_init=lr, batch_size=batch_size, momentum=0.0,
                          nesterovs_momentum=False, alpha=0.0, random_state=0)
    classes = np.unique(y)
    times, accuracies = [], []
    with threadpool_limits(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            t0 = time.perf_counter()
            model.partial_fit(x, y, classes=classes)
            times.append(time.perf_counter() - t0)
            accuracies.append(float(np.mean(model.predict(xt) == yt)))
    return _summary(len(x), times, accuracies, target)
