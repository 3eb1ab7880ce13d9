"""Models radiomix can fit: the registry (``model.name`` -> factory per outcome type), XGBoost with early
stopping on a split of its own training rows, PLS-DA, and the survival models (Cox, XGBoost Cox/AFT, stacking,
random survival forest)."""

from .boosting import EarlyStoppingXGBClassifier, EarlyStoppingXGBRegressor
from .plsda import PLSDAClassifier
from .registry import MODELS, TRUSTED_MODEL_PACKAGES, ModelSpec, check_model_name, make_model
from .resampling import RowIdentitySampler, synthetic_rows
from .survival import CoxPH, RandomSurvivalForest, SurvivalStacking, XGBSurvival

__all__ = ["MODELS", "ModelSpec", "TRUSTED_MODEL_PACKAGES", "check_model_name", "make_model", "PLSDAClassifier",
           "EarlyStoppingXGBClassifier", "EarlyStoppingXGBRegressor", "CoxPH", "XGBSurvival", "SurvivalStacking",
           "RandomSurvivalForest", "RowIdentitySampler", "synthetic_rows"]
