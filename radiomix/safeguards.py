"""Safeguards: does the model beat what a clinician already has, under the same outer folds?

Welch et al. 2019 (Radiother Oncol) showed many radiomic signatures reduce to tumour volume. For a
:class:`radiomix.study.Study` this module builds baselines that share the study's outer folds and rows:

* ``volume``: tumour volume alone (:mod:`radiomix.volume`: log only when every value is positive, else as given,
  ranked inside each training fold; the column named in the config, or detected by name and reported; one
  baseline per modality/mask of a multi-modal table; refused when ambiguous);
* ``clinical``: the clinical block alone (penalized logistic regression, the study's imputation);
* ``no_harmonization``: the full pipeline without ComBat (when the study harmonizes);

and compares each with the full model by a paired bootstrap over patients (the same resamples for both
models; whole patients when the study has groups) of the difference in the headline metric (pooled AUC, or
the mean per-site AUC under leave-site-out). One aggregation scores every run here as in its summary
(:func:`oof_headline`): per repeat, the task's headline with each row's outer fold as its block (survival's
concordance compares patients of the same fold only: each fold's risks are on its own model's scale), then
the mean over repeats. DeLong's test is reported only where it is valid: non-nested
comparisons on independent rows (Demler et al. 2012).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .metrics import Resampler
from .model_selection.compare import refit_aware_difference
from .model_selection.headline import (
    headline,
    headline_name,
    oof_headline,
    oof_matrices,
    repeated_headline,
    score_columns,
)
from .outcomes import task_of_array
from .volume import VOLUME_PATTERNS, volume_candidates, volume_study

__all__ = ["VOLUME_PATTERNS", "detect_volume_column", "baseline_studies", "paired_bootstrap_difference",
           "delong_test", "compare_with_baselines", "case_mix", "permutation_test", "study_headline", "headline",
           "headline_name", "oof_scores", "decision_interval", "seed_refit_interval", "reseeded", "oof_matrices", "oof_headline", "repeated_headline"]

def detect_volume_column(columns, explicit: str | None = None) -> tuple[str, str]:
    """``(column, how it was found)`` of the first volume candidate (:func:`radiomix.volume.volume_candidates`:
    ``explicit`` wins; a multi-modal table has one candidate per modality/mask, and this is the first by the
    documented order)."""
    c = volume_candidates(columns, explicit)[0]
    return c.column, c.how


def _clinical_study(study):
    from .model_selection import SearchPlan
    from .pipeline import build_pipeline

    cols = [c for c in study.columns.blocks.get("clinical", []) if c in study.columns.features]
    name, params = study.task.clinical_baseline
    cfg = study.config.replace({
        "harmonize.method": "none", "model": {"name": name, "params": dict(params), "search": {}, "trusted_modules": []},
        "select.mrmr": None, "select.correlation_threshold": None, "select.near_zero_variance": False,
        "balance.method": "none", "fusion.mode": "early",
        **({"impute.method": "median"} if study.config.impute.method == "none" else {})})
    categorical = [c for c in study.columns.categorical if c in cols]
    pipe = build_pipeline(cfg, cols, blocks={"clinical": cols}, categorical=categorical, harmonize=[])
    return replace(study, X=study.X[cols], pipeline=pipe, config=cfg,
                   columns=replace(study.columns, features=cols, categorical=categorical, harmonized=[]),
                   search=SearchPlan({}, inner_splits=study.search.inner_splits, threshold=study.search.threshold,
                                     strata=study.search.strata))


def baseline_studies(study, volume: str | None = None) -> dict:
    """The baselines that apply to ``study``: ``{name: (Study, description, nested)}`` where ``nested`` says
    whether the baseline's inputs are a subset of the full model's (DeLong is then not valid)."""
    import warnings

    out = {}
    try:
        candidates = volume_candidates(study.columns.features, volume)
    except LookupError as err:
        candidates = []
        warnings.warn(f"safeguards: no volume baseline in this run: {err}", stacklevel=2)
    for c in candidates:  # one baseline per modality/mask of a multi-modal table
        name = "volume" if len(candidates) == 1 or not c.prefix else f"volume:{c.prefix}"
        base, how = volume_study(study, c.column)
        out[name] = (base, f"{c.column} alone ({how}), {study.task.baseline_kinds[0]} ({c.how})", True)
    clinical = [c for c in study.columns.blocks.get("clinical", []) if c in study.columns.features]
    radiomic = set(study.columns.blocks.get("radiomic", []))
    if clinical and radiomic:
        out["clinical"] = (_clinical_study(study), f"the {len(clinical)} clinical column(s) alone, "
                                                   f"{study.task.baseline_kinds[1]}", True)
    if study.config.harmonize.method == "combat":
        out["no_harmonization"] = (study.without_harmonization(), "the full pipeline without ComBat", False)
    return out


def oof_scores(cv, ids) -> np.ndarray:
    """The out-of-fold predictions per row, averaged over repeats, in ``ids`` order: probability (binary), risk
    (survival), predicted value (regression), or a matrix of class probabilities (multiclass). (An ensemble of
    the repeats' models: the headline is :func:`oof_headline`, the mean of the repeats' metrics.)"""
    cols = score_columns(cv.oof)
    out = cv.oof.groupby("id", sort=False)[cols].mean().reindex(ids).to_numpy()
    return out if len(cols) > 1 else out[:, 0]


def paired_bootstrap_difference(y, p_model, p_base, *, n_boot=2000, groups=None, sites=None, random_state=0,
                                alpha=0.05, task=None, folds=None, base_folds=None) -> dict:
    """Difference in the headline metric (model minus baseline) with a percentile CI from one set of patient
    resamples shared by both models (whole groups when given; within each class, as for the AUC; with
    ``sites``, within each site and class, so each site keeps its size and the per-site AUCs their
    denominators).

    ``folds`` ((n_repeats, n): each row's outer fold per repeat; ``base_folds`` the baseline's, default the
    same): ``p_model`` and ``p_base`` then carry a leading repeats axis (:func:`oof_matrices`) and each is
    scored as :func:`repeated_headline`; a resampled row keeps its repeat's predictions and folds. Without
    ``folds``: one set of predictions, one block."""
    y = np.asarray(y)
    p_model, p_base = np.asarray(p_model, float), np.asarray(p_base, float)
    if folds is None:
        p_model, p_base, F_m, F_b = p_model[None], p_base[None], None, None
    else:
        F_m = np.asarray(folds)
        F_b = F_m if base_folds is None else np.asarray(base_folds)
    task = task if task is not None else task_of_array(y, p_model[0])
    y = task.encode_scores_target(y)

    def diff(idx):
        sb = None if sites is None else np.asarray(sites)[idx]
        fm = None if F_m is None else F_m[:, idx]
        fb = None if F_b is None else F_b[:, idx]
        return (repeated_headline(y[idx], p_model[:, idx], fm, sb, task=task)
                - repeated_headline(y[idx], p_base[:, idx], fb, sb, task=task))

    est = diff(np.arange(len(y)))
    # with sites: within site and class (event status for survival), so sites keep their size
    res = Resampler(task.bootstrap_strata(y), groups, strata=sites)
    rng = np.random.default_rng(random_state)
    draws = np.array([diff(res.draw(rng, "stratified")) for _ in range(n_boot)])
    lo, hi = np.nanpercentile(draws, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return {"difference": float(est), "ci_low": float(lo), "ci_high": float(hi),
            "p_boot_le_0": float(np.mean(draws <= 0))}


def delong_test(y, p1, p2) -> dict:
    """DeLong, DeLong & Clarke-Pearson (1988) test of two correlated ROC AUCs on the same rows: AUCs, their
    difference, its standard error, z and the two-sided p-value (equal to R pROC's ``roc.test(method="delong")``)."""
    from scipy.stats import norm

    y = np.asarray(y).astype(bool)
    P = np.vstack([np.asarray(p1, float), np.asarray(p2, float)])
    pos, neg = P[:, y], P[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    # placements: V10[k, i] = mean_j psi(pos_i, neg_j); V01[k, j] = mean_i psi(pos_i, neg_j)
    V10 = np.empty((2, m))
    V01 = np.empty((2, n))
    for k in range(2):
        cmp = (pos[k][:, None] > neg[k][None, :]) + 0.5 * (pos[k][:, None] == neg[k][None, :])
        V10[k], V01[k] = cmp.mean(axis=1), cmp.mean(axis=0)
    auc = V10.mean(axis=1)
    S = np.cov(V10) / m + np.cov(V01) / n
    var = S[0, 0] + S[1, 1] - 2 * S[0, 1]
    se = float(np.sqrt(var)) if var > 0 else np.nan
    z = float((auc[0] - auc[1]) / se) if se and np.isfinite(se) else np.nan
    return {"auc1": float(auc[0]), "auc2": float(auc[1]), "difference": float(auc[0] - auc[1]), "se": se, "z": z,
            "p_value": float(2 * norm.sf(abs(z))) if np.isfinite(z) else np.nan}


#: the seed offset of the second fit under leave-site-out (:func:`reseeded`)
RESEED_OFFSET = 7717


def reseeded(study, offset: int = RESEED_OFFSET):
    """``study`` with every source of randomness moved: the outer plan's seed (inner folds and search draws
    per fold) and every integer ``random_state`` of the pipeline (the model's, the sampler's...). The outer
    partition itself is unchanged under leave-site-out (one fold per site)."""
    import numbers

    from sklearn.base import clone

    pipe = clone(study.pipeline)
    params = {k: v + offset for k, v in pipe.get_params(deep=True).items()
              if k.split("__")[-1] == "random_state" and isinstance(v, numbers.Integral) and not isinstance(v, bool)}
    pipe.set_params(**params)
    return replace(study, pipeline=pipe, outer=replace(study.outer, random_state=study.outer.random_state + offset),
                   config=study.config.replace({"bootstrap": 0}))


def seed_refit_interval(bootstrap: dict, differences: list[float], *, alpha: float = 0.05) -> dict:
    """Leave-site-out's refit-aware interval. Its folds are a fixed partition (one per site): refitting the
    procedure draws the same training sets, so what a refit can change is the procedure's own randomness
    (seeds, random search draws). Two fits with different seeds give two differences ``d1, d2``; the variance
    of one fit's difference from that randomness is ``(d1 - d2)^2 / 2``, added to the paired bootstrap's
    variance (patients) on each side of the percentile interval: ``d1 - sqrt((d1 - low)^2 + z^2 v)`` to
    ``d1 + sqrt((high - d1)^2 + z^2 v)`` with ``v = (d1 - d2)^2 / 2``. A deterministic procedure gives
    ``d1 == d2`` and the bootstrap interval itself."""
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha / 2))
    d = float(bootstrap["difference"])
    d1, d2 = (float(v) for v in differences)
    var_refit = (d1 - d2) ** 2 / 2
    lo = d - float(np.sqrt((d - float(bootstrap["ci_low"])) ** 2 + z * z * var_refit))
    hi = d + float(np.sqrt((float(bootstrap["ci_high"]) - d) ** 2 + z * z * var_refit))
    return {"ci_low": lo, "ci_high": hi, "seed_refit_sd": float(np.sqrt(var_refit)),
            "differences": [d1, d2],
            "method": "refit-aware: paired bootstrap widened by the variance between two fits with different seeds "
                      "(leave-site-out folds are a fixed partition)"}


