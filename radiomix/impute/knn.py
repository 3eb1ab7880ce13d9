"""kNN imputation for mixed numeric/categorical tables."""


from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.impute import MissingIndicator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._encoding import check_imputer_input, feature_names_out, output

__all__ = ["MixedKNNImputer"]

class MixedKNNImputer(TransformerMixin, BaseEstimator):
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

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "weights": [StrOptions({"uniform", "distance"})],
        "categorical_features": [StrOptions({"auto"}), "array-like", None],
        "categorical_weight": [Interval(Real, 0, None, closed="both")],
        "add_indicator": ["boolean"],
    }

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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Store the training rows as donors (``y`` is ignored)."""
        Xe, _ = check_imputer_input(self, X, reset=True)
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
        Xe, index = check_imputer_input(self, X, reset=False)
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
        return output(self, out, Xe, index)

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
        return feature_names_out(self, input_features)
