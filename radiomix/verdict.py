"""The verdict of a run: one sentence and a small table saying whether the model beats what a clinician already
has, and what limits the claim (Welch et al. 2019, "Vulnerabilities of radiomic signature development: the need
for safeguards").

:func:`events_per_feature` and :func:`volume_correlations` measure two of Welch et al.'s checks on a
:class:`radiomix.study.Study`; :func:`verdict` reads a run's summary (``metrics.json`` ``summary``: baselines,
permutation test, case mix, events per feature, correlations with volume) and writes the sentence and the
rows that the console, ``metrics.json`` and the first section of the report show.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = ["EPV_CANDIDATE_MIN", "EPV_MODEL_MIN", "VOLUME_SURROGATE_RHO", "CALIBRATION_SLOPE_RANGE",
           "CALIBRATION_INTERCEPT_MAX", "events_per_feature", "volume_correlations", "calibration_row", "verdict"]

#: Fewer events per candidate feature than this: the feature count is large for the sample (a warning).
EPV_CANDIDATE_MIN = 0.1
#: Fewer events per feature entering the model than this (the classic 10 events per variable): a warning.
EPV_MODEL_MIN = 10.0
#: |Spearman rho| with volume from which a selected feature is counted as a volume surrogate.
VOLUME_SURROGATE_RHO = 0.8
#: Calibration slope outside this range: a caution row. Van Calster et al. (2016, J Clin Epidemiol 74:167; 2019,
#: BMC Med 17:230) read the slope of the out-of-fold predictions as the spread of the risks: 1 ideal, below 1 too
#: extreme (overfitting), above 1 too moderate (under-confident). They give no cut-off; radiomix's is symmetric on
#: the log scale (0.8 = 1 / 1.25): a 20 % contraction or a 25 % expansion of the log-odds.
CALIBRATION_SLOPE_RANGE = (0.8, 1.25)
#: |calibration intercept| (calibration-in-the-large, logit scale, slope fixed at 1) above this: a caution row.
#: 0.5 on the log-odds is an odds ratio of 1.65 between observed and predicted risk at every risk level.
CALIBRATION_INTERCEPT_MAX = 0.5


def events_per_feature(study, cv=None) -> dict:
    """Events (patients in the smallest outcome class; survival: patients with the event; a continuous outcome:
    all patients) per candidate feature and per feature that entered the
    fold models (the median over outer folds of the features left after selection; all candidates when
    nothing selects). Warns once when either is below :data:`EPV_CANDIDATE_MIN` / :data:`EPV_MODEL_MIN`."""
    events, event_class = study.task.effective_events(study.y, study.groups)
    n_candidates = len(study.columns.features)
    n_model = n_candidates
    if cv is not None and "selected" in cv.folds.columns:
        sizes = [len(s) for s in cv.folds["selected"] if isinstance(s, (list, tuple))]
        if sizes:
            n_model = int(np.median(sizes))
    out = {"events": events, "event_class": event_class,
           "candidate_features": n_candidates, "model_features": n_model,
           "per_candidate_feature": events / n_candidates if n_candidates else np.nan,
           "per_model_feature": events / n_model if n_model else np.nan,
           "thresholds": {"per_candidate_feature": EPV_CANDIDATE_MIN, "per_model_feature": EPV_MODEL_MIN}}
    problems = []
    if out["per_candidate_feature"] < EPV_CANDIDATE_MIN:
        problems.append(f"{out['per_candidate_feature']:.3f} events per candidate feature ({events} events, "
                        f"{n_candidates} candidates; below {EPV_CANDIDATE_MIN}): selection among so many features is "
                        "unstable and any one selected list is fragile")
    if out["per_model_feature"] < EPV_MODEL_MIN:
        problems.append(f"{out['per_model_feature']:.1f} events per feature entering the model ({n_model} features, "
                        f"median over folds; below {EPV_MODEL_MIN:g}): keep fewer features (select.mrmr) or expect "
                        "overfitting")
    out["warning"] = "; ".join(problems) or None
    if problems:
        warnings.warn(f"small sample for the feature count: {out['warning']}", stacklevel=2)
    return out


def volume_correlations(study, cv, volume: str) -> list[dict]:
    """Each feature selected in at least one outer fold: how often it was selected and its Spearman
    correlation with ``volume`` over all rows (raw values; Welch et al.'s check that a signature is not a
    volume surrogate). Features are mapped back to their input column when the pipeline encoded them; text
    columns get no correlation. Sorted by |rho|, largest first."""
    from scipy.stats import spearmanr

    from .explain import source_columns

    if "selected" not in cv.folds.columns:
        return []
    lists = [s for s in cv.folds["selected"] if isinstance(s, (list, tuple))]
    if not lists:
        return []
    inputs = [str(c) for c in study.X.columns]
    freq: dict[str, int] = {}
    for sel in lists:
        for col in set(source_columns(list(sel), inputs)):
            freq[col] = freq.get(col, 0) + 1
    vol = pd.to_numeric(study.X[volume], errors="coerce").to_numpy(float)
    rows = []
    for col, k in freq.items():
        rho = np.nan
        if col in study.X.columns and pd.api.types.is_numeric_dtype(study.X[col]):
            x = pd.to_numeric(study.X[col], errors="coerce").to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(vol)
            if ok.sum() >= 3 and np.ptp(x[ok]) > 0 and np.ptp(vol[ok]) > 0:
                rho = float(spearmanr(x[ok], vol[ok]).statistic)
        rows.append({"feature": col, "selected_fraction": k / len(lists), "spearman_volume": rho,
                     "volume_surrogate": bool(np.isfinite(rho) and abs(rho) >= VOLUME_SURROGATE_RHO
                                              and col != volume),
                     "is_volume": col == volume})
    return sorted(rows, key=lambda r: (-abs(r["spearman_volume"]) if np.isfinite(r["spearman_volume"]) else 1.0,
                                       r["feature"]))


def _decision(b: dict) -> tuple[float, float]:
    """The interval a baseline comparison is decided on: ``decision`` (refit-aware) when the run recorded one,
    else the paired bootstrap's (runs saved before the refit-aware interval existed)."""
    d = b.get("decision") or b
    return d["ci_low"], d["ci_high"]


