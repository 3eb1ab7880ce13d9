"""PLS discriminant analysis as a scikit-learn classifier."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

__all__ = ["PLSDAClassifier"]


class PLSDAClassifier(ClassifierMixin, BaseEstimator):
    """PLS discriminant analysis for binary targets: PLS regression of the 0/1 label on ``X``, then a
    logistic model on the PLS latent scores gives calibrated-looking probabilities.

    Parameters
    ----------
    n_components : int, default=2
        Number of PLS components (capped at the number of features).
    scale : bool, default=True
        Scale ``X`` inside the PLS (as ``sklearn.cross_decomposition.PLSRegression``).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> PLSDAClassifier(n_components=3).fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "scale": ["boolean"],
    }

    def __init__(self, n_components=2, scale=True):
        self.n_components = n_components
        self.scale = scale

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        from sklearn.cross_decomposition import PLSRegression
        from sklearn.linear_model import LogisticRegression
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import validate_data

        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_, yi = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(f"PLSDAClassifier: Only binary classification is supported; got {len(self.classes_)} "
                             "classes")
        k = int(max(1, min(self.n_components, X.shape[1], X.shape[0] - 1)))
        self.pls_ = PLSRegression(n_components=k, scale=self.scale).fit(X, yi.astype(float))
        self.logit_ = LogisticRegression(max_iter=1000).fit(self.pls_.transform(X), yi)
        return self

    def decision_function(self, X):
        scores = self._scores(X)  # checks the fit first
        return self.logit_.decision_function(scores)

    def _scores(self, X):
        from sklearn.utils.validation import validate_data

        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.pls_.transform(X)

    def predict_proba(self, X):
        scores = self._scores(X)
        return self.logit_.predict_proba(scores)

    def predict(self, X):
        decision = self.decision_function(X)
        return self.classes_[(decision > 0).astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags
