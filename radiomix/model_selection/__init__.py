"""Model selection: every split rule (outer folds, inner folds, patient-grouped and site folds), the
hyperparameter search, the decision threshold and probability calibration, and nested cross-validation
(:mod:`.validation`), each fitted on training rows only."""

from .calibration import RecalibratedClassifier
from .search import AUTO_GRID_POINTS, SearchPlan, SearchResult, auto_search_method, fit_tuned, scorer, tune
from .splits import (
           OUTER_KINDS,
           Fold,
           IndexGroupKFold,
           InnerSplit,
           SplitPlan,
           StratifyOn,
           inner_cv,
           inner_split,
           outer_plan,
)
from .step_cache import StepCache, drop_step_cache, step_cache
from .thresholds import finalize, youden_threshold

__all__ = ["SplitPlan", "outer_plan", "OUTER_KINDS", "Fold", "InnerSplit", "inner_split", "inner_cv", "IndexGroupKFold", "StratifyOn",
           "SearchPlan", "SearchResult", "auto_search_method", "AUTO_GRID_POINTS", "tune", "fit_tuned", "scorer", "step_cache", "drop_step_cache",
           "StepCache", "youden_threshold", "finalize", "RecalibratedClassifier"]
