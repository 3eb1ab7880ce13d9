"""Model selection inside a training set: inner cross-validation splitters, the hyperparameter search
(random, grid, successive halving, with a time budget) and the choice of the decision threshold.

Both the outer folds of :func:`radiomix.evaluate.nested_cv` and the final model
(:func:`radiomix.model.fit_final_model`) call these functions on their own training rows only, so the same
procedure is estimated and deployed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone

from ..interrupts import raise_if_interrupted
from .splits import inner_cv
from .step_cache import drop_step_cache, step_cache
from .thresholds import finalize

__all__ = ["SearchPlan", "SearchResult", "tune", "fit_tuned", "scorer", "concordance_scorer", "auto_search_method",
           "AUTO_GRID_POINTS"]


#: ``search.method: auto`` tries every point of a space up to this size.
AUTO_GRID_POINTS = 25


def auto_search_method(space: dict, n_candidates: int = 10) -> str:
    """``search.method: auto``: ``"grid"`` when ``space`` (parameter -> list of choices) has more points than
    ``n_candidates`` but at most :data:`AUTO_GRID_POINTS` (every point is tried), else ``"random"`` (which also
    tries every point of a space no larger than ``n_candidates``)."""
    n = 1
    for v in (space or {}).values():
        n *= len(v) if isinstance(v, (list, tuple)) else 1_000_000  # a distribution: sample
    return "grid" if n_candidates < n <= AUTO_GRID_POINTS else "random"


@dataclass(frozen=True)
class SearchPlan:
    """How hyperparameters and the threshold are chosen inside a training set.

    ``space`` maps Pipeline parameter names (``model__max_depth``) to lists of candidate values;
    ``method`` is ``"random"`` (``n_candidates`` points), ``"grid"`` (all) or ``"halving"`` (successive
    halving); ``time_budget`` caps the seconds of a random/grid search (at least one candidate runs);
    ``inner_splits`` folds (grouped when the rows have groups) score candidates with ``scoring``;
    ``threshold`` is ``"youden"`` (chosen on inner out-of-fold predictions), a fixed number, or
    ``"median_risk"`` (survival: the median risk score of the training rows, which splits patients into a low-
    and a high-risk group) or ``"none"`` (regression; multiclass, which calls the most probable class);
    ``correction`` is None or the probability correction of :class:`radiomix.calibration.RecalibratedClassifier`
    (``"sigmoid"``, ``"isotonic"``, ``"prevalence"``) applied to the tuned model, learned from inner
    out-of-fold predictions of rows that were not resampled. ``strata`` maps the target to the labels folds
    are stratified on (None: the target itself; survival: event status x follow-up tertile). ``inner_kind``
    says how the inner folds treat sites (:func:`inner_split`): ``"auto"`` (leave one training site out when
    the outer folds leave a site out), ``"site_folds"`` (the training sites dealt into ``inner_splits``
    folds) or ``"stratified"`` (sites ignored).
    """

    space: dict = field(default_factory=dict)
    method: str = "random"
    n_candidates: int = 10
    time_budget: float | None = None
    inner_splits: int = 3
    scoring: str = "roc_auc"
    threshold: object = "youden"
    correction: str | None = None
    strata: object = None
    inner_kind: str = "auto"

    def inner_description(self, outer_kind: str) -> str:
        """How the inner folds split, in words (for the run record)."""
        fallback = f"{self.inner_splits}-fold stratified, grouped by patient when groups are set"
        if self.inner_kind == "site_folds":
            return (f"the training sites dealt into {self.inner_splits} folds, stratified on the outcome "
                    f"(>= {self.inner_splits} training sites; otherwise {fallback})")
        if outer_kind == "leave_site_out" and self.inner_kind == "auto":
            return f"leave one training site out (>= 3 training sites; otherwise {fallback})"
        return fallback


@dataclass
class SearchResult:
    """The refitted best pipeline, its parameters, its mean inner-CV score and how many candidates ran."""

    estimator: object
    params: dict
    score: float
    n_tried: int


def _halving(pipeline, plan: SearchPlan, X, y, groups, cv, seed) -> SearchResult:
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV

    s = HalvingRandomSearchCV(clone(pipeline), plan.space, n_candidates=plan.n_candidates, cv=cv,
                              scoring=scorer(plan.scoring), random_state=seed, refit=True, n_jobs=1, error_score=np.nan,
                              min_resources="smallest")
    s.fit(X, y, groups=groups)
    return SearchResult(s.best_estimator_, s.best_params_, float(s.best_score_), int(len(s.cv_results_["params"])))


def _candidates(plan: SearchPlan, seed) -> list[dict]:
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    if plan.method == "grid":
        return list(ParameterGrid(plan.space))
    n_grid = int(np.prod([len(v) for v in plan.space.values()]))
    return list(ParameterSampler(plan.space, n_iter=min(plan.n_candidates, n_grid), random_state=seed))


def tune(pipeline, plan: SearchPlan, X, y, *, groups=None, seed: int = 0, cv=None) -> SearchResult:
    """Pick hyperparameters of ``pipeline`` on inner folds of ``(X, y)`` and refit the best on all of it.

    ``cv`` defaults to :func:`inner_cv` with ``plan.inner_splits`` folds (grouped when ``groups`` is given)
    and ``seed``. With an empty search space the pipeline is simply fitted (score NaN, 0 candidates).
    """
    from sklearn.model_selection import cross_val_score

    if not plan.space:
        return SearchResult(clone(pipeline).fit(X, y), {}, np.nan, 0)
    cv = cv if cv is not None else inner_cv(plan.inner_splits, groups, seed, strata=plan.strata)
    if plan.method == "halving":
        return _halving(pipeline, plan, X, y, groups, cv, seed)
    candidates = _candidates(plan, seed)
    t0 = time.perf_counter()
    scores = []
    for params in candidates:
        est = clone(pipeline).set_params(**params)
        s = cross_val_score(est, X, y, groups=groups, cv=cv, scoring=scorer(plan.scoring), error_score=np.nan)
        scores.append(float(np.nanmean(s)) if np.isfinite(s).any() else np.nan)
        if plan.time_budget is not None and time.perf_counter() - t0 > plan.time_budget:
            break
    if not np.isfinite(scores).any():
        raise RuntimeError("every hyperparameter candidate failed on the inner folds; check the search space")
    k = int(np.nanargmax(scores))
    best = clone(pipeline).set_params(**candidates[k]).fit(X, y)
    return SearchResult(best, candidates[k], scores[k], len(scores))


def concordance_scorer(estimator, X, y) -> float:
    """Harrell's C of ``estimator.predict(X)`` (a risk score) against the survival target ``y`` (time, event)."""
    from ..outcomes.survival.metrics import harrell_c, split_surv

    time, event = split_surv(y)
    return harrell_c(time, event, estimator.predict(X))


def scorer(name):
    """A scikit-learn scoring argument for ``name``: radiomix's own ``"c_index"`` (survival), else ``name``."""
    return concordance_scorer if name == "c_index" else name


def fit_tuned(pipeline, plan: SearchPlan, X, y, *, groups=None, seed: int = 0, cv=None):
    """:func:`tune` then :func:`finalize` on the same inner folds, with the preprocessing fitted once per inner
    training set (:func:`step_cache`). Returns ``(search_result, model, threshold)``; neither the tuned pipeline
    nor the finalized model (which may wrap it) holds the cache."""
    with step_cache(pipeline) as cached:
        res = tune(cached, plan, X, y, groups=groups, seed=seed, cv=cv)
        raise_if_interrupted()  # scikit-learn records an interrupted candidate as a failed fit: not complete
        # Correction and threshold from out-of-fold predictions inside these rows: never a test fold.
        model, thr = finalize(res.estimator, plan, X, y, groups=groups, seed=seed, cv=cv)
    drop_step_cache(res.estimator)  # the fitted pipeline, also when a RecalibratedClassifier wraps it
    drop_step_cache(model)
    return res, model, thr
