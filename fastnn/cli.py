"""The `fastnn` command line. No logic here: it parses, calls fastnn.bench and prints."""
import contextlib
import json
import os
import sys

import click


@click.group()
@click.version_option(package_name="fastnn")
def main():
    """fastnn: compiled training of fully connected neural networks.

    Exit status: 0 on success; 2 for a usage error, which the input must fix (an option, or a
    data or model file that cannot be used); 1 for a failure that is not the input's (a full
    disk, a file that could not be written); 3 when training diverged (what was saved is the
    last model whose loss was sane).
    """


DIVERGED = 3  # exit status of a training run whose loss diverged


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _ints(ctx, param, value):
    try:
        out = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers such as '128' or '256,128', got {value!r}")
    if not out or min(out) < 1:
        raise click.BadParameter(f"expected positive integers, got {value!r}")
    return out


def _bench_layers(ctx, param, value):
    """--layers of bench: hidden sizes ("256,128"; --activation for all, the softmax output added),
    or train's spec ("256:relu,128:relu,10:softmax") of hidden layers that share one activation
    (the peers are built from sizes and one activation). Returns (sizes, activation or None,
    output units or None)."""
    from . import specs

    if ":" not in value:
        return _ints(ctx, param, value), None, None
    try:
        layers = specs.layers(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    hidden, out = layers[:-1], layers[-1]
    kinds = {(layer.activation.name, layer.init == layer.activation.default_init, layer.batch_norm is None)
             for layer in hidden}
    if not hidden or out.activation.name != "softmax" or len(kinds) != 1 or not all(k[1] and k[2] for k in kinds):
        raise click.BadParameter(f"bench compares the modes of one classifier: hidden layers that share one "
                                 f"activation (no init or :bn), then a softmax layer, e.g. '256:relu,128:relu,10:softmax'; "
                                 f"got {value!r}")
    return tuple(layer.units for layer in hidden), hidden[0].activation.name, out.units


@main.command()
@click.option("--layers", "hidden", default="128", callback=_bench_layers, show_default=True,
              help="Hidden layer sizes, comma-separated (the softmax output layer is added), or train's spec "
                   "such as '128:tanh,10:softmax'.")
@click.option("--activation", default="tanh", show_default=True, help="Activation of the hidden layers.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("--n-train", type=click.IntRange(min=100), default=20000, show_default=True,
              help="Training examples (the first N of --data, or synthetic).")
@click.option("--epochs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Epochs per configuration; examples/s is the median over them.")
@click.option("--batch-sizes", default="8,32,128,512", callback=_ints, show_default=True,
              help="Mini-batch sizes to run besides online and full batch.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="One learning rate for every mode (default: a short search per mode, 0.3x, 1x, 3x a default).")
@click.option("--target-accuracy", "target", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Also report the time and examples until the test accuracy first reaches this "
                   "(checked about ten times per epoch).")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs per configuration (seeds 0..N-1): the median and the spread.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Threads for Numba and BLAS.")
@click.option("--data", type=click.Path(exists=True, dir_okay=False), default=None,
              help=".npz with x_train, y_train, x_test, y_test (like MNIST), or .csv with a header row (--target "
                   "names the labels; a fifth of the rows is held out for testing); default: a synthetic task.")
@click.option("--target", "target_column", default=None, help="CSV: the column holding the labels.")
@click.option("--preprocess", default=None,
              help='As in train: default standardize unless every input lies in [-1, 1]; "none"; or steps.')
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the rows, their accuracy curves and the environment to this JSON file.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write one row per run (every repeat) to this CSV file.")
@click.option("--compare", multiple=True, type=click.Choice(["torch", "sklearn"]),
              help="Train the same network with PyTorch and/or scikit-learn too (when installed); repeatable.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Draw test accuracy against time and against examples seen, per mode (needs matplotlib).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Train on the CPU or on an NVIDIA GPU (needs fastnn[cuda]); --compare torch then uses the GPU too.")
def bench(hidden, activation, dtype, n_train, epochs, batch_sizes, lr, target, repeat, threads, data, target_column,
          preprocess, json_path, csv_path, compare, plot_path, device):
    """Train one network online, with mini-batches and full batch; print speed and accuracy."""
    import numba
    import numpy as np
    from threadpoolctl import threadpool_limits

    from . import activations, bench as b, datasets, plots
    from ._files import atomic_write

    hidden, spec_activation, n_outputs = hidden
    if spec_activation is not None:
        ctx = click.get_current_context()
        if ctx.get_parameter_source("activation") == click.core.ParameterSource.COMMANDLINE \
                and activation != spec_activation:
            raise click.BadParameter(f"--layers names {spec_activation!r} and --activation {activation!r}: give one",
                                     param_hint="--activation")
        activation = spec_activation
    try:
        if not activations.get(activation).hidden:
            raise ValueError(f"{activation} cannot be used on hidden layers")
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--activation")
    _check_bench_outputs(json_path, csv_path, plot_path)
    _check_device(device)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    threads = numba.get_num_threads()  # what fastnn (and the peers) really get
    if target_column is not None and _is_number(target_column):
        raise click.BadParameter(f"--target names the label column of a CSV, got {target_column!r}; the accuracy to "
                                 f"reach is --target-accuracy {target_column}", param_hint="--target")
    if data:
        from . import commands

        with _errors():
            d = commands.bench_data(data, target_column, preprocess, n_train)
        source = data
    else:
        if target_column is not None or preprocess is not None:
            raise click.UsageError("--target and --preprocess apply to --data; the synthetic task needs neither")
        x_train, y_train, x_test, y_test = datasets.synthetic_mnist(n_train, max(1000, n_train // 4))
        source = "synthetic MNIST-shaped task (fastnn.datasets.synthetic_mnist)"
        d = (x_train[:n_train], y_train[:n_train], x_test, y_test)
    if n_outputs is not None and n_outputs != len(np.unique(d[1])):
        raise click.BadParameter(f"the output layer has {n_outputs} units but the data has {len(np.unique(d[1]))} "
                                 "classes", param_hint="--layers")
    n = len(d[0])
    jobs = [(mode, size, seed) for mode, size in b.configurations(n, batch_sizes) for seed in range(repeat)]
    runs, rates, compiles = {}, {}, {}
    with threadpool_limits(threads):
        for mode, size, seed in jobs:  # compile before the bar starts: its ETA is the training's alone
            if (mode, size) not in compiles:
                with _bad_data():
                    compiles[mode, size] = b.warm_up(d, hidden, activation, dtype, mode, size, device=device)
    with threadpool_limits(threads), click.progressbar(jobs, label="training", file=sys.stderr,
                                                       item_show_func=lambda j: j and f"{j[0]} {j[1]}") as bar:
        for mode, size, seed in bar:
            with _bad_data():
                if (mode, size) not in rates:
                    rates[mode, size] = lr if lr is not None else b.pick_lr(d, hidden, activation, dtype, mode, size,
                                                                            device=device)
                run = b.run_one(d, hidden, activation, dtype, mode, size, epochs, rates[mode, size], seed, target,
                                compiles[mode, size], device=device)
            runs.setdefault((mode, size), []).append(run)
    rows = [{**b.summarize(r), "lr_searched": lr is None} for r in runs.values()]
    peers_ok = _usable_peers(compare, activation, device)
    if peers_ok:
        with threadpool_limits(threads), click.progressbar(rows, label="peers", file=sys.stderr) as bar:
            for row in bar:
                for peer in peers_ok:
                    figures = b.compare(peer, d, hidden, activation, dtype, row["mode"], row["batch_size"], epochs,
                                        row["lr"], threads, target=target, device=device)
                    b.add_peer(row, peer, figures)
    env = b.environment(threads, dtype, device)
    where = f"GPU {env['gpu']}" if device == "cuda" else f"{threads} thread(s), {env['cpu']}"
    click.echo(f"data: {source}, {n} training and {len(d[2])} test examples; network "
               f"{rows[0]['network']} {activation}, {dtype}, {where}")
    click.echo(b.format_table(rows))
    click.echo(b.verdict(rows))
    if json_path:
        with _errors(json_path), atomic_write(json_path, "w") as f:
            json.dump({"environment": env, "data": source, "rows": rows, "runs": b.per_run(runs, rows)}, f, indent=2)
    if csv_path:
        with _errors(csv_path):
            b.write_csv(csv_path, b.per_run(runs, rows), env)
    if plot_path:
        with _errors(plot_path):
            plots.accuracy_curves(rows, plot_path, title=f"{rows[0]['network']} {activation}, {source}")
        click.echo(f"plot: {plot_path}")


def _check_bench_outputs(json_path, csv_path, plot_path):
    """Before the benchmark runs: each output can be written, and a plot drawn."""
    from . import plots

    for name, path in (("--json", json_path), ("--csv", csv_path), ("--plot", plot_path)):
        _check_writable(name, path, special_ok=True)  # results may go to /dev/stdout
    if plot_path:
        import importlib.util
        if importlib.util.find_spec("matplotlib") is None:
            raise click.ClickException("--plot needs matplotlib: pip install matplotlib (or 'fastnn[plot]')")
        try:
            plots.image_format(plot_path)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--plot")


def _usable_peers(compare, activation, device="cpu"):
    """The requested peers that can run; a message on stderr for each that cannot."""
    from . import peers

    usable = []
    for peer in dict.fromkeys(compare):
        reason = peers.missing(peer) or (None if peers.supports(peer, activation) else
                                         f"{peer} has no {activation!r} activation to compare")
        if not reason and device == "cuda" and peer == "sklearn":
            reason = "scikit-learn has no GPU path (compare it with --device cpu)"
        if not reason and device == "cuda" and peer == "torch":
            import torch

            reason = None if torch.cuda.is_available() else "this PyTorch build sees no CUDA GPU"

        if reason:
            click.echo(f"--compare {peer}: skipped, {reason}", err=True)
        else:
            usable.append(peer)
    return usable


def _check_device(device):
    """--device cuda without numba-cuda or a GPU: the reason, before any work."""
    from .device import check

    try:
        check(device, "--device")
    except RuntimeError as e:
        raise click.BadParameter(str(e), param_hint="--device")


@contextlib.contextmanager
def _threads(n):
    """Numba's (and so fastnn's BLAS) threads for one command, n=None: as they are; restored
    after, so that a command run in-process (a test, a notebook) leaves the setting alone."""
    import numba

    before = numba.get_num_threads()
    if n is not None:
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(before)


@contextlib.contextmanager
def _bad_data():
    """A ValueError while training on --data: data that cannot train this network (test labels, widths)."""
    try:
        yield
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--data") from None


@contextlib.contextmanager
def _errors(writing=None):
    """How a command's errors end it: the user's input (ValueError, TypeError) with status 2 and
    the option to fix where known; an OSError, a failure of the machine rather than the input
    (a full disk), with status 1, naming the file being ``writing``."""
    from .commands import OptionError

    try:
        yield
    except OptionError as e:
        raise click.BadParameter(str(e), param_hint=e.option) from None
    except (ValueError, TypeError) as e:
        raise click.UsageError(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"cannot write {writing}: {e.strerror or e}" if writing else str(e)) from None


def _check_writable(option, path, special_ok=False):
    """Fail before the work, not after it, when an output file cannot be created or replaced."""
    from ._files import check_writable

    if path is None:
        return
    try:
        check_writable(path, special_ok=special_ok)
    except OSError as e:
        # check_writable's own messages say what to do; the system's (strerror) only what failed
        reason = str(e) if e.strerror is None else f"cannot write {path}: {e.strerror}; choose another path"
        raise click.BadParameter(reason, param_hint=option) from None


def _check_replaceable(option, path, kind, inputs):
    """Refuse, before the work, an output that would destroy an input or a file of another kind."""
    from ._files import check_replaceable

    if path is None:
        return
    try:
        check_replaceable(path, kind, inputs)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=option) from None
    except OSError as e:  # an existing file that cannot be read: its kind is unknown
        raise click.BadParameter(f"cannot read {path} to check what it holds: {e.strerror or e}; choose another path",
                                 param_hint=option) from None


@main.command()
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False),
              help=".npz (x_train, y_train; x_test, y_test optional; the model scales uint8 pixels by 1/255) "
                   "or .csv with a header row.")
@click.option("--target", default=None, help="CSV: the column holding y.")
@click.option("--layers", required=True,
              help='units:activation[:init][:bn] per layer, e.g. "128:lecun_tanh,10:softmax".')
@click.option("--mode", type=click.Choice(["online", "minibatch", "batch"]), default="minibatch", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Mini-batch size (default 32).")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--lr", default="0.01", show_default=True,
              help='A rate, or a schedule such as "search_then_converge:0.1,2000" or "adaptive:0.05".')
@click.option("--optimizer", default=None, help="sgd, delta_bar_delta, rmsprop, adam or rprop.")
@click.option("--momentum", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True)
@click.option("--nesterov", is_flag=True, help="Nesterov's momentum (with --momentum).")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="L2 penalty on the weights (not the biases).")
@click.option("--loss", type=click.Choice(["cross_entropy", "mse"]), default=None,
              help="Default: cross_entropy after softmax or logistic outputs, mse otherwise.")
