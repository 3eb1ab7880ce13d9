"""Imputation for mixed radiomic/clinical tables: rpart-style surrogate-split trees and kNN.

* :class:`SurrogateTreeRegressor` / :class:`SurrogateTreeClassifier` -- CART trees that grow and predict
  like R's ``rpart`` (anova / gini splits, ``cp`` pruning, surrogate splits for missing predictors), as
  scikit-learn estimators that accept NaN in ``X``.
* :class:`SurrogateTreeImputer` -- each incomplete column is predicted by such a tree from the other
  columns; missing predictors are routed by surrogates, then the imputation is refined round by round
  (missForest-style) until the imputed values stop changing.
* :class:`KNNImputer` -- scikit-learn's kNN imputation for mixed tables: numeric columns are standardised
  for the distance, categorical columns count a mismatch as a unit squared distance and are imputed by the
  (weighted) mode of the neighbours.

Categorical columns are pandas ``category`` columns (what :func:`radiomix.tables.merge` produces), text or
boolean columns, or the columns named in ``categorical_features``. A text column whose values are mostly
numbers is taken as a numeric column with stray text, and reported (the error names the column). With ``set_output(transform="pandas")``
the imputers return a DataFrame whose categorical columns keep their dtype and categories.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.impute import MissingIndicator
from sklearn.utils import check_random_state
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _cart

__all__ = ["SurrogateTreeRegressor", "SurrogateTreeClassifier", "SurrogateTreeImputer", "KNNImputer",
           "BlockMissingWarning"]


# --------------------------------------------------------------------------------------------------
# column typing: numeric columns as floats, categorical columns as codes 0..k-1 (NaN = missing)
# --------------------------------------------------------------------------------------------------


def _column_label(names, j):
    return names[j] if names is not None else f"x{j}"


def _is_auto_categorical(s: pd.Series) -> bool:
    """category, boolean and text columns are categorical; a text column of mostly numbers is not (a
    stray "#NAME?" in a feature column should be reported, not turn the feature into 200 levels)."""
    if isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(s):
        return True
    if pd.api.types.is_numeric_dtype(s):
        return False
    levels = pd.unique(s.dropna())
    return not (len(levels) and np.mean([_parses(v) for v in levels]) > 0.5)


def _to_float(values, label) -> np.ndarray:
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
            bad = [x for x in vals[~missing] if not _parses(x)][:5]
            raise ValueError(
                f"column {label!r} holds non-numeric values {bad}; mark it categorical (pandas 'category' "
                f"dtype or categorical_features) or clean it first"
            ) from None
    return out


def _parses(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _sorted_levels(values) -> np.ndarray:
    levels = pd.unique(pd.Series(values, dtype=object).dropna())
    try:
        levels = sorted(levels)
    except TypeError:  # mixed types: keep first-seen order
        levels = list(levels)
    return np.asarray(pd.Index(levels, dtype=object), dtype=object)


class _Encoder:
    """Learns which columns are categorical and their levels; turns a table into float codes."""

    def __init__(self, categorical_features):
        self.categorical_features = categorical_features

    def _selected(self, names, p):
        spec = self.categorical_features
        if isinstance(spec, str):
            if spec != "auto":
                raise ValueError(f"categorical_features must be 'auto', None or a list, got {spec!r}")
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
            self.categorical_ = np.array([_is_auto_categorical(X.iloc[:, j]) for j in range(p)], dtype=bool) \
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
                        self.categories_[j] = _sorted_levels(s)
                    cols[X.columns[j]] = self._codes(s, j, names)
                else:
                    cols[X.columns[j]] = _to_float(s, names[j])
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
                self.categories_[j] = _sorted_levels(X[:, j])
                out[:, j] = self._codes(pd.Series(X[:, j], dtype=object), j, None)
            else:
                out[:, j] = _to_float(X[:, j], _column_label(None, j))
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
                f"column {_column_label(names, j)!r} holds categories {unseen} that were not seen at fit "
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
                    cols[X.columns[j]] = _to_float(s, label)
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
                out[:, j] = _to_float(X[:, j], _column_label(self.names_, j))
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


def _encode_fit(est, X):
    enc = _Encoder(est.categorical_features)
    Xe = enc.fit_encode(X)
    return enc, Xe


def _store_typing(est, enc, p):
    cat = enc.categorical_ if enc.categorical_ is not None else np.zeros(p, dtype=bool)
    est.categorical_ = np.asarray(cat, dtype=bool)
    est.categories_ = enc.categories_ if enc.categorical_ is not None else [None] * p
    est._encoder = enc


def _ncat(est):
    """Levels per predictor for the tree: ordered categoricals split as ordinal codes, as in rpart."""
    return np.array([len(c) if (cat and not o) else 0 for c, cat, o in
                     zip(est.categories_, est.categorical_, est._encoder.ordered_)], dtype=np.int64)


# --------------------------------------------------------------------------------------------------
# the tree estimators
# --------------------------------------------------------------------------------------------------


def _check_tree_params(est):
    def _int(name, lo, allow_none=False):
        v = getattr(est, name)
        if v is None and allow_none:
            return
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}{' or None' if allow_none else ''}, got {v!r}")

    _int("max_depth", 1, allow_none=True)
    _int("min_samples_split", 1)
    _int("min_samples_leaf", 1, allow_none=True)
    _int("max_surrogates", 0)
    if est.use_surrogates not in (0, 1, 2):
        raise ValueError(f"use_surrogates must be 0, 1 or 2 (rpart's usesurrogate), got {est.use_surrogates!r}")
    if getattr(est, "surrogate_style", 0) not in (0, 1):
        raise ValueError(f"surrogate_style must be 0 or 1 (rpart's surrogatestyle), got {est.surrogate_style!r}")
    if not isinstance(est.cp, numbers.Real) or isinstance(est.cp, bool) or not est.cp >= 0:
        raise ValueError(f"cp must be a number >= 0, got {est.cp!r}")


def _tree_kwargs(est):
    leaf = est.min_samples_leaf
    if leaf is None:  # rpart.control: minbucket = round(minsplit / 3)
        leaf = max(1, int(round(est.min_samples_split / 3)))
    depth = _cart.MAX_DEPTH if est.max_depth is None else min(int(est.max_depth), _cart.MAX_DEPTH)
    return dict(min_split=int(est.min_samples_split), min_bucket=int(leaf), cp=float(est.cp), max_depth=depth,
                max_surrogates=int(est.max_surrogates), use_surrogates=int(est.use_surrogates),
                surrogate_style=int(getattr(est, "surrogate_style", 0)))


class _SurrogateTreeBase(BaseEstimator):
    def __init__(self, *, max_depth=None, min_samples_split=20, min_samples_leaf=None, cp=0.01,
                 max_surrogates=5, use_surrogates=2, surrogate_style=0, categorical_features="auto"):
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.cp = cp
        self.max_surrogates = max_surrogates
        self.use_surrogates = use_surrogates
        self.surrogate_style = surrogate_style
        self.categorical_features = categorical_features

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        return tags

    def _fit_tree(self, X, y, n_classes_from_y):
        _check_tree_params(self)
        enc, Xe = _encode_fit(self, X)
        Xe, y = validate_data(self, Xe, y, ensure_all_finite="allow-nan", dtype=np.float64, y_numeric=not n_classes_from_y)
        _store_typing(self, enc, Xe.shape[1])
        if n_classes_from_y:
            check_classification_targets(y)
            self.classes_, yc = np.unique(y, return_inverse=True)
            self.n_classes_ = len(self.classes_)
            yv = yc.astype(np.float64)
            k = self.n_classes_
        else:
            yv = np.asarray(y, dtype=np.float64)
            k = 0
        Xt = np.ascontiguousarray(Xe.T)
        self.tree_ = _cart.grow_tree(Xt, yv, _ncat(self), n_classes=k, **_tree_kwargs(self))
        return self

    def _nodes(self, X):
        check_is_fitted(self, "tree_")
        Xe = self._encoder.encode(X, self, self.n_features_in_)
        Xe = validate_data(self, Xe, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        return self.tree_.apply(np.ascontiguousarray(Xe.T))

    def apply(self, X):
        """rpart node number (root 1, children ``2k``/``2k+1``) that each row ends in.

        A row whose primary and surrogate predictors are all missing where the children are equally
        large stops in an internal node, as in ``predict.rpart``.
        """
        return self.tree_.node_id[self._nodes(X)]

    def get_depth(self):
        """Depth of the fitted tree (root only: 0)."""
        check_is_fitted(self, "tree_")
        return self.tree_.max_depth

    def get_n_leaves(self):
        check_is_fitted(self, "tree_")
        return int((self.tree_.children_left < 0).sum())

    def _feature_label(self, f):
        names = getattr(self, "feature_names_in_", None)
        return str(names[f]) if names is not None else f"x{f}"

    def rpart_frame(self):
        """The fitted tree as rpart's ``frame``: one row per node, in rpart's (preorder) order.

        Columns: ``node``, ``var`` (``"<leaf>"`` for leaves), ``n``, ``dev`` (risk), ``yval`` (mean, or
        the predicted class), ``complexity`` (scaled by the root risk, as rpart reports it),
        ``nsurrogate``.
        """
        check_is_fitted(self, "tree_")
        t = self.tree_
        yval = t.value if t.n_classes == 0 else self.classes_[t.value.astype(np.int64)]
        return pd.DataFrame({
            "node": t.node_id,
            "var": [self._feature_label(f) if f >= 0 else "<leaf>" for f in t.feature],
            "n": t.n_node_samples,
            "dev": t.risk,
            "yval": yval,
            "complexity": t.complexity / t.risk[0] if t.risk[0] > 0 else t.complexity,
            "nsurrogate": [len(s) for s in t.surrogates],
        })

    def rpart_splits(self):
        """Primary and surrogate splits as rpart's ``splits`` matrix (competitors are not kept).

        Columns: ``node``, ``kind`` (primary/surrogate), ``var``, ``count`` (rows observed on the primary;
        rows placed by the surrogate), ``ncat`` (continuous: -1 when ``x < index`` goes left, +1 when it
        goes right; categorical: number of levels), ``improve`` (primary: improvement; surrogate:
        agreement), ``index`` (cut point), ``adj`` (adjusted agreement), ``levels`` (categorical: side of
        each level, -1 left, +1 right, 0 absent from the node).
        """
        check_is_fitted(self, "tree_")
        t = self.tree_
        rows = []
        for i in range(t.node_count):
            f = t.feature[i]
            if f < 0:
                continue
            nc = t.ncat[f]
            rows.append(dict(node=t.node_id[i], kind="primary", var=self._feature_label(f), count=t.count[i],
                             ncat=nc if nc else t.direction[i], improve=t.improve[i],
                             index=np.nan if nc else t.threshold[i], adj=0.0,
                             levels=t.cmap[i, :nc].copy() if nc else None))
            for s in t.surrogates[i]:
                g = s["feature"]
                nc = t.ncat[g]
                rows.append(dict(node=t.node_id[i], kind="surrogate", var=self._feature_label(g), count=s["count"],
                                 ncat=nc if nc else s["direction"], improve=s["agreement"],
                                 index=np.nan if nc else s["threshold"], adj=s["adj"],
                                 levels=np.asarray(s["cmap"][:nc]) if nc else None))
        return pd.DataFrame(rows, columns=["node", "kind", "var", "count", "ncat", "improve", "index", "adj", "levels"])


class SurrogateTreeRegressor(RegressorMixin, _SurrogateTreeBase):
    """Regression tree with rpart's anova splits and surrogate splits; accepts NaN in ``X``.

    Grows the tree R's ``rpart(method="anova")`` grows on the same data and settings: same split variables,
    cut points, surrogates (ranked by agreement, kept only when they beat the majority rule) and
    predictions. Rows missing a split's predictor are sent down the first surrogate they have; with
    ``use_surrogates=2`` rows missing all of them follow the majority.

    Parameters
    ----------
    max_depth : int or None, default=None
        rpart ``maxdepth`` (None: rpart's limit of 30).
    min_samples_split : int, default=20
        rpart ``minsplit``: fewest rows a node needs to be split.
    min_samples_leaf : int or None, default=None
        rpart ``minbucket``: fewest rows with an observed split predictor on each side of a split
        (None: ``round(min_samples_split / 3)``, rpart's default).
    cp : float, default=0.01
        rpart's complexity parameter: a split must lower the risk by ``cp`` times the root risk.
    max_surrogates : int, default=5
        rpart ``maxsurrogate``.
    use_surrogates : {0, 1, 2}, default=2
        rpart ``usesurrogate``: 0 rows missing the primary stay in the node, 1 use surrogates, 2 also send
        rows missing every surrogate to the majority side.
    surrogate_style : {0, 1}, default=0
        rpart ``surrogatestyle``: 0 rates surrogates by agreements over all rows, 1 over rows where the
        surrogate is observed.
    categorical_features : "auto", None, or list of str, int or bool, default="auto"
        Unordered categorical predictors. "auto": pandas ``category``, text and boolean columns.

    Attributes
    ----------
    tree_ : radiomix._cart.Tree
        The fitted tree (flat arrays in rpart's node order).
    categorical_ : ndarray of bool
    categories_ : list
        Levels of each categorical predictor (None for numeric ones).
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from radiomix.impute import SurrogateTreeRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = 2 * X[:, 0] + rng.normal(scale=0.1, size=200)
    >>> X[:20, 0] = np.nan                       # missing predictor values are fine
    >>> reg = SurrogateTreeRegressor(max_depth=3).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    def fit(self, X, y):
        """Grow the tree. ``X`` may hold NaN; ``y`` may not."""
        return self._fit_tree(X, y, n_classes_from_y=False)

    def predict(self, X):
        """Mean response of the node each row ends in."""
        nodes = self._nodes(X)
        return self.tree_.value[nodes]


class SurrogateTreeClassifier(ClassifierMixin, _SurrogateTreeBase):
    """Classification tree with rpart's gini splits and surrogate splits; accepts NaN in ``X``.

    Grows the tree R's ``rpart(method="class")`` grows (default priors, unit losses). See
    :class:`SurrogateTreeRegressor` for the parameters.

    Attributes
    ----------
    classes_ : ndarray
    n_classes_ : int
    tree_, categorical_, categories_, n_features_in_, feature_names_in_
        As in :class:`SurrogateTreeRegressor`.

    Examples
    --------
    >>> import numpy as np
    >>> from radiomix.impute import SurrogateTreeClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    >>> X[::7, 0] = np.nan
    >>> clf = SurrogateTreeClassifier().fit(X, y)
    >>> clf.classes_.tolist(), clf.predict([[1.0, 1.0, 0.0], [np.nan, -1.0, 0.0]]).tolist()
    (['no', 'yes'], ['yes', 'no'])
    """

    def fit(self, X, y):
        """Grow the tree. ``X`` may hold NaN; ``y`` may not."""
        return self._fit_tree(X, y, n_classes_from_y=True)

    def predict_proba(self, X):
        """Class shares of the node each row ends in."""
        nodes = self._nodes(X)
        counts = self.tree_.class_counts[nodes]
        return counts / counts.sum(axis=1, keepdims=True)

    def predict(self, X):
        """The node's class (the most frequent; the first class on ties, as rpart)."""
        nodes = self._nodes(X)
        return self.classes_[self.tree_.value[nodes].astype(np.int64)]


# --------------------------------------------------------------------------------------------------
# imputers
# --------------------------------------------------------------------------------------------------


def _feature_names_out(est, input_features):
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


def _output(est, Xf, Xe, index):
    """Imputed float codes to the caller's container (pandas: categoricals keep their categories).

    ``Xe`` is the encoded input (NaN where missing) for the indicator columns.
    """
    enc = est._encoder
    ind = est.indicator_.transform(Xe).astype(np.float64) if est.indicator_ is not None else None
    if _get_output_config("transform", est)["dense"] == "pandas":
        names = list(_feature_names_out(est, None))
        df = enc.decode_frame(Xf, names[: Xf.shape[1]], index)
        if ind is not None:
            extra = pd.DataFrame(ind, columns=names[Xf.shape[1]:], index=index)
            df = pd.concat([df, extra], axis=1)
        return df
    out = enc.decode_array(Xf)
    if ind is not None:
        out = np.hstack([out, ind.astype(out.dtype)])
    return out


def _check_imputer_input(est, X, reset):
    if reset:
        enc, Xe = _encode_fit(est, X)
        Xe = validate_data(est, Xe, ensure_all_finite="allow-nan", dtype=np.float64, copy=True)
        _store_typing(est, enc, Xe.shape[1])
        missing_all = np.isnan(Xe).all(axis=0) if Xe.shape[0] else np.zeros(Xe.shape[1], bool)
        if missing_all.any():
            j = int(np.flatnonzero(missing_all)[0])
            raise ValueError(
                f"column {_column_label(est._encoder.names_, j)!r} has no observed value in the training data; "
                f"drop it (or fill it) before imputing"
            )
    else:
        check_is_fitted(est, "n_features_in_")
        Xe = est._encoder.encode(X, est, est.n_features_in_)
        Xe = validate_data(est, Xe, reset=False, ensure_all_finite="allow-nan", dtype=np.float64, copy=True)
    index = X.index if isinstance(X, pd.DataFrame) else None
    return np.asarray(Xe, dtype=np.float64), index


class BlockMissingWarning(UserWarning):
    """Rows that miss a whole block of columns were imputed at the block level (training mean/mode)."""


class SurrogateTreeImputer(TransformerMixin, BaseEstimator):
    """Iterative imputation by rpart-style surrogate-split trees, for numeric and categorical columns.

    Round 1: every column with missing values gets a tree (regression for numeric, classification for
    categorical columns) grown on the rows where it is observed, from all other columns *as they are*:
    missing predictors are routed by surrogate splits, so no preliminary fill is needed (this round alone
    is what ``rpart`` / ``mice(method="cart")``-style single imputation does). Later rounds re-grow each
    tree on the current completed table (in ``imputation_order``, each column using the others' latest
    values, as missForest does) until the imputed values change by at most ``tol`` or start to change more
    than in the round before (then the previous round is kept), or ``max_iter`` rounds.

    :meth:`transform` replays the fitted rounds on new rows with the stored trees, so
    ``fit_transform(X)`` equals ``fit(X).transform(X)``. Columns complete at fit have no tree; if they are
    missing at transform they get the training mean (numeric) or mode (categorical) after round 1.

    Parameters
    ----------
    max_iter : int, default=5
        Most rounds (1 = surrogate-split imputation only).
    tol : float, default=1e-3
        Stop when the imputed values change by at most this between rounds: root mean square change of the
        numeric imputations in units of each column's standard deviation, and the share of categorical
        imputations that changed.
    imputation_order : {"ascending", "descending", "roman", "arabic", "random"}, default="ascending"
        Column order within a round (fewest missing values first for "ascending").
    categorical_features : "auto", None, or list of str, int or bool, default="auto"
        Categorical columns. "auto": pandas ``category``, text and boolean columns.
    max_depth, min_samples_split, min_samples_leaf, cp, max_surrogates, use_surrogates
        Tree settings (see :class:`SurrogateTreeRegressor`). The defaults (``minbucket=5``,
        ``cp=1e-4``) are those of ``mice.impute.cart``: deeper trees than rpart's for prediction.
    add_indicator : bool, default=False
        Append a 0/1 missingness indicator for each column that had missing values at fit.
    blocks : list of lists of column names (or positions), optional
        Column blocks (e.g. the radiomic features of one extraction). A row missing *every* column of a block
        (an extraction that failed, a modality never acquired) is block-missing there: those cells get the
        column's training mean (numeric) or mode (categorical) and never a tree, and the trees of the block's
        columns are grown and used only for their other, sporadically missing cells. So a handful of patients
        without the radiomic block costs no tree per radiomic column (issue #17). ``block_missing_`` counts the
        rows per block at fit; a warning says so once per fit.
    max_predictors : int, optional
        Grow each column's tree on its ``max_predictors`` most correlated columns only (absolute Pearson
        correlation on the mean-filled training table, as ``mice``'s ``quickpred`` selects predictors), not on
        all of them: on a 1,000-column radiomic table each tree then searches 30 predictors, not 999. None: all.
    random_state : int, RandomState or None, default=None
        Only used by ``imputation_order="random"``.
    verbose : int, default=0

    Attributes
    ----------
    imputation_sequence_ : list of (round, column, radiomix._cart.Tree)
        The trees in the order they impute.
    n_iter_ : int
        Rounds kept (1 when nothing was missing at fit).
    changes_ : list of float
        Change between consecutive rounds (the stopping criterion).
    statistics_ : ndarray
        Training mean (numeric) or mode code (categorical) of each column.
    categorical_, categories_, n_features_in_, feature_names_in_
    indicator_ : sklearn.impute.MissingIndicator or None

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiomix.impute import SurrogateTreeImputer
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"a": rng.normal(size=100), "grade": pd.Categorical(rng.choice(["G1", "G2"], 100))})
    >>> df["b"] = 2 * df["a"] + rng.normal(scale=0.1, size=100)
    >>> df.loc[::9, "b"] = np.nan; df.loc[::11, "grade"] = np.nan
    >>> out = SurrogateTreeImputer().set_output(transform="pandas").fit_transform(df)
    >>> int(out.isna().sum().sum()), out["grade"].dtype.name
    (0, 'category')
    """

    def __init__(self, *, max_iter=5, tol=1e-3, imputation_order="ascending", categorical_features="auto",
                 max_depth=None, min_samples_split=20, min_samples_leaf=5, cp=1e-4, max_surrogates=5,
                 use_surrogates=2, add_indicator=False, blocks=None, max_predictors=None, random_state=None,
                 verbose=0):
        self.blocks = blocks
        self.max_predictors = max_predictors
        self.max_iter = max_iter
        self.tol = tol
        self.imputation_order = imputation_order
        self.categorical_features = categorical_features
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.cp = cp
        self.max_surrogates = max_surrogates
        self.use_surrogates = use_surrogates
        self.add_indicator = add_indicator
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        return tags

    def _check_params(self):
        _check_tree_params(self)
        if not isinstance(self.max_iter, numbers.Integral) or isinstance(self.max_iter, bool) or self.max_iter < 1:
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        if not isinstance(self.tol, numbers.Real) or not self.tol >= 0:
            raise ValueError(f"tol must be a number >= 0, got {self.tol!r}")
        if self.imputation_order not in ("ascending", "descending", "roman", "arabic", "random"):
            raise ValueError("imputation_order must be 'ascending', 'descending', 'roman', 'arabic' or 'random', "
                             f"got {self.imputation_order!r}")

    def fit(self, X, y=None):
        """Fit the trees (``y`` is ignored)."""
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit and return the imputed training table (equal to ``fit(X).transform(X)``)."""
        Xf, Xe, index = self._fit(X)
        return _output(self, Xf, Xe, index)

    def _order(self, miss_counts, cols):
        if self.imputation_order == "roman":
            return list(cols)
        if self.imputation_order == "arabic":
            return list(cols)[::-1]
        if self.imputation_order == "random":
            cols = np.array(cols)
            return list(check_random_state(self.random_state).permutation(cols))
        order = np.argsort(miss_counts[cols], kind="stable")
        if self.imputation_order == "descending":
            order = np.argsort(-miss_counts[cols], kind="stable")
        return [cols[i] for i in order]

    def _block_index(self) -> list:
        """The blocks as column positions (names not among the input columns are ignored; blocks of fewer
        than two columns are ordinary columns)."""
        if not self.blocks:
            return []
        names = [str(c) for c in getattr(self, "feature_names_in_", [])]
        pos = {c: i for i, c in enumerate(names)}
        out = []
        for block in self.blocks:
            idx = sorted({int(c) if isinstance(c, (int, np.integer)) else pos[str(c)] for c in block
                          if isinstance(c, (int, np.integer)) or str(c) in pos})
            if len(idx) >= 2:
                out.append(np.asarray(idx))
        return out

    def _block_cells(self, mask: np.ndarray) -> np.ndarray:
        """Cells in rows that miss a whole block (False elsewhere)."""
        cells = np.zeros_like(mask)
        for idx in self._blocks:
            rows = mask[:, idx].all(axis=1)
            cells[np.ix_(rows, idx)] = True
        return cells

    def _fit(self, X):
        self._check_params()
        Xe, index = _check_imputer_input(self, X, reset=True)
        n, p = Xe.shape
        self._blocks = self._block_index()
        block_cells = self._block_cells(np.isnan(Xe))
        self.block_missing_ = [int(block_cells[:, idx].all(axis=1).sum()) for idx in self._blocks]
        if any(self.block_missing_):
            labels = [str(v) for v in (index if index is not None else range(n))]
            rows = np.flatnonzero(block_cells.any(axis=1))
            warnings.warn(f"SurrogateTreeImputer: {len(rows)} row(s) miss a whole block of columns "
                          f"({[labels[i] for i in rows[:10]]}{' ...' if len(rows) > 10 else ''}; rows per block "
                          f"{self.block_missing_}): their cells get the training mean/mode, not trees",
                          BlockMissingWarning, stacklevel=4)
        observed = ~np.isnan(Xe)           # the rows each column's tree learns from
        mask = ~observed & ~block_cells      # the cells trees impute
        self.indicator_ = MissingIndicator(error_on_new=False).fit(Xe) if self.add_indicator else None
        self._ncat = _ncat(self)
        self.statistics_ = self._statistics(Xe, np.isnan(Xe))
        Xe_in = Xe.copy()  # the indicators describe the input as given
        Xe[block_cells] = self.statistics_[np.nonzero(block_cells)[1]]
        self.predictors_ = self._choose_predictors(Xe, mask)
        self._scale = np.array([np.nanstd(Xe[:, j]) if not self.categorical_[j] else 1.0 for j in range(p)])
        self._scale[~(self._scale > 0)] = 1.0
        kw = _tree_kwargs(self)
        cols = [j for j in range(p) if mask[:, j].any()]
        order = self._order(mask.sum(axis=0), cols)
        self.imputation_sequence_ = []
        self.changes_ = []
        Xt = np.ascontiguousarray(Xe.T)
        if not cols:
            self.n_iter_ = 1  # one (empty) round
            return Xe, Xe_in, index
        # Round 1: trees on the incomplete table; surrogates route the missing predictors.
        S = _cart.presort(Xt)
        new = Xt.copy()
        for j in order:
            tree = self._grow(Xt, S, j, observed[:, j], kw)
            self.imputation_sequence_.append((0, j, tree))
            new[j, mask[:, j]] = self._predict(tree, Xt, mask[:, j], j)
        Xt = new
        rounds = [len(self.imputation_sequence_)]
        prev_change = np.inf
        previous = Xt.copy()
        for r in range(1, self.max_iter):
            S = _cart.presort(Xt)
            for j in order:
                tree = self._grow(Xt, S, j, observed[:, j], kw, surrogates=False)
                self.imputation_sequence_.append((r, j, tree))
                Xt[j, mask[:, j]] = self._predict(tree, Xt, mask[:, j], j)
                S[j] = np.argsort(Xt[j], kind="stable")
            change = self._change(previous, Xt, mask)
            self.changes_.append(change)
            if self.verbose:
                print(f"[SurrogateTreeImputer] round {r + 1}: change {change:.3g}")
            if change > prev_change:
                # Getting worse (trees can oscillate): keep the previous round, as missForest does.
                Xt = previous
                del self.imputation_sequence_[rounds[-1]:]
                break
            rounds.append(len(self.imputation_sequence_))
            if change <= self.tol:
                break
            prev_change = change
            previous = Xt.copy()
        self.n_iter_ = len(rounds)
        return np.ascontiguousarray(Xt.T), Xe_in, index

    def _choose_predictors(self, Xe: np.ndarray, mask: np.ndarray):
        """``(p, k)`` positions of each imputed column's predictors (-1: none chosen, all columns used), or None
        when every column is a predictor."""
        k = self.max_predictors
        p = Xe.shape[1]
        if k is None or k >= p - 1:
            return None
        if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
            raise ValueError(f"max_predictors must be a positive integer or None, got {k!r}")
        filled = np.where(np.isnan(Xe), self.statistics_[None, :], Xe)
        sd = filled.std(axis=0)
        Z = (filled - filled.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        out = np.full((p, int(k)), -1, dtype=np.int64)
        cols = np.flatnonzero(mask.any(axis=0))
        if cols.size:
            R = np.abs(Z.T @ Z[:, cols])           # (p, imputed columns), one BLAS call
            R[cols, np.arange(cols.size)] = -1.0    # never a column's own predictor
            out[cols] = np.argsort(-R, axis=0, kind="stable")[: int(k)].T
        return out

    def _statistics(self, Xe, mask):
        stats = np.empty(Xe.shape[1])
        for j in range(Xe.shape[1]):
            col = Xe[~mask[:, j], j]
            if self.categorical_[j]:
                stats[j] = np.bincount(col.astype(np.int64), minlength=len(self.categories_[j])).argmax()
            else:
                stats[j] = col.mean()
        return stats

    def _subset(self, j):
        """Positions of column ``j``'s predictors when ``max_predictors`` chose them, else None (all)."""
        P = getattr(self, "predictors_", None)
        return None if P is None or P[j, 0] < 0 else P[j]

    def _grow(self, Xt, S, j, rows_mask, kw, surrogates=True):
        if not surrogates:
            # After round 1 the predictors are complete, at fit and when transform replays the round.
            kw = dict(kw, max_surrogates=0)
        k = len(self.categories_[j]) if self.categorical_[j] else 0
        idx = self._subset(j)
        if idx is not None:  # grown on the chosen predictors only (the tree's features index this subset)
            return _cart.grow_tree(np.ascontiguousarray(Xt[idx]), Xt[j], self._ncat[idx], n_classes=k,
                                   rows=np.flatnonzero(rows_mask), presorted=np.ascontiguousarray(S[idx]), **kw)
        active = np.ones(Xt.shape[0], dtype=bool)
        active[j] = False
        return _cart.grow_tree(Xt, Xt[j], self._ncat, n_classes=k, rows=np.flatnonzero(rows_mask),
                               active=active, presorted=S, **kw)

    def _predict(self, tree, Xt, rows_mask, j=None):
        idx = None if j is None else self._subset(j)
        nodes = tree.apply((Xt if idx is None else Xt[idx])[:, rows_mask])
        return tree.value[nodes]

    def _change(self, old, new, mask):
        num = [j for j in range(mask.shape[1]) if mask[:, j].any() and not self.categorical_[j]]
        cat = [j for j in range(mask.shape[1]) if mask[:, j].any() and self.categorical_[j]]
        out = 0.0
        if num:
            d = np.concatenate([(new[j, mask[:, j]] - old[j, mask[:, j]]) / self._scale[j] for j in num])
            out = max(out, float(np.sqrt(np.mean(d * d))))
        if cat:
            d = np.concatenate([new[j, mask[:, j]] != old[j, mask[:, j]] for j in cat])
            out = max(out, float(np.mean(d)))
        return out

    def transform(self, X):
        """Impute new rows by replaying the fitted rounds."""
        check_is_fitted(self, "imputation_sequence_")
        Xe, index = _check_imputer_input(self, X, reset=False)
        block_cells = self._block_cells(np.isnan(Xe)) if getattr(self, "_blocks", None) else \
            np.zeros(Xe.shape, bool)
        mask = np.isnan(Xe) & ~block_cells
        Xe_in = Xe.copy()  # the indicators describe the input as given
        Xe[block_cells] = self.statistics_[np.nonzero(block_cells)[1]]
        Xt = np.ascontiguousarray(Xe.T)
        seq = self.imputation_sequence_
        first = [(j, t) for r, j, t in seq if r == 0]
        new = Xt.copy()
        for j, tree in first:
            if mask[:, j].any():
                new[j, mask[:, j]] = self._predict(tree, Xt, mask[:, j], j)
        Xt = new
        fitted = {j for j, _ in first}
        for j in range(Xt.shape[0]):
            if j not in fitted and mask[:, j].any():
                Xt[j, mask[:, j]] = self.statistics_[j]
        for r, j, tree in seq:
            if r > 0 and mask[:, j].any():
                Xt[j, mask[:, j]] = self._predict(tree, Xt, mask[:, j], j)
        return _output(self, np.ascontiguousarray(Xt.T), Xe_in, index)

    def get_feature_names_out(self, input_features=None):
        """Input column names, then ``missingindicator_<name>`` columns when ``add_indicator``."""
        return _feature_names_out(self, input_features)


class KNNImputer(TransformerMixin, BaseEstimator):
    """k-nearest-neighbour imputation for tables with numeric and categorical columns.

    scikit-learn's :class:`sklearn.impute.KNNImputer` semantics (donors are training rows observed on the
    column; distance over the columns both rows have, scaled up by total / shared columns; rows without any
    donor get the training mean), with two changes for mixed clinical tables:

    * numeric columns are standardised (training mean and standard deviation) for the distance, so that a
      volume in mm^3 does not drown an age in years; imputed values are on the original scale;
    * a categorical column adds ``categorical_weight`` to the squared distance when the two rows differ and
      is imputed by the (weighted) most frequent level among the neighbours (ties: the first level).

    On an all-numeric table this equals scikit-learn's KNNImputer on standardised columns.

    Parameters
    ----------
    n_neighbors : int, default=5
    weights : {"uniform", "distance"}, default="uniform"
    categorical_features : "auto", None, or list of str, int or bool, default="auto"
    categorical_weight : float, default=1.0
        Squared distance of a categorical mismatch (two standardised values differ by ~1.4 on average,
        i.e. a squared distance of ~2).
    add_indicator : bool, default=False

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiomix.impute import KNNImputer
    >>> df = pd.DataFrame({"age": [60, 62, np.nan, 40], "sex": pd.Categorical(["M", "M", None, "F"])})
    >>> KNNImputer(n_neighbors=2).set_output(transform="pandas").fit_transform(df)["sex"].tolist()
    ['M', 'M', 'M', 'F']
    """

    def __init__(self, *, n_neighbors=5, weights="uniform", categorical_features="auto", categorical_weight=1.0,
                 add_indicator=False):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.categorical_features = categorical_features
        self.categorical_weight = categorical_weight
        self.add_indicator = add_indicator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        return tags

    def fit(self, X, y=None):
        """Store the training rows as donors (``y`` is ignored)."""
        if not isinstance(self.n_neighbors, numbers.Integral) or isinstance(self.n_neighbors, bool) \
                or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be an integer >= 1, got {self.n_neighbors!r}")
        if self.weights not in ("uniform", "distance"):
            raise ValueError(f"weights must be 'uniform' or 'distance', got {self.weights!r}")
        if not isinstance(self.categorical_weight, numbers.Real) or not self.categorical_weight >= 0:
            raise ValueError(f"categorical_weight must be a number >= 0, got {self.categorical_weight!r}")
        Xe, _ = _check_imputer_input(self, X, reset=True)
        mask = np.isnan(Xe)
        self.indicator_ = MissingIndicator(error_on_new=False).fit(Xe) if self.add_indicator else None
        num = ~self.categorical_
        self.mean_ = np.where(num, np.nanmean(np.where(num, Xe, 0.0), axis=0), np.nan)
        sd = np.where(num, np.nanstd(np.where(num, Xe, 0.0), axis=0), 1.0)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        self.statistics_ = np.array([
            np.bincount(Xe[~mask[:, j], j].astype(np.int64), minlength=len(self.categories_[j])).argmax()
            if self.categorical_[j] else self.mean_[j] for j in range(Xe.shape[1])], dtype=np.float64)
        self._fit_X = Xe
        return self

    def _parts(self, Xe):
        num = ~self.categorical_
        Z = (Xe[:, num] - self.mean_[num]) / self.scale_[num]
        M = ~np.isnan(Z)
        Z0 = np.where(M, Z, 0.0)
        blocks = []
        Mc = []
        for j in np.flatnonzero(self.categorical_):
            k = len(self.categories_[j])
            codes = Xe[:, j]
            present = ~np.isnan(codes)
            oh = np.zeros((Xe.shape[0], k))
            oh[np.flatnonzero(present), codes[present].astype(np.int64)] = 1.0
            blocks.append(oh)
            Mc.append(present)
        onehot = np.hstack(blocks) if blocks else np.zeros((Xe.shape[0], 0))
        Mc = np.column_stack(Mc).astype(np.float64) if Mc else np.zeros((Xe.shape[0], 0))
        return Z0, M.astype(np.float64), onehot, Mc

    def _distances(self, A, B):
        """Mixed nan-euclidean distance between the rows of two encoded tables."""
        Za, Ma, Oa, Ca = A
        Zb, Mb, Ob, Cb = B
        sq = (Za * Za) @ Mb.T + Ma @ (Zb * Zb).T - 2.0 * Za @ Zb.T
        if Oa.shape[1]:
            sq = sq + self.categorical_weight * (Ca @ Cb.T - Oa @ Ob.T)
        present = Ma @ Mb.T + Ca @ Cb.T
        np.maximum(sq, 0.0, out=sq)
        with np.errstate(divide="ignore", invalid="ignore"):
            d2 = sq * (self.n_features_in_ / present)
        d2[present == 0] = np.nan
        return np.sqrt(d2)

    def transform(self, X):
        """Impute every missing cell from the nearest training rows observed on its column."""
        check_is_fitted(self, "_fit_X")
        Xe, index = _check_imputer_input(self, X, reset=False)
        mask = np.isnan(Xe)
        out = Xe.copy()
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size:
            fitX = self._fit_X
            fmask = np.isnan(fitX)
            D = self._distances(self._parts(Xe[rows]), self._parts(fitX))
            for j in np.flatnonzero(mask[rows].any(axis=0)):
                recv = np.flatnonzero(mask[rows, j])
                donors = np.flatnonzero(~fmask[:, j])
                d = D[np.ix_(recv, donors)]
                out[rows[recv], j] = self._impute_column(d, fitX[donors, j], j)
        return _output(self, out, Xe, index)

    def _impute_column(self, d, donor_vals, j):
        k = min(self.n_neighbors, d.shape[1])
        res = np.full(d.shape[0], self.statistics_[j])
        if k == 0:
            return res
        all_nan = np.isnan(d).all(axis=1)
        idx = np.argpartition(np.where(np.isnan(d), np.inf, d), k - 1, axis=1)[:, :k]
        dd = np.take_along_axis(d, idx, axis=1)
        if self.weights == "distance":
            with np.errstate(divide="ignore"):
                w = 1.0 / dd
            inf = np.isinf(w)
            zero_rows = inf.any(axis=1)
            w[zero_rows] = inf[zero_rows]
        else:
            w = np.ones_like(dd)
        w[np.isnan(dd)] = 0.0
        vals = donor_vals[idx]
        ok = ~all_nan
        if self.categorical_[j]:
            ncat = len(self.categories_[j])
            votes = np.zeros((d.shape[0], ncat))
            np.add.at(votes, (np.repeat(np.arange(d.shape[0]), k), vals.astype(np.int64).ravel()), w.ravel())
            res[ok] = votes[ok].argmax(axis=1)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res[ok] = (w[ok] * vals[ok]).sum(axis=1) / w[ok].sum(axis=1)
        return res

    def get_feature_names_out(self, input_features=None):
        """Input column names, then ``missingindicator_<name>`` columns when ``add_indicator``."""
        return _feature_names_out(self, input_features)
