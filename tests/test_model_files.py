"""Model files as untrusted input: bounded memory, nothing but ValueError, no code run."""
import io
import pickle
import re
import struct
import tracemalloc
import zipfile
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import _io

MiB = 2**20
RAN = []  # what unpickling a Marker appends to: code from a file that ran


def ran():
    RAN.append("code from the model file ran")


class Marker:
    def __reduce__(self):
        return ran, ()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """(path, bytes, X, outputs) of a small model with every kind of member: preprocessing,
    batch norm, two optimizer state rows, string classes."""
    X = np.random.default_rng(0).normal(size=(13, 4))
    net = fastnn.Network([fastnn.Dense(5, activation="tanh", batch_norm=True), fastnn.Dense(3, activation="softmax")],
                         seed=0, preprocess=[fastnn.preprocessing.Standardizer(), fastnn.preprocessing.PCA(3)])
    net.fit(X, np.array(["a", "b", "c"])[np.arange(13) % 3], epochs=1, batch_size=4, optimizer="adam")
    path = tmp_path_factory.mktemp("model") / "m.npz"
    net.save(path)
    return path, path.read_bytes(), X, net.forward(X)


def members(path):
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def write_zip(out, entries, compression=zipfile.ZIP_STORED):
    """A zip of (name, bytes or a function writing to the member's stream) in order."""
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in entries.items():
            if callable(data):
                with zf.open(name, "w", force_zip64=True) as f:
                    data(f)
            else:
                zf.writestr(name, data)
    return out


def npy(descr, shape, data=b"", version=(1, 0)):
    """Member bytes: an npy header as np.save writes it, then ``data``."""
    f = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    (np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0)(f, header)
    return f.getvalue() + data


def zeros(descr, shape, nbytes):
    """A member writer: an npy header, then ``nbytes`` zero bytes."""
    return streamed(npy(descr, shape), nbytes)


def streamed(head, nbytes, fill=0):
    """A member writer: ``head``, then ``nbytes`` bytes of ``fill`` written a MiB at a time
    (never a large array in memory)."""
    def write(f):
        f.write(head)
        chunk = bytes([fill]) * MiB
        for start in range(0, nbytes, MiB):
            f.write(chunk[: min(MiB, nbytes - start)])
    return write


