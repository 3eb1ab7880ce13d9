"""The run's headline metric: one aggregation of out-of-fold predictions that the summary, the console's
last line, the report's title, the baselines, the permutation test and the verdict all quote.

Per repeat of the outer folds, the task's headline (:meth:`radiomix.outcomes.Task.headline_score`) over that
repeat's rows with each row's outer fold as its block (survival's concordance compares patients of the same
fold only: each fold's risks are on its own model's scale), or under leave-site-out the mean over sites of
the per-site metric; then the mean over repeats. Predictions averaged over repeats (an ensemble of the
repeats' models) are never the headline.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ..metrics import Resampler
from ..outcomes import task_of_array

__all__ = ["headline", "repeated_headline", "oof_matrices", "oof_headline", "headline_name", "score_columns",
           "bootstrap_headline"]


@functools.cache
def _accepts_blocks(task_type) -> bool:
    import inspect

    return "blocks" in inspect.signature(task_type.headline_score).parameters


_SAID_NO_BLOCKS: set = set()


def _task_score(task, y, p, blocks) -> float:
    """``task.headline_score`` with ``blocks``; a task whose ``headline_score`` takes none (an outcome plugin
    written before it existed) scores without them, said once per task."""
    if blocks is None:
        return task.headline_score(y, p)
    if _accepts_blocks(type(task)):
        return task.headline_score(y, p, blocks=blocks)
    if task.name not in _SAID_NO_BLOCKS:
        import warnings

        _SAID_NO_BLOCKS.add(task.name)
        warnings.warn(f"outcome {task.name!r}: headline_score(y, p) takes no blocks= argument, so its headline "
                      "pools predictions across outer folds; add blocks=None to it (radiomix.outcomes.Task)",
                      stacklevel=3)
    return task.headline_score(y, p)


def headline(y, p, sites=None, *, task=None, blocks=None) -> float:
    """The headline metric of ``task`` (an outcome type; None: the one ``y`` looks like, see
    :func:`radiomix.outcomes.task_of_array`) of one set of predictions: over all rows, or its mean over sites
    when ``sites`` is given (leave-site-out). ``blocks``: the outer fold of each row (see
    :meth:`radiomix.outcomes.Task.headline_score`; None: one block)."""
    y, p = np.asarray(y), np.asarray(p, float)
    task = task if task is not None else task_of_array(y, p)
    b = None if blocks is None else np.asarray(blocks)
    if sites is None:
        return _task_score(task, y, p, b)
    s = np.asarray(sites)
    return float(np.nanmean([_task_score(task, y[s == k], p[s == k], None if b is None else b[s == k])
                             for k in np.unique(s)]))


def repeated_headline(y, P, folds=None, sites=None, *, task) -> float:
    """The run's headline from per-repeat predictions: for each repeat ``r``, :func:`headline` of ``P[r]``
    (rows of ``y``) with blocks = ``folds[r]`` (the outer fold of each row; None: one block), then the mean
    over repeats. This is how every safeguard scores a run (:func:`oof_headline`)."""
    P = np.asarray(P, float)
    F = None if folds is None else np.asarray(folds)
    return float(np.mean([headline(y, P[r], sites, task=task, blocks=None if F is None else F[r])
                          for r in range(len(P))]))


def score_columns(oof: pd.DataFrame) -> list:
    """The score columns of an out-of-fold frame: class probabilities, risk, predicted value or probability."""
    return [c for c in oof.columns if c.startswith("proba_")] if "class" in oof.columns else \
        next([c] for c in ("risk", "pred", "proba") if c in oof.columns)


def oof_matrices(oof: pd.DataFrame, ids) -> tuple[np.ndarray, np.ndarray]:
    """``(P, F)`` of a run's out-of-fold frame (``cv.oof``: ``id, repeat, fold`` and the score columns, see
    :func:`oof_scores`): ``P[r]`` the predictions of repeat ``r`` in ``ids`` order ((n_repeats, n), or
    (n_repeats, n, k) class probabilities for multiclass) and ``F[r]`` each row's outer fold in that repeat."""
    cols = score_columns(oof)
    ids = pd.Index(ids)
    P, F = [], []
    for r, part in oof.groupby("repeat", sort=True):
        dup = part["id"][part["id"].duplicated()]
        if len(dup):
            raise ValueError(f"out-of-fold frame: id(s) {dup.astype(str).tolist()[:10]} appear more than once in "
                             f"repeat {r}")
        part = part.set_index("id").reindex(ids)
        missing = ids[part["fold"].isna().to_numpy()]
        if len(missing):
            raise ValueError(f"out-of-fold frame: repeat {r} has no prediction for {len(missing)} row(s): "
                             f"{missing.astype(str).tolist()[:10]}")
        P.append(part[cols].to_numpy(float))
        F.append(part["fold"].to_numpy().astype(int))
    P = np.stack(P)
    return (P if len(cols) > 1 else P[..., 0]), np.stack(F)


def oof_headline(oof: pd.DataFrame, y, ids, sites=None, *, task) -> float:
    """The run's headline metric from its out-of-fold frame (``cv.oof``; ``y`` and ``sites`` in ``ids``
    order): per repeat, the task's headline over that repeat's rows with blocks = outer fold (the mean over
    sites of the per-site metric when ``sites`` is given: leave-site-out), then the mean over repeats
    (:func:`repeated_headline`). The run's summary, :func:`study_headline`, the baselines' comparison and the
    permutation test all quote this number."""
    P, F = oof_matrices(oof, ids)
    return repeated_headline(y, P, F, sites, task=task)


def headline_name(study) -> str:
    """The run's headline in words (``pooled AUC``, ``mean per-site AUC``, ``within-fold C-index``, with
    ``, mean over N repeats``)."""
    name = study.task.headline_name(study.outer.kind == "leave_site_out")
    return name if study.outer.n_repeats == 1 else f"{name}, mean over {study.outer.n_repeats} repeats"


def bootstrap_headline(y, P, F, sites=None, *, task, groups=None, n_boot: int = 2000, random_state=0,
                       alpha: float = 0.05) -> dict:
    """The headline of one run (:func:`repeated_headline` of ``P``/``F`` from :func:`oof_matrices`) with a
    percentile bootstrap CI over patients (whole groups; within the task's bootstrap strata, and within site
    when ``sites`` is given, as the baselines' paired bootstrap resamples)."""
    y = task.encode_scores_target(np.asarray(y))
    P, F = np.asarray(P, float), np.asarray(F)
    s = None if sites is None else np.asarray(sites)
    est = repeated_headline(y, P, F, s, task=task)
    if not n_boot:
        return {"estimate": est, "ci_low": np.nan, "ci_high": np.nan}
    res = Resampler(task.bootstrap_strata(y), groups, strata=sites)
    rng = np.random.default_rng(random_state)
    draws = []
    for _ in range(n_boot):
        idx = res.draw(rng, "stratified")
        draws.append(repeated_headline(y[idx], P[:, idx], F[:, idx], None if s is None else s[idx], task=task))
    lo, hi = np.nanpercentile(draws, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return {"estimate": est, "ci_low": float(lo), "ci_high": float(hi)}
