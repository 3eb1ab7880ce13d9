"""The model registry: every ``model.name`` a config can give, its factory per outcome type, what it needs
(scaling, imputation), and the checks that let a config name a class by import path without running code."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field

from .plsda import PLSDAClassifier

__all__ = ["MODELS", "ModelSpec", "TRUSTED_MODEL_PACKAGES", "check_model_name", "make_model"]


# --------------------------------------------------------------------------------------------- models
# One factory per kind of estimator a model comes in (``Task.estimator_kinds`` picks one); ``params`` are the
# config's ``model.params`` over the outcome type's ``model_defaults``.
def _xgb_classifier(random_state, n_jobs, **params):
    from xgboost import XGBClassifier

    from .boosting import EarlyStoppingXGBClassifier

    params.setdefault("n_jobs", n_jobs)  # a config's model.params.n_jobs wins
    # early_stopping_rounds needs a validation set: held out of each training set it is fitted on.
    stops = params.get("early_stopping_rounds") is not None
    return (EarlyStoppingXGBClassifier if stops else XGBClassifier)(random_state=random_state, **params)


def _xgb_regressor(random_state, n_jobs, **params):
    from xgboost import XGBRegressor

    from .boosting import EarlyStoppingXGBRegressor

    params.setdefault("n_jobs", n_jobs)
    stops = params.get("early_stopping_rounds") is not None
    return (EarlyStoppingXGBRegressor if stops else XGBRegressor)(random_state=random_state, **params)


def _xgb_cox(random_state, n_jobs, **params):
    from .survival import XGBSurvival

    params.setdefault("n_jobs", n_jobs)
    return XGBSurvival(objective="survival:cox", random_state=random_state, **params)


def _logistic(random_state, n_jobs, **params):
    from sklearn.linear_model import LogisticRegression

    params.setdefault("max_iter", 5000)
    if params.get("penalty") in ("l1", "elasticnet"):
        params.setdefault("solver", "saga")
    if params.get("penalty") == "elasticnet":
        params.setdefault("l1_ratio", 0.5)
    return LogisticRegression(random_state=random_state, **params)


def _svc(random_state, n_jobs, **params):
    from sklearn.svm import SVC

    params.setdefault("probability", True)
    return SVC(random_state=random_state, **params)


def _svr(random_state, n_jobs, **params):
    from sklearn.svm import SVR

    return SVR(**params)


def _rf_classifier(random_state, n_jobs, **params):
    from sklearn.ensemble import RandomForestClassifier

    params.setdefault("n_jobs", n_jobs)
    return RandomForestClassifier(random_state=random_state, **params)


def _rf_regressor(random_state, n_jobs, **params):
    from sklearn.ensemble import RandomForestRegressor

    params.setdefault("n_jobs", n_jobs)
    return RandomForestRegressor(random_state=random_state, **params)


def _knn_classifier(random_state, n_jobs, **params):
    from sklearn.neighbors import KNeighborsClassifier

    params.setdefault("n_jobs", n_jobs)
    return KNeighborsClassifier(**params)


def _knn_regressor(random_state, n_jobs, **params):
    from sklearn.neighbors import KNeighborsRegressor

    params.setdefault("n_jobs", n_jobs)
    return KNeighborsRegressor(**params)


def _lda(random_state, n_jobs, **params):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    params.setdefault("solver", "lsqr")
    params.setdefault("shrinkage", "auto")  # p >> n in radiomics: shrinkage keeps the covariance invertible
    return LinearDiscriminantAnalysis(**params)


def _plsda(random_state, n_jobs, **params):
    return PLSDAClassifier(**params)


def _elastic_net(random_state, n_jobs, **params):
    from sklearn.linear_model import ElasticNet

    params.setdefault("max_iter", 10000)
    return ElasticNet(random_state=random_state, **params)


def _pls(random_state, n_jobs, **params):
    from sklearn.cross_decomposition import PLSRegression

    return PLSRegression(**params)


def _rsf(random_state, n_jobs, **params):
    from .survival import RandomSurvivalForest

    params.setdefault("n_jobs", n_jobs)
    return RandomSurvivalForest(random_state=random_state, **params)


def _coxph(random_state, n_jobs, **params):
    from .survival import CoxPH

    return CoxPH(**params)


def _xgboost_aft(random_state, n_jobs, **params):
    from .survival import XGBSurvival

    params.setdefault("n_jobs", n_jobs)
    return XGBSurvival(objective="survival:aft", random_state=random_state, **params)


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the model registry.

    name : the config's ``model.name``.
    factories : estimator kind (``"classifier"``, ``"binary_classifier"``, ``"regressor"``, ``"survival"``) ->
        ``factory(random_state, n_jobs, **params)``, an unfitted estimator of that kind.
    handles_missing : the model accepts NaN (no imputer is forced in front of it).
    needs_scaling : ``scale: auto`` standardises the numeric columns for it.
    default_params, default_search : ``model.params`` and ``model.search`` of a config that names the model but not
        them.
    """

    name: str
    factories: dict
    handles_missing: bool
    needs_scaling: bool
    default_params: dict = field(default_factory=dict)
    default_search: dict = field(default_factory=dict)

    def kind_for(self, task) -> str | None:
        """The first of the outcome type's ``estimator_kinds`` this model comes in, or None."""
        return next((k for k in task.estimator_kinds if k in self.factories), None)

    def serves(self, task) -> bool:
        """Whether the model can be fitted to an outcome of type ``task`` (a :class:`radiomix.outcomes.Task`)."""
        return self.kind_for(task) is not None


