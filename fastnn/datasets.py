"""Data for the command line: the benchmark's built-in synthetic task, .npz files like MNIST's
and CSV files with a header row.

Every error names the file (and for a CSV the line and the column) and says what to change;
unreadable files raise ValueError, as they are the user's input, not a failure of fastnn.
"""
import collections
import csv
import operator
import os
import zipfile
import zlib
from typing import NamedTuple

import numpy as np

# CSV rows parsed at a time: bounds the Python strings alive at once (about 4 MB for MNIST's 785
# columns) whatever the length of the file; larger blocks read no faster.
BLOCK_ROWS = 64


class Table(NamedTuple):
    """What `fastnn train` reads from a data file; parts the file lacks are None."""

    x: np.ndarray  # (n, d) float32 inputs as in the file: uint8 pixels stay 0..255
    y: object  # (n,) targets
    x_test: object
    y_test: object
    names: object  # a CSV's feature column names, in the order of x's columns
    uint8: bool  # the inputs were uint8 pixels: the model itself should scale them by 1/255


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


def is_csv(path):
    """Whether fastnn reads ``path`` as CSV (by its suffix); anything else must be an .npz."""
    return str(path).lower().endswith(".csv")


def load_npz(path):
    """x_train, y_train, x_test, y_test from an .npz (as in MNIST's) for `fastnn bench`, which
    trains and tests in one process: images are flattened and uint8 pixels scaled to [0, 1].
    Raises ValueError naming a missing array."""
    names = ("x_train", "y_train", "x_test", "y_test")
    missing = [k for k in names if k not in _npz(path, expected="an .npz with x_train, y_train, x_test, y_test, "
                                                                  "or a CSV file with a header row named *.csv")]
    if missing:
        raise ValueError(f"{path} lacks the array(s) {missing}; it needs x_train, y_train, x_test, y_test")
    x_train, y_train, x_test, y_test = _npz(path, names)
    return _float32(x_train, scale=True), y_train, _float32(x_test, scale=True), y_test


def load_table(path, target=None, progress=None):
    """The training data of `fastnn train` as a :class:`Table`: an .npz with x_train and y_train
    (x_test, y_test optional; "x" and "y" also accepted), or a CSV file with a header row whose
    ``target`` column is y (labels may be text) and whose other columns are numbers. Inputs are
    returned as float32 but not scaled: ``Table.uint8`` says that they were uint8 pixels."""
    if is_csv(path):
        x, y, names = _read_csv(path, target, progress=progress)
        return Table(x, y, None, None, names, False)
    files = _npz(path)
    x_name = "x_train" if "x_train" in files else "x" if "x" in files else None
    if x_name is None:
        raise ValueError(f"{path} holds no x_train (or x) array; it has {sorted(files)}")
    names = [x_name, {"x_train": "y_train", "x": "y"}[x_name], "x_test", "y_test"]
    x, y, x_test, y_test = _npz(path, [k if k in files else None for k in names])
    uint8 = x.dtype == np.uint8
    if x_test is not None and (x_test.dtype == np.uint8) != uint8:
        raise ValueError(f"{path}: {x_name} is {x.dtype} but x_test is {x_test.dtype}; store both as the same kind "
                         "(uint8 pixels are scaled by 1/255 by the model, other numbers are taken as they are)")
    return Table(_float32(x), y, _float32(x_test), y_test, None, uint8)


def load_inputs(path, target=None, columns=None):
    """The inputs of `fastnn predict`, as in the file (uint8 pixels unscaled: a model trained on
    them scales them itself): a CSV's columns (by name when ``columns`` is given, else all but
    ``target``), or an .npz's x_test, x or x_train (the first present), flattened."""
    return load_labeled(path, target, columns)[0]


