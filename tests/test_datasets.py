"""Reading the data files of `fastnn train` / `predict`: CSV files as spreadsheets write them,
.npz archives, and the errors for files that cannot be used (file, line and column named)."""
import tracemalloc

import numpy as np
import pytest

from fastnn import datasets


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_excel_csv_with_bom_blank_lines_and_empty_rows(tmp_path):
    # Excel's "CSV UTF-8" starts with a byte-order mark; spreadsheets end with blank lines or
    # rows of empty cells. None of them is data, and the first column keeps its name.
    path = write(tmp_path / "d.csv", "label,a,b\r\nx,1,2\r\n\r\n,,\r\ny,3,4.5\r\n\r\n", "utf-8-sig")
    t = datasets.load_table(path, "label")
    assert t.names == ["a", "b"] and list(t.y) == ["x", "y"]
    np.testing.assert_array_equal(t.x, np.array([[1, 2], [3, 4.5]], np.float32))
    assert t.x.dtype == np.float32 and t.x_test is None and not t.uint8


@pytest.mark.parametrize("text, where", [
    ("a,b,label\n1,2,x\n3,,y\n", "line 3, column 'b': an empty cell"),
    ("a,b,label\n1,2,x\n3,four,y\n", "line 3, column 'b': 'four' is not a number"),
    ("a,b,label\n1,2,x\n3,4,\n", "line 3, column 'label': an empty cell"),
    ("a,b,label\n1,2,x\n\n3,4\n", "line 4 has 2 fields but the header has 3"),
    ('a,b,label\n1,2,"x\ny"\nz,4,y\n', "line 4, column 'a': 'z' is not a number"),  # a quoted label on 2 lines
])
def test_csv_errors_name_the_file_line_and_column(tmp_path, text, where):
    path = write(tmp_path / "d.csv", text)
    with pytest.raises(ValueError) as e:
        datasets.load_table(path, "label")
    assert str(path) in str(e.value) and where in str(e.value)


def test_a_latin1_csv_is_named_with_its_line(tmp_path):
    path = write(tmp_path / "d.csv", "a,label\n1,x\n2,caf\u00e9\n", "latin-1")
    with pytest.raises(ValueError, match=r"d\.csv is not UTF-8 text \(line 3 holds the byte 0xe9\); save it as UTF-8"):
        datasets.load_table(path, "label")


def test_duplicate_column_names_are_refused(tmp_path):
    # Read by name, the second 'a' could not be told from the first: predict would feed the
    # model the first column twice (the issue: 100% accuracy in Python, 48.75% through the CLI).
    path = write(tmp_path / "d.csv", "a,a,c,label\n1,2,3,x\n")
    with pytest.raises(ValueError, match=r"the column name\(s\) \['a'\] appear more than once"):
        datasets.load_table(path, "label")
    with pytest.raises(ValueError, match=r"\['a'\] appear more than once"):  # predict, by the model's names
        datasets.load_inputs(path, "label", columns=["c", "a"])
    np.testing.assert_array_equal(datasets.load_inputs(path, "label", columns=["c"]), [[3]])  # 'a' is not read


def test_text_where_an_npz_is_expected_names_the_format(tmp_path):
    path = write(tmp_path / "d.txt", "a,label\n1,x\n")
    for read in (datasets.load_table, datasets.load_inputs, datasets.load_npz):
        with pytest.raises(ValueError) as e:
            read(path)
        assert "d.txt is not an .npz archive" in str(e.value) and "pickle" not in str(e.value)


def test_uint8_pixels_are_returned_unscaled_and_flagged(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(5, 2, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.arange(5), x_test=x[:2], y_test=np.arange(2))
    t = datasets.load_table(tmp_path / "d.npz")
    assert t.uint8 and t.x.dtype == np.float32 and t.names is None
    np.testing.assert_array_equal(t.x, x.reshape(5, 6))  # 0..255: the model scales them
    np.testing.assert_array_equal(t.x_test, x[:2].reshape(2, 6))
    assert datasets.load_inputs(tmp_path / "d.npz").dtype == np.uint8  # predict: as in the file
    np.testing.assert_allclose(datasets.load_npz(tmp_path / "d.npz")[0], x.reshape(5, 6) / 255.0, rtol=1e-6)
    np.savez(tmp_path / "f.npz", x=x.astype(np.float64), y=np.arange(5))
    assert not datasets.load_table(tmp_path / "f.npz").uint8
    # The model scales every input it is given: pixels in [0, 1] beside uint8 ones would be scaled twice.
    np.savez(tmp_path / "g.npz", x_train=x, y_train=np.arange(5), x_test=x[:2] / np.float32(255), y_test=np.arange(2))
    with pytest.raises(ValueError, match="x_train is uint8 but x_test is float32; store both as the same kind"):
        datasets.load_table(tmp_path / "g.npz")


@pytest.mark.parametrize("first, rest", [("123456.789", "0"), ("0", "123456.789")])
def test_csv_blocks_grow_and_shrink_to_the_rows_read(tmp_path, monkeypatch, first, rest):
    """Rows longer (shorter) in the first block than later make the guessed row count too small
    (too large): x grows (shrinks) to exactly the rows read, against np.loadtxt as the oracle."""
    monkeypatch.setattr(datasets, "BLOCK_ROWS", 7)
    rng = np.random.default_rng(1)
    lines = [",".join([first if i < 7 else rest] * 3 + [str(v) for v in rng.integers(0, 9, 2)]) for i in range(53)]
    path = write(tmp_path / "d.csv", "a,b,c,d,label\n" + "\n".join(lines) + "\n")
    x, y = datasets.load_table(path, "label")[:2]
    expected = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
    np.testing.assert_array_equal(x, expected[:, :4])
    np.testing.assert_array_equal(y, expected[:, 4].astype(np.int64))
    assert x.flags.c_contiguous and x.flags.owndata


def test_csv_is_read_in_memory_about_the_size_of_its_array(tmp_path):
    """Read in blocks into one array: the peak is a small multiple of the result (reading every
    row as Python strings first took 24 times it)."""
    rng = np.random.default_rng(0)
    values = rng.integers(0, 256, size=(3000, 50))
    with open(tmp_path / "d.csv", "w") as f:
        f.write(",".join(f"p{i}" for i in range(50)) + ",label\n")
        np.savetxt(f, np.column_stack([values, values[:, 0] % 10]), fmt="%d", delimiter=",")
    tracemalloc.start()
    try:
        x = datasets.load_table(tmp_path / "d.csv", "label")[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(x, values)
    assert peak < 2.5 * x.nbytes, (peak, x.nbytes)  # measured: 1.8
