"""Binary outcomes: two labels, a positive class, probabilities and a decision threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..metrics import METRICS, binary_metrics, bootstrap_ci
from .base import Task, check_labels

__all__ = ["BinaryTask"]


@dataclass(frozen=True)
class BinaryTask(Task):
    """A binary outcome: two labels; the positive class is ``positive`` when given, else 1 / True, else the
    second label in sorted order (the run says which)."""

    name: str = "binary"
    metrics: tuple = METRICS
    headline: str = "auc"
    headline_label: str = "AUC"
    scoring: str = "roc_auc"
    default_model: str = "xgboost"
    explainer_output: str = "log-odds"
    report_sections: tuple = ("roc", "precision-recall", "calibration", "decision-curve", "confusion")

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

    def check_folds(self, y: np.ndarray, n_splits: int) -> None:
        counts = np.bincount(np.asarray(y, int), minlength=2)
        if counts.min() < n_splits:
            raise ValueError(f"the smaller class has {counts.min()} samples: fewer than outer_splits={n_splits}")

    def predict(self, estimator, X) -> np.ndarray:
        return estimator.predict_proba(X)[:, 1]

    def fold_metrics(self, y, scores, labels) -> dict:
        return binary_metrics(y, scores, labels)

    def confidence_intervals(self, y, scores, labels, *, n_boot: int, random_state, groups=None) -> dict:
        return bootstrap_ci(y, scores, labels, n_boot=n_boot, random_state=random_state, groups=groups)
