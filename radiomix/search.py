"""Model selection inside a training set: inner cross-validation splitters, the hyperparameter search
(random, grid, successive halving, with a time budget) and the choice of the decision threshold.

Both the outer folds of :func:`radiomix.evaluate.nested_cv` and the final model
(:func:`radiomix.model.fit_final_model`) call these functions on their own training rows only, so the same
procedure is estimated and deployed.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone

from .interrupts import raise_if_interrupted
from .splits import inner_cv

__all__ = ["SearchPlan", "SearchResult", "InnerSplit", "inner_cv", "inner_split", "tune", "youden_threshold",
           "step_cache", "drop_step_cache", "StepCache", "fit_tuned", "scorer", "concordance_scorer",
           "finalize"]


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


@dataclass(frozen=True)
class InnerSplit:
    """The inner folds of one training set: the splitter, the labels it groups by, and a description."""

    cv: object
    groups: np.ndarray | None
    description: str


def inner_split(plan: SearchPlan, *, groups=None, sites=None, leave_site_out: bool = False, seed: int = 0,
                min_sites: int = 3) -> InnerSplit:
    """The inner folds of a training set.

    With ``plan.inner_kind="auto"``, ``leave_site_out`` (the outer folds leave a site out) and at least
    ``min_sites`` training sites, each inner fold leaves one training site out, so tuning rewards what the
    outer folds measure: generalisation to an unseen site. ``"site_folds"`` deals the training sites into
    ``plan.inner_splits`` folds (stratified group k-fold with sites as groups, so a patient's rows, which share
    a site, stay together): the same question at fewer fits than one fold per site. With too few sites both
    fall back to stratified folds (grouped by patient when ``groups`` is given) and say so in the description;
    ``"stratified"`` always uses those.
    """
    if sites is not None and (plan.inner_kind == "site_folds" or (leave_site_out and plan.inner_kind == "auto")):
        from sklearn.model_selection import LeaveOneGroupOut

        s = np.asarray(sites).astype(str)
        k = len(set(s))
        if plan.inner_kind == "site_folds" and k >= max(plan.inner_splits, 2):
            return InnerSplit(inner_cv(plan.inner_splits, s, seed, strata=plan.strata), s,
                              f"{k} training sites dealt into {plan.inner_splits} folds, stratified on the outcome")
        if plan.inner_kind == "auto" and k >= min_sites:
            return InnerSplit(LeaveOneGroupOut(), s, f"leave-one-site-out over {k} training sites")
        need = max(plan.inner_splits, 2) if plan.inner_kind == "site_folds" else min_sites
        fallback = inner_cv(plan.inner_splits, groups, seed, strata=plan.strata)
        return InnerSplit(fallback, None if groups is None else np.asarray(groups),
                          f"{plan.inner_splits}-fold {'grouped ' if groups is not None else ''}stratified "
                          f"(only {k} training site(s); site-grouped inner folds need >= {need})")
    return InnerSplit(inner_cv(plan.inner_splits, groups, seed, strata=plan.strata),
                      None if groups is None else np.asarray(groups),
                      f"{plan.inner_splits}-fold {'grouped ' if groups is not None else ''}stratified")


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
    from .survival.metrics import harrell_c, split_surv

    time, event = split_surv(y)
    return harrell_c(time, event, estimator.predict(X))


def scorer(name):
    """A scikit-learn scoring argument for ``name``: radiomix's own ``"c_index"`` (survival), else ``name``."""
    return concordance_scorer if name == "c_index" else name


@contextlib.contextmanager
def step_cache(pipeline):
    """``pipeline`` (a clone) whose transformers and samplers are fitted once per training set and reused by
    every candidate and by :func:`finalize` on the same inner folds (``Pipeline(memory=...)`` with a
    :class:`StepCache` held in memory, dropped on exit). Keys are each step's parameters and its input rows and
    labels, so a step whose tuned parameter changes is refitted, and the fitted steps equal the uncached ones
    (deterministic given their ``random_state``). A pipeline that already has a ``memory`` is used as it is.
    Fitted estimators leave the context through :func:`drop_step_cache`."""
    if not hasattr(pipeline, "memory") or pipeline.memory is not None:
        yield pipeline
        return
    cache = StepCache()
    try:
        yield clone(pipeline).set_params(memory=cache)
    finally:
        cache.clear()


