"""XGBoost with early stopping on a validation split of its own training rows.

XGBoost's scikit-learn estimators stop early only when ``fit`` is handed an ``eval_set``, which a Pipeline
inside nested cross-validation cannot supply. These subclasses hold out ``validation_fraction`` of the rows
they are fitted on (stratified on the class for the classifier), grow trees on the rest until the validation
loss has not improved for ``early_stopping_rounds`` rounds, and keep the trees up to the best round, as
scikit-learn's ``HistGradientBoostingClassifier(early_stopping=True)`` does. The held-out rows come from the
training rows only, so nothing of a test fold is seen; the model is grown on ``1 - validation_fraction`` of
them. Rows are split at random: with several rows per patient a patient can sit on both sides, which is why
radiomix refuses ``early_stopping_rounds`` together with ``groups``.

Class balancing goes inside the wrapper (``sampler``), not in front of it: a sampler in front would hand the
wrapper duplicates or SMOTE interpolants of its training rows, and the validation rows drawn from those
would sit beside their copies (on a pure-noise outcome XGBoost then keeps 100-170 trees instead of about
one). With ``sampler`` the validation rows are drawn from the real rows first and only the others are
resampled, so the number of trees is chosen on untouched rows.

tests/test_common.py runs scikit-learn's estimator checks on them, less those XGBoost's own estimators fail (class
labels coded 0..k-1, ``objective`` set in ``fit``, float32 predictions) and the sample-weight equivalence a split
drawn by row cannot give; only the wrappers' own parameters are declared in ``_parameter_constraints`` (XGBoost
validates its own). tests/test_models.py checks them against XGBoost fitted by hand on the same split, and
cloning, determinism and persistence.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse
from sklearn.base import _fit_context, clone
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import _safe_indexing, check_consistent_length
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import _check_sample_weight, _num_samples
from xgboost import XGBClassifier, XGBRegressor

__all__ = ["EarlyStoppingXGBClassifier", "EarlyStoppingXGBRegressor"]


def _row_indexable(X):
    """``X`` in a form whose rows ``_safe_indexing`` draws: arrays, DataFrames, lists and CSR/CSC matrices as they
    are, other sparse formats as CSR (XGBoost converts them so anyway), other array-likes as arrays."""
    if sparse.issparse(X):
        return X if X.format in ("csr", "csc") else X.tocsr()
    return X if hasattr(X, "shape") or isinstance(X, list) else np.asarray(X)


def _fit_early_stopped(est, parent_fit, splitter, X, y, sample_weight, kwargs):
    """Fit ``est`` (through its XGBoost ``parent_fit``) on a split of its rows, resampled by ``est.sampler`` after
    the split (validation rows stay real), then keep the trees up to the best round."""
    # Rows are drawn by position, so X, y and the weights must have one entry per row.
    X, y = _row_indexable(X), np.asarray(y)
    check_consistent_length(X, y, sample_weight)
    if sample_weight is not None:
        sample_weight = _check_sample_weight(sample_weight, X)
    fit_rows, val_rows = next(splitter.split(np.zeros(len(y)), y))
    X_fit, X_val = _safe_indexing(X, fit_rows), _safe_indexing(X, val_rows)
    y_fit = y[fit_rows]
    w_fit = None if sample_weight is None else sample_weight[fit_rows]
    if est.sampler is not None:
        if w_fit is not None:
            raise ValueError(f"{type(est).__name__}: sample_weight cannot be resampled by {type(est.sampler).__name__}; "
                             "pass either sampler or sample_weight")
        X_fit, y_fit = clone(est.sampler).fit_resample(X_fit, y_fit)
    parent_fit(X_fit, y_fit, sample_weight=w_fit, eval_set=[(X_val, y[val_rows])], verbose=False, **kwargs)
    est.best_n_estimators_ = int(est.best_iteration) + 1
    est.n_validation_rows_ = int(len(val_rows))
    est.n_fit_rows_ = int(_num_samples(X_fit))
    # Keep only the trees predictions use, so SHAP and the saved model describe the same model.
    est._Booster = est.get_booster()[: est.best_n_estimators_]
    return est


class _EarlyStopping:
    """What both wrappers add to their XGBoost estimator: ``validation_fraction`` and ``sampler``, kept out of the
    booster's parameters, and a ``fit`` on a split of the rows drawn by the class's ``_splitter``. First base
    class, so scikit-learn reads them from this ``__init__`` and XGBoost's ``get_params`` skips them."""

    _splitter = ShuffleSplit
    # The wrapper's own settings; XGBoost validates the booster's parameters itself (``early_stopping_rounds``
    # is one of them, but this wrapper needs it set).
    _parameter_constraints: dict = {
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "early_stopping_rounds": [Interval(numbers.Integral, 1, None, closed="left")],
        "sampler": [HasMethods(["fit_resample"]), None],
    }

    def __init__(self, *, validation_fraction=0.2, sampler=None, **kwargs):
        super().__init__(**kwargs)
        self.validation_fraction = validation_fraction
        self.sampler = sampler

    def get_xgb_params(self):
        """Booster parameters (without ``validation_fraction`` and ``sampler``, which are the wrapper's)."""
        params = super().get_xgb_params()
        for key in [k for k in params if k in ("validation_fraction", "sampler") or k.startswith("sampler__")]:
            params.pop(key)
        return params

    @_fit_context(prefer_skip_nested_validation=False)  # the sampler checks its parameters when it resamples
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
    sampler : imbalanced-learn sampler or None, default=None
        Class balancing (``SMOTE``, ``RandomOverSampler``...) applied to the rows the trees grow on, after the
        validation rows are held out: the number of trees is chosen on real rows that were never resampled.
        Cloned at each fit; not combined with ``sample_weight``.
    **kwargs
        Parameters of :class:`xgboost.XGBClassifier`; ``early_stopping_rounds`` is required (an integer),
        ``n_estimators`` is the most trees grown, and ``random_state`` also seeds the split.

    Attributes
    ----------
    best_n_estimators_ : int
        Number of trees kept (the best validation round + 1).
    n_validation_rows_ : int
        Number of (real) rows held out for early stopping.
    n_fit_rows_ : int
        Number of rows the trees grew on (after resampling by ``sampler``).

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
    sampler : imbalanced-learn sampler or None, default=None
        As for :class:`EarlyStoppingXGBClassifier` (imbalanced-learn's samplers need class labels: rarely useful
        for a regressor).
    **kwargs
        Parameters of :class:`xgboost.XGBRegressor`; ``early_stopping_rounds`` is required.

    Attributes
    ----------
    best_n_estimators_ : int
        Number of trees kept (the best validation round + 1).
    n_validation_rows_ : int
        Number of rows held out for early stopping.
    n_fit_rows_ : int
        Number of rows the trees grew on.

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
