"""Feature selection for radiomic tables: mRMR, near-zero-variance and correlation pre-filters, stability.

:class:`MRMRSelector` is the minimum-redundancy maximum-relevance selector of the ``mrmr-selection`` package
(``mrmr_classif`` / ``mrmr_regression``) rewritten with vectorised numpy: relevance is computed once, then one
correlation column per selected feature. It reproduces mrmr-selection's arithmetic operation by operation
(scikit-learn's F-test on each column's non-missing rows, pandas' Pearson correlation with pairwise deletion,
the 0.001 floor, the mean/max denominator, first-maximum ties), so that it returns the same features in the
same order; the remaining differences are listed in the class docstring. mrmr-selection (GPL-3) is used by
the tests as a reference only and is never imported here.

:class:`NearZeroVarianceFilter` (caret's ``nearZeroVar`` rule) and :class:`CorrelationFilter` (drop one
feature of each highly correlated pair, keeping the more relevant one) are cheap pre-filters, and
:func:`selection_frequency` reports how often each feature was chosen over cross-validation folds.
:class:`RobustnessFilter` keeps features whose repeated measurements (perturbations, test-retest scans,
several observers) of the training cases agree (intraclass correlation, :mod:`radiomix.reliability`).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["MRMRSelector", "NearZeroVarianceFilter", "CorrelationFilter", "RobustnessFilter", "RobustnessWarning",
           "fitted_robustness_filters", "robustness_summary", "selection_frequency"]

# mrmr-selection's floor for |correlation|: also the value of every redundancy it never computes.
_FLOOR = 0.001
# scipy's ks_2samp rounds the statistic to a multiple of 1/lcm(n1, n2) when it computes exact p-values.
_KS_EXACT_MAX_N = 10000
# Columns per chunk in the KS relevance: bounds the (chunk, n_samples) temporaries.
_KS_CHUNK = 256
# Candidates per block in the correlation filter: bounds the (block, n_kept) correlation matrices.
_CORR_BLOCK = 512

_RELEVANCES = ("auto", "f", "ks", "rf", "cox")
_TASKS = ("auto", "classification", "regression", "survival")


# --------------------------------------------------------------------------------------------------
# Input checks shared by the selectors
# --------------------------------------------------------------------------------------------------


def _check_numeric_columns(X) -> None:
    # validate_data's "could not convert string to float" does not say which column is at fault.
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return
    for name, dtype in dtypes.items():
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise ValueError(
                f"column {name!r} is not numeric (dtype {dtype}); encode or drop it before feature selection"
            )


def _feature_names(estimator) -> np.ndarray:
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return np.asarray(names, dtype=object)
    return np.asarray([f"x{i}" for i in range(estimator.n_features_in_)], dtype=object)


def _check_no_inf(estimator, X: np.ndarray) -> None:
    bad = np.isinf(X).any(axis=0)
    if bad.any():
        name = _feature_names(estimator)[np.flatnonzero(bad)[0]]
        raise ValueError(
            f"column {name!r} contains infinity; {type(estimator).__name__} accepts NaN (missing) but not inf"
        )


def _validate_fit_data(estimator, X, y, *, y_required: bool = True):
    """validate_data for fit, allowing NaN (handled by pairwise deletion) but not inf."""
    _check_numeric_columns(X)
    if y is None and not y_required:
        X = validate_data(estimator, X, dtype=np.float64, ensure_all_finite=False, ensure_min_samples=2)
    else:
        X, y = validate_data(estimator, X, y, dtype=np.float64, ensure_all_finite=False, ensure_min_samples=2,
                             multi_output=len(getattr(y, "shape", ())) == 2)
    _check_no_inf(estimator, X)
    return X, y


def _resolve_task(task: str, y: np.ndarray, owner: str) -> str:
    if task not in _TASKS:
        raise ValueError(f"{owner}: task must be one of {_TASKS}, got {task!r}")
    if task != "auto":
        if task == "survival" and (np.ndim(y) != 2 or np.shape(y)[1] != 2):
            raise ValueError(f"{owner}: task='survival' needs y as an (n, 2) array of (time, event)")
        return task
    if np.ndim(y) == 2 and np.shape(y)[1] == 2:
        return "survival"
    kind = type_of_target(y, input_name="y", raise_unknown=True)
    if kind not in ("binary", "multiclass", "continuous"):
        raise ValueError(f"{owner}: cannot select features for a {kind!r} target; pass a single 1-d y")
    # type_of_target calls integral floats (e.g. the diabetes progression score) classes; the dtype is a
    # better guide: floats are measurements unless binary, integers/strings/booleans are labels.
    if kind == "binary" or np.asarray(y).dtype.kind != "f":
        return "classification"
    return "regression"


def _check_relevance(relevance, task: str, owner: str):
    """The relevance to use: ``"auto"`` is the univariate Cox score test for a survival target and the F
    statistic otherwise."""
    if callable(relevance):
        return relevance
    if relevance not in _RELEVANCES:
        raise ValueError(f"{owner}: relevance must be one of {_RELEVANCES} or a callable, got {relevance!r}")
    if relevance == "auto":
        return "cox" if task == "survival" else "f"
    if relevance == "ks" and task != "classification":
        raise ValueError(f"{owner}: relevance='ks' (Kolmogorov-Smirnov) needs a classification target")
    if (relevance == "cox") != (task == "survival"):
        raise ValueError(f"{owner}: relevance={relevance!r} does not apply to a {task} target; "
                         f"{'cox (univariate Cox score test) or auto' if task == 'survival' else 'f, ks, rf or auto'}")
    return relevance


def _prepare_target(y, task: str, owner: str) -> np.ndarray:
    if task == "survival":
        from .survival.metrics import split_surv

        time, event = split_surv(y, owner)
        if not event.any():
            raise ValueError(f"{owner}: no event in y; feature relevance needs at least one")
        return np.column_stack([time, event.astype(float)])
    if task == "regression":
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise ValueError(f"{owner}: task='regression' needs a numeric y, got dtype {y.dtype}")
        return y.astype(np.float64)
    y = np.asarray(y)
    if np.unique(y).size < 2:
        raise ValueError(f"{owner}: y has a single class; feature relevance needs at least two")
    return y


# --------------------------------------------------------------------------------------------------
# Relevance, one value per feature. XT is (n_features, n_samples), so each feature is a contiguous row:
# numpy then sums a feature in the same (pairwise) order as mrmr-selection summing that column alone,
# which keeps the statistics bit-identical.
# --------------------------------------------------------------------------------------------------


def _f_classif_rows(XT: np.ndarray, y: np.ndarray) -> np.ndarray:
    # Same operations, in the same order, as sklearn.feature_selection.f_oneway.
    classes = np.unique(y)
    # Column masks return Fortran-ordered copies, whose row sums would not be pairwise.
    groups = [np.ascontiguousarray(XT[:, y == k]) for k in classes]
    n_per_class = np.array([g.shape[1] for g in groups])
    n_samples = np.sum(n_per_class)
    ss_alldata = sum((g * g).sum(axis=1) for g in groups)
    sums = [g.sum(axis=1) for g in groups]
    square_of_sums_alldata = sum(sums) ** 2
    sstot = ss_alldata - square_of_sums_alldata / float(n_samples)
    ssbn = 0.0
    for k, s in enumerate(sums):
        ssbn += s**2 / n_per_class[k]
    ssbn -= square_of_sums_alldata / float(n_samples)
    sswn = sstot - ssbn
    msb = ssbn / float(len(classes) - 1)
    msw = sswn / float(n_samples - len(classes))
    return msb / msw


def _f_regression_rows(XT: np.ndarray, y: np.ndarray, column_view: np.ndarray | None = None) -> np.ndarray:
    # Same operations as sklearn.feature_selection.f_regression (center=True, force_finite=True).
    # mrmr-selection hands sklearn a view of each pandas column; when that view is strided (a C-ordered
    # table), einsum and matmul accumulate in another order than for a contiguous column, so column_view,
    # the (n_samples, n_features) C-ordered table, selects the strided arithmetic.
    XT = np.ascontiguousarray(XT)
    n_samples = XT.shape[1]
    yc = y - np.mean(y)
    means = XT.mean(axis=1)
    if column_view is None:
        sum_sq = np.einsum("ij,ij->i", XT, XT)
        # vecdot calls BLAS ddot per row, as sklearn's y @ X does for one contiguous column.
        corr = np.vecdot(XT, yc)
    else:
        sum_sq = np.einsum("ij,ij->j", column_view, column_view)
        corr = np.array([(yc @ column_view[:, j : j + 1])[0] for j in range(column_view.shape[1])])
    norms = np.sqrt(sum_sq - n_samples * means**2)
    corr /= norms
    corr /= np.linalg.norm(yc)
    corr[np.isnan(corr)] = 0.0
    r2 = corr**2
    f = r2 / (1 - r2) * (n_samples - 2)
    f[np.isinf(f)] = np.finfo(np.float64).max
    f[np.isnan(f)] = 0.0
    return f


def _ks_rows(XT: np.ndarray, y: np.ndarray) -> np.ndarray:
    # mrmr-selection: mean over classes of scipy's ks_2samp(class, rest) statistic.
    classes, codes = np.unique(y, return_inverse=True)
    n_classes = classes.size
    n_samples = XT.shape[1]
    counts = np.bincount(codes, minlength=n_classes)
    if n_classes < 2:
        return np.zeros(XT.shape[0])
    position = np.arange(1, n_samples + 1)
    out = np.empty(XT.shape[0])
    for start in range(0, XT.shape[0], _KS_CHUNK):
        block = XT[start : start + _KS_CHUNK]
        order = np.argsort(block, axis=1, kind="stable")
        values = np.take_along_axis(block, order, axis=1)
        labels = codes[order]
        # The empirical CDFs only take their value at the last of tied observations.
        last_of_tie = np.ones(values.shape, dtype=bool)
        last_of_tie[:, :-1] = values[:, 1:] != values[:, :-1]
        stats = np.empty((block.shape[0], n_classes))
        for k in range(n_classes):
            n1 = int(counts[k])
            n2 = n_samples - n1
            below_1 = np.cumsum(labels == k, axis=1)
            diff = below_1 / n1 - (position - below_1) / n2
            d = np.max(np.where(last_of_tie, np.abs(diff), 0.0), axis=1)
            if max(n1, n2) <= _KS_EXACT_MAX_N:
                lcm = (n1 // math.gcd(n1, n2)) * n2
                d = np.round(d * lcm) * 1.0 / lcm
            stats[:, k] = d
        out[start : start + _KS_CHUNK] = stats.sum(axis=1) / float(n_classes)
    return out


def _cox_score_rows(XT: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Univariate Cox score-test chi-square of each row of ``XT`` against the survival target ``y``
    ((n, 2): time, event), Breslow's handling of tied event times: ``U^2 / I`` with ``U`` the sum over events
    of the feature minus its risk-set mean, ``I`` the sum of the risk-set variances (one per event)."""
    from scipy import sparse

    time, event = y[:, 0], y[:, 1] > 0
    XT = XT - XT.mean(axis=1, keepdims=True)  # shift-invariant statistic; centring keeps E[x^2] - E[x]^2 accurate
    times, inv = np.unique(time, return_inverse=True)
    m, n = len(times), len(time)
    agg = sparse.csr_matrix((np.ones(n), (inv, np.arange(n))), shape=(m, n))  # distinct time x patient
    s0 = np.bincount(inv, minlength=m)[::-1].cumsum()[::-1].astype(float)    # at risk, by distinct time
    s1 = np.asarray(agg @ XT.T)[::-1].cumsum(axis=0)[::-1]                    # risk-set sums (m, p)
    s2 = np.asarray(agg @ (XT.T ** 2))[::-1].cumsum(axis=0)[::-1]
    d = np.bincount(inv, weights=event.astype(float), minlength=m)           # events by distinct time
    xe = np.asarray(agg @ (XT.T * event[:, None]))                           # sum of events' values
    live = d > 0
    mean = s1[live] / s0[live, None]
    var = s2[live] / s0[live, None] - mean ** 2
    U = (xe[live] - d[live, None] * mean).sum(axis=0)
    info = (d[live, None] * var).sum(axis=0)
    return np.where(info > 1e-12 * (1 + np.abs(U)), U ** 2 / np.where(info > 0, info, 1.0), 0.0)


