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
from sklearn.model_selection import StratifiedKFold, cross_val_predict

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


def _logistic_1d(x: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None, fit_slope: bool = True):
    """Maximum-likelihood logistic regression of y on (1, x) (or on 1 with ``offset``), by Newton steps."""
    X = np.column_stack([np.ones_like(x), x]) if fit_slope else np.ones((x.size, 1))
    off = np.zeros_like(x) if offset is None else offset
    beta = np.zeros(X.shape[1])
    for _ in range(100):
        eta = X @ beta + off
        mu = 1 / (1 + np.exp(-eta))
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
    intercept = float(_logistic_1d(lp, y, offset=lp, fit_slope=False)[0])
    slope = float(_logistic_1d(lp, y)[1])
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


@dataclass
class NestedCVResult:
    """Everything a nested cross-validation produced.

    oof : one row per sample and repeat: ``id, repeat, fold, y, proba, threshold, label`` (+ ``site``, and
        ``proba_<block>`` per block with late fusion).
    folds : one row per outer fold: metrics on its test samples, chosen threshold and hyperparameters,
        candidates tried, seconds (+ ``test_site`` for leave-one-site-out, ``selected``: the features
        the fold's model saw when the pipeline has a selection step).
    summary : ``{metric: {"estimate", "ci_low", "ci_high"}}`` pooled over out-of-fold predictions
        (averaged over repeats); ``auc_folds`` (per-fold mean, sd); ``calibration``, ``reliability``,
        ``decision_curve``; ``blocks`` (late fusion: AUC with CI per block); ``per_site`` (AUC per site).
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


def _inner_cv(n_splits: int, groups, seed: int):
    from sklearn.model_selection import StratifiedGroupKFold

    if groups is not None:
        return StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)


def _search(pipeline, space, X, y, groups, inner, method, n_candidates, time_budget, scoring, seed):
    """Pick hyperparameters on the inner folds; returns (fitted best pipeline, params, score, n_tried)."""
    from sklearn.model_selection import ParameterGrid, ParameterSampler, cross_val_score

    if not space:
        return clone(pipeline).fit(X, y), {}, np.nan, 0
    if method == "halving":
        from sklearn.experimental import enable_halving_search_cv  # noqa: F401
        from sklearn.model_selection import HalvingRandomSearchCV

        s = HalvingRandomSearchCV(clone(pipeline), space, n_candidates=n_candidates, cv=inner, scoring=scoring,
                                  random_state=seed, refit=True, n_jobs=1, error_score=np.nan, min_resources="smallest")
        s.fit(X, y, groups=groups)
        return s.best_estimator_, s.best_params_, float(s.best_score_), int(len(s.cv_results_["params"]))
    if method == "grid":
        candidates = list(ParameterGrid(space))
    else:
        n_grid = int(np.prod([len(v) for v in space.values()]))
        candidates = list(ParameterSampler(space, n_iter=min(n_candidates, n_grid), random_state=seed))
    t0 = time.perf_counter()
    scores = []
    for params in candidates:
        est = clone(pipeline).set_params(**params)
        s = cross_val_score(est, X, y, groups=groups, cv=inner, scoring=scoring, error_score=np.nan)
        scores.append(float(np.nanmean(s)) if np.isfinite(s).any() else np.nan)
        if time_budget is not None and time.perf_counter() - t0 > time_budget:
            break
    if not np.isfinite(scores).any():
        raise RuntimeError("every hyperparameter candidate failed on the inner folds; check the search space")
    k = int(np.nanargmax(scores))
    best = clone(pipeline).set_params(**candidates[k]).fit(X, y)
    return best, candidates[k], scores[k], len(scores)


def _outer_fold(pipeline, X, y, groups, train, test, space, opts, seed):
    t0 = time.perf_counter()
    Xtr, ytr = X.iloc[train], y[train]
    gtr = None if groups is None else np.asarray(groups)[train]
    inner = _inner_cv(opts["inner_splits"], gtr, seed)
    best, params, inner_score, n_tried = _search(pipeline, space, Xtr, ytr, gtr, inner, opts["search"],
                                                 opts["n_candidates"], opts["time_budget"], opts["scoring"], seed)
    if opts["threshold"] == "youden":
        # Threshold from out-of-fold predictions inside the training fold: never from the test fold.
        inner_p = cross_val_predict(clone(best), Xtr, ytr, groups=gtr, cv=inner, method="predict_proba")[:, 1]
        thr = youden_threshold(ytr, inner_p)
    else:
        thr = float(opts["threshold"])
    Xte = X.iloc[test]
    proba = best.predict_proba(Xte)[:, 1]
    selected = None
    named = getattr(best, "named_steps", {})
    for step in ("mrmr", "corr", "nzv"):  # the features the model saw, after the last selector
        if step in named:
            selected = [str(c) for c in named[step].get_feature_names_out()]
            break
    blocks = {}
    final = best.steps[-1][1] if hasattr(best, "steps") else best
    if hasattr(final, "estimators_") and hasattr(final, "named_estimators_"):
        for name, est in final.named_estimators_.items():  # late fusion: each block's own prediction
            blocks[name] = est.predict_proba(Xte)[:, 1]
    return {"test": test, "proba": proba, "threshold": thr, "params": params, "inner_score": inner_score,
            "n_candidates": n_tried, "blocks": blocks, "selected": selected, "seconds": time.perf_counter() - t0}


def _bootstrap_auc(y, P, n_boot, rng):
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    draws = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        draws[b] = np.nanmean([roc_auc(y[idx], P[r, idx]) for r in range(P.shape[0])])
    return float(np.nanpercentile(draws, 2.5)), float(np.nanpercentile(draws, 97.5))


def _outer_splits(X, y, outer, outer_splits, n_repeats, groups, sites, random_state):
    """The outer folds of :func:`nested_cv`: ``(repeat, fold, train, test, seed)`` for one ``random_state``
    (also used by :func:`radiomix.explain.nested_cv_shap` to refit the same folds)."""
    from sklearn.model_selection import StratifiedGroupKFold

    rng = np.random.default_rng(random_state)
    tasks = []
    if outer == "leave_site_out":
        if sites is None:
            raise ValueError("outer='leave_site_out' needs sites (the batch column)")
        s_arr = np.asarray(sites).astype(str)
        for k, s in enumerate(sorted(set(s_arr))):
            tasks.append((0, k, np.flatnonzero(s_arr != s), np.flatnonzero(s_arr == s), int(rng.integers(0, 2**31 - 1))))
        return tasks
    for r in range(n_repeats):
        seed = int(rng.integers(0, 2**31 - 1))
        if outer == "grouped":
            if groups is None:
                raise ValueError("outer='grouped' needs groups")
            splits = StratifiedGroupKFold(outer_splits, shuffle=True, random_state=seed).split(X, y, groups)
        elif outer == "stratified":
            splits = StratifiedKFold(n_splits=outer_splits, shuffle=True, random_state=seed).split(X, y)
        else:
            raise ValueError(f"outer must be 'stratified', 'grouped' or 'leave_site_out', got {outer!r}")
        for k, (train, test) in enumerate(splits):
            tasks.append((r, k, train, test, seed + k))
    return tasks


def nested_cv(
    pipeline,
    X: pd.DataFrame,
    y=None,
    *,
    param_distributions: dict | None = None,
    outer: str = "stratified",
    outer_splits: int = 5,
    n_repeats: int = 1,
    inner_splits: int = 3,
    search: str = "random",
    n_candidates: int = 10,
    time_budget: float | None = None,
    scoring: str = "roc_auc",
    threshold="youden",
    n_bootstrap: int = 2000,
    n_bins: int = 10,
    groups=None,
    sites=None,
    ids=None,
    random_state: int = 0,
    n_jobs: int = 1,
    progress: bool = True,
) -> NestedCVResult:
    """Nested cross-validation of a binary classifier Pipeline, or of a ``radiomix train`` config.

    ``pipeline`` may be a scikit-learn/imbalanced-learn Pipeline (then ``X``, ``y`` are the data), or a
    config dict (path or dict, see :func:`radiomix.config.load_config`) with ``X`` the whole table: the
    config then sets the pipeline, search space, folds and every option below.

    Outer folds: ``"stratified"`` (k-fold, repeated ``n_repeats`` times with new shuffles), ``"grouped"``
    (stratified group k-fold on ``groups``: rows of one patient never split), or ``"leave_site_out"``
    (each site of ``sites`` in turn is the test set). Inside each outer training fold a search
    (``"random"``: ``n_candidates`` random points; ``"grid"``; ``"halving"``: successive halving), bounded
    by ``time_budget`` seconds when given, picks hyperparameters on ``inner_splits`` folds, then the
    decision threshold (Youden on inner out-of-fold predictions, or a fixed number) is chosen there too.
    Metrics pool the out-of-fold predictions; 95 % CIs are a percentile bootstrap over patients
    (:func:`bootstrap_ci`). Deterministic for a given ``random_state`` (without ``time_budget``); outer
    folds run in parallel with ``n_jobs``.
    """
    if isinstance(pipeline, (dict, str)) or (hasattr(pipeline, "__fspath__")):
        from .config import load_config, validate_config
        from .pipeline import make_pipeline, prepare_data, search_space

        cfg = validate_config(pipeline) if isinstance(pipeline, dict) else load_config(pipeline)
        Xd, yd, info = prepare_data(X, cfg)
        pipe = make_pipeline(cfg, info["features"], groups=info["column_groups"], categorical=info["categorical"])
        res = nested_cv(
            pipe, Xd, yd, param_distributions=search_space(cfg, pipe), outer=cfg["cv"]["outer"]["kind"],
            outer_splits=cfg["cv"]["outer"]["n_splits"], n_repeats=cfg["cv"]["outer"]["n_repeats"],
            inner_splits=cfg["cv"]["inner"]["n_splits"], search=cfg["search"]["method"],
            n_candidates=cfg["search"]["n_candidates"], time_budget=cfg["search"]["time_budget"],
            scoring=cfg["cv"]["inner"]["scoring"], threshold=cfg["threshold"], n_bootstrap=cfg["bootstrap"],
            n_bins=cfg["calibration"]["n_bins"], groups=info["groups"], sites=info["batch"], ids=info["ids"],
            random_state=cfg["random_state"], n_jobs=cfg["n_jobs"], progress=progress,
        )
        res.settings["config"] = cfg
        res.settings["info"] = {k: info[k] for k in ("features", "categorical", "column_groups", "classes",
                                                     "n_dropped_missing_target")}
        return res

    y = np.asarray(y).astype(int)
    X = X.reset_index(drop=True) if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    n = len(y)
    if len(X) != n:
        raise ValueError(f"X has {len(X)} rows but y has {n}")
    if set(np.unique(y)) - {0, 1}:
        raise ValueError("nested_cv supports binary 0/1 targets; multiclass and regression are not supported yet")
    counts = np.bincount(y, minlength=2)
    ids = np.asarray(ids if ids is not None else np.arange(n)).astype(str)
    if outer == "leave_site_out":
        if sites is None:
            raise ValueError("outer='leave_site_out' needs sites (the batch column)")
        n_repeats = 1
        site_names = sorted(set(np.asarray(sites).astype(str)))
    elif counts.min() < outer_splits:
        raise ValueError(f"the smaller class has {counts.min()} samples: fewer than outer_splits={outer_splits}")
    tasks = [(r, k, tr, te, s, site_names[k] if outer == "leave_site_out" else None)
             for r, k, tr, te, s in _outer_splits(X, y, outer, outer_splits, n_repeats, groups, sites, random_state)]

    from joblib import Parallel, delayed

    space = param_distributions or {}
    opts = {"inner_splits": inner_splits, "search": search, "n_candidates": n_candidates, "time_budget": time_budget,
            "scoring": scoring, "threshold": threshold}
    calls = (delayed(_outer_fold)(pipeline, X, y, groups, tr, te, space, opts, s) for (_, _, tr, te, s, _) in tasks)
    results = Parallel(n_jobs=n_jobs, return_as="generator")(calls)
    if progress:
        from rich.progress import track

        results = track(results, total=len(tasks), description="nested CV (outer folds)")
    results = list(results)

    oof_rows, fold_rows = [], []
    P = np.full((n_repeats, n), np.nan)
    L = np.zeros((n_repeats, n), dtype=int)
    block_names = list(results[0]["blocks"]) if results else []
    B = {b: np.full((n_repeats, n), np.nan) for b in block_names}
    for (r, k, _, test, _, site), res in zip(tasks, results):
        labels = (res["proba"] >= res["threshold"]).astype(int)
        P[r, test], L[r, test] = res["proba"], labels
        frame = {"id": ids[test], "repeat": r, "fold": k, "y": y[test], "proba": res["proba"],
                 "threshold": res["threshold"], "label": labels}
        if sites is not None:
            frame["site"] = np.asarray(sites)[test]
        for b in block_names:
            B[b][r, test] = res["blocks"][b]
            frame[f"proba_{b}"] = res["blocks"][b]
        oof_rows.append(pd.DataFrame(frame))
        m = binary_metrics(y[test], res["proba"], labels)
        row = {"repeat": r, "fold": k, "n_test": len(test), "n_pos_test": int(y[test].sum()), **m,
               "threshold": res["threshold"], "inner_score": res["inner_score"],
               "n_candidates": res["n_candidates"], "seconds": round(res["seconds"], 3), "params": res["params"]}
        if res["selected"] is not None:
            row["selected"] = res["selected"]
        if site is not None:
            row = {"test_site": site, **row}
        fold_rows.append(row)
    oof = pd.concat(oof_rows, ignore_index=True)
    folds = pd.DataFrame(fold_rows)

    if np.isnan(P).any():
        raise RuntimeError("some samples received no out-of-fold prediction")
    per_repeat = [binary_metrics(y, P[r], L[r]) for r in range(n_repeats)]
    ci = bootstrap_ci(y, P, L, n_boot=n_bootstrap, random_state=random_state) if n_bootstrap else {}
    summary = {}
    for m in METRICS:
        est = float(np.nanmean([d[m] for d in per_repeat]))
        lo, hi = ci.get(m, (np.nan, np.nan))
        summary[m] = {"estimate": est, "ci_low": lo, "ci_high": hi}
    summary["auc_folds"] = {"mean": float(folds["auc"].mean()), "sd": float(folds["auc"].std(ddof=1)),
                            "n": int(folds["auc"].notna().sum())}
    pbar = P.mean(axis=0)
    summary["calibration"] = calibration(y, pbar)
    summary["reliability"] = reliability_curve(y, pbar, n_bins)
    summary["decision_curve"] = decision_curve(y, pbar)
    brng = np.random.default_rng(random_state + 1)
    if block_names:
        summary["blocks"] = {}
        for b in block_names:
            est = float(np.mean([roc_auc(y, B[b][r]) for r in range(n_repeats)]))
            lo, hi = _bootstrap_auc(y, B[b], n_bootstrap, brng) if n_bootstrap else (np.nan, np.nan)
            summary["blocks"][b] = {"auc": {"estimate": est, "ci_low": lo, "ci_high": hi}}
    if sites is not None:
        s_arr = np.asarray(sites).astype(str)
        summary["per_site"] = {
            s: {"n": int((s_arr == s).sum()), "n_positive": int(y[s_arr == s].sum()),
                "auc": float(np.mean([roc_auc(y[s_arr == s], P[r, s_arr == s]) for r in range(n_repeats)]))}
            for s in sorted(set(s_arr))
        }
    summary["n_samples"], summary["n_positive"] = int(n), int(y.sum())
    settings = {"outer": outer, "outer_splits": outer_splits, "n_repeats": n_repeats, "inner_splits": inner_splits,
                "search": search, "n_candidates": n_candidates, "time_budget": time_budget, "scoring": scoring,
                "threshold": threshold, "n_bootstrap": n_bootstrap,
                "ci_method": "percentile bootstrap over patients, stratified by class", "random_state": random_state}
    return NestedCVResult(oof=oof, folds=folds, summary=summary, settings=settings)


def score_external(model, table: pd.DataFrame, target: str, *, n_bootstrap: int = 2000, random_state: int = 0) -> dict:
    """Score a saved model on an external cohort: the same metrics and 95 % CIs as nested CV, at the
    model's own threshold, plus calibration. ``model`` is a :class:`radiomix.model.RadiomixModel`."""
    if target not in table.columns:
        raise ValueError(f"target column {target!r} not found; columns: {list(table.columns)[:20]}")
    keep = table[target].notna()
    t = table.loc[keep]
    classes = list(model.classes)
    y_raw = t[target]

    def key(v):  # 1, 1.0 and "1" are the same label
        try:
            return float(v)
        except (TypeError, ValueError):
            return str(v)

    known = {key(c) for c in classes}
    unknown = sorted({str(v) for v in y_raw if key(v) not in known})
    if unknown:
        raise ValueError(f"target {target!r} holds values {unknown} that the model's classes {classes} lack")
    y = np.array([key(v) == key(classes[1]) for v in y_raw], dtype=int)
    pred = model.predict(t)
    p, lab = pred["proba"].to_numpy(), pred["label"].to_numpy()
    point = binary_metrics(y, p, lab)
    ci = bootstrap_ci(y, p, lab, n_boot=n_bootstrap, random_state=random_state) if n_bootstrap else {}
    out = {m: {"estimate": float(point[m]), "ci_low": ci.get(m, (np.nan,))[0], "ci_high": ci.get(m, (np.nan, np.nan))[1]}
           for m in METRICS}
    out["calibration"] = calibration(y, p)
    out["n_samples"], out["n_positive"] = int(len(y)), int(y.sum())
    out["n_novel"] = int(pred["novel"].sum())
    out["threshold"] = float(model.threshold)
    return out
