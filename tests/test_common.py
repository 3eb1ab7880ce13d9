"""scikit-learn's estimator checks over every public radiomix estimator (scikit-learn's own tests/test_common.py).

Each estimator declares its parameters in ``_parameter_constraints`` and is run through
``parametrize_with_checks``; the checks that cannot apply to it are listed with the reason. The generic checks
use small random float matrices and 1-d targets, so they exercise the API contract (input validation, cloning,
pickling, feature names, dtypes), not the statistics: each module's own tests check those against an oracle.
"""

import importlib
import importlib.util
import inspect
import pkgutil
import warnings

import numpy as np
import pytest
from imblearn.over_sampling import RandomOverSampler
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

import radiomix
from radiomix.harmonize import ComBat, ComBatWarning
from radiomix.impute import (
    MixedKNNImputer,
    SurrogateTreeClassifier,
    SurrogateTreeImputer,
    SurrogateTreeRegressor,
)
from radiomix.model_selection import RecalibratedClassifier
from radiomix.models import (
    CoxPH,
    EarlyStoppingXGBClassifier,
    EarlyStoppingXGBRegressor,
    PLSDAClassifier,
    RandomSurvivalForest,
    SurvivalStacking,
    XGBSurvival,
)
from radiomix.models.resampling import RowIdentitySampler
from radiomix.select import CorrelationFilter, MRMRSelector, NearZeroVarianceFilter, RobustnessFilter
from radiomix.volume import RankScaler

# --------------------------------------------------------------------------------------------------
# Survival models: the generic checks hand a 1-d (or (n, 1)) y; these test-only subclasses turn it into the
# (time, event) target the models take, and change nothing else.
# --------------------------------------------------------------------------------------------------


def _time_event(y):
    """A valid (time, event) target from any numeric y: times 1 + |y|, every other row an event."""
    if y is None:
        return None
    y = np.real(np.asarray(y)).astype(float).reshape(len(y), -1)[:, 0]  # complex: the checks' X is complex too
    return np.column_stack([1.0 + np.abs(y), np.arange(len(y)) % 2 == 0])


class _TimeEventTarget:
    def fit(self, X, y):
        return super().fit(X, _time_event(y))

    def score(self, X, y):
        return super().score(X, _time_event(y))


class CoxPHOnGenericY(_TimeEventTarget, CoxPH):
    pass


class XGBSurvivalOnGenericY(_TimeEventTarget, XGBSurvival):
    pass


class SurvivalStackingOnGenericY(_TimeEventTarget, SurvivalStacking):
    pass


class RandomSurvivalForestOnGenericY(_TimeEventTarget, RandomSurvivalForest):
    pass


# scikit-survival is an optional (GPL) extra: without it RandomSurvivalForest cannot be fitted, so it is checked
# only where it is installed.
_HAS_SKSURV = importlib.util.find_spec("sksurv") is not None

ESTIMATORS = [
    # harmonize: with batch=0 every row of a random matrix is its own "site"
    ComBat(batch=0),
    ComBat(batch=0, unseen="estimate", parametric=False, min_unseen_rows=1),
    # impute
    SurrogateTreeRegressor(),
    SurrogateTreeClassifier(),
    SurrogateTreeImputer(max_iter=3),
    MixedKNNImputer(),
    # select
    MRMRSelector(),
    NearZeroVarianceFilter(),
    CorrelationFilter(),
    CorrelationFilter(relevance=None),
    RobustnessFilter(),
    # models
    PLSDAClassifier(),
    EarlyStoppingXGBClassifier(n_estimators=10, early_stopping_rounds=2, random_state=0, n_jobs=1),
    EarlyStoppingXGBRegressor(n_estimators=10, early_stopping_rounds=2, random_state=0, n_jobs=1),
    CoxPHOnGenericY(),
    XGBSurvivalOnGenericY(n_estimators=5, n_jobs=1),
    SurvivalStackingOnGenericY([("cox", CoxPH())], cv=2),
    *([RandomSurvivalForestOnGenericY(n_estimators=5, random_state=0, n_jobs=1)] if _HAS_SKSURV else []),
    # model_selection
    RecalibratedClassifier(LogisticRegression(), cv=2),
    RowIdentitySampler(RandomOverSampler(random_state=0)),
    RankScaler(),
]


# --------------------------------------------------------------------------------------------------
# Checks that cannot apply, with the reason
# --------------------------------------------------------------------------------------------------

_COMBAT = {
    # The checks put NaN at random cells, including the batch column: a row without a site cannot be
    # harmonized, so ComBat raises (NaN in feature columns is supported and tested in test_harmonize.py).
    "check_estimators_pickle": "NaN injected into the batch column (column 0) is refused by design",
}
_COMBAT_UNSEEN_ERROR = {
    # Train and test are drawn independently, so column 0 holds other (continuous) 'site' labels in the test
    # split: unseen sites raise with unseen='error' (the default).
    "check_fit_idempotent": "the test split holds sites unseen in fit (unseen='error')",
}

