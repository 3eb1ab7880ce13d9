"""Reading images, masks, manifests and tables; atomic writes; geometry checks.

Nothing here fits a model. Paths in a manifest that are relative resolve against the manifest's folder.

Manifest layouts (see :func:`read_manifest`):

- **single**: ``id, image, mask`` (one modality; feature names stay unprefixed),
- **wide**: ``id, image_ct, image_pet, ...`` with ``mask`` (shared) or ``mask_ct, mask_pet``,
- **long**: ``id, modality, image, mask`` (one row per case and modality).

All three become the same *long* frame: one row per case and modality with columns ``id``,
``modality`` (``""`` for the single layout), ``image``, ``mask``, ``label``, ``params`` and the
passthrough columns.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "ManifestError",
    "GeometryError",
    "read_manifest",
    "parse_labels",
    "read_table",
    "write_table",
    "atomic_write_text",
    "atomic_write_bytes",
    "file_sha256",
    "read_image",
    "image_geometry",
    "format_geometry",
    "align_mask",
]


class ManifestError(ValueError):
    """The manifest is unusable; the message lists every problem found, not only the first."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if isinstance(problems, str):
            super().__init__(problems)
            return
        head = "\n  - ".join(self.problems[:50])
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(f"manifest has {len(self.problems)} problem(s):\n  - {head}{more}")


class GeometryError(ValueError):
    """An image and its mask do not describe the same voxel grid (beyond the tolerance)."""


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


def is_dicom_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is a file with the DICOM preamble (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def read_image(path: str | os.PathLike):
    """Read an image or mask with SimpleITK: NIfTI, NRRD, MHA/MHD, or a DICOM series folder."""
    import SimpleITK as sitk

    path = Path(path)
    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        series = reader.GetGDCMSeriesIDs(str(path))
        if not series:
            raise ValueError(f"{path}: folder holds no DICOM image series")
        if len(series) > 1:
            raise ValueError(f"{path}: folder holds {len(series)} DICOM series; give one series per folder")
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path), series[0]))
        return reader.Execute()
    if not path.exists():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:  # SimpleITK's message is a C++ trace; keep its gist
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        gist = next((ln for ln in lines if "Description" in ln or "Unable" in ln), lines[-1] if lines else "")
        raise ValueError(f"{path}: not a readable image ({gist})") from err


# --------------------------------------------------------------------------------------------- geometry
def image_geometry(img) -> dict:
    """Size, spacing, origin and direction of a SimpleITK image (plain tuples)."""
    return {"size": tuple(int(s) for s in img.GetSize()), "spacing": tuple(img.GetSpacing()),
            "origin": tuple(img.GetOrigin()), "direction": tuple(img.GetDirection())}


def format_geometry(g: Mapping) -> str:
    """One line describing a grid, e.g. ``size 512x512x120, spacing 0.7x0.7x2.5 mm, origin (...)``."""
    def fmt(v, nd=4):
        return "x".join(f"{x:.{nd}g}" for x in v)

    d = np.asarray(g["direction"], float)
    ident = d.size and np.allclose(d, np.eye(int(math.isqrt(d.size))).ravel())
    direction = "identity" if ident else "(" + ", ".join(f"{x:.3g}" for x in d) + ")"
    return (f"size {fmt(g['size'])}, spacing {fmt(g['spacing'])} mm, origin ("
            + ", ".join(f"{x:.5g}" for x in g["origin"]) + f"), direction {direction}")


def _index_map(img_ref, img):
    """Affine map (A, b) from ``img`` voxel index to ``img_ref`` continuous voxel index."""
    nd = img.GetDimension()
    def mat(im):
        return np.asarray(im.GetDirection(), float).reshape(nd, nd) @ np.diag(im.GetSpacing())

    m_ref_inv = np.linalg.inv(mat(img_ref))
    a = m_ref_inv @ mat(img)
    b = m_ref_inv @ (np.asarray(img.GetOrigin(), float) - np.asarray(img_ref.GetOrigin(), float))
    return a, b


