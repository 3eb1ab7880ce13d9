"""Binary outcomes: two labels, a positive class, probabilities and a decision threshold.

The out-of-fold summary pools each outer fold's test predictions (averaged over repeats): AUC, accuracy,
balanced accuracy, sensitivity, specificity, PPV, NPV, F1 and Brier score at the fold thresholds, with percentile
bootstrap CIs (:func:`radiomix.metrics.bootstrap_ci`: within each class for the AUC and the class-conditional
rates), calibration, the reliability curve, the decision curve, per-site and per-block AUCs and, with
``aggregate``, patient-level metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..metrics import (
    BOOTSTRAP_SCHEME,
    METRICS,
    binary_metrics,
    bootstrap_auc,
    bootstrap_ci,
    calibration,
    decision_curve,
    reliability_curve,
    roc_auc,
)
from .base import ClassProbabilityModels, Task, check_labels, per_patient
from .records import fmt_number, optimism
from .registry import register_task

__all__ = ["BinaryTask", "class_codes"]

#: The sections of a binary run's report, in order (keys of :data:`radiomix.report.SECTIONS_BY_KEY`).
BINARY_REPORT = ("verdict", "data", "metrics", "baselines", "roc", "precision-recall", "calibration",
                 "decision-curve", "confusion", "folds", "sites", "blocks", "selection", "robustness", "site-effect",
                 "shap", "checklist", "config")


@dataclass(frozen=True)
class BinaryTask(ClassProbabilityModels, Task):
    """A binary outcome: two labels; the positive class is ``positive`` when given, else 1 / True, else the
    second label in sorted order (the run says which)."""

    name: str = "binary"
    metrics: tuple = METRICS
    headline: str = "auc"
    headline_label: str = "AUC"
    scoring: str = "roc_auc"
    default_model: str = "logistic"  # model.name auto: chosen on radMLBench (benchmarks/choose_defaults.py)
    explainer_output: str = "log-odds"
    estimator_kinds: tuple = ("binary_classifier", "classifier")
    prediction_method: str = "predict_proba"
    estimator_noun: str = "classifier"
    model_defaults: dict = field(default_factory=lambda: {"xgboost": {"eval_metric": "logloss"}})
    report_header: str = "header"
    report_layout: tuple = BINARY_REPORT

    def encode_target(self, target: pd.Series, column: str, positive=None) -> tuple[np.ndarray, list]:
        obs = target.dropna()
        if obs.empty:
            raise ValueError(f"target {column!r} has no value in any row: nothing to learn from")
        check_labels(obs, column)
        levels = sorted(obs.unique().tolist(), key=str)
        if len(levels) == 1:
            raise ValueError(f"target {column!r} has one class ({levels[0]!r}) in all {len(obs)} rows with a value: "
                             "a binary outcome needs both classes")
        if len(levels) != 2:
            kind = "a continuous target (regression)" if pd.api.types.is_float_dtype(obs) and len(levels) > 10 else \
                f"{len(levels)} classes"
            raise ValueError(
                f"target {column!r} has {kind}, not two classes: set task: "
                f"{'regression' if 'regression' in kind else 'multiclass'} (or auto); values seen: {levels[:10]}"
            )
        if set(levels) == {0, 1} or set(levels) == {False, True}:
            levels = [0, 1] if 0 in levels else [False, True]
        if positive is not None:
            match = [v for v in levels if v == positive or str(v) == str(positive)]
            if not match:
                raise ValueError(f"positive class {positive!r} is not a value of target {column!r}; its values: "
                                 f"{[str(v) for v in levels]}")
            i = levels.index(match[0])
            levels = [levels[1 - i], levels[i]]
        return (obs == levels[1]).astype(int).to_numpy(), levels

    def strata(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y)

    def check_folds(self, y: np.ndarray, n_splits: int, classes=None) -> None:
        counts = np.bincount(np.asarray(y, int), minlength=2)
        if counts.min() < n_splits:
            raise ValueError(f"the smaller class has {counts.min()} samples: fewer than outer_splits={n_splits}")

    def predict(self, estimator, X) -> np.ndarray:
        return estimator.predict_proba(X)[:, 1]

    def fold_metrics(self, y, scores, labels) -> dict:
        return binary_metrics(y, scores, labels)

    def confidence_intervals(self, y, scores, labels, *, n_boot: int, random_state, groups=None) -> dict:
        return bootstrap_ci(y, scores, labels, n_boot=n_boot, random_state=random_state, groups=groups)

    def encode_array(self, y) -> tuple[np.ndarray, list]:
        y = np.asarray(y)
        if set(pd.unique(pd.Series(y))) - {0, 1}:
            raise ValueError("task 'binary' needs a 0/1 target; set task='multiclass' or 'regression'")
        return y.astype(int), [0, 1]

    # -------------------------------------------------------------------------------------- settings
    def target_notes(self, classes, column, positive_given: bool) -> list[str]:
        if positive_given or {str(c) for c in classes} <= {"0", "1", "False", "True"}:
            return []
        return [f"positive class of {column!r}: {classes[1]!r} (negative {classes[0]!r}); set positive: (or --positive) "
                "to choose"]

    def check_scoring(self, scoring: str) -> str:
        if scoring == "c_index":
            raise ValueError("cv.inner.scoring 'c_index' scores survival models only")
        return super().check_scoring(scoring)

    def threshold_rule(self, configured) -> object:
        return configured

    def probability_correction(self, recalibrate: str, balance: str, correction: str, notes: list) -> str | None:
        """The correction of each tuned model's probabilities (:class:`radiomix.model_selection.calibration.
        RecalibratedClassifier`): the configured recalibration, else what class balancing needs (an exact
        prevalence shift after random over/under-sampling, a sigmoid recalibration after SMOTE/ADASYN)."""
        if recalibrate != "none":
            return recalibrate
        if balance == "none" or correction == "none":
            if balance != "none":
                notes.append(f"balance.method {balance!r} with balance.correction none: predicted probabilities keep the "
                             "resampled prevalence (too high for the rarer class); calibration is not interpretable")
            return None
        if correction == "auto":
            correction = "prevalence" if balance in ("random_over", "random_under") else "recalibrate"
        if correction == "prevalence" and balance not in ("random_over", "random_under"):
            notes.append(f"balance.correction 'prevalence' is exact for random over/under-sampling only; {balance!r} "
                         "also changes the feature distribution")
        return "prevalence" if correction == "prevalence" else "sigmoid"

    # ------------------------------------------------------------------------------------------ models
    def case_mix_scores(self, X, y, cv, groups) -> np.ndarray:
        return self.case_mix_probabilities(X, y, cv, groups)[:, 1]

    def site_rates(self, y, classes, sites) -> tuple[str, pd.Series]:
        return "positive_rate_by_site", pd.Series(self.bootstrap_strata(y)).groupby(sites).mean()

    def supports_delong(self) -> bool:
        return True

    def effective_events(self, y, groups=None) -> tuple[int, str | None]:
        counts = per_patient(y, groups).value_counts()
        return (int(counts.min()) if len(counts) > 1 else 0), (str(counts.idxmin()) if len(counts) else None)

    # ------------------------------------------------------------------------------ metrics, summaries
    def headline_score(self, y, p, blocks=None) -> float:
        return roc_auc(y, p)

    def encode_scores_target(self, y) -> np.ndarray:
        return np.asarray(y).astype(int)

    def bootstrap_strata(self, y) -> np.ndarray:
        return np.asarray(y).astype(int)

    def ci_resampling(self) -> dict:
        scheme = {"stratified": "within each class", "simple": "patients freely (prevalence varies)"}
        return {m: scheme[v] for m, v in BOOTSTRAP_SCHEME.items()}

    def summarize(self, study, results):
        oof, folds, P, L, B = _collect(study, results)
        return oof, folds, _summarize(study, folds, P, L, B)

    def score_external(self, model, table: pd.DataFrame, target, *, n_bootstrap: int, random_state: int) -> dict:
        if not isinstance(target, str):
            raise ValueError("a binary model is scored on one outcome column: give --target")
        if target not in table.columns:
            raise ValueError(f"target column {target!r} not found; columns: {list(table.columns)[:20]}")
        t = table.loc[table[target].notna()]
        y = (class_codes(t[target], list(model.classes), target) == 1).astype(int)
        pred = model.predict(t)
        p, lab = pred["proba"].to_numpy(), pred["label"].to_numpy()
        point = binary_metrics(y, p, lab)
        ci = bootstrap_ci(y, p, lab, n_boot=n_bootstrap, random_state=random_state) if n_bootstrap else {}
        out = {m: {"estimate": float(point[m]), "ci_low": ci.get(m, (np.nan,))[0],
                   "ci_high": ci.get(m, (np.nan, np.nan))[1]} for m in METRICS}
        out["calibration"] = calibration(y, p)
        out["n_samples"], out["n_positive"] = int(len(y)), int(y.sum())
        out["n_novel"] = int(pred["novel"].sum())
        out["threshold"] = float(model.threshold)
        return out

    # ------------------------------------------------------------------------------------ final model
    def prediction_frame(self, model, ids, scores, thresholds, X, fallback) -> pd.DataFrame:
        called = scores >= thresholds
        return pd.DataFrame({"id": ids, "proba": scores, "label": called.astype(int),
                             "predicted_class": [model.classes[int(v)] for v in called]})

    def check_saved_model(self, model) -> str | None:
        if len(model.classes) != 2:
            return f"classes {model.classes[:10]} do not fit a binary model"
        if not np.isfinite(model.threshold):
            return f"threshold {model.threshold} is not finite for a binary model"
        return None

    # ------------------------------------------------------------------------------------------- text
    def describe_outcome(self, summary: dict, config: dict, data: dict, epv: dict) -> str:
        return (f"column {config.get('target')!r}, positive class {data.get('positive_class')!r}, "
                f"{epv.get('events', '?')} events in the smaller class")

    def describe_performance(self, summary: dict) -> str:
        auc, cal = summary["auc"], summary.get("calibration") or {}
        return (f"AUC {fmt_number(auc['estimate'])} ({fmt_number(auc['ci_low'])}-{fmt_number(auc['ci_high'])}); calibration intercept "
                f"{fmt_number(cal.get('intercept'), '{:.2f}')}, slope {fmt_number(cal.get('slope'), '{:.2f}')}; decision curve in its "
                "section")


def class_codes(values, classes, target) -> np.ndarray:
    """Each value's position in a model's ``classes`` (1, 1.0 and "1" are the same label); values the model
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


def _collect(study, results):
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


def _summarize(study, folds: pd.DataFrame, P, L, B) -> dict:
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
    summary["calibration"] = {**calibration(y, pbar), "scale": "logit"}  # the verdict reads the scale
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
    if study.aggregate != "none" and study.groups is not None:
        summary["patient_level"] = _patient_level(study, P, L)
    summary["n_samples"], summary["n_positive"] = int(len(y)), int(y.sum())
    return summary


def _patient_level(study, P, L) -> dict:
    """Metrics of patients, whose prediction is the max or mean of their rows' out-of-fold probabilities and
    whose outcome is positive when any of their rows is."""
    how = study.aggregate
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


register_task(BinaryTask())
