"""The final model: refit on all data, its training schema, a novelty detector, and safe persistence.

Saved with ``skops`` (``model.skops``): loading never runs arbitrary code; :func:`load_model` accepts only
types from radiomix, scikit-learn, imbalanced-learn, XGBoost, NumPy and SciPy, and refuses a file that
asks for anything else, naming the types.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["RadiomixModel", "fit_final_model", "save_model", "load_model"]

_ALLOWED_PREFIXES = ("radiomix.", "sklearn.", "imblearn.", "xgboost.", "numpy.", "scipy.", "builtins.",
                     "collections.", "joblib.")


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
    """

    def __init__(self, pipeline, threshold, features, dtypes, categories, config, versions, cv_summary,
                 novelty, novelty_threshold, sites, classes, unharmonized=None):
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
        if cfg["id"] in df.columns:
            df = df.set_index(cfg["id"])
        batch = cfg.get("batch")
        uses_batch = cfg["harmonize"]["method"] == "combat"
        needed = list(self.features) + ([batch] if uses_batch else [])
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise ValueError(f"the table lacks {len(missing)} column(s) the model needs: {missing[:20]}"
                             f"{' ...' if len(missing) > 20 else ''}")
        reserved = {cfg["target"], batch, cfg.get("groups")}
        extra = [c for c in df.columns if c not in needed and c not in reserved]
        if extra:
            warnings.warn(f"{len(extra)} column(s) not used by the model are ignored: {extra[:10]}", stacklevel=2)
        X = df[needed].copy()
        for c in self.features:
            if c in self.categories:
                X[c] = pd.Categorical(X[c].astype(object).where(X[c].notna(), np.nan))
            else:
                X[c] = pd.to_numeric(X[c], errors="coerce")
                if X[c].isna().sum() > df[c].isna().sum():
                    raise ValueError(f"column {c!r} was numeric in training but holds non-numeric values")
        if uses_batch:
            X[batch] = X[batch].astype(str)
            unseen = sorted(set(X[batch]) - set(self.sites or []))
            if unseen and cfg["harmonize"]["unseen"] != "estimate" and not allow_unseen:
                raise ValueError(f"site(s) {unseen} were not in the training data and the model's ComBat was "
                                 "configured with harmonize.unseen: error" + self._fallback_hint())
        return X, df.index.astype(str).to_numpy()

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
        return self.predict(table, unseen_site=unseen_site)["proba"].to_numpy()

    def predict(self, table: pd.DataFrame, *, unseen_site: str = "refuse") -> pd.DataFrame:
        """Per patient: probability of the positive class, 0/1 label at the training threshold, the
        novelty score and whether the patient lies outside the training distribution.

        ``unseen_site``: what happens to patients of a site the model's ComBat cannot handle (a site unseen in
        training with ``unseen: error``, or with fewer rows than ``harmonize.min_unseen_rows`` here):
        ``"refuse"`` (default) raises with the numbers; ``"unharmonized"`` scores them with the model fitted
        without harmonization (``harmonized`` False in the output).
        """
        if unseen_site not in ("refuse", "unharmonized"):
            raise ValueError(f"unseen_site must be 'refuse' or 'unharmonized', got {unseen_site!r}")
        X, ids = self.check_table(table, allow_unseen=unseen_site == "unharmonized")
        fallback = self._rows_needing_fallback(X)
        if fallback.any() and (unseen_site == "refuse" or self.unharmonized is None):
            sites = sorted(set(X.loc[fallback, self.config["batch"]]))
            need = self.config["harmonize"].get("min_unseen_rows", 1)
            raise ValueError(f"site(s) {sites} were not in the training data and have too few rows here to estimate "
                             f"their ComBat shift ({int(fallback.sum())} row(s); at least {need} per site needed in "
                             "one call)" + (self._fallback_hint() if unseen_site == "refuse" else
                                            "; this model was saved without an unharmonized variant"))
        p = np.full(len(X), np.nan)
        thr = np.full(len(X), float(self.threshold))
        if (~fallback).any():
            p[~fallback] = self.pipeline.predict_proba(X[~fallback])[:, 1]
        if fallback.any():
            alt = self.unharmonized
            p[fallback] = alt.pipeline.predict_proba(X.loc[fallback, list(alt.features)])[:, 1]
            thr[fallback] = alt.threshold
        score = self.novelty.score_samples(X[[c for c in self.features if c not in self.categories]])
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
    from .search import finalize, tune

    X, y = study.X, study.y
    seed = study.random_state
    inner = study_inner_split(study, np.arange(len(y)), seed)
    best = tune(study.pipeline, study.search, X, y, groups=inner.groups, seed=seed, cv=inner.cv).estimator
    best, thr = finalize(best, study.search, X, y, groups=inner.groups, seed=seed, cv=inner.cv)
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
    )


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


def load_model(path: str | os.PathLike) -> RadiomixModel:
    """Load a ``model.skops`` written by radiomix, refusing types outside radiomix and its libraries."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    types = sio.get_untrusted_types(file=path)
    bad = [t for t in types if not t.startswith(_ALLOWED_PREFIXES)]
    if bad:
        raise ValueError(f"{path} asks to load types outside radiomix and its libraries: {bad}; refusing")
    model = sio.load(path, trusted=types)
    if not isinstance(model, RadiomixModel):
        raise ValueError(f"{path} does not hold a radiomix model (got {type(model).__name__})")
    return model