def decision_interval(bootstrap: dict, refit: dict) -> dict:
    """The interval a verdict decides on: the refit-aware one when it could be computed (two or more scored
    folds), else the paired bootstrap's (said in ``method``). Refit-aware: the headline difference plus or
    minus Student's t times the corrected resampled standard error of :func:`radiomix.model_selection.compare.
    refit_aware_difference` (per-fold differences, each fold a refit of both procedures)."""
    if np.isfinite(refit.get("ci_low", np.nan)) and np.isfinite(refit.get("ci_high", np.nan)):
        # centred on the headline difference (the number the verdict quotes; under leave-site-out it is the
        # mean of the per-fold differences itself), with the corrected t half-width
        half = float(refit["ci_high"]) - float(refit["difference"])
        d = float(bootstrap["difference"])
        return {"ci_low": d - half, "ci_high": d + half,
                "method": f"refit-aware: headline difference +- t x corrected resampled SE over {refit['n_folds']} "
                          "outer folds"}
    return {"ci_low": float(bootstrap["ci_low"]), "ci_high": float(bootstrap["ci_high"]),
            "method": "paired bootstrap of out-of-fold predictions (fewer than 2 scored folds for the refit-aware one)"}


def compare_with_baselines(study, cv, *, volume: str | None = None, progress: bool = False) -> dict:
    """Run each baseline of :func:`baseline_studies` under the study's outer folds and compare it with the
    nested-CV result ``cv`` of the full model. Returns ``{name: {...}}`` with the baseline's headline metric,
    the paired-bootstrap difference (model minus baseline: the predictions held fixed), the refit-aware
    interval (``refit``: random-split folds, the corrected resampled t-test over the per-fold differences;
    leave-site-out, a fixed partition, the bootstrap widened by the variance between two fits with different
    seeds: :func:`seed_refit_interval`), the interval the verdict decides on (``decision``) and, where valid,
    DeLong's test."""
    from .model_selection.validation import nested_cv

    leave_site_out = study.outer.kind == "leave_site_out"
    sites = study.sites if leave_site_out else None
    P_model, F_model = oof_matrices(cv.oof, study.ids)
    p_model = oof_scores(cv, study.ids)
    second = None
    if leave_site_out:  # a fixed partition: the refit-aware interval needs a second fit with other seeds
        second = oof_headline(nested_cv(reseeded(study), progress=False).oof, study.y, study.ids, sites,
                              task=study.task)
    out = {}
    for name, (base, description, nested) in baseline_studies(study, volume).items():
        res = nested_cv(replace(base, config=base.config.replace({"bootstrap": 0})), progress=False)
        P_base, F_base = oof_matrices(res.oof, study.ids)
        cmp_ = paired_bootstrap_difference(study.y, P_model, P_base, n_boot=study.n_bootstrap or 1000,
                                           groups=study.groups, sites=sites, random_state=study.random_state,
                                           task=study.task, folds=F_model, base_folds=F_base)
        model_h = repeated_headline(study.y, P_model, F_model, sites, task=study.task)
        base_h = repeated_headline(study.y, P_base, F_base, sites, task=study.task)
        if leave_site_out:
            base2 = oof_headline(nested_cv(reseeded(base), progress=False).oof, study.y, study.ids, sites,
                                 task=study.task)
            refit = seed_refit_interval(cmp_, [model_h - base_h, second - base2])
            decision = {k: refit[k] for k in ("ci_low", "ci_high", "method")}
        else:
            refit = refit_aware_difference(study.task, study.task.encode_scores_target(study.y), cv.oof, res.oof,
                                           study.ids, score_columns(cv.oof), n_rows=len(study.y))
            decision = decision_interval(cmp_, refit)
        row = {"description": description, "headline": headline_name(study), "baseline": base_h,
               "model": model_h, **cmp_, "refit": refit, "decision": decision}
        row["beats_baseline"] = bool(row["decision"]["ci_low"] > 0)
        if not nested and study.groups is None and study.task.supports_delong():
            # DeLong compares two AUCs of one prediction per row: the repeats' average (equal with one repeat)
            row["delong"] = delong_test(study.y, p_model, oof_scores(res, study.ids))
        else:
            row["delong"] = None
            row["delong_note"] = ("not reported: the baseline's inputs are part of the model's (nested models)"
                                  if nested else "not reported: rows are clustered within patients"
                                  if study.groups is not None else "not reported: DeLong compares the ROC AUCs "
                                                                   f"of a binary outcome, not a {study.task.name} one")
        out[name] = row
        if progress:
            import sys

            d = row["decision"]
            print(f"safeguard baseline {name} ({row['headline']}): {row['baseline']:.3f} vs model {row['model']:.3f}, "
                  f"difference {row['difference']:+.3f} (refit-aware {d['ci_low']:+.3f} to {d['ci_high']:+.3f}; paired "
                  f"bootstrap {row['ci_low']:+.3f} to {row['ci_high']:+.3f})", file=sys.stderr)
    return out