_CLASSIFIER = ("classifier",)
#: The binary default (``model.name: auto``), chosen on the radMLBench development half by
#: ``benchmarks/choose_defaults.py``: L1-penalized logistic regression (liblinear; ``l1_ratio=1`` is scikit-learn
#: 1.8's spelling of ``penalty="l1"``), C tuned over 13 values from 0.01 to 10 on the inner folds.
LOGISTIC_L1_PARAMS = {"l1_ratio": 1.0, "solver": "liblinear", "max_iter": 5000}
LOGISTIC_C_GRID = [0.01, 0.0178, 0.0316, 0.0562, 0.1, 0.1778, 0.3162, 0.5623, 1.0, 1.7783, 3.1623, 5.6234, 10.0]
#: Model name -> :class:`ModelSpec`.
MODELS = {spec.name: spec for spec in (
    ModelSpec("xgboost", {"classifier": _xgb_classifier, "regressor": _xgb_regressor, "survival": _xgb_cox},
              handles_missing=True, needs_scaling=False, default_params={"n_estimators": 200, "tree_method": "hist"},
              default_search={"max_depth": [2, 3, 4], "learning_rate": [0.03, 0.1, 0.3], "subsample": [0.7, 1.0],
                              "colsample_bytree": [0.5, 0.8, 1.0], "min_child_weight": [1, 3, 5]}),
    ModelSpec("logistic", {"classifier": _logistic}, handles_missing=False, needs_scaling=True,
              default_params=LOGISTIC_L1_PARAMS, default_search={"C": LOGISTIC_C_GRID}),
    ModelSpec("svm", {"classifier": _svc, "regressor": _svr}, handles_missing=False, needs_scaling=True),
    ModelSpec("random_forest", {"classifier": _rf_classifier, "regressor": _rf_regressor}, handles_missing=False,
              needs_scaling=False),
    ModelSpec("knn", {"classifier": _knn_classifier, "regressor": _knn_regressor}, handles_missing=False,
              needs_scaling=True),
    ModelSpec("lda", {"classifier": _lda}, handles_missing=False, needs_scaling=True),
    ModelSpec("plsda", {"binary_classifier": _plsda}, handles_missing=False, needs_scaling=True),
    ModelSpec("elastic_net", {"regressor": _elastic_net}, handles_missing=False, needs_scaling=True),
    ModelSpec("pls", {"regressor": _pls}, handles_missing=False, needs_scaling=True),
    ModelSpec("coxph", {"survival": _coxph}, handles_missing=False, needs_scaling=True),
    ModelSpec("xgboost_aft", {"survival": _xgboost_aft}, handles_missing=True, needs_scaling=False),
    ModelSpec("random_survival_forest", {"survival": _rsf}, handles_missing=False, needs_scaling=False),
)}

