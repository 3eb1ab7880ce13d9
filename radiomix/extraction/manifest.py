"""Manifests: which image, mask, labels and parameters make up each case (and modality).

Paths in a manifest that are relative resolve against the manifest's folder.

Manifest layouts (see :func:`read_manifest`):

- **single**: ``id, image, mask`` (one modality; feature names stay unprefixed),
- **wide**: ``id, image_ct, image_pet, ...`` with ``mask`` (shared) or ``mask_ct, mask_pet``,
- **long**: ``id, modality, image, mask`` (one row per case and modality).

All three become the same *long* frame: one row per case and modality with columns ``id``,
``modality`` (``""`` for the single layout), ``image``, ``mask``, ``label``, ``params`` and the
passthrough columns.

Repeated measurements (test-retest scans, several observers' masks) are rows of the same ``id`` told apart
by a ``session`` and/or ``rater`` column; without those columns a repeated ``id`` is an error.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pandas as pd

from ..io import read_table
from .labels import parse_labels

__all__ = ["ManifestError", "read_manifest", "REPEAT_COLUMNS"]

_MOD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
_RESERVED = ("id", "modality", "image", "mask", "label", "params", "session", "rater")
_LONG_COLUMNS = ["id", "modality", "image", "mask", "label", "params"]
#: Columns that mark repeated measurements of one case (in this order in the output).
REPEAT_COLUMNS = ("session", "rater")
_REPEAT_HINT = ("rows of one case are repeated measurements only when a 'session' (test-retest scans) and/or "
                "'rater' (observers' masks) column tells them apart")


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


def _resolve(base: Path, value, *, check: bool, what: str, case: str, problems: list, params: bool = False):
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        return None
    q = Path(str(value).strip()).expanduser()
    q = q if q.is_absolute() else base / q
    if check and not q.exists():
        if params:
            from .._resources import EXTRACTION_PRESETS

            if str(value).strip().lower() in EXTRACTION_PRESETS:
                return str(value).strip()
        problems.append(f"case {case}: {what} file does not exist: {q}")
    return str(q)


def _clean_ids(series: pd.Series) -> pd.Series:
    """Case ids as text: strip blanks, and 12.0 -> '12' when a numeric id column was read as floats."""
    if pd.api.types.is_float_dtype(series) and series.dropna().map(float.is_integer).all():
        return series.map(lambda v: str(int(v)) if pd.notna(v) else v)
    return series.map(lambda v: str(v).strip() if pd.notna(v) else v)


def _layout(df: pd.DataFrame, *, id_col: str, image_col: str, mask_col: str):
    """``df`` with the id/image/mask columns renamed to their standard names, its layout (``single``, ``wide``
    or ``long``) and its ``image_<mod>`` columns; raise ManifestError when required columns are missing or
    layouts are mixed."""
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
    return df, layout, wide_images


def _wide_to_long(df: pd.DataFrame, wide_images: list[str], repeats: list[str], problems: list[str]):
    """The wide layout as one row per case (and session/rater) and acquired modality; returns ``(long,
    modalities, passthrough)``."""
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
    passthrough = [c for c in df.columns if c not in wide_cols and c != "id" and c not in repeats]
    rows = []
    for _, r in df.iterrows():
        for m in mods:
            img = r[f"image_{m}"]
            if pd.isna(img) or str(img).strip() == "":
                continue  # modality not acquired for this case
            rows.append({"id": r["id"], **{c: r[c] for c in repeats}, "modality": m, "image": img,
                         "mask": r.get(f"mask_{m}", r.get("mask")),
                         "label": r.get(f"label_{m}", r.get("label")),
                         "params": r.get(f"params_{m}", r.get("params")),
                         **{c: r[c] for c in passthrough}})
    _check_duplicates(df, ["id", *repeats], problems)
    columns = [_LONG_COLUMNS[0], *repeats, *_LONG_COLUMNS[1:], *passthrough]
    return pd.DataFrame(rows, columns=columns), mods, passthrough


def _check_duplicates(df: pd.DataFrame, key: list[str], problems: list[str]) -> None:
    """Report rows that repeat ``key`` (``id`` [+ session/rater] [+ modality]), with a hint on repeats (rows
    without an id are reported as such elsewhere)."""
    df = df[df["id"].notna()]
    dup = df[key][df.duplicated(key)]
    if not len(dup):
        return
    if key == ["id"]:
        problems.append(f"duplicate ids: {list(dup['id'].unique()[:10])} ({_REPEAT_HINT})")
    elif key == ["id", "modality"]:
        problems.append("duplicate (id, modality) rows: " + str([tuple(x) for x in dup.values[:10]])
                        + f" ({_REPEAT_HINT})")
    else:
        problems.append(f"duplicate ({', '.join(key)}) rows: " + str([tuple(x) for x in dup.values[:10]]))


def _rows_to_long(df: pd.DataFrame, layout: str, repeats: list[str], problems: list[str]):
    """The single or long layout as one row per case and modality; returns ``(long, modalities,
    passthrough)``."""
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
    _check_duplicates(df, ["id", *repeats] + (["modality"] if layout == "long" else []), problems)
    if layout == "long":
        unit = ["id", *repeats]
        for c in passthrough:
            n = df.groupby(unit, sort=False)[c].nunique(dropna=False)
            bad = list(n[n > 1].index[:5])
            if bad:
                problems.append(f"column {c!r} differs between the modality rows of case(s) {bad}; "
                                "passthrough columns must hold one value per case")
    return df[[_LONG_COLUMNS[0], *repeats, *_LONG_COLUMNS[1:], *passthrough]].copy(), mods, passthrough


def _clean_repeats(df: pd.DataFrame, problems: list[str]) -> list[str]:
    """The ``session``/``rater`` columns ``df`` has, their values as text (in place); empty cells are problems."""
    repeats = [c for c in REPEAT_COLUMNS if c in df.columns]
    for c in repeats:
        df[c] = _clean_ids(df[c])
        empty = df[c].isna() | (df[c].astype(str).str.strip() == "")
        if empty.any():
            problems.append(f"{int(empty.sum())} row(s) have an empty {c!r} (cases {list(df.loc[empty, 'id'][:5])}); "
                            f"every row of a manifest with a {c!r} column needs one")
    return repeats


def _check_rows(long: pd.DataFrame, mods: list[str], base: Path, *, check_files: bool, problems: list[str]) -> None:
    """Check modality names and labels; resolve the image, mask and params paths of ``long`` in place."""
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
    preset for that row), ``session`` and/or ``rater`` (repeated measurements: rows with the same ``id`` and
    different session/rater values are repeats of one case, e.g. test-retest scans or several observers'
    masks; without these columns a repeated ``id`` is an error). Any other column (``site``, ``batch``...) is passed through to the feature
    table; in the long layout it must agree across a case's rows. Modality names may hold letters,
    digits, ``.`` and ``-`` (no ``_``: it separates the parts of a feature name).

    Relative paths resolve against the manifest file's folder (the working directory for a DataFrame).
    Every problem (missing columns, duplicate or empty ids, files that do not exist, unreadable labels)
    is collected and raised at once in a :class:`ManifestError` before any extraction starts (with
    ``return_problems=True`` they are returned instead, as ``(frame, problems)``).

    Returns a DataFrame indexed by case id (repeated for several modalities and repeats) with columns
    ``id``, ``session``/``rater`` (those the manifest has, as text), ``modality``, ``image``, ``mask``,
    ``label`` (raw cell), ``params`` and the passthrough columns; ``df.attrs["manifest"]`` holds ``layout``,
    ``modalities``, ``passthrough`` and ``repeats`` (the session/rater columns present, ``[]`` if none).
    """
    if isinstance(manifest, pd.DataFrame):
        df, base = manifest.copy(), Path.cwd()
    else:
        df, base = read_table(manifest), Path(manifest).resolve().parent
    df.columns = [str(c).strip() for c in df.columns]
    problems: list[str] = []
    df, layout, wide_images = _layout(df, id_col=id_col, image_col=image_col, mask_col=mask_col)
    ids = df["id"]
    if ids.isna().any() or (ids.astype(str).str.strip() == "").any():
        problems.append(f"{int(ids.isna().sum() + (ids.astype(str).str.strip() == '').sum())} row(s) have an empty 'id'")
    df["id"] = _clean_ids(ids)
    repeats = _clean_repeats(df, problems)
    if layout == "wide":
        long, mods, passthrough = _wide_to_long(df, wide_images, repeats, problems)
    else:
        long, mods, passthrough = _rows_to_long(df, layout, repeats, problems)
    _check_rows(long, mods, base, check_files=check_files, problems=problems)
    if not len(long) and not problems:
        problems.append("manifest has no rows")
    long.index = pd.Index(long["id"].tolist())
    long.attrs["manifest"] = {"layout": layout, "modalities": mods, "passthrough": passthrough,
                              "repeats": repeats, "base": str(base)}
    if return_problems:
        return long, problems
    if problems:
        raise ManifestError(problems)
    return long