def load_labeled(path, target=None, columns=None, progress=None):
    """(inputs as load_inputs reads them, their labels or None): a CSV's ``target`` column, or
    the .npz's y array beside the x read (y_test, y or y_train)."""
    if is_csv(path):
        x, y, _ = _read_csv(path, target, columns, progress)
        return x, y
    files = _npz(path)
    name = next((k for k in ("x_test", "x", "x_train") if k in files), None)
    if name is None:
        raise ValueError(f"{path} holds no x_test, x or x_train array; it has {sorted(files)}")
    y_name = "y" + name[1:]
    x, y = _npz(path, [name, y_name if y_name in files else None])
    return _flat(x), y


def _flat(x):
    return x.reshape(len(x), -1)


def _float32(x, scale=False):
    """x (or None) flattened to float32 (n, features); uint8 pixels scaled to [0, 1] if ``scale``."""
    if x is None:
        return None
    pixels = x.dtype == np.uint8
    x = _flat(x).astype(np.float32)
    return x / np.float32(255) if scale and pixels else x


_NPZ_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry, or an empty zip
_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


def _npz(path, names=None, expected="an .npz, or a CSV file with a header row named *.csv"):
    """The array names in the .npz at ``path`` (``names`` None), or those arrays as a list (None
    for a name that is None). Checks the format first, naming what is ``expected``: np.load takes
    any other file for a pickle and suggests allow_pickle, which fastnn never uses."""
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror or e}") from None
    if magic not in _NPZ_MAGIC:
        raise ValueError(f"{path} is not an .npz archive (the format of np.savez); pass {expected}")
    try:
        with np.load(path, allow_pickle=False) as d:
            return set(d.files) if names is None else [None if k is None else d[k] for k in names]
    except _NPZ_ERRORS as e:
        raise ValueError(f"cannot read {path} as an .npz archive: {e}") from None


def _read_csv(path, target=None, columns=None, progress=None):
    """(x float32, y or None, feature names) from a CSV file with a header row, read once and
    BLOCK_ROWS rows at a time: the memory it takes is about that of x. ``progress(done, size)``,
    if given, is called after each block with the bytes read so far and the file's size."""
    rows = None
    try:
        # utf-8-sig: the byte-order mark that Excel writes is not part of the first column's name.
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = csv.reader(f)
            header = [h.strip() for h in next((r for r in rows if any(r)), [])]
            cols, t = _columns(path, header, target, columns)
            size = _size(f)
            # a pipe has no size and cannot tell its position: no progress
            report = None if progress is None or size <= 0 else lambda: progress(f.buffer.tell(), size)
            return _parse(path, rows, header, cols, t, size, report)
    except csv.Error as e:  # a NUL byte, a field beyond csv.field_size_limit()
        raise ValueError(f"{path} line {rows.line_num}: {e}") from None
    except UnicodeDecodeError:
        line, byte = _first_non_utf8(path)
        raise ValueError(f"{path} is not UTF-8 text (line {line} holds the byte {byte:#04x}); save it as UTF-8 "
                         "(Excel: 'CSV UTF-8'; or iconv -f latin1 -t utf-8)") from None
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror or e}") from None


def _columns(path, header, target, columns):
    """(indices of the feature columns, index of the target or None), checked against the header:
    every column named exists, once."""
    if not header:
        raise ValueError(f"{path} is empty: it needs a header row and at least one data row")
    if target is not None and target not in header:
        raise ValueError(f"{path} has no column {target!r}; its columns are {header}: name one of them with --target")
    if columns is None:
        cols = [i for i, h in enumerate(header) if h != target]
    else:
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"{path} lacks the column(s) {missing} the model was trained on; its columns are {header}")
        cols = [header.index(c) for c in columns]
    used = [header[i] for i in cols] + ([target] if target is not None else [])
    counts = collections.Counter(header)
    repeated = sorted({h for h in used if counts[h] > 1})
    if repeated:
        raise ValueError(f"{path}: the column name(s) {repeated} appear more than once in the header, so a column "
                         "cannot be told from its namesake; give every column its own name")
    if not cols:
        raise ValueError(f"{path} has no feature columns besides the target {target!r}")
    return cols, None if target is None else header.index(target)


