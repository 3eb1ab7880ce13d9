"""Nested cross-validation, binary metrics and bootstrap confidence intervals.

Outer folds estimate performance; inside each outer training fold a random search over the inner folds
picks hyperparameters and the decision threshold, so nothing from an outer test fold reaches training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold, cross_val_predict

__all__ = ["NestedCVResult", "nested_cv", "binary_metrics", "bootstrap_ci", "roc_auc", "youden_threshold"]

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


def youden_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Threshold maximising sensitivity + specificity - 1 (midpoint between neighbouring scores)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(y, p)
    k = int(np.argmax(tpr - fpr))
    t = thr[k]
    if not np.isfinite(t):
        return 0.5
    below = p[p < t]
    return float((t + below.max()) / 2) if below.size else float(t)


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


def bootstrap_ci(y, p, labels, *, n_boot: int = 2000, alpha: float = 0.05, random_state=0) -> dict:
    """Percentile bootstrap CIs of :func:`binary_metrics` over patients.

    ``y`` is a vector (n,), ``p``/``labels`` are (n,) or (n_repeats, n) out-of-fold predictions; each
    resample draws patients with replacement within each class (so both classes are always present),
    computes every metric per repeat on the same patients and averages over repeats. Returns
    ``{metric: (low, high)}``.
    """
    y = np.asarray(y).astype(int)
    p = np.atleast_2d(np.asarray(p, float))
    labels = np.atleast_2d(np.asarray(labels))
    rng = np.random.default_rng(random_state)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    draws = {m: np.empty(n_boot) for m in METRICS}
    for b in range(n_boot):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        per = [binary_metrics(y[idx], p[r, idx], labels[r, idx]) for r in range(p.shape[0])]
        for m in METRICS:
            draws[m][b] = np.nanmean([d[m] for d in per]) if any(np.isfinite(d[m]) for d in per) else np.nan
    lo, hi = 100 * alpha / 2, 100 * (1 - alpha / 2)
    return {m: (float(np.nanpercentile(v, lo)), float(np.nanpercentile(v, hi))) for m, v in draws.items()}


@dataclass
class NestedCVResult:
    """Everything a nested cross-validation produced.

    oof : one row per sample and repeat: ``id, repeat, fold, y, proba, threshold, label`` (+ ``site``).
    folds : one row per outer fold: metrics on that fold's test samples, chosen threshold and parameters.
    summary : ``{metric: {"estimate", "ci_low", "ci_high"}}`` pooled over out-of-fold predictions
        (averaged over repeats), plus per-fold AUC mean and sd under ``"auc_folds"``.
    """

    oof: pd.DataFrame
    folds: pd.DataFrame
    summary: dict
    settings: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        a = self.summary["auc"]
        f = self.summary["auc_folds"]
        return (f"NestedCVResult(AUC {a['estimate']:.3f} [95% CI {a['ci_low']:.3f}-{a['ci_high']:.3f}], "
                f"per-fold {f['mean']:.3f} +- {f['sd']:.3f} over {f['n']} folds)")


def _outer_fold(pipeline, X, y, train, test, space, inner_splits, n_candidates, scoring, threshold, seed):
    t0 = time.perf_counter()
    Xtr, ytr = X.iloc[train], y[train]
    inner = StratifiedKFold(n_splits=inner_splits, shuffle=True, random_state=seed)
    if space:
        n_grid = int(np.prod([len(v) for v in space.values()]))
        search = RandomizedSearchCV(
            clone(pipeline), space, n_iter=min(n_candidates, n_grid), scoring=scoring, cv=inner,
            random_state=seed, refit=True, n_jobs=1, error_score="raise",
        )
        search.fit(Xtr, ytr)
        best, params, inner_score = search.best_estimator_, search.best_params_, float(search.best_score_)
    else:
        best, params, inner_score = clone(pipeline).fit(Xtr, ytr), {}, np.nan
    if threshold == "youden":
        # Threshold from out-of-fold predictions inside the training fold: never from the test fold.
        inner_p = cross_val_predict(clone(best), Xtr, ytr, cv=inner, method="predict_proba")[:, 1]
        thr = youden_threshold(ytr, inner_p)
    else:
        thr = float(threshold)
    proba = best.predict_proba(X.iloc[test])[:, 1]
    return {"test": test, "proba": proba, "threshold": thr, "params": params, "inner_score": inner_score,
            "seconds": time.perf_counter() - t0}


def nested_cv(
    pipeline,
    X: pd.DataFrame,
    y,
    *,
    param_distributions: dict | None = None,
    outer_splits: int = 5,
    n_repeats: int = 1,
    inner_splits: int = 3,
    n_candidates: int = 10,
    scoring: str = "roc_auc",
    threshold="youden",
    n_bootstrap: int = 2000,
    ids=None,
    sites=None,
    random_state: int = 0,
    n_jobs: int = 1,
    progress: bool = True,
) -> NestedCVResult:
    """Nested cross-validation of a binary classifier Pipeline.

    Outer: stratified k-fold, repeated ``n_repeats`` times with different shuffles. Inner: random search
    of ``n_candidates`` points of ``param_distributions`` over stratified ``inner_splits`` folds of the
    outer training fold, refit on the whole training fold; the decision threshold (Youden on the inner
    out-of-fold predictions, or a fixed number) is also chosen there. Metrics pool the out-of-fold
    predictions; 95 % CIs are percentile bootstrap over patients (:func:`bootstrap_ci`).

    Deterministic for a given ``random_state``; outer folds run in parallel with ``n_jobs``.
    """
    y = np.asarray(y).astype(int)
    X = X.reset_index(drop=True) if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    n = len(y)
    if len(X) != n:
        raise ValueError(f"X has {len(X)} rows but y has {n}")
    counts = np.bincount(y, minlength=2)
    if counts.min() < outer_splits:
        raise ValueError(f"the smaller class has {counts.min()} samples: fewer than outer_splits={outer_splits}")
    ids = np.asarray(ids if ids is not None else np.arange(n)).astype(str)
    rng = np.random.default_rng(random_state)
    tasks = []
    for r in range(n_repeats):
        seed = int(rng.integers(0, 2**31 - 1))
        outer = StratifiedKFold(n_splits=outer_splits, shuffle=True, random_state=seed)
        for k, (train, test) in enumerate(outer.split(X, y)):
            tasks.append((r, k, train, test, seed + k))

    from joblib import Parallel, delayed

    space = param_distributions or {}
    calls = (delayed(_outer_fold)(pipeline, X, y, tr, te, space, inner_splits, n_candidates, scoring, threshold, s)
             for (_, _, tr, te, s) in tasks)
    results = Parallel(n_jobs=n_jobs, return_as="generator")(calls)
    if progress:
        from rich.progress import track

        results = track(results, total=len(tasks), description="nested CV (outer folds)")
    results = list(results)

    oof_rows, fold_rows = [], []
    P = np.full((n_repeats, n), np.nan)
    L = np.zeros((n_repeats, n), dtype=int)
    for (r, k, _, test, _), res in zip(tasks, results):
        labels = (res["proba"] >= res["threshold"]).astype(int)
        P[r, test], L[r, test] = res["proba"], labels
        frame = {"id": ids[test], "repeat": r, "fold": k, "y": y[test], "proba": res["proba"],
                 "threshold": res["threshold"], "label": labels}
        if sites is not None:
            frame["site"] = np.asarray(sites)[test]
        oof_rows.append(pd.DataFrame(frame))
        m = binary_metrics(y[test], res["proba"], labels)
        fold_rows.append({"repeat": r, "fold": k, "n_test": len(test), "n_pos_test": int(y[test].sum()), **m,
                          "threshold": res["threshold"], "inner_score": res["inner_score"],
                          "seconds": round(res["seconds"], 3), "params": res["params"]})
    oof = pd.concat(oof_rows, ignore_index=True)
    folds = pd.DataFrame(fold_rows)

    per_repeat = [binary_metrics(y, P[r], L[r]) for r in range(n_repeats)]
    ci = bootstrap_ci(y, P, L, n_boot=n_bootstrap, random_state=random_state) if n_bootstrap else {}
    summary = {}
    for m in METRICS:
        est = float(np.nanmean([d[m] for d in per_repeat]))
        lo, hi = ci.get(m, (np.nan, np.nan))
        summary[m] = {"estimate": est, "ci_low": lo, "ci_high": hi}
    summary["auc_folds"] = {"mean": float(folds["auc"].mean()), "sd": float(folds["auc"].std(ddof=1)),
                            "n": int(len(folds))}
    summary["n_samples"], summary["n_positive"] = int(n), int(y.sum())
    settings = {"outer_splits": outer_splits, "n_repeats": n_repeats, "inner_splits": inner_splits,
                "n_candidates": n_candidates, "scoring": scoring, "threshold": threshold,
                "n_bootstrap": n_bootstrap, "ci_method": "percentile bootstrap over patients, stratified by class",
                "random_state": random_state}
    return NestedCVResult(oof=oof, folds=folds, summary=summary, settings=settings)