def _rows_statistic(kind: str, task: str, XT: np.ndarray, y: np.ndarray, column_view=None) -> np.ndarray:
    if kind == "cox":
        return _cox_score_rows(XT, y)
    if kind == "ks":
        return _ks_rows(XT, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        if task == "classification":
            return _f_classif_rows(XT, y)
        return _f_regression_rows(XT, y, column_view)


def _column_relevance(kind: str, task: str, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """F or KS statistic of each feature against y, each on the rows where that feature is not missing."""
    XT = np.ascontiguousarray(X.T)
    strided = X.shape[1] > 1 and not X.flags.f_contiguous
    missing = np.isnan(XT)
    has_missing = missing.any(axis=1)
    out = np.zeros(XT.shape[0])
    complete = np.flatnonzero(~has_missing)
    if complete.size:
        view = None
        if strided and kind == "f" and task == "regression":
            view = np.ascontiguousarray(X[:, complete])
        out[complete] = _rows_statistic(kind, task, XT[complete], y, view)
    for j in np.flatnonzero(has_missing):
        rows = ~missing[j]
        y_rows = y[rows]
        if rows.sum() < 2 or (task == "classification" and np.unique(y_rows).size < 2):
            # mrmr-selection returns 0 for an all-missing column and raises for a single class; 0 here.
            continue
        # Dropping the missing rows copies the column, so it is contiguous whatever the table's layout.
        out[j] = _rows_statistic(kind, task, XT[j : j + 1, rows], y_rows)[0]
    return out


def _forest_relevance(task: str, X: np.ndarray, y: np.ndarray, random_state) -> np.ndarray:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    if np.isnan(X).any():
        # mrmr-selection's fill: one below the smallest value in the whole table.
        X = np.where(np.isnan(X), np.nanmin(X) - 1, X)
    forest_cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
    forest = forest_cls(max_depth=5, random_state=random_state).fit(X, y)
    return forest.feature_importances_.astype(np.float64)


def _relevance(relevance, task: str, X: np.ndarray, y: np.ndarray, random_state, owner: str) -> np.ndarray:
    if callable(relevance):
        scores = relevance(X, y)
        if isinstance(scores, tuple):  # sklearn score functions return (scores, p-values)
            scores = scores[0]
        scores = np.asarray(scores, dtype=np.float64).ravel()
        if scores.shape != (X.shape[1],):
            raise ValueError(
                f"{owner}: the relevance callable returned {scores.shape[0]} values for {X.shape[1]} features"
            )
    elif relevance == "rf":
        scores = _forest_relevance(task, X, y, random_state)
    else:
        scores = _column_relevance(relevance, task, X, y)
    scores = np.where(np.isnan(scores), 0.0, scores)
    # A constant column carries no information, but rounding can give it any F value (even inf).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        constant = ~(np.nanmax(X, axis=0) > np.nanmin(X, axis=0))
    scores[constant] = 0.0
    return scores


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
    R = np.full((n_cand, max(K, 1)), _FLOOR)
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
                R[update, i - 1] = np.clip(np.where(np.isnan(r), _FLOOR, r), _FLOOR, None)
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
        if (
            not isinstance(self.n_features, numbers.Integral)
            or isinstance(self.n_features, bool)
            or self.n_features < 1
        ):
            raise ValueError(f"{owner}: n_features must be a positive integer, got {self.n_features!r}")
        if self.redundancy != "pearson":
            raise ValueError(f"{owner}: redundancy must be 'pearson', got {self.redundancy!r}")
        if self.denominator not in ("mean", "max"):
            raise ValueError(f"{owner}: denominator must be 'mean' or 'max', got {self.denominator!r}")
        X, y = _validate_fit_data(self, X, y)
        self.task_ = _resolve_task(self.task, y, owner)
        relevance = _check_relevance(self.relevance, self.task_, owner)
        y = _prepare_target(y, self.task_, owner)

        self.relevance_ = _relevance(relevance, self.task_, X, y, self.random_state, owner)
        names = _feature_names(self)
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

    def __init__(self, freq_cut=95 / 5, unique_cut=10.0):
        self.freq_cut = freq_cut
        self.unique_cut = unique_cut

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
        owner = type(self).__name__
        for name in ("freq_cut", "unique_cut"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{owner}: {name} must be a non-negative number, got {value!r}")
        X, _ = _validate_fit_data(self, X, None, y_required=False)
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
    task : {"auto", "classification", "regression"}, default="auto"
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

    def __init__(self, threshold=0.9, *, relevance="f", task="auto", random_state=0):
        self.threshold = threshold
        self.relevance = relevance
        self.task = task
        self.random_state = random_state

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
        if (
            not isinstance(self.threshold, numbers.Real)
            or isinstance(self.threshold, bool)
            or not 0 <= self.threshold <= 1
        ):
            raise ValueError(f"{owner}: threshold must be a number in [0, 1], got {self.threshold!r}")
        if self.relevance is None:
            X, _ = _validate_fit_data(self, X, None, y_required=False)
            self.relevance_ = np.zeros(X.shape[1])
        else:
            if y is None:
                raise ValueError(
                    f"{owner} requires y to be passed, but the target y is None "
                    f"(relevance={self.relevance!r} ranks features by their relation to y; relevance=None does not)"
                )
            X, y = _validate_fit_data(self, X, y)
            task = _resolve_task(self.task, y, owner)
            relevance = _check_relevance(self.relevance, task, owner)
            y = _prepare_target(y, task, owner)
            self.relevance_ = _relevance(relevance, task, X, y, self.random_state, owner)

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


# --------------------------------------------------------------------------------------------------
# Robustness: features whose repeated measurements (perturbations, test-retest, observers) agree
# --------------------------------------------------------------------------------------------------


class RobustnessWarning(UserWarning):
    """Columns a :class:`RobustnessFilter` could not assess, or training cases without repeated measurements."""


class RobustnessFilter(SelectorMixin, BaseEstimator):
    """Keep the features whose intraclass correlation over repeated measurements of the *training* cases is
    high enough (Koo & Li 2016: judge by the lower bound of the ICC's 95 % confidence interval).

    The repeated measurements (image perturbations from ``radiomix robustness``, test-retest scans, several
    observers' masks) come in a long table keyed by case id, given at construction. At ``fit`` the filter
    keeps the rows of the cases it is fitted on and computes each feature's ICC from those alone
    (:func:`radiomix.reliability.icc`), so inside nested cross-validation a test patient's repeats never
    decide which features are kept. Columns of ``X`` that the table does not hold (clinical, genetic,
    encoded categorical columns) cannot be assessed: they are kept, and a :class:`RobustnessWarning` names
    them.

    Parameters
    ----------
    repeats : pandas.DataFrame
        One row per case and repeat: ``case``, optionally ``rater``, and feature columns named as in ``X``.
    case : str, default="id"
        Column of ``repeats`` holding the case id.
    rater : str or None, default=None
        Column of ``repeats`` naming shared raters (the same sessions, observers or scanners for every case):
        two-way ICC. None: repeats drawn independently per case (perturbations): one-way ICC(1,1).
    threshold : float, default=0.75
        A feature is kept when ``statistic`` exceeds it (Koo & Li: 0.75-0.9 good, > 0.9 excellent).
    statistic : {"ci_low", "icc"}, default="ci_low"
        The ICC's lower 95 % confidence bound, or the point estimate.
    form : str, default="auto"
        ICC form (:data:`radiomix.reliability.ICC_FORMS`); auto: ICC(2,1) with shared raters, ICC(1,1) without.
    ids : pandas.Series, array-like or None, default=None
        Case id of each row of ``X``, looked up by ``X``'s index labels (a Series indexed like the full table,
        or an array indexed by its row positions). None: ``X``'s index holds the case ids.
    min_cases : int, default=10
        Fewest training cases with repeats for which an ICC is computed; fewer is an error.

    Attributes
    ----------
    icc_, ci_low_, ci_high_ : ndarray of shape (n_features_in_,)
        ICC and its confidence bounds per input column (NaN for unassessed columns).
    assessed_ : ndarray of bool
        Columns the repeats table holds.
    support_ : ndarray of bool
        Kept columns: assessed and robust, or unassessed.
    form_, design_ : str
        The ICC form used and why.
    n_cases_ : int
        Training cases whose repeats were used; ``n_cases_without_repeats_`` those without any.

    Notes
    -----
    scikit-learn's ``check_estimator`` does not apply: the filter needs ``X`` as a DataFrame whose index (or
    ``ids``) names cases of the repeats table and whose columns are named as its features, which the generic
    checks (NumPy arrays of random numbers) cannot provide. Parameters are stored as given, validated in ``fit``;
    ``get_feature_names_out`` and ``set_output`` come from ``SelectorMixin`` (tests/test_robustness_filter.py).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiomix.select import RobustnessFilter
    >>> rng = np.random.default_rng(0)
    >>> truth = pd.DataFrame({"stable": rng.normal(size=30), "noisy": rng.normal(size=30)},
    ...                      index=[f"c{i}" for i in range(30)])
    >>> reps = pd.concat([truth.assign(noisy=truth["noisy"] + rng.normal(size=30)).rename_axis("id").reset_index()
    ...                   for _ in range(5)])
    >>> RobustnessFilter(reps, threshold=0.75).fit(truth).get_feature_names_out().tolist()
    ['stable']
    """

    def __init__(self, repeats=None, *, case="id", rater=None, threshold=0.75, statistic="ci_low", form="auto",
                 ids=None, min_cases=10):
        self.repeats = repeats
        self.case = case
        self.rater = rater
        self.threshold = threshold
        self.statistic = statistic
        self.form = form
        self.ids = ids
        self.min_cases = min_cases

    def _training_cases(self, X) -> np.ndarray:
        if self.ids is None:
            return X.index.astype(str).to_numpy()
        ids = self.ids if isinstance(self.ids, pd.Series) else pd.Series(np.asarray(self.ids))
        return ids.loc[X.index].astype(str).to_numpy()

    def _check(self, X) -> None:
        owner = type(self).__name__
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"{owner} needs X as a DataFrame (its index identifies the cases, its column names "
                            f"the features in the repeats table), got {type(X).__name__}")
        if not isinstance(self.repeats, pd.DataFrame) or self.case not in self.repeats.columns:
            raise ValueError(f"{owner}: repeats must be a DataFrame with the case column {self.case!r}")
        if self.statistic not in ("ci_low", "icc"):
            raise ValueError(f"{owner}: statistic must be 'ci_low' or 'icc', got {self.statistic!r}")
        if not isinstance(self.threshold, numbers.Real) or not -1 <= self.threshold <= 1:
            raise ValueError(f"{owner}: threshold must be a number in [-1, 1], got {self.threshold!r}")

    def fit(self, X, y=None):
        """Compute each feature's ICC from the repeats of the cases in ``X`` and keep the robust ones.

        Parameters
        ----------
        X : pandas.DataFrame of shape (n_samples, n_features)
            Training rows; the index (or ``ids``) identifies their cases.
        y : ignored

        Returns
        -------
        self : RobustnessFilter
        """
        from .reliability import icc

        self._check(X)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        rep = self._training_repeats(X)
        names = self.feature_names_in_.tolist()
        ids = {self.case, self.rater}
        self.assessed_ = np.array([c in rep.columns and c not in ids for c in names])
        if not self.assessed_.any():
            raise ValueError(f"{type(self).__name__}: none of the {len(names)} columns of X is in the repeats table "
                             f"(first columns of X: {names[:3]})")
        unassessed = [c for c, a in zip(names, self.assessed_) if not a]
        if unassessed:
            warnings.warn(f"{type(self).__name__}: {len(unassessed)} column(s) have no repeated measurements and are "
                          f"kept without an ICC: {unassessed[:5]}{' ...' if len(unassessed) > 5 else ''}",
                          RobustnessWarning, stacklevel=2)
        assessed = [c for c, a in zip(names, self.assessed_) if a]
        res = icc(rep, case=self.case, rater=self.rater, features=assessed, form=self.form)
        self.form_, self.design_ = res.attrs["form"], res.attrs["design"]
        for attr, col in (("icc_", "icc"), ("ci_low_", "ci_low"), ("ci_high_", "ci_high")):
            values = np.full(len(names), np.nan)
            values[self.assessed_] = res[col].reindex(assessed).to_numpy(float)
            setattr(self, attr, values)
        stat = self.ci_low_ if self.statistic == "ci_low" else self.icc_
        with np.errstate(invalid="ignore"):
            self.support_ = ~self.assessed_ | (stat > self.threshold)
        if not self.support_.any():
            raise ValueError(f"{type(self).__name__}: no feature has an ICC {self.statistic} above {self.threshold} "
                             f"on the repeats of the {self.n_cases_} training cases")
        return self

    def _training_repeats(self, X) -> pd.DataFrame:
        """The repeats table's rows of the cases in ``X``; counts what is found and what is not."""
        cases = pd.unique(self._training_cases(X))
        keys = self.repeats[self.case].astype(str)
        rep = self.repeats[keys.isin(set(cases)).to_numpy()]
        found = set(keys[keys.isin(set(cases))])
        self.n_cases_ = len(found)
        self.n_cases_without_repeats_ = len(cases) - len(found)
        if self.n_cases_ < self.min_cases:
            raise ValueError(f"{type(self).__name__}: {self.n_cases_} of the {len(cases)} training cases have rows in the "
                             f"repeats table (column {self.case!r}; e.g. case {cases[0]!r}); at least {self.min_cases} "
                             "are needed")
        if self.n_cases_without_repeats_:
            warnings.warn(f"{type(self).__name__}: {self.n_cases_without_repeats_} of {len(cases)} training cases have "
                          "no repeated measurements; the ICC uses the others", RobustnessWarning, stacklevel=3)
        return rep

    def _get_support_mask(self):
        check_is_fitted(self)
        return self.support_

    def icc_table(self) -> pd.DataFrame:
        """The fitted ICCs as a table: one row per input column, with ``assessed`` and ``kept``."""
        check_is_fitted(self)
        return pd.DataFrame({"icc": self.icc_, "ci_low": self.ci_low_, "ci_high": self.ci_high_,
                             "assessed": self.assessed_, "kept": self.support_}, index=self.feature_names_in_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = False
        return tags


def fitted_robustness_filters(estimator) -> list:
    """The fitted :class:`RobustnessFilter` steps inside ``estimator`` (a Pipeline, possibly nested or wrapped)."""
    params = estimator.get_params(deep=True).values() if hasattr(estimator, "get_params") else ()
    return [v for v in params if isinstance(v, RobustnessFilter) and hasattr(v, "support_")]


def robustness_summary(filters) -> pd.DataFrame:
    """Per assessed feature over fitted :class:`RobustnessFilter` s (one per outer fold): the median ICC and
    lower bound, the share of folds that kept it, and its pyradiomics image filter and feature class.

    Parameters
    ----------
    filters : list of RobustnessFilter
        Fitted filters (e.g. :func:`fitted_robustness_filters` of each outer-fold model).

    Returns
    -------
    pandas.DataFrame
        Indexed by feature: ``icc``, ``ci_low`` (medians over folds), ``kept`` (share of folds),
        ``n_folds``, ``image_filter``, ``feature_class``; sorted by ``ci_low`` descending.
    """
    frames = [f.icc_table().loc[lambda t: t["assessed"]] for f in filters]
    if not frames:
        return pd.DataFrame(columns=["icc", "ci_low", "kept", "n_folds", "image_filter", "feature_class"])
    both = pd.concat(frames, keys=range(len(frames)), names=["fold", "feature"])
    g = both.groupby(level="feature", sort=False)
    out = pd.DataFrame({"icc": g["icc"].median(), "ci_low": g["ci_low"].median(),
                        "kept": g["kept"].mean(), "n_folds": g.size()})
    from .tables import feature_name_parts

    parts = [feature_name_parts(n) for n in out.index]
    out["image_filter"] = [p[0] for p in parts]
    out["feature_class"] = [p[1] for p in parts]
    return out.sort_values("ci_low", ascending=False, kind="stable")


# --------------------------------------------------------------------------------------------------
# Stability across folds
# --------------------------------------------------------------------------------------------------


def _selection_of(item) -> tuple[list[str], bool]:
    """Selected names of one fold and whether their order means anything."""
    if hasattr(item, "steps"):  # a Pipeline: its last feature selector decides the output columns
        selectors = [step for _, step in item.steps if isinstance(step, SelectorMixin)]
        if not selectors:
            raise ValueError("selection_frequency: the pipeline has no feature-selection step")
        item = selectors[-1]
    if isinstance(item, MRMRSelector):
        check_is_fitted(item)
        return list(item.selected_features_), True
    if isinstance(item, SelectorMixin):
        return [str(n) for n in item.get_feature_names_out()], False
    if isinstance(item, str) or not isinstance(item, Iterable):
        raise TypeError(
            f"selection_frequency: expected fitted selectors, pipelines or lists of feature names, got {type(item).__name__}"
        )
    return [str(n) for n in item], True


def selection_frequency(selections, *, feature_names=None) -> pd.DataFrame:
    """How often each feature was selected over cross-validation folds.

    Parameters
    ----------
    selections : iterable
        One entry per fold: a fitted :class:`MRMRSelector` (its mRMR order is used), another fitted
        scikit-learn selector, a fitted Pipeline (its last selector step), or a list of feature names in
        selection order.
    feature_names : iterable of str, default=None
        All candidate features; those never selected are reported with count 0.

    Returns
    -------
    pandas.DataFrame
        Indexed by feature, sorted by decreasing frequency then mean rank, with columns ``n_selected``
        (folds that selected the feature), ``frequency`` (``n_selected / n_folds``) and ``mean_rank``
        (mean 1-based position in the folds that selected it, over the folds whose selection is ordered;
        NaN when none is).

    Examples
    --------
    >>> from radiomix.select import selection_frequency
    >>> selection_frequency([["a", "b"], ["a", "c"], ["b", "a"]])
       n_selected  frequency  mean_rank
    a           3   1.000000   1.333333
    b           2   0.666667   1.500000
    c           1   0.333333   2.000000
    """
    folds = [_selection_of(item) for item in selections]
    if not folds:
        raise ValueError("selection_frequency: no folds given")
    names: dict[str, None] = dict.fromkeys(str(n) for n in feature_names) if feature_names is not None else {}
    counts: dict[str, int] = {}
    ranks: dict[str, list[int]] = {}
    for selected, ordered in folds:
        for position, name in enumerate(selected, start=1):
            names.setdefault(name, None)
            counts[name] = counts.get(name, 0) + 1
            if ordered:
                ranks.setdefault(name, []).append(position)
    index = list(names)
    n_selected = np.array([counts.get(n, 0) for n in index], dtype=np.int64)
    mean_rank = np.array([np.mean(ranks[n]) if n in ranks else np.nan for n in index])
    table = pd.DataFrame(
        {"n_selected": n_selected, "frequency": n_selected / len(folds), "mean_rank": mean_rank},
        index=pd.Index(index, name="feature"),
    )
    first_seen = np.arange(len(index))
    order = np.lexsort((first_seen, np.nan_to_num(mean_rank, nan=np.inf), -n_selected))
    result = table.iloc[order]
    result.index.name = None
    return result
