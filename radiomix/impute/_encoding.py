"""What radiomix's imputers share: column typing (numeric columns as floats, categorical columns as codes
0..k-1, NaN = missing), input checks, and the output in the caller's container."""


from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["Encoder", "encode_fit", "store_typing", "ncat", "column_label", "feature_names_out", "output", "check_imputer_input"]

# --------------------------------------------------------------------------------------------------
# column typing: numeric columns as floats, categorical columns as codes 0..k-1 (NaN = missing)
# --------------------------------------------------------------------------------------------------


def column_label(names, j):
    return names[j] if names is not None else f"x{j}"


def is_auto_categorical(s: pd.Series) -> bool:
    """category, boolean and text columns are categorical; a text column of mostly numbers is not (a
    stray "#NAME?" in a feature column should be reported, not turn the feature into 200 levels)."""
    if isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(s):
        return True
    if pd.api.types.is_numeric_dtype(s):
        return False
    levels = pd.unique(s.dropna())
    return not (len(levels) and np.mean([parses(v) for v in levels]) > 0.5)


def to_float(values, label) -> np.ndarray:
    """A numeric column as float64 with NaN; the error names the column and shows offending values."""
    s = pd.Series(values, copy=False)
    if pd.api.types.is_complex_dtype(s):
        raise ValueError(f"column {label!r}: complex data not supported")
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    obj = s.astype(object)
    missing = obj.map(lambda v: v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))).to_numpy(bool)
    out = np.full(len(obj), np.nan)
    vals = obj.to_numpy()
    for i in np.flatnonzero(~missing):
        v = vals[i]
        try:
            out[i] = float(v)
        except TypeError as e:
            raise TypeError(f"column {label!r}: {e}") from None
        except ValueError:
            bad = [x for x in vals[~missing] if not parses(x)][:5]
            raise ValueError(
                f"column {label!r} holds non-numeric values {bad}; mark it categorical (pandas 'category' "
                f"dtype or categorical_features) or clean it first"
            ) from None
    return out


