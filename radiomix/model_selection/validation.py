"""Nested cross-validation of a :class:`radiomix.study.Study`, and scoring on external cohorts.

Outer folds estimate performance; inside each outer training fold the search (:mod:`radiomix.search`)
picks hyperparameters and the decision threshold, so nothing from an outer test fold reaches training.
The metric functions live in :mod:`radiomix.metrics` (re-exported here).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..interrupts import raise_if_interrupted
from ..metrics import (
    METRICS,
    binary_metrics,
    bootstrap_auc,
    bootstrap_ci,
    calibration,
    decision_curve,
    reliability_curve,
    roc_auc,
)
from ..outcomes.records import optimism
from ..study import Study
from .search import fit_tuned
from .splits import Fold, inner_split
from .thresholds import youden_threshold

__all__ = ["NestedCVResult", "FoldResult", "nested_cv", "nested_cv_pipeline", "cross_validate", "fit_outer_fold",
           "score_external", "binary_metrics", "bootstrap_ci", "roc_auc", "youden_threshold", "calibration",
           "reliability_curve", "decision_curve", "METRICS"]


@dataclass
class NestedCVResult:
    """Everything a nested cross-validation produced.

    oof : one row per sample and repeat: ``id, repeat, fold, y, proba, threshold, label`` (+ ``site``, and
        ``proba_<block>`` per block with late fusion).
    folds : one row per outer fold: metrics on its test samples, chosen threshold and hyperparameters,
        candidates tried, seconds (+ ``test_site`` for leave-one-site-out, ``selected``: the features
        the fold's model saw when the pipeline has a selection step).
    models : the fitted outer-fold pipelines as ``(pipeline, test_index, train_index, repeat, fold)`` in fold
        order (positions in ``study.X``), so held-out explanations need no second fit:
        ``radiomix.explain.fold_shap(result, study.X, ids=study.ids)``.
    summary : ``{metric: {"estimate", "ci_low", "ci_high"}}`` pooled over out-of-fold predictions
        (averaged over repeats); ``auc_folds`` (per-fold mean, sd); ``calibration``, ``reliability``,
        ``decision_curve``; ``blocks`` (late fusion: AUC with CI per block); ``per_site`` (AUC per site).
    """

    oof: pd.DataFrame
    folds: pd.DataFrame
    summary: dict
    settings: dict = field(default_factory=dict)
    models: list = field(default_factory=list)

    def __repr__(self) -> str:
        m, label = next((k, v) for k, v in _HEADLINES.items() if k in self.summary)
        a, f = self.summary[m], self.summary[f"{m}_folds"]
        return (f"NestedCVResult({label} {a['estimate']:.3f} [95% CI {a['ci_low']:.3f}-{a['ci_high']:.3f}], "
                f"per-fold {f['mean']:.3f} +- {f['sd']:.3f} over {f['n']} folds)")


#: Headline metric of each task's summary and its name in text.
_HEADLINES = {"c_index": "C-index", "auc_macro": "macro AUC", "r2": "R2", "auc": "AUC"}


@dataclass
class FoldResult:
    """What one outer fold produced: the tuned pipeline, its test-row predictions and the choices made."""

    fold: Fold
    model: object
    proba: np.ndarray
    threshold: float
    params: dict
    inner_score: float
    n_candidates: int
    blocks: dict
    selected: list | None
    seconds: float
    inner: str = ""
    extra: dict = field(default_factory=dict)


def _selected_features(best) -> list | None:
    named = getattr(best, "named_steps", {})
    for step in ("mrmr", "corr", "nzv"):  # the features the model saw, after the last selector
        if step in named:
            return [str(c) for c in named[step].get_feature_names_out()]
    return None


def _block_predictions(best, task, X) -> dict:
    final = best.steps[-1][1] if hasattr(best, "steps") else best
    if hasattr(final, "estimators_") and hasattr(final, "named_estimators_"):  # late fusion: each block's own
        return {name: task.predict(est, X) for name, est in final.named_estimators_.items()}
    return {}


def study_inner_split(study: Study, index, seed: int):
    """The inner folds of the study's rows at ``index`` (leave-one-site-out inside leave-site-out outer folds)."""
    sites = None if study.sites is None else np.asarray(study.sites)[index]
    groups = None if study.groups is None else np.asarray(study.groups)[index]
    return inner_split(study.search, groups=groups, sites=sites, seed=seed,
                       leave_site_out=study.outer.kind == "leave_site_out")


def fit_outer_fold(study: Study, fold: Fold) -> FoldResult:
    """Tune and fit the study's pipeline on one outer fold's training rows, learn its probability correction
    and threshold there (inner out-of-fold predictions), and predict its test rows."""
    t0 = time.perf_counter()
    Xtr, ytr, _ = study.rows(fold.train)
    inner = study_inner_split(study, fold.train, fold.seed)
    res, model, thr = fit_tuned(study.pipeline, study.search, Xtr, ytr, groups=inner.groups, seed=fold.seed,
                                cv=inner.cv)
    Xte = study.X.iloc[fold.test]
    extra = {}
    if study.task.name == "survival":
        from ..outcomes.survival.summary import fold_outputs

        extra = fold_outputs(model, Xte, study.outcome)
    return FoldResult(fold=fold, model=model, proba=study.task.predict(model, Xte), threshold=thr,
                      params=res.params, inner_score=res.score, n_candidates=res.n_tried,
                      blocks=_block_predictions(res.estimator, study.task, Xte),
                      selected=_selected_features(res.estimator), seconds=time.perf_counter() - t0,
                      inner=inner.description, extra=extra)


def _run_folds(study: Study, folds: list[Fold], progress: bool) -> list[FoldResult]:
    """Fit the outer folds (in parallel with ``study.n_jobs``). Progress: a bar on a terminal, one line per
    finished fold otherwise (logs, CI, notebooks' captured stderr)."""
    import sys

    from joblib import Parallel, delayed

    calls = (delayed(fit_outer_fold)(study, f) for f in folds)
    results = Parallel(n_jobs=study.n_jobs, return_as="generator")(calls)
    if progress and sys.stderr.isatty():
        from rich.progress import track

        results = track(results, total=len(folds), description=f"nested CV ({len(folds)} outer folds, "
                                                                f"{study.search.n_candidates} candidates each)")
    elif progress:
        results = _fold_lines(results, len(folds), study)
    out = []
    for res in results:
        raise_if_interrupted()  # a Ctrl-C swallowed inside a fit (e.g. an XGBoost callback) ends the run
        out.append(res)
    raise_if_interrupted()
    return out


def _fold_lines(results, total: int, study: Study):
    import sys

    task = study.task
    for k, res in enumerate(results, 1):
        y = study.y[res.fold.test]
        score = task.fold_metrics(y, res.proba, (res.proba >= res.threshold).astype(int))[task.headline]
        where = f" (site {res.fold.site})" if res.fold.site is not None else ""
        print(f"nested CV: outer fold {k}/{total}{where} done in {res.seconds:.1f} s: {res.n_candidates} "
              f"candidate(s), inner score {res.inner_score:.3f}, test {task.headline_label} {score:.3f}",
              file=sys.stderr, flush=True)
        yield res


def _collect(study: Study, results: list[FoldResult]):
    """Out-of-fold frame, per-fold frame, and the (repeats x n) prediction, label and block matrices."""
    y, n, n_repeats = study.y, len(study.y), study.outer.n_repeats
    P = np.full((n_repeats, n), np.nan)
    L = np.zeros((n_repeats, n), dtype=int)
    block_names = list(results[0].blocks) if results else []
    B = {b: np.full((n_repeats, n), np.nan) for b in block_names}
    oof_rows, fold_rows = [], []
    for res in results:
        f = res.fold
        r, test = f.repeat, f.test
        labels = (res.proba >= res.threshold).astype(int)
        P[r, test], L[r, test] = res.proba, labels
        frame = {"id": study.ids[test], "repeat": r, "fold": f.fold, "y": y[test], "proba": res.proba,
                 "threshold": res.threshold, "label": labels}
        if study.sites is not None:
            frame["site"] = np.asarray(study.sites)[test]
        for b in block_names:
            B[b][r, test] = res.blocks[b]
            frame[f"proba_{b}"] = res.blocks[b]
        oof_rows.append(pd.DataFrame(frame))
        m = study.task.fold_metrics(y[test], res.proba, labels)
        row = {"repeat": r, "fold": f.fold, "n_test": len(test), "n_pos_test": int(y[test].sum()), **m,
               "threshold": res.threshold, "inner_score": res.inner_score,
               "optimism": res.inner_score - m["auc"] if np.isfinite(res.inner_score) else np.nan,
               "inner": res.inner, "n_candidates": res.n_candidates, "seconds": round(res.seconds, 3),
               "params": res.params}
        if res.selected is not None:
            row["selected"] = res.selected
        if f.site is not None:
            row = {"test_site": f.site, **row}
        fold_rows.append(row)
    if np.isnan(P).any():
        raise RuntimeError("some samples received no out-of-fold prediction")
    return pd.concat(oof_rows, ignore_index=True), pd.DataFrame(fold_rows), P, L, B


def _summarize(study: Study, folds: pd.DataFrame, P, L, B) -> dict:
    y, n_repeats, rs, n_boot = study.y, study.outer.n_repeats, study.random_state, study.n_bootstrap
    per_repeat = [study.task.fold_metrics(y, P[r], L[r]) for r in range(n_repeats)]
    ci = study.task.confidence_intervals(y, P, L, n_boot=n_boot, random_state=rs, groups=study.groups) \
        if n_boot else {}
    summary = {}
    for m in study.task.metrics:
        est = float(np.nanmean([d[m] for d in per_repeat]))
        lo, hi = ci.get(m, (np.nan, np.nan))
        summary[m] = {"estimate": est, "ci_low": lo, "ci_high": hi}
    summary["auc_folds"] = {"mean": float(folds["auc"].mean()), "sd": float(folds["auc"].std(ddof=1)),
                            "n": int(folds["auc"].notna().sum())}
    pbar = P.mean(axis=0)
    summary["calibration"] = calibration(y, pbar)
    summary["reliability"] = reliability_curve(y, pbar, study.n_bins)
    summary["decision_curve"] = decision_curve(y, pbar)
    brng = np.random.default_rng(rs + 1)
    if B:
        summary["blocks"] = {}
        for b, Pb in B.items():
            est = float(np.mean([roc_auc(y, Pb[r]) for r in range(n_repeats)]))
            lo, hi = bootstrap_auc(y, Pb, n_boot, brng, groups=study.groups) if n_boot else (np.nan, np.nan)
            summary["blocks"][b] = {"auc": {"estimate": est, "ci_low": lo, "ci_high": hi}}
    if study.sites is not None:
        s_arr = np.asarray(study.sites).astype(str)
        summary["per_site"] = {
            s: {"n": int((s_arr == s).sum()), "n_positive": int(y[s_arr == s].sum()),
                "auc": float(np.mean([roc_auc(y[s_arr == s], P[r, s_arr == s]) for r in range(n_repeats)]))}
            for s in sorted(set(s_arr))
        }
    if (opt := optimism(folds, "AUC")) is not None:
        summary["optimism"] = opt
    if study.config["aggregate"] != "none" and study.groups is not None:
        summary["patient_level"] = _patient_level(study, P, L)
    summary["n_samples"], summary["n_positive"] = int(len(y)), int(y.sum())
    return summary


def _patient_level(study: Study, P, L) -> dict:
    """Metrics of patients, whose prediction is the max or mean of their rows' out-of-fold probabilities and
    whose outcome is positive when any of their rows is."""
    how = study.config["aggregate"]
    frame = pd.DataFrame({"g": pd.Series(study.groups).astype(str).to_numpy(), "y": study.y})
    yg = frame.groupby("g", sort=True)["y"].max()
    Pg, Lg = [], []
    for r in range(P.shape[0]):
        agg = frame.assign(p=P[r]).groupby("g", sort=True)["p"].agg(how)
        Pg.append(agg.to_numpy())
        # Decision per patient: positive when any row was called positive (max), or the mean call >= 0.5.
        calls = pd.Series(L[r], index=frame["g"]).groupby(level=0, sort=True).agg(how)
        Lg.append((calls.to_numpy() >= (1 if how == "max" else 0.5)).astype(int))
    Pg, Lg = np.vstack(Pg), np.vstack(Lg)
    y = yg.to_numpy()
    per = [study.task.fold_metrics(y, Pg[r], Lg[r]) for r in range(Pg.shape[0])]
    ci = study.task.confidence_intervals(y, Pg, Lg, n_boot=study.n_bootstrap, random_state=study.random_state) \
        if study.n_bootstrap else {}
    out = {"aggregate": how, "n_patients": int(len(y)), "n_positive": int(y.sum())}
    for m in study.task.metrics:
        lo, hi = ci.get(m, (np.nan, np.nan))
        out[m] = {"estimate": float(np.nanmean([d[m] for d in per])), "ci_low": lo, "ci_high": hi}
    return out


def _task_outputs(name: str):
    """The function summarising the outer-fold results of a non-binary task: ``(study, results) -> (oof,
    folds, summary)``."""
    if name == "survival":
        from ..outcomes.survival.summary import survival_outputs

        return survival_outputs
    if name == "regression":
        from ..outcomes.regression import regression_outputs

        return regression_outputs
    from ..outcomes.multiclass import multiclass_outputs

    return multiclass_outputs


def nested_cv(study: Study, *, progress: bool = True) -> NestedCVResult:
    """Nested cross-validation of a :class:`radiomix.study.Study`.

    For each outer fold of ``study.outer`` (stratified k-fold repeated ``n_repeats`` times, grouped, or
    leave-one-site-out), :func:`fit_outer_fold` tunes the pipeline on inner folds of the training rows
    (``study.search``: random, grid or halving search, bounded by a time budget when set), chooses the
    decision threshold there (Youden on inner out-of-fold predictions, or a fixed number) and predicts the
    test rows. Metrics pool the out-of-fold predictions; 95 % CIs are a percentile bootstrap over patients
    (:func:`radiomix.metrics.bootstrap_ci`). Deterministic for the study's ``random_state`` (without a time
    budget); outer folds run in parallel with the study's ``n_jobs``. The fitted fold models are kept in
    ``result.models``.

    From a table and a config: ``nested_cv(make_study(table, config))`` (or :func:`cross_validate`); from
    your own Pipeline: :func:`nested_cv_pipeline`.
    """
    if not isinstance(study, Study):
        raise TypeError(f"nested_cv takes a radiomix.study.Study (make_study(table, config) or "
                        f"Study.from_pipeline(pipeline, X, y)); got {type(study).__name__}")
    results = _run_folds(study, study.outer_folds(), progress)
    if study.task.name == "binary":
        oof, folds, P, L, B = _collect(study, results)
        summary = _summarize(study, folds, P, L, B)
    else:
        oof, folds, summary = _task_outputs(study.task.name)(study, results)
    return NestedCVResult(oof=oof, folds=folds, summary=summary, settings=study.settings(),
                          models=[(r.model, r.fold.test, r.fold.train, r.fold.repeat, r.fold.fold) for r in results])


def cross_validate(table, config=None, *, progress: bool = True, **overrides) -> NestedCVResult:
    """Notebook helper: ``nested_cv(make_study(table, config, **overrides))``."""
    from ..study import make_study

    return nested_cv(make_study(table, config, **overrides), progress=progress)


def nested_cv_pipeline(pipeline, X: pd.DataFrame, y, *, progress: bool = True, **settings) -> NestedCVResult:
    """Notebook helper for your own Pipeline: ``nested_cv(Study.from_pipeline(pipeline, X, y, **settings))``
    (``param_distributions=``, ``outer=``, ``outer_splits=``, ``n_repeats=``, ``inner_splits=``, ``search=``,
    ``n_candidates=``, ``time_budget=``, ``scoring=``, ``threshold=``, ``n_bootstrap=``, ``n_bins=``,
    ``groups=``, ``sites=``, ``ids=``, ``random_state=``, ``n_jobs=``)."""
    return nested_cv(Study.from_pipeline(pipeline, X, y, **settings), progress=progress)


def _class_codes(values, classes, target) -> np.ndarray:
    """Each value's position in the model's ``classes`` (1, 1.0 and "1" are the same label); values the model
    never saw are refused, named."""
    def key(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return str(v)

    known = {key(c): i for i, c in enumerate(classes)}
    unknown = sorted({str(v) for v in values if key(v) not in known})
    if unknown:
        raise ValueError(f"target {target!r} holds values {unknown} that the model's classes {classes} lack")
    return np.array([known[key(v)] for v in values], dtype=int)


def _score_external_task(model, table: pd.DataFrame, target, n_bootstrap: int, random_state: int) -> dict:
    """score_external for survival (``target``: ``{"time":, "event":}``), multiclass and regression models."""
    from ..outcomes import get_task

    task = model.task
    if task == "survival" and not isinstance(target, dict):
        raise ValueError("a survival model is scored on a time and an event column: give --time and --event")
    cols = [target["time"], target["event"]] if isinstance(target, dict) else [target]
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ValueError(f"outcome column(s) {missing} not found; columns: {list(table.columns)[:20]}")
    t = table if task == "survival" else table.loc[table[cols[0]].notna()]
    pred = model.predict(t)
    if task == "survival":
        from ..outcomes.survival.summary import external_summary

        y, _ = get_task("survival").encode_target(t[cols], cols[0])
        S = pred[[f"surv_{h:g}" for h in model.horizons]].to_numpy(float)
        return external_summary(y, pred["risk"].to_numpy(float), S, model.horizons, n_bootstrap=n_bootstrap,
                                random_state=random_state)
    if task == "regression":
        from ..outcomes.regression import external_summary

        y, _ = get_task("regression").encode_target(t[target], target)
        return external_summary(y, pred["prediction"].to_numpy(float), n_bootstrap=n_bootstrap,
                                random_state=random_state)
    from ..outcomes.multiclass import external_summary

    y = _class_codes(t[target], model.classes, target)
    P = pred[[f"proba_{c}" for c in model.classes]].to_numpy(float)
    return external_summary(y, P, model.classes, n_bootstrap=n_bootstrap, random_state=random_state)


def score_external(model, table: pd.DataFrame, target, *, n_bootstrap: int = 2000, random_state: int = 0) -> dict:
    """Score a saved model on an external cohort: the same metrics and 95 % CIs as nested CV, at the
    model's own threshold, plus calibration. ``model`` is a :class:`radiomix.model.RadiomixModel`; ``target``
    the outcome column, or ``{"time": ..., "event": ...}`` for a survival model."""
    if getattr(model, "task", "binary") != "binary":
        return _score_external_task(model, table, target, n_bootstrap, random_state)
    if target not in table.columns:
        raise ValueError(f"target column {target!r} not found; columns: {list(table.columns)[:20]}")
    keep = table[target].notna()
    t = table.loc[keep]
    y = (_class_codes(t[target], list(model.classes), target) == 1).astype(int)
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
