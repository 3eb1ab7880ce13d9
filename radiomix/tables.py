"""Merging radiomic, clinical and genetic tables on the case id, and recording column groups.

The merged table remembers which columns are radiomic, clinical and genetic (``df.attrs["radiomix"]``) so
that later steps (ComBat applies to radiomic columns only) can find them. ``attrs`` do not survive every
pandas operation, so :func:`column_groups` falls back to recognising pyradiomics' feature names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["merge", "column_groups", "RADIOMIC_PATTERN", "MISSING_STRINGS"]

# pyradiomics names features <imageType>_<class>_<name>, e.g. original_glcm_Contrast,
# log-sigma-2-0-mm-3D_firstorder_Mean, wavelet-LLH_glszm_ZoneEntropy; radiomix may prefix a modality
# and/or region ("ct_original_...", "pet_lesion2_original_...").
_IMAGE_TYPES = r"(original|log-sigma-[0-9-]+mm-[23]D|wavelet[0-9]*-[LH]+|square|squareroot|logarithm|exponential|gradient|lbp-2D|lbp-3D(-m[0-9]+|-k)?)"
_CLASSES = r"(firstorder|shape|shape2D|glcm|glrlm|glszm|gldm|ngtdm)"
RADIOMIC_PATTERN = re.compile(rf"(^|_){_IMAGE_TYPES}_{_CLASSES}_[A-Za-z0-9]+$")

# Strings clinical exports use for "not recorded".
MISSING_STRINGS = frozenset(
    {"", "na", "n/a", "nan", "none", "null", "missing", "unknown", "not available", "no data", "nd", "-", "?", ".", "#n/a"}
)

_GROUPS = ("radiomic", "clinical", "genetic")


def column_groups(df: pd.DataFrame) -> dict[str, list[str]]:
    """Return ``{"radiomic": [...], "clinical": [...], "genetic": [...]}`` for a merged table.

    Uses the groups recorded by :func:`merge` when present (and still matching the frame's columns);
    otherwise every column whose name looks like a pyradiomics feature is radiomic and the others are
    returned as neither (clinical and genetic empty).
    """
    meta = df.attrs.get("radiomix", {}) if hasattr(df, "attrs") else {}
    recorded = meta.get("groups") if isinstance(meta, dict) else None
    cols = set(map(str, df.columns))
    if recorded:
        return {g: [c for c in recorded.get(g, []) if c in cols] for g in _GROUPS}
    radiomic = [str(c) for c in df.columns if RADIOMIC_PATTERN.search(str(c))]
    return {"radiomic": radiomic, "clinical": [], "genetic": []}


def _clean_column(s: pd.Series, categorical: bool | None) -> pd.Series:
    """Map 'no data'-like strings to NaN, then type the column numeric or categorical."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype(float) if categorical is not True else s.astype("category")
    obj = s.astype(object)
    obj = obj.where(~obj.map(lambda v: isinstance(v, str) and v.strip().lower() in MISSING_STRINGS), np.nan)
    obj = obj.map(lambda v: v.strip() if isinstance(v, str) else v)
    if categorical is True:
        return obj.astype("category")
    num = pd.to_numeric(obj, errors="coerce")
    n_obs = int(obj.notna().sum())
    # Numeric when every observed value parses as a number; otherwise categorical.
    if categorical is False or (n_obs > 0 and int(num.notna().sum()) == n_obs):
        if categorical is False and int(num.notna().sum()) < n_obs:
            bad = obj[obj.notna() & num.isna()].unique()[:5]
            raise ValueError(f"column {s.name!r} was declared numeric but holds non-numeric values {list(bad)}")
        return num.astype(float)
    return obj.astype("category")


def _read_table(table, on: str, what: str) -> pd.DataFrame:
    from .io import read_table

    df = read_table(table) if not isinstance(table, pd.DataFrame) else table.copy()
    if on not in df.columns:
        if df.index.name == on:
            df = df.reset_index()
        else:
            raise ValueError(f"{what} table has no id column {on!r}; its columns are {list(df.columns)[:10]}...")
    ids = df[on].astype(str).str.strip()
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise ValueError(f"{what} table has duplicate ids in column {on!r}: {list(dup[:10])}")
    df[on] = ids
    return df.set_index(on)


def merge(
    radiomics,
    clinical=None,
    genetic=None,
    *,
    on: str = "id",
    how: str = "outer",
    categorical: Iterable[str] | None = None,
    numeric: Iterable[str] | None = None,
    verbose: bool = True,
) -> pd.DataFrame:
    """Join a radiomic table with clinical and genetic tables on the case id.

    Parameters
    ----------
    radiomics, clinical, genetic : DataFrame or path (CSV, TSV, Parquet)
        Tables keyed by ``on`` (a column, or the index name).
    on : str
        Case-id column.
    how : {"outer", "inner", "left"}
        ``"outer"`` (default) keeps every id, filling the missing table's columns with NaN; ids present in
        one table and absent in another are always reported, never silently dropped.
    categorical, numeric : iterable of str, optional
        Override the inferred type of clinical/genetic columns (default: numeric when every observed value
        parses as a number after "no data"-like strings become missing, otherwise categorical).

    Returns
    -------
    DataFrame indexed by ``on`` whose ``attrs["radiomix"]["groups"]`` records the radiomic, clinical and
    genetic columns (see :func:`column_groups`) and ``attrs["radiomix"]["id_report"]`` the ids each table
    lacked.
    """
    if how not in ("outer", "inner", "left"):
        raise ValueError(f"how must be 'outer', 'inner' or 'left', got {how!r}")
    categorical = set(categorical or [])
    numeric = set(numeric or [])
    both = categorical & numeric
    if both:
        raise ValueError(f"columns declared both categorical and numeric: {sorted(both)}")

    tables = {"radiomic": _read_table(radiomics, on, "radiomic")}
    if clinical is not None:
        tables["clinical"] = _read_table(clinical, on, "clinical")
    if genetic is not None:
        tables["genetic"] = _read_table(genetic, on, "genetic")

    groups: dict[str, list[str]] = {g: [] for g in _GROUPS}
    seen: dict[str, str] = {}
    for name, df in tables.items():
        for c in df.columns:
            if c in seen:
                raise ValueError(f"column {c!r} appears in both the {seen[c]} and the {name} table; rename one")
            seen[c] = name
        if name == "radiomic":
            groups["radiomic"] = [c for c in df.columns if RADIOMIC_PATTERN.search(str(c))]
        else:
            for c in df.columns:
                df[c] = _clean_column(df[c], True if c in categorical else False if c in numeric else None)
            groups[name] = list(df.columns)
    unknown = (categorical | numeric) - set(seen)
    if unknown:
        raise ValueError(f"type overrides name columns that no table has: {sorted(unknown)}")

    all_ids = pd.Index(sorted(set().union(*[set(t.index) for t in tables.values()])))
    id_report = {name: sorted(set(all_ids) - set(t.index)) for name, t in tables.items()}
    if how == "inner":
        keep = all_ids
        for t in tables.values():
            keep = keep.intersection(t.index)
    elif how == "left":
        keep = tables["radiomic"].index
    else:
        keep = all_ids
    out = pd.concat([t.reindex(keep) for t in tables.values()], axis=1)
    out.index.name = on
    # reindex turns categoricals with missing rows into categoricals again, but ints into floats: fine.
    out.attrs["radiomix"] = {"groups": groups, "id_report": id_report, "id": on}
    if verbose:
        from rich.console import Console

        console = Console(stderr=True)
        for name, missing in id_report.items():
            if missing:
                dropped = how == "inner" or (how == "left" and name == "radiomic")
                fate = "dropped" if dropped else "kept with missing values"
                console.print(f"[yellow]merge:[/] {len(missing)} id(s) have no row in the {name} table ({fate}): "
                              f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    return out
