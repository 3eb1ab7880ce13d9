"""read_table on real-world bad table files: each failure is one line that names the file and says what to do."""

import re

import numpy as np
import pandas as pd
import pytest

from radiomix.io import read_table, write_table


def _refused(path, match, exc=ValueError, **kwargs) -> str:
    """The message read_table raises for ``path``: one line, naming the file, containing ``match``."""
    with pytest.raises(exc) as info:
        read_table(path, **kwargs)
    msg = info.value.args[0]
    assert str(info.value) == msg
    assert "\n" not in msg and "\r" not in msg
    assert str(path) in msg
    assert match in msg, msg
    assert "Traceback" not in msg and "C error" not in msg and "Error tokenizing" not in msg
    return msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    assert _refused(path, "table not found", FileNotFoundError) == f"table not found: {path}"


@pytest.mark.parametrize("name", ["empty.csv", "empty.tsv", "empty.parquet", "empty.csv.gz"])
def test_zero_byte_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    assert _refused(path, "is empty") == f"{path} is empty (0 bytes)"


@pytest.mark.parametrize("name, data, sep", [
    ("h.csv", b"id,age,original_firstorder_Mean\n", ","),
    ("h.tsv", b"id\tage\toriginal_firstorder_Mean\n", "\t"),
    ("h_bom_semicolon.csv", b"\xef\xbb\xbfid;age;original_firstorder_Mean\r\n", ";"),
])
def test_header_without_rows_reads_as_empty_table(tmp_path, name, data, sep):
    path = tmp_path / name
    path.write_bytes(data)
    df = read_table(path)
    assert df.empty and list(df.columns) == ["id", "age", "original_firstorder_Mean"]


def test_header_without_rows_parquet(tmp_path):
    path = write_table(pd.DataFrame({"id": pd.Series([], dtype=str), "x": pd.Series([], dtype=float)}),
                       tmp_path / "h.parquet", metadata={"k": 1}, index=False)
    df = read_table(path)
    assert df.empty and list(df.columns) == ["id", "x"] and df.attrs["radiomix"] == {"k": 1}