def grid_deviation(image, mask) -> float:
    """How far (in image voxels) the mask's voxel centres fall from the image's voxel lattice.

    0 for a mask on the image grid or on a shifted/cropped/flipped copy of it; large when spacing or
    direction differ. Measured at the corners of the mask grid, where an affine mismatch is largest.
    """
    if image.GetDimension() != mask.GetDimension():
        return math.inf
    a, b = _index_map(image, mask)
    p = np.round(a)
    if not (np.all(np.abs(p).sum(axis=0) == 1) and np.all(np.abs(p).sum(axis=1) == 1)):
        return math.inf  # not a (signed) permutation of the image axes: a different grid
    size = np.asarray(mask.GetSize()) - 1
    corners = np.array(np.meshgrid(*[[0, s] for s in size], indexing="ij")).reshape(len(size), -1)
    mapped = a @ corners + b[:, None]
    return float(np.max(np.abs(mapped - np.round(mapped))))


def same_grid(a, b, tol: float = 1e-9) -> bool:
    """True when two images share size and (to ``tol`` relative) spacing, origin and direction."""
    if a.GetSize() != b.GetSize():
        return False
    sp = np.asarray(a.GetSpacing())
    return (np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=tol, atol=0)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=tol * float(sp.min()))
            and np.allclose(a.GetDirection(), b.GetDirection(), rtol=0, atol=tol))


def align_mask(image, mask, tolerance: float = 0.01, *, quiet_lattice: bool = False):
    """Put ``mask`` on ``image``'s voxel grid; returns ``(mask, note)``, ``note`` is ``None`` or a warning text.

    - Same grid: returned unchanged.
    - Mask voxel centres within ``tolerance`` (in image voxels) of the image lattice (float jitter in
      the header, a cropped or padded mask, flipped axes): resampled nearest-neighbour onto the image,
      which moves no voxel by more than ``tolerance``; the note says so.
    - Beyond the tolerance (different spacing or orientation): :class:`GeometryError` naming both grids.
      ``tolerance=inf`` resamples any mask nearest-neighbour instead.

    Mask voxels of a label that would fall outside the image raise :class:`GeometryError` as well.
    ``quiet_lattice=True`` gives no note when the mask sits exactly on the image lattice (a DICOM-SEG stores
    only the frames that hold the segment: putting it back on the full grid is expected and exact).
    """
    import SimpleITK as sitk

    if same_grid(image, mask):
        return mask, None
    gi, gm = image_geometry(image), image_geometry(mask)
    dev = grid_deviation(image, mask)
    if not dev <= tolerance:
        raise GeometryError(
            f"mask grid does not match the image grid (mask voxels are {dev:.3g} image voxels off the image "
            f"lattice; tolerance {tolerance:g}). image: {format_geometry(gi)}; mask: {format_geometry(gm)}. "
            "Resample the mask onto the image, or raise geometry_tolerance (inf = always resample)")
    before = _label_counts(mask)
    out = sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID())
    after = _label_counts(out)
    lost = {k: v - after.get(k, 0) for k, v in before.items() if v - after.get(k, 0) > 0}
    if lost:
        desc = ", ".join(f"label {k}: {n} of {before[k]} voxels" for k, n in lost.items())
        raise GeometryError(f"mask lies (partly) outside the image ({desc} outside). image: {format_geometry(gi)}; "
                            f"mask: {format_geometry(gm)}")
    if quiet_lattice and dev < 1e-3:
        return out, None
    return out, (f"mask grid differs from the image grid ({dev:.2g} voxel off the lattice); resampled "
                 f"nearest-neighbour onto the image. mask: {format_geometry(gm)}")


