"""The final model: refit on all data, its training schema, a novelty detector, and safe persistence.

Saved with ``skops`` (``model.skops``): loading never runs arbitrary code; :func:`load_model` accepts only
exact, listed types (:data:`TRUSTED_TYPES`), never whole namespaces, and refuses a file that asks for
anything else, naming the types.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .config import target_columns

__all__ = ["RadiomixModel", "fit_final_model", "save_model", "load_model", "model_file_sha256", "TRUSTED_TYPES"]


class RadiomixModel:
    """A fitted pipeline with what applying it to new patients needs.

    Attributes
    ----------
    pipeline : the fitted (imbalanced-learn) Pipeline.
    threshold : decision threshold chosen on inner out-of-fold predictions of the training data.
    features : training feature columns, in order; ``dtypes`` and ``categories`` per column.
    config : the resolved training config; ``versions``; ``cv_summary`` (nested-CV results);
    novelty : IsolationForest (after median imputation and scaling of the numeric columns) that flags
        patients unlike any seen in training; ``novelty_threshold`` is the 1st percentile of training scores.
    sites : training sites (batch values) when the config has a batch column.
    unharmonized : with ComBat, the same procedure fitted without harmonization (a RadiomixModel), for
        patients of a new site too few to estimate that site's ComBat shift (``predict(...,
        unseen_site="unharmonized")``).
    data_sha256 : SHA-256 of the training data (ids, features, outcome) as the model saw them: provenance.
    horizons : survival models: the times at which ``predict`` gives survival probabilities (the run's
        horizons); ``threshold`` is then the risk cut-off between the low- and high-risk group (median risk of
        the training patients).
    """

    def __init__(self, pipeline, threshold, features, dtypes, categories, config, versions, cv_summary,
                 novelty, novelty_threshold, sites, classes, unharmonized=None, data_sha256=None, horizons=None):
        self.pipeline = pipeline
        self.threshold = threshold
        self.features = features
        self.dtypes = dtypes
        self.categories = categories
        self.config = config
        self.versions = versions
        self.cv_summary = cv_summary
        self.novelty = novelty
        self.novelty_threshold = novelty_threshold
        self.sites = sites
        self.classes = classes
        self.unharmonized = unharmonized
        self.data_sha256 = data_sha256
        self.horizons = horizons

    @property
    def task(self) -> str:
        return self.config.get("task") if self.config.get("task") in ("multiclass", "regression", "survival") \
            else "binary"

    def _score_rows(self, pipeline, X) -> np.ndarray:
        if self.task in ("survival", "regression"):
            return np.asarray(pipeline.predict(X), float).ravel()
        P = pipeline.predict_proba(X)
        return P if self.task == "multiclass" else P[:, 1]

    # ---------------------------------------------------------------------------------------- applying
    def check_table(self, table: pd.DataFrame, *, allow_unseen: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
        """Validate a new table against the training schema; return ``(X, ids)``.

        Missing feature columns raise a ValueError listing them; extra columns are ignored with a warning;
        a batch value (site) never seen in training raises unless ComBat was configured to estimate
        unseen sites (``harmonize.unseen: estimate``), ``allow_unseen`` is set, or the model does not use
        the batch column.
        """
        cfg = self.config
        df = table.copy()
        if len(df) == 0:
            raise ValueError("the table has no rows")
        if cfg["id"] in df.columns:
            df = df.set_index(cfg["id"])
        elif df.index.name != cfg["id"]:
            raise ValueError(f"the table has no id column {cfg['id']!r} (the model was trained with it); without it "
                             "predictions could not be matched to patients")
        if df.index.has_duplicates:
            dup = df.index[df.index.duplicated(keep=False)].unique()
            raise ValueError(f"id column {cfg['id']!r} holds {len(dup)} duplicated id(s): "
                             f"{[str(v) for v in dup[:10]]}")
        batch = cfg.get("batch")
        uses_batch = cfg["harmonize"]["method"] == "combat"
        needed = list(self.features) + ([batch] if uses_batch else [])
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise ValueError(f"the table lacks {len(missing)} column(s) the model needs: {missing[:20]}"
                             f"{' ...' if len(missing) > 20 else ''}")
        reserved = {*target_columns(cfg), batch, cfg.get("groups")}
        extra = [c for c in df.columns if c not in needed and c not in reserved]
        if extra:
            warnings.warn(f"{len(extra)} column(s) not used by the model are ignored: {extra[:10]}", stacklevel=2)
        X = df[needed].copy()
        for c in self.features:
            if c in self.categories:
                X[c] = pd.Categorical(X[c].astype(object).where(X[c].notna(), np.nan))
                self._check_levels(c, X[c])
            else:
                raw = X[c]
                X[c] = pd.to_numeric(raw, errors="coerce")
                bad = raw.notna() & X[c].isna()
                if bad.any():
                    raise ValueError(f"column {c!r} was numeric in training but holds non-numeric value(s) "
                                     f"{sorted(map(str, raw[bad].unique()))[:5]}")
                if np.isinf(X[c].to_numpy(dtype=float, na_value=np.nan)).any():
                    raise ValueError(f"column {c!r} holds infinite values; only missing values are accepted")
        if uses_batch:
            X[batch] = X[batch].astype(str)
            unseen = sorted(set(X[batch]) - set(self.sites or []))
            if unseen and cfg["harmonize"]["unseen"] != "estimate" and not allow_unseen:
                raise ValueError(f"site(s) {unseen} were not in the training data and the model's ComBat was "
                                 "configured with harmonize.unseen: error" + self._fallback_hint())
        return X, df.index.astype(str).to_numpy()

    def _check_levels(self, column: str, values: pd.Series) -> None:
        """A category never seen in training would be encoded as 'none of the known levels' (all one-hot
        columns zero): refused (``unseen_categories: error``, default) or warned about (``warn``)."""
        known = set(self.categories.get(column, []))
        new = sorted({str(v) for v in values.dropna().astype(str).unique()} - known)
        if not new:
            return
        msg = (f"column {column!r} holds level(s) {new[:10]} not seen in training (known: {sorted(known)[:10]})")
        if self.config.get("unseen_categories", "error") == "warn":
            warnings.warn(msg + "; they are encoded as none of the known levels", stacklevel=3)
        else:
            raise ValueError(msg + "; recode them, or train with unseen_categories: warn")

    def _fallback_hint(self) -> str:
        if self.unharmonized is None:
            return ""
        return ("; to score them with the model trained without harmonization (saved with this one), pass "
                "unseen_site='unharmonized' (radiomix predict --unseen-site unharmonized)")

    def _rows_needing_fallback(self, X: pd.DataFrame) -> np.ndarray:
        """Rows of sites ComBat cannot handle here: unseen sites (``unseen: error``) or unseen sites with fewer
        rows than ``harmonize.min_unseen_rows`` (``unseen: estimate``)."""
        cfg = self.config
        if cfg["harmonize"]["method"] != "combat":
            return np.zeros(len(X), bool)
        site = X[cfg["batch"]].astype(str)
        unseen = ~site.isin(set(self.sites or [])).to_numpy()
        if cfg["harmonize"]["unseen"] != "estimate":
            return unseen
        counts = site.map(site.value_counts())
        return unseen & (counts < cfg["harmonize"].get("min_unseen_rows", 1)).to_numpy()

    def predict_proba(self, table: pd.DataFrame, *, unseen_site: str = "refuse") -> np.ndarray:
        """Probability of the positive class per patient (see :meth:`predict` for ``unseen_site``)."""
        X, _ = self.check_table(table, allow_unseen=unseen_site == "unharmonized")
        return self._scores(X, unseen_site)[0]

    def _scores(self, X: pd.DataFrame, unseen_site: str):
        """``(probability (survival: risk score), threshold per row, rows scored by the unharmonized model)`` for a
        checked ``X``."""
        if unseen_site not in ("refuse", "unharmonized"):
            raise ValueError(f"unseen_site must be 'refuse' or 'unharmonized', got {unseen_site!r}")
        fallback = self._rows_needing_fallback(X)
        if fallback.any() and (unseen_site == "refuse" or self.unharmonized is None):
            sites = sorted(set(X.loc[fallback, self.config["batch"]]))
            need = self.config["harmonize"].get("min_unseen_rows", 1)
            raise ValueError(f"site(s) {sites} were not in the training data and have too few rows here to estimate "
                             f"their ComBat shift ({int(fallback.sum())} row(s); at least {need} per site needed in "
                             "one call)" + (self._fallback_hint() if unseen_site == "refuse" else
                                            "; this model was saved without an unharmonized variant"))
        shape = (len(X), len(self.classes)) if self.task == "multiclass" else (len(X),)
        p = np.full(shape, np.nan)
        thr = np.full(len(X), float(self.threshold))
        if (~fallback).any():
            p[~fallback] = self._score_rows(self.pipeline, X[~fallback])
        if fallback.any():
            alt = self.unharmonized
            p[fallback] = self._score_rows(alt.pipeline, X.loc[fallback, list(alt.features)])
            thr[fallback] = alt.threshold
        return p, thr, fallback

    def _task_frame(self, ids, p, thr, X, fallback) -> pd.DataFrame:
        if self.task == "regression":
            return pd.DataFrame({"id": ids, "prediction": p})
        if self.task == "multiclass":
            out = pd.DataFrame({"id": ids, **{f"proba_{c}": p[:, j] for j, c in enumerate(self.classes)}})
            out["predicted_class"] = [self.classes[j] for j in p.argmax(axis=1)]
            return out
        out = pd.DataFrame({"id": ids, "risk": p, "risk_group": np.where(p > thr, "high", "low")})
        for h, col in zip(self.horizons, self._survival(X, fallback).T):
            out[f"surv_{h:g}"] = col
        return out

    def _survival(self, X, fallback) -> np.ndarray:
        from .survival.evaluate import survival_function

        S = np.full((len(X), len(self.horizons)), np.nan)
        if (~fallback).any():
            S[~fallback] = survival_function(self.pipeline, X[~fallback], self.horizons)
        if fallback.any():
            alt = self.unharmonized
            S[fallback] = survival_function(alt.pipeline, X.loc[fallback, list(alt.features)], self.horizons)
        return S

    def predict(self, table: pd.DataFrame, *, unseen_site: str = "refuse") -> pd.DataFrame:
        """Per patient: probability of the positive class, 0/1 label at the training threshold, the
        novelty score and whether the patient lies outside the training distribution. Survival models give
        the risk score (log hazard ratio for Cox models), the risk group (above the training patients' median
        risk: ``high``) and the probability of surviving past each horizon (``surv_<t>``) instead; multiclass
        models the probability of each class (``proba_<class>``) and the most probable class; regression models
        the predicted value (``prediction``).

        ``unseen_site``: what happens to patients of a site the model's ComBat cannot handle (a site unseen in
        training with ``unseen: error``, or with fewer rows than ``harmonize.min_unseen_rows`` here):
        ``"refuse"`` (default) raises with the numbers; ``"unharmonized"`` scores them with the model fitted
        without harmonization (``harmonized`` False in the output).
        """
        if unseen_site not in ("refuse", "unharmonized"):
            raise ValueError(f"unseen_site must be 'refuse' or 'unharmonized', got {unseen_site!r}")
        X, ids = self.check_table(table, allow_unseen=unseen_site == "unharmonized")
        p, thr, fallback = self._scores(X, unseen_site)
        score = self.novelty.score_samples(X[[c for c in self.features if c not in self.categories]])
        if self.task != "binary":
            out = self._task_frame(ids, p, thr, X, fallback)
            out["novelty_score"], out["novel"] = score, score < self.novelty_threshold
        else:
            out = pd.DataFrame({"id": ids, "proba": p, "label": (p >= thr).astype(int),
                                "predicted_class": [self.classes[int(v)] for v in (p >= thr)],
                                "novelty_score": score, "novel": score < self.novelty_threshold})
        if self.config["harmonize"]["method"] == "combat":
            out["harmonized"] = ~fallback
        if out["novel"].any():
            warnings.warn(f"{int(out['novel'].sum())} patient(s) lie outside the training distribution "
                          f"(novelty score below the 1st percentile of training): {out.loc[out['novel'], 'id'].tolist()[:10]}",
                          stacklevel=2)
        return out


def fit_final_model(study, *, cv_summary=None) -> RadiomixModel:
    """Refit a :class:`radiomix.study.Study` on all its rows with the same procedure as each outer fold
    (search on inner folds, threshold on inner out-of-fold predictions), plus the training schema and a
    novelty detector."""
    from sklearn.ensemble import IsolationForest
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline as sk_pipeline
    from sklearn.preprocessing import StandardScaler

    from .evaluate import study_inner_split
    from .runmeta import versions
    from .search import fit_tuned

    X, y = study.X, study.y
    seed = study.random_state
    inner = study_inner_split(study, np.arange(len(y)), seed)
    _, best, thr = fit_tuned(study.pipeline, study.search, X, y, groups=inner.groups, seed=seed, cv=inner.cv)
    _drop_repeats(best)
    features, categorical = list(study.columns.features), list(study.columns.categorical)
    numeric = [c for c in features if c not in categorical]
    novelty = sk_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                          IsolationForest(n_estimators=200, random_state=seed)).fit(X[numeric])
    train_scores = novelty.score_samples(X[numeric])
    categories = {c: [str(v) for v in X[c].cat.categories] for c in categorical}
    unharmonized = None
    if study.config["harmonize"]["method"] == "combat":
        # For a new site's patients too few to estimate its ComBat shift: the same procedure without ComBat.
        unharmonized = fit_final_model(study.without_harmonization())
    return RadiomixModel(
        pipeline=best, threshold=float(thr), features=features,
        dtypes={c: str(X[c].dtype) for c in features}, categories=categories, config=study.config,
        versions={**versions(), "trained": time.strftime("%Y-%m-%d %H:%M:%S")},
        cv_summary=cv_summary, novelty=novelty, novelty_threshold=float(np.percentile(train_scores, 1)),
        sites=sorted(set(study.sites)) if study.sites is not None else None,
        classes=[v.item() if hasattr(v, "item") else v for v in study.classes], unharmonized=unharmonized,
        data_sha256=_data_sha256(study),
        horizons=[float(h) for h in study.outcome["horizons"]] if study.task.name == "survival" else None,
    )


def _data_sha256(study) -> str:
    """SHA-256 of the rows the model was trained on (ids, model input, outcome), independent of file format."""
    import hashlib

    h = hashlib.sha256()
    h.update("\x1f".join(map(str, study.ids)).encode())
    h.update("\x1f".join(map(str, study.X.columns)).encode())
    h.update(pd.util.hash_pandas_object(study.X, index=False).to_numpy().tobytes())
    y = np.asarray(study.y)
    h.update((y.astype(np.float64) if y.ndim == 2 or y.dtype.kind == "f" else y.astype(np.int64)).tobytes())
    return h.hexdigest()


def _drop_repeats(estimator) -> None:
    """A fitted RobustnessFilter keeps its support and ICCs; the repeated-measures table and the row ids it was
    fitted with stay out of the saved model (data, not model; and types skops would not load safely)."""
    from .select import fitted_robustness_filters

    for step in fitted_robustness_filters(estimator):
        step.set_params(repeats=None, ids=None)


def save_model(model: RadiomixModel, path: str | os.PathLike) -> Path:
    """Write ``model`` with skops, atomically (temporary file, then rename)."""
    import skops.io as sio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        sio.dump(model, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def model_file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a model file, to compare with the hash its authors published (a hash stored next to the file
    cannot detect tampering by itself)."""
    from .io import file_sha256

    return file_sha256(path)