@click.option("--scale-targets/--no-scale-targets", default=True, show_default=True,
              help="Regression: learn the targets as z-scores (kept in the model; predictions come back in their "
                   "units).")
@click.option("--early-stopping", type=click.IntRange(min=1), default=None, metavar="PATIENCE",
              help="Stop after PATIENCE epochs without a new best validation loss (the training loss without "
                   "--validation-split) and keep the best weights.")
@click.option("--layer-scaling", type=click.Choice(["fan_in"]), default=None,
              help="fan_in: each layer learns at lr / sqrt(its fan-in) (LeCun's per-layer rates).")
@click.option("--bn-statistics", type=click.Choice(["moving", "training_set"]), default="moving", show_default=True,
              help="Batch norm at inference: moving averages, or the statistics of the whole training set.")
@click.option("--preprocess", default=None,
              help='Default: standardize (z-scores, kept in the model) unless every input already lies in [-1, 1] '
                   '(such as pixels in [0, 1], whose zeros the first layer skips); "none"; or steps such as '
                   '"standardize,pca:0.95:whiten".')
@click.option("--order", default=None, help="shuffle, sequential, interleave, balanced or emphasis.")
@click.option("--validation-split", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("--save", type=click.Path(dir_okay=False), default=None, help="Write the model here (.npz).")
@click.option("--log", type=click.Path(dir_okay=False), default=None,
              help="Write the history, one CSV row per epoch (loss, validation, rate, seconds).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads for Numba and BLAS (default: Numba's setting, NUMBA_NUM_THREADS).")
@click.option("--quiet", is_flag=True, help="No line per epoch.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Train on the CPU or on an NVIDIA GPU (needs fastnn[cuda]).")
def train(quiet, **kw):
    """Train a network on your data; one line per epoch; Ctrl-C stops after the epoch (and saves)."""
    from . import commands

    _check_writable("--save", kw["save"])  # a model written to /dev/stdout or /dev/full would be lost
    _check_writable("--log", kw["log"], special_ok=True)
    _check_replaceable("--save", kw["save"], "npz", [kw["data"]])
    _check_replaceable("--log", kw["log"], "text", [kw["data"], kw["save"]])
    if kw["log"] and kw["save"] and os.path.abspath(kw["log"]) == os.path.abspath(kw["save"]):
        raise click.BadParameter(f"--log and --save both name {kw['log']}: the history would replace the model; "
                                 "choose another path", param_hint="--log")
    _check_device(kw["device"])
    echo = (lambda line: None) if quiet else (lambda line: click.echo(line, err=True))
    with _errors(kw["save"]), _threads(kw.pop("threads")):
        net, test = commands.train(**kw, echo=echo)
    if test:
        click.echo("test: " + "  ".join(f"{k} {v:.4f}" for k, v in test.items()))
    if kw["save"]:
        click.echo(f"saved {kw['save']}")
    if net.diverged_:
        click.echo("training diverged: the latest weights whose loss was sane were kept" +
                   (" and saved" if kw["save"] else "") + "; lower --lr", err=True)
        sys.exit(DIVERGED)
    advice = commands.trend_advice(net)
    if advice and not quiet:
        click.echo(advice, err=True)


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False),
              help=".npz (x_test, x or x_train, and its y_test, y or y_train if present) or .csv (every column a "
                   "feature unless --target names one).")
