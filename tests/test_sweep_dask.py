"""fastnn sweep on real Dask clusters: the Python API and the CLI against a scheduler and workers
this module starts itself on 127.0.0.1 (`dask scheduler` / `dask worker`, as a user would), the
default LocalCluster path, a worker killed mid-sweep, and a bad spec refused end to end.

The oracle for every row is run_one called in this process: handing a run to Dask, to one
worker or to two, or retrying it after its worker died, must not change a single number (only
the timings). One scheduler with two single-threaded worker processes serves the module; every
process and every sweep is bounded in time, so nothing can hang the suite.
"""
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

distributed = pytest.importorskip(
    "distributed", reason="fastnn sweep runs on Dask: these tests need dask.distributed (pip install 'fastnn[dask]')")

import fastnn  # noqa: E402
from fastnn import datasets  # noqa: E402
from fastnn._sweep import driver, spec  # noqa: E402
from fastnn._sweep.run import run_one  # noqa: E402

START_TIMEOUT = 60  # s for the scheduler, the workers and a client to come up; a warm start is a few s
STOP_TIMEOUT = 30  # s for a process group to exit after SIGTERM before it gets SIGKILL
SWEEP_TIMEOUT = 180  # s for any one sweep (a cold Numba cache compiles on every worker)
TIMINGS = ("seconds", "examples_per_s", "seconds_to_target")  # the only columns allowed to differ
GRID = {"layers": ["4:tanh,2:softmax", "6:relu,2:softmax"], "lr": [0.02, 0.1], "seed": [0, 1]}  # 8 runs


# -- processes, bounded ------------------------------------------------------------------------