def _version_tuple(v: str) -> tuple:
    out = []
    for part in str(v).split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def load_model(path: str | os.PathLike, *, trusted=None) -> RadiomixModel:
    """Load a ``model.skops`` written by radiomix.

    skops never runs code from the file; on top of its own defaults (plain scikit-learn estimators, NumPy
    arrays), only the exact types in :data:`TRUSTED_TYPES` are accepted: radiomix's own classes and the
    specific imbalanced-learn, XGBoost, SciPy and scikit-learn internals a radiomix pipeline holds. Never a
    namespace, so no callable from ``builtins``, ``os``, ``subprocess``, ``joblib``, ``functools``... A file
    asking for anything else is refused with the type names; ``trusted=[...]`` (CLI ``--trust TYPE``) accepts
    named types when you trust the file's author. A corrupt or truncated file, or one written by a newer
    radiomix, is refused with a one-line message.
    """
    import zipfile

    import skops.io as sio

    from . import __version__

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        types = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable radiomix model file (corrupt, truncated or not a skops file: "
                         f"{type(err).__name__})") from None
    allowed = TRUSTED_TYPES | set(trusted or [])
    bad = sorted(t for t in types if t not in allowed)
    if bad:
        raise ValueError(f"{path} asks to load type(s) radiomix does not trust: {bad}; refusing. If you trust the "
                         "file's author, load it with load_model(path, trusted=[...]) or radiomix predict --trust "
                         "TYPE for each type")
    try:
        model = sio.load(path, trusted=list(types))
    except Exception as err:  # a tampered or truncated payload behind a valid zip directory
        raise ValueError(f"{path}: the model file could not be read ({type(err).__name__}: {err})") from None
    if not isinstance(model, RadiomixModel):
        raise ValueError(f"{path} does not hold a radiomix model (got {type(model).__name__})")
    written = (getattr(model, "versions", None) or {}).get("radiomix")
    if written and _version_tuple(written) > _version_tuple(__version__):
        raise ValueError(f"{path} was written by radiomix {written}, newer than this radiomix {__version__}; "
                         "upgrade radiomix to use it")
    return model


