"""Merging radiomic, clinical and genetic tables on the case id, and recording column groups.

The merged table remembers which columns are radiomic, clinical and genetic (``df.attrs["radiomix"]``,
also stored in Parquet metadata by :func:`radiomix.io.write_table` and restored by
:func:`radiomix.io.read_table`) so that later steps (ComBat applies to radiomic columns only) can find
them. ``attrs`` do not survive every pandas operation, so :func:`column_groups` falls back to recognising
pyradiomics' feature names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from .patterns import compile_user_pattern

__all__ = ["merge", "column_groups", "feature_name_parts", "RADIOMIC_PATTERN", "MISSING_STRINGS"]

# pyradiomics names features <imageType>_<class>_<name>, e.g. original_glcm_Contrast,
# log-sigma-2-0-mm-3D_firstorder_Mean, wavelet-LLH_glszm_ZoneEntropy; radiomix may prefix a modality
# and/or region ("ct_original_...", "pet_lesion2_original_...").
_IMAGE_TYPES = r"(original|log-sigma-[0-9-]+mm-[23]D|wavelet[0-9]*-[LH]+|square|squareroot|logarithm|exponential|gradient|lbp-2D|lbp-3D(-m[0-9]+|-k)?)"
_CLASSES = r"(firstorder|shape|shape2D|glcm|glrlm|glszm|gldm|ngtdm)"
RADIOMIC_PATTERN = re.compile(rf"(^|_)(?P<image_filter>{_IMAGE_TYPES})_(?P<feature_class>{_CLASSES})_[A-Za-z0-9]+$")



def feature_name_parts(name) -> tuple[str, str]:
    """(image filter, feature class) of a pyradiomics feature name (``wavelet-HHH_glcm_Contrast`` ->
    ``("wavelet-HHH", "glcm")``, also behind a modality/region prefix); ``("other", "other")`` for any other
    column."""
    m = RADIOMIC_PATTERN.search(str(name))
    return (m["image_filter"], m["feature_class"]) if m else ("other", "other")


# Strings clinical exports use for "not recorded", and spreadsheet error values that stand in for a number.
MISSING_STRINGS = frozenset(
    {"", "na", "n/a", "nan", "none", "null", "missing", "unknown", "not available", "no data", "nd", "-", "?", ".", "#n/a",
     "#name?", "#value!", "#div/0!", "#ref!", "#num!", "#null!"}
)

_GROUPS = ("radiomic", "clinical", "genetic")


def column_groups(df: pd.DataFrame) -> dict[str, list[str]]:
    """Return ``{"radiomic": [...], "clinical": [...], "genetic": [...]}`` for a merged table.

    Uses the groups recorded by :func:`merge` or :func:`radiomix.extract` when present (restricted to the
    frame's columns); otherwise every column whose name looks like a pyradiomics feature is radiomic and
    the others are returned as neither (clinical and genetic empty).
    """
    meta = df.attrs.get("radiomix", {}) if hasattr(df, "attrs") else {}
    recorded = meta.get("groups") if isinstance(meta, dict) else None
    cols = set(map(str, df.columns))
    if recorded and any(c in cols for g in _GROUPS for c in recorded.get(g, [])):
        return {g: [c for c in recorded.get(g, []) if c in cols] for g in _GROUPS}
    radiomic = [str(c) for c in df.columns if RADIOMIC_PATTERN.search(str(c))]
    return {"radiomic": radiomic, "clinical": [], "genetic": []}


def _clean_column(s: pd.Series, categorical: bool | None, missing: frozenset = MISSING_STRINGS) -> pd.Series:
    """Map 'no data'-like strings to NaN, then type the column numeric or categorical."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype(float) if categorical is not True else s.astype("category")
    obj = s.astype(object)
    obj = obj.where(~obj.map(lambda v: isinstance(v, str) and v.strip().lower() in missing), np.nan)
    obj = obj.map(lambda v: v.strip() if isinstance(v, str) else v)
    if pd.api.types.is_bool_dtype(s) and categorical is not True:
        return obj.astype(float)
    if categorical is True:
        return obj.astype("category")
    num = pd.to_numeric(obj, errors="coerce")
    n_obs = int(obj.notna().sum())
    # Numeric when every observed value parses as a number; otherwise categorical.
    if categorical is False or (n_obs > 0 and int(num.notna().sum()) == n_obs):
        if categorical is False and int(num.notna().sum()) < n_obs:
            bad = obj[obj.notna() & num.isna()].unique()[:5]
            raise ValueError(f"column {s.name!r} was declared numeric but holds non-numeric values {list(bad)}; "
                             "list them in missing_values= to read them as missing")
        return num.astype(float)
    return obj.astype("category")


def _ids(series: pd.Series, normalize: Callable | None) -> pd.Series:
    if pd.api.types.is_float_dtype(series) and series.dropna().map(float.is_integer).all():
        out = series.map(lambda v: str(int(v)) if pd.notna(v) else v)  # 12.0 -> "12"
    else:
        out = series.map(lambda v: str(v).replace("\ufeff", "").strip() if pd.notna(v) else v)
    if normalize is not None:
        out = out.map(lambda v: normalize(v) if pd.notna(v) else v)
    return out


def _read_table(table, on: str, what: str, normalize: Callable | None, notes: list) -> pd.DataFrame:
    from .io import check_unique_columns, read_table

    df = read_table(table) if not isinstance(table, pd.DataFrame) else table.copy()
    df.columns = [str(c).replace("\ufeff", "").strip() for c in df.columns]
    check_unique_columns(df.columns, table if not isinstance(table, pd.DataFrame) else f"the {what} table")
    if on not in df.columns:
        if df.index.name == on:
            df = df.reset_index()
        elif len(df.columns) and (df.columns[0] == "" or df.columns[0].startswith("Unnamed: 0")):
            # A table written with its index (pandas, R) has an unnamed first column: the ids.
            notes.append(f"{what} table has no {on!r} column; its unnamed first column is used as the id")
            df = df.rename(columns={df.columns[0]: on})
        else:
            raise ValueError(f"{what} table has no id column {on!r}; its columns are {list(df.columns)[:10]}... "
                             f"(give on={{'{what.split('[')[0]}': 'COLUMN'}})")
    ids = _ids(df[on], normalize)
    if ids.isna().any():
        raise ValueError(f"{what} table has {int(ids.isna().sum())} row(s) without an id in column {on!r}")
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise ValueError(f"{what} table has duplicate ids in column {on!r}: {list(dup[:10])}"
                         + (" (after normalize_ids)" if normalize is not None else ""))
    df[on] = ids
    return df.set_index(on)


def _as_list(x) -> list:
    """A list holds several tables; anything else (a table, a path, a ``(table, id_column)`` tuple) is one."""
    if x is None:
        return []
    return list(x) if isinstance(x, list) else [x]


def merge(
    radiomics,
    clinical=None,
    genetic=None,
    *,
    on: str | Mapping[str, str] = "id",
    how: str = "outer",
    categorical: Iterable[str] | None = None,
    numeric: Iterable[str] | None = None,
    missing_values: Iterable[str] | None = None,
    normalize_ids: Callable[[str], str] | None = None,
    radiomic_columns: str | Iterable[str] | None = None,
    coerce_radiomic: bool = False,
    verbose: bool = True,
) -> pd.DataFrame:
    """Join a radiomic table with clinical and genetic tables on the case id.

    Parameters
    ----------
    radiomics : DataFrame or path (CSV, TSV, Parquet)
        The feature table (e.g. from :func:`radiomix.extract`).
    clinical, genetic : DataFrame, path, or a list of them
        Tables keyed by the id (a column, or the index name). A list of tables per group joins them all (a
        CT-acquisition table beside the clinical one, say). A ``(table, id_column)`` tuple gives one table
        its own id column.
    on : str or mapping
        Case-id column; a mapping gives it per group, ``{"radiomic": "SubjectID", "clinical": "PatientID",
        "*": "id"}``. A table without that column whose first column is unnamed (written with its index)
        uses that column, with a note. The output index is named ``on`` (or ``"id"`` for a mapping).
    how : {"outer", "inner", "left"}
        ``"outer"`` (default) keeps every id, filling the missing table's columns with NaN; ``"inner"``
        keeps ids present in every table; ``"left"`` the radiomic table's ids. Ids present in one table and
        absent in another are always reported, with how many rows were dropped.
    categorical, numeric : iterable of str, optional
        Override the inferred type of clinical/genetic columns (default: numeric when every observed value
        parses as a number after "no data"-like strings become missing, otherwise categorical).
    missing_values : iterable of str, optional
        More strings that mean "not recorded" (case-insensitive), beside :data:`MISSING_STRINGS`.
    normalize_ids : callable, optional
        Applied to every id of every table before joining (e.g. strip a scan suffix).
    radiomic_columns : regex or list of str, optional
        Which columns of the radiomic table are features (default: the groups recorded by
        :func:`radiomix.extract`, else pyradiomics-style names, else every numeric column).
    coerce_radiomic : bool
        Read non-numeric cells of otherwise numeric radiomic columns (spreadsheet errors such as
        ``#NAME?``) as missing values. Default: keep them as text and say so (a later step then refuses
        the column with a clear message rather than a value silently disappearing).

    Returns
    -------
    DataFrame indexed by the id whose ``attrs["radiomix"]`` records ``groups`` (see
    :func:`column_groups`), ``types`` (numeric/categorical per clinical/genetic column), ``id_report`` (the
    ids each table lacked) and ``n_dropped``.
    """
    if how not in ("outer", "inner", "left"):
        raise ValueError(f"how must be 'outer', 'inner' or 'left', got {how!r}")
    categorical, numeric, missing = _type_overrides(categorical, numeric, missing_values)
    id_name, on_of = _id_columns(on)

    notes: list[str] = []
    tables, rad_meta = _read_tables(radiomics, clinical, genetic, on_of, id_name, normalize_ids, notes)
    groups, types = _type_tables(tables, categorical, numeric, missing, radiomic_columns, rad_meta,
                                 coerce_radiomic, notes)
    out, id_report, n_dropped = _join(tables, how, id_name)
    out.attrs["radiomix"] = {"groups": groups, "types": types, "id_report": id_report, "id": id_name,
                             "how": how, "n_dropped": n_dropped, "notes": notes}
    if verbose:
        _print_report(out, notes, id_report, how, n_dropped)
    return out


def _type_overrides(categorical, numeric, missing_values) -> tuple[set, set, frozenset]:
    """The ``categorical=`` and ``numeric=`` overrides as sets (refusing overlaps), and the missing strings."""
    categorical = set(categorical or [])
    numeric = set(numeric or [])
    both = categorical & numeric
    if both:
        raise ValueError(f"columns declared both categorical and numeric: {sorted(both)}")
    missing = frozenset(MISSING_STRINGS | {str(m).strip().lower() for m in (missing_values or [])})
    return categorical, numeric, missing


def _id_columns(on) -> tuple[str, dict[str, str]]:
    """The output index name and the id column of each group, from ``on=`` (a name or a mapping)."""
    if isinstance(on, Mapping):
        unknown_keys = set(on) - {*_GROUPS, "*"}
        if unknown_keys:
            raise ValueError(f"on= keys must be {list(_GROUPS)} or '*'; got {sorted(unknown_keys)}")
        id_name = on.get("*", "id")
        on_of = {g: on.get(g, on.get("*", "id")) for g in _GROUPS}
    else:
        id_name = on
        on_of = dict.fromkeys(_GROUPS, on)
    return id_name, on_of


def _read_tables(radiomics, clinical, genetic, on_of: dict, id_name: str, normalize_ids, notes: list):
    """Read every table indexed by its cleaned id: ``({name: (group, df)}, radiomic table's recorded attrs)``."""
    tables: dict[str, tuple[str, pd.DataFrame]] = {}
    rad_meta = radiomics.attrs.get("radiomix", {}) if isinstance(radiomics, pd.DataFrame) else {}
    for group, given in (("radiomic", [radiomics]), ("clinical", _as_list(clinical)), ("genetic", _as_list(genetic))):
        for i, t in enumerate(given):
            name = group if i == 0 else f"{group}[{i + 1}]"
            col = on_of[group]
            if isinstance(t, tuple):
                t, col = t
            df = _read_table(t, col, name, normalize_ids, notes)
            if group == "radiomic" and not rad_meta:
                rad_meta = df.attrs.get("radiomix", {})
            df.index.name = id_name
            tables[name] = (group, df)
    return tables, rad_meta


def _type_tables(tables: dict, categorical: set, numeric: set, missing: frozenset, radiomic_columns, rad_meta: dict,
                 coerce_radiomic: bool, notes: list) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Refuse clashing column names, type the columns in place and return ``(groups, types)``."""
    groups: dict[str, list[str]] = {g: [] for g in _GROUPS}
    types: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name, (group, df) in tables.items():
        for c in df.columns:
            if c in seen:
                raise ValueError(f"column {c!r} appears in both the {seen[c]} and the {name} table; rename one")
            seen[c] = name
        if group == "radiomic":
            numeric_like = _numeric_radiomic(df, missing, coerce_radiomic, notes)
            groups["radiomic"] = _radiomic_columns(df, radiomic_columns, rad_meta, notes, numeric_like)
        else:
            _type_columns(df, categorical, numeric, missing, types, notes)
            groups[group] += list(df.columns)
    unknown = (categorical | numeric) - set(seen)
    if unknown:
        raise ValueError(f"type overrides name columns that no table has: {sorted(unknown)}")
    return groups, types


def _numeric_radiomic(df: pd.DataFrame, missing: frozenset, coerce_radiomic: bool, notes: list) -> list:
    """The radiomic table's numeric columns, noting (or, with ``coerce_radiomic``, clearing) non-numeric cells."""
    numeric_like = []
    for c in df.columns:  # numbers stored as text beside '#NAME?'-like cells
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]):
            numeric_like.append(c)
            continue
        cleaned = _clean_column(df[c], None, missing)
        if isinstance(cleaned.dtype, pd.CategoricalDtype) or cleaned.notna().sum() == 0:
            continue
        numeric_like.append(c)
        bad = list(df[c][cleaned.isna() & df[c].notna()].unique()[:3])
        n = int((cleaned.isna() & df[c].notna()).sum())
        if coerce_radiomic:
            df[c] = cleaned
            notes.append(f"radiomic column {c!r}: {n} non-numeric cell(s) {bad} read as missing")
        else:
            notes.append(f"radiomic column {c!r} holds {n} non-numeric cell(s) {bad}; kept as text "
                         "(coerce_radiomic=True / --coerce-features reads them as missing)")
    return numeric_like


