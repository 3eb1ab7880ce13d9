"""Relevance of every feature to the outcome, vectorised over columns: F statistic (classification,
regression), Kolmogorov-Smirnov, the univariate Cox score test (survival) and random-forest importance,
each on the column's non-missing rows as mrmr-selection computes it."""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["FLOOR", "feature_relevance", "column_relevance", "rows_statistic", "cox_score_rows"]

# mrmr-selection's floor for |correlation|: also the value of every redundancy it never computes.
FLOOR = 0.001
# scipy's ks_2samp rounds the statistic to a multiple of 1/lcm(n1, n2) when it computes exact p-values.
_KS_EXACT_MAX_N = 10000
# Columns per chunk in the KS relevance: bounds the (chunk, n_samples) temporaries.
_KS_CHUNK = 256


# --------------------------------------------------------------------------------------------------
# Relevance, one value per feature. XT is (n_features, n_samples), so each feature is a contiguous row:
# numpy then sums a feature in the same (pairwise) order as mrmr-selection summing that column alone,
# which keeps the statistics bit-identical.
# --------------------------------------------------------------------------------------------------


def f_classif_rows(XT: np.ndarray, y: np.ndarray) -> np.ndarray:
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


def f_regression_rows(XT: np.ndarray, y: np.ndarray, column_view: np.ndarray | None = None) -> np.ndarray:
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


def ks_rows(XT: np.ndarray, y: np.ndarray) -> np.ndarray:
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


def cox_score_rows(XT: np.ndarray, y: np.ndarray) -> np.ndarray:
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


def _f_classif(XT: np.ndarray, y: np.ndarray, column_view=None) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return f_classif_rows(XT, y)


def _f_regression(XT: np.ndarray, y: np.ndarray, column_view=None) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return f_regression_rows(XT, y, column_view)


def _ks(XT: np.ndarray, y: np.ndarray, column_view=None) -> np.ndarray:
    return ks_rows(XT, y)


def _cox(XT: np.ndarray, y: np.ndarray, column_view=None) -> np.ndarray:
    return cox_score_rows(XT, y)


#: The statistic of each (relevance, task) pair the selectors accept (``check_relevance`` refuses the others).
_STATISTICS = {
    ("f", "classification"): _f_classif,
    ("f", "regression"): _f_regression,
    ("ks", "classification"): _ks,
    ("cox", "survival"): _cox,
}
#: Statistics whose last bits depend on the memory layout of the table (see ``f_regression_rows``).
_LAYOUT_SENSITIVE = {_f_regression}
#: Tasks whose ``y`` holds class labels: a column observed on rows of a single class gets relevance 0.
_LABEL_TASKS = {"classification"}
#: The random forest behind ``relevance="rf"`` for each task (sklearn.ensemble names).
_FOREST = {"classification": "RandomForestClassifier", "regression": "RandomForestRegressor"}


def rows_statistic(kind: str, task: str, XT: np.ndarray, y: np.ndarray, column_view=None) -> np.ndarray:
    return _STATISTICS[(kind, task)](XT, y, column_view)


def column_relevance(kind: str, task: str, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """F or KS statistic of each feature against y, each on the rows where that feature is not missing."""
    statistic = _STATISTICS[(kind, task)]
    XT = np.ascontiguousarray(X.T)
    strided = X.shape[1] > 1 and not X.flags.f_contiguous
    missing = np.isnan(XT)
    has_missing = missing.any(axis=1)
    out = np.zeros(XT.shape[0])
    complete = np.flatnonzero(~has_missing)
    if complete.size:
        view = None
        if strided and statistic in _LAYOUT_SENSITIVE:
            view = np.ascontiguousarray(X[:, complete])
        out[complete] = statistic(XT[complete], y, view)
    labels = task in _LABEL_TASKS
    for j in np.flatnonzero(has_missing):
        rows = ~missing[j]
        y_rows = y[rows]
        if rows.sum() < 2 or (labels and np.unique(y_rows).size < 2):
            # mrmr-selection returns 0 for an all-missing column and raises for a single class; 0 here.
            continue
        # Dropping the missing rows copies the column, so it is contiguous whatever the table's layout.
        out[j] = statistic(XT[j : j + 1, rows], y_rows)[0]
    return out


def forest_relevance(task: str, X: np.ndarray, y: np.ndarray, random_state) -> np.ndarray:
    from sklearn import ensemble

    if np.isnan(X).any():
        # mrmr-selection's fill: one below the smallest value in the whole table.
        X = np.where(np.isnan(X), np.nanmin(X) - 1, X)
    forest_cls = getattr(ensemble, _FOREST[task])
    forest = forest_cls(max_depth=5, random_state=random_state).fit(X, y)
    return forest.feature_importances_.astype(np.float64)


def feature_relevance(relevance, task: str, X: np.ndarray, y: np.ndarray, random_state, owner: str) -> np.ndarray:
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
        scores = forest_relevance(task, X, y, random_state)
    else:
        scores = column_relevance(relevance, task, X, y)
    scores = np.where(np.isnan(scores), 0.0, scores)
    # A constant column carries no information, but rounding can give it any F value (even inf).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        constant = ~(np.nanmax(X, axis=0) > np.nanmin(X, axis=0))
    scores[constant] = 0.0
    return scores
