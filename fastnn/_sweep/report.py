"""What a sweep tells: per configuration the mean and spread of the seeds, best first."""
import json
import math
import statistics

from . import spec as _spec


def number(value):
    """A metric as a float (rows read back from a CSV hold text), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value in ("True", "False"):
        return float(value == "True")
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def grid_keys(rows):
    """The keys whose values differ between rows (the grid), seed last."""
    keys = [k for k in sorted(_spec.DEFAULTS) if len({str(r.get(k)) for r in rows}) > 1]
    return [k for k in keys if k != "seed"] + (["seed"] if "seed" in keys else [])


def summary(rows, metric="test_accuracy"):
    """Lines of a table: one per configuration (the grid keys but seed), with the mean and
    standard deviation of ``metric`` over its seeds, runs, failures and mean seconds; best first."""
    keys = [k for k in grid_keys(rows) if k != "seed"]
    groups = {}
    for row in rows:
        groups.setdefault(tuple(str(row.get(k)) for k in keys), []).append(row)
    table = []
    for config, group in groups.items():
        values = [v for v in (number(r.get(metric)) for r in group) if v is not None]
        seconds = [v for v in (number(r.get("seconds")) for r in group) if v is not None]
        mean = statistics.fmean(values) if values else math.nan
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        failed = sum(bool(r.get("error")) for r in group)
        table.append((mean, config, spread, len(group), failed, statistics.fmean(seconds) if seconds else math.nan))
    table.sort(key=lambda t: (-t[0] if not math.isnan(t[0]) else math.inf))
    header = keys + [f"{metric} mean", "sd", "runs", "failed", "s/run"]
    lines = [" | ".join(header)]
    for mean, config, spread, n, failed, seconds in table:
        lines.append(" | ".join(list(config) + [f"{mean:.4f}", f"{spread:.4f}", str(n), str(failed), f"{seconds:.2f}"]))
    return lines


def write_json(path, rows, environment):
    from .._files import atomic_write

    with atomic_write(path, "w") as f:
        json.dump({"environment": environment, "rows": rows}, f, indent=1, default=str)


def plot(path, rows, metric="test_accuracy"):
    """Accuracy per configuration (every seed a dot) and accuracy against seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .._files import atomic_write

    keys = [k for k in grid_keys(rows) if k != "seed"]
    labels = sorted({", ".join(f"{k}={r.get(k)}" for k in keys) for r in rows})
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.4 * len(labels) + 2))
    for i, label in enumerate(labels):
        group = [r for r in rows if ", ".join(f"{k}={r.get(k)}" for k in keys) == label]
        ys = [number(r.get(metric)) for r in group]
        xs = [number(r.get("seconds")) for r in group]
        left.scatter([y for y in ys if y is not None], [i] * sum(y is not None for y in ys), s=12)
        right.scatter([x for x, y in zip(xs, ys) if x is not None and y is not None],
                      [y for x, y in zip(xs, ys) if x is not None and y is not None], s=12, label=label)
    left.set_yticks(range(len(labels)), labels, fontsize=7)
    left.set_xlabel(metric)
    right.set_xlabel("seconds per run")
    right.set_ylabel(metric)
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format=path.rsplit(".", 1)[-1] if "." in str(path) else "png")
    plt.close(fig)
