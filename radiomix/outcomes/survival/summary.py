"""Out-of-fold summary of a survival nested cross-validation: the run's per-patient and per-fold frames and
its metrics with bootstrap confidence intervals.

* **Discrimination**: Harrell's C (the headline, also the inner-fold scoring) and Uno's IPCW C truncated at
  ``tau``; cumulative/dynamic AUC at each horizon. Each is computed over pairs of patients in the same outer
  fold only (each fold's risks come from its own model, on that model's scale), pooled over the folds of a
  repeat (concordant over comparable weight), then averaged over repeats; the per-fold C and their mean are
  reported beside it. A horizon is *not estimable* (reported as such, not as a
  number) when fewer than :data:`MIN_CASES` patients had the event by then or fewer than
  :data:`MIN_CASES` were still event-free after it (pooled; per fold the same rule on the fold's test
  patients).
* **Accuracy of the survival probabilities**: IPCW Brier score at each horizon and integrated over the grid.
* **Calibration at each horizon**: mean predicted ``S(t)`` against the Kaplan-Meier estimate, by thirds of
  predicted risk.
* **Risk groups**: each outer fold's model splits its test patients at the median risk of its own training
  patients; Kaplan-Meier curves of the out-of-fold groups. Their log-rank statistic is descriptive only: a
  log-rank p-value of cross-validated groups is not valid (Simon et al. 2011); the permutation test of the
  whole procedure (``safeguards.permutations``) gives the valid one.

Censoring weights: pooled metrics use the Kaplan-Meier estimate of the censoring distribution of all
patients (evaluation weights, not a model fit); per-fold metrics that of the fold's training patients.
Confidence intervals are percentile bootstraps over patients (whole patients with groups), drawn within
event status (and within site with leave-site-out), with the same resamples for every metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..records import optimism
from . import metrics as M

__all__ = ["survival_outputs", "survival_function", "MIN_CASES"]

#: Fewest cases (events by the horizon) and controls (event-free after it) for a time-dependent AUC.
MIN_CASES = 5


def survival_function(model, X, times) -> np.ndarray:
    """``S(t | x)`` of a fitted survival model or a Pipeline ending in one: (rows of X, times)."""
    if hasattr(model, "predict_survival"):
        return model.predict_survival(X, times)
    steps = getattr(model, "steps", None)
    if not steps or not hasattr(steps[-1][1], "predict_survival"):
        raise TypeError(f"{type(model).__name__} gives no survival probabilities (predict_survival)")
    from ...steps import transform_for_model

    final, Xt = steps[-1][1], transform_for_model(model, X)
    if not hasattr(final, "feature_names_in_"):  # fitted on an array (a plain scikit-learn Pipeline)
        Xt = np.asarray(Xt, dtype=float)
    return final.predict_survival(Xt, times)


def fold_outputs(model, X, outcome: dict) -> dict:
    """What an outer fold's model must give beyond its risk scores: ``S(t)`` at the horizons and the grid."""
    times = np.concatenate([outcome["horizons"], outcome["grid"]])
    return {"surv": survival_function(model, X, times)}


def _estimable(time, event, h) -> bool:
    return bool(((time <= h) & event).sum() >= MIN_CASES and (time > h).sum() >= MIN_CASES)


def _fold_row(study, res, y) -> dict:
    from ..records import fold_record

    f, out = res.fold, study.outcome
    t, e = y[f.test, 0], y[f.test, 1] > 0
    tr_t, tr_e = y[f.train, 0], y[f.train, 1] > 0
    m = {"n_events_test": int(e.sum()), "c_index": M.harrell_c(t, e, res.proba),
         "uno_c": M.uno_c(t, e, res.proba, ref_time=tr_t, ref_event=tr_e, tau=out["tau"])}
    for h in out["horizons"]:
        m[f"td_auc_{h:g}"] = (M.cumulative_dynamic_auc(t, e, res.proba, [h], ref_time=tr_t, ref_event=tr_e)[0]
                              if _estimable(t, e, h) else np.nan)
    m["cutoff"] = res.threshold
    return fold_record(res, m, "c_index")


def _collect(study, results):
    y, n, R = study.y, len(study.y), study.outer.n_repeats
    k = len(study.outcome["horizons"]) + len(study.outcome["grid"])
    P, F, S = np.full((R, n), np.nan), np.full((R, n), -1), np.full((R, n, k), np.nan)
    oof_rows, fold_rows = [], []
    for res in results:
        f = res.fold
        P[f.repeat, f.test], F[f.repeat, f.test] = res.proba, f.fold
        S[f.repeat, f.test] = res.extra["surv"]
        frame = {"id": study.ids[f.test], "repeat": f.repeat, "fold": f.fold, "time": y[f.test, 0],
                 "event": y[f.test, 1].astype(int), "risk": res.proba, "cutoff": res.threshold,
                 "risk_group": np.where(res.proba > res.threshold, "high", "low")}
        for j, h in enumerate(study.outcome["horizons"]):
            frame[f"surv_{h:g}"] = res.extra["surv"][:, j]
        if study.sites is not None:
            frame["site"] = np.asarray(study.sites)[f.test]
        oof_rows.append(pd.DataFrame(frame))
        fold_rows.append(_fold_row(study, res, y))
    if np.isnan(P).any():
        raise RuntimeError("some samples received no out-of-fold prediction")
    return pd.concat(oof_rows, ignore_index=True), pd.DataFrame(fold_rows), P, F, S


