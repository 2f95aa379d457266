"""`fastnn sweep` / fastnn.sweep: every run of a spec as a Dask task, rows written as they finish.

The data is read once on the client and scattered to every worker (no shared filesystem).
A worker that dies costs only its run, which Dask retries on another; a run that fails is a
row. Rows already in ``out`` (same run_id) are skipped: rerunning resumes.
"""
import csv
import os
import sys
import time

from .. import datasets
from . import spec as _spec
from .run import METRICS, run_one

RETRIES = 2  # a run whose worker died is tried this many more times elsewhere
COLUMNS = sorted(_spec.DEFAULTS) + list(METRICS) + ["run_id"]
INSTALL = "fastnn sweep runs on Dask: pip install 'fastnn[dask]'"


def sweep(spec, client=None, workers=None, out=None, progress=None):
    """Run every configuration of ``spec`` (a TOML path or a dict) and return the rows (dicts,
    in grid order), the ones already in ``out`` included.

    client : dask.distributed.Client, optional
        Where the runs go; by default a LocalCluster of ``workers`` processes (default: the
        cores) with one thread each, closed at the end.
    out : path, optional
        CSV file: rows are appended as runs finish (flushed), and rows already there are not run again.
    progress : callable(str), optional
        Receives a progress line after every finished run.
    """
    fixed, grid = _spec.load(spec)  # everything is checked before anything runs or is written
    configs = _spec.runs(fixed, grid)
    done = _read_rows(out) if out else {}
    todo = [c for c in configs if _spec.run_id(c) not in done]
    tables = {source: _load(*source) for source in {(c["data"], c["target"]) for c in todo}}
    rows = {_spec.run_id(c): _typed(c, done[_spec.run_id(c)]) for c in configs if _spec.run_id(c) in done}
    if todo:
        rows.update(_run(todo, tables, client, workers, out, progress or (lambda line: None), len(done), len(configs)))
    return [rows[_spec.run_id(c)] for c in configs]


def _typed(config, row):
    """A row read back from the CSV (text) as run_one returns it: the configuration's own values,
    numbers as numbers, diverged a bool, error a string."""
    typed = {**config, "run_id": row["run_id"], "error": row.get("error") or ""}
    for metric in METRICS:
        if metric != "error":
            text = row.get(metric, "")
            typed[metric] = (text == "True") if metric == "diverged" and text else _number(text)
    return typed


def _number(text):
    if text in ("", None):
        return None
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def _load(path, target):
    try:
        return datasets.load_table(path, target)
    except ValueError as e:
        raise _spec.SpecError(f"data = {path!r}: {e}") from None


def _client(client, workers):
    """(client, cluster to close or None)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(INSTALL) from None
    if client is not None:
        return client, None
    cluster = LocalCluster(n_workers=workers or os.cpu_count(), threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster), cluster


def _run(todo, tables, client, workers, out, progress, n_done, n_total):
    from dask.distributed import as_completed

    client, cluster = _client(client, workers)
    rows, failed, start = {}, 0, time.perf_counter()
    try:
        client.run(warm_up, sorted({c["dtype"] for c in todo}))
        data = {source: client.scatter(table, broadcast=True) for source, table in tables.items()}
        futures = {client.submit(run_one, c, data[c["data"], c["target"]], pure=False, retries=RETRIES): c for c in todo}
        with _writer(out) as write:
            for future in as_completed(futures):
                row = _result(future, futures[future])
                rows[row["run_id"]] = row
                write(row)
                failed += bool(row["error"])
                progress(_progress(n_done + len(rows), n_total, failed, time.perf_counter() - start, len(rows)))
    finally:
        if cluster is not None:
            client.close()
            cluster.close()
    return rows


def _result(future, config):
    """The run's row, or a row with the error when its worker died more than RETRIES times."""
    try:
        row = future.result()
    except Exception as e:  # noqa: BLE001 - e.g. KilledWorker: the run is a row, the sweep goes on
        row = {**config, **{m: None for m in METRICS}, "error": f"{type(e).__name__}: {e}"[:300]}
    row["run_id"] = _spec.run_id(config)
    return row


class _writer:
    """Appends rows to a CSV file, header first if the file is new; flushed after every row."""

    def __init__(self, path):
        self.path, self.file = path, None

    def __enter__(self):
        if self.path is None:
            return lambda row: None
        new = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        self.file = open(self.path, "a", newline="")
        self.csv = csv.DictWriter(self.file, COLUMNS, extrasaction="ignore")
        if new:
            self.csv.writeheader()
        return self.write

    def write(self, row):
        self.csv.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})
        self.file.flush()
        os.fsync(self.file.fileno())

    def __exit__(self, *exc):
        if self.file is not None:
            self.file.close()


def _read_rows(path):
    """The rows already in ``path`` by run_id ({} if there is no file); values as text."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS:
            raise _spec.SpecError(f"{path} was not written by this version of fastnn sweep (its columns differ); "
                                  "choose another --out")
        return {row["run_id"]: row for row in reader if row.get("run_id")}


def _progress(done, total, failed, elapsed, finished_now):
    left = elapsed / finished_now * (total - done) if finished_now else 0.0
    return f"sweep: {done}/{total} runs done, {failed} failed, {_clock(elapsed)} elapsed, about {_clock(left)} left"


def _clock(seconds):
    minutes, s = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{s:02d}" if minutes >= 60 else f"{minutes}:{s:02d}"


def print_progress(line):
    """The progress line on stderr: rewritten in place on a terminal, one line per run otherwise."""
    if sys.stderr.isatty():
        print(f"\r{line}", end="", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


def warm_up(dtypes):
    """Compile (or load from Numba's cache) the kernels a worker's runs use, so that no run's
    seconds include it: a tiny fit per dtype, online and in mini-batches."""
    import numpy as np

    from ..layers import Dense
    from ..network import Network

    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    for dtype in dtypes:
        for mode in ("online", "minibatch"):
            Network([Dense(2, "tanh"), Dense(2, "softmax")], dtype=dtype, seed=0).fit(X, y, mode=mode)
