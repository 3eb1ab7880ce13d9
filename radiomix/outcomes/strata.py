"""A splitter that stratifies on an outcome's strata (a continuous or a time/event target cannot be stratified on
directly): it asks the Task by name, so a saved model holds a name, not code."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import BaseCrossValidator

__all__ = ["StratifyOn"]


class StratifyOn(BaseCrossValidator):
    """A splitter that stratifies on ``strata(y)`` instead of ``y`` (e.g. a survival target's event status and
    follow-up tertile): ``cv.split(X, strata(y), groups)``. ``strata`` is a function, or the name of a task
    (:mod:`radiomix.tasks`) whose ``strata`` to use (what a saved model holds: a name, not code)."""

    def __init__(self, cv, strata):
        self.cv = cv
        self.strata = strata

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.cv.get_n_splits(X, y, groups)

    def split(self, X, y=None, groups=None):
        strata = self.strata
        if isinstance(strata, str):
            from .registry import get_task

            strata = get_task(strata).strata
        yield from self.cv.split(X, strata(np.asarray(y)), groups)

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover - split() is overridden
        raise NotImplementedError
