"""The final model: refit on all data, its training schema, a novelty detector, and safe persistence.

Saved with ``skops`` (``model.skops``): loading never runs arbitrary code, and a crafted file cannot crash the
process that uses the model. :func:`load_model` checks the zip and its schema before skops reads it, accepts only
exact, listed types (:data:`TRUSTED_TYPES`), never whole namespaces, and refuses a file that asks for anything
else, naming the types; objects whose arrays reach compiled code are stored as plain data and rebuilt only after
their indices are checked (:mod:`radiomix.persist`).
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .config import target_columns

__all__ = ["RadiomixModel", "fit_final_model", "save_model", "load_model", "model_file_sha256", "score_external",
           "TRUSTED_TYPES"]


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
        """The outcome type's name (the resolved config's ``task``)."""
        return str(self.settings.task)

    @property
    def settings(self):
        """The training configuration (:attr:`config`, the plain record) as frozen settings read by attribute."""
        from .config import Settings

        return Settings(self.config)

    @property
    def outcome(self):
        """The outcome type (:class:`radiomix.outcomes.Task`) that decides what the model predicts."""
        from .outcomes import get_task

        return get_task(self.task)

    def _score_rows(self, pipeline, X) -> np.ndarray:
        return self.outcome.predict(pipeline, X)

    # ---------------------------------------------------------------------------------------- applying
    def check_table(self, table: pd.DataFrame, *, allow_unseen: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
        """Validate a new table against the training schema; return ``(X, ids)``.

        Missing feature columns raise a ValueError listing them; extra columns are ignored with a warning;
        a batch value (site) never seen in training raises unless ComBat was configured to estimate
        unseen sites (``harmonize.unseen: estimate``), ``allow_unseen`` is set, or the model does not use
        the batch column.
        """
        cfg = self.settings
        df = table.copy()
        if len(df) == 0:
            raise ValueError("the table has no rows")
        if cfg.id in df.columns:
            df = df.set_index(cfg.id)
        elif df.index.name != cfg.id:
            raise ValueError(f"the table has no id column {cfg.id!r} (the model was trained with it); without it "
                             "predictions could not be matched to patients")
        if df.index.has_duplicates:
            dup = df.index[df.index.duplicated(keep=False)].unique()
            raise ValueError(f"id column {cfg.id!r} holds {len(dup)} duplicated id(s): "
                             f"{[str(v) for v in dup[:10]]}")
        batch = cfg.batch
        uses_batch = cfg.harmonize.method == "combat"
        needed = list(self.features) + ([batch] if uses_batch else [])
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise ValueError(f"the table lacks {len(missing)} column(s) the model needs: {missing[:20]}"
                             f"{' ...' if len(missing) > 20 else ''}")
        reserved = {*target_columns(cfg), batch, cfg.groups}
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
            if unseen and cfg.harmonize.unseen != "estimate" and not allow_unseen:
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
        if self.settings.unseen_categories == "warn":
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
        cfg = self.settings
        if cfg.harmonize.method != "combat":
            return np.zeros(len(X), bool)
        site = X[cfg.batch].astype(str)
        unseen = ~site.isin(set(self.sites or [])).to_numpy()
        if cfg.harmonize.unseen != "estimate":
            return unseen
        counts = site.map(site.value_counts())
        return unseen & (counts < cfg.harmonize.min_unseen_rows).to_numpy()

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
            sites = sorted(set(X.loc[fallback, self.settings.batch]))
            need = self.settings.harmonize.min_unseen_rows
            raise ValueError(f"site(s) {sites} were not in the training data and have too few rows here to estimate "
                             f"their ComBat shift ({int(fallback.sum())} row(s); at least {need} per site needed in "
                             "one call)" + (self._fallback_hint() if unseen_site == "refuse" else
                                            "; this model was saved without an unharmonized variant"))
        p = np.full(self.outcome.score_shape(len(X), self.classes), np.nan)
        thr = np.full(len(X), float(self.threshold))
        if (~fallback).any():
            p[~fallback] = self._score_rows(self.pipeline, X[~fallback])
        if fallback.any():
            alt = self.unharmonized
            p[fallback] = self._score_rows(alt.pipeline, X.loc[fallback, list(alt.features)])
            thr[fallback] = alt.threshold
        return p, thr, fallback

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
        out = self.outcome.prediction_frame(self, ids, p, thr, X, fallback)
        out["novelty_score"], out["novel"] = score, score < self.novelty_threshold
        if self.settings.harmonize.method == "combat":
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

    from .model_selection import fit_tuned
    from .model_selection.validation import study_inner_split
    from .runmeta import versions

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
    if study.config.harmonize.method == "combat":
        # For a new site's patients too few to estimate its ComBat shift: the same procedure without ComBat.
        unharmonized = fit_final_model(study.without_harmonization())
    return RadiomixModel(
        pipeline=best, threshold=float(thr), features=features,
        dtypes={c: str(X[c].dtype) for c in features}, categories=categories, config=study.config.to_dict(),
        versions={**versions(), "trained": time.strftime("%Y-%m-%d %H:%M:%S")},
        cv_summary=cv_summary, novelty=novelty, novelty_threshold=float(np.percentile(train_scores, 1)),
        sites=sorted(set(study.sites)) if study.sites is not None else None,
        classes=[v.item() if hasattr(v, "item") else v for v in study.classes], unharmonized=unharmonized,
        data_sha256=_data_sha256(study),
        **study.task.model_extras(study),
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
    """Write ``model`` with skops, atomically (temporary file, then rename).

    Objects whose state reaches compiled code unchecked (scikit-learn trees, XGBoost boosters, neighbour
    trees, sparse matrices) are written as checked plain data (:mod:`radiomix.persist`); ``model`` itself is not
    changed.
    """
    import skops.io as sio

    from .persist import to_plain

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = to_plain(model)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        sio.dump(plain, tmp)
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


def load_model(path: str | os.PathLike, *, trusted=None, max_bytes: int | None = None) -> RadiomixModel:
    """Load a ``model.skops`` written by radiomix.

    Loading never runs code from the file, and a file cannot crash the process that uses the model:

    * before skops reads anything, the zip is checked: its size, each member's and all members' declared
      uncompressed size (at most ``max_bytes``, default 1 GiB or ``$RADIOMIX_MAX_MODEL_BYTES``; checked before
      anything is decompressed), every array's header, and ``schema.json`` against the fixed structure of the
      node kinds a radiomix file holds (:func:`radiomix.persist.check_model_file`);
    * only the exact types in :data:`TRUSTED_TYPES` are built (never a namespace, so no callable from
      ``builtins``, ``os``, ``subprocess``...): each either keeps plain data only, or is checked after loading
      against what compiled code assumes about it. A file asking for anything else is refused with the type
      names; ``trusted=[...]`` (CLI ``--trust TYPE``) accepts named types when you trust the file's author.
      scikit-learn trees, XGBoost boosters, neighbour trees and sparse matrices are never accepted raw, even
      when named: radiomix writes them as plain data and rebuilds them after checking every index;
    * the loaded model's attributes are checked (a fitted pipeline, a finite threshold, feature names...).

    A corrupt, truncated, tampered or oversized file, or one written by a newer radiomix, is refused with a
    one-line ValueError that names the file.
    """
    import skops.io as sio

    from . import __version__
    from .persist import PLAIN_TYPES, check_model_file, from_plain, max_model_bytes, never_raw, one_line

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    limit = max_model_bytes(max_bytes)

    def check_types(types):  # before any array member is read
        raw = sorted(t for t in types if never_raw(t))
        if raw:
            raise ValueError(f"{path} holds {raw} as raw objects, which radiomix never loads (a crafted one can crash "
                             "the process); radiomix writes them as checked plain data: train the model again with "
                             "this radiomix (or, for a file from an older radiomix that you trust, re-save it with "
                             "radiomix.model.save_model(skops.io.load(path, trusted=[...]), path))")
        allowed = TRUSTED_TYPES | PLAIN_TYPES | set(trusted or [])
        bad = sorted(t for t in types if t not in allowed)
        if bad:
            raise ValueError(f"{path} asks to load type(s) radiomix does not trust: {bad}; refusing. If you trust "
                             "the file's author, load it with load_model(path, trusted=[...]) or radiomix predict "
                             "--trust TYPE for each type")

    with open(path, "rb") as fh:  # one open file: what is checked is what skops reads
        types = check_model_file(fh, path, limit, check_types)
        fh.seek(0)
        try:
            # Containers (dicts, lists, arrays, dtypes) were checked against their fixed classes already.
            model = sio.load(fh, trusted=sorted(types | PLAIN_TYPES))
        except Exception as err:  # RecursionError, MemoryError, a tampered payload behind a valid schema...
            raise ValueError(f"{path}: the model file could not be read ({type(err).__name__}: "
                             f"{one_line(err)})") from None
    model = from_plain(model, path)
    _check_model(model, path)
    written = model.versions.get("radiomix")
    if written and _version_tuple(written) > _version_tuple(__version__):
        raise ValueError(f"{path} was written by radiomix {written}, newer than this radiomix {__version__}; "
                         "upgrade radiomix to use it")
    return model


_REQUIRED = ("pipeline", "threshold", "features", "dtypes", "categories", "config", "versions", "cv_summary",
             "novelty", "novelty_threshold", "sites", "classes")
_OPTIONAL = ("unharmonized", "data_sha256", "horizons")  # absent from files of older radiomix versions


def _check_model(model, path, *, nested: bool = False) -> None:
    """Refuse a loaded object that is not a complete radiomix model: a tampered file could otherwise load an
    empty one, or attributes of the wrong kind that fail far from the cause."""
    what = f"{path} holds" + (" an unharmonized variant that is" if nested else "")
    if not isinstance(model, RadiomixModel):
        raise ValueError(f"{path} does not hold a radiomix model (got {type(model).__name__})")
    attrs = vars(model)
    missing, extra = [k for k in _REQUIRED if k not in attrs], sorted(set(attrs) - set(_REQUIRED) - set(_OPTIONAL))
    if missing or extra:
        raise ValueError(f"{what} not a complete radiomix model: " +
                         (f"it lacks {missing}" if missing else f"it has unknown attributes {extra[:10]}"))
    for k in _OPTIONAL:
        attrs.setdefault(k, None)
    problem = _model_problem(model)
    if problem:
        raise ValueError(f"{what} a radiomix model whose {problem}; the file was damaged or tampered with")
    if model.unharmonized is not None:
        if nested:
            raise ValueError(f"{path} holds nested unharmonized variants; the file was tampered with")
        _check_model(model.unharmonized, path, nested=True)


def _is_str_list(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) \
        and bool(np.isfinite(v))


def _model_problem(m) -> str | None:
    """The first attribute of ``m`` that is not what radiomix writes, described, or None."""
    from sklearn.utils.validation import check_is_fitted

    for name in ("pipeline", "novelty"):
        est = getattr(m, name)
        if not (hasattr(est, "get_params") and hasattr(est, "predict" if name == "pipeline" else "score_samples")):
            return f"{name} is a {type(est).__name__}, not a fitted estimator"
        try:
            check_is_fitted(est)
        except Exception:  # NotFittedError, or a broken estimator's own error
            return f"{name} is not fitted"
    # Regression and multiclass models have no decision threshold (NaN).
    if not (_is_number(m.novelty_threshold) and isinstance(m.threshold, float) and not np.isinf(m.threshold)):
        return "threshold or novelty_threshold is not a number"
    if not (_is_str_list(m.features) and m.features and len(set(m.features)) == len(m.features)):
        return "features are not a list of distinct column names"
    if not (isinstance(m.dtypes, dict) and set(m.dtypes) == set(m.features) and _is_str_list(list(m.dtypes.values()))):
        return "dtypes do not map each feature to a type name"
    if not (isinstance(m.categories, dict) and set(m.categories) <= set(m.features)
            and all(_is_str_list(v) for v in m.categories.values())):
        return "categories do not map categorical features to lists of levels"
    if not (isinstance(m.versions, dict) and all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in m.versions.items())):
        return "versions do not map names to version strings"
    if not (m.sites is None or (isinstance(m.sites, list) and all(isinstance(v, (str, int, float)) for v in m.sites))) \
            or not (m.cv_summary is None or isinstance(m.cv_summary, dict)):
        return "sites or cv_summary are of the wrong kind"
    if not (isinstance(m.classes, list) and all(isinstance(c, (str, int, float, bool)) for c in m.classes)):
        return "classes are not a list of labels"
    if not (m.data_sha256 is None or (isinstance(m.data_sha256, str) and len(m.data_sha256) == 64)):
        return "data_sha256 is not a SHA-256 hex digest"
    if not (m.horizons is None or (isinstance(m.horizons, list) and all(_is_number(h) and h > 0 for h in m.horizons))):
        return "horizons are not positive times"
    return _config_problem(m)


def _config_problem(m) -> str | None:
    """The keys of the saved config that applying the model reads, with the kinds it reads them as."""
    cfg = m.config
    if not isinstance(cfg, dict):
        return "config is not a mapping"
    h = cfg.get("harmonize")
    target = cfg.get("target")
    checks = (
        ("id", isinstance(cfg.get("id"), str)),
        ("batch/groups", all(cfg.get(k) is None or isinstance(cfg.get(k), str) for k in ("batch", "groups"))),
        ("target", isinstance(target, str) or (isinstance(target, dict) and _is_str_list(list(target.values())))),
        ("task", cfg.get("task") is None or isinstance(cfg.get("task"), str)),
        ("harmonize", isinstance(h, dict) and h.get("method") in ("none", "combat")
         and h.get("unseen", "error") in ("error", "estimate")
         and isinstance(h.get("min_unseen_rows", 1), int) and not isinstance(h.get("min_unseen_rows", 1), bool)),
        ("unseen_categories", cfg.get("unseen_categories", "error") in ("error", "warn")),
    )
    bad = [k for k, ok in checks if not ok]
    if bad:
        return f"config keys {bad} are not what radiomix writes"
    from .outcomes import TASKS

    if m.task not in TASKS:
        return f"task {m.task!r} is not an outcome type of this radiomix ({sorted(TASKS)})"
    problem = m.outcome.check_saved_model(m)
    if problem:
        return problem
    if h["method"] == "combat" and (cfg.get("batch") is None or m.sites is None):
        return "batch column or sites are missing for a ComBat model"
    return None


def _trusted_types() -> frozenset:
    from .persist import PLAIN_TYPES, STATE_TYPES

    return frozenset({
        *(t for t in PLAIN_TYPES if not t.startswith("builtins.")),  # numpy arrays/scalars/dtypes, Bunch: data
        *STATE_TYPES,  # radiomix.persist's plain-data stand-ins, checked and rebuilt on load
        # radiomix: numpy code only; the surrogate-split tree checks its arrays when loaded and when applied
        "radiomix.model.RadiomixModel", "radiomix.pipeline._Cast", "radiomix.pipeline._Select",
        "radiomix.models.plsda.PLSDAClassifier", "radiomix.model_selection.calibration.RecalibratedClassifier",
        "radiomix.harmonize.combat.ComBat", "radiomix.impute.knn.MixedKNNImputer",
        "radiomix.impute.surrogate.SurrogateTreeImputer", "radiomix.impute.trees.SurrogateTreeRegressor",
        "radiomix.impute.trees.SurrogateTreeClassifier", "radiomix.impute._encoding.Encoder",
        "radiomix.impute._cart.Tree", "radiomix.select.filters.CorrelationFilter", "radiomix.select.mrmr.MRMRSelector",
        "radiomix.select.filters.NearZeroVarianceFilter", "radiomix.select.robustness.RobustnessFilter",
        "radiomix.model_selection.splits.IndexGroupKFold", "radiomix.outcomes.strata.StratifyOn",
        "radiomix.models.survival.CoxPH", "radiomix.models.survival.XGBSurvival",
        "radiomix.models.survival.SurvivalStacking", "radiomix.models.survival.RandomSurvivalForest",
        "radiomix.models.boosting.EarlyStoppingXGBClassifier", "radiomix.models.boosting.EarlyStoppingXGBRegressor",
        # scikit-learn, numpy code on their fitted arrays: composition, preprocessing, linear models, splitters
        "sklearn.pipeline.Pipeline", "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.compose._column_transformer.make_column_selector", "sklearn.impute._base.SimpleImputer",
        "sklearn.impute._base.MissingIndicator", "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._data.RobustScaler", "sklearn.preprocessing._encoders.OrdinalEncoder",
        "sklearn.preprocessing._function_transformer.FunctionTransformer", "sklearn.preprocessing._label.LabelEncoder",
        "sklearn.linear_model._logistic.LogisticRegression", "sklearn.linear_model._coordinate_descent.ElasticNet",
        "sklearn.linear_model._ridge.RidgeCV", "sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
        "sklearn.cross_decomposition._pls.PLSRegression", "sklearn.isotonic.IsotonicRegression",
        "sklearn.ensemble._stacking.StackingClassifier", "sklearn.ensemble._stacking.StackingRegressor",
        "sklearn.model_selection._split.StratifiedKFold", "sklearn.model_selection._split.StratifiedGroupKFold",
        # scikit-learn, compiled code on fitted arrays that radiomix.persist checks after loading
        "sklearn.preprocessing._encoders.OneHotEncoder",  # output widths against its categories
        "sklearn.svm._classes.SVC", "sklearn.svm._classes.SVR",  # libsvm's counts against its arrays
        "sklearn.neighbors._classification.KNeighborsClassifier",  # training data, labels, tree
        "sklearn.neighbors._regression.KNeighborsRegressor", "sklearn.neighbors._unsupervised.NearestNeighbors",
        "sklearn.tree._classes.DecisionTreeClassifier", "sklearn.tree._classes.DecisionTreeRegressor",  # tree width
        "sklearn.tree._classes.ExtraTreeClassifier", "sklearn.tree._classes.ExtraTreeRegressor",
        "sklearn.ensemble._forest.RandomForestClassifier", "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._forest.ExtraTreesClassifier", "sklearn.ensemble._forest.ExtraTreesRegressor",
        "sklearn.ensemble._iforest.IsolationForest",  # trees against the forest and its feature subsets
        "sksurv.ensemble.forest.RandomSurvivalForest", "sksurv.tree.tree.SurvivalTree",  # as forests and trees
        # imbalanced-learn: samplers act at fit only; their neighbour searches are checked as above
        "imblearn.pipeline.Pipeline", "imblearn.over_sampling._smote.base.SMOTE",
        "imblearn.over_sampling._smote.base.SMOTENC", "imblearn.over_sampling._adasyn.ADASYN",
        "imblearn.over_sampling._random_over_sampler.RandomOverSampler",
        "imblearn.under_sampling._prototype_selection._random_under_sampler.RandomUnderSampler",
        # XGBoost wrappers: their Booster is a checked BoosterState in the file
        "xgboost.sklearn.XGBClassifier", "xgboost.sklearn.XGBRegressor",
    })


#: Exact type names a radiomix model file may hold besides builtin data (str, int, list, dict...: see
#: :data:`radiomix.persist.PLAIN_TYPES`), each either plain data or checked after loading. skops' own defaults are
#: not relied on: skops trusts every scikit-learn estimator, and some pass unchecked arrays to compiled code. Raw
#: scikit-learn trees, XGBoost boosters, neighbour trees, distance metrics and sparse matrices are never among them
#: (:func:`radiomix.persist.never_raw`).
TRUSTED_TYPES = _trusted_types()


def score_external(model: RadiomixModel, table: pd.DataFrame, target, *, n_bootstrap: int = 2000,
                   random_state: int = 0) -> dict:
    """Score a saved model on an external cohort: the same metrics and 95 % CIs as nested CV, at the model's own
    threshold (binary: plus calibration). ``target`` is the outcome column, or ``{"time": ..., "event": ...}`` for
    a survival model."""
    return model.outcome.score_external(model, table, target, n_bootstrap=n_bootstrap, random_state=random_state)
