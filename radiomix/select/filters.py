"""Cheap pre-filters: near-zero variance (caret's rule) and pairwise correlation."""

from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.feature_selection import SelectorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._relevance import feature_relevance
from ._validation import RELEVANCES, TASKS, check_relevance, prepare_target, resolve_task, validate_fit_data

__all__ = ["NearZeroVarianceFilter", "CorrelationFilter"]

#: Candidates per block in the correlation filter: bounds the (block, n_kept) correlation matrices.
_CORR_BLOCK = 512


# --------------------------------------------------------------------------------------------------
# Pre-filters
# --------------------------------------------------------------------------------------------------


class NearZeroVarianceFilter(SelectorMixin, BaseEstimator):
    """Drop constant and near-constant features (caret's ``nearZeroVar`` rule).

    A feature is dropped when it has at most one distinct non-missing value, or when both its frequency
    ratio (count of the most common value over the count of the second most common) exceeds
    ``freq_cut`` and its percentage of distinct values (out of all rows, missing included) is at most
    ``unique_cut``. Such features are typically binary-like artefacts (a texture feature that is 0 for
    almost every lesion) that destabilise cross-validation.

    Parameters
    ----------
    freq_cut : float, default=95/5
        Frequency-ratio cut-off.
    unique_cut : float, default=10.0
        Percentage-of-distinct-values cut-off.

    Attributes
    ----------
    freq_ratio_ : ndarray of shape (n_features_in_,)
        Frequency ratio of each feature (0 when it has fewer than two distinct values).
    percent_unique_ : ndarray of shape (n_features_in_,)
        Percentage of distinct non-missing values.
    support_ : ndarray of shape (n_features_in_,)
        Mask of the kept features.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from radiomix.select import NearZeroVarianceFilter
    >>> X = np.c_[np.arange(100.0), np.r_[np.zeros(99), 1.0], np.ones(100)]
    >>> NearZeroVarianceFilter().fit(X).get_support()
    array([ True, False, False])
    """

    _parameter_constraints: dict = {
        "freq_cut": [Interval(Real, 0, None, closed="both")],
        "unique_cut": [Interval(Real, 0, None, closed="both")],
    }

    def __init__(self, freq_cut=95 / 5, unique_cut=10.0):
        self.freq_cut = freq_cut
        self.unique_cut = unique_cut

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute frequency ratios and percentages of distinct values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features; NaN marks a missing value.
        y : None
            Ignored.

        Returns
        -------
        self : NearZeroVarianceFilter
            The fitted filter.
        """
        X, _ = validate_fit_data(self, X, None, y_required=False)
        n_samples, n_features = X.shape
        # Runs of equal values in each sorted column (missing values sort last and start no run).
        S = np.ascontiguousarray(np.sort(X, axis=0).T)
        valid = ~np.isnan(S)
        starts = valid.copy()
        starts[:, 1:] &= S[:, 1:] != S[:, :-1]
        n_unique = starts.sum(axis=1)
        run_id = np.cumsum(starts.ravel()) - 1
        run_length = np.bincount(run_id[valid.ravel()], minlength=int(n_unique.sum()))
        run_feature = np.repeat(np.arange(n_features), n_unique)
        order = np.lexsort((-run_length, run_feature))
        ranked = run_length[order]
        first = np.concatenate(([0], np.cumsum(n_unique)[:-1]))
        two_or_more = n_unique >= 2
        freq_ratio = np.zeros(n_features)
        top = ranked[first[two_or_more]]
        second = ranked[first[two_or_more] + 1]
        freq_ratio[two_or_more] = top / second
        self.freq_ratio_ = freq_ratio
        self.percent_unique_ = 100.0 * n_unique / n_samples
        near_zero = (self.freq_ratio_ > self.freq_cut) & (self.percent_unique_ <= self.unique_cut)
        self.support_ = ~(near_zero | (n_unique <= 1))
        return self

    def _get_support_mask(self):
        check_is_fitted(self)
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = False
        return tags


class _AbsCorrelation:
    """|Pearson r| between groups of features, missing values deleted pairwise, undefined r counted as 0.

    Pairs of complete features are one matrix product of standardised rows; pairs involving a feature
    with missing values use pairwise-complete moments (on pre-centred data, so without cancellation).
    """

    def __init__(self, XT: np.ndarray):
        valid = ~np.isnan(XT)
        self.partial = ~valid.all(axis=1)
        # Centring a constant column can leave identical rounding residues that correlate perfectly.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.constant = ~(np.nanmax(XT, axis=1) > np.nanmin(XT, axis=1))
        Xc = np.where(valid, XT, 0.0)
        Xc[~self.partial] -= XT[~self.partial].mean(axis=1, keepdims=True)
        norm = np.sqrt(np.einsum("ij,ij->i", Xc, Xc))
        with np.errstate(divide="ignore", invalid="ignore"):
            self.Z = np.where((norm[:, None] > 0) & ~self.partial[:, None], Xc / norm[:, None], 0.0)
        if self.partial.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                centre = np.nan_to_num(np.nanmean(XT, axis=1, keepdims=True))
            self.X0 = np.where(valid, XT - centre, 0.0)
            self.V = valid.astype(np.float64)

    def _moments(self, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
        Va, Vb = self.V[rows_a], self.V[rows_b]
        Xa, Xb = self.X0[rows_a], self.X0[rows_b]
        n = Va @ Vb.T
        sa, sb = Xa @ Vb.T, Va @ Xb.T
        with np.errstate(divide="ignore", invalid="ignore"):
            cov = Xa @ Xb.T - sa * sb / n
            var_a = (Xa * Xa) @ Vb.T - sa**2 / n
            var_b = Va @ (Xb * Xb).T - sb**2 / n
            r = np.abs(cov / np.sqrt(var_a * var_b))
        r[~np.isfinite(r) | (n < 2) | (var_a <= 0) | (var_b <= 0)] = 0.0
        return np.minimum(r, 1.0)

    def __call__(self, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
        r = np.minimum(np.abs(self.Z[rows_a] @ self.Z[rows_b].T), 1.0)
        partial_a, partial_b = self.partial[rows_a], self.partial[rows_b]
        if partial_a.any():
            r[partial_a] = self._moments(rows_a[partial_a], rows_b)
        if partial_b.any():
            rest = ~partial_a
            r[np.ix_(rest, partial_b)] = self._moments(rows_a[rest], rows_b[partial_b])
        r[self.constant[rows_a]] = 0.0
        r[:, self.constant[rows_b]] = 0.0
        return r


class CorrelationFilter(SelectorMixin, BaseEstimator):
    """Drop one feature of each pair correlated above a threshold, keeping the more relevant one.

    Features are visited from the most to the least relevant (ties: earlier column first); a feature is
    kept unless its absolute Pearson correlation with an already kept feature exceeds ``threshold``. So no
    kept pair exceeds the threshold, and every dropped feature has a kept, more relevant partner
    (``correlated_with_``). Missing values are deleted pairwise; constant features are never dropped here
    (see :class:`NearZeroVarianceFilter`).

    Parameters
    ----------
    threshold : float, default=0.9
        Absolute correlation above which the less relevant feature of a pair is dropped.
    relevance : {"f", "ks", "rf", "cox", "auto"}, callable or None, default="f"
        Relevance used to decide which feature of a pair to keep, as in :class:`MRMRSelector`. ``None``
        needs no ``y`` and keeps the earlier column.
    task : {"auto", "classification", "regression", "survival"}, default="auto"
        Type of ``y`` (see :class:`MRMRSelector`).
    random_state : int, RandomState instance or None, default=0
        Seed of the random forest when ``relevance="rf"``.

    Attributes
    ----------
    relevance_ : ndarray of shape (n_features_in_,)
        Relevance of each feature (zeros when ``relevance=None``).
    correlated_with_ : ndarray of shape (n_features_in_,)
        For a dropped feature, the index of the kept feature that caused the drop; -1 for kept features.
    support_ : ndarray of shape (n_features_in_,)
        Mask of the kept features.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from radiomix.select import CorrelationFilter
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> kept = CorrelationFilter(threshold=0.95).fit(X, y).get_feature_names_out()
    >>> "mean radius" in kept, "worst perimeter" in kept
    (False, True)
    """

    _parameter_constraints: dict = {
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "relevance": [StrOptions(set(RELEVANCES)), callable, None],
        "task": [StrOptions(set(TASKS))],
        "random_state": ["random_state"],
    }

    def __init__(self, threshold=0.9, *, relevance="f", task="auto", random_state=0):
        self.threshold = threshold
        self.relevance = relevance
        self.task = task
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Find the correlated pairs and keep the more relevant feature of each.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features; NaN marks a missing value.
        y : array-like of shape (n_samples,), default=None
            Outcome; needed unless ``relevance=None``.

        Returns
        -------
        self : CorrelationFilter
            The fitted filter.
        """
        owner = type(self).__name__
        if self.relevance is None:
            X, _ = validate_fit_data(self, X, None, y_required=False)
            self.relevance_ = np.zeros(X.shape[1])
        else:
            if y is None:
                raise ValueError(
                    f"{owner} requires y to be passed, but the target y is None "
                    f"(relevance={self.relevance!r} ranks features by their relation to y; relevance=None does not)"
                )
            X, y = validate_fit_data(self, X, y)
            task = resolve_task(self.task, y, owner)
            relevance = check_relevance(self.relevance, task, owner)
            y = prepare_target(y, task, owner)
            self.relevance_ = feature_relevance(relevance, task, X, y, self.random_state, owner)

        abs_corr = _AbsCorrelation(np.ascontiguousarray(X.T))
        order = np.argsort(-self.relevance_, kind="stable")
        partner = np.full(X.shape[1], -1, dtype=np.intp)
        kept: list[int] = []
        for start in range(0, order.size, _CORR_BLOCK):
            block = order[start : start + _CORR_BLOCK]
            if kept:
                kept_arr = np.asarray(kept)
                over = abs_corr(block, kept_arr) > self.threshold
                hit = over.any(axis=1)
                partner[block[hit]] = kept_arr[over[hit].argmax(axis=1)]
                block = block[~hit]
            if block.size == 0:
                continue
            over = abs_corr(block, block) > self.threshold
            keep = np.ones(block.size, dtype=bool)
            for i in range(block.size):
                if keep[i]:
                    drop = np.flatnonzero(over[i, i + 1 :] & keep[i + 1 :]) + i + 1
                    keep[drop] = False
                    partner[block[drop]] = block[i]
            kept.extend(block[keep].tolist())
        self.correlated_with_ = partner
        self.support_ = partner < 0
        return self

    def _get_support_mask(self):
        check_is_fitted(self)
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = self.relevance is not None
        return tags
