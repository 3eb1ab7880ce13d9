"""Outcome types as plug-ins. A :class:`Task` owns everything that differs between a binary, multiclass,
regression or survival outcome (:mod:`.base` lists every decision); every other part of radiomix asks the Task.
A new outcome type is one subclass registered with :func:`register_task`: its ``name`` becomes a valid
``task:`` of the config."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Task
from .binary import BinaryTask
from .multiclass import MulticlassTask
from .registry import TASKS, get_task, register_task
from .regression import RegressionTask
from .survival import SurvivalTask

__all__ = ["DEFAULT_TASK", "task_of_array", "Task", "BinaryTask", "SurvivalTask", "RegressionTask", "MulticlassTask", "TASKS", "get_task",
           "infer_task", "register_task"]


#: The outcome type a single target column with two values is: what ``task: auto`` assumes without saying so.
DEFAULT_TASK = "binary"


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


def task_of_array(y, p=None) -> Task:
    """The outcome type an encoded target ``y`` (and predictions ``p``) look like, for functions that take arrays
    without a Study: a time/event pair is survival, one column of probabilities per class multiclass, floats other
    than 0/1 regression (a float 0/1 column is binary), anything else binary."""
    y = np.asarray(y)
    if y.ndim == 2:
        return TASKS["survival"]
    if p is not None and np.ndim(p) == 2:
        return TASKS["multiclass"]
    if y.dtype.kind == "f" and not np.isin(y, (0.0, 1.0)).all():
        return TASKS["regression"]
    return TASKS[DEFAULT_TASK]