#: Exact type names (beyond skops' own defaults) a radiomix model file may hold.
TRUSTED_TYPES = frozenset({
    # radiomix
    "radiomix.model.RadiomixModel", "radiomix.pipeline._Cast", "radiomix.pipeline._Select",
    "radiomix.pipeline.PLSDAClassifier", "radiomix.calibration.RecalibratedClassifier",
    "radiomix.harmonize.ComBat", "radiomix.impute.KNNImputer", "radiomix.impute.SurrogateTreeImputer",
    "radiomix.impute.SurrogateTreeRegressor", "radiomix.impute.SurrogateTreeClassifier", "radiomix.impute._Encoder",
    "radiomix._cart.Tree", "radiomix.select.CorrelationFilter", "radiomix.select.MRMRSelector",
    "radiomix.select.NearZeroVarianceFilter", "radiomix.select.RobustnessFilter", "radiomix.splits.IndexGroupKFold",
    "radiomix.survival.models.CoxPH", "radiomix.survival.models.XGBSurvival",
    "radiomix.survival.models.SurvivalStacking", "radiomix.splits.StratifyOn",
    "radiomix.survival.models.RandomSurvivalForest", "radiomix.boosting.EarlyStoppingXGBClassifier",
    "radiomix.boosting.EarlyStoppingXGBRegressor",
    # scikit-survival (optional extra, model random_survival_forest)
    "sksurv.ensemble.forest.RandomSurvivalForest", "sksurv.tree.tree.SurvivalTree",
    # imbalanced-learn
    "imblearn.pipeline.Pipeline", "imblearn.over_sampling._smote.base.SMOTE",
    "imblearn.over_sampling._smote.base.SMOTENC", "imblearn.over_sampling._adasyn.ADASYN",
    "imblearn.over_sampling._random_over_sampler.RandomOverSampler",
    "imblearn.under_sampling._prototype_selection._random_under_sampler.RandomUnderSampler",
    # XGBoost
    "xgboost.sklearn.XGBClassifier", "xgboost.sklearn.XGBRegressor", "xgboost.core.Booster",
    # scikit-learn internals held by fitted estimators
    "sklearn.compose._column_transformer.make_column_selector", "sklearn.tree._tree.Tree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64", "sklearn.metrics._dist_metrics.EuclideanDistance32",
    "sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.model_selection._split.StratifiedKFold", "sklearn.model_selection._split.StratifiedGroupKFold",
    "sklearn.utils._bunch.Bunch",
    # NumPy / SciPy data types
    "numpy.dtype", "numpy.number", "scipy.sparse._csr.csr_matrix",
})
