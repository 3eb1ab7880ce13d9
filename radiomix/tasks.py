"""Outcome types. A :class:`Task` owns everything that differs between a binary, multiclass, regression or
survival outcome: how the target column is checked and encoded, how rows are stratified into folds, the
default model and search space, the scorer used for tuning, the metrics and their confidence intervals,
what the explainer reports, and which report panels apply.

Binary classification is the task radiomix implements today; :func:`get_task` refuses the others with a
message, and adding one means adding a Task here, not touching nested cross-validation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .metrics import METRICS, binary_metrics, bootstrap_ci

__all__ = ["Task", "BinaryTask", "TASKS", "get_task", "infer_task"]


@dataclass(frozen=True)
class Task:
    """What differs per outcome type. Subclasses implement the methods; the attributes describe it.

    name : ``"binary"``, ...
    metrics : names of the metrics in a run's summary, in report order; ``headline`` is the one quoted first.
    scoring : scikit-learn scorer used to rank hyperparameter candidates on the inner folds.
    default_model : registry name of the model used when the config names none.
    explainer_output : the scale of SHAP values of the default model (e.g. ``"log-odds"``).
    report_sections : ids of the task-specific report sections.
    """

    name: str = "task"
    metrics: tuple = ()
    headline: str = ""
    scoring: str = ""
    default_model: str = ""
    explainer_output: str = ""
    report_sections: tuple = ()

    def encode_target(self, target: pd.Series, column: str, positive=None) -> tuple[np.ndarray, list]:
        """``(y, classes)``: the model's target vector and the original labels (rows without a target
        must already be removed); ``positive`` names the positive class where the task has one."""
        raise NotImplementedError

    def strata(self, y: np.ndarray) -> np.ndarray:
        """Labels to stratify folds on."""
        raise NotImplementedError

    def check_folds(self, y: np.ndarray, n_splits: int) -> None:
        """Raise ValueError when ``y`` cannot be split into ``n_splits`` stratified folds."""
        raise NotImplementedError

    def predict(self, estimator, X) -> np.ndarray:
        """The model output that metrics are computed on (e.g. probability of the positive class)."""
        raise NotImplementedError

    def fold_metrics(self, y, scores, labels) -> dict:
        """Metrics of one set of predictions."""
        raise NotImplementedError

    def confidence_intervals(self, y, scores, labels, *, n_boot: int, random_state, groups=None) -> dict:
        """``{metric: (low, high)}`` for repeated out-of-fold predictions (rows = repeats); with ``groups``
        whole patients are resampled."""
        raise NotImplementedError


@dataclass(frozen=True)
class BinaryTask(Task):
    """A binary outcome: two labels; the positive class is ``positive`` when given, else 1 / True, else the
    second label in sorted order (the run says which)."""

    name: str = "binary"
    metrics: tuple = METRICS
    headline: str = "auc"
    scoring: str = "roc_auc"
    default_model: str = "xgboost"
    explainer_output: str = "log-odds"
    report_sections: tuple = ("roc", "precision-recall", "calibration", "decision-curve", "confusion")

    def encode_target(self, target: pd.Series, column: str, positive=None) -> tuple[np.ndarray, list]:
        obs = target.dropna()
        if obs.empty:
            raise ValueError(f"target {column!r} has no value in any row: nothing to learn from")
        if obs.dtype == object or pd.api.types.is_string_dtype(obs):
            text = obs.astype(str)
            folded = text.str.strip().str.lower()
            clash = sorted({v for v in text.unique() if (folded == v.strip().lower()).any()
                            and text[folded == v.strip().lower()].nunique() > 1})
            if clash:
                raise ValueError(f"target {column!r} holds labels that differ only in case or spaces: {clash}; "
                                 "make them identical in the table")
        levels = sorted(obs.unique().tolist(), key=str)
        if len(levels) == 1:
            raise ValueError(f"target {column!r} has one class ({levels[0]!r}) in all {len(obs)} rows with a value: "
                             "a binary outcome needs both classes")
        if len(levels) != 2:
            kind = "a continuous target (regression)" if pd.api.types.is_float_dtype(obs) and len(levels) > 10 else \
                f"{len(levels)} classes"
            raise ValueError(
                f"target {column!r} has {kind}: radiomix train supports binary outcomes only (multiclass and "
                f"regression are not supported yet); values seen: {levels[:10]}"
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


#: Registered outcome types by name.
TASKS = {"binary": BinaryTask()}
_PLANNED = ("multiclass", "regression", "survival")


def get_task(name: str) -> Task:
    """The Task called ``name``; the planned ones (multiclass, regression, survival) are refused with a message."""
    if name in TASKS:
        return TASKS[name]
    if name in _PLANNED:
        raise ValueError(f"task {name!r} is not supported yet: radiomix train supports binary outcomes only")
    raise ValueError(f"unknown task {name!r}; valid: {sorted(TASKS)}")


def infer_task(target: pd.Series) -> Task:
    """The Task for a target column whose config says ``task: auto``: binary when it has two observed values
    (anything else is refused by :meth:`BinaryTask.encode_target` with a message naming what was seen)."""
    return TASKS["binary"]
