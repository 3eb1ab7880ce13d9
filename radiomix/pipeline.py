"""Building the leak-free modelling Pipeline from a ``radiomix train`` configuration.

Every learned step (typing/encoding, imputation, scaling, the model) is a step of one scikit-learn
Pipeline, so cross-validation refits all of it inside each training fold. Later stages (ComBat,
surrogate-tree imputation, mRMR, class balancing) slot in between encoding and the model.
"""

from __future__ import annotations

import importlib
import re

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

__all__ = ["MODELS", "make_model", "make_pipeline", "prepare_data", "search_space"]


def _xgboost(random_state, n_jobs, **params):
    from xgboost import XGBClassifier

    return XGBClassifier(random_state=random_state, n_jobs=n_jobs, eval_metric="logloss", **params)


def _logistic(random_state, n_jobs, **params):
    from sklearn.linear_model import LogisticRegression

    params.setdefault("max_iter", 5000)
    return LogisticRegression(random_state=random_state, **params)


def _random_forest(random_state, n_jobs, **params):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(random_state=random_state, n_jobs=n_jobs, **params)


#: Model name -> (factory, handles missing values natively, needs scaling).
MODELS = {
    "xgboost": (_xgboost, True, False),
    "logistic": (_logistic, False, True),
    "random_forest": (_random_forest, False, False),
}


def make_model(name: str, params: dict | None = None, *, random_state=None, n_jobs=None):
    """A classifier from a registry name (:data:`MODELS`) or an import path such as
    ``sklearn.svm.SVC`` (``random_state`` is set when the estimator has one)."""
    params = dict(params or {})
    if name in MODELS:
        return MODELS[name][0](random_state, n_jobs, **params)
    module, _, attr = str(name).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"model {name!r} is neither one of {sorted(MODELS)} nor an importable class") from err
    est = cls(**params)
    if "random_state" in est.get_params() and random_state is not None and "random_state" not in params:
        est.set_params(random_state=random_state)
    return est


def _numeric_selector():
    return make_column_selector(dtype_include=np.number)


def _categorical_selector():
    return make_column_selector(dtype_exclude=np.number)


def make_pipeline(config: dict) -> Pipeline:
    """The modelling Pipeline for a validated config (see :func:`radiomix.config.load_config`).

    Steps: ``encode`` (numeric columns kept, imputed with the training-fold median and standardised when
    the model needs it; categorical columns one-hot encoded with missing as its own level and unseen
    levels ignored) -> ``model``.
    """
    name = config["model"]["name"]
    native_nan, needs_scaling = (MODELS[name][1], MODELS[name][2]) if name in MODELS else (False, True)
    numeric_steps = []
    if not native_nan:
        numeric_steps.append(("impute", SimpleImputer(strategy="median", keep_empty_features=True)))
    if needs_scaling:
        numeric_steps.append(("scale", StandardScaler()))
    numeric = Pipeline(numeric_steps) if numeric_steps else "passthrough"
    categorical = Pipeline(
        [
            ("fill", SimpleImputer(strategy="constant", fill_value="__missing__")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    encode = ColumnTransformer(
        [("num", numeric, _numeric_selector()), ("cat", categorical, _categorical_selector())],
        verbose_feature_names_out=False,
    )
    n_jobs = config.get("n_jobs", 1)
    model = make_model(
        name,
        config["model"].get("params"),
        random_state=config.get("random_state"),
        # Parallelism goes to the outer folds when n_jobs != 1; a model inside them runs single-threaded.
        n_jobs=1 if n_jobs not in (None, 1) else None,
    )
    return Pipeline([("encode", encode), ("model", model)])


def search_space(config: dict) -> dict:
    """The hyperparameter search space with Pipeline parameter names (``model__max_depth``...)."""
    return {f"model__{k}": list(v) for k, v in (config["model"].get("search") or {}).items()}


def _as_binary(y: pd.Series, target: str) -> tuple[np.ndarray, list]:
    obs = y.dropna()
    levels = sorted(obs.unique().tolist(), key=str)
    if len(levels) != 2:
        raise ValueError(
            f"target {target!r} must have exactly two classes for binary training, found {len(levels)}: {levels[:10]}"
        )
    if set(levels) == {0, 1} or set(levels) == {False, True}:
        levels = [0, 1] if 0 in levels else [False, True]
    return (obs == levels[1]).astype(int).to_numpy(), levels


def prepare_data(table: pd.DataFrame, config: dict):
    """Split a merged table into ``X`` (features), ``y`` (0/1), ``groups`` and ``batch`` per the config.

    Rows whose target is missing are dropped (and counted). The id, target, batch and groups columns
    never become features. Returns ``(X, y, info)`` where ``info`` holds ids, groups, batch, class labels.
    """
    df = table.copy()
    id_col, target = config["id"], config["target"]
    if id_col in df.columns:
        df = df.set_index(id_col)
    elif df.index.name != id_col:
        raise ValueError(f"id column {id_col!r} not found; columns: {list(df.columns)[:20]}")
    if target not in df.columns:
        raise ValueError(f"target column {target!r} not found; columns: {list(df.columns)[:20]}")
    for key in ("batch", "groups"):
        col = config.get(key)
        if col is not None and col not in df.columns:
            if key == "batch" and col == "site":
                config = {**config, "batch": None}  # the default config's batch is optional
                continue
            raise ValueError(f"{key} column {col!r} not found; columns: {list(df.columns)[:20]}")
    missing_y = df[target].isna()
    df = df.loc[~missing_y]
    y, levels = _as_binary(df[target], target)

    reserved = {target} | {config.get(k) for k in ("batch", "groups") if config.get(k)}
    exclude = set(config["features"].get("exclude") or [])
    unknown = exclude - set(df.columns)
    if unknown:
        raise ValueError(f"features.exclude names columns not in the table: {sorted(unknown)}")
    include = config["features"].get("include")
    if include is None:
        cols = [c for c in df.columns if c not in reserved | exclude]
    elif isinstance(include, str):
        rx = re.compile(include)
        cols = [c for c in df.columns if rx.search(str(c)) and c not in reserved | exclude]
    else:
        missing = [c for c in include if c not in df.columns]
        if missing:
            raise ValueError(f"features.include names columns not in the table: {missing}")
        cols = [c for c in include if c not in reserved | exclude]
    if not cols:
        raise ValueError("no feature columns left after removing id/target/batch/groups/exclude")
    X = df[cols].copy()
    for c in X.columns:  # text columns become categorical; bools numeric
        if X[c].dtype == bool:
            X[c] = X[c].astype(float)
        elif not pd.api.types.is_numeric_dtype(X[c]) and not isinstance(X[c].dtype, pd.CategoricalDtype):
            X[c] = X[c].astype("category")
    info = {
        "ids": df.index.astype(str).to_numpy(),
        "groups": df[config["groups"]].to_numpy() if config.get("groups") else None,
        "batch": df[config["batch"]].astype(str).to_numpy() if config.get("batch") else None,
        "classes": levels,
        "n_dropped_missing_target": int(missing_y.sum()),
    }
    return X, y, info
