"""Nested cross-validation of a :class:`radiomix.study.Study`.

Outer folds estimate performance; inside each outer training fold the search (:mod:`.search`) picks
hyperparameters and the decision threshold (:mod:`.thresholds`), so nothing from an outer test fold reaches
training. The study's Task (:mod:`radiomix.outcomes`) turns the outer folds' predictions into the run's frames and
summary.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..interrupts import raise_if_interrupted
from ..study import Study
from .headline import bootstrap_headline, headline_name, oof_matrices, repeated_headline
from .search import fit_tuned
from .splits import Fold, inner_split

__all__ = ["NestedCVResult", "FoldResult", "nested_cv", "nested_cv_pipeline", "nested_cv_table", "cross_validate",
           "fit_outer_fold", "study_inner_split", "run_headline"]


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
    summary : ``{metric: {"estimate", "ci_low", "ci_high"}}`` over the out-of-fold predictions of each repeat,
        then the mean over repeats (survival: concordance over pairs within outer folds); ``headline`` (the
        run's one headline: :func:`run_headline`); ``auc_folds`` (per-fold mean, sd); ``calibration``, ``reliability``,
        ``decision_curve``; ``blocks`` (late fusion: AUC with CI per block); ``per_site`` (AUC per site).
    """

    oof: pd.DataFrame
    folds: pd.DataFrame
    summary: dict
    settings: dict = field(default_factory=dict)
    models: list = field(default_factory=list)

    def __repr__(self) -> str:
        from ..outcomes import get_task

        task = get_task(self.settings.get("task", "binary"))
        m, label = task.headline, task.headline_label
        a, f = self.summary[m], self.summary[f"{m}_folds"]
        h = self.summary.get("headline")
        if h:
            a, label = h, h["name"]
        return (f"NestedCVResult({label} {a['estimate']:.3f} [95% CI {a['ci_low']:.3f}-{a['ci_high']:.3f}], "
                f"per-fold {f['mean']:.3f} +- {f['sd']:.3f} over {f['n']} folds)")


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
    warnings: list = field(default_factory=list)  # (category, message, filename, lineno) raised while fitting


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
    extra = study.task.fold_extras(model, Xte, study.outcome)
    return FoldResult(fold=fold, model=model, proba=study.task.predict(model, Xte), threshold=thr,
                      params=res.params, inner_score=res.score, n_candidates=res.n_tried,
                      blocks=_block_predictions(res.estimator, study.task, Xte),
                      selected=_selected_features(res.estimator), seconds=time.perf_counter() - t0,
                      inner=inner.description, extra=extra)


def _fit_recording_warnings(study: Study, fold: Fold) -> FoldResult:
    """:func:`fit_outer_fold`, keeping the warnings it raised in the result: folds fitted in worker processes
    (``n_jobs``) hand them back to the run, which shows each distinct one once with its count."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit_outer_fold(study, fold)
    res.warnings = [(w.category, str(w.message), w.filename, w.lineno) for w in caught]
    return res


def _run_folds(study: Study, folds: list[Fold], progress: bool) -> list[FoldResult]:
    """Fit the outer folds (in parallel with ``study.n_jobs``). Progress: a bar on a terminal, one line per
    finished fold otherwise (logs, CI, notebooks' captured stderr)."""
    import sys

    from joblib import Parallel, delayed

    calls = (delayed(_fit_recording_warnings)(study, f) for f in folds)
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
        for category, message, filename, lineno in res.warnings:  # raised here, where the run counts them
            warnings.warn_explicit(message, category, filename, lineno)
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
    oof, folds, summary = study.task.summarize(study, results)
    summary["headline"] = run_headline(study, oof, summary)
    return NestedCVResult(oof=oof, folds=folds, summary=summary, settings=study.settings(),
                          models=[(r.model, r.fold.test, r.fold.train, r.fold.repeat, r.fold.fold) for r in results])


def run_headline(study: Study, oof: pd.DataFrame, summary: dict) -> dict:
    """The run's one headline (:mod:`.headline`): its name, metric, estimate and 95 % CI. Where the task's
    summary already reports the same number (no leave-site-out), its CI is reused; otherwise (the mean
    per-site metric under leave-site-out) a bootstrap over patients within site gives it."""
    metric = study.task.headline
    sites = study.sites if study.outer.kind == "leave_site_out" else None
    P, F = oof_matrices(oof, study.ids)
    est = repeated_headline(study.task.encode_scores_target(study.y), P, F, sites, task=study.task)
    known = summary.get(metric) if sites is None else None
    if isinstance(known, dict) and np.isclose(known.get("estimate", np.nan), est, rtol=0, atol=1e-9):
        ci = {"estimate": est, "ci_low": known["ci_low"], "ci_high": known["ci_high"]}
    else:
        ci = bootstrap_headline(study.y, P, F, sites, task=study.task, groups=study.groups,
                                n_boot=study.n_bootstrap, random_state=study.random_state)
    return {"name": headline_name(study), "metric": metric, "label": study.task.headline_label,
            "aggregation": "mean per site" if sites is not None else "pooled within repeat", **ci,
            "n_repeats": int(study.outer.n_repeats)}


def nested_cv_table(table, config=None, *, progress: bool = True, **overrides) -> NestedCVResult:
    """Notebook helper: ``nested_cv(make_study(table, config, **overrides))`` (formerly ``cross_validate``, renamed
    so as not to shadow scikit-learn's ``cross_validate``)."""
    from ..study import make_study

    return nested_cv(make_study(table, config, **overrides), progress=progress)


def cross_validate(table, config=None, *, progress: bool = True, **overrides) -> NestedCVResult:
    """Deprecated alias of :func:`nested_cv_table` (it shadowed ``sklearn.model_selection.cross_validate``)."""
    import warnings

    warnings.warn("radiomix cross_validate is deprecated; use radiomix.model_selection.nested_cv_table",
                  DeprecationWarning, stacklevel=2)
    return nested_cv_table(table, config, progress=progress, **overrides)


def nested_cv_pipeline(pipeline, X: pd.DataFrame, y, *, progress: bool = True, **settings) -> NestedCVResult:
    """Notebook helper for your own Pipeline: ``nested_cv(Study.from_pipeline(pipeline, X, y, **settings))``
    (``param_distributions=``, ``outer=``, ``outer_splits=``, ``n_repeats=``, ``inner_splits=``, ``search=``,
    ``n_candidates=``, ``time_budget=``, ``scoring=``, ``threshold=``, ``n_bootstrap=``, ``n_bins=``,
    ``groups=``, ``sites=``, ``ids=``, ``random_state=``, ``n_jobs=``)."""
    return nested_cv(Study.from_pipeline(pipeline, X, y, **settings), progress=progress)
