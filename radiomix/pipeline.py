"""Building the leak-free modelling Pipeline from a ``radiomix train`` configuration.

Every learned step is a step of one imbalanced-learn Pipeline, so cross-validation refits all of it inside
each training fold:

``ComBat (radiomic columns, optional) -> imputation -> encoding -> scaling (when the model needs it)
-> filters + mRMR (optional) -> class balancing (optional, fit only) -> model``

With ``fusion.mode: late`` each column block (radiomic, clinical, genetic, or user-defined) gets its own
such pipeline, and a stacking meta-model combines their out-of-fold probabilities, computed on inner
folds of the training fold only (scikit-learn's ``StackingClassifier``).
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler
from sklearn.utils.validation import check_is_fitted

from .patterns import compile_user_pattern

__all__ = ["MODELS", "ModelSpec", "TRUSTED_MODEL_PACKAGES", "AUTO_MAX_PREDICTORS", "resolve_max_predictors", "check_model_name", "PLSDAClassifier", "make_model", "build_pipeline", "make_pipeline", "search_space",
           "block_columns"]


# --------------------------------------------------------------------------------------------- models
def _xgboost(random_state, n_jobs, task="binary", **params):
    if task == "survival":
        from .survival.models import XGBSurvival

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
    from .survival.models import RandomSurvivalForest

    params.setdefault("n_jobs", n_jobs)
    return RandomSurvivalForest(random_state=random_state, **params)


def _coxph(random_state, n_jobs, task="survival", **params):
    from .survival.models import CoxPH

    return CoxPH(**params)


def _xgboost_aft(random_state, n_jobs, task="survival", **params):
    from .survival.models import XGBSurvival

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
_ALL = ("binary", "multiclass", "regression", "survival")
_CLASSES = ("binary", "multiclass")
MODELS = {spec.name: spec for spec in (
    ModelSpec("xgboost", _xgboost, handles_missing=True, needs_scaling=False, tasks=_ALL),
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

    def __init__(self, n_components=2, scale=True):
        self.n_components = n_components
        self.scale = scale

    def fit(self, X, y):
        from sklearn.cross_decomposition import PLSRegression
        from sklearn.linear_model import LogisticRegression
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import validate_data

        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_, yi = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(f"PLSDAClassifier supports binary targets only; got {len(self.classes_)} classes")
        k = int(max(1, min(self.n_components, X.shape[1], X.shape[0] - 1)))
        self.pls_ = PLSRegression(n_components=k, scale=self.scale).fit(X, yi.astype(float))
        self.logit_ = LogisticRegression(max_iter=1000).fit(self.pls_.transform(X), yi)
        return self

    def decision_function(self, X):
        return self.logit_.decision_function(self._scores(X))

    def _scores(self, X):
        from sklearn.utils.validation import validate_data

        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.pls_.transform(X)

    def predict_proba(self, X):
        return self.logit_.predict_proba(self._scores(X))

    def predict(self, X):
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


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


# ----------------------------------------------------------------------------------------- transformers
class _Cast(TransformerMixin, BaseEstimator):
    """Cast non-numeric columns to plain ``object`` strings (missing stays missing).

    Imputers and encoders disagree on pandas' category/string dtypes; one representation after
    imputation keeps one-hot encoding stable across folds.
    """

    def fit(self, X, y=None):
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        # dtypes read once (per-column X[c] lookups cost ~60 ms on 1,000 columns); all-numeric: no copy
        text = [c for c, dt in X.dtypes.items() if not pd.api.types.is_numeric_dtype(dt)]
        if not text:
            return X
        X = X.copy()
        for c in text:
            X[c] = X[c].astype(object).where(X[c].notna(), np.nan)
        return X

    def get_feature_names_out(self, input_features=None):
        return self.feature_names_in_


def _num():
    return make_column_selector(dtype_include=np.number)


def _cat():
    return make_column_selector(dtype_exclude=np.number)


#: ``impute.max_predictors: auto``: every other column up to this many feature columns, beyond it the
#: ``AUTO_MAX_PREDICTORS[1]`` most correlated ones (one tree per column costs ~columns^2).
AUTO_MAX_PREDICTORS = (200, 30)


def resolve_max_predictors(value, n_columns: int):
    """``impute.max_predictors`` for a table of ``n_columns`` feature columns: ``"auto"`` becomes None (all
    columns) up to :data:`AUTO_MAX_PREDICTORS` [0] columns and its [1] beyond; a number or None stays."""
    if value == "auto":
        return AUTO_MAX_PREDICTORS[1] if n_columns > AUTO_MAX_PREDICTORS[0] else None
    return value


def _imputer(cfg: dict, random_state, blocks: dict | None = None, n_columns: int = 0):
    method = cfg["impute"]["method"]
    if method == "none":
        return None
    if method == "median":
        return ColumnTransformer(
            [("num", SimpleImputer(strategy="median", keep_empty_features=True), _num()),
             ("cat", SimpleImputer(strategy="most_frequent", keep_empty_features=True), _cat())],
            verbose_feature_names_out=False,
        )
    from . import impute

    if method == "knn":
        return impute.KNNImputer(n_neighbors=cfg["impute"]["n_neighbors"], add_indicator=cfg["impute"]["add_indicator"])
    if method == "surrogate_tree":
        k = cfg["impute"].get("block_missing")
        big = [list(cols) for cols in (blocks or {}).values() if k is not None and len(cols) >= k]
        return impute.SurrogateTreeImputer(max_iter=cfg["impute"]["max_iter"], add_indicator=cfg["impute"]["add_indicator"],
                                           blocks=big or None,
                                           max_predictors=resolve_max_predictors(cfg["impute"].get("max_predictors"),
                                                                                 n_columns),
                                           random_state=random_state)
    raise ValueError(f"unknown impute.method {method!r}")


def _encoder(cfg: dict, impute_none: bool, scaler):
    if cfg["encoding"]["categorical"] == "ordinal":
        cat = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    else:
        cat = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    if impute_none:  # missing categories become their own level when nothing imputes them
        from sklearn.pipeline import Pipeline as SkPipeline

        cat = SkPipeline([("fill", SimpleImputer(strategy="constant", fill_value="__missing__")), ("encode", cat)])
    return ColumnTransformer([("num", scaler or "passthrough", _num()), ("cat", cat, _cat())],
                             verbose_feature_names_out=False)


def _scaler(cfg: dict, needs_scaling: bool):
    mode = cfg["scale"]
    if mode == "none" or (mode == "auto" and not needs_scaling):
        return None
    return RobustScaler() if mode == "robust" else StandardScaler()


def _sampler(cfg: dict, random_state, categorical: list[str]):
    b = cfg["balance"]
    method = b["method"]
    if method == "none":
        return None
    from imblearn import over_sampling, under_sampling

    k = b["k_neighbors"]
    if method == "smote":
        return over_sampling.SMOTE(k_neighbors=k, random_state=random_state)
    if method == "smotenc":
        return over_sampling.SMOTENC(categorical_features=categorical, k_neighbors=k, random_state=random_state)
    if method == "adasyn":
        return over_sampling.ADASYN(n_neighbors=k, random_state=random_state)
    if method == "random_over":
        return over_sampling.RandomOverSampler(random_state=random_state)
    if method == "random_under":
        return under_sampling.RandomUnderSampler(random_state=random_state)
    raise ValueError(f"unknown balance.method {method!r}")


def _outcome_columns(cfg: dict) -> list:
    t = cfg["target"]  # a label column, or a survival outcome's {time, event} (config.target_columns)
    return [t["time"], t["event"]] if isinstance(t, dict) else [t]


def _block_steps(cfg: dict, columns: list[str], harmonize: list[str], categorical: list[str], model,
                 blocks: dict | None = None, robustness=None) -> list:
    """Steps for one table (early fusion) or one block (late fusion) over ``columns``; ComBat harmonizes
    the ``harmonize`` columns among them."""
    rs = cfg["random_state"]
    name = cfg["model"]["name"]
    native_nan, needs_scaling = (MODELS[name].handles_missing, MODELS[name].needs_scaling) if name in MODELS \
        else (False, True)
    steps = []
    h = cfg["harmonize"]
    harmonized = [c for c in harmonize if c in columns]
    if h["method"] == "combat" and harmonized:
        from .harmonize import ComBat

        steps.append(("combat", ComBat(
            batch=cfg["batch"], covariates=h["covariates"] or None, categorical=h["categorical"] or None,
            features=harmonized, parametric=h["parametric"], eb=h["eb"], mean_only=h["mean_only"],
            ref_batch=h["ref_batch"], unseen=h["unseen"], target=_outcome_columns(cfg), drop_batch=True,
            min_unseen_rows=h["min_unseen_rows"])))
    imp_method = cfg["impute"]["method"]
    if imp_method == "none" and not native_nan:
        imp_method = "median"  # this model cannot take missing values
    in_here = {name: [c for c in cols if c in set(columns)] for name, cols in (blocks or {}).items()}
    imputer = _imputer({**cfg, "impute": {**cfg["impute"], "method": imp_method}}, rs, in_here, len(columns))
    if imputer is not None:
        steps.append(("impute", imputer))
    steps.append(("cast", _Cast()))
    cat_here = [c for c in categorical if c in columns]
    if cfg["balance"]["method"] == "smotenc":
        if cat_here:
            steps.append(("balance", _sampler(cfg, rs, cat_here)))
        else:
            steps.append(("balance", _sampler({**cfg, "balance": {**cfg["balance"], "method": "smote"}}, rs, [])))
    steps.append(("encode", _encoder(cfg, imputer is None, _scaler(cfg, needs_scaling))))
    s = cfg["select"]
    if robustness is not None:
        from sklearn.base import clone

        steps.append(("robustness", clone(robustness)))
    if s["near_zero_variance"]:
        from .select import NearZeroVarianceFilter

        steps.append(("nzv", NearZeroVarianceFilter()))
    if s["correlation_threshold"] is not None:
        from .select import CorrelationFilter

        steps.append(("corr", CorrelationFilter(threshold=s["correlation_threshold"], relevance=s["relevance"],
                                                random_state=rs)))
    if s["mrmr"]:
        from .select import MRMRSelector

        steps.append(("mrmr", MRMRSelector(n_features=s["mrmr"], relevance=s["relevance"], random_state=rs)))
    if cfg["balance"]["method"] not in ("none", "smotenc"):
        steps.append(("balance", _sampler(cfg, rs, [])))
    steps.append(("model", model))
    return steps


def _final_model(cfg: dict, n_jobs):
    return make_model(cfg["model"]["name"], cfg["model"].get("params"), random_state=cfg["random_state"],
                      n_jobs=n_jobs, trusted_modules=cfg["model"].get("trusted_modules") or (),
                      task=cfg["task"] if cfg["task"] in _ALL else "binary")


def block_columns(columns, cfg: dict, groups: dict) -> dict[str, list[str]]:
    """Columns of each late-fusion block: ``fusion.blocks`` names groups (radiomic/clinical/genetic or a key
    of ``features.groups``); ``features.groups`` entries may be lists or regexes."""
    columns = list(columns)
    out = {}
    for name in cfg["fusion"]["blocks"]:
        spec = (cfg["features"].get("groups") or {}).get(name)
        if spec is None:
            cols = [c for c in groups.get(name, []) if c in columns]
        elif isinstance(spec, str):
            rx = compile_user_pattern(spec, f"features.groups.{name}")
            cols = [c for c in columns if rx.search(str(c))]
        else:
            cols = [c for c in spec if c in columns]
        if cols:
            out[name] = cols
    return out


class _Select(TransformerMixin, BaseEstimator):
    """Keep a fixed list of columns (the entry of each late-fusion block)."""

    def __init__(self, columns=()):
        self.columns = columns

    def fit(self, X, y=None):
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise ValueError(f"columns missing from the table: {missing[:10]}")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return X[list(self.columns)]

    def get_feature_names_out(self, input_features=None):
        return np.asarray(self.columns, dtype=object)


def build_pipeline(config: dict, columns=None, *, blocks: dict | None = None, categorical=None, harmonize=None,
                   groups=None, robustness=None):
    """The modelling Pipeline for a validated config (see :func:`radiomix.config.load_config`).

    Renamed from ``make_pipeline`` (which shadowed scikit-learn's); the old name still works with a
    DeprecationWarning.

    Parameters
    ----------
    config : dict
        Validated configuration (a :class:`radiomix.study.Study` builds it with ``study.build_pipeline()``).
    columns : list of str, optional
        The feature columns the pipeline will see (``study.X``); needed for ComBat, SMOTENC and late fusion.
    blocks : dict, optional
        Column blocks ``{"radiomic": [...], "clinical": [...], "genetic": [...]}`` (``study.columns.blocks``).
    categorical : list of str, optional
        The non-numeric feature columns.
    harmonize : list of str, optional
        The columns ComBat harmonizes (``study.columns.harmonized``); default: the radiomic block.
    groups : array, optional
        The patient of every row of the table the pipeline is fitted on (by position): late-fusion stacking
        then splits by patient (:class:`radiomix.splits.IndexGroupKFold`).
    robustness : :class:`radiomix.select.RobustnessFilter`, optional
        Unfitted template of the first selection step (``select.robustness``; a Study builds it from the
        repeated-measures table): features kept by the ICC of the training patients' repeats.

    Probability corrections (``calibration.recalibrate``, ``balance.correction``) are not steps of this
    Pipeline: they are learned on inner out-of-fold predictions of rows that were not resampled
    (:func:`radiomix.search.finalize`).
    """
    from imblearn.pipeline import Pipeline

    block_map = blocks or {}
    if harmonize is None:
        harmonize = list(block_map.get("radiomic", []))
    categorical = list(categorical or [])
    columns = list(columns) if columns is not None else []
    n_jobs = config.get("n_jobs", 1)
    inner_jobs = 1 if n_jobs not in (None, 1) else None  # parallelism goes to the outer folds
    if config["fusion"]["mode"] == "late":
        blocks = block_columns(columns, config, block_map)
        if len(blocks) < 2:
            raise ValueError(f"late fusion needs at least two non-empty blocks; found {sorted(blocks)} among "
                             f"fusion.blocks {config['fusion']['blocks']}")
        estimators = []
        for name, cols in blocks.items():
            needs_batch = config["harmonize"]["method"] == "combat" and set(harmonize) & set(cols)
            entry = cols + ([config["batch"]] if needs_batch else [])
            steps = [("columns", _Select(entry))] + _block_steps(config, entry, harmonize, categorical,
                                                                 _final_model(config, inner_jobs), block_map,
                                                                 robustness)
            estimators.append((name, Pipeline(steps).set_output(transform="pandas")))
        return Pipeline([("model", _stack(config, estimators, groups))])
    pipe = Pipeline(_block_steps(config, columns, harmonize, categorical, _final_model(config, inner_jobs),
                                 block_map, robustness))
    return pipe.set_output(transform="pandas")


def _stack(config: dict, estimators: list, groups):
    """The late-fusion meta-model over the blocks' out-of-fold outputs on inner folds of the training rows
    (by patient with ``groups``): logistic regression of the blocks' probabilities (binary, multiclass), ridge
    regression of their predictions (regression), a penalized Cox model of their risk scores (survival)."""
    from sklearn.ensemble import StackingClassifier, StackingRegressor
    from sklearn.linear_model import LogisticRegression, RidgeCV

    task = config["task"] if config["task"] in _ALL else "binary"
    k, rs = config["cv"]["inner"]["n_splits"], config["random_state"]
    if groups is not None:
        from .splits import IndexGroupKFold

        inner = IndexGroupKFold(pd.factorize(pd.Series(np.asarray(groups, dtype=object)))[0], k, True, rs)
    else:
        inner = StratifiedKFold(k, shuffle=True, random_state=rs)
    if task in ("regression", "survival"):
        from .splits import StratifyOn

        inner = StratifyOn(inner, task)
    if task == "regression":
        return StackingRegressor(estimators, final_estimator=RidgeCV(), cv=inner)
    if task == "survival":
        from .survival.models import SurvivalStacking

        return SurvivalStacking(estimators, cv=inner)
    return StackingClassifier(estimators, final_estimator=LogisticRegression(max_iter=1000), cv=inner,
                              stack_method="predict_proba")


def make_pipeline(config: dict, columns=None, *, groups: dict | None = None, categorical=None):
    """Deprecated alias of :func:`build_pipeline` (``groups`` is now ``blocks``); it shadowed
    ``sklearn.pipeline.make_pipeline``."""
    warnings.warn("radiomix.pipeline.make_pipeline is deprecated; use radiomix.pipeline.build_pipeline "
                  "(groups= is now blocks=)", DeprecationWarning, stacklevel=2)
    return build_pipeline(config, columns, blocks=groups, categorical=categorical)


def search_space(config: dict, pipeline=None) -> dict:
    """The hyperparameter search space with the Pipeline's parameter names (``model__max_depth``...; with
    late fusion one entry per block)."""
    raw = {k: list(v) for k, v in (config["model"].get("search") or {}).items()}
    prefix = "model__"
    if config["fusion"]["mode"] == "late" and pipeline is not None:
        out = {}
        for name, _ in pipeline.named_steps["model"].estimators:
            for k, v in raw.items():
                out[f"model__{name}__{prefix}{k}"] = v
        return out
    return {f"{prefix}{k}": v for k, v in raw.items()}