def case_mix(study, *, n_splits: int = 5, random_state: int | None = None) -> dict | None:
    """How well the site alone predicts the outcome (case mix), under stratified CV (labelled as such: under
    leave-site-out the site is constant inside each test fold, so it cannot be a baseline there). None when
    the study has no sites or a single one."""
    from .model_selection import StratifyOn, inner_cv

    if study.sites is None or len(set(study.sites)) < 2:
        return None
    X = pd.get_dummies(pd.Series(np.asarray(study.sites).astype(str)), dtype=float).to_numpy()
    rs = study.random_state if random_state is None else random_state
    g = study.groups
    cv = inner_cv(n_splits, g, rs)  # stratified, grouped by patient when groups are set
    p = study.task.case_mix_scores(X, study.y, cv, g)
    # each row's fold (the splits the task used: stratified on its strata where it cannot stratify on y), so
    # a survival C compares patients of one fold's model only, as the run's headline does
    strata = study.task.inner_strata
    folds = np.empty(len(study.y), int)
    for k, (_, test) in enumerate((StratifyOn(cv, strata) if strata else cv).split(X, study.y, g)):
        folds[test] = k
    site_of = np.asarray(study.sites).astype(str)
    key, rates = study.task.site_rates(study.y, study.classes, site_of)
    return {"auc": headline(study.y, p, task=study.task, blocks=folds), "metric": study.task.headline_label,
            "alarm": study.task.case_mix_alarm,
            "cv": f"{n_splits}-fold stratified{' grouped' if g is not None else ''}",
            key: {str(k): (float(v) if not isinstance(v, str) else v) for k, v in rates.items()},
            "what": "site alone predicting the outcome (case mix), under stratified CV, not the run's folds"}


