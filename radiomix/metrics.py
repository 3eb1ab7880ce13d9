"""Performance metrics of out-of-fold predictions: binary metrics, AUC, calibration, decision curves and
percentile-bootstrap confidence intervals. Pure functions of arrays: nothing here fits a pipeline."""

from __future__ import annotations

import numpy as np

__all__ = ["METRICS", "BOOTSTRAP_SCHEME", "Resampler", "roc_auc", "binary_metrics", "bootstrap_ci", "bootstrap_auc", "calibration", "logistic_fit",
           "reliability_curve", "decision_curve"]

METRICS = ("auc", "accuracy", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "brier")


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank statistic (ties count one half), equal to sklearn's roc_auc_score."""
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return np.nan
    ranks = rankdata(p)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def binary_metrics(y: np.ndarray, p: np.ndarray, labels: np.ndarray) -> dict:
    """AUC, accuracy, balanced accuracy, sensitivity, specificity, PPV, NPV, F1 and Brier score.

    ``p`` are predicted probabilities of class 1, ``labels`` the 0/1 decisions at the chosen threshold.
    Ratios with an empty denominator are NaN (e.g. PPV when nothing is called positive).
    """
    y = np.asarray(y).astype(int)
    labels = np.asarray(labels).astype(int)
    tp = int(np.sum((labels == 1) & (y == 1)))
    tn = int(np.sum((labels == 0) & (y == 0)))
    fp = int(np.sum((labels == 1) & (y == 0)))
    fn = int(np.sum((labels == 0) & (y == 1)))

    def ratio(a, b):
        return a / b if b else np.nan

    sens, spec = ratio(tp, tp + fn), ratio(tn, tn + fp)
    ppv = ratio(tp, tp + fp)
    return {
        "auc": roc_auc(y, p),
        "accuracy": ratio(tp + tn, y.size),
        "balanced_accuracy": (sens + spec) / 2,
        "sensitivity": sens,
        "specificity": spec,
        "ppv": ppv,
        "npv": ratio(tn, tn + fn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "brier": float(np.mean((np.asarray(p, float) - y) ** 2)),
    }


#: How each metric's bootstrap resamples patients. Class-conditional metrics (AUC, sensitivity, specificity,
#: balanced accuracy) resample within each class, as pROC does for the AUC; metrics that depend on the
#: prevalence (accuracy, PPV, NPV, F1, Brier) resample patients freely, so the prevalence varies as it would
#: in a new sample (a frozen prevalence makes their CIs too narrow).
BOOTSTRAP_SCHEME = {"auc": "stratified", "sensitivity": "stratified", "specificity": "stratified",
                    "balanced_accuracy": "stratified", "accuracy": "simple", "ppv": "simple", "npv": "simple",
                    "f1": "simple", "brier": "simple"}


class Resampler:
    """Bootstrap resamples of patients: rows (or, with ``groups``, whole groups of rows: all lesions of a
    patient together), drawn within each class (``stratified``; a group's class is its largest label; any
    number of integer classes, a constant for an outcome without classes) or
    freely (``simple``, redrawn until both classes are present). With ``strata`` (e.g. the site of each row;
    a group takes its first row's) the stratified draw is within each stratum and class, so every stratum
    keeps its size and both classes (the per-site AUCs of a leave-site-out run stay defined)."""

    def __init__(self, y, groups=None, strata=None):
        y = np.asarray(y).astype(int)
        self.n = y.size
        if groups is None:
            self.order = np.arange(self.n)
            self.starts = np.arange(self.n)
            self.sizes = np.ones(self.n, int)
            self.unit_y = y
            first = np.arange(self.n)
        else:
            codes, uniq = _factorize(groups)
            self.order = np.argsort(codes, kind="stable")
            self.sizes = np.bincount(codes, minlength=len(uniq))
            self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
            self.unit_y = np.zeros(len(uniq), int)
            np.maximum.at(self.unit_y, codes, y)
            first = self.order[self.starts]
        unit_stratum = np.zeros(self.unit_y.size, int) if strata is None else _factorize(np.asarray(strata)[first])[0]
        self.by_class = [np.flatnonzero((self.unit_y == c) & (unit_stratum == s))
                         for s in np.unique(unit_stratum) for c in np.unique(self.unit_y)]

    def _rows(self, units: np.ndarray) -> np.ndarray:
        lengths = self.sizes[units]
        ends = np.cumsum(lengths)
        pos = np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - lengths, lengths) + \
            np.repeat(self.starts[units], lengths)
        return self.order[pos]

    def draw(self, rng, scheme: str) -> np.ndarray:
        """Row indices of one resample."""
        if scheme == "stratified":
            units = np.concatenate([rng.choice(u, u.size) for u in self.by_class if u.size])
            return self._rows(units)
        m = self.unit_y.size
        for _ in range(100):
            units = rng.integers(0, m, m)
            if 0 < self.unit_y[units].sum() < m:
                break
        return self._rows(units)


    def counts(self, rng, n_boot: int, scheme: str = "stratified") -> np.ndarray:
        """``n_boot`` resamples as count vectors ``(n_boot, n)``: how often each row is drawn (for statistics
        computed from counts instead of resampled rows)."""
        return np.vstack([np.bincount(self.draw(rng, scheme), minlength=self.n) for _ in range(n_boot)])