def _start(args, log):
    """`python -m dask ARGS` in its own session (so that killpg reaches the nanny's children),
    output to ``log``, never to a pipe that could fill up."""
    with open(log, "wb") as f:
        return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _stop(process):
    """SIGTERM to the process group, SIGKILL if it has not exited after STOP_TIMEOUT."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path, n=2000):
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def _bounded(call, timeout=SWEEP_TIMEOUT):
    """call() in a daemon thread, its result or its exception; fails the test (instead of hanging
    the suite) when it has not returned after ``timeout`` s. Teardown then stops the cluster."""
    box = {}

    def target():
        try:
            box["result"] = call()
        except BaseException as e:  # noqa: BLE001 - re-raised in the test's thread
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"the sweep did not finish within {timeout} s")
    if "error" in box:
        raise box["error"]
    return box["result"]


def _fastnn(*args, cwd, timeout=SWEEP_TIMEOUT):
    """`python -m fastnn ARGS` as a subprocess (its own session, killed with its group on timeout)."""
    process = subprocess.Popen([sys.executable, "-m", "fastnn", *map(str, args)], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        pytest.fail(f"fastnn {' '.join(map(str, args))} did not finish within {timeout} s")
    return process.returncode, stdout, stderr


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The toy data sets: 300 x 8 (a linear boundary; 240 train, 60 test) and, for the slow runs
    of the worker-kill test, 4000 x 8 (an XOR-like boundary; 3500 train, 500 test)."""
    path = tmp_path_factory.mktemp("sweep")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    np.savez(path / "toy.npz", x_train=X[:240], y_train=y[:240], x_test=X[240:], y_test=y[240:])
    X = rng.normal(size=(4000, 8)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    np.savez(path / "slow.npz", x_train=X[:3500], y_train=y[:3500], x_test=X[3500:], y_test=y[3500:])
    return path


@pytest.fixture(scope="module")
def toy_spec(folder):
    """2 layers x 2 learning rates x 2 seeds on the toy data, with a target so that
    examples_to_target (which must not depend on where a run ran) is filled in."""
    return {"data": str(folder / "toy.npz"), "epochs": 15, "target_accuracy": 0.7, "grid": GRID}


@pytest.fixture(scope="module")
def oracle(toy_spec):
    """{run_id: row} from run_one in this process, one run after another: what every sweep must give.
    Also compiles the kernels into Numba's on-disk cache before any worker starts."""
    table = datasets.load_table(toy_spec["data"], None)
    driver.warm_up(["float32"])
    return {spec.run_id(c): run_one(c, table) for c in spec.runs(*spec.load(toy_spec))}


@pytest.fixture(scope="module")
def client(tmp_path_factory, oracle):
    """A client of `dask scheduler` on 127.0.0.1 and `dask worker --nworkers 2 --nthreads 1`,
    started here as a user would start them; both stopped (process groups) at the end."""
    path = tmp_path_factory.mktemp("dask")
    scheduler_file = path / "scheduler.json"
    processes = []
    try:
        processes.append(_start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                 # --no-dashboard still serves /health on --dashboard-address (:8787 by default)
                                 "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file)], path / "scheduler.log"))
        deadline = time.monotonic() + START_TIMEOUT
        while not scheduler_file.exists():  # Client(scheduler_file=...) would wait for it without a bound
            if processes[0].poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dask scheduler did not start:\n{_tail(path / 'scheduler.log')}")
            time.sleep(0.1)
        processes.append(_start(["worker", "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1",
                                 "--no-dashboard", "--death-timeout", str(START_TIMEOUT), "--local-directory",
                                 str(path), "--scheduler-file", str(scheduler_file)], path / "worker.log"))
        dask_client = distributed.Client(scheduler_file=str(scheduler_file), timeout=START_TIMEOUT)
        try:
            try:
                dask_client.wait_for_workers(2, timeout=START_TIMEOUT)
            except TimeoutError:
                pytest.fail(f"the two dask workers did not start:\n{_tail(path / 'worker.log')}")
            yield dask_client
        finally:
            dask_client.close(timeout=STOP_TIMEOUT)
    finally:
        for process in reversed(processes):  # workers first: they would otherwise wait for the scheduler
            _stop(process)


@pytest.fixture(scope="module")
def two_workers(client, toy_spec, tmp_path_factory):
    """The toy sweep on the two-worker cluster through the Python API: (rows, CSV path,
    progress lines, the workers the runs ran on)."""
    out = tmp_path_factory.mktemp("api") / "rows.csv"
    lines = []
    with distributed.get_task_stream(client=client) as tasks:
        rows = _bounded(lambda: fastnn.sweep(toy_spec, client=client, out=out, progress=lines.append))
    ran_on = [task["worker"] for task in tasks.data if str(task["key"]).startswith("run_one")]
    return rows, out, lines, ran_on


def _without_timings(row):
    return {k: v for k, v in row.items() if k not in TIMINGS}


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# -- tests -------------------------------------------------------------------------------------

def test_python_api_on_a_two_worker_cluster(two_workers, client, oracle):
    """fastnn.sweep(client=...): every run once, on the cluster's workers, in grid order; no
    errors; the rows are run_one's rows (timings aside); the CSV holds the same rows; one
    progress line per run."""
    rows, out, lines, ran_on = two_workers
    assert [r["run_id"] for r in rows] == list(oracle)  # grid order, every run
    assert all(r["error"] == "" for r in rows), [r["error"] for r in rows]
    assert len(ran_on) == 8  # each run once, as a Dask task
    assert set(ran_on) <= set(client.scheduler_info()["workers"])
    for row in rows:
        assert 0.0 <= row["test_accuracy"] <= 1.0 and np.isfinite(row["test_loss"]) and row["epochs_run"] == 15
        assert row["seconds"] > 0 and row["examples_per_s"] > 0 and not row["diverged"]
        assert _without_timings(row) == {**_without_timings(oracle[row["run_id"]]), "run_id": row["run_id"]}
    assert min(r["test_accuracy"] for r in rows if r["lr"] == 0.1) > 0.75  # chance is about 0.5
    written = _read_csv(out)
    assert sorted(r["run_id"] for r in written) == sorted(r["run_id"] for r in rows)
    by_id = {r["run_id"]: r for r in written}
    for row in rows:  # the CSV says what the API returned (as text)
        assert float(by_id[row["run_id"]]["test_accuracy"]) == row["test_accuracy"]
        assert by_id[row["run_id"]]["error"] == ""
    assert len(lines) == 8 and lines[-1].startswith("sweep: 8/8 runs done, 0 failed"), lines


def test_cli_against_a_scheduler_address(client, toy_spec, two_workers, folder, tmp_path):
    """`fastnn sweep SPEC --scheduler tcp://127.0.0.1:PORT`: exit 0, one CSV row per run, the summary
    (one line per configuration) on stdout, progress on stderr. Run again with the same --out it
    resumes: nothing is run, the CSV is untouched and the summary read back from it is the same."""
    spec_file = tmp_path / "spec.toml"
    grid = "\n".join(f"{k} = {json.dumps(v)}" for k, v in GRID.items())
    spec_file.write_text(f'data = "{folder / "toy.npz"}"\nepochs = 15\ntarget_accuracy = 0.7\n[grid]\n{grid}\n')
    out, json_path = tmp_path / "rows.csv", tmp_path / "rows.json"
    address = client.scheduler.address
    assert address.startswith("tcp://127.0.0.1:")
    rc, stdout, stderr = _fastnn("sweep", spec_file, "--scheduler", address, "--out", out, "--json", json_path,
                                 cwd=tmp_path)
    assert rc == 0, stderr
    written = _read_csv(out)
    assert len(written) == 8 and all(r["error"] == "" for r in written)
    api_rows = {r["run_id"]: r for r in two_workers[0]}
    assert {r["run_id"] for r in written} == set(api_rows)  # a TOML spec and a dict name the same runs
    for row in written:
        assert float(row["test_accuracy"]) == api_rows[row["run_id"]]["test_accuracy"]
    summary = stdout.splitlines()
    assert summary[0] == "layers | lr | test_accuracy mean | sd | runs | failed | s/run"
    assert len(summary) == 1 + 4 + 1 and summary[-1] == f"rows: {out}"
    assert all(line.split(" | ")[4:6] == ["2", "0"] for line in summary[1:5]), summary  # 2 seeds, 0 failed
    assert "sweep: 8/8 runs done, 0 failed" in stderr
    assert len(json.load(open(json_path))["rows"]) == 8

    before = out.read_bytes()
    rc, again, stderr = _fastnn("sweep", spec_file, "--scheduler", address, "--out", out, cwd=tmp_path)
    assert rc == 0, stderr
    assert out.read_bytes() == before and "runs done" not in stderr
    assert again == stdout


def test_same_rows_on_one_worker_as_on_two(two_workers, toy_spec, oracle, tmp_path):
    """fastnn.sweep(workers=1): the default path, which starts (and closes) its own LocalCluster,
    gives the same rows as the two-worker cluster and as run_one in this process, all but the timings."""
    rows = _bounded(lambda: fastnn.sweep(toy_spec, workers=1, out=tmp_path / "rows.csv"))
    assert all(r["error"] == "" for r in rows), [r["error"] for r in rows]
    assert [_without_timings(r) for r in rows] == [_without_timings(r) for r in two_workers[0]]
    assert any(r["examples_to_target"] for r in rows)  # the target column took part in the comparison
    assert len(_read_csv(tmp_path / "rows.csv")) == 8


def test_bad_spec_exits_2_with_one_line_naming_the_key(folder, tmp_path):
    """A misspelt key: exit status 2, one line on stderr naming the key, nothing on stdout, no --out
    file; checked before any cluster is started or contacted (the address here is never dialled)."""
    bad = tmp_path / "bad.toml"
    bad.write_text(f'data = "{folder / "toy.npz"}"\nlayers = "4:tanh,2:softmax"\nlerning_rate = 0.1\n')
    out = tmp_path / "rows.csv"
    rc, stdout, stderr = _fastnn("sweep", bad, "--scheduler", "tcp://127.0.0.1:9", "--out", out, cwd=tmp_path,
                                 timeout=60)
    assert rc == 2
    assert len(stderr.strip().splitlines()) == 1 and "'lerning_rate'" in stderr, stderr
    assert stdout == "" and not out.exists() and os.listdir(tmp_path) == ["bad.toml"]


def test_a_worker_killed_mid_sweep_costs_no_row(client, folder, tmp_path):
    """SIGKILL a worker process while it is running a run, right after the first row arrives: Dask
    runs the lost run again on a worker still alive (the nanny may restart the killed one), and
    every row still arrives, once, without an error. Runs last: the cluster is back to two
    workers before it returns."""
    slow = {"data": str(folder / "slow.npz"), "layers": "32:tanh,2:softmax", "mode": "online", "epochs": 60,
            "grid": {"seed": list(range(8))}}  # about 1 s per run here
    out = tmp_path / "rows.csv"
    killed = {}

    def kill_a_busy_worker(line):
        if killed:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # a worker between two runs is not busy: look again
            busy = client.run(lambda dask_worker: [str(ts.key) for ts in dask_worker.state.executing])
            busy = {address: keys for address, keys in busy.items() if keys}
            if busy:
                address, keys = sorted(busy.items())[0]
                pid = client.run(os.getpid, workers=[address])[address]
                os.kill(pid, signal.SIGKILL)
                killed.update(address=address, pid=pid, keys=keys, after=line)
                return
            time.sleep(0.05)

    try:
        rows = _bounded(lambda: fastnn.sweep(slow, client=client, out=out, progress=kill_a_busy_worker))
        assert killed, "no worker was found running a run to kill"
        assert killed["after"].startswith("sweep: 1/8 runs done"), killed
        assert len(rows) == 8 and all(r["error"] == "" for r in rows), [r["error"] for r in rows]
        assert all(r["epochs_run"] == 60 and r["test_accuracy"] > 0.6 for r in rows)
        written = _read_csv(out)
        assert len(written) == 8 and len({r["run_id"] for r in written}) == 8  # no row twice
        assert all(r["error"] == "" for r in written)
    finally:
        client.wait_for_workers(2, timeout=START_TIMEOUT)  # the nanny's restart, for whatever runs next
    assert killed["pid"] not in client.run(os.getpid).values()  # it did die
