"""mRMR, rewritten from mrmr-selection (GPL-3, a test oracle only) with vectorised numpy."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.feature_selection import SelectorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._relevance import FLOOR, feature_relevance
from ._validation import (
    RELEVANCES,
    TASKS,
    check_relevance,
    feature_names,
    prepare_target,
    resolve_task,
    validate_fit_data,
)

__all__ = ["MRMRSelector"]

# --------------------------------------------------------------------------------------------------
# Pearson correlation with pairwise deletion, computed the way pandas' Series.corr does it (pandas >= 3:
# centre, scale by max |value|, BLAS dot products), one selected feature against many rows at once.
# --------------------------------------------------------------------------------------------------


def _normalized_rows(B: np.ndarray):
    """Centre and max-abs scale each row; returns (rows, root mean square, usable)."""
    B = np.ascontiguousarray(B)
    fact = B.shape[1] - 1
    B = B - B.mean(axis=1, keepdims=True)
    scale = np.max(np.abs(B), axis=1)
    usable = scale != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        B = B / scale[:, None]
        divisor = np.sqrt(np.vecdot(B, B) / fact)
    usable &= divisor != 0
    return B, divisor, usable


def _front_groups(B: np.ndarray, keep: np.ndarray):
    """Each row's kept values, in column order, grouped by how many values the row keeps.

    Rows of equal length can then be processed together while adding in the same order as pandas does
    for that pair alone. The kept values are read once, row by row (``B[keep]``); each group indexes them.
    Returns (keep, [(length, rows, index into the kept values, normalised rows, divisor, usable), ...]).
    """
    n_kept = keep.sum(axis=1)
    kept_values = B[keep]
    start = np.cumsum(n_kept) - n_kept
    groups = []
    for length in np.unique(n_kept):
        if length >= 2:  # pandas: fewer than two pairs give NaN
            rows = np.flatnonzero(n_kept == length)
            index = start[rows, None] + np.arange(length)
            groups.append((int(length), rows, index, *_normalized_rows(kept_values[index])))
    return keep, groups


def _pearson_front(a_row: np.ndarray, keep: np.ndarray, groups, n_rows: int) -> np.ndarray:
    """Pearson r of ``a_row`` with each row of a :func:`_front_groups` grouping, on that row's kept values."""
    a_kept = np.broadcast_to(a_row, keep.shape)[keep]
    r = np.full(n_rows, np.nan)
    for length, rows, index, B_norm, B_div, B_usable in groups:
        a_norm, a_div, a_usable = _normalized_rows(a_kept[index])
        with np.errstate(divide="ignore", invalid="ignore"):
            rr = np.vecdot(B_norm, a_norm) / (length - 1) / a_div
            rr = np.clip(rr / B_div, -1.0, 1.0)
        rr[~(a_usable & B_usable)] = np.nan
        r[rows] = rr
    return r


class _RedundancyColumns:
    """Signed Pearson r of one selected feature with all candidates, as pandas' Series.corr computes it.

    Each pair uses only the rows where both features are present (pairwise deletion). Candidates without
    missing values are normalised once; so are those with missing values, on their own rows, which are
    the pair's rows whenever the selected feature is complete (the usual case).
    """

    def __init__(self, XT: np.ndarray):
        self.XT = XT
        self.valid = ~np.isnan(XT)
        complete = self.valid.all(axis=1)
        self.complete = np.flatnonzero(complete)
        self.partial = np.flatnonzero(~complete)
        self.norm, self.div, self.usable = _normalized_rows(XT[self.complete])
        self.position = np.full(XT.shape[0], -1)
        self.position[self.complete] = np.arange(self.complete.size)
        if self.partial.size:
            self.partial_keep, self.partial_groups = _front_groups(
                XT[self.partial], self.valid[self.partial]
            )

    def correlation(self, a: int) -> np.ndarray:
        r = np.full(self.XT.shape[0], np.nan)
        a_row = self.XT[a]
        p = self.position[a]
        if p < 0:
            # The selected feature has missing values: every pair has its own rows.
            keep, groups = _front_groups(self.XT, self.valid & self.valid[a])
            return _pearson_front(a_row, keep, groups, self.XT.shape[0])
        if self.usable[p]:
            with np.errstate(divide="ignore", invalid="ignore"):
                # vecdot = one BLAS ddot per row, i.e. the np.dot pandas calls for each pair.
                rc = np.vecdot(self.norm, self.norm[p]) / (self.XT.shape[1] - 1) / self.div[p]
                rc = np.clip(rc / self.div, -1.0, 1.0)
            rc[~self.usable] = np.nan
            r[self.complete] = rc
        if self.partial.size:
            r[self.partial] = _pearson_front(a_row, self.partial_keep, self.partial_groups, self.partial.size)
        return r