def _type_columns(df: pd.DataFrame, categorical: set, numeric: set, missing: frozenset, types: dict,
                  notes: list) -> None:
    """Type a clinical/genetic table's columns in place, recording each type and what kept one categorical."""
    for c in df.columns:
        before = df[c]
        df[c] = _clean_column(before, True if c in categorical else False if c in numeric else None, missing)
        is_cat = isinstance(df[c].dtype, pd.CategoricalDtype)
        types[c] = "categorical" if is_cat else "numeric"
        if is_cat and c not in categorical and not pd.api.types.is_numeric_dtype(before):
            num = pd.to_numeric(df[c].astype(object), errors="coerce")
            if num.notna().sum() >= 0.5 * df[c].notna().sum():  # mostly numbers: say what stopped it
                odd = [v for v in df[c].dropna().unique() if pd.isna(pd.to_numeric(v, errors="coerce"))][:3]
                notes.append(f"column {c!r} is categorical: non-numeric values {odd} (pass numeric=[{c!r}] "
                             f"and missing_values=[...] to read them as missing)")


def _join(tables: dict, how: str, id_name: str) -> tuple[pd.DataFrame, dict[str, list], int]:
    """Join the tables on their ids: ``(joined frame, ids each table lacks, number of ids dropped)``."""
    rad_ids = set(tables["radiomic"][1].index)
    for name, (group, df) in tables.items():
        if group != "radiomic" and len(df) and not (set(df.index) & rad_ids):
            ex_r = sorted(rad_ids)[:3]
            ex_o = sorted(df.index)[:3]
            raise ValueError(f"no id in common between the radiomic and the {name} table (e.g. {ex_r} vs {ex_o}); "
                             "check the id columns (on=) or normalize_ids=")
    all_ids = pd.Index(sorted(set().union(*[set(t.index) for _, t in tables.values()])))
    id_report = {name: sorted(set(all_ids) - set(t.index)) for name, (_, t) in tables.items()}
    if how == "inner":
        keep = all_ids
        for _, t in tables.values():
            keep = keep.intersection(t.index)
    elif how == "left":
        keep = tables["radiomic"][1].index
    else:
        keep = all_ids
    n_dropped = len(all_ids) - len(keep)
    out = pd.concat([t.reindex(keep) for _, t in tables.values()], axis=1)
    out.index.name = id_name
    return out, id_report, n_dropped


