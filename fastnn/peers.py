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
        dtype="float32", device="cpu"):
    """Train with the peer; returns {"examples_per_s", "test_accuracy", "seconds_to_target", "curve"}.
    Each peer first takes a few untimed steps, as fastnn's figures leave compilation out.
    device="cuda": PyTorch trains on the GPU (scikit-learn has no GPU path)."""
    if peer == "torch":
        return _torch(data, hidden, activation, batch_size, epochs, lr, threads, initial_weights, target,
                      np.dtype(dtype), device)
    return _sklearn(data, hidden, activation, batch_size, epochs, lr, threads, initial_weights, target, np.dtype(dtype))


def part_size(n, batch_size, evals_per_epoch=10):
    """Examples between two test evaluations: whole mini-batches, about a tenth of an epoch
    (the same parts for fastnn and its peers, so times to a target compare)."""
    return batch_size * max(1, -(-n // batch_size) // evals_per_epoch)


def _summary(n, parts, target):
    """Figures from per-part (seconds, examples, test accuracy, epoch) records."""
    curve, total, seen, per_epoch = [], 0.0, 0, {}
    for t, k, acc, epoch in parts:
        total, seen = total + t, seen + k
        per_epoch[epoch] = per_epoch.get(epoch, 0.0) + t
        curve.append({"seconds": total, "examples": seen, "test_accuracy": acc})
    hit = next((c for c in curve if target is not None and c["test_accuracy"] >= target), None)
    return {"examples_per_s": n / statistics.median(per_epoch.values()), "test_accuracy": curve[-1]["test_accuracy"],
            "seconds_to_target": hit and hit["seconds"], "examples_to_target": hit and hit["examples"], "curve": curve}


def _torch(data, hidden, activation, batch_size, epochs, lr, threads, initial_weights, target, dtype, device):
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
    model = torch.nn.Sequential(*layers).to(device)
    loss_fn = torch.nn.CrossEntropyLoss()
    classes, codes = np.unique(y, return_inverse=True)
    X = torch.from_numpy(np.ascontiguousarray(x, dtype=dtype)).to(device)
    Y = torch.from_numpy(codes.astype(np.int64)).to(device)
    Xt = torch.from_numpy(np.ascontiguousarray(xt, dtype=dtype)).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)  # GPU work is asynchronous
    warm = torch.optim.SGD(model.parameters(), lr=0.0)  # untimed warm-up steps that change nothing
    for s in range(0, min(len(X), 4 * batch_size), batch_size):
        warm.zero_grad()
        loss_fn(model(X[s : s + batch_size]), Y[s : s + batch_size]).backward()
        warm.step()
    sync()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    step, records = part_size(len(X), batch_size), []
    for epoch in range(epochs):
        order = torch.randperm(len(X), generator=gen).to(device)
        for p in range(0, len(X), step):
            t0 = time.perf_counter()
            for s in range(p, min(p + step, len(X)), batch_size):
                idx = order[s : min(s + batch_size, p + step)]
                opt.zero_grad()
                loss_fn(model(X[idx]), Y[idx]).backward()
                opt.step()
            sync()
            seconds = time.perf_counter() - t0
            with torch.no_grad():
                acc = float(np.mean(classes[model(Xt).argmax(1).cpu().numpy()] == yt))
            records.append((seconds, min(step, len(X) - p), acc, epoch))
    return _summary(len(X), records, target)


def _sklearn(data, hidden, activation, batch_size, epochs, lr, threads, initial_weights, target, dtype):
    import warnings

    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    x, y, xt, yt = data
    model = MLPClassifier(hidden_layer_sizes=tuple(hidden), activation=_ACTIVATIONS["sklearn"][activation],
                          solver="sgd", learning_rate_init=lr, batch_size=batch_size, momentum=0.0,
                          nesterovs_momentum=False, alpha=0.0, random_state=0)
    classes = np.unique(y)
    step, records, rng = part_size(len(x), batch_size), [], np.random.default_rng(0)
    with threadpool_limits(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.partial_fit(x[:batch_size], y[:batch_size], classes=classes)  # untimed warm-up (one batch)
        for epoch in range(epochs):
            order = rng.permutation(len(x))
            for p in range(0, len(x), step):
                part = order[p : p + step]
                t0 = time.perf_counter()
                model.partial_fit(x[part], y[part])
                seconds = time.perf_counter() - t0
                records.append((seconds, part.size, float(np.mean(model.predict(xt) == yt)), epoch))
    return _summary(len(x), records, target)
