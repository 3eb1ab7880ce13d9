"""Robustness: features whose repeated measurements (perturbations, test-retest, observers) agree."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, _fit_context
from sklearn.feature_selection import SelectorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

__all__ = ["RobustnessFilter", "RobustnessWarning", "fitted_robustness_filters", "robustness_summary"]

# --------------------------------------------------------------------------------------------------
# Robustness: features whose repeated measurements (perturbations, test-retest, observers) agree
# --------------------------------------------------------------------------------------------------


class RobustnessWarning(UserWarning):
    """Columns a :class:`RobustnessFilter` could not assess, or training cases without repeated measurements."""


class RobustnessFilter(SelectorMixin, BaseEstimator):
    """Keep the features whose intraclass correlation over repeated measurements of the *training* cases is
    high enough (Koo & Li 2016: judge by the lower bound of the ICC's 95 % confidence interval).

    The repeated measurements (image perturbations from ``radiomix robustness``, test-retest scans, several
    observers' masks) come in a long table keyed by case id, given at construction. At ``fit`` the filter
    keeps the rows of the cases it is fitted on and computes each feature's ICC from those alone
    (:func:`radiomix.reliability.icc`), so inside nested cross-validation a test patient's repeats never
    decide which features are kept. Columns of ``X`` that the table does not hold (clinical, genetic,
    encoded categorical columns) cannot be assessed: they are kept, and a :class:`RobustnessWarning` names
    them.

    Parameters
    ----------
    repeats : pandas.DataFrame
        One row per case and repeat: ``case``, optionally ``rater``, and feature columns named as in ``X``.
    case : str, default="id"
        Column of ``repeats`` holding the case id.
    rater : str or None, default=None
        Column of ``repeats`` naming shared raters (the same sessions, observers or scanners for every case):
        two-way ICC. None: repeats drawn independently per case (perturbations): one-way ICC(1,1).
    threshold : float, default=0.75
        A feature is kept when ``statistic`` exceeds it (Koo & Li: 0.75-0.9 good, > 0.9 excellent).
    statistic : {"ci_low", "icc"}, default="ci_low"
        The ICC's lower 95 % confidence bound, or the point estimate.
    form : str, default="auto"
        ICC form (:data:`radiomix.reliability.ICC_FORMS`); auto: ICC(2,1) with shared raters, ICC(1,1) without.
    ids : pandas.Series, array-like or None, default=None
        Case id of each row of ``X``, looked up by ``X``'s index labels (a Series indexed like the full table,
        or an array indexed by its row positions). None: ``X``'s index holds the case ids. Rows labelled by a
        negative integer are synthetic rows of a :class:`radiomix.models.resampling.RowIdentitySampler` (SMOTE
        interpolants) and are skipped; a sampler that renumbers the rows (imbalanced-learn's own) must come
        after the filter, which radiomix's Pipeline does.
    min_cases : int, default=10
        Fewest training cases with repeats for which an ICC is computed; fewer is an error.

    Attributes
    ----------
    icc_, ci_low_, ci_high_ : ndarray of shape (n_features_in_,)
        ICC and its confidence bounds per input column (NaN for unassessed columns).
    assessed_ : ndarray of bool
        Columns the repeats table holds.
    support_ : ndarray of bool
        Kept columns: assessed and robust, or unassessed.
    form_, design_ : str
        The ICC form used and why.
    n_cases_ : int
        Training cases whose repeats were used; ``n_cases_without_repeats_`` those without any.

    Notes
    -----
    scikit-learn's estimator checks that fit the filter cannot apply: it needs ``X`` as a DataFrame whose index
    (or ``ids``) names cases of the repeats table and whose columns are named as its features, which the generic
    checks (NumPy arrays of random numbers) cannot provide; tests/test_common.py lists them and runs the others.
    Parameters are stored as given and declared in ``_parameter_constraints`` (checked at ``fit``);
    ``get_feature_names_out`` and ``set_output`` come from ``SelectorMixin`` (tests/test_robustness_filter.py).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiomix.select import RobustnessFilter
    >>> rng = np.random.default_rng(0)
    >>> truth = pd.DataFrame({"stable": rng.normal(size=30), "noisy": rng.normal(size=30)},
    ...                      index=[f"c{i}" for i in range(30)])
    >>> reps = pd.concat([truth.assign(noisy=truth["noisy"] + rng.normal(size=30)).rename_axis("id").reset_index()
    ...                   for _ in range(5)])
    >>> RobustnessFilter(reps, threshold=0.75).fit(truth).get_feature_names_out().tolist()
    ['stable']
    """

    # The ICC form is checked by radiomix.reliability.icc, which also knows its aliases ("ICC2", "ICC(A,1)"...);
    # whether ``case`` is a column of ``repeats`` depends on the table and is checked in ``fit``.
    _parameter_constraints: dict = {
        "repeats": [pd.DataFrame, None],
        "case": [str, Integral],
        "rater": [str, Integral, None],
        "threshold": [Interval(Real, -1, 1, closed="both")],
        "statistic": [StrOptions({"ci_low", "icc"})],
        "form": [str],
        "ids": ["array-like", None],
        "min_cases": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, repeats=None, *, case="id", rater=None, threshold=0.75, statistic="ci_low", form="auto",
                 ids=None, min_cases=10):
        self.repeats = repeats
        self.case = case
        self.rater = rater
        self.threshold = threshold
        self.statistic = statistic
        self.form = form
        self.ids = ids
        self.min_cases = min_cases

    def _training_cases(self, X) -> np.ndarray:
        from ..models.resampling import synthetic_rows

        # Synthetic rows (SMOTE interpolants behind a RowIdentitySampler) belong to no case: no repeats to read.
        labels = X.index[~synthetic_rows(X.index)]
        if self.ids is None:
            return labels.astype(str).to_numpy()
        ids = self.ids if isinstance(self.ids, pd.Series) else pd.Series(np.asarray(self.ids))
        missing = labels.difference(ids.index)
        if len(missing):
            raise ValueError(f"{type(self).__name__}: {len(missing)} row label(s) of X are not in ids (e.g. "
                             f"{missing[0]!r}); X's index must hold the rows' positions in the table ids describes "
                             "(a sampler in front of the filter renumbers the rows: place the filter before it)")
        return ids.loc[labels].astype(str).to_numpy()

    def _check(self, X) -> None:
        owner = type(self).__name__
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"{owner} needs X as a DataFrame (its index identifies the cases, its column names "
                            f"the features in the repeats table), got {type(X).__name__}")
        if not isinstance(self.repeats, pd.DataFrame) or self.case not in self.repeats.columns:
            raise ValueError(f"{owner}: repeats must be a DataFrame with the case column {self.case!r}")

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute each feature's ICC from the repeats of the cases in ``X`` and keep the robust ones.

        Parameters
        ----------
        X : pandas.DataFrame of shape (n_samples, n_features)
            Training rows; the index (or ``ids``) identifies their cases.
        y : ignored

        Returns
        -------
        self : RobustnessFilter
        """
        from ..reliability import icc

        self._check(X)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        rep = self._training_repeats(X)
        names = self.feature_names_in_.tolist()
        ids = {self.case, self.rater}
        self.assessed_ = np.array([c in rep.columns and c not in ids for c in names])
        if not self.assessed_.any():
            raise ValueError(f"{type(self).__name__}: none of the {len(names)} columns of X is in the repeats table "
                             f"(first columns of X: {names[:3]})")
        unassessed = [c for c, a in zip(names, self.assessed_) if not a]
        if unassessed:
            warnings.warn(f"{type(self).__name__}: {len(unassessed)} column(s) have no repeated measurements and are "
                          f"kept without an ICC: {unassessed[:5]}{' ...' if len(unassessed) > 5 else ''}",
                          RobustnessWarning, stacklevel=2)
        assessed = [c for c, a in zip(names, self.assessed_) if a]
        res = icc(rep, case=self.case, rater=self.rater, features=assessed, form=self.form)
        self.form_, self.design_ = res.attrs["form"], res.attrs["design"]
        for attr, col in (("icc_", "icc"), ("ci_low_", "ci_low"), ("ci_high_", "ci_high")):
            values = np.full(len(names), np.nan)
            values[self.assessed_] = res[col].reindex(assessed).to_numpy(float)
            setattr(self, attr, values)
        stat = self.ci_low_ if self.statistic == "ci_low" else self.icc_
        with np.errstate(invalid="ignore"):
            self.support_ = ~self.assessed_ | (stat > self.threshold)
        if not self.support_.any():
            raise ValueError(f"{type(self).__name__}: no feature has an ICC {self.statistic} above {self.threshold} "
                             f"on the repeats of the {self.n_cases_} training cases")
        return self

    def _training_repeats(self, X) -> pd.DataFrame:
        """The repeats table's rows of the cases in ``X``; counts what is found and what is not."""
        cases = pd.unique(self._training_cases(X))
        keys = self.repeats[self.case].astype(str)
        rep = self.repeats[keys.isin(set(cases)).to_numpy()]
        found = set(keys[keys.isin(set(cases))])
        self.n_cases_ = len(found)
        self.n_cases_without_repeats_ = len(cases) - len(found)
        if self.n_cases_ < self.min_cases:
            raise ValueError(f"{type(self).__name__}: {self.n_cases_} of the {len(cases)} training cases have rows in the "
                             f"repeats table (column {self.case!r}; e.g. case {cases[0]!r}); at least {self.min_cases} "
                             "are needed")
        if self.n_cases_without_repeats_:
            warnings.warn(f"{type(self).__name__}: {self.n_cases_without_repeats_} of {len(cases)} training cases have "
                          "no repeated measurements; the ICC uses the others", RobustnessWarning, stacklevel=3)
        return rep

    def _get_support_mask(self):
        check_is_fitted(self)
        return self.support_

    def icc_table(self) -> pd.DataFrame:
        """The fitted ICCs as a table: one row per input column, with ``assessed`` and ``kept``."""
        check_is_fitted(self)
        return pd.DataFrame({"icc": self.icc_, "ci_low": self.ci_low_, "ci_high": self.ci_high_,
                             "assessed": self.assessed_, "kept": self.support_}, index=self.feature_names_in_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = False
        return tags


def fitted_robustness_filters(estimator) -> list:
    """The fitted :class:`RobustnessFilter` steps inside ``estimator`` (a Pipeline, possibly nested or wrapped)."""
    params = estimator.get_params(deep=True).values() if hasattr(estimator, "get_params") else ()
    return [v for v in params if isinstance(v, RobustnessFilter) and hasattr(v, "support_")]


def robustness_summary(filters) -> pd.DataFrame:
    """Per assessed feature over fitted :class:`RobustnessFilter` s (one per outer fold): the median ICC and
    lower bound, the share of folds that kept it, and its pyradiomics image filter and feature class.

    Parameters
    ----------
    filters : list of RobustnessFilter
        Fitted filters (e.g. :func:`fitted_robustness_filters` of each outer-fold model).

    Returns
    -------
    pandas.DataFrame
        Indexed by feature: ``icc``, ``ci_low`` (medians over folds), ``kept`` (share of folds),
        ``n_folds``, ``image_filter``, ``feature_class``; sorted by ``ci_low`` descending.
    """
    frames = [f.icc_table().loc[lambda t: t["assessed"]] for f in filters]
    if not frames:
        return pd.DataFrame(columns=["icc", "ci_low", "kept", "n_folds", "image_filter", "feature_class"])
    both = pd.concat(frames, keys=range(len(frames)), names=["fold", "feature"])
    g = both.groupby(level="feature", sort=False)
    out = pd.DataFrame({"icc": g["icc"].median(), "ci_low": g["ci_low"].median(),
                        "kept": g["kept"].mean(), "n_folds": g.size()})
    from ..tables import feature_name_parts

    parts = [feature_name_parts(n) for n in out.index]
    out["image_filter"] = [p[0] for p in parts]
    out["feature_class"] = [p[1] for p in parts]
    return out.sort_values("ci_low", ascending=False, kind="stable")
