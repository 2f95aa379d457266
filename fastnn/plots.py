"""The figure of `fastnn bench --plot`: the lecture's comparison of training modes.

Test accuracy against wall-clock training time and against examples seen, one curve per mode
(and per compared library). Needs matplotlib (imported only here, only when asked).
"""
import os

from . import peers
from ._files import atomic_write


def image_format(path):
    """The image format named by ``path``'s suffix (png without one), or a ValueError listing
    what matplotlib writes: checked before the benchmark runs, not after."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = os.path.splitext(str(path))[1][1:].lower() or "png"
    if suffix not in formats:
        raise ValueError(f"matplotlib cannot draw a .{suffix} file ({path}); name one ending in one of "
                         f"{sorted(formats)}")
    return suffix


def accuracy_curves(rows, path, title=""):
    """Draw the figure into ``path`` (through atomic_write: a failure keeps the previous file)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    fig, (by_time, by_examples) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    styles = {"": "-", "torch_": ":", "sklearn_": "--"}  # fastnn solid; one colour per mode
    for i, row in enumerate(rows):
        label = row["mode"] if row["mode"] != "minibatch" else f"batch {row['batch_size']}"
        for prefix in [""] + [p + "_" for p in peers.PEERS if p + "_curve" in row]:
            style = styles[prefix]
            curve = row[prefix + "curve"]
            name = label + (f" ({prefix[:-1]})" if prefix else "")
            for ax, x in ((by_time, "seconds"), (by_examples, "examples")):
                ax.plot([c[x] for c in curve], [c["test_accuracy"] for c in curve], style, color=f"C{i % 10}",
                        marker="o", markersize=3, label=name if ax is by_examples else None)
    by_time.set(xlabel="training time (s)", ylabel="test accuracy", xscale="log")
    by_examples.set(xlabel="examples seen", xscale="log")
    by_examples.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_write(path) as f:  # a file object: savefig needs the format named
        fig.savefig(f, format=image_format(path), dpi=110)
    plt.close(fig)
