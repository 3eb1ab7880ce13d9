"""What ComBat and the site-effect diagnostics share: the warning category and column handling."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ComBatWarning", "as_list", "sorted_levels", "is_number_dtype", "is_categorical", "numeric_matrix", "same_labels"]


class ComBatWarning(UserWarning):
    """Harmonization went ahead but with a documented fallback (mean-only, pass-through, few rows...)."""


def as_list(v, what):
    if v is None:
        return []
    if isinstance(v, (str, int, np.integer)):
        return [v]
    try:
        return list(v)
    except TypeError as err:
        raise TypeError(f"{what} must be a column name or a list of column names, got {v!r}") from err


def sorted_levels(values) -> list:
    levels = list(pd.unique(pd.Series(values).dropna()))
    try:
        return sorted(levels)
    except TypeError:
        return sorted(levels, key=str)


def is_number_dtype(t) -> bool:
    # dtype.kind covers NumPy, nullable and Arrow-backed dtypes alike, and is much cheaper than the
    # pandas.api.types predicates over thousands of columns. Booleans ('b') are not numbers here.
    return getattr(t, "kind", "O") in "iuf"


def is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


def numeric_matrix(X: pd.DataFrame, cols: list, what: str) -> np.ndarray:
    sub = X[cols]
    dtypes = sub.dtypes
    numeric = np.array([is_number_dtype(t) for t in dtypes], dtype=bool)
    if numeric.all():
        out = sub.to_numpy(dtype=float, na_value=np.nan)
    else:
        out = np.empty((len(X), len(cols)))
        out[:, numeric] = sub.iloc[:, np.flatnonzero(numeric)].to_numpy(dtype=float, na_value=np.nan)
    for j in np.flatnonzero(~numeric):
        c = cols[j]
        s = X[c]
        if is_categorical(s):
            try:
                s = pd.to_numeric(s.astype(object), errors="raise")
            except (ValueError, TypeError) as err:
                raise ValueError(f"{what} column {c!r} is not numeric (dtype {X[c].dtype})") from err
        out[:, j] = s.to_numpy(dtype=float, na_value=np.nan)
    bad = np.isinf(out)
    if bad.any():
        c = cols[int(np.flatnonzero(bad.any(axis=0))[0])]
        raise ValueError(f"{what} column {c!r} holds infinite values; only NaN is accepted as missing")
    return out


def same_labels(a, b) -> bool:
    """True when covariate ``a`` is the label ``b`` itself or a one-to-one relabelling of a discrete label."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if b.ndim != 1 or len(a) != len(b):
        return False
    a, b = pd.Series(a), pd.Series(b)
    if a.equals(b) or (a.astype(str) == b.astype(str)).all():
        return True
    nb = b.nunique(dropna=False)
    if nb > min(20, len(b) // 2):
        return False  # a continuous label: only exact equality counts
    ca, _ = pd.factorize(a, use_na_sentinel=False)
    cb, _ = pd.factorize(b, use_na_sentinel=False)
    return bool(np.array_equal(ca, cb))