def test_blank_lines_only(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_bytes(b"\n\r\n  \n")
    assert _refused(path, "has no header line") == f"{path} has no header line (only blank lines); it is not a table"


@pytest.mark.parametrize("name", ["cut.parquet", "cut.pq"])
def test_truncated_parquet(tmp_path, name):
    full = write_table(pd.DataFrame({"id": ["a", "b", "c"], "x": [1.0, 2.0, 3.0]}), tmp_path / "full.parquet",
                       metadata={"k": 1})
    data = full.read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    assert _refused(path, "not a readable") == f"{path}: not a readable Parquet file (truncated or corrupt)"


def test_not_parquet_at_all(tmp_path):
    path = tmp_path / "features.parquet"
    path.write_text("id,x\na,1\n")  # a CSV saved under the wrong suffix
    assert _refused(path, "not a readable") == f"{path}: not a readable Parquet file (truncated or corrupt)"


@pytest.mark.parametrize("name, data, line, fields, header", [
    # the last line cut mid-row: fewer fields (pandas would silently pad it with NaN)
    ("cut.csv", b"id,x,y\na,1,2\nb,3,4\nc,5", 4, 2, 3),
    ("cut_crlf.csv", b"id,x,y\r\na,1,2\r\n\r\nb,3", 4, 2, 3),
    ("cut.tsv", b"id\tx\ty\na\t1\t2\nb\t3", 3, 2, 3),
    ("cut_semicolon.csv", b"id;x;y\na;1;2\nb", 3, 1, 3),
    # quoted fields (one spanning two lines) are counted as pandas counts them
    ("cut_quoted.csv", b'id,note,y\na,"two\nlines",2\nb,"x, y"', 4, 2, 3),
    # a row with a field too many in the middle
    ("extra.csv", b"id,x\na,1\nb,2,3\nc,4\n", 3, 3, 2),
])
def test_ragged_rows(tmp_path, name, data, line, fields, header):
    path = tmp_path / name
    path.write_bytes(data)
    msg = _refused(path, "fields")
    assert msg == f"{path}: line {line} has {fields} fields, the header has {header} (truncated or malformed file)"


def test_unterminated_quote(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_bytes(b'id,note\na,"cut in the mid')
    assert re.fullmatch(re.escape(f"{path}: ") + r".*EOF inside string.* \(truncated or malformed file\)",
                        _refused(path, "(truncated or malformed file)"))


def test_trailing_delimiters_keep_pandas_implicit_index(tmp_path):
    path = tmp_path / "trailing.csv"
    path.write_bytes(b"x,y\na,1,2\nb,3,4\n")  # every data row has one field more: the first is the index
    df = read_table(path)
    assert list(df.index) == ["a", "b"] and df["y"].tolist() == [2, 4]


@pytest.mark.parametrize("name, sep", [("latin1.csv", ","), ("latin1.tsv", "\t")])
def test_latin1_text(tmp_path, name, sep):
    path = tmp_path / name
    text = sep.join(["id", "site", "dose_µGy"]) + "\n" + sep.join(["P1", "Créteil", "12"]) + "\n"
    path.write_bytes(text.encode("latin-1"))
    pos = text.encode("latin-1").index("µ".encode("latin-1"))
    assert _refused(path, "is not UTF-8 text") == (
        f"{path} is not UTF-8 text (byte 0xb5 at position {pos}); re-save it as UTF-8 or pass encoding='latin-1'")
    df = read_table(path, encoding="latin-1")
    assert list(df.columns) == ["id", "site", "dose_µGy"]
    assert df.loc[0, "site"] == "Créteil" and df.loc[0, "dose_µGy"] == 12


def test_wrong_explicit_encoding_and_unknown_encoding(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,site\nP1,Créteil\n".encode("latin-1"))
    assert _refused(path, "is not ascii text", encoding="ascii").startswith(f"{path} is not ascii text (byte 0xe9 at")
    assert _refused(path, "unknown encoding", encoding="no-such-codec") == (
        f"{path}: unknown encoding 'no-such-codec'")


def test_utf8_bom_is_stripped_from_first_column(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffPatientID,age,original_firstorder_Mean\r\nP1,61,1.5\r\nP2,70,2.25\r\n".encode())
    df = read_table(path)
    assert list(df.columns) == ["PatientID", "age", "original_firstorder_Mean"]
    assert df["PatientID"].tolist() == ["P1", "P2"]
    assert df["age"].dtype == np.int64 and df["original_firstorder_Mean"].dtype == np.float64
    # an explicit encoding='utf-8' does not leave the BOM on the column name either
    assert read_table(path, encoding="utf-8").columns[0] == "PatientID"


def test_utf16_excel_unicode_text(tmp_path):
    path = tmp_path / "unicode.txt"  # Excel's "Unicode text": UTF-16 with a BOM, tab-separated
    path.write_bytes("id\tsite\tx\nP1\tCréteil\t1.5\n".encode("utf-16"))
    df = read_table(path)
    assert list(df.columns) == ["id", "site", "x"] and df.loc[0, "site"] == "Créteil" and df.loc[0, "x"] == 1.5


def test_semicolon_separator_with_bom(tmp_path):
    path = tmp_path / "excel_fr.csv"
    path.write_bytes("\ufeffid;site;age;original_shape_MeshVolume\r\nP1;Créteil;61;1200.5\r\nP2;Lyon;70;980\r\n"
                     .encode())
    df = read_table(path)
    assert list(df.columns) == ["id", "site", "age", "original_shape_MeshVolume"]
    assert df["id"].tolist() == ["P1", "P2"] and df["site"].tolist() == ["Créteil", "Lyon"]
    assert df["age"].dtype == np.int64 and df["original_shape_MeshVolume"].tolist() == [1200.5, 980.0]


def test_semicolon_header_with_a_quoted_comma(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_bytes(b'id;"volume, mm3";x\nP1;12.5;1\n')  # both ; and , in the header: the quoting decides
    df = read_table(path)
    assert list(df.columns) == ["id", "volume, mm3", "x"] and df.loc[0, "volume, mm3"] == 12.5


def test_comma_file_with_quoted_fields_is_unchanged(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_bytes(b'id,"note; free text",stage,x\nP1,"a, b; c",II,1.5\nP2,"say ""hi""",IV,-2\n')
    df = read_table(path)
    expected = pd.read_csv(path)
    pd.testing.assert_frame_equal(df, expected)
    assert df["note; free text"].tolist() == ["a, b; c", 'say "hi"'] and df["x"].tolist() == [1.5, -2.0]


DECIMAL_COMMA = "\ufeffid;site;original_firstorder_Mean;age\r\nP1;A;1,23;61\r\nP2;B;-0,5;70\r\nP3;A;;55\r\nP4;B;2;48\r\n"
DECIMAL_COMMA_FILES = [("decimal_comma.csv", DECIMAL_COMMA), ("decimal_comma.tsv", DECIMAL_COMMA.replace(";", "\t"))]


@pytest.mark.parametrize("name, text", DECIMAL_COMMA_FILES)
def test_decimal_comma_refused_without_decimal(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode())
    assert _refused(path, "decimal comma") == (
        f"{path} uses a decimal comma (e.g. column 'original_firstorder_Mean' value '1,23'); "
        "pass decimal=',' (radiomix ... --decimal ,)")


@pytest.mark.parametrize("name, text", DECIMAL_COMMA_FILES)
def test_decimal_comma_read_with_decimal(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode())
    df = read_table(path, decimal=",")
    assert list(df.columns) == ["id", "site", "original_firstorder_Mean", "age"]
    assert df["original_firstorder_Mean"].dtype == np.float64 and df["age"].dtype == np.int64
    np.testing.assert_array_equal(df["original_firstorder_Mean"].to_numpy(), [1.23, -0.5, np.nan, 2.0])
    assert df["id"].tolist() == ["P1", "P2", "P3", "P4"]


def test_decimal_comma_in_a_comma_file_is_a_separator_clash(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_bytes(b"id,x\nP1,1.5\n")
    assert _refused(path, "is also the field separator", decimal=",").startswith(
        f"{path}: decimal=',' is also the field separator")


def test_text_columns_are_not_mistaken_for_decimal_commas(tmp_path):
    path = tmp_path / "text.csv"
    path.write_bytes(b"id;note;x\nP1;1,2 and 3;1.5\nP2;see 4,5;2\nP3;;3\n")
    df = read_table(path)
    assert df["note"].tolist()[:2] == ["1,2 and 3", "see 4,5"] and df["x"].dtype == np.float64


@pytest.mark.parametrize("suffix", [".tsv", ".txt", ".csv", ".csv.gz", ".tsv.gz"])
def test_round_trip_text_formats(tmp_path, suffix):
    df = pd.DataFrame({"x": [1.5, 2.0], "site": ["s1", "s2"]}, index=pd.Index(["a", "b"], name="id"))
    path = write_table(df, tmp_path / f"t{suffix}")
    back = read_table(path, index_col="id")
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert back["x"].dtype == np.float64


def test_truncated_gzip(tmp_path):
    full = write_table(pd.DataFrame({"x": np.arange(2000.0)}), tmp_path / "t.csv.gz")
    data = full.read_bytes()
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    assert _refused(path, "gzip") == f"{path}: not a readable gzip file (truncated or corrupt)"


def test_parquet_metadata_and_kwargs_pass_through(tmp_path):
    df = pd.DataFrame({"x": [1.0, 2.0], "y": [3, 4]}, index=pd.Index(["a", "b"], name="id"))
    path = write_table(df, tmp_path / "t.parquet", metadata={"types": {"x": "numeric"}})
    back = read_table(path)
    pd.testing.assert_frame_equal(back, df)
    assert back.attrs["radiomix"] == {"types": {"x": "numeric"}}
    assert list(read_table(path, columns=["x"]).columns) == ["x"]
    msg = _refused(path, "check those arguments", columns=["nope"])
    assert msg.startswith(f"{path}: reading the Parquet data with ['columns'] failed (")


def test_csv_kwargs_pass_through(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,x,y\na,1,2\nb,3,4\n")
    df = read_table(path, usecols=["id", "y"], index_col="id", dtype={"y": float})
    assert list(df.columns) == ["y"] and df["y"].dtype == np.float64 and list(df.index) == ["a", "b"]
    assert read_table(path, nrows=1).shape == (1, 3)


def test_unknown_suffix(tmp_path):
    path = tmp_path / "t.xlsx"
    path.write_bytes(b"PK")
    assert _refused(path, "unknown table format") == (
        f"{path}: unknown table format '.xlsx'; use .csv, .tsv or .parquet")
