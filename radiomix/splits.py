"""Cross-validation splitters that keep a patient's rows together where scikit-learn cannot pass ``groups``.

scikit-learn's ``StackingClassifier`` splits its training rows with ``cv.split(X, y)`` and no groups. A
:class:`IndexGroupKFold` carries the group of every row of the study and finds the rows it is given by
their index labels (positions in the study's table, kept by pandas through ``iloc`` and radiomix's
transformers), so stacking splits by patient too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator, StratifiedGroupKFold, StratifiedKFold

__all__ = ["IndexGroupKFold", "StratifyOn", "inner_cv"]


class IndexGroupKFold(BaseCrossValidator):
    """Stratified group k-fold whose groups are looked up by the rows' index labels.

    Parameters
    ----------
    group_codes : array of int
        The group (patient) code of every row of the full table, by position (integer codes, not patient
        ids, so a saved model holds nothing identifying).
    n_splits, shuffle, random_state : as ``StratifiedGroupKFold``.
    """

    def __init__(self, group_codes, n_splits=3, shuffle=True, random_state=None):
        self.group_codes = group_codes
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.n_splits

    def split(self, X, y=None, groups=None):
        if not isinstance(X, pd.DataFrame):
            raise TypeError("IndexGroupKFold needs a DataFrame whose index holds the rows' positions in the table")
        pos = np.asarray(X.index)
        codes = np.asarray(self.group_codes)
        if pos.dtype.kind not in "iu" or (len(pos) and (pos.min() < 0 or pos.max() >= len(codes))):
            raise ValueError("IndexGroupKFold: the index of X must hold row positions of the table it was built for")
        inner = StratifiedGroupKFold(self.n_splits, shuffle=self.shuffle, random_state=self.random_state)
        yield from inner.split(X, y, codes[pos])

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover - split() is overridden
        raise NotImplementedError


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
            from .tasks import get_task

            strata = get_task(strata).strata
        yield from self.cv.split(X, strata(np.asarray(y)), groups)

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover - split() is overridden
        raise NotImplementedError


def inner_cv(n_splits: int, groups=None, seed: int = 0, strata=None):
    """The inner-fold splitter: stratified k-fold, or stratified group k-fold when ``groups`` is given
    (rows of one patient never split); stratified on ``strata(y)`` when ``strata`` is given."""
    if groups is not None:
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    else:
        cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return cv if strata is None else StratifyOn(cv, strata)
