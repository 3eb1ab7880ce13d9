"""rpart-style CART trees with surrogate splits, as scikit-learn estimators that accept NaN in ``X``."""


from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _cart
from ._encoding import encode_fit, ncat, store_typing

__all__ = ["SurrogateTreeRegressor", "SurrogateTreeClassifier", "TREE_PARAMETER_CONSTRAINTS", "tree_kwargs"]

# --------------------------------------------------------------------------------------------------
# the tree estimators
# --------------------------------------------------------------------------------------------------


#: The rpart settings shared by the trees and :class:`~radiomix.impute.SurrogateTreeImputer`, declared the
#: scikit-learn way (checked by ``_fit_context`` once per ``fit``).
TREE_PARAMETER_CONSTRAINTS = {
    "max_depth": [Interval(Integral, 1, None, closed="left"), None],
    "min_samples_split": [Interval(Integral, 1, None, closed="left")],
    "min_samples_leaf": [Interval(Integral, 1, None, closed="left"), None],
    "cp": [Interval(Real, 0, None, closed="both")],
    "max_surrogates": [Interval(Integral, 0, None, closed="left")],
    # rpart's usesurrogate and surrogatestyle
    "use_surrogates": [Options(Integral, {0, 1, 2})],
    "surrogate_style": [Options(Integral, {0, 1})],
    "categorical_features": [StrOptions({"auto"}), "array-like", None],
}


def tree_kwargs(est):
    leaf = est.min_samples_leaf
    if leaf is None:  # rpart.control: minbucket = round(minsplit / 3)
        leaf = max(1, int(round(est.min_samples_split / 3)))
    depth = _cart.MAX_DEPTH if est.max_depth is None else min(int(est.max_depth), _cart.MAX_DEPTH)
    return dict(min_split=int(est.min_samples_split), min_bucket=int(leaf), cp=float(est.cp), max_depth=depth,
                max_surrogates=int(est.max_surrogates), use_surrogates=int(est.use_surrogates),
                surrogate_style=int(getattr(est, "surrogate_style", 0)))


class _SurrogateTreeBase(BaseEstimator):
    _parameter_constraints: dict = dict(TREE_PARAMETER_CONSTRAINTS)

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
        enc, Xe = encode_fit(self, X)
        Xe, y = validate_data(self, Xe, y, ensure_all_finite="allow-nan", dtype=np.float64, y_numeric=not n_classes_from_y)
        store_typing(self, enc, Xe.shape[1])
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
        self.tree_ = _cart.grow_tree(Xt, yv, ncat(self), n_classes=k, **tree_kwargs(self))
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

    @_fit_context(prefer_skip_nested_validation=True)
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

    @_fit_context(prefer_skip_nested_validation=True)
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
