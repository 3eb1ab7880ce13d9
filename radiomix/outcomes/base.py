"""The :class:`Task` protocol: what differs per outcome type, asked by every other part of radiomix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Task", "check_labels"]


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


def check_labels(obs: pd.Series, column: str) -> None:
    if obs.dtype == object or pd.api.types.is_string_dtype(obs):
        text = obs.astype(str)
        folded = text.str.strip().str.lower()
        clash = sorted({v for v in text.unique() if text[folded == v.strip().lower()].nunique() > 1})
        if clash:
            raise ValueError(f"target {column!r} holds labels that differ only in case or spaces: {clash}; "
                             "make them identical in the table")
