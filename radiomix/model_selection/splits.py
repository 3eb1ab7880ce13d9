"""Every split rule of a radiomix run: the outer folds (:class:`SplitPlan`: stratified, grouped by patient,
leave one site out), the inner folds of a training set (:func:`inner_split`: stratified, grouped, leave one
training site out, site folds) and the splitters that keep a patient's rows together where scikit-learn cannot
pass ``groups``.

scikit-learn's ``StackingClassifier`` splits its training rows with ``cv.split(X, y)`` and no groups. A
:class:`IndexGroupKFold` carries the group of every row of the study and finds the rows it is given by
their index labels (positions in the study's table, kept by pandas through ``iloc`` and radiomix's
transformers), so stacking splits by patient too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator, StratifiedGroupKFold, StratifiedKFold

from ..outcomes.strata import StratifyOn

__all__ = ["SplitPlan", "Fold", "InnerSplit", "inner_split", "IndexGroupKFold", "StratifyOn", "inner_cv", "outer_plan",
           "OUTER_KINDS"]


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




def inner_cv(n_splits: int, groups=None, seed: int = 0, strata=None):
    """The inner-fold splitter: stratified k-fold, or stratified group k-fold when ``groups`` is given
    (rows of one patient never split); stratified on ``strata(y)`` when ``strata`` is given."""
    if groups is not None:
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    else:
        cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return cv if strata is None else StratifyOn(cv, strata)


@dataclass(frozen=True)
class InnerSplit:
    """The inner folds of one training set: the splitter, the labels it groups by, and a description."""

    cv: object
    groups: np.ndarray | None
    description: str


def inner_split(plan, *, groups=None, sites=None, leave_site_out: bool = False, seed: int = 0,
                min_sites: int = 3) -> InnerSplit:
    """The inner folds of a training set.

    With ``plan.inner_kind="auto"``, ``leave_site_out`` (the outer folds leave a site out) and at least
    ``min_sites`` training sites, each inner fold leaves one training site out, so tuning rewards what the
    outer folds measure: generalisation to an unseen site. ``"site_folds"`` deals the training sites into
    ``plan.inner_splits`` folds (stratified group k-fold with sites as groups, so a patient's rows, which share
    a site, stay together): the same question at fewer fits than one fold per site. With too few sites both
    fall back to stratified folds (grouped by patient when ``groups`` is given) and say so in the description;
    ``"stratified"`` always uses those.
    """
    if sites is not None and (plan.inner_kind == "site_folds" or (leave_site_out and plan.inner_kind == "auto")):
        from sklearn.model_selection import LeaveOneGroupOut

        s = np.asarray(sites).astype(str)
        k = len(set(s))
        if plan.inner_kind == "site_folds" and k >= max(plan.inner_splits, 2):
            return InnerSplit(inner_cv(plan.inner_splits, s, seed, strata=plan.strata), s,
                              f"{k} training sites dealt into {plan.inner_splits} folds, stratified on the outcome")
        if plan.inner_kind == "auto" and k >= min_sites:
            return InnerSplit(LeaveOneGroupOut(), s, f"leave-one-site-out over {k} training sites")
        need = max(plan.inner_splits, 2) if plan.inner_kind == "site_folds" else min_sites
        fallback = inner_cv(plan.inner_splits, groups, seed, strata=plan.strata)
        return InnerSplit(fallback, None if groups is None else np.asarray(groups),
                          f"{plan.inner_splits}-fold {'grouped ' if groups is not None else ''}stratified "
                          f"(only {k} training site(s); site-grouped inner folds need >= {need})")
    return InnerSplit(inner_cv(plan.inner_splits, groups, seed, strata=plan.strata),
                      None if groups is None else np.asarray(groups),
                      f"{plan.inner_splits}-fold {'grouped ' if groups is not None else ''}stratified")


@dataclass(frozen=True)
class Fold:
    """One outer fold: positions of its training and test rows, its seed and (leave-site-out) its test site."""

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray
    seed: int
    site: str | None = None


#: the outer-fold rules a run can ask for
OUTER_KINDS = ("stratified", "grouped", "leave_site_out")


def outer_plan(kind: str, n_splits: int = 5, n_repeats: int = 1, random_state: int = 0, *, groups=None,
               groups_name: str | None = None) -> tuple[SplitPlan, str | None]:
    """The outer folds of a run, the one rule for every entry point (a config, your own Pipeline, the
    baselines and the permutation refits all use the plan it returns): ``"stratified"`` becomes ``"grouped"``
    whenever ``groups`` is given, so a patient's rows never fall on both sides of a split, and
    ``"leave_site_out"`` has one repeat. Returns ``(plan, note)``: the note says what changed (None: nothing)."""
    if kind not in OUTER_KINDS:
        raise ValueError(f"outer must be one of {list(OUTER_KINDS)}, got {kind!r}")
    note = None
    if kind == "stratified" and groups is not None:
        kind = "grouped"
        named = f" ({groups_name!r})" if groups_name else ""
        note = (f"cv.outer.kind 'stratified' became 'grouped' because groups is set{named}: "
                "a patient's rows never fall on both sides of a split")
    if kind == "grouped" and groups is None:
        raise ValueError("outer='grouped' needs groups (the patient of each row)")
    return SplitPlan(kind, int(n_splits), 1 if kind == "leave_site_out" else int(n_repeats), int(random_state)), note


@dataclass(frozen=True)
class SplitPlan:
    """The outer folds: ``kind`` ``"stratified"`` (k-fold, ``n_repeats`` shuffles), ``"grouped"`` (stratified
    group k-fold: a patient's rows never split) or ``"leave_site_out"`` (each site in turn is the test set)."""

    kind: str = "stratified"
    n_splits: int = 5
    n_repeats: int = 1
    random_state: int = 0

    def folds(self, strata: np.ndarray, *, groups=None, sites=None) -> list[Fold]:
        """The folds for rows with stratification labels ``strata``; seeds are drawn from ``random_state``
        so a plan always gives the same folds and inner seeds."""
        from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

        rng = np.random.default_rng(self.random_state)
        if self.kind == "leave_site_out":
            if sites is None:
                raise ValueError("outer='leave_site_out' needs sites (the batch column)")
            s_arr = np.asarray(sites).astype(str)
            return [Fold(0, k, np.flatnonzero(s_arr != s), np.flatnonzero(s_arr == s),
                         int(rng.integers(0, 2**31 - 1)), s) for k, s in enumerate(sorted(set(s_arr)))]
        out = []
        X = np.zeros((len(strata), 1))
        for r in range(self.n_repeats):
            seed = int(rng.integers(0, 2**31 - 1))
            if self.kind == "grouped":
                if groups is None:
                    raise ValueError("outer='grouped' needs groups")
                splits = StratifiedGroupKFold(self.n_splits, shuffle=True, random_state=seed).split(X, strata, groups)
            elif self.kind == "stratified":
                if groups is not None:  # every entry point resolves its plan with outer_plan(), which converts
                    raise ValueError("stratified outer folds with groups would split patients: build the plan "
                                     "with radiomix.model_selection.outer_plan(kind, ..., groups=groups)")
                splits = StratifiedKFold(n_splits=self.n_splits, shuffle=True, random_state=seed).split(X, strata)
            else:
                raise ValueError(f"outer must be 'stratified', 'grouped' or 'leave_site_out', got {self.kind!r}")
            out += [Fold(r, k, train, test, seed + k) for k, (train, test) in enumerate(splits)]
        return out
