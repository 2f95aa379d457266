import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
MNIST_DEFAULT = ROOT.parent / "shared" / "data" / "mnist.npz"


def mnist_path():
    return Path(os.environ.get("FASTNN_MNIST", MNIST_DEFAULT))


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST as float32 in [0, 1], flattened; skipped where the file is absent."""
    path = mnist_path()
    if not path.exists():
        pytest.skip(f"MNIST not found at {path}: set FASTNN_MNIST to the path of mnist.npz")
    with np.load(path) as d:
        return ((d["x_train"].reshape(-1, 784) / np.float32(255)).astype(np.float32), d["y_train"],
                (d["x_test"].reshape(-1, 784) / np.float32(255)).astype(np.float32), d["y_test"])