def _point_and_boot(study, P, F, S, rng):
    """Point estimates (mean over repeats) and bootstrap replicates of every pooled metric; the pair statistics
    over pairs within each repeat's outer folds (``F``: the fold of each row per repeat), so a resampled patient
    keeps its fold."""
    y, out = study.y, study.outcome
    time, event = y[:, 0], y[:, 1] > 0
    H, grid = out["horizons"], out["grid"]
    nh = len(H)
    stats = {"c_index": [M.concordance_pairs(time, event, p, blocks=f) for p, f in zip(P, F)],
             "uno_c": [M.uno_pairs(time, event, p, tau=out["tau"], blocks=f) for p, f in zip(P, F)]}
    for h in H:
        if _estimable(time, event, h):
            stats[f"td_auc_{h:g}"] = [M.auc_pairs(time, event, p, h, blocks=f) for p, f in zip(P, F)]
    span = grid[-1] - grid[0]
    loss = {"ibs": [np.trapezoid(M.brier_losses(time, event, s[:, nh:], grid), grid, axis=1) / span for s in S]}
    for j, h in enumerate(H):
        loss[f"brier_{h:g}"] = [M.brier_losses(time, event, s[:, [j]], [h])[:, 0] for s in S]
    point = {m: float(np.mean([p.value for p in v])) for m, v in stats.items()}
    point.update({m: float(np.mean([v.mean() for v in vs])) for m, vs in loss.items()})
    boot = {}
    if study.n_bootstrap:
        counts = _boot_counts(study, rng)
        for m, v in stats.items():
            boot[m] = np.mean([p.resampled(counts) for p in v], axis=0)
        tot = counts.sum(axis=1)
        for m, vs in loss.items():
            boot[m] = np.mean([counts @ v / tot for v in vs], axis=0)
    return point, boot


def _boot_counts(study, rng) -> np.ndarray:
    from ...metrics import Resampler

    strata = study.sites if study.outer.kind == "leave_site_out" else None
    return Resampler(study.y[:, 1].astype(int), groups=study.groups, strata=strata).counts(rng, study.n_bootstrap)


def _calibration(study, P, S) -> dict:
    """Mean predicted S(t) against Kaplan-Meier S(t) by thirds of out-of-fold risk, at each horizon."""
    y, H = study.y, study.outcome["horizons"]
    time, event = y[:, 0], y[:, 1] > 0
    risk = P.mean(axis=0)
    third = pd.qcut(pd.Series(risk).rank(method="first"), 3, labels=["low", "middle", "high"]).to_numpy()
    out = {}
    for j, h in enumerate(H):
        pred = S[:, :, j].mean(axis=0)
        rows = []
        for g in ("low", "middle", "high"):
            m = third == g
            kt, ks = M.kaplan_meier(time[m], event[m])
            rows.append({"group": g, "n": int(m.sum()), "predicted": float(pred[m].mean()),
                         "observed": float(M.step_at(kt, ks, h))})
        kt, ks = M.kaplan_meier(time, event)
        out[f"{h:g}"] = {"groups": rows, "predicted": float(pred.mean()), "observed": float(M.step_at(kt, ks, h))}
    return out


def _risk_groups(study, oof: pd.DataFrame) -> dict:
    first = oof[oof["repeat"] == 0]
    groups = {}
    for g in ("low", "high"):
        part = first[first["risk_group"] == g]
        kt, ks = M.kaplan_meier(part["time"], part["event"] > 0) if len(part) else (np.array([]), np.array([]))
        below = np.flatnonzero(ks <= 0.5)
        groups[g] = {"n": int(len(part)), "events": int(part["event"].sum()),
                     "median_survival": float(kt[below[0]]) if below.size else None,
                     "km_time": kt.tolist(), "km_surv": ks.tolist()}
    chi2 = M.logrank(first["time"].to_numpy(), first["event"].to_numpy() > 0, first["risk_group"].to_numpy())
    return {"rule": "each outer fold's model splits its test patients at the median risk of its own training "
                    "patients", "groups": groups, "logrank_chi2": chi2,
            "note": "descriptive: a log-rank p-value of cross-validated risk groups is not valid (Simon et al. "
                    "2011); safeguards.permutations gives a permutation p-value of the whole procedure"}


