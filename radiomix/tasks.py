"""Outcome types. A :class:`Task` owns everything that differs between a binary, multiclass, regression or
survival outcome: how the target column is checked and encoded, how rows are stratified into folds, the
default model and search space, the scorer used for tuning, the metrics and their confidence intervals,
what the explainer reports, and which report panels apply.

Binary, multiclass, regression and time-to-event survival outcomes are implemented; adding one means adding a
Task here and its summary of out-of-fold predictions (:mod:`radiomix.multiclass`, :mod:`radiomix.regression`,
:mod:`radiomix.survival`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .metrics import METRICS, binary_metrics, bootstrap_ci

__all__ = ["Task", "BinaryTask", "SurvivalTask", "RegressionTask", "MulticlassTask", "TASKS", "get_task",
           "infer_task"]


@dataclass(frozen=True)
class Task:
    """What differs per outcome type. Subclasses implement the methods; the attributes describe it.

    name : ``"binary"``, ...
    metrics : names of the metrics in a run's summary, in report order; ``headline`` is the one quoted first
        (``headline_label`` its name in text).
    scoring : scikit-learn scorer used to rank hyperparameter candidates on the inner folds.
    default_model : registry name of the model used when the config names none.
    explainer_output : the scale of SHAP values of the default model (e.g. ``"log-odds"``).
    report_sections : ids of the task-specific report sections.
    """

    name: str = "task"
    metrics: tuple = ()
    headline: str = ""
    headline_label: str = ""
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
    headline_label: str = "AUC"
    scoring: str = "roc_auc"
    default_model: str = "xgboost"
    explainer_output: str = "log-odds"
    report_sections: tuple = ("roc", "precision-recall", "calibration", "decision-curve", "confusion")

    def encode_target(self, target: pd.Series, column: str, positive=None) -> tuple[np.ndarray, list]:
        obs = target.dropna()
        if obs.empty:
            raise ValueError(f"target {column!r} has no value in any row: nothing to learn from")
        _check_labels(obs, column)
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
        from .survival.metrics import harrell_c

        y = np.asarray(y, float)
        return {"c_index": harrell_c(y[:, 0], y[:, 1] > 0, scores)}


def _check_labels(obs: pd.Series, column: str) -> None:
    if obs.dtype == object or pd.api.types.is_string_dtype(obs):
        text = obs.astype(str)
        folded = text.str.strip().str.lower()
        clash = sorted({v for v in text.unique() if text[folded == v.strip().lower()].nunique() > 1})
        if clash:
            raise ValueError(f"target {column!r} holds labels that differ only in case or spaces: {clash}; "
                             "make them identical in the table")


@dataclass(frozen=True)
class MulticlassTask(Task):
    """A categorical outcome with three or more classes (grade, subtype). The model's target is the class
    code 0..k-1 (classes in sorted order); its output the probability of every class."""

    name: str = "multiclass"
    metrics: tuple = ("auc_macro", "auc_micro", "balanced_accuracy", "accuracy", "brier")
    headline: str = "auc_macro"
    headline_label: str = "macro AUC"
    scoring: str = "roc_auc_ovr"
    default_model: str = "xgboost"
    explainer_output: str = "probability"
    report_sections: tuple = ("roc-classes", "confusion-classes")

    def encode_target(self, target: pd.Series, column: str, positive=None) -> tuple[np.ndarray, list]:
        obs = target.dropna()
        _check_labels(obs, column)
        if pd.api.types.is_float_dtype(obs) and np.all(np.mod(obs.to_numpy(float), 1) == 0):
            obs = obs.astype(np.int64)  # 1.0 (a column with NaN) and 1 are the same label
        levels = sorted(obs.unique().tolist(), key=lambda v: (isinstance(v, str), v if not isinstance(v, str) else 0,
                                                              str(v)))
        if len(levels) < 3:
            raise ValueError(f"target {column!r} has {len(levels)} class(es) {levels}: a multiclass outcome needs "
                             "at least 3 (use task: binary for two)")
        codes = {v: i for i, v in enumerate(levels)}
        return obs.map(codes).to_numpy(int), levels

    def strata(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y)

    def check_training_folds(self, y: np.ndarray, folds, classes) -> None:
        """Every outer training fold must hold every class (a fold model cannot learn a class it never saw;
        leave-site-out or grouped folds can take all of a rare class out)."""
        k = len(classes)
        for f in folds:
            absent = sorted(set(range(k)) - set(np.asarray(y)[f.train].tolist()))
            if absent:
                where = f"test site {str(f.site)!r}" if f.site is not None else f"outer fold {f.fold + 1}"
                raise ValueError(f"class(es) {[str(classes[c]) for c in absent]} are absent from the training rows of "
                                 f"{where} (all their patients are in its test rows): the fold's model cannot learn "
                                 "them; merge rare classes or use stratified outer folds")

    def check_folds(self, y: np.ndarray, n_splits: int, classes=None) -> None:
        counts = np.bincount(np.asarray(y, int))
        small = np.flatnonzero(counts < n_splits)
        if small.size:
            names = [str(classes[i]) for i in small] if classes is not None else small.tolist()
            raise ValueError(f"{len(counts)} classes, and class(es) {names} hold {counts[small].tolist()} row(s): "
                             f"fewer than outer_splits={n_splits}; a stray value in a binary target, or a rare class "
                             "to merge into a neighbouring one")

    def predict(self, estimator, X) -> np.ndarray:
        return np.asarray(estimator.predict_proba(X), dtype=float)

    def fold_metrics(self, y, scores, labels) -> dict:
        from .multiclass import multiclass_metrics

        return multiclass_metrics(y, scores)


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
    report_sections: tuple = ("observed-predicted",)

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

    def check_folds(self, y: np.ndarray, n_splits: int) -> None:
        if len(y) < 2 * n_splits:
            raise ValueError(f"{len(y)} rows: too few for outer_splits={n_splits}")

    def predict(self, estimator, X) -> np.ndarray:
        return np.asarray(estimator.predict(X), dtype=float).ravel()

    def fold_metrics(self, y, scores, labels) -> dict:
        from .regression import regression_metrics

        return regression_metrics(y, scores)


#: Registered outcome types by name.
TASKS = {"binary": BinaryTask(), "survival": SurvivalTask(), "multiclass": MulticlassTask(),
         "regression": RegressionTask()}


def get_task(name: str) -> Task:
    """The Task called ``name``."""
    if name in TASKS:
        return TASKS[name]
    raise ValueError(f"unknown task {name!r}; valid: {sorted(TASKS)}")


def infer_task(target) -> Task:
    """The Task for a target whose config says ``task: auto``: survival for a (time, event) frame; binary for
    two observed values; multiclass for 3-20 labels that are text, or integers; regression for a numeric
    column with more distinct values. The inferred task is said in the run's notes."""
    if isinstance(target, pd.DataFrame) and target.shape[1] == 2:
        return TASKS["survival"]
    obs = target.dropna()
    k = obs.nunique()
    if k <= 2:
        return TASKS["binary"]
    if not pd.api.types.is_numeric_dtype(obs) or pd.api.types.is_bool_dtype(obs):
        return TASKS["multiclass"]
    integral = pd.api.types.is_integer_dtype(obs) or bool(np.all(np.mod(obs.to_numpy(float), 1) == 0))
    return TASKS["multiclass"] if integral and k <= 20 else TASKS["regression"]