class StepCache:
    """A ``joblib.Memory``-like cache for ``Pipeline(memory=...)`` that keeps results in this process's memory:
    a hit hands back the very objects the first call made (no pickle round trip, whose pure-Python reading
    dominated disk caching, and whose output would hash differently from the original for the next step). Keys
    are ``joblib.hash`` of the call, except that an argument the cache itself returned (the table a cached step
    handed to the next one) enters the key as the token of the call that made it, not as its 1,000 columns
    hashed again; a call joblib cannot hash (a lambda in your own Pipeline) runs uncached. Shared by the deep
    copies ``clone`` makes, so every candidate's pipeline uses one store."""

    def __init__(self):
        self._store: dict = {}
        self._made: dict = {}  # id(result) -> (result, token); holding the result keeps its id unique

    def __deepcopy__(self, memo):
        return self  # clone() deep-copies non-estimator parameters; the copies must share the store

    def _token(self, value):
        made = self._made.get(id(value))
        return ("radiomix.StepCache result", made[1]) if made is not None and made[0] is value else value

    def _remember(self, key: str, result) -> None:
        for i, part in enumerate(result if isinstance(result, tuple) else (result,)):
            # A step may hand its input on unchanged: an object keeps its first token, so its key never drifts.
            if not isinstance(part, (int, float, str, bool, type(None))) and id(part) not in self._made:
                self._made[id(part)] = (part, f"{key}:{i}")

    def cache(self, func=None, ignore=None, **kwargs):
        """``func`` wrapped to cache its results; arguments named in ``ignore`` are left out of the key (as
        ``joblib.Memory.cache`` does: scikit-learn's Pipeline passes ``caller`` and ``callback_ctx``)."""
        import inspect
        import pickle

        import joblib

        signature = inspect.signature(func)
        skip = set(ignore or ())

        def call(*args, **kw):
            named = signature.bind(*args, **kw).arguments
            try:
                key = joblib.hash((func.__module__, func.__qualname__,
                                   {k: self._token(v) for k, v in named.items() if k not in skip}))
            except pickle.PicklingError:
                return func(*args, **kw)
            if key not in self._store:
                self._store[key] = func(*args, **kw)
                self._remember(key, self._store[key])
            return self._store[key]

        return call

    def clear(self) -> None:
        self._store.clear()
        self._made.clear()

    def __repr__(self) -> str:
        return f"StepCache({len(self._store)} results)"


def drop_step_cache(estimator):
    """Set every ``memory`` parameter inside ``estimator`` (a fitted pipeline, or one wrapped by a
    :class:`radiomix.calibration.RecalibratedClassifier`) to None, so it holds no step cache."""
    params = estimator.get_params(deep=True)
    gone = {k: None for k, v in params.items() if (k == "memory" or k.endswith("__memory")) and v is not None}
    if gone:
        estimator.set_params(**gone)
    return estimator


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


def finalize(estimator, plan: SearchPlan, X, y, *, groups=None, seed: int = 0, cv=None):
    """The tuned ``estimator`` made ready for use: its probability correction (``plan.correction``) and its
    decision threshold, both learned from out-of-fold probabilities over the inner folds of ``(X, y)`` (rows
    that were never resampled; grouped by patient through ``cv``/``groups``). Returns ``(model, threshold)``,
    where ``model`` is ``estimator`` or a :class:`radiomix.calibration.RecalibratedClassifier` around it."""
    from sklearn.model_selection import cross_val_predict

    if plan.threshold == "median_risk":  # survival: the risk-group cut-off of these training rows
        return estimator, float(np.median(estimator.predict(X)))
    if plan.threshold == "none":  # regression, multiclass (the most probable class): no threshold to learn
        return estimator, float("nan")
    needs_oof = plan.threshold == "youden" or plan.correction in ("sigmoid", "isotonic")
    cv = cv if cv is not None else inner_cv(plan.inner_splits, groups, seed, strata=plan.strata)
    oof = None
    if needs_oof:
        oof = cross_val_predict(clone(estimator), X, y, groups=groups, cv=cv, method="predict_proba")[:, 1]
    model = estimator
    if plan.correction is not None:
        from .calibration import RecalibratedClassifier

        model = RecalibratedClassifier(clone(estimator), method=plan.correction, random_state=seed)
        model.fit_from_predictions(estimator, y, oof)
        oof = model.correct(oof) if oof is not None else None
    if plan.threshold != "youden":
        return model, float(plan.threshold)
    return model, youden_threshold(np.asarray(y), oof)