def _print_report(out: pd.DataFrame, notes: list, id_report: dict, how: str, n_dropped: int) -> None:
    """Print the notes, the ids each table lacks and what happened to them, on stderr."""
    from rich.console import Console

    console = Console(stderr=True, soft_wrap=True)
    for note in notes:
        console.print(f"[yellow]merge:[/] {note}")
    for name, miss in id_report.items():
        if miss:
            dropped = how == "inner" or (how == "left" and name == "radiomic")
            fate = "dropped" if dropped else "kept with missing values"
            console.print(f"[yellow]merge:[/] {len(miss)} id(s) have no row in the {name} table ({fate}): "
                          f"{', '.join(miss[:8])}{' ...' if len(miss) > 8 else ''}")
    console.print(f"merge: {len(out)} ids kept, {n_dropped} dropped (how={how!r})")


def _radiomic_columns(df: pd.DataFrame, spec, meta: dict, notes: list, numeric_like: list) -> list[str]:
    cols = list(df.columns)
    if spec is not None:
        if isinstance(spec, str):
            rx = compile_user_pattern(spec, "radiomic columns pattern")
            return [c for c in cols if rx.search(str(c))]
        spec = list(spec)
        missing = [c for c in spec if c not in cols]
        if missing:
            raise ValueError(f"radiomic_columns names columns the radiomic table lacks: {missing[:10]}")
        return spec
    recorded = (meta.get("groups") or {}).get("radiomic") if isinstance(meta, dict) else None
    if recorded:
        return [c for c in recorded if c in cols]
    named = [c for c in cols if RADIOMIC_PATTERN.search(str(c))]
    if named:
        return named
    numeric = [c for c in cols if c in set(numeric_like)]
    if numeric:
        notes.append(f"no pyradiomics-style column names in the radiomic table: its {len(numeric)} numeric "
                     "columns are taken as radiomic (radiomic_columns= to choose)")
    return numeric