@click.option("--target", default=None, help="CSV: the column holding the targets, left out of the inputs.")
@click.option("--output", default="predictions.csv", show_default=True, type=click.Path(dir_okay=False),
              help="Where to write: .npy, or anything else for CSV, one prediction per line.")
@click.option("--proba", is_flag=True, help="Write the class probabilities, one column per class, not the labels.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads for Numba and BLAS (default: Numba's setting, NUMBA_NUM_THREADS).")
def predict(model, data, target, output, proba, threads):
    """Predict with a saved model; with the targets in the data, print the score on stderr
    (accuracy, or R^2, MAE and RMSE for a regression)."""
    from . import commands

    _check_writable("--output", output, special_ok=True)  # predictions may go to /dev/stdout
    _check_replaceable("--output", output, "npy" if output.endswith(".npy") else "text", [model, data])
    with _errors(output), _threads(threads):
        n, score = commands.predict(model, data, target, output, proba, echo=lambda line: click.echo(line, err=True))
    click.echo(f"wrote {n} predictions to {output}", err=True)  # stderr: stdout may be the predictions
    if score and "no score" in score:  # the predictions are written; the targets could not be scored
        click.echo(f"no score: {score['no score']}", err=True)
    elif score:
        click.echo("score: " + "  ".join(f"{k} {v:.4f}" for k, v in score.items()), err=True)


