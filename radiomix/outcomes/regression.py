"""Continuous outcomes: metrics of predicted values and the out-of-fold summary of a regression nested CV.

RMSE, MAE and R^2 (as scikit-learn's ``mean_squared_error``, ``mean_absolute_error``, ``r2_score``),
calibration-in-the-large (mean observed minus mean predicted; 0 is ideal) and the calibration slope (least-
squares slope of observed on predicted; 1 is ideal, below 1 means predictions spread too far: overfitting).
Confidence intervals are percentile bootstraps over patients (whole patients with groups; within site under
leave-site-out), every metric on the same resamples, averaged over repeats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .base import Task, per_patient
from .records import fmt_number, fold_record, optimism
from .registry import register_task

__all__ = ["RegressionTask", "regression_metrics", "regression_outputs", "calibration_line"]

#: The sections of a regression run's report, in order (keys of :data:`radiomix.report.SECTIONS_BY_KEY`).
REGRESSION_REPORT = ("verdict", "data.outcome", "metrics.outcome", "baselines", "observed-predicted", "folds.task",
                     "sites", "selection", "robustness", "shap", "checklist", "config")


def calibration_line(y, pred) -> dict:
    """Calibration-in-the-large (mean of y minus mean of pred) and slope (OLS of y on pred)."""
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    var = np.var(pred)
    slope = float(np.cov(pred, y, bias=True)[0, 1] / var) if var > 0 else np.nan
    return {"intercept": float(y.mean() - pred.mean()), "slope": slope}


def regression_metrics(y, pred) -> dict:
    """RMSE, MAE, R^2, calibration-in-the-large and slope of predictions ``pred`` of ``y``."""
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    err = y - pred
    sst = np.sum((y - y.mean()) ** 2)
    cal = calibration_line(y, pred)
    return {"r2": float(1 - np.sum(err ** 2) / sst) if sst > 0 else np.nan,
            "rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err))),
            "calibration_intercept": cal["intercept"], "calibration_slope": cal["slope"]}


def _resampled(y, pred, counts) -> dict:
    """The metrics for bootstrap resamples given as count vectors ((B, n))."""
    w = counts / counts.sum(axis=1, keepdims=True)
    err = y - pred
    ybar = w @ y
    pbar = w @ pred
    sse = w @ err ** 2
    sst = w @ y ** 2 - ybar ** 2
    cov = w @ (y * pred) - ybar * pbar
    vp = w @ pred ** 2 - pbar ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"r2": 1 - sse / sst, "rmse": np.sqrt(sse), "mae": w @ np.abs(err),
                "calibration_intercept": ybar - pbar, "calibration_slope": cov / vp}


def _boot_counts(study, rng) -> np.ndarray:
    from ..metrics import Resampler

    strata = study.sites if study.outer.kind == "leave_site_out" else None
    return Resampler(np.zeros(len(study.y), int), groups=study.groups, strata=strata).counts(rng, study.n_bootstrap)


def regression_outputs(study, results):
    """``(oof, folds, summary)`` of a regression nested CV from its outer-fold results."""
    y, n, R = study.y, len(study.y), study.outer.n_repeats
    P = np.full((R, n), np.nan)
    oof_rows, fold_rows = [], []
    for res in results:
        f = res.fold
        P[f.repeat, f.test] = res.proba
        frame = {"id": study.ids[f.test], "repeat": f.repeat, "fold": f.fold, "y": y[f.test], "pred": res.proba}
        if study.sites is not None:
            frame["site"] = np.asarray(study.sites)[f.test]
        oof_rows.append(pd.DataFrame(frame))
        fold_rows.append(fold_record(res, regression_metrics(y[f.test], res.proba), "r2"))
    if np.isnan(P).any():
        raise RuntimeError("some samples received no out-of-fold prediction")
    oof, folds = pd.concat(oof_rows, ignore_index=True), pd.DataFrame(fold_rows)
    return oof, folds, _summarize(study, folds, P)


def _summarize(study, folds: pd.DataFrame, P) -> dict:
    y = study.y
    per = [regression_metrics(y, p) for p in P]
    names = list(per[0])
    boot = {}
    if study.n_bootstrap:
        counts = _boot_counts(study, np.random.default_rng(study.random_state))
        reps = [_resampled(y, p, counts) for p in P]
        boot = {m: np.mean([r[m] for r in reps], axis=0) for m in names}
    summary = {}
    for m in names:
        lo, hi = np.nanquantile(boot[m], [0.025, 0.975]) if m in boot else (np.nan, np.nan)
        summary[m] = {"estimate": float(np.mean([d[m] for d in per])), "ci_low": float(lo), "ci_high": float(hi)}
    summary["calibration"] = {"scale": "outcome", "intercept": summary["calibration_intercept"]["estimate"],
                              "slope": summary["calibration_slope"]["estimate"],
                              "what": "calibration-in-the-large (mean observed - mean predicted) and slope of "
                                      "observed on predicted"}
    summary["r2_folds"] = {"mean": float(folds["r2"].mean()), "sd": float(folds["r2"].std(ddof=1)),
                           "n": int(folds["r2"].notna().sum())}
    pbar = P.mean(axis=0)
    if study.sites is not None:
        s_arr = np.asarray(study.sites).astype(str)
        summary["per_site"] = {s: {"n": int((s_arr == s).sum()),
                                   **{k: regression_metrics(y[s_arr == s], pbar[s_arr == s])[k]
                                      for k in ("r2", "rmse", "mae")}} for s in sorted(set(s_arr))}
    if (opt := optimism(folds, "R2")) is not None:
        summary["optimism"] = opt
    summary["n_samples"] = int(len(y))
    summary["target"] = {"mean": float(np.mean(y)), "sd": float(np.std(y, ddof=1)),
                         "min": float(np.min(y)), "max": float(np.max(y))}
    return summary


def external_summary(y, pred, *, n_bootstrap: int = 2000, random_state=0) -> dict:
    """Metrics and 95 % bootstrap CIs (patients resampled) of a saved model's predictions on an external
    cohort."""
    from ..metrics import Resampler

    y, pred = np.asarray(y, float), np.asarray(pred, float)
    point = regression_metrics(y, pred)
    out = {}
    boot = {}
    if n_bootstrap:
        counts = Resampler(np.zeros(len(y), int)).counts(np.random.default_rng(random_state), n_bootstrap)
        boot = _resampled(y, pred, counts)
    for m, v in point.items():
        lo, hi = np.nanquantile(boot[m], [0.025, 0.975]) if m in boot else (np.nan, np.nan)
        out[m] = {"estimate": float(v), "ci_low": float(lo), "ci_high": float(hi)}
    out["calibration"] = calibration_line(y, pred)
    out["n_samples"] = int(len(y))
    return out


@dataclass(frozen=True)
class RegressionTask(Task):
    """A continuous outcome (a lab value, a dose, a volume change). Folds are stratified on the quintile of
    the target; the model's output is the predicted value."""

    name: str = "regression"
    metrics: tuple = ("r2", "rmse", "mae")
    headline: str = "r2"
    headline_label: str = "R2"
    scoring: str = "r2"
    default_model: str = "xgboost"
    explainer_output: str = "prediction"
    estimator_kinds: tuple = ("regressor",)
    prediction_method: str = "predict"
    estimator_noun: str = "regressor"
    clinical_baseline: tuple = ("elastic_net", {"alpha": 0.1, "l1_ratio": 0.5})
    baseline_kinds: tuple = ("linear regression", "elastic net")
    case_mix_alarm: float = 0.1
    report_layout: tuple = REGRESSION_REPORT

    def encode_target(self, target: pd.Series, column: str, positive=None) -> tuple[np.ndarray, list]:
        obs = target.dropna()
        num = pd.to_numeric(obs, errors="coerce")
        bad = obs.index[num.isna()]
        if len(bad):
            raise ValueError(f"target {column!r} is not a number in {len(bad)} row(s) "
                             f"({[str(v) for v in bad[:10]]}: {obs[num.isna()].astype(str).tolist()[:10]}); a "
                             "regression outcome must be numeric")
        if not np.isfinite(num.to_numpy(float)).all():
            raise ValueError(f"target {column!r} holds infinite values")
        if num.nunique() < 3:
            raise ValueError(f"target {column!r} has {num.nunique()} distinct value(s): not a continuous outcome")
        return num.to_numpy(float), []

    def strata(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, float)
        k = int(min(5, max(1, len(y) // 15)))
        return np.searchsorted(np.quantile(y, np.linspace(0, 1, k + 1)[1:-1]), y, side="right")

    def check_folds(self, y: np.ndarray, n_splits: int, classes=None) -> None:
        if len(y) < 2 * n_splits:
            raise ValueError(f"{len(y)} rows: too few for outer_splits={n_splits}")

    def predict(self, estimator, X) -> np.ndarray:
        return np.asarray(estimator.predict(X), dtype=float).ravel()

    def fold_metrics(self, y, scores, labels) -> dict:
        return regression_metrics(y, scores)

    @property
    def inner_strata(self):
        return self.strata

    # -------------------------------------------------------------------------------------- settings
    def check_scoring(self, scoring: str) -> str:
        if scoring == "c_index":
            raise ValueError("cv.inner.scoring 'c_index' scores survival models only")
        return super().check_scoring(scoring)

    def check_settings(self, settings: dict, notes: list) -> None:
        if settings.get("balance", "none") != "none":
            raise ValueError(f"balance.method {settings['balance']!r} resamples classes; a regression outcome has none: "
                             "set balance.method: none")
        if settings.get("recalibrate", "none") != "none":
            raise ValueError(f"calibration.recalibrate {settings['recalibrate']!r} corrects binary probabilities; set "
                             f"it to none for a {self.name} outcome")

    # ------------------------------------------------------------------------------------------ models
    def stacking(self, estimators: list, cv):
        from sklearn.ensemble import StackingRegressor
        from sklearn.linear_model import RidgeCV

        from ..model_selection.splits import StratifyOn

        return StackingRegressor(estimators, final_estimator=RidgeCV(), cv=StratifyOn(cv, self.name))

    def volume_model(self):
        from sklearn.linear_model import LinearRegression

        return LinearRegression()

    def case_mix_scores(self, X, y, cv, groups) -> np.ndarray:
        from sklearn.linear_model import LinearRegression
        from sklearn.model_selection import cross_val_predict

        from ..model_selection.splits import StratifyOn

        return cross_val_predict(LinearRegression(), X, y, cv=StratifyOn(cv, self.strata), groups=groups)

    def site_rates(self, y, classes, sites) -> tuple[str, pd.Series]:
        return "mean_by_site", pd.Series(y).groupby(sites).mean()

    def effective_events(self, y, groups=None) -> tuple[int, str | None]:
        return len(per_patient(y, groups)), "patients (continuous outcome)"

    # ------------------------------------------------------------------------------ metrics, summaries
    def headline_score(self, y, p, blocks=None) -> float:
        return regression_metrics(y, p)["r2"]

    def summarize(self, study, results):
        return regression_outputs(study, results)

    def score_external(self, model, table: pd.DataFrame, target, *, n_bootstrap: int, random_state: int) -> dict:
        if not isinstance(target, str):
            raise ValueError("a regression model is scored on one outcome column: give --target")
        if target not in table.columns:
            raise ValueError(f"outcome column(s) {[target]} not found; columns: {list(table.columns)[:20]}")
        t = table.loc[table[target].notna()]
        pred = model.predict(t)
        y, _ = self.encode_target(t[target], target)
        return external_summary(y, pred["prediction"].to_numpy(float), n_bootstrap=n_bootstrap,
                                random_state=random_state)

    # ------------------------------------------------------------------------------------ final model
    def prediction_frame(self, model, ids, scores, thresholds, X, fallback) -> pd.DataFrame:
        return pd.DataFrame({"id": ids, "prediction": scores})

    # ------------------------------------------------------------------------------------------- text
    def describe_outcome(self, summary: dict, config: dict, data: dict, epv: dict) -> str:
        return (f"continuous column {config.get('target')!r} (mean {fmt_number(summary['target']['mean'], '{:.4g}')}, sd "
                f"{fmt_number(summary['target']['sd'], '{:.4g}')})")

    def describe_performance(self, summary: dict) -> str:
        r2, cal = summary["r2"], summary.get("calibration") or {}
        return (f"R2 {fmt_number(r2['estimate'])} ({fmt_number(r2['ci_low'])}-{fmt_number(r2['ci_high'])}), RMSE "
                f"{fmt_number(summary['rmse']['estimate'])}; calibration-in-the-large "
                f"{fmt_number(cal.get('intercept'), '{:.3g}')}, slope {fmt_number(cal.get('slope'), '{:.2f}')}")


register_task(RegressionTask())
