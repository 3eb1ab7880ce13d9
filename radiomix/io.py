"""Tables and files: reading and writing CSV/TSV/Parquet tables, atomic writes, file hashes and sizes.

Nothing here fits a model. Images, masks and manifests live in :mod:`radiomix.extraction`
(:mod:`~radiomix.extraction.images`, :mod:`~radiomix.extraction.labels`, :mod:`~radiomix.extraction.manifest`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
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
]


# --------------------------------------------------------------------------------------------- tables
def _table_suffix(path: Path) -> str:
    return "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()


def read_table(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet table by suffix.

    CSV/TSV are read as UTF-8 with an optional byte-order mark (Excel exports start with one, which
    would otherwise stick to the first column name). For Parquet files written by radiomix, the
    ``radiomix`` schema metadata (provenance, column groups) comes back in ``df.attrs["radiomix"]``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"table not found: {path}")
    suffix = _table_suffix(path)
    if suffix in (".parquet", ".pq"):
        df = pd.read_parquet(path, **kwargs)
        try:
            import pyarrow.parquet as pq

            meta = pq.read_schema(path).metadata or {}
            if b"radiomix" in meta:
                df.attrs["radiomix"] = json.loads(meta[b"radiomix"])
        except (OSError, ValueError):  # metadata is a convenience; the table itself was read
            pass
        return df
    kwargs.setdefault("encoding", "utf-8-sig")
    if suffix in (".tsv", ".tab", ".tsv.gz", ".txt"):
        return pd.read_csv(path, sep="\t", **kwargs)
    if suffix in (".csv", ".csv.gz"):
        return pd.read_csv(path, **kwargs)
    raise ValueError(f"{path}: unknown table format {suffix!r}; use .csv, .tsv or .parquet")


def _atomic_target(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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


def write_table(df: pd.DataFrame, path: str | os.PathLike, *, metadata: Mapping | None = None, index: bool = True) -> Path:
    """Write a table atomically (temporary file, then rename) as Parquet, CSV or TSV by suffix.

    ``metadata`` (JSON-serialisable) is stored in the Parquet schema metadata under ``b"radiomix"``;
    CSV/TSV have no place for it, so callers keep a sidecar.
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
            df.to_csv(tmp, sep="," if suffix.startswith(".csv") else "\t", index=index,
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