def _mrmr(relevance, XT, K, denominator, domains, names):
    """Greedy mRMR over the candidate rows of XT; returns (order, scores, denominators)."""
    n_cand = XT.shape[0]
    K = min(K, n_cand)
    redundancy = _RedundancyColumns(XT)
    # One column per selected feature; mrmr-selection's redundancy starts at the floor everywhere.
    R = np.full((n_cand, max(K, 1)), FLOOR)
    remaining = np.ones(n_cand, dtype=bool)
    denom = np.ones(n_cand)
    order, scores, denominators = [], [], []
    for i in range(K):
        stale = False
        if i > 0:
            last = order[-1]
            update = remaining if domains is None else remaining & (domains == domains[last])
            stale = not update.any()
            if not stale:
                r = np.abs(redundancy.correlation(last)[update])
                R[update, i - 1] = np.clip(np.where(np.isnan(r), FLOOR, r), FLOOR, None)
                if denominator == "mean":
                    # Row sums over a contiguous slice add in numpy's pairwise order, as pandas' mean does.
                    denom = R[:, :i].sum(axis=1) / float(i)
                else:
                    denom = R[:, :i].max(axis=1)
                # mrmr-selection's rule: a denominator of exactly 1 (perfect redundancy) scores 0.
                denom = np.where(denom == 1.0, np.inf, denom)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = relevance / denom
        score = np.where(remaining & ~np.isnan(score), score, -np.inf)
        # argmax takes the first maximum: ties go to the earlier column, as in mrmr-selection.
        best = int(np.argmax(score))
        if not remaining[best]:  # every remaining score is NaN
            best = int(np.flatnonzero(remaining)[0])
        elif stale:
            # No same-domain candidate was left: mrmr-selection then reuses the previous denominators,
            # whose index differs from the candidates', so pandas aligns on the sorted union of names and
            # a tie goes to the alphabetically first name.
            ties = np.flatnonzero(score == score[best])
            best = int(min(ties, key=lambda j: names[j]))
        order.append(best)
        scores.append(float(score[best]))
        denominators.append(float(denom[best]))
        remaining[best] = False
    return np.asarray(order, dtype=np.intp), np.asarray(scores), np.asarray(denominators)


