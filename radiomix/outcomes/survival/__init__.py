"""Time-to-event outcomes: a follow-up time and an event indicator; risk scores, concordance, time-dependent
AUC and Brier scores, Kaplan-Meier and Breslow (:mod:`.metrics`), the out-of-fold summary (:mod:`.summary`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..base import Task, per_patient
from ..registry import register_task

__all__ = ["SurvivalTask"]

#: The sections of a survival run's report, in order (keys of :data:`radiomix.report.SECTIONS_BY_KEY`).
SURVIVAL_REPORT = ("verdict", "data.survival", "metrics.survival", "baselines", "km", "td-auc", "calibration-horizons",
                   "folds.task", "sites", "selection", "robustness", "shap", "checklist", "config")


@dataclass(frozen=True)
class SurvivalTask(Task):
    """A censored time-to-event outcome: a follow-up time column (> 0) and an event column (1 = event,
    0 = censored). The model's target is the ``(n, 2)`` array (time, event); its output a risk score (higher =
    shorter survival). Folds are stratified on the event and on the tertile of the follow-up time."""

    name: str = "survival"
    metrics: tuple = ("c_index", "uno_c", "ibs")
    headline: str = "c_index"
    headline_label: str = "C-index"
    scoring: str = "c_index"
    default_model: str = "xgboost"
    explainer_output: str = "log-hazard"
    estimator_kinds: tuple = ("survival",)
    prediction_method: str = "predict"
    estimator_noun: str = "survival estimator"
    target_width: int = 2
    drops_missing_target: bool = False  # a patient without follow-up is refused (encode_target names the rows)
    clinical_baseline: tuple = ("coxph", {"alpha": 0.1})
    baseline_kinds: tuple = ("Cox", "penalized Cox")
    report_header: str = "header.survival"
    report_layout: tuple = SURVIVAL_REPORT

    def encode_target(self, target: pd.DataFrame, column, positive=None) -> tuple[np.ndarray, list]:
        time_col, event_col = target.columns[:2]
        time = pd.to_numeric(target[time_col], errors="coerce")
        bad = target.index[time.isna()]
        if len(bad):
            raise ValueError(f"time column {time_col!r} is missing or not a number in {len(bad)} row(s): "
                             f"{[str(v) for v in bad[:10]]}; survival needs a follow-up time for every patient")
        neg = target.index[time <= 0]
        if len(neg):
            raise ValueError(f"time column {time_col!r} holds {len(neg)} value(s) <= 0 (rows "
                             f"{[str(v) for v in neg[:10]]}: {time[time <= 0].tolist()[:10]}); follow-up must be > 0")
        ev = target[event_col]
        if ev.dtype == bool:
            ev = ev.astype(int)
        ev_num = pd.to_numeric(ev, errors="coerce")
        wrong = target.index[~ev_num.isin([0, 1])]
        if len(wrong):
            raise ValueError(f"event column {event_col!r} must be 0 (censored) or 1 (event); {len(wrong)} row(s) "
                             f"hold {sorted({str(v) for v in ev[~ev_num.isin([0, 1])]})[:10]} (rows "
                             f"{[str(v) for v in wrong[:10]]})")
        if ev_num.sum() == 0:
            raise ValueError(f"event column {event_col!r} has no event (all {len(ev_num)} rows censored)")
        return np.column_stack([time.to_numpy(float), ev_num.to_numpy(float)]), []

    def strata(self, y: np.ndarray) -> np.ndarray:
        """Event status x tertile of follow-up; a stratum too small to spread over folds merges into its
        event status."""
        y = np.asarray(y, float)
        time, event = y[:, 0], y[:, 1].astype(int)
        out = event.copy()
        for e in (0, 1):
            rows = np.flatnonzero(event == e)
            if rows.size >= 15:
                cuts = np.quantile(time[rows], [1 / 3, 2 / 3])
                out[rows] = 10 * (e + 1) + np.searchsorted(cuts, time[rows], side="right")
        return out

    def check_folds(self, y: np.ndarray, n_splits: int, classes=None) -> None:
        n_events = int(np.asarray(y)[:, 1].sum())
        if n_events < n_splits:
            raise ValueError(f"{n_events} event(s): fewer than outer_splits={n_splits}; every test fold needs events")

    def predict(self, estimator, X) -> np.ndarray:
        return np.asarray(estimator.predict(X), dtype=float)

    def fold_metrics(self, y, scores, labels) -> dict:
        from .metrics import harrell_c

        y = np.asarray(y, float)
        return {"c_index": harrell_c(y[:, 0], y[:, 1] > 0, scores)}

    def encode_array(self, y) -> tuple[np.ndarray, list]:
        return self.encode_target(pd.DataFrame(np.asarray(y), columns=["time", "event"]), "y")

    def placeholder_target(self):
        return {"time": "time", "event": "event"}

    @property
    def inner_strata(self):
        return self.strata

    # -------------------------------------------------------------------------------------- settings
    def check_scoring(self, scoring: str) -> str:
        if scoring not in ("auto", "c_index"):
            raise ValueError(f"cv.inner.scoring {scoring!r} does not score a survival model; use auto or c_index")
        return self.scoring

    def check_settings(self, settings: dict, notes: list) -> None:
        for key, value in (("balance.method", settings.get("balance", "none")),
                           ("calibration.recalibrate", settings.get("recalibrate", "none"))):
            if value != "none":
                raise ValueError(f"config key {key!r} does not apply to a survival outcome (resampling or "
                                 "recalibrating class probabilities); set it to none")
        if settings.get("early_stopping") is not None:
            raise ValueError("model.params.early_stopping_rounds is not supported for survival models; tune "
                             "n_estimators")

    def threshold_rule(self, configured) -> object:
        return "median_risk"

    def resolve_outcome(self, y, settings: dict, columns: list, notes: list) -> dict:
        """Horizons, Uno's truncation time and the integrated-Brier grid, from ``settings`` (``horizons``, ``tau``)
        or the event times (the whole cohort's: evaluation points, not model parameters), each with how it was
        chosen."""
        from .metrics import default_horizons, default_tau

        time, event = y[:, 0], y[:, 1] > 0
        tau = float(settings["tau"]) if settings.get("tau") is not None else default_tau(time, event)
        if settings.get("horizons") is not None:
            horizons, how = np.asarray(sorted(settings["horizons"]), float), "from survival.horizons"
        else:
            horizons, how = default_horizons(time, event), "quartiles of the event times"
        late = horizons[horizons >= time.max()]
        if late.size:
            raise ValueError(f"survival.horizons {late.tolist()} lie at or beyond the longest follow-up "
                             f"({time.max():g}): nothing can be estimated there")
        early = horizons[horizons < time[event].min()]
        if early.size:
            raise ValueError(f"survival.horizons {early.tolist()} lie before the first event ({time[event].min():g}): "
                             "no patient has had the event by then")
        t_ev = time[event]
        lo = float(np.quantile(t_ev, 0.1))
        grid = np.unique(np.linspace(lo, tau, 25).round(6)) if tau > lo else np.array([lo, tau])
        tau_from = "survival.tau" if settings.get("tau") is not None else "90th percentile of the event times"
        notes.append(f"survival: horizons {horizons.tolist()} ({how}); Uno's C truncated at tau={tau:g} ({tau_from}); "
                     f"integrated Brier score over [{grid[0]:g}, {grid[-1]:g}]")
        return {"time": columns[0], "event": columns[1], "horizons": horizons, "horizons_from": how, "tau": tau,
                "tau_from": tau_from, "grid": grid, "n_events": int(event.sum()), "max_time": float(time.max())}

    # ------------------------------------------------------------------------------------------ models
    def stacking(self, estimators: list, cv):
        from ...models.survival import SurvivalStacking
        from ..strata import StratifyOn

        return SurvivalStacking(estimators, cv=StratifyOn(cv, self.name))

    def volume_model(self):
        from ...models.survival import CoxPH

        return CoxPH(alpha=0.0)

    def case_mix_scores(self, X, y, cv, groups) -> np.ndarray:
        from sklearn.model_selection import cross_val_predict

        from ...models.survival import CoxPH
        from ..strata import StratifyOn

        return cross_val_predict(CoxPH(alpha=0.1), X, y, cv=StratifyOn(cv, self.strata), groups=groups)

    def site_rates(self, y, classes, sites) -> tuple[str, pd.Series]:
        return "event_rate_by_site", pd.Series(self.bootstrap_strata(y)).groupby(sites).mean()

    def effective_events(self, y, groups=None) -> tuple[int, str | None]:
        return int(per_patient(np.asarray(y)[:, 1].astype(int), groups).sum()), "event"

    # ------------------------------------------------------------------------------ metrics, summaries
    def headline_score(self, y, p, blocks=None) -> float:
        """Harrell's C over comparable pairs within the same ``blocks`` label (the outer fold), pooled."""
        from .metrics import harrell_c

        y = np.asarray(y)
        return harrell_c(y[:, 0], y[:, 1] > 0, p, blocks=blocks)

    def headline_name(self, leave_site_out: bool) -> str:
        return ("mean per-site C-index" if leave_site_out else
                "within-fold C-index")

    def bootstrap_strata(self, y) -> np.ndarray:
        return np.asarray(y)[:, 1].astype(int)

    def fold_extras(self, model, X, outcome: dict) -> dict:
        from .summary import fold_outputs

        return fold_outputs(model, X, outcome)

    def summarize(self, study, results):
        from .summary import survival_outputs

        return survival_outputs(study, results)

    def ci_resampling(self) -> dict:
        return {"every metric": "within event status (and site under leave-site-out)"}

    def score_external(self, model, table: pd.DataFrame, target, *, n_bootstrap: int, random_state: int) -> dict:
        from .summary import external_summary

        if not isinstance(target, dict):
            raise ValueError("a survival model is scored on a time and an event column: give --time and --event")
        cols = [target["time"], target["event"]]
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise ValueError(f"outcome column(s) {missing} not found; columns: {list(table.columns)[:20]}")
        pred = model.predict(table)
        y, _ = self.encode_target(table[cols], cols[0])
        S = pred[[f"surv_{h:g}" for h in model.horizons]].to_numpy(float)
        return external_summary(y, pred["risk"].to_numpy(float), S, model.horizons, n_bootstrap=n_bootstrap,
                                random_state=random_state)

    # ------------------------------------------------------------------------------------ final model
    def model_extras(self, study) -> dict:
        return {"horizons": [float(h) for h in study.outcome["horizons"]]}

    def prediction_frame(self, model, ids, scores, thresholds, X, fallback) -> pd.DataFrame:
        from .summary import survival_function

        out = pd.DataFrame({"id": ids, "risk": scores, "risk_group": np.where(scores > thresholds, "high", "low")})
        S = np.full((len(X), len(model.horizons)), np.nan)
        if (~fallback).any():
            S[~fallback] = survival_function(model.pipeline, X[~fallback], model.horizons)
        if fallback.any():
            alt = model.unharmonized
            S[fallback] = survival_function(alt.pipeline, X.loc[fallback, list(alt.features)], model.horizons)
        for h, col in zip(model.horizons, S.T):
            out[f"surv_{h:g}"] = col
        return out

    def check_saved_model(self, model) -> str | None:
        if not np.isfinite(model.threshold):
            return f"threshold {model.threshold} is not finite for a survival model"
        if not model.horizons:
            return "horizons are missing for a survival model"
        return None

    # ------------------------------------------------------------------------------------------- text
    def describe_outcome(self, summary: dict, config: dict, data: dict, epv: dict) -> str:
        t = config["target"]
        return (f"time {t.get('time')!r}, event {t.get('event')!r}, {epv.get('events', '?')} events; horizons "
                f"{summary['survival']['horizons']} ({summary['survival']['horizons_from']})")

    def describe_performance(self, summary: dict) -> str:
        from ..records import fmt_number

        c, ibs = summary["c_index"], summary["ibs"]
        return (f"Harrell's C {fmt_number(c['estimate'])} ({fmt_number(c['ci_low'])}-{fmt_number(c['ci_high'])}); "
                f"integrated Brier {fmt_number(ibs['estimate'])}; time-dependent AUC and calibration at horizons "
                f"{summary['survival']['horizons']} in their sections")


register_task(SurvivalTask())
