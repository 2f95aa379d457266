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


def load_table(path, target=None, columns=None):
    """(x, y, x_test, y_test) for `fastnn train` / `predict`: an .npz with x_train and y_train
    (x_test, y_test optional; "x" and "y" also accepted), or a CSV file with a header row whose
    ``target`` column is y (labels may be text) and whose other columns are numbers (with
    ``columns``: exactly those, in that order, wherever they stand). Missing parts are None."""
    if str(path).endswith(".csv"):
        return _load_csv(path, target, columns)[:2] + (None, None)
    with np.load(path, allow_pickle=False) as d:
        files = set(d.files)
        x_name = "x_train" if "x_train" in files else "x" if "x" in files else None
        if x_name is None:
            raise ValueError(f"{path} holds no x_train (or x) array; it has {sorted(files)}")
        y_name = {"x_train": "y_train", "x": "y"}[x_name]
        get = lambda k: d[k] if k in files else None  # noqa: E731
        parts = [get(x_name), get(y_name), get("x_test"), get("y_test")]
    for i in (0, 2):
        if parts[i] is not None:
            x = parts[i].reshape(len(parts[i]), -1)
            parts[i] = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    return tuple(parts)


def csv_features(path, target=None):
    """The names of a CSV file's feature columns (all but ``target``), in file order."""
    return _load_csv(path, target)[2]


def _load_csv(path, target, columns=None):
    import csv

    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise ValueError(f"{path} needs a header row and at least one data row")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if target is not None and target not in header:
        raise ValueError(f"{path} has no column {target!r}; its columns are {header}")
    t = header.index(target) if target is not None else None
    width = {len(r) for r in body}
    if width != {len(header)}:
        raise ValueError(f"{path}: every row must have {len(header)} fields, found rows with {sorted(width)}")
    if columns is not None:
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"{path} lacks the column(s) {missing} the model was trained on; its columns are {header}")
        cols = [header.index(c) for c in columns]
    else:
        cols = [i for i in range(len(header)) if i != t]
    names = [header[i] for i in cols]
    try:
        x = np.array([[float(r[i]) for i in cols] for r in body], dtype=np.float32)
    except ValueError as e:
        raise ValueError(f"{path}: the feature columns must hold numbers ({e})") from None
    if t is None:
        return x, None, names
    labels = np.array([r[t].strip() for r in body])
    for kind in (np.int64, np.float64):
        try:
            return x, labels.astype(kind), names
        except ValueError:
            pass
    return x, labels, names
