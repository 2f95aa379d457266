"""The one-line epoch report that `fit(verbose=True)` and `fastnn train` both print."""


def epoch_line(history, epoch, epochs, n, train_acc=None):
    """"epoch 3/10  loss 0.2143  [acc ..]  [val_loss .. val_acc ..]  lr 0.05  181,000 ex/s" from
    fit's history (its latest entries); ``train_acc``: an accuracy on training data, if measured."""
    parts = [f"epoch {epoch}/{epochs}", f"loss {history['loss'][-1]:.4f}"]
    if train_acc is not None:
        parts.append(f"acc {train_acc:.4f}")
    if "val_loss" in history:
        parts.append(f"val_loss {history['val_loss'][-1]:.4f}")
    if "val_accuracy" in history:
        parts.append(f"val_acc {history['val_accuracy'][-1]:.4f}")
    parts.append(f"lr {history['lr'][-1]:.4g}")
    if "momentum" in history:
        parts.append(f"momentum {history['momentum'][-1]:.3g}")
    parts.append(f"{n / max(history['time'][-1], 1e-9):,.0f} ex/s")
    return "  ".join(parts)
