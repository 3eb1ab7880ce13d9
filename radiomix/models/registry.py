"""The model registry: every ``model.name`` a config can give, its factory per outcome type, what it needs
(scaling, imputation), and the checks that let a config name a class by import path without running code."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from .plsda import PLSDAClassifier

__all__ = ["ALL_TASKS", "MODELS", "ModelSpec", "TRUSTED_MODEL_PACKAGES", "check_model_name", "make_model"]


# --------------------------------------------------------------------------------------------- models
def _xgboost(random_state, n_jobs, task="binary", **params):
    if task == "survival":
        from .survival import XGBSurvival

        params.setdefault("n_jobs", n_jobs)
        return XGBSurvival(objective="survival:cox", random_state=random_state, **params)
    from xgboost import XGBClassifier, XGBRegressor

    from .boosting import EarlyStoppingXGBClassifier, EarlyStoppingXGBRegressor

    params.setdefault("n_jobs", n_jobs)  # a config's model.params.n_jobs wins
    # early_stopping_rounds needs a validation set: held out of each training set it is fitted on.
    stops = params.get("early_stopping_rounds") is not None
    if task == "regression":
        return (EarlyStoppingXGBRegressor if stops else XGBRegressor)(random_state=random_state, **params)
    params.setdefault("eval_metric", "mlogloss" if task == "multiclass" else "logloss")
    return (EarlyStoppingXGBClassifier if stops else XGBClassifier)(random_state=random_state, **params)


def _logistic(random_state, n_jobs, task="binary", **params):
    from sklearn.linear_model import LogisticRegression

    params.setdefault("max_iter", 5000)
    if params.get("penalty") in ("l1", "elasticnet"):
        params.setdefault("solver", "saga")
    if params.get("penalty") == "elasticnet":
        params.setdefault("l1_ratio", 0.5)
    return LogisticRegression(random_state=random_state, **params)


def _svm(random_state, n_jobs, task="binary", **params):
    from sklearn.svm import SVC, SVR

    if task == "regression":
        return SVR(**params)

    params.setdefault("probability", True)
    return SVC(random_state=random_state, **params)


def _random_forest(random_state, n_jobs, task="binary", **params):
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    params.setdefault("n_jobs", n_jobs)
    cls = RandomForestRegressor if task == "regression" else RandomForestClassifier
    return cls(random_state=random_state, **params)


def _knn(random_state, n_jobs, task="binary", **params):
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    params.setdefault("n_jobs", n_jobs)
    return (KNeighborsRegressor if task == "regression" else KNeighborsClassifier)(**params)


def _lda(random_state, n_jobs, task="binary", **params):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    params.setdefault("solver", "lsqr")
    params.setdefault("shrinkage", "auto")  # p >> n in radiomics: shrinkage keeps the covariance invertible
    return LinearDiscriminantAnalysis(**params)


def _plsda(random_state, n_jobs, task="binary", **params):
    return PLSDAClassifier(**params)


def _elastic_net(random_state, n_jobs, task="regression", **params):
    from sklearn.linear_model import ElasticNet

    params.setdefault("max_iter", 10000)
    return ElasticNet(random_state=random_state, **params)


def _pls(random_state, n_jobs, task="regression", **params):
    from sklearn.cross_decomposition import PLSRegression

    return PLSRegression(**params)


def _rsf(random_state, n_jobs, task="survival", **params):
    from .survival import RandomSurvivalForest

    params.setdefault("n_jobs", n_jobs)
    return RandomSurvivalForest(random_state=random_state, **params)


def _coxph(random_state, n_jobs, task="survival", **params):
    from .survival import CoxPH

    return CoxPH(**params)


def _xgboost_aft(random_state, n_jobs, task="survival", **params):
    from .survival import XGBSurvival

    params.setdefault("n_jobs", n_jobs)
    return XGBSurvival(objective="survival:aft", random_state=random_state, **params)


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the model registry.

    name : the config's ``model.name``.
    factory : ``factory(random_state, n_jobs, task=..., **params)`` returns an unfitted estimator for the task.
    handles_missing : the model accepts NaN (no imputer is forced in front of it).
    needs_scaling : ``scale: auto`` standardises the numeric columns for it.
    tasks : the outcome types (:mod:`radiomix.tasks`) it serves.
    """

    name: str
    factory: Callable
    handles_missing: bool
    needs_scaling: bool
    tasks: tuple = ("binary",)


