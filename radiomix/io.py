"""Tables and files: reading and writing CSV/TSV/Parquet tables, atomic writes, file hashes and sizes.

Nothing here fits a model. Images, masks and manifests live in :mod:`radiomix.extraction`
(:mod:`~radiomix.extraction.images`, :mod:`~radiomix.extraction.labels`, :mod:`~radiomix.extraction.manifest`).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import os
import re
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

__all__ = [
    "read_table",
    "write_table",
    "atomic_write_text",
    "atomic_write_bytes",
    "file_sha256",
    "input_size",
    "check_unique_columns",
    "neutralize_formulas",
]


# --------------------------------------------------------------------------------------------- tables
def _table_suffix(path: Path) -> str:
    return "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()


_PARQUET = (".parquet", ".pq")
_TSV = (".tsv", ".tab", ".tsv.gz", ".txt")
_CSV = (".csv", ".csv.gz")
# read_csv arguments that change which lines are rows or how fields split: with any of them the
# field-count check below would not see what pandas sees, so it is left to pandas.
_LAYOUT_KWARGS = frozenset({
    "header", "names", "skiprows", "skipfooter", "comment", "quotechar", "quoting", "escapechar",
    "lineterminator", "doublequote", "dialect", "on_bad_lines", "nrows", "chunksize", "iterator",
    "delim_whitespace", "engine",
})
_DECIMAL_COMMA = re.compile(r"-?\d+,\d+(?:[eE][-+]?\d+)?")


def read_table(path: str | os.PathLike, *, decimal: str | None = None, encoding: str | None = None,
               **kwargs) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet table by suffix.

    CSV/TSV are read as UTF-8 with an optional byte-order mark (Excel exports start with one, which
    would otherwise stick to the first column name); ``encoding`` overrides that (``"latin-1"`` for old
    Excel exports). A ``.csv`` whose header line splits on ``;`` rather than ``,`` (Excel in locales that
    write a decimal comma) is read with ``sep=";"``; a column of such a file that holds decimal commas
    (``1,23``) is refused unless ``decimal=","`` is passed. For Parquet files written by radiomix, the
    ``radiomix`` schema metadata (provenance, column groups) comes back in ``df.attrs["radiomix"]``.
    Other keyword arguments go to :func:`pandas.read_csv` / :func:`pandas.read_parquet`.

    A missing file raises FileNotFoundError; an empty, truncated, ragged, non-UTF-8 or otherwise
    unreadable file raises a one-line ValueError that names the file and says what to do. A header
    without rows is not an error: it reads as an empty DataFrame.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"table not found: {path}")
    suffix = _table_suffix(path)
    if suffix not in _PARQUET + _TSV + _CSV:
        raise ValueError(f"{path}: unknown table format {suffix!r}; use .csv, .tsv or .parquet")
    if path.is_file() and path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes)")
    if suffix in _PARQUET:
        return _read_parquet(path, **kwargs)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a table file")
    return _read_text_table(path, suffix, decimal=decimal, encoding=encoding, **kwargs)


def check_unique_columns(columns, source) -> None:
    """Refuse a table whose column names repeat (pandas would rename them ``a``, ``a.1`` and a model would train on
    both without a word): a ValueError naming the repeated names, their positions and ``source``."""
    names = [str(c) for c in columns]
    seen: dict[str, list[int]] = {}
    for i, n in enumerate(names, 1):
        seen.setdefault(n, []).append(i)
    dup = {n: pos for n, pos in seen.items() if len(pos) > 1}
    if dup:
        shown = "; ".join(f"{n!r} (columns {', '.join(map(str, pos))})" for n, pos in list(dup.items())[:5])
        raise ValueError(f"{source}: {len(dup)} column name(s) appear more than once: {shown}"
                         f"{' ...' if len(dup) > 5 else ''}; rename them so that every column has its own name")


def _header_fields(text: str, sep: str) -> list[str]:
    """The first non-blank line's fields as the csv module splits them (quoted names included)."""
    for line in io.StringIO(text, newline=""):
        if line.strip():
            return next(csv.reader([line], delimiter=sep), [])
    return []


