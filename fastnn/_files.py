"""Writing files so that a failure never costs the previous file at that path.

Every file fastnn writes (models, predictions, benchmark results, plots) goes through
:func:`atomic_write`: the bytes go to a temporary file in the target's folder, are flushed
and fsynced, and only then replace the target with ``os.replace`` (atomic on POSIX and
Windows within one file system). A full disk, a file-size limit or a Ctrl-C part-way leaves
the old file as it was and removes the temporary one.
"""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path, mode="wb", **open_kwargs):
    """Open a temporary file beside ``path`` for writing; on a clean exit it becomes ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create or replace. A special file that cannot be replaced (``/dev/null``)
        is written directly, as nothing could be lost there.
    mode : {"wb", "w"}
        Binary or text; ``open_kwargs`` (``newline``, ``encoding``) go to ``open``.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isfile(path):  # /dev/null, a FIFO: no rename possible
        with open(path, mode, **open_kwargs) as f:
            yield f
        return
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _keep_mode(path, tmp)
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt too: the half-written file must not stay behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _keep_mode(path, tmp):
    """The new file gets the old file's permissions, or the umask's default for a new one
    (mkstemp creates it 0600, which would surprise whoever reads the model next)."""
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)


def check_writable(path, special_ok=False):
    """Raise OSError (with the reason) unless ``path`` can be created or replaced by
    :func:`atomic_write`: its folder exists and takes a new file. An existing target that is
    not a regular file (``/dev/full``, a FIFO) is refused unless ``special_ok`` (predictions to
    ``/dev/stdout``), as a model written there is lost. Writes nothing that stays."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder; name a file")
    if os.path.exists(path) and not os.path.isfile(path):
        if not special_ok:
            raise OSError(f"{path} is not a regular file; name a file to create or replace")
        with open(path, "ab"):
            return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"the folder of {path} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(fd)
    os.unlink(tmp)


# What a file starts with, by kind: models are .npz (zip) archives, .npy arrays start with their
# own magic; text (CSV) holds no NUL byte in its first block; anything else is "binary".
_MAGIC = {"npz": (b"PK\x03\x04", b"PK\x05\x06"), "npy": (b"\x93NUMPY",)}


def kind_of(path):
    """"npz", "npy", "text" or "binary": the kind of the existing file at ``path``, from its first bytes."""
    with open(path, "rb") as f:
        head = f.read(4096)
    kind = next((kind for kind, magics in _MAGIC.items() if head.startswith(magics)), None)
    return kind or ("binary" if b"\0" in head else "text")


def check_replaceable(path, kind, inputs=()):
    """Raise ValueError unless writing a ``kind`` file at ``path`` loses nothing: ``path`` is none
    of the command's ``inputs`` (the model, the data) and is not an existing regular file of
    another kind (a model that a CSV of predictions would replace). Empty files are anyone's."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return
    for given in inputs:
        if given is not None and os.path.exists(given) and os.path.samefile(path, given):
            raise ValueError(f"{path} is an input of this command; writing there would destroy it: choose another path")
    found = kind_of(path) if os.path.getsize(path) > 0 else kind
    if found != kind:
        raise ValueError(f"{path} is an existing {found} file and this would replace it with {kind}: "
                         "choose another path, or delete it first")
