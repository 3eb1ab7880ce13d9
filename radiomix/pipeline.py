"""Building the leak-free modelling Pipeline from a ``radiomix train`` configuration.

Every learned step is a step of one imbalanced-learn Pipeline, so cross-validation refits all of it inside
each training fold:

``ComBat (radiomic columns, optional) -> imputation -> robustness filter (optional) -> encoding -> scaling
(when the model needs it) -> filters + mRMR (optional) -> class balancing (optional, fit only) -> model``

Class balancing resets the row index (imbalanced-learn's samplers return rows 0..m-1, and SMOTE's rows belong to
no patient), so every step that maps rows to patients comes before it: the robustness filter runs ahead of any
sampler (SMOTENC, which needs the categorical columns unencoded, included), and XGBoost with early stopping takes
the sampler inside (:class:`radiomix.models.EarlyStoppingXGBClassifier` ``sampler``) so that its validation rows
are real training rows, drawn before resampling.

With ``fusion.mode: late`` each column block (radiomic, clinical, genetic, or user-defined) gets its own
such pipeline, and a stacking meta-model combines their out-of-fold probabilities, computed on inner
folds of the training fold only (scikit-learn's ``StackingClassifier``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler

from .config import Settings, target_columns
from .models import MODELS, EarlyStoppingXGBClassifier, EarlyStoppingXGBRegressor, make_model
from .outcomes import DEFAULT_TASK, get_task
from .patterns import compile_user_pattern

__all__ = ["AUTO_MAX_PREDICTORS", "resolve_max_predictors", "resolve_model", "build_pipeline", "make_pipeline", "search_space",
           "block_columns", "early_stopping_note"]



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


def _imputer(cfg: Settings, random_state, blocks: dict | None = None, n_columns: int = 0):
    method = cfg.impute.method
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
        return impute.MixedKNNImputer(n_neighbors=cfg.impute.n_neighbors, add_indicator=cfg.impute.add_indicator)
    if method == "surrogate_tree":
        k = cfg.impute.block_missing
        big = [list(cols) for cols in (blocks or {}).values() if k is not None and len(cols) >= k]
        return impute.SurrogateTreeImputer(max_iter=cfg.impute.max_iter, add_indicator=cfg.impute.add_indicator,
                                           blocks=big or None,
                                           max_predictors=resolve_max_predictors(cfg.impute.max_predictors,
                                                                                 n_columns),
                                           random_state=random_state)
    raise ValueError(f"unknown impute.method {method!r}")


def _encoder(cfg: Settings, impute_none: bool, scaler):
    if cfg.encoding.categorical == "ordinal":
        cat = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    else:
        cat = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    if impute_none:  # missing categories become their own level when nothing imputes them
        from sklearn.pipeline import Pipeline as SkPipeline

        cat = SkPipeline([("fill", SimpleImputer(strategy="constant", fill_value="__missing__")), ("encode", cat)])
    return ColumnTransformer([("num", scaler or "passthrough", _num()), ("cat", cat, _cat())],
                             verbose_feature_names_out=False)


def _scaler(cfg: Settings, needs_scaling: bool):
    mode = cfg.scale
    if mode == "none" or (mode == "auto" and not needs_scaling):
        return None
    return RobustScaler() if mode == "robust" else StandardScaler()


def _sampler(cfg: Settings, random_state, categorical: list[str]):
    b = cfg.balance
    method = b.method
    if method == "none":
        return None
    from imblearn import over_sampling, under_sampling

    k = b.k_neighbors
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


def _block_steps(cfg: Settings, columns: list[str], harmonize: list[str], categorical: list[str], model,
                 blocks: dict | None = None, robustness=None) -> list:
    """Steps for one table (early fusion) or one block (late fusion) over ``columns``; ComBat harmonizes
    the ``harmonize`` columns among them."""
    rs = cfg.random_state
    name = cfg.model.name
    native_nan, needs_scaling = (MODELS[name].handles_missing, MODELS[name].needs_scaling) if name in MODELS \
        else (False, True)
    steps = []
    h = cfg.harmonize
    harmonized = [c for c in harmonize if c in columns]
    if h.method == "combat" and harmonized:
        from .harmonize import ComBat

        steps.append(("combat", ComBat(
            batch=cfg.batch, covariates=list(h.covariates) or None, categorical=list(h.categorical) or None,
            features=harmonized, parametric=h.parametric, eb=h.eb, mean_only=h.mean_only,
            ref_batch=h.ref_batch, unseen=h.unseen, target=target_columns(cfg), drop_batch=True,
            min_unseen_rows=h.min_unseen_rows)))
    imp_method = cfg.impute.method
    if imp_method == "none" and not native_nan:
        imp_method = "median"  # this model cannot take missing values
    in_here = {name: [c for c in cols if c in set(columns)] for name, cols in (blocks or {}).items()}
    imputer = _imputer(cfg.replace({"impute.method": imp_method}), rs, in_here, len(columns))
    if imputer is not None:
        steps.append(("impute", imputer))
    steps.append(("cast", _Cast()))
    # Before any sampler: it maps rows to patients by their index labels. A late-fusion block none of whose columns
    # has repeats (clinical) keeps them all, as the filter keeps unassessed columns, without a filter to fail.
    if robustness is not None and set(columns) & {str(c) for c in robustness.repeats.columns}:
        from sklearn.base import clone

        steps.append(("robustness", clone(robustness)))
    cat_here = [c for c in categorical if c in columns]
    inside = _resamples_inside(model, cfg)
    early = cfg.balance.method == "smotenc"  # SMOTENC needs the categorical columns unencoded
    if early and cat_here and inside:
        raise ValueError(f"balance.method smotenc (categorical columns {cat_here[:5]}) with "
                         "model.params.early_stopping_rounds: the validation rows are held out before resampling "
                         "inside the model, where the categorical columns are already encoded; use "
                         "balance.method random_over, or drop early_stopping_rounds")
    sampler = None
    if cfg.balance.method != "none":
        sampler = _sampler(cfg.replace({"balance.method": "smote"}) if early and not cat_here else cfg, rs, cat_here)
    if sampler is not None and early and not inside:
        steps.append(("balance", sampler))
    steps.append(("encode", _encoder(cfg, imputer is None, _scaler(cfg, needs_scaling))))
    s = cfg.select
    if s.near_zero_variance:
        from .select import NearZeroVarianceFilter

        steps.append(("nzv", NearZeroVarianceFilter()))
    if s.correlation_threshold is not None:
        from .select import CorrelationFilter

        steps.append(("corr", CorrelationFilter(threshold=s.correlation_threshold, relevance=s.relevance,
                                                random_state=rs)))
    if s.mrmr:
        from .select import MRMRSelector

        steps.append(("mrmr", MRMRSelector(n_features=s.mrmr, relevance=s.relevance, random_state=rs)))
    if sampler is not None and not early and not inside:
        steps.append(("balance", sampler))
    if inside:
        model.set_params(sampler=sampler)
    steps.append(("model", model))
    return steps


def _resamples_inside(model, cfg: Settings) -> bool:
    """Whether class balancing goes inside the model: XGBoost with early stopping, whose validation rows must
    be real rows drawn before resampling."""
    return cfg.balance.method != "none" and isinstance(model, (EarlyStoppingXGBClassifier, EarlyStoppingXGBRegressor))


def early_stopping_note(cfg: Settings) -> str | None:
    """What XGBoost's early stopping does in this run, with class balancing if any (for the run's notes); None
    without ``model.params.early_stopping_rounds``."""
    stop = cfg.model.params.get("early_stopping_rounds")
    if stop is None:
        return None
    frac = cfg.model.params.get("validation_fraction", 0.2)
    note = (f"XGBoost stops early: each fit holds out {frac:.0%} of its training rows (stratified) and keeps the "
            f"trees up to the best validation round (patience {stop}); trees grow on the other {1 - frac:.0%}")
    if cfg.balance.method != "none":
        note += (f", and balance.method {cfg.balance.method} resamples only those: the validation rows are real "
                 "rows held out before resampling, never duplicates or interpolants of the rows the trees grow on")
    return note


def _task(cfg: Settings):
    """The config's outcome type (``auto`` before a Study resolved it: the default one)."""
    return get_task(cfg.task if cfg.task != "auto" else DEFAULT_TASK)