def _permuted(y, sites, groups, rng) -> np.ndarray:
    """Outcomes permuted within site, whole patients together (a patient's rows keep one shared outcome
    draw when groups are given)."""
    y = np.asarray(y).copy()
    strata = np.zeros(len(y), int) if sites is None else pd.factorize(pd.Series(np.asarray(sites)))[0]
    units = np.arange(len(y)) if groups is None else pd.factorize(pd.Series(np.asarray(groups, dtype=object)))[0]
    out = y.copy()
    for s in np.unique(strata):
        rows = np.flatnonzero(strata == s)
        u = np.unique(units[rows])
        first = {k: rows[units[rows] == k] for k in u}
        donors = rng.permutation(u)
        for k, d in zip(u, donors):
            out[first[k]] = y[first[d][0]]
    return out


def study_headline(study, cv) -> float:
    """The run's headline metric from a nested-CV result (:func:`oof_headline` of ``cv.oof``): per repeat, the
    task's headline with blocks = outer fold (the mean per-site metric under leave-site-out), then the mean
    over repeats; equal to the run's summary's headline estimate."""
    sites = study.sites if study.outer.kind == "leave_site_out" else None
    return oof_headline(cv.oof, study.y, study.ids, sites, task=study.task)


def _permutation_auc(study, y_permuted, config) -> tuple[float, float]:
    """The headline metric of the whole nested CV refitted on permuted outcomes, and (survival) the log-rank
    chi-square of its out-of-fold risk groups (NaN otherwise)."""
    import warnings
    from dataclasses import replace as dc_replace

    from .model_selection.validation import nested_cv

    perm = dc_replace(study, y=y_permuted, config=config)
    with warnings.catch_warnings():  # the permuted refits repeat the run's own warnings
        warnings.simplefilter("ignore")
        res = nested_cv(perm, progress=False)
    return study_headline(perm, res), float(res.summary.get("risk_groups", {}).get("logrank_chi2", np.nan))


