"""What ``radiomix benchmark`` compares: radiomix configurations and named scikit-learn reference pipelines, each
fitted on the same outer folds of a table and scored on the held-out rows of each fold.

A :class:`Method` is either a radiomix config (a YAML path or a mapping; the run's own nested CV, inner search,
threshold and every learned step inside the training fold, with the safeguards, SHAP, report and final model left
out because a benchmark scores the procedure, not one model) or one of :data:`REFERENCES`: ten-line scikit-learn
procedures a reviewer would write (median imputation, standardisation, the classifier, its hyperparameters tuned by
``GridSearchCV`` on inner stratified folds of the training rows).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Method", "REFERENCES", "Refused", "reference_pipeline", "resolve_methods", "run_method"]

#: Inner folds of the references' ``GridSearchCV`` (stratified, shuffled with the outer fold's seed).
REFERENCE_INNER_SPLITS = 5

#: Named reference procedures: name -> one-line description (the pipelines are built by
#: :func:`reference_pipeline`).
REFERENCES = {
    "l1_logistic": "median imputation, standardisation, L1 logistic regression (liblinear), C tuned over "
                   "10^-2..10^1 (13 values) by GridSearchCV (5 inner folds, AUC)",
    "random_forest": "median imputation, random forest of 500 trees (scikit-learn defaults otherwise)",
    "radmlbench_grid": "radMLBench-style grid: median imputation, standardisation, ANOVA-F or LASSO selection of "
                       "4/8/16/32 features x L2 logistic (C 0.1, 1), RBF SVM or random forest (200 trees), "
                       "tuned by GridSearchCV (5 inner folds, AUC)",
}


def error_line(err: BaseException) -> str:
    """``Category: message`` of an exception on one line, at most 500 characters of message (result files)."""
    return f"{type(err).__name__}: {' '.join(str(err).split())[:500]}"


class Refused(Exception):
    """A method refused a table before any fit (the one-line reason is the message)."""


@dataclass(frozen=True)
class Method:
    """One procedure of a benchmark: ``name`` (shown in every table) and one of ``config`` (a radiomix config: a
    path or a mapping), ``reference`` (a key of :data:`REFERENCES`) or ``estimator`` (your own unfitted
    scikit-learn classifier or Pipeline with ``predict_proba`` or ``decision_function``, fitted on each outer
    fold's training rows as the references are: every numeric column but the roles)."""

    name: str
    config: object = None
    reference: str | None = None
    trusted_modules: tuple = field(default=())
    estimator: object = None

    def __post_init__(self):
        given = [k for k in ("config", "reference", "estimator") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"method {self.name!r}: give exactly one of config, reference or estimator "
                             f"(got {given or 'none'})")
        if self.reference is not None and self.reference not in REFERENCES:
            raise ValueError(f"method {self.name!r}: unknown reference {self.reference!r}; "
                             f"valid: {sorted(REFERENCES)}")
        if not str(self.name) or any(c in str(self.name) for c in "/\\\0"):
            raise ValueError(f"method name {self.name!r} must be non-empty and hold no path separator")

    @property
    def kind(self) -> str:
        return "reference" if self.reference is not None else "estimator" if self.estimator is not None \
            else "radiomix"

    def spec(self) -> dict:
        """What the method computes, as plain data (the cache key hashes it): the reference's name and
        description, or the radiomix config resolved over the defaults (so an edit to a config file, or to a
        default, is a different method)."""
        if self.reference is not None:
            return {"reference": self.reference, "description": REFERENCES[self.reference]}
        if self.estimator is not None:
            import joblib

            return {"estimator": repr(self.estimator), "hash": joblib.hash(self.estimator)}
        from ..config import load_config

        return {"radiomix": load_config(self.config, trusted_modules=self.trusted_modules).to_dict()}

    def key(self) -> str:
        """A short hash of :meth:`spec` (plus the radiomix, scikit-learn and XGBoost versions)."""
        from importlib.metadata import version

        libs = {p: _version(version, p) for p in ("radiomix", "scikit-learn", "xgboost", "numpy")}
        blob = json.dumps({"spec": self.spec(), "libs": libs}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _version(version, package: str) -> str:
    try:
        return version(package)
    except Exception:  # not installed (a source checkout without metadata)
        return "unknown"


def resolve_methods(names, *, trusted_modules=()) -> list[Method]:
    """Methods from command-line words: a reference name (:data:`REFERENCES`), ``default`` (the shipped
    ``params/train_default.yaml``), ``multisite`` (``params/train_multisite.yaml``), a config path (named after its
    file) or ``NAME=PATH``. Duplicate names are refused."""
    from .._resources import params_dir

    out = []
    for word in names:
        word = str(word)
        name, _, path = word.partition("=") if "=" in word else ("", "", word)
        if not name and path in REFERENCES:
            out.append(Method(path, reference=path))
            continue
        shipped = {"default": "train_default.yaml", "multisite": "train_multisite.yaml"}
        p = params_dir() / shipped[path] if path in shipped else Path(path)
        if not p.is_file():
            raise ValueError(f"method {word!r} is neither a reference {sorted(REFERENCES)}, 'default', "
                             "'multisite' nor a config file that exists")
        out.append(Method(name or (path if path in shipped else p.stem), config=str(p),
                          trusted_modules=tuple(trusted_modules)))
    seen = [m.name for m in out]
    dup = sorted({n for n in seen if seen.count(n) > 1})
    if dup:
        raise ValueError(f"method names must be unique; repeated: {dup} (name them: NAME=PATH)")
    return out


# ------------------------------------------------------------------------------------------ references
def reference_pipeline(name: str, seed: int, grouped: bool = False):
    """The unfitted scikit-learn estimator of reference ``name`` (a ``GridSearchCV`` where it tunes; with
    ``grouped`` its inner folds keep a patient's rows together: fit it with ``groups=``)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_selection import SelectFromModel, SelectKBest, VarianceThreshold, f_classif
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    inner = (StratifiedGroupKFold if grouped else StratifiedKFold)(REFERENCE_INNER_SPLITS, shuffle=True,
                                                                    random_state=seed % (2**31 - 1))
    base = [("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("constant", VarianceThreshold()), ("scale", StandardScaler())]
    if name == "l1_logistic":
        pipe = Pipeline(base + [("model", LogisticRegression(l1_ratio=1.0, solver="liblinear", max_iter=5000,
                                                             random_state=seed))])
        return GridSearchCV(pipe, {"model__C": list(np.logspace(-2, 1, 13))}, cv=inner, scoring="roc_auc",
                            n_jobs=1)
    if name == "random_forest":
        return Pipeline(base[:1] + [("model", RandomForestClassifier(n_estimators=500, random_state=seed,
                                                                      n_jobs=1))])
    if name == "radmlbench_grid":
        pipe = Pipeline(base + [("select", SelectKBest(f_classif)), ("model", LogisticRegression())])
        lasso = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=1.0, random_state=seed)
        models = [LogisticRegression(C=0.1, max_iter=5000), LogisticRegression(C=1.0, max_iter=5000),
                  SVC(kernel="rbf", C=1.0, random_state=seed),
                  RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1)]
        grid = []
        for k in (4, 8, 16, 32):
            grid.append({"select": [SelectKBest(f_classif, k=k)], "model": models})
            grid.append({"select": [SelectFromModel(lasso, max_features=k, threshold=-np.inf)], "model": models})
        return GridSearchCV(pipe, grid, cv=inner, scoring="roc_auc", n_jobs=1, error_score="raise")
    raise ValueError(f"unknown reference {name!r}; valid: {sorted(REFERENCES)}")


def _scores(model, X) -> np.ndarray:
    if hasattr(model, "predict_proba"):
        try:
            return np.asarray(model.predict_proba(X))[:, 1]
        except AttributeError:  # SVC without probability=True behind a GridSearchCV
            pass
    return np.asarray(model.decision_function(X), dtype=float)


def _numeric_features(table: pd.DataFrame, roles: list) -> tuple[pd.DataFrame, list]:
    """The references' input: every numeric column but the roles; non-numeric columns are left out (returned,
    recorded in the result)."""
    cols = [c for c in table.columns if c not in roles]
    numeric = [c for c in cols if pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])]
    X = table[numeric].astype(float).replace([np.inf, -np.inf], np.nan)
    return X, [c for c in cols if c not in numeric]


# ------------------------------------------------------------------------------------------ running
def run_method(method: Method, table: pd.DataFrame, y: np.ndarray, folds, *, roles: dict,
               deadline: float | None = None) -> dict:
    """Fit ``method`` on each fold's training rows of ``table`` (positions in ``folds``: :class:`Fold`), score its
    test rows; ``y`` the 0/1 outcome the folds were made from. Returns ``{"folds": [...], "notes": [...],
    "warnings": [...]}``: per fold its repeat, number, test AUC, sizes, seconds, and the test rows' scores."""
    from ..metrics import roc_auc

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:  # what a method refuses, it refuses here, before any fit
            if method.config is None:
                fit_predict, notes = _reference_runner(method, table, y, roles)
            else:
                fit_predict, notes = _radiomix_runner(method, table, y, roles)
        except (ValueError, LookupError, TypeError) as err:
            raise Refused(error_line(err)) from err
        out = []
        for fold in folds:
            t0 = time.perf_counter()
            scores = fit_predict(fold)
            yt = y[fold.test]
            out.append({"repeat": int(fold.repeat), "fold": int(fold.fold), "auc": float(roc_auc(yt, scores)),
                        "n_train": int(len(fold.train)), "n_test": int(len(fold.test)),
                        "n_test_positive": int(yt.sum()), "seconds": round(time.perf_counter() - t0, 3),
                        "test": [int(i) for i in fold.test], "scores": [float(s) for s in scores]})
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("the per-table time limit passed")
    counts: dict = {}
    for w in caught:
        text = f"{w.category.__name__}: {' '.join(str(w.message).split())[:300]}"
        counts[text] = counts.get(text, 0) + 1
    return {"folds": out, "notes": notes, "warnings": [{"message": k, "count": v} for k, v in counts.items()]}


def _reference_runner(method: Method, table: pd.DataFrame, y: np.ndarray, roles: dict):
    X, left_out = _numeric_features(table, [c for c in roles.values() if c])
    if X.shape[1] == 0:
        raise ValueError("the table has no numeric feature column for the reference")
    notes = ([f"{len(left_out)} non-numeric column(s) left out of the reference's input: {left_out[:10]}"]
             if left_out else [])

    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    groups = table[roles["groups"]].astype(str).to_numpy() if roles.get("groups") else None

    def fit_predict(fold):
        if method.reference is None:
            est = clone(method.estimator)
        else:
            est = reference_pipeline(method.reference, fold.seed, grouped=groups is not None)
        kw = {"groups": groups[fold.train]} if groups is not None and isinstance(est, GridSearchCV) else {}
        est.fit(X.iloc[fold.train], y[fold.train], **kw)
        return _scores(est, X.iloc[fold.test])
    return fit_predict, notes


def _radiomix_runner(method: Method, table: pd.DataFrame, y: np.ndarray, roles: dict):
    from ..model_selection.validation import fit_outer_fold
    from ..study import make_study

    overrides = {"target": roles["target"], "id": roles.get("id"), "batch": roles.get("batch"),
                 "groups": roles.get("groups"), "safeguards.baselines": False, "safeguards.shap": False,
                 "safeguards.permutations": 0, "final_model": False, "n_jobs": 1}
    study = make_study(table, method.config, verbose=False, trusted_modules=method.trusted_modules,
                       **{k: v for k, v in overrides.items() if v is not None})
    if study.task.name != "binary":
        raise ValueError(f"radiomix took the outcome as {study.task.name}; the benchmark scores binary outcomes")
    if len(study.y) != len(y) or not np.array_equal(np.asarray(study.y).astype(int), y):
        raise ValueError("radiomix's encoded outcome differs from the benchmark's (rows dropped or another "
                         "positive class): set positive: 1 in the config")

    def fit_predict(fold):
        return np.asarray(fit_outer_fold(study, fold).proba, dtype=float)
    return fit_predict, list(study.notes)


def table_hash(table: pd.DataFrame) -> str:
    """A hash of a table's content (column names, dtypes and values, row order included)."""
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in table.columns]).encode())
    h.update(json.dumps([str(t) for t in table.dtypes]).encode())
    h.update(pd.util.hash_pandas_object(table, index=True).values.tobytes())
    return h.hexdigest()[:16]


def limit_threads() -> None:
    """One thread per BLAS/OpenMP pool in a worker that shares the machine with other workers."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # threadpoolctl missing: the environment variable above still bounds OpenMP
        pass