def resolve_model(config: Settings, task=None) -> tuple[Settings, str | None]:
    """``model.name: auto`` becomes the outcome type's default model (``task``, else the config's; binary before a
    Study resolved it) and null ``model.params`` / ``model.search`` the model's own (the registry's). Returns the
    settings and the note that says what ``auto`` became (None when nothing was auto)."""
    task = task if task is not None else _task(config)
    name, upd, note = config.model.name, {}, None
    if name == "auto":
        name = upd["model.name"] = task.default_model
        why = (" (L1 logistic regression with C tuned on the inner folds: chosen on 25 public radiomics tables, "
               "benchmarks/README.md)" if task.name == "binary" else "")
        note = f"model.name auto: {name} for a {task.name} outcome{why}"
    spec = MODELS.get(name)
    for key in ("params", "search"):
        if getattr(config.model, key) is None:
            upd[f"model.{key}"] = dict(getattr(spec, f"default_{key}", {}) or {}) if spec is not None else {}
    return (config.replace(upd) if upd else config), note


def _final_model(cfg: Settings, n_jobs):
    return make_model(cfg.model.name, cfg.model.params, random_state=cfg.random_state,
                      n_jobs=n_jobs, trusted_modules=cfg.model.trusted_modules or (), task=_task(cfg))