def _one_line(err: BaseException) -> str:
    """An exception's message on one line (pandas and pyarrow messages carry newlines and C-error prefixes)."""
    text = " ".join(str(err).split())
    return text.removeprefix("Error tokenizing data. ").removeprefix("C error: ")


def _read_parquet(path: Path, **kwargs) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.is_file():  # a partitioned dataset (a folder) is left to pandas
        try:
            names = pq.read_schema(path).names  # the footer: a cut or foreign file fails here
        except (OSError, pa.ArrowException, ValueError):
            raise ValueError(f"{path}: not a readable Parquet file (truncated or corrupt)") from None
        check_unique_columns(names, path)
    try:
        df = pd.read_parquet(path, **kwargs)
    except (OSError, pa.ArrowException) as err:
        detail = _one_line(err)[:300]
        if kwargs:  # the footer was fine: the arguments are as likely a cause as the data pages
            raise ValueError(f"{path}: reading the Parquet data with {sorted(kwargs)} failed ({detail}); check "
                             "those arguments, or the file is corrupt") from err
        raise ValueError(f"{path}: not a readable Parquet file (truncated or corrupt): {detail}") from err
    if df.columns.has_duplicates:
        check_unique_columns(df.columns, path)
    try:
        meta = pq.read_schema(path).metadata or {}
        if b"radiomix" in meta:
            df.attrs["radiomix"] = json.loads(meta[b"radiomix"])
    except (OSError, ValueError):  # metadata is a convenience; the table itself was read
        pass
    return df


def _read_bytes(path: Path, suffix: str, compression) -> bytes:
    if compression == "infer":
        compression = "gzip" if suffix.endswith(".gz") else None
    if compression is None:
        return path.read_bytes()
    if compression != "gzip":
        raise ValueError(f"{path}: compression={compression!r} is not supported; use a plain or .gz file")
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error):
        raise ValueError(f"{path}: not a readable gzip file (truncated or corrupt)") from None


def _decode(path: Path, raw: bytes, encoding: str | None, errors: str) -> str:
    """Bytes to text: UTF-8 (a UTF-8 byte-order mark dropped; a UTF-16 one honoured) unless ``encoding``."""
    offset = 0
    if encoding is None:
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel "Unicode text"
            encoding = "utf-16"
        else:
            encoding = "utf-8"
            if raw.startswith(codecs.BOM_UTF8):
                raw, offset = raw[len(codecs.BOM_UTF8):], len(codecs.BOM_UTF8)
        hint = "re-save it as UTF-8 or pass encoding='latin-1'"
    else:
        hint = "pass the encoding the file was saved in, e.g. encoding='latin-1'"
    try:
        text = raw.decode(encoding, errors)
    except LookupError:
        raise ValueError(f"{path}: unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as err:
        name = "UTF-8" if encoding == "utf-8" else encoding
        raise ValueError(f"{path} is not {name} text (byte 0x{err.object[err.start]:02x} at position "
                         f"{err.start + offset}); {hint}") from None
    return text.removeprefix("\ufeff")  # a BOM read with an explicit encoding='utf-8'


def _sniff_sep(text: str) -> str:
    """``,`` unless the header line says otherwise (``;`` from Excel in decimal-comma locales, or tabs)."""
    lines = text.lstrip("\r\n").splitlines()
    header = lines[0] if lines else ""
    if "," in header:
        if ";" not in header:
            return ","
        try:  # both: let the quoting decide (`id;"size, mm"` vs `id,"a;b"`)
            return csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=",;").delimiter
        except csv.Error:
            return ","
    if ";" in header:
        return ";"
    return "\t" if "\t" in header else ","


def _check_field_counts(path: Path, text: str, sep: str) -> None:
    """Refuse rows with another number of fields than the header (pandas pads short rows with NaN)."""
    lines = io.StringIO(text, newline="")  # splits at \n, \r\n and \r only, as pandas does
    if '"' not in text:  # no quoting (most radiomic tables): a line is a row, and counting is quick
        _compare_counts(path, ((i, line.count(sep) + 1) for i, line in enumerate(lines, 1) if line.strip()))
        return
    reader = csv.reader(lines, delimiter=sep)

    def counted():
        end = 0
        for row in reader:
            start, end = end + 1, reader.line_num
            if row and not (len(row) == 1 and not row[0].strip()):  # blank lines are skipped, as pandas does
                yield start, len(row)

    try:
        _compare_counts(path, counted())
    except csv.Error as err:
        raise ValueError(f"{path}: line {reader.line_num}: {_one_line(err)} (truncated or malformed file)") from None


