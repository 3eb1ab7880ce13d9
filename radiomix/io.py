"""Reading images, masks, manifests and tables; atomic writes; geometry checks.

Nothing here fits a model. Paths in a manifest that are relative resolve against the manifest's folder.
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
    "ManifestError",
    "read_manifest",
    "read_table",
    "write_table",
    "atomic_write_text",
    "file_sha256",
    "read_image",
]


class ManifestError(ValueError):
    """The manifest is unusable; the message lists every problem found, not only the first."""


def read_table(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet table by suffix."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"table not found: {path}")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path, **kwargs)
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


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text to ``path`` through a temporary file and a rename, so a crash never leaves half a file."""
    path = Path(path)
    tmp = _atomic_target(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_table(df: pd.DataFrame, path: str | os.PathLike, *, metadata: Mapping | None = None, index: bool = True) -> Path:
    """Write a table atomically (temporary file, then rename) as Parquet, CSV or TSV by suffix.

    ``metadata`` (JSON-serialisable) is stored in the Parquet schema metadata under ``b"radiomix"``;
    CSV/TSV have no place for it, so callers keep a sidecar.
    """
    path = Path(path)
    suffix = path.suffix.lower()
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
        elif suffix in (".csv", ".tsv", ".txt"):
            df.to_csv(tmp, sep="\t" if suffix != ".csv" else ",", index=index)
        else:
            raise ValueError(f"{path}: unknown output format {suffix!r}; use .parquet, .csv or .tsv")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (a DICOM folder: of its files in name order)."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        with open(f, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()


def read_image(path: str | os.PathLike):
    """Read an image or mask with SimpleITK: NIfTI, NRRD, MHA/MHD, or a DICOM series folder."""
    import SimpleITK as sitk

    path = Path(path)
    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        series = reader.GetGDCMSeriesIDs(str(path))
        if not series:
            raise ValueError(f"{path}: folder holds no DICOM series")
        if len(series) > 1:
            raise ValueError(f"{path}: folder holds {len(series)} DICOM series; give one series per folder")
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path), series[0]))
        return reader.Execute()
    if not path.exists():
        raise FileNotFoundError(f"image not found: {path}")
    return sitk.ReadImage(str(path))


def read_manifest(
    manifest: str | os.PathLike | pd.DataFrame,
    *,
    id_col: str = "id",
    image_col: str = "image",
    mask_col: str = "mask",
    check_files: bool = True,
) -> pd.DataFrame:
    """Read and validate a manifest (one row per case: id, image, mask, optional site/label/extra columns).

    Relative paths resolve against the manifest file's folder (or the working directory for a DataFrame).
    Every problem (missing columns, duplicate or empty ids, files that do not exist) is collected and
    reported at once in a :class:`ManifestError` before any extraction starts.
    """
    if isinstance(manifest, pd.DataFrame):
        df, base = manifest.copy(), Path.cwd()
    else:
        df, base = read_table(manifest), Path(manifest).resolve().parent
    problems: list[str] = []
    missing_cols = [c for c in (id_col, image_col, mask_col) if c not in df.columns]
    if missing_cols:
        raise ManifestError(
            f"manifest lacks required column(s) {missing_cols}; it has {list(df.columns)}. "
            f"Required: {id_col!r}, {image_col!r}, {mask_col!r}."
        )
    ids = df[id_col]
    if ids.isna().any():
        problems.append(f"{int(ids.isna().sum())} row(s) have an empty {id_col!r}")
    df[id_col] = ids.astype(str).str.strip()
    dup = df[id_col][df[id_col].duplicated()].unique()
    if len(dup):
        problems.append(f"duplicate ids: {list(dup[:10])}")
    for col in (image_col, mask_col):
        resolved = []
        for case, p in zip(df[id_col], df[col]):
            if pd.isna(p) or str(p).strip() == "":
                problems.append(f"case {case}: empty {col!r} path")
                resolved.append(None)
                continue
            q = Path(str(p).strip()).expanduser()
            q = q if q.is_absolute() else (base / q)
            if check_files and not q.exists():
                problems.append(f"case {case}: {col} file does not exist: {q}")
            resolved.append(str(q))
        df[col] = resolved
    if problems:
        head = "\n  - ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise ManifestError(f"manifest has {len(problems)} problem(s):\n  - {head}{more}")
    return df.set_index(id_col, drop=False).rename_axis(None)