def _summarize(study, folds: pd.DataFrame, oof: pd.DataFrame, P, F, S) -> dict:
    alpha = 0.05
    point, boot = _point_and_boot(study, P, F, S, np.random.default_rng(study.random_state))
    summary = {}
    for m, est in point.items():
        lo, hi = (np.nanquantile(boot[m], [alpha / 2, 1 - alpha / 2]) if m in boot else (np.nan, np.nan))
        summary[m] = {"estimate": est, "ci_low": float(lo), "ci_high": float(hi)}
    y, out = study.y, study.outcome
    time, event = y[:, 0], y[:, 1] > 0
    summary["td_auc"] = {f"{h:g}": {**summary.pop(f"td_auc_{h:g}", {"estimate": None, "ci_low": None,
                                                                        "ci_high": None}),
                                    "cases": int(((time <= h) & event).sum()), "controls": int((time > h).sum()),
                                    "estimable": _estimable(time, event, h)}
                         for h in out["horizons"]}
    summary["brier_at"] = {f"{h:g}": summary.pop(f"brier_{h:g}") for h in out["horizons"]}
    summary["c_index_folds"] = {"mean": float(folds["c_index"].mean()), "sd": float(folds["c_index"].std(ddof=1)),
                                "n": int(folds["c_index"].notna().sum()),
                                "values": [float(v) for v in folds["c_index"]],
                                "what": "Harrell's C of each outer fold's test patients (repeat, fold order); the "
                                        "headline pools the same within-fold pairs over the folds"}
    summary["calibration_horizons"] = _calibration(study, P, S)
    summary["risk_groups"] = _risk_groups(study, oof)
    summary["survival"] = {"horizons": [float(h) for h in out["horizons"]], "horizons_from": out["horizons_from"],
                           "tau": out["tau"], "tau_from": out["tau_from"], "ibs_grid": [float(out["grid"][0]),
                                                                                         float(out["grid"][-1])],
                           "censoring_weights": "Kaplan-Meier of all patients' censoring (pooled metrics); of "
                                                "the training fold (per-fold metrics)", "min_cases": MIN_CASES,
                           "pairs": "concordance and time-dependent AUC compare patients of the same outer fold "
                                    "only (one model's risks), pooled over folds, mean over repeats"}
    if study.sites is not None:
        s_arr = np.asarray(study.sites).astype(str)
        summary["per_site"] = {s: {"n": int((s_arr == s).sum()), "n_events": int(event[s_arr == s].sum()),
                                   "c_index": float(np.mean([M.harrell_c(time[s_arr == s], event[s_arr == s],
                                                                         p[s_arr == s], blocks=f[s_arr == s])
                                                             for p, f in zip(P, F)]))}
                               for s in sorted(set(s_arr))}
    if (opt := optimism(folds, "C-index")) is not None:
        summary["optimism"] = opt
    summary["n_samples"], summary["n_events"] = int(len(y)), int(event.sum())
    return summary


def survival_outputs(study, results):
    """``(oof, folds, summary)`` of a survival nested CV from its outer-fold results."""
    oof, folds, P, F, S = _collect(study, results)
    return oof, folds, _summarize(study, folds, oof, P, F, S)


def external_summary(y, risk, surv, horizons, *, n_bootstrap: int = 2000, random_state=0) -> dict:
    """Harrell's and Uno's C, and the time-dependent AUC and Brier score at the model's horizons, with 95 %
    bootstrap CIs (patients resampled within event status), of a saved model on an external cohort. The
    censoring distribution is the external cohort's own (the training patients are not in a model file); Uno's
    C is truncated at the 90th percentile of the external event times."""
    from ...metrics import Resampler

    y = np.asarray(y, float)
    time, event = y[:, 0], y[:, 1] > 0
    horizons = np.asarray(horizons, float)
    tau = M.default_tau(time, event)
    stats = {"c_index": M.concordance_pairs(time, event, risk), "uno_c": M.uno_pairs(time, event, risk, tau=tau)}
    for h in horizons:
        if _estimable(time, event, h):
            stats[f"td_auc_{h:g}"] = M.auc_pairs(time, event, risk, h)
    losses = {f"brier_{h:g}": M.brier_losses(time, event, surv[:, [j]], [h])[:, 0] for j, h in enumerate(horizons)}
    counts = None
    if n_bootstrap:
        counts = Resampler(event.astype(int)).counts(np.random.default_rng(random_state), n_bootstrap)
    out = {}
    for m, st in stats.items():
        b = st.resampled(counts) if counts is not None else np.array([np.nan])
        out[m] = {"estimate": st.value, "ci_low": float(np.nanquantile(b, 0.025)),
                  "ci_high": float(np.nanquantile(b, 0.975))}
    for m, v in losses.items():
        b = counts @ v / counts.sum(axis=1) if counts is not None else np.array([np.nan])
        out[m] = {"estimate": float(v.mean()), "ci_low": float(np.nanquantile(b, 0.025)),
                  "ci_high": float(np.nanquantile(b, 0.975))}
    out["td_auc"] = {f"{h:g}": {**out.pop(f"td_auc_{h:g}", {"estimate": None, "ci_low": None, "ci_high": None}),
                                "cases": int(((time <= h) & event).sum()), "controls": int((time > h).sum()),
                                "estimable": _estimable(time, event, h)} for h in horizons}
    out["brier_at"] = {f"{h:g}": out.pop(f"brier_{h:g}") for h in horizons}
    out["survival"] = {"horizons": horizons.tolist(), "tau": tau, "censoring_weights": "the external cohort's own "
                       "Kaplan-Meier censoring distribution"}
    out["n_samples"], out["n_events"] = int(len(time)), int(event.sum())
    return out