#: Top-level packages whose classes a config may name by import path (``model.name``). Importing a module
#: runs its code, so the path is checked against this list (plus the modules the user trusts on the command line,
#: ``--trust-module``, never a config) before any import.
TRUSTED_MODEL_PACKAGES = ("radiomix", "sklearn", "xgboost", "imblearn", "lightgbm", "catboost")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def check_model_name(name, trusted_modules=()) -> None:
    """Refuse a ``model.name`` that is neither a registry name nor an import path inside a trusted package
    (:data:`TRUSTED_MODEL_PACKAGES` or ``trusted_modules``), without importing anything."""
    if isinstance(name, str) and name in MODELS:
        return
    valid = (f"valid: {sorted(MODELS)}, or a scikit-learn-compatible classifier class under "
             f"{list(TRUSTED_MODEL_PACKAGES) + list(trusted_modules or [])} (e.g. sklearn.ensemble.ExtraTreesClassifier)")
    if not isinstance(name, str) or not _IMPORT_PATH.match(name):
        raise ValueError(f"model.name {name!r} is not a model name; {valid}")
    top = name.split(".")[0]
    allowed = set(TRUSTED_MODEL_PACKAGES) | {str(m).split(".")[0] for m in (trusted_modules or [])}
    trusted = [str(m) for m in (trusted_modules or [])]
    if top not in allowed or (top not in TRUSTED_MODEL_PACKAGES and
                              not any(name == m or name.startswith(m + ".") for m in trusted)):
        raise ValueError(f"model.name {name!r} is outside the trusted packages and was not imported; {valid}. "
                         "To use a class from another package, trust its module on the command line "
                         "(radiomix train --trust-module MODULE)")
    hidden = [p for p in name.split(".")[:-1] if p.startswith("_") or p in _NOT_MODEL_MODULES]
    if hidden:
        raise ValueError(f"model.name {name!r} points into a private or test module ({hidden[0]!r}) and was not "
                         f"imported; {valid}")


#: Module names inside trusted packages that hold no models and whose import runs test machinery.
_NOT_MODEL_MODULES = frozenset({"tests", "test", "testing", "conftest", "setup", "__main__", "externals", "cli"})


def _outcome(task):
    """A Task from a Task or its name."""
    if isinstance(task, str):
        from ..outcomes import get_task

        return get_task(task)
    return task


def _model_class(name: str, trusted_modules=(), task="binary"):
    """Import the class at ``name`` (already checked) and make sure it is a scikit-learn estimator class with the
    method the outcome type predicts with (``predict_proba`` for classifiers, ``predict`` otherwise) before
    anything of it is called."""
    import inspect

    from sklearn.base import BaseEstimator

    task = _outcome(task)
    check_model_name(name, trusted_modules)
    module, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except Exception as err:  # whatever a module raises on import (missing optional packages, ...): one line
        raise ValueError(f"model {name!r} is neither one of {sorted(MODELS)} nor an importable class "
                         f"({type(err).__name__}: {' '.join(str(err).split())[:200]})") from None
    method = task.prediction_method
    if not (inspect.isclass(obj) and issubclass(obj, BaseEstimator) and hasattr(obj, "fit")
            and hasattr(obj, method)):
        raise ValueError(f"model.name {name!r} is not a scikit-learn {task.estimator_noun} class with fit and {method} "
                         f"(got {type(obj).__name__}); nothing was called")
    return obj


def make_model(name: str, params: dict | None = None, *, random_state=None, n_jobs=None, trusted_modules=(),
               task="binary"):
    """An unfitted estimator for an outcome of type ``task`` (a :class:`radiomix.outcomes.Task` or its name) from
    a registry name (:data:`MODELS`; the factory of the kind the task needs, with the task's ``model_defaults``
    under ``params``) or an import path such as ``sklearn.ensemble.ExtraTreesClassifier`` inside
    :data:`TRUSTED_MODEL_PACKAGES` (or ``trusted_modules``), checked before import and checked to be an
    estimator class with the task's prediction method before it is called (``random_state`` is set when the
    estimator has one)."""
    task = _outcome(task)
    params = dict(params or {})
    if name in MODELS:
        spec = MODELS[name]
        kind = spec.kind_for(task)
        if kind is None:
            served = sorted(n for n, sp in MODELS.items() if sp.serves(task))
            raise ValueError(f"model {name!r} does not handle {task.name} outcomes; models that do: {served}")
        # model.params may set n_jobs / random_state itself (e.g. one XGBoost thread on a shared machine).
        n_jobs = params.pop("n_jobs", n_jobs)
        random_state = params.pop("random_state", random_state)
        params = {**task.model_defaults.get(name, {}), **params}
        return spec.factories[kind](random_state, n_jobs, **params)
    cls = _model_class(str(name), trusted_modules, task)
    est = cls(**params)
    if "random_state" in est.get_params() and random_state is not None and "random_state" not in params:
        est.set_params(random_state=random_state)
    return est
