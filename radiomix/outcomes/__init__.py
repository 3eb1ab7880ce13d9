"""Outcome types as plug-ins. A :class:`Task` owns everything that differs between a binary, multiclass,
regression or survival outcome; every other part of radiomix asks the Task. A new outcome type is one
subclass registered with :func:`register_task`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Task
from .binary import BinaryTask
from .multiclass import MulticlassTask
from .regression import RegressionTask
from .survival import SurvivalTask

__all__ = ["Task", "BinaryTask", "SurvivalTask", "RegressionTask", "MulticlassTask", "TASKS", "get_task",
           "infer_task", "register_task"]


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
