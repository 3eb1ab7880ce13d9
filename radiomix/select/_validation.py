"""Input checks shared by radiomix's selectors: numeric columns, no infinities, the target kind."""

from __future__ import annotations

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


def resolve_task(task: str, y: np.ndarray, owner: str) -> str:
    if task not in TASKS:
        raise ValueError(f"{owner}: task must be one of {TASKS}, got {task!r}")
    if task != "auto":
        if task == "survival" and (np.ndim(y) != 2 or np.shape(y)[1] != 2):
            raise ValueError(f"{owner}: task='survival' needs y as an (n, 2) array of (time, event)")
        return task
    if np.ndim(y) == 2 and np.shape(y)[1] == 2:
        return "survival"
    kind = type_of_target(y, input_name="y", raise_unknown=True)
    if kind not in ("binary", "multiclass", "continuous"):
        raise ValueError(f"{owner}: cannot select features for a {kind!r} target; pass a single 1-d y")
    # type_of_target calls integral floats (e.g. the diabetes progression score) classes; the dtype is a
    # better guide: floats are measurements unless binary, integers/strings/booleans are labels.
    if kind == "binary" or np.asarray(y).dtype.kind != "f":
        return "classification"
    return "regression"


def check_relevance(relevance, task: str, owner: str):
    """The relevance to use: ``"auto"`` is the univariate Cox score test for a survival target and the F
    statistic otherwise."""
    if callable(relevance):
        return relevance
    if relevance not in RELEVANCES:
        raise ValueError(f"{owner}: relevance must be one of {RELEVANCES} or a callable, got {relevance!r}")
    if relevance == "auto":
        return "cox" if task == "survival" else "f"
    if relevance == "ks" and task != "classification":
        raise ValueError(f"{owner}: relevance='ks' (Kolmogorov-Smirnov) needs a classification target")
    if (relevance == "cox") != (task == "survival"):
        raise ValueError(f"{owner}: relevance={relevance!r} does not apply to a {task} target; "
                         f"{'cox (univariate Cox score test) or auto' if task == 'survival' else 'f, ks, rf or auto'}")
    return relevance


def prepare_target(y, task: str, owner: str) -> np.ndarray:
    if task == "survival":
        from ..outcomes.survival.metrics import split_surv

        time, event = split_surv(y, owner)
        if not event.any():
            raise ValueError(f"{owner}: no event in y; feature relevance needs at least one")
        return np.column_stack([time, event.astype(float)])
    if task == "regression":
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise ValueError(f"{owner}: task='regression' needs a numeric y, got dtype {y.dtype}")
        return y.astype(np.float64)
    y = np.asarray(y)
    if np.unique(y).size < 2:
        raise ValueError(f"{owner}: y has a single class; feature relevance needs at least two")
    return y