def parses(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def sorted_levels(values) -> np.ndarray:
    levels = pd.unique(pd.Series(values, dtype=object).dropna())
    try:
        levels = sorted(levels)
    except TypeError:  # mixed types: keep first-seen order
        levels = list(levels)
    return np.asarray(pd.Index(levels, dtype=object), dtype=object)


class Encoder:
    """Learns which columns are categorical and their levels; turns a table into float codes."""

    def __init__(self, categorical_features):
        self.categorical_features = categorical_features

    def _selected(self, names, p):
        spec = self.categorical_features
        if isinstance(spec, str):  # "auto", the only string the estimators' parameter constraints accept
            return None
        mask = np.zeros(p, dtype=bool)
        if spec is None:
            return mask
        spec = list(spec) if not isinstance(spec, np.ndarray) else spec
        if isinstance(spec, np.ndarray) and spec.dtype == bool or (spec and all(isinstance(v, bool | np.bool_) for v in spec)):
            if len(spec) != p:
                raise ValueError(f"categorical_features has {len(spec)} booleans for {p} columns")
            return np.asarray(spec, dtype=bool)
        for v in spec:
            if isinstance(v, numbers.Integral):
                if not -p <= v < p:
                    raise ValueError(f"categorical_features index {v} is out of range for {p} columns")
                mask[v] = True
            else:
                if names is None or v not in names:
                    raise ValueError(f"categorical_features names column {v!r}, which X does not have")
                mask[names.index(v)] = True
        return mask

    def fit_encode(self, X):
        """Returns the float-coded table (a DataFrame when X is one) or X itself when nothing to do."""
        if isinstance(X, pd.DataFrame):
            names = [str(c) for c in X.columns]
            p = X.shape[1]
            sel = self._selected(names, p)
            self.categorical_ = np.array([is_auto_categorical(X.iloc[:, j]) for j in range(p)], dtype=bool) \
                if sel is None else sel
            self.ordered_ = np.zeros(p, dtype=bool)
            self.categories_ = [None] * p
            cols = {}
            for j in range(p):
                s = X.iloc[:, j]
                if self.categorical_[j]:
                    if isinstance(s.dtype, pd.CategoricalDtype):
                        self.categories_[j] = np.asarray(s.cat.categories)
                        self.ordered_[j] = bool(s.cat.ordered)
                    else:
                        self.categories_[j] = sorted_levels(s)
                    cols[X.columns[j]] = self._codes(s, j, names)
                else:
                    cols[X.columns[j]] = to_float(s, names[j])
            self.names_ = names
            return pd.DataFrame(cols, index=X.index, columns=X.columns)
        X = X if hasattr(X, "dtype") and hasattr(X, "ndim") else np.asarray(X)
        if getattr(X, "ndim", 0) != 2:
            self.categorical_ = None  # validate_data raises the proper error
            return X
        p = X.shape[1]
        sel = self._selected(None, p)
        self.categorical_ = np.zeros(p, dtype=bool) if sel is None else sel
        self.ordered_ = np.zeros(p, dtype=bool)
        self.categories_ = [None] * p
        self.names_ = None
        if X.dtype.kind == "c" or (not self.categorical_.any() and X.dtype.kind in "fiub"):
            return X  # validate_data converts numbers and rejects complex data
        out = np.empty(X.shape, dtype=np.float64)
        for j in range(p):
            if self.categorical_[j]:
                self.categories_[j] = sorted_levels(X[:, j])
                out[:, j] = self._codes(pd.Series(X[:, j], dtype=object), j, None)
            else:
                out[:, j] = to_float(X[:, j], column_label(None, j))
        return out

    def _codes(self, s, j, names):
        # Fitted categories are stored as arrays (skops can persist them; pandas objects it cannot).
        cats = pd.Index(self.categories_[j])
        if isinstance(s.dtype, pd.CategoricalDtype) and s.cat.categories.equals(cats):
            codes = s.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            return codes
        obj = s.astype(object)
        present = obj.notna().to_numpy()
        codes = np.full(len(obj), np.nan)
        idx = cats.get_indexer(pd.Index(obj[present].to_numpy(), dtype=object))
        if (idx < 0).any():
            unseen = list(pd.unique(obj[present].to_numpy()[idx < 0]))[:5]
            raise ValueError(
                f"column {column_label(names, j)!r} holds categories {unseen} that were not seen at fit "
                f"(known: {list(cats)[:10]})"
            )
        codes[present] = idx
        return codes

    def encode(self, X, estimator, n_features):
        """Encode new data with the fitted typing (columns by position, names checked by sklearn)."""
        if isinstance(X, pd.DataFrame):
            names = [str(c) for c in X.columns]
            if X.shape[1] != n_features:
                return X  # validate_data reports the mismatch
            cols = {}
            for j in range(n_features):
                s = X.iloc[:, j]
                label = self.names_[j] if self.names_ is not None else names[j]
                if self.categorical_[j]:
                    cols[X.columns[j]] = self._codes(s, j, self.names_ or names)
                else:
                    if isinstance(s.dtype, pd.CategoricalDtype):
                        s = s.astype(object)
                    cols[X.columns[j]] = to_float(s, label)
            return pd.DataFrame(cols, index=X.index, columns=X.columns)
        X = X if hasattr(X, "dtype") and hasattr(X, "ndim") else np.asarray(X)
        if getattr(X, "ndim", 0) != 2 or X.shape[1] != n_features:
            return X
        if not self.categorical_.any() and X.dtype.kind in "fiub":
            return X
        out = np.empty(X.shape, dtype=np.float64)
        for j in range(n_features):
            if self.categorical_[j]:
                out[:, j] = self._codes(pd.Series(X[:, j], dtype=object), j, self.names_)
            else:
                out[:, j] = to_float(X[:, j], column_label(self.names_, j))
        return out

    def decode_frame(self, Xf, columns, index):
        """Float codes back to a DataFrame: categorical columns as pandas categoricals."""
        cols = {}
        for j, c in enumerate(columns):
            if j < len(self.categorical_) and self.categorical_[j]:
                codes = Xf[:, j]
                codes = np.where(np.isnan(codes), -1, codes).astype(np.int64)
                cols[c] = pd.Categorical.from_codes(codes, categories=self.categories_[j], ordered=self.ordered_[j])
            else:
                cols[c] = Xf[:, j]
        return pd.DataFrame(cols, index=index)

    def decode_array(self, Xf):
        if not self.categorical_.any():
            return Xf
        out = Xf.astype(object)
        for j in np.flatnonzero(self.categorical_):
            codes = Xf[:, j]
            vals = np.asarray(self.categories_[j], dtype=object)
            ok = ~np.isnan(codes)
            col = np.full(codes.shape, np.nan, dtype=object)
            col[ok] = vals[codes[ok].astype(np.int64)]
            out[:, j] = col
        return out


def encode_fit(est, X):
    enc = Encoder(est.categorical_features)
    Xe = enc.fit_encode(X)
    return enc, Xe


def store_typing(est, enc, p):
    cat = enc.categorical_ if enc.categorical_ is not None else np.zeros(p, dtype=bool)
    est.categorical_ = np.asarray(cat, dtype=bool)
    est.categories_ = enc.categories_ if enc.categorical_ is not None else [None] * p
    est._encoder = enc


def ncat(est):
    """Levels per predictor for the tree: ordered categoricals split as ordinal codes, as in rpart."""
    return np.array([len(c) if (cat and not o) else 0 for c, cat, o in
                     zip(est.categories_, est.categorical_, est._encoder.ordered_)], dtype=np.int64)


# --------------------------------------------------------------------------------------------------
# imputers
# --------------------------------------------------------------------------------------------------


def feature_names_out(est, input_features):
    check_is_fitted(est, "n_features_in_")
    names = getattr(est, "feature_names_in_", None)
    if input_features is None:
        input_features = names if names is not None else np.array([f"x{i}" for i in range(est.n_features_in_)],
                                                                   dtype=object)
    else:
        input_features = np.asarray(input_features, dtype=object)
        if len(input_features) != est.n_features_in_:
            raise ValueError(f"input_features should have length equal to number of features "
                             f"({est.n_features_in_}), got {len(input_features)}")
        if names is not None and not np.array_equal(input_features, names):
            raise ValueError("input_features is not equal to feature_names_in_")
    out = list(np.asarray(input_features, dtype=object))
    if getattr(est, "indicator_", None) is not None:
        out += [f"missingindicator_{input_features[j]}" for j in est.indicator_.features_]
    return np.asarray(out, dtype=object)


def output(est, Xf, Xe, index):
    """Imputed float codes to the caller's container (pandas: categoricals keep their categories).

    ``Xe`` is the encoded input (NaN where missing) for the indicator columns.
    """
    enc = est._encoder
    ind = est.indicator_.transform(Xe).astype(np.float64) if est.indicator_ is not None else None
    if _get_output_config("transform", est)["dense"] == "pandas":
        names = list(feature_names_out(est, None))
        df = enc.decode_frame(Xf, names[: Xf.shape[1]], index)
        if ind is not None:
            extra = pd.DataFrame(ind, columns=names[Xf.shape[1]:], index=index)
            df = pd.concat([df, extra], axis=1)
        return df
    out = enc.decode_array(Xf)
    if ind is not None:
        out = np.hstack([out, ind.astype(out.dtype)])
    return out


def check_imputer_input(est, X, reset):
    if reset:
        enc, Xe = encode_fit(est, X)
        Xe = validate_data(est, Xe, ensure_all_finite="allow-nan", dtype=np.float64, copy=True)
        store_typing(est, enc, Xe.shape[1])
        missing_all = np.isnan(Xe).all(axis=0) if Xe.shape[0] else np.zeros(Xe.shape[1], bool)
        if missing_all.any():
            j = int(np.flatnonzero(missing_all)[0])
            raise ValueError(
                f"column {column_label(est._encoder.names_, j)!r} has no observed value in the training data; "
                f"drop it (or fill it) before imputing"
            )
    else:
        check_is_fitted(est, "n_features_in_")
        Xe = est._encoder.encode(X, est, est.n_features_in_)
        Xe = validate_data(est, Xe, reset=False, ensure_all_finite="allow-nan", dtype=np.float64, copy=True)
    index = X.index if isinstance(X, pd.DataFrame) else None
    return np.asarray(Xe, dtype=np.float64), index