def _without_threshold_search(study):
    """The study whose refits skip what cannot change the headline metric: a binary model's decision threshold
    (Youden on inner out-of-fold predictions costs one more cross-validation per outer fold; the AUC does not
    depend on it) when no probability correction is learned from those same predictions (a sigmoid
    recalibration with a negative slope would reverse the ranking, so it is kept)."""
    from dataclasses import replace as dc_replace

    if study.search.threshold != "youden" or study.search.correction not in (None, "prevalence"):
        return study
    return dc_replace(study, search=dc_replace(study.search, threshold=0.5))


def permutation_test(study, observed: float, n_permutations: int, *, random_state: int | None = None,
                     progress: bool = False, observed_logrank: float | None = None) -> dict:
    """Permutation test of the whole nested procedure: outcomes permuted within site (whole patients), every
    outer fold refitted with its inner search (the bootstrap, the baselines, the final model and, for a binary
    model without a learned recalibration, the decision threshold are skipped: they do not change the AUC).
    ``observed`` is the run's headline metric (:func:`study_headline`, :func:`oof_headline`) and each
    permutation is scored the same way. ``p = (1 + #{AUC_perm >= observed}) / (N + 1)`` with its Monte-Carlo standard error.
    Survival: with ``observed_logrank`` (the log-rank chi-square of the run's out-of-fold risk groups) the same
    refits give its valid p-value (``risk_groups_logrank``; Simon et al. 2011)."""
    from joblib import Parallel, delayed

    rng = np.random.default_rng(study.random_state + 7919 if random_state is None else random_state)
    # Outcomes drawn here, in order, so the p-value does not depend on n_jobs; each refit runs its folds
    # serially and the permutations run in parallel (joblib: processes, or Dask under
    # joblib.parallel_config(backend="dask")).
    perms = [_permuted(study.y, study.sites, study.groups, rng) for _ in range(n_permutations)]
    cfg = study.config.replace({"bootstrap": 0, "n_jobs": 1})
    lean = _without_threshold_search(study)
    calls = (delayed(_permutation_auc)(lean, yp, cfg) for yp in perms)
    it = Parallel(n_jobs=study.n_jobs, return_as="generator")(calls)
    if progress:
        from rich.progress import track

        it = track(it, total=n_permutations, description=f"permutation test ({n_permutations} refits of the nested CV)")
    pairs = np.array(list(it), float).reshape(n_permutations, 2)
    aucs = pairs[:, 0]
    hits = int(np.sum(aucs >= observed))
    p = (1 + hits) / (n_permutations + 1)
    out = {"n_permutations": int(n_permutations), "observed_auc": float(observed), "p_value": float(p),
           "mc_se": float(np.sqrt(p * (1 - p) / (n_permutations + 1))),
           "null_auc_mean": float(np.mean(aucs)), "null_auc_95th": float(np.percentile(aucs, 95)),
           "metric": headline_name(study),
           "scheme": "outcomes permuted within site, whole patients; every outer fold refitted"}
    if observed_logrank is not None and np.isfinite(observed_logrank):
        p_lr = (1 + int(np.sum(pairs[:, 1] >= observed_logrank))) / (n_permutations + 1)
        out["risk_groups_logrank"] = {"observed_chi2": float(observed_logrank), "p_value": float(p_lr),
                                      "null_chi2_95th": float(np.nanpercentile(pairs[:, 1], 95)),
                                      "what": "log-rank chi-square of the out-of-fold risk groups, against its "
                                              "distribution over the permutation refits"}
    return out