@main.command()
def info():
    """Versions, threads, CUDA and where compiled kernels are cached."""
    from . import commands

    for name, value in commands.info():
        click.echo(f"{name:<13}{value}")


@main.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("--scheduler", default=None, help="Address of a running Dask scheduler (tcp://host:8786); "
                                                "default: a local cluster of --workers processes.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Local worker processes (default: the cores).")
@click.option("--out", type=click.Path(dir_okay=False), default="sweep.csv", show_default=True,
              help="CSV of one row per run, appended as runs finish; rerunning skips the rows already there.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the rows and the environment as JSON.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Draw test accuracy per configuration (every seed) and against time (needs matplotlib).")
def sweep(spec, scheduler, workers, out, json_path, plot_path):
    """Train every combination of a TOML spec's [grid] (several seeds each) on Dask; one row per run."""
    import importlib.util

    from . import _sweep, bench as b
    from ._sweep import driver, report, spec as sweep_spec

    if importlib.util.find_spec("distributed") is None:
        raise click.ClickException(driver.INSTALL)
    _check_writable("--out", out)
    _check_bench_outputs(json_path, None, plot_path)
    try:
        sweep_spec.load(spec)  # a bad spec: one line naming the key, exit 2, nothing written
    except sweep_spec.SpecError as e:
        click.echo(f"fastnn sweep: {spec}: {e}", err=True)
        sys.exit(2)
    client = None
    if scheduler:
        from dask.distributed import Client

        client = Client(scheduler, timeout=60)
    try:
        with _errors(out):
            rows = _sweep.sweep(spec, client=client, workers=workers, out=out, progress=driver.print_progress)
    finally:
        if client is not None:
            client.close()
    click.echo("", err=True)
    click.echo("\n".join(report.summary(rows)))
    click.echo(f"rows: {out}")
    if json_path:
        with _errors(json_path):
            report.write_json(json_path, rows, b.environment(1, rows[0]["dtype"], "cpu"))
    if plot_path:
        with _errors(plot_path):
            report.plot(plot_path, rows)
