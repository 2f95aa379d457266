"""The `fastnn` command line. No logic here: it parses, calls fastnn.bench and prints."""
import json
import sys
import zipfile

import click


@click.group()
@click.version_option(package_name="fastnn")
def main():
    """fastnn: compiled training of fully connected neural networks."""


def _ints(ctx, param, value):
    try:
        out = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers such as '128' or '256,128', got {value!r}")
    if not out or min(out) < 1:
        raise click.BadParameter(f"expected positive integers, got {value!r}")
    return out


@main.command()
@click.option("--layers", "hidden", default="128", callback=_ints, show_default=True,
              help="Hidden layer sizes, comma-separated; the softmax output layer is added.")
@click.option("--activation", default="tanh", show_default=True, help="Activation of the hidden layers.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("--n-train", type=click.IntRange(min=100), default=20000, show_default=True,
              help="Training examples (the first N of --data, or synthetic).")
@click.option("--epochs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Epochs per configuration; examples/s is the median over them.")
@click.option("--batch-sizes", default="8,32,128,512", callback=_ints, show_default=True,
              help="Mini-batch sizes to run besides online and full batch.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="One learning rate for every mode (default: a rate per mode).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Threads for Numba and BLAS.")
@click.option("--data", type=click.Path(exists=True, dir_okay=False), default=None,
              help=".npz with x_train, y_train, x_test, y_test (like MNIST); default: built-in synthetic task.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the rows and the environment to this JSON file.")
def bench(hidden, activation, dtype, n_train, epochs, batch_sizes, lr, threads, data, json_path):
    """Train one network online, with mini-batches and full batch; print speed and accuracy."""
    import numba
    from threadpoolctl import threadpool_limits

    from . import activations, bench as b, datasets

    try:
        if not activations.get(activation).hidden:
            raise ValueError(f"{activation} cannot be used on hidden layers")
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--activation")
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    if data:
        try:
            x_train, y_train, x_test, y_test = datasets.load_npz(data)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise click.BadParameter(f"cannot read {data}: {e}", param_hint="--data")
        source = data
    else:
        x_train, y_train, x_test, y_test = datasets.synthetic_mnist(n_train, max(1000, n_train // 4))
        source = "synthetic MNIST-shaped task (fastnn.datasets.synthetic_mnist)"
    d = (x_train[:n_train], y_train[:n_train], x_test, y_test)
    n = len(d[0])
    configs = list(b.configurations(n, batch_sizes))
    rows = []
    with threadpool_limits(threads), click.progressbar(configs, label="training", file=sys.stderr,
                                                       item_show_func=lambda c: c and f"{c[0]} {c[1]}") as bar:
        for mode, size in bar:
            rate = lr if lr is not None else b.default_lr(size, n)
            rows.append(b.run_one(d, hidden, activation, dtype, mode, size, epochs, rate))
    env = b.environment(threads, dtype)
    click.echo(f"data: {source}, {n} training and {len(d[2])} test examples; network "
               f"{rows[0]['network']} {activation}, {dtype}, {threads} thread(s), {env['cpu']}")
    click.echo(b.format_table(rows))
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"environment": env, "data": source, "rows": rows}, f, indent=2)
