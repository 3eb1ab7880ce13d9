"""Input checks shared by radiomix's selectors: numeric columns, no infinities, the target kind."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import validate_data

__all__ = ["RELEVANCES", "TASKS", "check_numeric_columns", "feature_names", "check_no_inf", "validate_fit_data", "resolve_task", "check_relevance", "prepare_target"]

RELEVANCES = ("auto", "f", "ks", "rf", "cox")
TASKS = ("auto", "classification", "regression", "survival")


def check_numeric_columns(X) -> None:
    # validate_data's "could not convert string to float" does not say which column is at fault.
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return
    for name, dtype in dtypes.items():
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise ValueError(
                f"column {name!r} is not numeric (dtype {dtype}); encode or drop it before feature selection"
            )


def feature_names(estimator) -> np.ndarray:
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return np.asarray(names, dtype=object)
    return np.asarray([f"x{i}" for i in range(estimator.n_features_in_)], dtype=object)


def check_no_inf(estimator, X: np.ndarray) -> None:
    bad = np.isinf(X).any(axis=0)
    if bad.any():
        name = feature_names(estimator)[np.flatnonzero(bad)[0]]
        raise ValueError(
            f"column {name!r} contains infinity; {type(estimator).__name__} accepts NaN (missing) but not inf"
        )


def validate_fit_data(estimator, X, y, *, y_required: bool = True):
    """validate_data for fit, allowing NaN (handled by pairwise deletion) but not inf."""
    check_numeric_columns(X)
    if y is None and not y_required:
        X = validate_data(estimator, X, dtype=np.float64, ensure_all_finite=False, ensure_min_samples=2)
    else:
        X, y = validate_data(estimator, X, y, dtype=np.float64, ensure_all_finite=False, ensure_min_samples=2,
                             multi_output=len(getattr(y, "shape", ())) == 2)
    check_no_inf(estimator, X)
    return X, y


def _time_event_shaped(y) -> bool:
    return np.ndim(y) == 2 and np.shape(y)[1] == 2


def _check_time_event_shape(y, owner: str) -> None:
    if not _time_event_shaped(y):
        raise ValueError(f"{owner}: task='survival' needs y as an (n, 2) array of (time, event)")


def _check_nothing(y, owner: str) -> None:
    return None


#: What an explicit ``task`` requires of the shape of ``y`` before anything else looks at it.
_SHAPE_CHECKS = {"classification": _check_nothing, "regression": _check_nothing,
                 "survival": _check_time_event_shape}


def _labels_unless_float(y) -> str:
    # type_of_target calls integral floats (e.g. the diabetes progression score) classes; the dtype is a
    # better guide: floats are measurements, integers/strings/booleans are labels.
    return "regression" if np.asarray(y).dtype.kind == "f" else "classification"


#: ``task="auto"``: the task of each kind of 1-d target (scikit-learn's ``type_of_target``); any binary ``y``
#: is a pair of classes.
_TASK_OF_TARGET_TYPE = {"binary": lambda y: "classification", "multiclass": _labels_unless_float,
                        "continuous": _labels_unless_float}


def resolve_task(task: str, y: np.ndarray, owner: str) -> str:
    """The selector's task for ``y``: ``task`` itself (once ``y`` has the shape it needs), or what ``"auto"``
    reads off ``y`` (an ``(n, 2)`` ``y`` is a survival target). ``task`` is one of :data:`TASKS` (the selectors'
    parameter constraints)."""
    if task != "auto":
        _SHAPE_CHECKS[task](y, owner)
        return task
    if _time_event_shaped(y):
        return "survival"
    kind = type_of_target(y, input_name="y", raise_unknown=True)
    if kind not in _TASK_OF_TARGET_TYPE:
        raise ValueError(f"{owner}: cannot select features for a {kind!r} target; pass a single 1-d y")
    return _TASK_OF_TARGET_TYPE[kind](y)


@dataclass(frozen=True)
class _Relevances:
    """The relevance ``"auto"`` stands for with a task, those that apply to it, and the hint that lists them."""

    auto: str
    allowed: frozenset
    hint: str


_GENERIC_HINT = "f, ks, rf or auto"
#: The relevances of each task.
_RELEVANCES_OF_TASK = {
    "classification": _Relevances("f", frozenset({"f", "ks", "rf"}), _GENERIC_HINT),
    "regression": _Relevances("f", frozenset({"f", "rf"}), _GENERIC_HINT),
    "survival": _Relevances("cox", frozenset({"cox"}), "cox (univariate Cox score test) or auto"),
}


def check_relevance(relevance, task: str, owner: str):
    """The relevance to use: ``"auto"`` is the univariate Cox score test for a survival target and the F
    statistic otherwise. ``relevance`` is a callable or one of :data:`RELEVANCES` (the selectors' parameter
    constraints)."""
    if callable(relevance):
        return relevance
    spec = _RELEVANCES_OF_TASK[task]
    if relevance == "auto":
        return spec.auto
    if relevance == "ks" and relevance not in spec.allowed:
        raise ValueError(f"{owner}: relevance='ks' (Kolmogorov-Smirnov) needs a classification target")
    if relevance not in spec.allowed:
        raise ValueError(f"{owner}: relevance={relevance!r} does not apply to a {task} target; {spec.hint}")
    return relevance


def _time_event_target(y, owner: str) -> np.ndarray:
    from ..outcomes.survival.metrics import split_surv

    time, event = split_surv(y, owner)
    if not event.any():
        raise ValueError(f"{owner}: no event in y; feature relevance needs at least one")
    return np.column_stack([time, event.astype(float)])


def _numeric_target(y, owner: str) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{owner}: task='regression' needs a numeric y, got dtype {y.dtype}")
    return y.astype(np.float64)


def _class_labels(y, owner: str) -> np.ndarray:
    y = np.asarray(y)
    if np.unique(y).size < 2:
        raise ValueError(f"{owner}: y has a single class; feature relevance needs at least two")
    return y


#: How each task's ``y`` is checked and prepared for the relevance statistics.
_PREPARE_TARGET = {"classification": _class_labels, "regression": _numeric_target, "survival": _time_event_target}


def prepare_target(y, task: str, owner: str) -> np.ndarray:
    return _PREPARE_TARGET[task](y, owner)