def _compare_counts(path: Path, counts) -> None:
    """``counts``: (line number, fields) of the non-blank lines, the header first."""
    header_n = expected = None
    for i, (line, n) in enumerate(counts):
        if i == 0:
            header_n = expected = n
        elif i == 1 and n == header_n + 1:
            expected = n  # pandas reads the extra first field as the index
        if n != expected:
            raise ValueError(f"{path}: line {line} has {n} fields, the header has {header_n} "
                             "(truncated or malformed file)")


def _decimal_comma_column(df: pd.DataFrame) -> tuple[str, str] | None:
    """The first text column whose non-empty cells mostly look like ``1,23``, with one such value."""
    for col in df.columns:
        s = df[col]
        if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
            continue
        values = s.dropna().head(1000)
        values = values[values.map(lambda v: isinstance(v, str))].str.strip()
        values = values[values != ""]
        if values.empty:
            continue
        hits = values.str.fullmatch(_DECIMAL_COMMA.pattern)
        if hits.mean() > 0.5:
            return str(col), values[hits].iloc[0]
    return None


def _read_text_table(path: Path, suffix: str, *, decimal, encoding, **kwargs) -> pd.DataFrame:
    raw = _read_bytes(path, suffix, kwargs.pop("compression", "infer"))
    errors = kwargs.pop("encoding_errors", "strict")
    text = _decode(path, raw, encoding, errors)
    if encoding is None and errors == "strict" and not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # valid UTF-8: pandas parses the bytes faster than it re-encodes a str
        source = io.BytesIO(raw.removeprefix(codecs.BOM_UTF8))
        kwargs["encoding"] = "utf-8"
    else:
        source = io.StringIO(text)
    del raw
    if "sep" in kwargs or "delimiter" in kwargs:
        sep = kwargs.pop("sep", None) if "sep" in kwargs else kwargs.pop("delimiter")
    else:
        sep = "\t" if suffix in _TSV else _sniff_sep(text)
    if decimal is not None:
        if decimal == sep:
            raise ValueError(f"{path}: decimal={decimal!r} is also the field separator; pass sep=';' as well, "
                             "or re-save the file with another separator")
        kwargs["decimal"] = decimal
    if isinstance(sep, str) and len(sep) == 1 and not _LAYOUT_KWARGS.intersection(kwargs):
        _check_field_counts(path, text, sep)
        check_unique_columns([f.strip() for f in _header_fields(text, sep)], path)
    try:
        df = pd.read_csv(source, sep=sep, **kwargs)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} has no header line (only blank lines); it is not a table") from None
    except pd.errors.ParserError as err:
        raise ValueError(f"{path}: {_one_line(err)} (truncated or malformed file)") from err
    if (decimal is None and sep != "," and isinstance(df, pd.DataFrame)
            and not {"dtype", "converters"}.intersection(kwargs)):
        found = _decimal_comma_column(df)
        if found:
            col, value = found
            raise ValueError(f"{path} uses a decimal comma (e.g. column {col!r} value {value!r}); "
                             "pass decimal=',' (radiomix ... --decimal ,)")
    return df


def _umask() -> int:
    mask = os.umask(0o022)  # read it (os.umask returns the old value), then put it back
    os.umask(mask)
    return mask


#: The mode a file written with ``open()`` gets (0o666 less the umask, read once at import): mkstemp would
#: make every output 0600, so colleagues on a shared server could not open a report radiomix wrote.
FILE_MODE = 0o666 & ~_umask()


