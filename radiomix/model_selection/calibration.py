"""Probability corrections learned where they cannot be fooled by resampling.

Class balancing (SMOTE, random over/under-sampling) trains the model on a prevalence that is not the
patients'. Its probabilities are then too high for the rarer class, and a calibration step fitted on the
resampled rows inherits the distortion. :class:`RecalibratedClassifier` learns the correction from
out-of-fold predictions of rows that were *not* resampled (inner folds of the training set, grouped by
patient when groups are given), or, for random over/under-sampling only, applies the exact shift of the
log-odds by the change in prevalence.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

__all__ = ["RecalibratedClassifier", "logit"]

_EPS = 1e-6


def logit(p) -> np.ndarray:
    """log(p / (1 - p)) with p clipped to [1e-6, 1 - 1e-6]."""
    p = np.clip(np.asarray(p, float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


class RecalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A binary classifier (typically a whole Pipeline with a sampler) whose probabilities are corrected.

    Parameters
    ----------
    estimator : classifier
        The model; cloned and fitted on all rows in :meth:`fit`.
    method : {"sigmoid", "isotonic", "prevalence"}, default="sigmoid"
        ``"sigmoid"``: logistic regression of the outcome on the logit of out-of-fold probabilities
        (intercept and slope); ``"isotonic"``: isotonic regression of the outcome on them; ``"prevalence"``:
        the logit shifted by ``logit(training prevalence) - logit(resampled_prevalence)``, exact for random
        over- or under-sampling of a model that estimates class probabilities (not for SMOTE/ADASYN, which
        also change the feature distribution).
    cv : int or splitter, default=3
        Folds of the out-of-fold predictions (``"sigmoid"``/``"isotonic"``); an int gives stratified
        (grouped when ``groups`` is passed to :meth:`fit`) shuffled folds seeded by ``random_state``.
    resampled_prevalence : float, default=0.5
        Prevalence of the resampled training data (``"prevalence"``; 0.5 for full balancing).
    random_state : int, default=0

    Attributes
    ----------
    estimator_ : the fitted model. ``intercept_``, ``slope_`` (logit-linear corrections) or ``isotonic_``.
    classes_ : the two classes.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = make_classification(600, weights=[0.85], random_state=0)
    >>> m = RecalibratedClassifier(LogisticRegression(class_weight="balanced"), method="sigmoid").fit(X, y)
    >>> abs(m.predict_proba(X)[:, 1].mean() - y.mean()) < 0.02
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "method": [StrOptions({"sigmoid", "isotonic", "prevalence"})],
        "cv": ["cv_object"],
        "resampled_prevalence": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, method="sigmoid", cv=3, resampled_prevalence=0.5, random_state=0):
        self.estimator = estimator
        self.method = method
        self.cv = cv
        self.resampled_prevalence = resampled_prevalence
        self.random_state = random_state

    # The estimator is the user's (a whole Pipeline): its steps validate their own parameters when fitted.
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, groups=None):
        """Fit the model on all rows and learn the correction (out-of-fold predictions for sigmoid/isotonic)."""
        from sklearn.model_selection import cross_val_predict

        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        n_classes = np.unique(y).size
        if n_classes > 2:
            raise ValueError(f"{type(self).__name__}: Only binary classification is supported; got {n_classes} classes")
        oof = None
        if self.method != "prevalence":
            cv = self.cv
            if isinstance(cv, (int, np.integer)):
                from .splits import inner_cv

                cv = inner_cv(int(cv), groups, self.random_state)
            oof = cross_val_predict(clone(self.estimator), X, y, groups=groups, cv=cv, method="predict_proba")[:, 1]
        return self._learn_correction(clone(self.estimator).fit(X, y), y, oof)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_from_predictions(self, fitted_estimator, y, oof_proba=None):
        """Use an already fitted model, and learn the correction from ``oof_proba`` (out-of-fold probabilities
        of the positive class for the rows of ``y``, from data that was not resampled)."""
        return self._learn_correction(fitted_estimator, y, oof_proba)

    def _learn_correction(self, fitted_estimator, y, oof_proba):
        self.estimator_ = fitted_estimator
        self.classes_ = getattr(fitted_estimator, "classes_", np.array([0, 1]))
        y = (np.asarray(y) == self.classes_[1]).astype(int)  # 1 for the positive class
        if hasattr(fitted_estimator, "n_features_in_"):
            self.n_features_in_ = fitted_estimator.n_features_in_
        if hasattr(fitted_estimator, "feature_names_in_"):
            self.feature_names_in_ = fitted_estimator.feature_names_in_
        self.intercept_, self.slope_, self.isotonic_ = 0.0, 1.0, None
        if self.method == "prevalence":
            self.intercept_ = float(logit(y.mean()) - logit(self.resampled_prevalence))
        elif self.method == "sigmoid":
            from ..metrics import logistic_fit

            self.intercept_, self.slope_ = (float(v) for v in logistic_fit(logit(oof_proba), y))
        else:
            from sklearn.isotonic import IsotonicRegression

            self.isotonic_ = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(oof_proba, y)
        return self

    def correct(self, proba) -> np.ndarray:
        """The corrected probability of the positive class for raw probabilities ``proba``."""
        check_is_fitted(self, "estimator_")
        if self.isotonic_ is not None:
            return np.clip(self.isotonic_.predict(np.asarray(proba, float)), 0, 1)
        return _sigmoid(self.intercept_ + self.slope_ * logit(proba))

    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        p = self.correct(self.estimator_.predict_proba(X)[:, 1])
        return np.column_stack([1 - p, p])

    def predict(self, X):
        positive = self.predict_proba(X)[:, 1] >= 0.5
        return self.classes_[positive.astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        inner = get_tags(self.estimator) if self.estimator is not None else None
        if inner is not None:  # the data go to the estimator as they are
            tags.input_tags.sparse = inner.input_tags.sparse
            tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags

    @property
    def logit_linear(self) -> bool:
        """True when the correction is ``a + b * logit(p)`` (sigmoid, prevalence): explanations on the
        log-odds scale transform exactly."""
        return getattr(self, "isotonic_", None) is None
