"""XGBoost with early stopping on a validation split of its own training rows.

XGBoost's scikit-learn estimators stop early only when ``fit`` is handed an ``eval_set``, which a Pipeline
inside nested cross-validation cannot supply. These subclasses hold out ``validation_fraction`` of the rows
they are fitted on (stratified on the class for the classifier), grow trees on the rest until the validation
loss has not improved for ``early_stopping_rounds`` rounds, and keep the trees up to the best round, as
scikit-learn's ``HistGradientBoostingClassifier(early_stopping=True)`` does. The held-out rows come from the
training rows only, so nothing of a test fold is seen; the model is grown on ``1 - validation_fraction`` of
them. Rows are split at random: with several rows per patient a patient can sit on both sides, which is why
radiomix refuses ``early_stopping_rounds`` together with ``groups``.

tests/test_common.py runs scikit-learn's estimator checks on them, less those XGBoost's own estimators fail (class
labels coded 0..k-1, ``objective`` set in ``fit``, float32 predictions) and the sample-weight equivalence a split
drawn by row cannot give; only the wrappers' two parameters are declared in ``_parameter_constraints`` (XGBoost
validates its own). tests/test_models.py checks them against XGBoost fitted by hand on the same split, and
cloning, determinism and persistence.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse
from sklearn.base import _fit_context
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import _safe_indexing, check_consistent_length
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_sample_weight
from xgboost import XGBClassifier, XGBRegressor

__all__ = ["EarlyStoppingXGBClassifier", "EarlyStoppingXGBRegressor"]


def _row_indexable(X):
    """``X`` in a form whose rows ``_safe_indexing`` draws: arrays, DataFrames, lists and CSR/CSC matrices as they
    are, other sparse formats as CSR (XGBoost converts them so anyway), other array-likes as arrays."""
    if sparse.issparse(X):
        return X if X.format in ("csr", "csc") else X.tocsr()
    return X if hasattr(X, "shape") or isinstance(X, list) else np.asarray(X)


def _fit_early_stopped(est, parent_fit, splitter, X, y, sample_weight, kwargs):
    """Fit ``est`` (through its XGBoost ``parent_fit``) on a split of its rows, then keep the trees up to the best
    round."""
    # Rows are drawn by position, so X, y and the weights must have one entry per row.
    X, y = _row_indexable(X), np.asarray(y)
    check_consistent_length(X, y, sample_weight)
    if sample_weight is not None:
        sample_weight = _check_sample_weight(sample_weight, X)
    fit_rows, val_rows = next(splitter.split(np.zeros(len(y)), y))
    X_fit, X_val = _safe_indexing(X, fit_rows), _safe_indexing(X, val_rows)
    w_fit = None if sample_weight is None else sample_weight[fit_rows]
    parent_fit(X_fit, y[fit_rows], sample_weight=w_fit, eval_set=[(X_val, y[val_rows])], verbose=False, **kwargs)
    est.best_n_estimators_ = int(est.best_iteration) + 1
    est.n_validation_rows_ = int(len(val_rows))
    # Keep only the trees predictions use, so SHAP and the saved model describe the same model.
    est._Booster = est.get_booster()[: est.best_n_estimators_]
    return est


class _EarlyStopping:
    """What both wrappers add to their XGBoost estimator: ``validation_fraction``, kept out of the booster's
    parameters, and a ``fit`` on a split of the rows drawn by the class's ``_splitter``. First base class, so
    scikit-learn reads ``validation_fraction`` from this ``__init__`` and XGBoost's ``get_params`` skips it."""

    _splitter = ShuffleSplit
    # The wrapper's own settings; XGBoost validates the booster's parameters itself (``early_stopping_rounds``
    # is one of them, but this wrapper needs it set).
    _parameter_constraints: dict = {
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "early_stopping_rounds": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, *, validation_fraction=0.2, **kwargs):
        super().__init__(**kwargs)
        self.validation_fraction = validation_fraction

    def get_xgb_params(self):
        """Booster parameters (without ``validation_fraction``, which is the wrapper's)."""
        params = super().get_xgb_params()
        params.pop("validation_fraction", None)
        return params

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, *, sample_weight=None, **kwargs):
        """Fit on ``1 - validation_fraction`` of the rows, stopping when the held-out loss stops improving."""
        seed = self.random_state if isinstance(self.random_state, numbers.Integral) else 0
        splitter = self._splitter(1, test_size=self.validation_fraction, random_state=seed)
        return _fit_early_stopped(self, super().fit, splitter, X, y, sample_weight, kwargs)


class EarlyStoppingXGBClassifier(_EarlyStopping, XGBClassifier):
    """``xgboost.XGBClassifier`` that stops early on a stratified validation split of its training rows.

    Parameters
    ----------
    validation_fraction : float, default=0.2
        Share of the training rows held out to choose the number of trees (stratified on the class).
    **kwargs
        Parameters of :class:`xgboost.XGBClassifier`; ``early_stopping_rounds`` is required (an integer),
        ``n_estimators`` is the most trees grown, and ``random_state`` also seeds the split.

    Attributes
    ----------
    best_n_estimators_ : int
        Number of trees kept (the best validation round + 1).
    n_validation_rows_ : int
        Number of rows held out for early stopping.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from radiomix.boosting import EarlyStoppingXGBClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = EarlyStoppingXGBClassifier(n_estimators=500, early_stopping_rounds=20, random_state=0).fit(X, y)
    >>> clf.best_n_estimators_ < 500
    True
    """

    _splitter = StratifiedShuffleSplit


class EarlyStoppingXGBRegressor(_EarlyStopping, XGBRegressor):
    """``xgboost.XGBRegressor`` that stops early on a random validation split of its training rows.

    Parameters
    ----------
    validation_fraction : float, default=0.2
        Share of the training rows held out to choose the number of trees.
    **kwargs
        Parameters of :class:`xgboost.XGBRegressor`; ``early_stopping_rounds`` is required.

    Attributes
    ----------
    best_n_estimators_ : int
        Number of trees kept (the best validation round + 1).
    n_validation_rows_ : int
        Number of rows held out for early stopping.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from radiomix.boosting import EarlyStoppingXGBRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = EarlyStoppingXGBRegressor(n_estimators=500, early_stopping_rounds=10, random_state=0).fit(X, y)
    >>> reg.best_n_estimators_ < 500
    True
    """

    _splitter = ShuffleSplit