def _atomic_target(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return Path(tmp)


def _fsync(path: Path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes through a temporary file in the same folder, fsync, then rename over ``path``.

    A reader (or a re-run after the process was killed) sees either the old file or the whole new one.
    """
    path = Path(path)
    tmp = _atomic_target(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text to ``path`` through a temporary file and a rename, so a crash never leaves half a file."""
    return atomic_write_bytes(path, text.encode())


#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _neutral(v):
    if isinstance(v, str) and v.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(v):
        return "'" + v
    return v


def neutralize_formulas(df: pd.DataFrame, *, index: bool = True) -> tuple[pd.DataFrame, int]:
    """``df`` with every text cell, column name (and index label) that starts with ``=``, ``+``, ``-``, ``@``, a tab
    or a carriage return, and is not a plain number, prefixed with ``'``, as OWASP recommends against spreadsheet
    formula injection (an id ``=HYPERLINK(...)`` would otherwise run when a colleague opens the CSV in Excel).
    Returns ``(table, number of changed cells)``; the input is not modified."""
    changed = 0
    out = df
    text_cols = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c].dtype)
                 and not pd.api.types.is_bool_dtype(df[c].dtype)]
    for c in text_cols:
        new = df[c].map(_neutral, na_action="ignore")
        n = int((new.astype(object) != df[c].astype(object)).fillna(False).sum())
        if n:
            out = out.copy() if out is df else out
            out[c] = new
            changed += n
    cols = [_neutral(c) for c in df.columns]
    if cols != list(df.columns):
        out = out.copy() if out is df else out
        changed += sum(a != b for a, b in zip(cols, df.columns))
        out.columns = cols
    if index and not pd.api.types.is_numeric_dtype(df.index.dtype):
        idx = [_neutral(v) for v in df.index]
        if idx != list(df.index):
            out = out.copy() if out is df else out
            changed += sum(a != b for a, b in zip(idx, df.index))
            out.index = pd.Index(idx, name=df.index.name)
    return out, changed


def write_table(df: pd.DataFrame, path: str | os.PathLike, *, metadata: Mapping | None = None, index: bool = True) -> Path:
    """Write a table atomically (temporary file, then rename) as Parquet, CSV or TSV by suffix.

    ``metadata`` (JSON-serialisable) is stored in the Parquet schema metadata under ``b"radiomix"``;
    CSV/TSV have no place for it, so callers keep a sidecar. In CSV/TSV, text that a spreadsheet would run as a
    formula (starting with ``= + - @``, tab or carriage return, and not a plain number) is written with a leading
    ``'`` (:func:`neutralize_formulas`; said once per file). Parquet keeps every value as it is.
    """
    path = Path(path)
    suffix = _table_suffix(path)
    tmp = _atomic_target(path)
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=index)
            if metadata:
                meta = dict(table.schema.metadata or {})
                meta[b"radiomix"] = json.dumps(metadata, default=str).encode()
                table = table.replace_schema_metadata(meta)
            pq.write_table(table, tmp)
        elif suffix in (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz"):
            safe, n = neutralize_formulas(df, index=index)
            if n:
                import warnings

                warnings.warn(f"{path.name}: {n} text cell(s) or name(s) starting with =, +, -, @, tab or carriage "
                              "return were written with a leading ' so that spreadsheets do not run them as formulas",
                              stacklevel=2)
            safe.to_csv(tmp, sep="," if suffix.startswith(".csv") else "\t", index=index,
                        compression="gzip" if suffix.endswith(".gz") else None)
        else:
            raise ValueError(f"{path}: unknown output format {suffix!r}; use .parquet, .csv or .tsv")
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# --------------------------------------------------------------------------------------------- files
def _dir_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (a DICOM folder: of its files' relative names and bytes, in name order).

    This hashes what is on disk, once, instead of the decoded voxels: it is what the cache keys and the
    provenance record.
    """
    path = Path(path)
    if not path.is_dir():
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    h = hashlib.sha256()
    for f in _dir_files(path):
        h.update(str(f.relative_to(path)).encode() + b"\0")
        with open(f, "rb") as fh:
            h.update(hashlib.file_digest(fh, "sha256").digest())
    return h.hexdigest()


def input_size(path: str | os.PathLike) -> int:
    """Bytes on disk of a file or a DICOM folder (used to schedule large cases first)."""
    path = Path(path)
    try:
        if path.is_dir():
            return sum(f.stat().st_size for f in _dir_files(path))
        return path.stat().st_size
    except OSError:
        return 0