def _ci(b: dict) -> str:
    lo, hi = _decision(b)
    text = f"{b['difference']:+.3f}, 95% CI {lo:+.3f} to {hi:+.3f}"
    if b.get("decision") and b["decision"].get("method", "").startswith("refit"):
        text += f"; paired bootstrap {b['ci_low']:+.3f} to {b['ci_high']:+.3f}"
    return text


def _calibration_scale(summary: dict, cal: dict) -> str:
    # Binary runs: logistic calibration of the out-of-fold probabilities (radiomix.metrics.calibration), intercept
    # on the logit scale; regression: OLS of observed on predicted, intercept in outcome units (the summary then
    # holds the metric "calibration_intercept"), where no fixed threshold applies. An explicit "scale" wins.
    return cal.get("scale") or ("outcome" if "calibration_intercept" in summary else "logit")


def calibration_row(summary: dict) -> dict | None:
    """The verdict row on the calibration of the out-of-fold predictions (``summary["calibration"]``: binary and
    regression runs; None for outcome types without a calibration slope). ``caution`` when the slope is outside
    :data:`CALIBRATION_SLOPE_RANGE` or (logit scale only) |intercept| > :data:`CALIBRATION_INTERCEPT_MAX`, with
    what to do in the result; ``ok`` otherwise."""
    cal = summary.get("calibration")
    if not isinstance(cal, dict) or not np.isfinite(cal.get("slope", np.nan)):
        return None
    slope, intercept = float(cal["slope"]), float(cal.get("intercept", np.nan))
    logit = _calibration_scale(summary, cal) == "logit"
    recal = ", or recalibrate (calibration.recalibrate: sigmoid)" if logit else ""
    lo, hi = CALIBRATION_SLOPE_RANGE
    problems = []
    if slope > hi:
        problems.append(f"under-confident predictions (slope {slope:.2f} > {hi:g}: too moderate): less "
                        f"regularisation{recal}")
    elif slope < lo:
        problems.append(f"over-confident predictions (slope {slope:.2f} < {lo:g}: too extreme, overfitting): more "
                        f"regularisation, fewer features (select.mrmr){recal}")
    if logit and np.isfinite(intercept) and abs(intercept) > CALIBRATION_INTERCEPT_MAX:
        way = "too low" if intercept > 0 else "too high"
        problems.append(f"predicted risks {way} on average (intercept {intercept:+.2f}, |.| > "
                        f"{CALIBRATION_INTERCEPT_MAX:g}): recalibrate (calibration.recalibrate: sigmoid); with "
                        "balance.method resampling, check balance.correction")
    crit = f"slope {lo:g}-{hi:g}" + (f", |intercept| <= {CALIBRATION_INTERCEPT_MAX:g}" if logit else "")
    return {"check": f"calibration of the out-of-fold predictions ({crit})",
            "result": "; ".join(problems) or "within range",
            "value": f"slope {slope:.2f}, intercept {intercept:+.3g}" + ("" if logit else " (outcome units)"),
            "status": "caution" if problems else "ok"}


_BASELINE_WORDS = {"volume": "tumour volume alone", "clinical": "the clinical variables alone",
                   "no_harmonization": "the same pipeline without ComBat"}


def _is_volume(name: str) -> bool:
    # "volume", or "volume:<prefix>" for one of several volume columns (CT and PET, manual and semi-automatic masks)
    return name == "volume" or name.startswith("volume:")