def _factorize(values):
    import pandas as pd

    codes, uniq = pd.factorize(pd.Series(np.asarray(values, dtype=object)), sort=False)
    return codes, uniq


def bootstrap_ci(y, p, labels, *, n_boot: int = 2000, alpha: float = 0.05, random_state=0, groups=None) -> dict:
    """Percentile bootstrap CIs of :func:`binary_metrics` over patients.

    ``y`` is a vector (n,), ``p``/``labels`` are (n,) or (n_repeats, n) out-of-fold predictions. Each
    metric resamples as :data:`BOOTSTRAP_SCHEME` says (within each class, or freely); with ``groups`` whole
    patients are resampled (every row of a patient together). Every metric is computed per repeat on the
    same resampled patients and averaged over repeats. Returns ``{metric: (low, high)}``.
    """
    y = np.asarray(y).astype(int)
    p = np.atleast_2d(np.asarray(p, float))
    labels = np.atleast_2d(np.asarray(labels))
    rng = np.random.default_rng(random_state)
    res = Resampler(y, groups)
    draws = {m: np.empty(n_boot) for m in METRICS}
    for scheme in ("stratified", "simple"):
        names = [m for m in METRICS if BOOTSTRAP_SCHEME[m] == scheme]
        for b in range(n_boot):
            idx = res.draw(rng, scheme)
            per = [binary_metrics(y[idx], p[r, idx], labels[r, idx]) for r in range(p.shape[0])]
            for m in names:
                draws[m][b] = np.nanmean([d[m] for d in per]) if any(np.isfinite(d[m]) for d in per) else np.nan
    lo, hi = 100 * alpha / 2, 100 * (1 - alpha / 2)
    return {m: (float(np.nanpercentile(v, lo)), float(np.nanpercentile(v, hi))) for m, v in draws.items()}


def _expit(z):
    from scipy.special import expit

    return expit(z)


def logistic_fit(x: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None, fit_slope: bool = True):
    """Maximum-likelihood logistic regression of y on (1, x) (or on 1 with ``offset``), by Newton steps."""
    X = np.column_stack([np.ones_like(x), x]) if fit_slope else np.ones((x.size, 1))
    off = np.zeros_like(x) if offset is None else offset
    beta = np.zeros(X.shape[1])
    for _ in range(100):
        eta = X @ beta + off
        mu = _expit(eta)
        w = np.maximum(mu * (1 - mu), 1e-12)
        step = np.linalg.lstsq(X.T @ (w[:, None] * X), X.T @ (y - mu), rcond=None)[0]
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def calibration(y, p) -> dict:
    """Calibration intercept (calibration-in-the-large: logistic intercept with the logit of ``p`` as
    offset) and slope (logistic regression of ``y`` on the logit of ``p``); 0 and 1 are ideal."""
    y = np.asarray(y, float)
    lp = np.log(np.clip(p, 1e-6, 1 - 1e-6) / (1 - np.clip(p, 1e-6, 1 - 1e-6)))
    intercept = float(logistic_fit(lp, y, offset=lp, fit_slope=False)[0])
    slope = float(logistic_fit(lp, y)[1])
    return {"intercept": intercept, "slope": slope}


def reliability_curve(y, p, n_bins: int = 10) -> dict:
    """Mean predicted probability vs observed fraction of positives per quantile bin (for plots)."""
    from sklearn.calibration import calibration_curve

    frac, mean = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
    return {"mean_predicted": mean.tolist(), "fraction_positive": frac.tolist()}


def decision_curve(y, p, thresholds=None) -> dict:
    """Net benefit of treating patients with ``p >= t`` over thresholds ``t`` (Vickers & Elkin 2006),
    beside treat-all (treat-none is 0)."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, float)
    t = np.asarray(thresholds if thresholds is not None else np.round(np.arange(0.01, 0.81, 0.01), 2))
    n = y.size
    nb, all_ = [], []
    prev = y.mean()
    for th in t:
        pos = p >= th
        tp, fp = np.sum(pos & (y == 1)), np.sum(pos & (y == 0))
        w = th / (1 - th)
        nb.append(tp / n - fp / n * w)
        all_.append(prev - (1 - prev) * w)
    return {"threshold": t.tolist(), "net_benefit": [float(v) for v in nb], "treat_all": [float(v) for v in all_]}


def bootstrap_auc(y, P, n_boot, rng, groups=None):
    """Percentile-bootstrap 95 % CI of the AUC averaged over the rows of ``P`` (repeats), resampling patients
    (whole groups when given) within each class with the generator ``rng``."""
    y = np.asarray(y).astype(int)
    res = Resampler(y, groups)
    draws = np.empty(n_boot)
    for b in range(n_boot):
        idx = res.draw(rng, "stratified")
        draws[b] = np.nanmean([roc_auc(y[idx], P[r, idx]) for r in range(P.shape[0])])
    return float(np.nanpercentile(draws, 2.5)), float(np.nanpercentile(draws, 97.5))