def load_peak(path):
    """(the network or the ValueError, peak bytes traced while loading); any other exception,
    or unpickling, fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("load unpickled something")

    tracemalloc.start()
    try:
        with mock.patch.object(pickle, "load", refuse), mock.patch.object(pickle, "loads", refuse):
            result = fastnn.load(path)
    except ValueError as e:
        result = e
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, peak


def test_a_compressed_member_of_zeros_is_refused_before_it_is_decompressed(model, tmp_path):
    """256 MiB of zeros deflate to ~250 kB: numpy would decompress them (and the old reader
    held three copies, 768 MiB) before seeing that the model has 78 weights."""
    path = model[0]
    entries = members(path)
    entries["theta.npy"] = zeros("<f4", (64 * MiB,), 256 * MiB)
    bomb = write_zip(tmp_path / "bomb.npz", entries, zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < MiB
    error, peak = load_peak(bomb)
    assert isinstance(error, ValueError) and "'theta.npy' holds <f4 (67108864,)" in str(error)
    assert peak < MiB, peak


def test_members_a_model_does_not_hold_are_never_read(model, tmp_path):
    path, _, X, outputs = model
    entries = members(path)
    entries["junk.npy"] = zeros("<f8", (4 * MiB,), 32 * MiB)
    net, peak = load_peak(write_zip(tmp_path / "junk.npz", entries, zipfile.ZIP_DEFLATED))
    np.testing.assert_array_equal(net.forward(X), outputs)
    assert peak < 4 * MiB, peak


def test_a_compressed_model_loads_as_the_stored_one(model, tmp_path):
    path, _, X, outputs = model
    with np.load(path) as d:
        np.savez_compressed(tmp_path / "c.npz", **{k: d[k] for k in d.files})
    np.testing.assert_array_equal(fastnn.load(tmp_path / "c.npz").forward(X), outputs)


@pytest.mark.parametrize("member,data,match", [
    ("theta.npy", "object", r"'theta.npy' holds \|O"),
    ("classes.npy", "object", r"'classes.npy' holds \|O"),
    ("theta.npy", "big-endian", "'theta.npy' holds >f4"),
    ("theta.npy", "trailing", "declares .* bytes; its npy header says"),
    ("theta.npy", "version 3", r"npy format version \(3, 0\)"),
    ("theta.npy", "64 MiB header", "npy header longer than 4096 bytes"),
    ("theta.npy", "2**40 weights", r"holds <f4 \(1099511627776,\)"),
    ("config.npy", "16 MiB of text", r"'config.npy' holds \|u1 \(16777216,\)"),
    ("classes.npy", "long labels", "'classes.npy' takes 12582912 bytes, more than the"),
])
def test_members_that_disagree_with_the_config_are_refused_unread(model, tmp_path, member, data, match):
    RAN.clear()
    entries = members(model[0])
    header_bytes = len(npy("<f4", (1,)))
    theta = entries["theta.npy"][header_bytes:]
    entries[member] = {
        "object": lambda: _saved(np.array([Marker()] * 3, dtype=object)),
        "big-endian": lambda: npy(">f4", (len(theta) // 4,), theta),
        "trailing": lambda: entries[member] + bytes(4),
        "version 3": lambda: b"\x93NUMPY\x03\x00" + entries[member][8:],
        "64 MiB header": lambda: streamed(b"\x93NUMPY\x02\x00" + struct.pack("<I", 64 * MiB), 64 * MiB, ord(" ")),
        "2**40 weights": lambda: npy("<f4", (2**40,), theta),
        "16 MiB of text": lambda: zeros("|u1", (16 * MiB,), 16 * MiB),
        "long labels": lambda: zeros("<U1048576", (3,), 12 * MiB),
    }[data]()
    error, peak = load_peak(write_zip(tmp_path / "bad.npz", entries, zipfile.ZIP_DEFLATED))
    assert isinstance(error, ValueError), error
    assert "bad.npz is not a readable fastnn model file" in str(error)
    assert re.search(match, str(error)), str(error)
    assert peak < 2 * MiB and not RAN, (peak, RAN)


def _saved(a):
    f = io.BytesIO()
    np.save(f, a, allow_pickle=True)
    return f.getvalue()


def _damaged(data, draw):
    """One way a model file goes wrong: bytes cut or flipped, members swapped, renamed, dropped,
    re-headed or deflated, or a zip size field changed."""
    kind = draw(st.sampled_from(["cut", "flip", "swap", "rename", "drop", "header", "deflate", "zip size"]))
    if kind == "cut":
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind in ("flip", "zip size"):
        data = bytearray(data)
        if kind == "flip":
            for _ in range(draw(st.integers(1, 3))):
                data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        else:  # the central directory's or a local header's sizes: crc(4) compressed(4) size(4)
            starts = [i for i in range(len(data) - 4) if data[i : i + 4] in (b"PK\x01\x02", b"PK\x03\x04")]
            at = draw(st.sampled_from(starts))
            field = at + (20 if data[at + 2] == 1 else 18) + 4 * draw(st.integers(0, 1))
            data[field : field + 4] = struct.pack("<I", draw(st.sampled_from([0, 1, 200, 2**31, 2**32 - 1])))
        return bytes(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    names = sorted(entries)
    a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
    if kind == "swap":
        entries[a], entries[b] = entries[b], entries[a]
    elif kind == "rename":
        entries[draw(st.sampled_from(names + ["pre2_mean_.npy", "velocity.npy", "x"]))] = entries.pop(a)
    elif kind == "drop":
        del entries[a]
    elif kind == "header":
        descr = draw(st.sampled_from(["<f4", "<f8", ">f4", "|O", "<U3", "|S2", "<i8", "|b1", "<c8", "|V8", "<f4"]))
        shape = tuple(draw(st.lists(st.sampled_from([0, 1, 3, 5, 43, 2**31, 2**62]), max_size=3)))
        old = len(npy("<f4", (1,)))  # every member fastnn writes has a 128-byte header
        entries[a] = npy(descr, shape, entries[a][old:])
    out = io.BytesIO()
    write_zip(out, entries, zipfile.ZIP_DEFLATED if kind == "deflate" else zipfile.ZIP_STORED)
    return out.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_files_load_identically_or_raise_value_error_within_bounded_memory(model, tmp_path, data):
    path, original, X, outputs = model
    bad = tmp_path / "damaged.npz"
    bad.write_bytes(_damaged(original, data.draw))
    result, peak = load_peak(bad)
    assert peak < 4 * MiB, peak
    if not isinstance(result, ValueError):  # harmless damage: the digest vouches for the model
        np.testing.assert_array_equal(result.forward(X), outputs)


def with_config(entries, edit):
    """The members with the config edited (the digest is not reached, or recomputed by forge)."""
    import json
    config = edit(json.loads(entries["config.npy"][len(npy("|u1", (1,))):]))
    text = json.dumps(config).encode()
    return {**entries, "config.npy": npy("|u1", (len(text),), text)}


def test_preprocessing_arrays_beyond_memory_are_refused_before_they_are_allocated(model, tmp_path):
    """The input size bounds the preprocessing arrays, and nothing else bounds the input size:
    8 TiB of means declared for 2**40 inputs are refused, not allocated."""
    entries = with_config(members(model[0]), lambda c: {**c, "input_dim": 2**40})
    entries["pre0_mean_.npy"] = npy("<f8", (2**40,))
    error, peak = load_peak(write_zip(tmp_path / "wide.npz", entries))
    assert isinstance(error, ValueError) and "pre0_mean_.npy" in str(error) and "memory" in str(error), error
    assert peak < MiB, peak


def test_save_refuses_a_config_that_load_would_refuse(model, tmp_path):
    net = fastnn.load(model[0])
    net.feature_names_ = [c * 2**20 for c in "abcd"]  # 4 MiB of column names
    with pytest.raises(ValueError, match="set net.feature_names_ = None"):
        net.save(tmp_path / "long.npz")
    assert not (tmp_path / "long.npz").exists()


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=6)


def entries_of(config, prefix=()):
    """The path to every entry of a JSON document, deepest last."""
    items = config.items() if isinstance(config, dict) else enumerate(config) if isinstance(config, list) else ()
    for key, value in items:
        yield prefix + (key,)
        yield from entries_of(value, prefix + (key,))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_forged_configs_load_or_raise_value_error(model, tmp_path, data):
    """Any entry of the config replaced by any JSON value (or dropped), the digest recomputed:
    the contents are checked as untrusted input, so only ValueError comes out."""
    import json
    with np.load(model[0]) as d:
        arrays = {k: d[k] for k in d.files if k not in ("config", "sha256")}
        config = json.loads(d["config"].tobytes())
    where = data.draw(st.sampled_from(list(entries_of(config))))
    node = config
    for key in where[:-1]:
        node = node[key]
    if isinstance(node, dict) and data.draw(st.booleans()):
        del node[where[-1]]
    else:
        node[where[-1]] = data.draw(JSON)
    text = json.dumps(config).encode()
    arrays["sha256"] = _io._digest(text, arrays)
    np.savez(tmp_path / "forged.npz", config=np.frombuffer(text, dtype=np.uint8), **arrays)
    result, peak = load_peak(tmp_path / "forged.npz")
    assert isinstance(result, (ValueError, fastnn.Network)) and peak < 4 * MiB, (result, peak)