def _size(f):
    """The file's size in bytes; 0 where it has none (a pipe)."""
    try:
        return os.fstat(f.fileno()).st_size
    except OSError:
        return 0


def _parse(path, rows, header, cols, t, size, report=None):
    """The data rows after the header: numbers into a float32 array that grows as blocks arrive,
    the target column's labels into a list; report() after each block."""
    names = [header[i] for i in cols]
    x, n, labels = None, 0, [] if t is not None else None
    for block, lines in _blocks(path, rows, header, cols, t, labels):
        values = _numbers(path, block, lines, names)
        if x is None:  # room for the whole file, as far as the first block's length tells
            x = np.empty((_rows_guess(block, size, len(cols)), len(cols)), np.float32)
        if n + len(block) > len(x):
            # resize reallocates in place (mremap for large arrays): unlike concatenating blocks,
            # the peak stays at about the final size. No view of x exists, hence refcheck=False.
            x.resize((max(n + len(block), len(x) * 5 // 4), len(cols)), refcheck=False)
        x[n : n + len(block)] = values
        n += len(block)
        if report is not None:
            report()
    if n == 0:
        raise ValueError(f"{path} has a header row but no data rows")
    x.resize((n, len(cols)), refcheck=False)  # gives back the rows the guess had in excess
    return x, None if t is None else _labels(labels), names


def _blocks(path, rows, header, cols, t, labels):
    """Lists of up to BLOCK_ROWS rows' feature cells, with the line number of each row; the
    target's cells go to ``labels``. Blank lines (and rows of empty cells, as spreadsheets write
    them) are skipped."""
    pick = operator.itemgetter(*cols) if len(cols) > 1 else lambda row: (row[cols[0]],)
    block, lines = [], []
    for row in rows:
        if not any(row):
            continue
        if len(row) != len(header):
            raise ValueError(f"{path} line {rows.line_num} has {len(row)} fields but the header has {len(header)}; "
                             "every row needs one field per column")
        if t is not None:
            label = row[t].strip()
            if not label:
                raise ValueError(f"{path} line {rows.line_num}, column {header[t]!r}: an empty cell; fill in the "
                                 "target or remove the row")
            labels.append(label)
        block.append(pick(row))
        lines.append(rows.line_num)
        if len(block) == BLOCK_ROWS:
            yield block, lines
            block, lines = [], []
    if block:
        yield block, lines


def _numbers(path, block, lines, names):
    """A block of cells as float32; on failure, the first cell that is not a number, by line and
    column (NumPy parses exactly what float() parses)."""
    try:
        return np.array(block, dtype=np.float32)
    except ValueError:
        for cells, line in zip(block, lines):
            for name, cell in zip(names, cells):
                try:
                    float(cell)
                except ValueError:
                    what = "an empty cell" if not cell.strip() else f"{cell!r} is not a number"
                    raise ValueError(f"{path} line {line}, column {name!r}: {what}; the feature columns must hold "
                                     "numbers") from None
        raise


def _rows_guess(block, size, width):
    """Rows the file holds, from its size and the characters per row in the first block (a
    little over, so that the guess seldom falls short), at most what the size allows (each of
    ``width`` cells takes a character and a separator); the block's length for a pipe."""
    chars = sum(len(cell) + 1 for cells in block for cell in cells)  # + 1: the comma or the newline
    return max(len(block), min(int(1.05 * size * len(block) / chars), size // (2 * width)))


def _labels(labels):
    """Target labels as int64, else float64, else text."""
    labels = np.array(labels)
    for kind in (np.int64, np.float64):
        try:
            return labels.astype(kind)
        except ValueError:
            pass
    return labels


def _first_non_utf8(path):
    """(line number, byte) of the first byte that is not UTF-8; each line decoded on its own is
    exact, as UTF-8 never encodes a newline inside a character."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return number, line[e.start]
    return "?", 0