def block_columns(columns, cfg: Settings, groups: dict) -> dict[str, list[str]]:
    """Columns of each late-fusion block: ``fusion.blocks`` names groups (radiomic/clinical/genetic or a key
    of ``features.groups``); ``features.groups`` entries may be lists or regexes."""
    columns = list(columns)
    out = {}
    for name in cfg.fusion.blocks:
        spec = (cfg.features.groups or {}).get(name)
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


def build_pipeline(config: Settings, columns=None, *, blocks: dict | None = None, categorical=None, harmonize=None,
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

    config, _ = resolve_model(config)
    block_map = blocks or {}
    if harmonize is None:
        harmonize = list(block_map.get("radiomic", []))
    categorical = list(categorical or [])
    columns = list(columns) if columns is not None else []
    n_jobs = config.n_jobs
    inner_jobs = 1 if n_jobs not in (None, 1) else None  # parallelism goes to the outer folds
    if config.fusion.mode == "late":
        blocks = block_columns(columns, config, block_map)
        if len(blocks) < 2:
            raise ValueError(f"late fusion needs at least two non-empty blocks; found {sorted(blocks)} among "
                             f"fusion.blocks {config['fusion']['blocks']}")
        estimators = []
        for name, cols in blocks.items():
            needs_batch = config.harmonize.method == "combat" and set(harmonize) & set(cols)
            entry = cols + ([config.batch] if needs_batch else [])
            steps = [("columns", _Select(entry))] + _block_steps(config, entry, harmonize, categorical,
                                                                 _final_model(config, inner_jobs), block_map,
                                                                 robustness)
            estimators.append((name, Pipeline(steps).set_output(transform="pandas")))
        return Pipeline([("model", _stack(config, estimators, groups))])
    pipe = Pipeline(_block_steps(config, columns, harmonize, categorical, _final_model(config, inner_jobs),
                                 block_map, robustness))
    return pipe.set_output(transform="pandas")


def _stack(config: Settings, estimators: list, groups):
    """The late-fusion meta-model over the blocks' out-of-fold outputs on inner folds of the training rows (by
    patient with ``groups``), as the outcome type makes it (:meth:`radiomix.outcomes.Task.stacking`: logistic
    regression of the blocks' probabilities, ridge regression of their predictions, a penalized Cox model of their
    risk scores)."""
    k, rs = config.cv.inner.n_splits, config.random_state
    if groups is not None:
        from .model_selection import IndexGroupKFold

        inner = IndexGroupKFold(pd.factorize(pd.Series(np.asarray(groups, dtype=object)))[0], k, True, rs)
    else:
        inner = StratifiedKFold(k, shuffle=True, random_state=rs)
    return _task(config).stacking(estimators, inner)


def make_pipeline(config: Settings, columns=None, *, groups: dict | None = None, categorical=None):
    """Deprecated alias of :func:`build_pipeline` (``groups`` is now ``blocks``); it shadowed
    ``sklearn.pipeline.make_pipeline``."""
    warnings.warn("radiomix.pipeline.make_pipeline is deprecated; use radiomix.pipeline.build_pipeline "
                  "(groups= is now blocks=)", DeprecationWarning, stacklevel=2)
    return build_pipeline(config, columns, blocks=groups, categorical=categorical)


def search_space(config: Settings, pipeline=None) -> dict:
    """The hyperparameter search space with the Pipeline's parameter names (``model__max_depth``...; with
    late fusion one entry per block)."""
    config, _ = resolve_model(config)
    raw = {k: list(v) for k, v in (config.model.search or {}).items()}
    prefix = "model__"
    if config.fusion.mode == "late" and pipeline is not None:
        out = {}
        for name, _ in pipeline.named_steps["model"].estimators:
            for k, v in raw.items():
                out[f"model__{name}__{prefix}{k}"] = v
        return out
    return {f"{prefix}{k}": v for k, v in raw.items()}