#: Model name -> :class:`ModelSpec`.
ALL_TASKS = ("binary", "multiclass", "regression", "survival")
_CLASSES = ("binary", "multiclass")
MODELS = {spec.name: spec for spec in (
    ModelSpec("xgboost", _xgboost, handles_missing=True, needs_scaling=False, tasks=ALL_TASKS),
    ModelSpec("logistic", _logistic, handles_missing=False, needs_scaling=True, tasks=_CLASSES),
    ModelSpec("svm", _svm, handles_missing=False, needs_scaling=True, tasks=(*_CLASSES, "regression")),
    ModelSpec("random_forest", _random_forest, handles_missing=False, needs_scaling=False,
              tasks=(*_CLASSES, "regression")),
    ModelSpec("knn", _knn, handles_missing=False, needs_scaling=True, tasks=(*_CLASSES, "regression")),
    ModelSpec("lda", _lda, handles_missing=False, needs_scaling=True, tasks=_CLASSES),
    ModelSpec("plsda", _plsda, handles_missing=False, needs_scaling=True),
    ModelSpec("elastic_net", _elastic_net, handles_missing=False, needs_scaling=True, tasks=("regression",)),
    ModelSpec("pls", _pls, handles_missing=False, needs_scaling=True, tasks=("regression",)),
    ModelSpec("coxph", _coxph, handles_missing=False, needs_scaling=True, tasks=("survival",)),
    ModelSpec("xgboost_aft", _xgboost_aft, handles_missing=True, needs_scaling=False, tasks=("survival",)),
    ModelSpec("random_survival_forest", _rsf, handles_missing=False, needs_scaling=False, tasks=("survival",)),
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


def _model_class(name: str, trusted_modules=(), task: str = "binary"):
    """Import the class at ``name`` (already checked) and make sure it is a scikit-learn classifier class
    (survival: an estimator with ``fit`` and ``predict``, a risk score) before anything of it is called."""
    import inspect

    from sklearn.base import BaseEstimator

    check_model_name(name, trusted_modules)
    module, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except Exception as err:  # whatever a module raises on import (missing optional packages, ...): one line
        raise ValueError(f"model {name!r} is neither one of {sorted(MODELS)} nor an importable class "
                         f"({type(err).__name__}: {' '.join(str(err).split())[:200]})") from None
    method = "predict" if task in ("survival", "regression") else "predict_proba"
    if not (inspect.isclass(obj) and issubclass(obj, BaseEstimator) and hasattr(obj, "fit")
            and hasattr(obj, method)):
        kind = {"regression": "regressor", "survival": "survival estimator"}.get(task, "classifier")
        raise ValueError(f"model.name {name!r} is not a scikit-learn {kind} class with fit and {method} "
                         f"(got {type(obj).__name__}); nothing was called")
    return obj


def make_model(name: str, params: dict | None = None, *, random_state=None, n_jobs=None, trusted_modules=(),
               task: str = "binary"):
    """A classifier from a registry name (:data:`MODELS`) or an import path such as
    ``sklearn.ensemble.ExtraTreesClassifier`` inside :data:`TRUSTED_MODEL_PACKAGES` (or ``trusted_modules``),
    checked before import and checked to be a scikit-learn classifier class before it is called
    (``random_state`` is set when the estimator has one)."""
    params = dict(params or {})
    if name in MODELS:
        # model.params may set n_jobs / random_state itself (e.g. one XGBoost thread on a shared machine).
        n_jobs = params.pop("n_jobs", n_jobs)
        random_state = params.pop("random_state", random_state)
        return MODELS[name].factory(random_state, n_jobs, task=task, **params)
    cls = _model_class(str(name), trusted_modules, task)
    est = cls(**params)
    if "random_state" in est.get_params() and random_state is not None and "random_state" not in params:
        est.set_params(random_state=random_state)
    return est