class MRMRSelector(SelectorMixin, BaseEstimator):
    """Minimum-redundancy maximum-relevance (mRMR) feature selection, as in mrmr-selection.

    Greedy forward selection: the first feature is the most relevant one; each next feature maximises
    ``relevance / redundancy``, where redundancy is the mean (or max) absolute Pearson correlation with the
    features already selected, floored at 0.001. Features with zero relevance (including constant features)
    are never selected, so fewer than ``n_features`` may be returned. The arithmetic follows
    ``mrmr.mrmr_classif`` / ``mrmr.mrmr_regression`` of mrmr-selection 0.2.8 operation by operation, so the
    selected features and their order are the same (see Notes).

    Parameters
    ----------
    n_features : int, default=20
        Number of features to select (at most; see above).
    relevance : {"f", "ks", "rf", "cox", "auto"} or callable, default="f"
        ``"f"``: ANOVA F-statistic (classification) or univariate regression F-statistic, each feature on
        its non-missing rows. ``"ks"``: mean over classes of the two-sample Kolmogorov-Smirnov statistic
        of the class against the rest (classification only). ``"rf"``: impurity importances of a random
        forest with ``max_depth=5`` (missing values filled with the table minimum minus one). A callable
        ``relevance(X, y)`` gets the float ndarray (NaN kept) and returns one non-negative score per
        feature, or a ``(scores, p_values)`` tuple like scikit-learn's score functions (e.g.
        ``functools.partial(mutual_info_classif, random_state=0)``). ``"cox"`` (survival targets): the
        univariate Cox score-test chi-square (Breslow ties), each feature on its non-missing rows.
        ``"auto"``: ``"cox"`` for a survival target, ``"f"`` otherwise.
    redundancy : {"pearson"}, default="pearson"
        Absolute Pearson correlation with pairwise deletion of missing values.
    denominator : {"mean", "max"}, default="mean"
        How the redundancies with the already selected features are combined.
    task : {"auto", "classification", "regression", "survival"}, default="auto"
        ``"auto"``: an ``(n, 2)`` ``y`` is a survival target (time, event); a float ``y`` with more than two
        distinct values is a regression target; integer, string, boolean or categorical labels, and any
        binary ``y``, are classes. Integer-typed outcomes with many levels (e.g. days) are therefore
        classes: set the task explicitly when in doubt.
    only_same_domain : bool, default=False
        Compute redundancy only between features of the same domain (the name up to the first ``_``,
        e.g. ``"original"`` in ``"original_glcm_Contrast"``); other pairs count as the floor 0.001.
    random_state : int, RandomState instance or None, default=0
        Seed of the random forest when ``relevance="rf"``; 0 reproduces mrmr-selection.

    Attributes
    ----------
    relevance_ : ndarray of shape (n_features_in_,)
        Relevance of every input feature (0 for missing-valued statistics and constant features).
    selected_indices_ : ndarray of shape (n_selected,)
        Column indices of the selected features, in selection order.
    selected_features_ : list of str
        Names of the selected features, in selection order (``x0``, ``x1``, ... without names).
    ranking_ : ndarray of shape (n_features_in_,)
        Selection step of each feature (1 = chosen first); features not selected get ``n_selected + 1``.
    scores_ : ndarray of shape (n_selected,)
        mRMR score (relevance / redundancy) of each selected feature at the step it was chosen.
    redundancy_ : ndarray of shape (n_selected,)
        Denominator of that score (1 at the first step; ``inf`` marks perfect redundancy).
    support_ : ndarray of shape (n_features_in_,)
        Mask of the selected features.
    task_ : str
        ``"classification"`` or ``"regression"``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    CorrelationFilter : Drop one feature of each highly correlated pair.
    NearZeroVarianceFilter : Drop (near-)constant features.
    selection_frequency : How often features were selected across folds.

    Notes
    -----
    ``transform`` keeps the input column order (scikit-learn's convention); ``selected_features_`` has the
    mRMR order. Differences from mrmr-selection: constant columns get relevance 0 (there, rounding can give
    a constant column any F value, even inf, which makes it the first pick); a column whose non-missing
    rows hold a single class gets relevance 0 (mrmr-selection raises); mrmr-selection's categorical
    encoding (``cat_features``) is not offered, encode beforehand; redundancy callables are not accepted.
    Relevance and correlations are bit-identical to mrmr-selection's (checked by the tests), which makes
    exact ties (duplicated or power-of-two-rescaled columns) and the "denominator exactly 1" rule come out
    the same. Two caveats: the correlations follow pandas >= 3's arithmetic (under pandas 2 mrmr-selection
    uses ``np.corrcoef``, which differs in the last bits); and for regression F-statistics the last bits
    depend on whether the table's columns are contiguous in memory, which is inferred from the array
    pandas hands over, so a mixed-dtype frame may differ by rounding only.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from radiomix.select import MRMRSelector
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> selector = MRMRSelector(n_features=3).fit(X, y)
    >>> selector.selected_features_
    ['worst concave points', 'worst perimeter', 'mean concave points']
    >>> selector.set_output(transform="pandas").transform(X).shape
    (569, 3)
    """

    _parameter_constraints: dict = {
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "relevance": [StrOptions(set(RELEVANCES)), callable],
        "redundancy": [StrOptions({"pearson"})],
        "denominator": [StrOptions({"mean", "max"})],
        "task": [StrOptions(set(TASKS))],
        "only_same_domain": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_features=20,
        *,
        relevance="f",
        redundancy="pearson",
        denominator="mean",
        task="auto",
        only_same_domain=False,
        random_state=0,
    ):
        self.n_features = n_features
        self.relevance = relevance
        self.redundancy = redundancy
        self.denominator = denominator
        self.task = task
        self.only_same_domain = only_same_domain
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Select features by mRMR.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features; NaN marks a missing value.
        y : array-like of shape (n_samples,)
            Class labels or a continuous outcome.

        Returns
        -------
        self : MRMRSelector
            The fitted selector.
        """
        owner = type(self).__name__
        X, y = validate_fit_data(self, X, y)
        self.task_ = resolve_task(self.task, y, owner)
        relevance = check_relevance(self.relevance, self.task_, owner)
        y = prepare_target(y, self.task_, owner)

        self.relevance_ = feature_relevance(relevance, self.task_, X, y, self.random_state, owner)
        names = feature_names(self)
        candidates = np.flatnonzero(self.relevance_ > 0)
        candidate_names = [str(names[j]) for j in candidates]
        domains = None
        if self.only_same_domain:
            domains = np.asarray([name.split("_")[0] for name in candidate_names], dtype=object)
        order, scores, denominators = _mrmr(
            self.relevance_[candidates],
            np.ascontiguousarray(X[:, candidates].T),
            int(self.n_features),
            self.denominator,
            domains,
            candidate_names,
        )
        self.selected_indices_ = candidates[order]
        self.selected_features_ = [str(names[j]) for j in self.selected_indices_]
        self.scores_ = scores
        self.redundancy_ = denominators
        self.ranking_ = np.full(self.n_features_in_, self.selected_indices_.size + 1, dtype=np.intp)
        self.ranking_[self.selected_indices_] = np.arange(1, self.selected_indices_.size + 1)
        self.support_ = np.zeros(self.n_features_in_, dtype=bool)
        self.support_[self.selected_indices_] = True
        return self

    def _get_support_mask(self):
        check_is_fitted(self)
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        return tags