def _baseline_words(name: str) -> str:
    if name.startswith("volume:"):
        return f"{name.split(':', 1)[1]} tumour volume alone"
    return _BASELINE_WORDS.get(name, name)


def verdict(summary: dict) -> dict:
    """``{"sentence", "rows", "beats_all"}`` from a run summary: one sentence first (does the model beat each
    baseline, with the difference in the headline metric and the interval it is decided on: the refit-aware one
    (:func:`radiomix.safeguards.decision_interval`), the paired bootstrap's beside it), then one row per check
    (baselines, permutation test, case mix, events per feature, selected features correlated with volume,
    calibration: :func:`calibration_row`), each with a status ``ok`` / ``caution`` / ``fail`` / ``info``."""
    rows, beaten, not_beaten, worse = [], [], [], []
    base = summary.get("baselines") or {}
    headline = (summary.get("headline") or {}).get("name") or next((b["headline"] for b in base.values()),
                                                                     "pooled AUC")
    refit = any((b.get("decision") or {}).get("method", "").startswith("refit") for b in base.values())
    for name, b in base.items():
        words = _baseline_words(name)
        lo, hi = _decision(b)
        if lo > 0:
            status, res = "ok", "beats it"
            beaten.append(words)
        elif hi < 0:
            status, res = "fail", "worse than it"
            worse.append(f"{words} ({_ci(b)})")
        else:
            status, res = ("fail" if _is_volume(name) else "caution"), "not shown better (CI includes 0)"
            not_beaten.append(f"{words} ({_ci(b)})")
        rows.append({"check": f"vs {words}", "result": res,
                     "value": f"{b['model']:.3f} vs {b['baseline']:.3f} ({_ci(b)})", "status": status})
    perm = summary.get("permutation")
    if perm:
        ok = perm["p_value"] < 0.05
        rows.append({"check": "permutation test of the whole nested CV",
                     "result": "signal beyond chance" if ok else "not distinguishable from chance",
                     "value": f"p = {perm['p_value']:.3f} (MC SE {perm['mc_se']:.3f}, {perm['n_permutations']} "
                              "permutations)", "status": "ok" if ok else "fail"})
    mix = summary.get("case_mix")
    if mix:
        high = mix["auc"] >= mix.get("alarm", 0.6)
        rows.append({"check": "site alone predicts the outcome (case mix)",
                     "result": "sites differ in outcome" if high else "little case mix",
                     "value": f"{mix.get('metric', 'AUC')} {mix['auc']:.3f} ({mix['cv']})",
                     "status": "caution" if high else "ok"})
    epv = summary.get("events_per_feature")
    if epv:
        rows.append({"check": "events per candidate / per model feature",
                     "result": "small sample for the feature count" if epv.get("warning") else "adequate",
                     "value": f"{epv['per_candidate_feature']:.3g} / {epv['per_model_feature']:.3g} ({epv['events']} "
                              f"events, {epv['candidate_features']} candidates, {epv['model_features']} in the model)",
                     "status": "caution" if epv.get("warning") else "ok"})
    corr = summary.get("volume_correlation")
    if corr:
        sur = [r for r in corr if r["volume_surrogate"]]
        vol_in = any(r["is_volume"] for r in corr)
        rows.append({"check": f"selected features correlated with volume (|rho| >= {VOLUME_SURROGATE_RHO})",
                     "result": f"{len(sur)} of {len(corr)} selected features" + (" (volume itself selected)" if vol_in
                                                                                  else ""),
                     "value": ", ".join(f"{r['feature']} {r['spearman_volume']:+.2f}" for r in sur[:5])
                              + (" ..." if len(sur) > 5 else ""),
                     "status": "caution" if sur else "ok"})
    cal = calibration_row(summary)
    if cal:
        rows.append(cal)
    parts = []
    if beaten:
        parts.append("beats " + (", ".join(beaten[:-1]) + " and " + beaten[-1] if len(beaten) > 1 else beaten[0]))
    if not_beaten:
        parts.append("is not shown to beat " + "; ".join(not_beaten))
    if worse:
        parts.append("is worse than " + "; ".join(worse))
    beats_all = bool(base) and not not_beaten and not worse
    if parts:
        how = ("refit-aware interval, which includes the variability of refitting" if refit else "paired bootstrap")
        sentence = f"On {headline} (model minus baseline, {how}), the model " + "; it ".join(parts) + "."
        if any(_is_volume(k) and _decision(b)[0] <= 0 for k, b in base.items()):
            sentence += " It has not been shown to add anything to tumour volume."
    else:
        sentence = "No baseline applied to this run (no volume column, no clinical block, no ComBat)."
    if perm:
        sentence += (f" Permutation test of the whole procedure: p = {perm['p_value']:.3f}"
                     + ("." if perm["p_value"] < 0.05 else " (not distinguishable from chance)."))
    return {"sentence": sentence, "rows": rows, "beats_all": beats_all, "headline": headline}