def label_counts(arr: np.ndarray) -> dict[int, int]:
    """Voxel count of every non-zero label value in an integer label array."""
    if arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    if arr.size and arr.dtype.kind in "ui" and arr.min() >= 0 and arr.max() < 1 << 20:
        counts = np.bincount(arr.ravel())  # O(n), much faster than np.unique's sort on a 512x512x300 mask
        nz = np.flatnonzero(counts)
        return {int(v): int(counts[v]) for v in nz if v != 0}
    vals, counts = np.unique(arr[arr != 0], return_counts=True)
    return {int(v): int(c) for v, c in zip(vals, counts)}


def _label_counts(mask) -> dict[int, int]:
    import SimpleITK as sitk

    return label_counts(sitk.GetArrayViewFromImage(mask))


# --------------------------------------------------------------------------------------------- manifests
_MOD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
_RESERVED = ("id", "modality", "image", "mask", "label", "params")


def _sanitize_region(name: str) -> str:
    out = re.sub(r"[^A-Za-z0-9.-]+", "-", str(name).strip()).strip("-")
    return out or "roi"


def parse_labels(value) -> list[tuple[str, int | str]]:
    """Parse a manifest ``label`` cell into ``[(region_name, label), ...]``.

    ``1`` -> ``[("label1", 1)]``; ``"1;2"`` or ``"1,2"`` -> two regions; ``"tumor=1;node=2"`` names them;
    a text label (RTSTRUCT ROI name or DICOM-SEG segment label, e.g. ``"GTV-1"``) is kept as text. Empty
    -> ``[]`` (the parameter file's ``label``, or the only segment of a DICOM mask). Raises ValueError
    for a cell it cannot read.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"label {value!r} is not a label value")
    if isinstance(value, (int, np.integer)):
        return [(f"label{int(value)}", int(value))]
    if isinstance(value, (float, np.floating)):
        if float(value).is_integer():
            return [(f"label{int(value)}", int(value))]
        raise ValueError(f"label {value!r} is not an integer")
    text = str(value).strip()
    if not text:
        return []
    parts = [p.strip() for p in re.split(r"[;|]", text)]
    if len(parts) == 1 and "," in text and all(re.fullmatch(r"-?\d+(\.0+)?", p.strip()) for p in text.split(",")):
        parts = [p.strip() for p in text.split(",")]
    out, seen = [], set()
    for p in parts:
        if not p:
            raise ValueError(f"label {text!r} has an empty part")
        name, _, val = p.partition("=") if "=" in p else ("", "", p)
        name, val = name.strip(), val.strip()
        if not val:
            raise ValueError(f"label {text!r}: region {name!r} has no value")
        num = re.fullmatch(r"-?\d+(\.0+)?", val)
        lab: int | str = int(float(val)) if num else val
        region = _sanitize_region(name) if name else (f"label{lab}" if num else _sanitize_region(val))
        if region in seen:
            raise ValueError(f"label {text!r} names region {region!r} twice")
        seen.add(region)
        out.append((region, lab))
    return out


def _resolve(base: Path, value, *, check: bool, what: str, case: str, problems: list, params: bool = False):
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        return None
    q = Path(str(value).strip()).expanduser()
    q = q if q.is_absolute() else base / q
    if check and not q.exists():
        if params:
            from ._resources import EXTRACTION_PRESETS

            if str(value).strip().lower() in EXTRACTION_PRESETS:
                return str(value).strip()
        problems.append(f"case {case}: {what} file does not exist: {q}")
    return str(q)


def _clean_ids(series: pd.Series) -> pd.Series:
    """Case ids as text: strip blanks, and 12.0 -> '12' when a numeric id column was read as floats."""
    if pd.api.types.is_float_dtype(series) and series.dropna().map(float.is_integer).all():
        return series.map(lambda v: str(int(v)) if pd.notna(v) else v)
    return series.map(lambda v: str(v).strip() if pd.notna(v) else v)


def read_manifest(
    manifest: str | os.PathLike | pd.DataFrame,
    *,
    id_col: str = "id",
    image_col: str = "image",
    mask_col: str = "mask",
    check_files: bool = True,
    return_problems: bool = False,
):
    """Read and validate a manifest; return it as one row per case and modality.

    Layouts (pick one; they cannot be mixed):

    - **single** -- ``id, image, mask``: one image per case; ``modality`` is ``""`` and feature names stay
      unprefixed (``original_glcm_Contrast``).
    - **wide** -- ``id, image_<mod>...`` plus ``mask`` (one mask for all modalities, on a common grid)
      or ``mask_<mod>`` per modality; ``label``/``label_<mod>`` and ``params``/``params_<mod>`` likewise.
      An empty ``image_<mod>`` cell means that modality was not acquired for that case.
    - **long** -- ``id, modality, image, mask[, label, params]``: one row per case and modality.

    Optional columns: ``label`` (see :func:`parse_labels`), ``params`` (pyradiomics parameter file or
    preset for that row). Any other column (``site``, ``batch``...) is passed through to the feature
    table; in the long layout it must agree across a case's rows. Modality names may hold letters,
    digits, ``.`` and ``-`` (no ``_``: it separates the parts of a feature name).

    Relative paths resolve against the manifest file's folder (the working directory for a DataFrame).
    Every problem (missing columns, duplicate or empty ids, files that do not exist, unreadable labels)
    is collected and raised at once in a :class:`ManifestError` before any extraction starts (with
    ``return_problems=True`` they are returned instead, as ``(frame, problems)``).

    Returns a DataFrame indexed by case id (repeated for several modalities) with columns ``id``,
    ``modality``, ``image``, ``mask``, ``label`` (raw cell), ``params`` and the passthrough columns;
    ``df.attrs["manifest"]`` holds ``layout``, ``modalities`` and ``passthrough``.
    """
    if isinstance(manifest, pd.DataFrame):
        df, base = manifest.copy(), Path.cwd()
    else:
        df, base = read_table(manifest), Path(manifest).resolve().parent
    df.columns = [str(c).strip() for c in df.columns]
    problems: list[str] = []
    if id_col not in df.columns:
        raise ManifestError(f"manifest lacks required column(s) [{id_col!r}]; it has {list(df.columns)}. "
                            f"Required: {id_col!r}, and {image_col!r}/{mask_col!r} (or image_<modality>, "
                            "or modality + image + mask).")
    df = df.rename(columns={id_col: "id", image_col: "image", mask_col: "mask"})
    wide_images = [c for c in df.columns if c.startswith("image_")]
    if "modality" in df.columns:
        layout = "long"
    elif wide_images:
        layout = "wide"
        if "image" in df.columns:
            raise ManifestError(f"manifest mixes a plain 'image' column with {wide_images}; use one layout")
    else:
        layout = "single"
    required = ["id", "image", "mask"] if layout != "wide" else ["id"]
    missing_cols = [c for c in required if c not in df.columns]
    if layout == "wide" and not any(c == "mask" or c.startswith("mask_") for c in df.columns):
        missing_cols.append("mask (or mask_<modality>)")
    if missing_cols:
        shown = [{"id": id_col, "image": image_col, "mask": mask_col}.get(c, c) for c in missing_cols]
        raise ManifestError(
            f"manifest lacks required column(s) {shown}; it has {list(df.columns)}. Required: "
            f"{id_col!r}, {image_col!r}, {mask_col!r} (single modality), or {id_col!r} + image_<modality> + "
            f"mask/mask_<modality> (wide), or {id_col!r} + modality + image + mask (long).")

    ids = df["id"]
    if ids.isna().any() or (ids.astype(str).str.strip() == "").any():
        problems.append(f"{int(ids.isna().sum() + (ids.astype(str).str.strip() == '').sum())} row(s) have an empty 'id'")
    df["id"] = _clean_ids(ids)

    if layout == "wide":
        mods = [c[len("image_"):] for c in wide_images]
        per_mod = {}
        for kind in ("mask", "label", "params"):
            per_mod[kind] = {c[len(kind) + 1:] for c in df.columns if c.startswith(kind + "_")}
            stray = sorted(per_mod[kind] - set(mods))
            if stray:
                problems.append(f"column(s) {[f'{kind}_{m}' for m in stray]} have no matching image_<modality> column")
        for m in mods:
            if m not in per_mod["mask"] and "mask" not in df.columns:
                problems.append(f"modality {m!r}: no mask_{m} column and no shared 'mask' column")
        wide_cols = set(wide_images) | {f"{k}_{m}" for k in per_mod for m in per_mod[k]} | {"mask", "label", "params"}
        passthrough = [c for c in df.columns if c not in wide_cols and c != "id"]
        rows = []
        for _, r in df.iterrows():
            for m in mods:
                img = r[f"image_{m}"]
                if pd.isna(img) or str(img).strip() == "":
                    continue  # modality not acquired for this case
                rows.append({"id": r["id"], "modality": m, "image": img,
                             "mask": r.get(f"mask_{m}", r.get("mask")),
                             "label": r.get(f"label_{m}", r.get("label")),
                             "params": r.get(f"params_{m}", r.get("params")),
                             **{c: r[c] for c in passthrough}})
        dup = df["id"][df["id"].duplicated()].dropna().unique()
        if len(dup):
            problems.append(f"duplicate ids: {list(dup[:10])}")
        long = pd.DataFrame(rows, columns=["id", "modality", "image", "mask", "label", "params", *passthrough])
    else:
        if layout == "single":
            df["modality"] = ""
            mods = [""]
        else:
            df["modality"] = df["modality"].map(lambda v: str(v).strip() if pd.notna(v) else "")
            mods = list(dict.fromkeys(df["modality"]))
            if "" in mods:
                problems.append(f"{int((df['modality'] == '').sum())} row(s) have an empty 'modality'")
                mods = [m for m in mods if m]
        for c in ("label", "params"):
            if c not in df.columns:
                df[c] = None
        passthrough = [c for c in df.columns if c not in _RESERVED]
        key = ["id", "modality"]
        dup = df[key][df.duplicated(key)]
        if len(dup):
            what = ("duplicate ids: " + str(list(dup["id"].unique()[:10])) if layout == "single"
                    else "duplicate (id, modality) rows: " + str([tuple(x) for x in dup.values[:10]]))
            problems.append(what)
        if layout == "long":
            for c in passthrough:
                n = df.groupby("id", sort=False)[c].nunique(dropna=False)
                bad = list(n[n > 1].index[:5])
                if bad:
                    problems.append(f"column {c!r} differs between the modality rows of case(s) {bad}; "
                                    "passthrough columns must hold one value per case")
        long = df[["id", "modality", "image", "mask", "label", "params", *passthrough]].copy()

    for m in mods:
        if m and not _MOD_RE.match(m):
            problems.append(f"modality name {m!r} may only hold letters, digits, '.' and '-' "
                            "(an '_' would make feature names ambiguous)")
    for col in ("image", "mask"):
        resolved = []
        for case, mod, p in zip(long["id"], long["modality"], long[col]):
            what = f"{col}" + (f" ({mod})" if mod else "")
            r = _resolve(base, p, check=check_files, what=what, case=case, problems=problems)
            if r is None:
                problems.append(f"case {case}: empty {what} path")
            resolved.append(r)
        long[col] = resolved
    long["params"] = [_resolve(base, p, check=check_files, what="params", case=c, problems=problems, params=True)
                      for c, p in zip(long["id"], long["params"])]
    for case, mod, lab in zip(long["id"], long["modality"], long["label"]):
        try:
            parse_labels(lab)
        except ValueError as err:
            problems.append(f"case {case}{' (' + mod + ')' if mod else ''}: {err}")
    if not len(long) and not problems:
        problems.append("manifest has no rows")
    long.index = pd.Index(long["id"].tolist())
    long.attrs["manifest"] = {"layout": layout, "modalities": mods, "passthrough": passthrough,
                              "base": str(base)}
    if return_problems:
        return long, problems
    if problems:
        raise ManifestError(problems)
    return long
