"""Feature selection for radiomic tables: mRMR, near-zero-variance and correlation pre-filters, stability.

:class:`MRMRSelector` is the minimum-redundancy maximum-relevance selector of the ``mrmr-selection`` package
(``mrmr_classif`` / ``mrmr_regression``) rewritten with vectorised numpy: relevance is computed once, then one
correlation column per selected feature. It reproduces mrmr-selection's arithmetic operation by operation
(scikit-learn's F-test on each column's non-missing rows, pandas' Pearson correlation with pairwise deletion,
the 0.001 floor, the mean/max denominator, first-maximum ties), so that it returns the same features in the
same order; the remaining differences are listed in the class docstring. mrmr-selection (GPL-3) is used by
the tests as a reference only and is never imported here.

:class:`NearZeroVarianceFilter` (caret's ``nearZeroVar`` rule) and :class:`CorrelationFilter` (drop one
feature of each highly correlated pair, keeping the more relevant one) are cheap pre-filters, and
:func:`selection_frequency` reports how often each feature was chosen over cross-validation folds.
:class:`RobustnessFilter` keeps features whose repeated measurements (perturbations, test-retest scans,
several observers) of the training cases agree (intraclass correlation, :mod:`radiomix.reliability`).
"""

from .filters import CorrelationFilter, NearZeroVarianceFilter
from .mrmr import MRMRSelector
from .robustness import RobustnessFilter, RobustnessWarning, fitted_robustness_filters, robustness_summary
from .stability import selection_frequency

__all__ = ["MRMRSelector", "NearZeroVarianceFilter", "CorrelationFilter", "RobustnessFilter", "RobustnessWarning",
           "fitted_robustness_filters", "robustness_summary", "selection_frequency"]
