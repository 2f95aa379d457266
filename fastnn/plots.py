"""The figure of `fastnn bench --plot`: the lecture's comparison of training modes.

Test accuracy against wall-clock training time and against examples seen, one curve per mode
(and per compared library). Needs matplotlib (imported only here, only when asked).
"""
import os

from . import peers
from .bench import mode_label
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

    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter

    fig, (by_time, by_examples) = plt.subplots(1, 2, figsize=(12.5, 4.2), sharey=True)
    styles = {"": "-", "torch_": ":", "sklearn_": "--"}  # the library by line style, the mode by colour
    libraries = [""] + [p + "_" for p in peers.PEERS if p + "_curve" in rows[0]]
    for i, row in enumerate(rows):
        for prefix in libraries:
            curve = row[prefix + "curve"]
            for ax, x in ((by_time, "seconds"), (by_examples, "examples")):
                ax.plot([c[x] for c in curve], [c["test_accuracy"] for c in curve], styles[prefix],
                        color=f"C{i % 10}", marker="o", markersize=3)
    by_time.set(xlabel="training time (s)", ylabel="test accuracy", xscale="log")
    by_examples.set(xlabel="examples seen", xscale="log")
    for ax in (by_time, by_examples):
        ax.xaxis.set_minor_formatter(NullFormatter())  # labels at 2x, 3x.. of a short log axis overlap
    # One legend entry per mode and one per library (not one per curve), outside the axes.
    modes = [Line2D([], [], color=f"C{i % 10}", marker="o", markersize=3, label=mode_label(row))
             for i, row in enumerate(rows)]
    names = [Line2D([], [], color="black", linestyle=styles[p], label=p[:-1] or "fastnn") for p in libraries]
    fig.legend(handles=modes + (names if len(libraries) > 1 else []), loc="center right", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.87, 1))  # the right margin holds the legend
    with atomic_write(path) as f:  # a file object: savefig needs the format named
        fig.savefig(f, format=image_format(path), dpi=110)
    plt.close(fig)
