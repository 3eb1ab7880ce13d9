"""Time-to-event outcomes: a follow-up time and an event indicator; risk scores, concordance, time-dependent
AUC and Brier scores, Kaplan-Meier and Breslow (:mod:`.metrics`), the out-of-fold summary (:mod:`.summary`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..base import Task

__all__ = ["SurvivalTask"]


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
    default_model: str = "coxph"
    explainer_output: str = "log-hazard"
    report_sections: tuple = ("km", "td-auc", "calibration-horizons")

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

    def check_folds(self, y: np.ndarray, n_splits: int) -> None:
        n_events = int(np.asarray(y)[:, 1].sum())
        if n_events < n_splits:
            raise ValueError(f"{n_events} event(s): fewer than outer_splits={n_splits}; every test fold needs events")

    def predict(self, estimator, X) -> np.ndarray:
        return np.asarray(estimator.predict(X), dtype=float)

    def fold_metrics(self, y, scores, labels) -> dict:
        from .metrics import harrell_c

        y = np.asarray(y, float)
        return {"c_index": harrell_c(y[:, 0], y[:, 1] > 0, scores)}
