"""Data for the benchmark: a built-in synthetic MNIST-shaped task, and .npz files like MNIST's."""
import numpy as np


def synthetic_mnist(n_train=20000, n_test=5000, seed=0):
    """A 784-input, 10-class task shaped like MNIST, so `fastnn bench` runs with no files.

    A pool of 16 blurred strokes on a 28x28 grid; each class draws 4 of them (classes share
    strokes, so they overlap). An example keeps each stroke of its class with probability 0.8,
    is shifted by up to 3 pixels, scaled in intensity and sprinkled with pixel noise. About 80%
    of the inputs are zero, as in MNIST. Returns float32 x_train, y_train, x_test, y_test.
    """
    rng = np.random.default_rng(seed)
    grid = np.arange(28)
    cy, cx = rng.uniform(5, 23, size=(2, 16))
    sy, sx = rng.uniform(0.8, 4.0, size=(2, 16))
    strokes = np.exp(-0.5 * (((grid[None, :, None] - cy[:, None, None]) / sy[:, None, None]) ** 2
                             + ((grid[None, None, :] - cx[:, None, None]) / sx[:, None, None]) ** 2))
    members = np.array([rng.choice(16, size=4, replace=False) for _ in range(10)])
    n = n_train + n_test
    y = rng.integers(0, 10, size=n)
    keep = rng.random((n, 4)) < 0.8
    X = np.einsum("ns,nsij->nij", keep, strokes[members[y]]).astype(np.float32)
    X[X < 0.3] = 0.0
    for i, (dy, dx) in enumerate(rng.integers(-3, 4, size=(n, 2))):
        X[i] = np.roll(X[i], (dy, dx), axis=(0, 1))
    X *= rng.uniform(0.6, 1.0, size=(n, 1, 1)).astype(np.float32)
    X += (rng.random(X.shape) < 0.04) * rng.uniform(0.2, 1.0, size=X.shape).astype(np.float32)
    X = np.clip(X, 0.0, 1.0).reshape(n, 784)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def load_npz(path):
    """x_train, y_train, x_test, y_test from an .npz (as in MNIST's); images are flattened and
    uint8 pixels scaled to [0, 1]. Raises ValueError naming a missing array."""
    with np.load(path, allow_pickle=False) as d:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in d.files]
        if missing:
            raise ValueError(f"{path} lacks the array(s) {missing}; it needs x_train, y_train, x_test, y_test")
        arrays = [d[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    xs = []
    for x in (arrays[0], arrays[2]):
        x = x.reshape(len(x), -1)
        xs.append(x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32))
    return xs[0], arrays[1], xs[1], arrays[3]