# RobustnessFilter reads the repeated measurements of the cases named by X's index from its repeats table, so
# fit needs X as a DataFrame of those cases; every check that fits it on a random array fails for that reason.
_NEEDS_REPEATS_TABLE = "fit needs X as a DataFrame whose index names cases of the repeats table, not a random array"
_ROBUSTNESS = dict.fromkeys([
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_complex_data", "check_dtype_object",
    "check_estimators_empty_data_messages", "check_pipeline_consistency", "check_estimator_sparse_tag",
    "check_estimator_sparse_array", "check_estimator_sparse_matrix", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_transformer_data_not_an_array", "check_transformer_general",
    "check_transformer_preserve_dtypes", "check_methods_sample_order_invariance", "check_methods_subset_invariance",
    "check_fit2d_1sample", "check_fit2d_1feature", "check_dict_unchanged", "check_fit_idempotent",
    "check_fit_check_is_fitted", "check_n_features_in", "check_fit1d", "check_fit2d_predict1d",
], _NEEDS_REPEATS_TABLE)

_ROW_SPLIT = ("the validation split is drawn by row, so repeating a row changes which rows are held out and how "
              "many trees are kept")
_EARLY_STOPPING = {
    "check_sample_weight_equivalence_on_dense_data": _ROW_SPLIT,
    "check_sample_weight_equivalence_on_sparse_data": _ROW_SPLIT,
}
_XGB_LABELS = "xgboost.XGBClassifier needs the classes coded 0..k-1 (the check's labels are 1 and 2)"
_XGB_CLASSIFIER = {
    **_EARLY_STOPPING,
    "check_estimators_overwrite_params": "xgboost.XGBClassifier sets objective='multi:softprob' in fit",
    "check_dont_overwrite_parameters": "xgboost.XGBClassifier sets objective='multi:softprob' in fit",
    "check_classifiers_classes": "xgboost.XGBClassifier needs the classes coded 0..k-1 (the check's are strings)",
    **dict.fromkeys(["check_estimators_dtypes", "check_sample_weights_pandas_series",
                     "check_sample_weights_not_an_array", "check_sample_weights_shape",
                     "check_sample_weights_not_overwritten", "check_classifier_data_not_an_array",
                     "check_fit2d_1feature"], _XGB_LABELS),
    **dict.fromkeys(["check_classifiers_multilabel_representation_invariance",
                     "check_classifiers_multilabel_output_format_predict",
                     "check_classifiers_multilabel_output_format_predict_proba",
                     "check_classifiers_multilabel_output_format_decision_function"],
                    "the validation split is stratified on the class: a multilabel y has label sets of one row"),
}
_XGB_REGRESSOR = {
    **_EARLY_STOPPING,
    "check_regressor_multioutput": "xgboost.XGBRegressor predicts float32",
}


def _expected_failed_checks(estimator) -> dict:
    if isinstance(estimator, ComBat):
        return {**_COMBAT, **(_COMBAT_UNSEEN_ERROR if estimator.unseen == "error" else {})}
    return {RobustnessFilter: _ROBUSTNESS, EarlyStoppingXGBClassifier: _XGB_CLASSIFIER,
            EarlyStoppingXGBRegressor: _XGB_REGRESSOR}.get(type(estimator), {})


# strict: a listed check that starts to pass fails the suite, so the list stays true
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks, xfail_strict=True)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ComBatWarning)
        check(estimator)


# XGBoost's estimators keep their parameters in **kwargs and validate them in XGBoost, so the early-stopping
# wrappers declare only their own two; scikit-learn's parameter check asks for a constraint on every parameter.
_PARTLY_DECLARED = (EarlyStoppingXGBClassifier, EarlyStoppingXGBRegressor)


@pytest.mark.parametrize("estimator", [e for e in ESTIMATORS if not isinstance(e, _PARTLY_DECLARED)], ids=repr)
def test_parameter_constraints(estimator):
    """Every parameter has a constraint, and a value of the wrong type or range raises scikit-learn's
    InvalidParameterError naming it (scikit-learn runs this check on its own estimators only)."""
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", list(_PARTLY_DECLARED), ids=lambda cls: cls.__name__)
def test_early_stopping_wrappers_declare_their_own_parameters(estimator):
    assert set(estimator._parameter_constraints) == {"validation_fraction", "early_stopping_rounds", "sampler"}


def _public_estimators() -> set:
    """Every class deriving from scikit-learn's BaseEstimator defined in radiomix, under a public name."""
    found = set()
    for module in pkgutil.walk_packages(radiomix.__path__, "radiomix."):
        if module.name.endswith("__main__"):  # runs the command line
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod = importlib.import_module(module.name)
        for name, obj in vars(mod).items():
            if inspect.isclass(obj) and issubclass(obj, BaseEstimator) and obj.__module__ == mod.__name__ \
                    and not name.startswith("_") and not inspect.isabstract(obj):
                found.add(obj)
    return found


def test_every_public_estimator_is_checked():
    checked = {cls for estimator in ESTIMATORS for cls in type(estimator).__mro__}
    if not _HAS_SKSURV:
        checked.add(RandomSurvivalForest)
    missing = sorted(cls.__qualname__ for cls in _public_estimators() - checked)
    assert not missing, f"add these estimators to ESTIMATORS in tests/test_common.py: {missing}"
