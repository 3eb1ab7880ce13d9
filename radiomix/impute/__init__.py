"""Imputation for mixed radiomic/clinical tables: rpart-style surrogate-split trees and kNN.

* :class:`SurrogateTreeRegressor` / :class:`SurrogateTreeClassifier` -- CART trees that grow and predict
  like R's ``rpart`` (anova / gini splits, ``cp`` pruning, surrogate splits for missing predictors), as
  scikit-learn estimators that accept NaN in ``X``.
* :class:`SurrogateTreeImputer` -- each incomplete column is predicted by such a tree from the other
  columns; missing predictors are routed by surrogates, then the imputation is refined round by round
  (missForest-style) until the imputed values stop changing.
* :class:`MixedKNNImputer` (formerly ``KNNImputer``) -- scikit-learn's kNN imputation for mixed tables: numeric columns are standardised
  for the distance, categorical columns count a mismatch as a unit squared distance and are imputed by the
  (weighted) mode of the neighbours.

Categorical columns are pandas ``category`` columns (what :func:`radiomix.tables.merge` produces), text or
boolean columns, or the columns named in ``categorical_features``. A text column whose values are mostly
numbers is taken as a numeric column with stray text, and reported (the error names the column). With ``set_output(transform="pandas")``
the imputers return a DataFrame whose categorical columns keep their dtype and categories.
"""

import warnings

from .knn import MixedKNNImputer
from .surrogate import BlockMissingWarning, SurrogateTreeImputer
from .trees import SurrogateTreeClassifier, SurrogateTreeRegressor

__all__ = ["SurrogateTreeRegressor", "SurrogateTreeClassifier", "SurrogateTreeImputer", "MixedKNNImputer",
           "BlockMissingWarning"]


def __getattr__(name):
    if name == "KNNImputer":  # renamed: it shadowed scikit-learn's KNNImputer, which takes numeric columns only
        warnings.warn("radiomix.impute.KNNImputer is deprecated; use radiomix.impute.MixedKNNImputer",
                      DeprecationWarning, stacklevel=2)
        return MixedKNNImputer
    raise AttributeError(f"module 'radiomix.impute' has no attribute {name!r}")
