"""The resolved description of one modelling run: a :class:`Study`.

A config (``params/train_default.yaml`` and the user's file) is validated once and resolved against the
table once: the outcome type (:mod:`radiomix.tasks`), the target vector, the feature columns and their
blocks, ids, patient groups and sites, the outer split plan, the search plan and the Pipeline template.
Nested cross-validation (:func:`radiomix.evaluate.nested_cv`), the final model
(:func:`radiomix.model.fit_final_model`), held-out explanations (:func:`radiomix.explain.nested_cv_shap`)
and the run record all take a Study and never re-validate or re-derive any of it. A Study fits nothing.

Two ways to make one:

* :func:`make_study` (a table and a config: what ``radiomix train`` does);
* :meth:`Study.from_pipeline` (your own scikit-learn Pipeline with ``X`` and ``y``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import ConfigError, Settings, load_config, target_columns, task_settings, validate_config
from .model_selection import Fold, SearchPlan, SplitPlan, auto_search_method, outer_plan
from .outcomes import DEFAULT_TASK, Task, get_task, infer_task
from .patterns import compile_user_pattern
from .pipeline import build_pipeline, early_stopping_note, resolve_model, search_space

__all__ = ["Study", "Columns", "make_study"]

_SITE_LIKE = ("site", "center", "centre", "batch", "scanner", "hospital")


@dataclass(frozen=True)
class Columns:
    """The roles of the table's columns in a study.

    features : the model's input columns, in table order; ``categorical`` the non-numeric ones among them.
    blocks : ``{"radiomic": [...], "clinical": [...], "genetic": [...]}`` (from the extraction/merge record,
        ``features.groups`` in the config, or pyradiomics names); numeric columns that fit none of these are
        listed in ``unassigned`` (and modelled with the clinical block).
    harmonized : the columns ComBat harmonizes; ``harmonize_excluded`` those kept out by ``harmonize.exclude``.
    id, target, batch, groups : the names of those columns (``batch``/``groups`` may be None).
    """

    features: list
    categorical: list
    blocks: dict
    id: str | None = None
    target: str | None = None
    batch: str | None = None
    groups: str | None = None
    harmonized: list = field(default_factory=list)
    harmonize_excluded: list = field(default_factory=list)
    unassigned: list = field(default_factory=list)


@dataclass
class Study:
    """One resolved run: data, roles, task, plans and the Pipeline template (unfitted).

    config : the validated config (every key present).
    task : the outcome type (:class:`radiomix.tasks.Task`).
    X : the model's input (features, plus the batch column when ComBat needs it), indexed 0..n-1.
    y : the encoded target (0/1 for binary; class codes 0..k-1 for multiclass; floats for regression; the (n, 2)
        array of time and event for survival); ``classes`` the original labels (negative, positive; every class
        in code order; empty for regression and survival).
    ids, groups, sites : per-row case ids (text), patient groups and sites (or None).
    columns : :class:`Columns`; ``n_dropped_missing_target`` rows without a target were left out.
    outer : :class:`SplitPlan`; ``search``: :class:`radiomix.model_selection.SearchPlan`; ``pipeline``: the template.
    outcome : task settings resolved on the data (survival: ``horizons``, ``tau``, ``grid`` of the integrated
        Brier score, ``time``/``event`` column names, and how each was chosen).
    robustness : the unfitted :class:`radiomix.select.RobustnessFilter` of ``select.robustness`` (holding the
        repeated-measures table), or None.
    """

    config: Settings
    task: Task
    X: pd.DataFrame
    y: np.ndarray
    ids: np.ndarray
    classes: list
    columns: Columns
    outer: SplitPlan
    search: SearchPlan
    pipeline: object
    groups: np.ndarray | None = None
    sites: np.ndarray | None = None
    n_dropped_missing_target: int = 0
    notes: list = field(default_factory=list)
    outcome: dict = field(default_factory=dict)
    robustness: object = None

    def __repr__(self) -> str:
        return (f"Study({self.task.name}: {len(self.y)} rows x {len(self.columns.features)} features, outer "
                f"{self.outer.kind} {self.outer.n_splits}x{self.outer.n_repeats}, {self.search.method} search over "
                f"{len(self.search.space)} parameter(s))")

    # ------------------------------------------------------------------------------------------ derived
    @property
    def n_jobs(self) -> int:
        return self.config.n_jobs

    @property
    def random_state(self) -> int:
        return int(self.config.random_state)

    @property
    def n_bootstrap(self) -> int:
        return int(self.config.bootstrap)

    @property
    def aggregate(self) -> str:
        """How rows of one patient are scored together (``none``, ``max``, ``mean``)."""
        return self.config.aggregate

    @property
    def n_bins(self) -> int:
        return int(self.config.calibration.n_bins)

    def outer_folds(self) -> list[Fold]:
        """The outer folds (same for every call)."""
        return self.outer.folds(self.task.strata(self.y), groups=self.groups, sites=self.sites)

    def rows(self, index) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
        """``(X, y, groups)`` of the rows at positions ``index``."""
        g = None if self.groups is None else np.asarray(self.groups)[index]
        return self.X.iloc[index], self.y[index], g

    def build_pipeline(self):
        """A fresh (unfitted) copy of the Pipeline template."""
        from sklearn.base import clone

        return clone(self.pipeline)

    def settings(self) -> dict:
        """The study's plans as the run record stores them (``metrics.json`` ``settings``)."""

        unit = "patients (all rows of a group together)" if self.groups is not None else "patients"
        h = self.config.harmonize
        return {"task": self.task.name, "outer": self.outer.kind, "outer_splits": self.outer.n_splits,
                "n_repeats": self.outer.n_repeats, "inner": self.search.inner_description(self.outer.kind),
                "inner_splits": self.search.inner_splits,
                "search": self.search.method, "n_candidates": self.search.n_candidates,
                "time_budget": self.search.time_budget, "scoring": self.search.scoring,
                "threshold": self.search.threshold, "probability_correction": self.search.correction or "none",
                "harmonize": h.method, "harmonize_unseen": h.unseen if h.method == "combat" else None,
                "n_bootstrap": self.n_bootstrap,
                "ci_method": f"percentile bootstrap over {unit}",
                "ci_resampling": self.task.ci_resampling(),
                "aggregate": self.config.aggregate, "random_state": self.random_state}

    def data_record(self) -> dict:
        """What the run record says about the data (``metrics.json`` ``data``)."""
        c = self.columns
        return {"n_features": len(c.features), "classes": [str(v) for v in self.classes],
                "positive_class": str(self.classes[1]) if len(self.classes) > 1 else None,
                "n_dropped_missing_target": self.n_dropped_missing_target,
                "n_rows": int(len(self.y)),
                "n_groups": int(len(pd.unique(self.groups))) if self.groups is not None else None,
                "column_groups": {k: len(v) for k, v in c.blocks.items()},
                "harmonized": list(c.harmonized), "harmonize_excluded": list(c.harmonize_excluded),
                "unassigned": list(c.unassigned), "notes": list(self.notes)}

    def without_harmonization(self) -> Study:
        """The same study with ``harmonize.method: none``: same rows, folds and search, the batch column out
        of ``X`` and no ComBat step (the model a new site's patients can get without harmonization, and the
        baseline that shows what ComBat adds)."""
        import dataclasses

        cfg = self.config.replace({"harmonize.method": "none"})
        c = self.columns
        X = self.X[[col for col in self.X.columns if col in set(c.features)]]
        columns = dataclasses.replace(c, harmonized=[], harmonize_excluded=[])
        pipe = build_pipeline(cfg, c.features, blocks=c.blocks, categorical=c.categorical, harmonize=[],
                              groups=self.groups, robustness=self.robustness)
        search = dataclasses.replace(self.search, space=search_space(cfg, pipe))
        return dataclasses.replace(self, config=cfg, X=X, columns=columns, pipeline=pipe, search=search,
                                   notes=list(self.notes) + ["this variant does not harmonize the sites"])

    # ------------------------------------------------------------------------------------- constructors
    @classmethod
    def from_pipeline(cls, pipeline, X: pd.DataFrame, y, *, task: str = "auto",
                      param_distributions: dict | None = None,
                      outer: str = "stratified", outer_splits: int = 5, n_repeats: int = 1, inner_splits: int = 3,
                      search: str = "random", n_candidates: int = 10, time_budget: float | None = None,
                      scoring: str = "auto", threshold="youden", n_bootstrap: int = 2000, n_bins: int = 10,
                      groups=None, sites=None, ids=None, random_state: int = 0, n_jobs: int = 1) -> Study:
        """A Study around your own Pipeline: ``X`` (features) and ``y``, the search space with the Pipeline's
        parameter names, and the fold/search settings as keyword arguments. ``task``: ``"auto"`` (the default,
        as in a config: inferred from ``y`` as :func:`radiomix.outcomes.infer_task` does, said when it is not
        binary), ``"binary"`` (two labels), ``"multiclass"`` (labels), ``"regression"`` (numbers) or
        ``"survival"`` (``y`` an (n, 2) array of time and event; horizons and Uno's tau from the event times)."""
        X = X.reset_index(drop=True) if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        y_arr = np.asarray(y)
        if len(X) != len(y_arr):
            raise ValueError(f"X has {len(X)} rows but y has {len(y_arr)}")
        notes: list = []
        if task == "auto":
            t = infer_task(pd.DataFrame(y_arr) if y_arr.ndim == 2 and y_arr.shape[1] == 2 else pd.Series(y_arr))
            if t.name != DEFAULT_TASK:
                note = f"task: {t.name} (inferred from y; pass task= to choose)"
                notes.append(note)
                warnings.warn(note, StudyNote, stacklevel=3)
        else:
            t = get_task(task)
        y_enc, classes = t.encode_array(y_arr)
        groups = None if groups is None else np.asarray(groups)
        if groups is not None and len(groups) != len(X):
            raise ValueError(f"groups has {len(groups)} values but X has {len(X)} rows")
        plan, note = outer_plan(outer, outer_splits, n_repeats, random_state, groups=groups, groups_name="groups")
        if note:
            notes.append(note)
            warnings.warn(note, StudyNote, stacklevel=3)
        config = validate_config({
            "cv": {"outer": {"n_splits": outer_splits, "n_repeats": n_repeats},
                   "inner": {"n_splits": inner_splits, "scoring": scoring}},
            "search": {"method": search, "n_candidates": n_candidates, "time_budget": time_budget},
            "threshold": threshold, "bootstrap": n_bootstrap, "calibration": {"n_bins": n_bins},
            "random_state": random_state, "n_jobs": n_jobs, "task": t.name,
            **({"target": t.placeholder_target()} if t.target_width > 1 else {}),
        })
        # groups/sites are arrays here, not columns: the settings record the plan's kind
        config = config.replace({"cv.outer.kind": plan.kind, "cv.outer.n_repeats": plan.n_repeats})
        if plan.kind != "leave_site_out":
            t.check_folds(y_enc, outer_splits)
        features = [str(c) for c in X.columns]
        return cls(config=config, task=t, X=X, y=y_enc,
                   ids=np.asarray(ids if ids is not None else np.arange(len(X))).astype(str),
                   classes=classes, columns=Columns(features, [], {}), outer=plan,
                   search=SearchPlan(dict(param_distributions or {}), search, n_candidates, time_budget, inner_splits,
                                     t.check_scoring(config.cv.inner.scoring), t.threshold_rule(threshold),
                                     strata=t.inner_strata),
                   pipeline=pipeline, groups=groups,
                   sites=None if sites is None else np.asarray(sites), notes=notes,
                   outcome=t.resolve_outcome(y_enc, config.survival.to_dict(), ["time", "event"], notes))


def make_study(table, config: dict | str | os.PathLike | None = None, *, verbose: bool = True,
               trusted_modules=(), **overrides) -> Study:
    """Resolve a table and a config into a :class:`Study`.

    ``table`` is a DataFrame or a path (CSV/TSV/Parquet); ``config`` a dict, a YAML path or None (the
    shipped default); ``overrides`` are top-level config keys (``target=``, ``id=``, ``batch=``, ``groups=``,
    ``positive=``, ``n_jobs=``...) that replace the config's when not None. Rows without a target are dropped
    and counted; the id, target, batch and groups columns never become features (the batch column enters
    ``X`` only for ComBat, which drops it). Every default that leaves columns, rows or groups out, or
    changes the plan (rows dropped, numeric columns that fit no block, stratified folds made grouped), is
    said once as a warning (``verbose``) and kept in ``study.notes`` for the run record. ``trusted_modules``: extra
    packages whose classes ``model.name`` may import (with :data:`radiomix.config.TRUST_ENV`; never from the
    config itself).
    """
    cfg = load_config(config, trusted_modules=trusted_modules, **overrides)  # validated once, overrides applied
    if not isinstance(table, pd.DataFrame):
        from .io import read_table

        table = read_table(table)
    notes: list[str] = []
    if len(table) == 0:
        raise ValueError("the table has no rows")
    df, target = _index_and_check(table, cfg)
    tcols = target_columns(cfg)
    # Some outcomes refuse rows without a value (a survival outcome: SurvivalTask.encode_target names the rows).
    declared = get_task(cfg.task) if cfg.task != "auto" else None
    drops = (declared.drops_missing_target if declared is not None else len(tcols) == 1)
    missing_y = df[tcols].isna().any(axis=1) if drops else pd.Series(False, index=df.index)
    if missing_y.any():
        notes.append(f"{int(missing_y.sum())} row(s) without a value of target {target!r} were left out: "
                     f"{_names(df.index[missing_y])}")
    df = df.loc[~missing_y]
    outcome = df[tcols] if len(tcols) > 1 else df[target]
    task = infer_task(outcome) if cfg.task == "auto" else get_task(cfg.task)
    y, classes = task.encode_target(outcome, target, positive=cfg.positive)
    if cfg.task == "auto" and task.name != DEFAULT_TASK:
        notes.append(f"task: {task.name} (inferred from target {target!r})")
    cfg = cfg.replace({"task": task.name})
    task.check_settings(task_settings(cfg), notes)
    notes.extend(task.target_notes(classes, target, cfg.positive is not None))
    cfg = _resolve_model(cfg, task, notes)
    _check_model_serves(cfg.model.name, task)
    features = _feature_columns(df, cfg)
    _check_feature_values(df, features, notes)
    X = _model_input(df, features, cfg)
    blocks, unassigned = _blocks(df[features], dict(table.attrs), cfg)
    batch, grp = cfg.batch, cfg.groups
    groups = df[grp].to_numpy() if grp else None
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(X[c])]
    cfg = _balance_for_categorical(cfg, categorical, notes)
    harmonized, excluded = _harmonized_columns(cfg, X, features, categorical, blocks, unassigned, notes)
    if unassigned:
        notes.append(f"{len(unassigned)} numeric column(s) fit no block (no extraction/merge record, names not "
                     f"pyradiomics', not in features.groups): {_names(unassigned)}; they are modelled with the clinical "
                     "block" + (" and harmonized (harmonize.features)" if set(unassigned) & set(harmonized) else ""))
    columns = Columns(features=features, categorical=categorical, blocks=blocks, id=cfg.id, target=target,
                      batch=batch, groups=grp, harmonized=harmonized, harmonize_excluded=excluded,
                      unassigned=unassigned)
    outer = _outer_plan(cfg, groups, notes)
    cfg, robust = _robustness_filter(cfg, df.index.astype(str).to_numpy(), features, notes)
    _note_max_predictors(cfg, features, notes)
    pipe = build_pipeline(cfg, features, blocks=blocks, categorical=categorical, harmonize=harmonized,
                          groups=groups, robustness=robust)
    scoring = task.check_scoring(cfg.cv.inner.scoring)
    correction = task.probability_correction(cfg.calibration.recalibrate, cfg.balance.method,
                                             cfg.balance.correction, notes)
    space = search_space(cfg, pipe)
    if cfg.search.method == "auto":
        cfg = cfg.replace({"search.method": auto_search_method(space, cfg.search.n_candidates)})
    search = SearchPlan(space, cfg.search.method, cfg.search.n_candidates,
                        cfg.search.time_budget, cfg.cv.inner.n_splits, scoring,
                        task.threshold_rule(cfg.threshold), correction=correction, strata=task.inner_strata,
                        inner_kind=cfg.cv.inner.kind)
    note = early_stopping_note(cfg)
    if note:
        notes.append(note)
    study = Study(config=cfg, task=task, X=X.reset_index(drop=True), y=y, ids=df.index.astype(str).to_numpy(),
                  classes=classes, columns=columns, outer=outer, search=search, pipeline=pipe, groups=groups,
                  sites=df[batch].astype(str).to_numpy() if batch else None,
                  n_dropped_missing_target=int(missing_y.sum()), notes=notes,
                  outcome=task.resolve_outcome(y, cfg.survival.to_dict(), tcols, notes), robustness=robust)
    if outer.kind != "leave_site_out":
        try:
            task.check_folds(y, outer.n_splits, classes)
        except ValueError as err:
            raise ValueError(f"target {target!r}: {err}") from None
    if outer.kind == "leave_site_out" and cfg.harmonize.method == "combat" and study.sites is not None:
        found = sorted(set(study.sites))
        if len(found) < 3:  # each training fold must hold two sites for ComBat to learn anything
            raise ValueError(f"leave-site-out with ComBat needs at least 3 sites in column {batch!r} (each training "
                             f"fold must hold two batches); it has {len(found)}: {found}. Use cv.outer.kind: "
                             "stratified with ComBat, or leave-site-out with harmonize.method: none")
    task.check_training_folds(y, study.outer_folds(), classes)
    if verbose:
        for note in notes:
            warnings.warn(note, StudyNote, stacklevel=2)
    return study


def _note_max_predictors(cfg: Settings, features: list, notes: list) -> None:
    """Say what ``impute.max_predictors: auto`` does on this table (surrogate-tree imputation only)."""
    from .pipeline import AUTO_MAX_PREDICTORS, resolve_max_predictors

    imp = cfg.impute
    if imp.method == "surrogate_tree" and imp.max_predictors == "auto":
        k = resolve_max_predictors("auto", len(features))
        if k is not None:
            notes.append(f"impute.max_predictors auto: {len(features)} feature columns > {AUTO_MAX_PREDICTORS[0]}, so "
                         f"each column's imputation tree grows on its {k} most correlated columns, not on all "
                         f"{len(features) - 1} (set impute.max_predictors: null for all)")


def _robustness_filter(cfg: Settings, ids: np.ndarray, features: list, notes: list):
    """The RobustnessFilter of ``select.robustness`` (None when unset): its table read, the unperturbed rows of a
    perturbation table left out, the case and rater columns resolved, and what it will do said in ``notes``."""
    spec = cfg.select.robustness
    if spec is None:
        return cfg, None
    from .select import RobustnessFilter

    table = spec.table
    if not isinstance(table, pd.DataFrame):
        from .io import read_table

        table = read_table(table)
        where = str(spec.table)
    else:
        where = f"<DataFrame {table.shape[0]} x {table.shape[1]}>"
        cfg = cfg.replace({"select.robustness.table": where})  # the run record holds a name, not the data
    case = spec.case or cfg.id
    if case not in table.columns:
        raise ConfigError(f"select.robustness.table {where} has no case column {case!r} (set select.robustness.case; "
                          f"its columns start {list(table.columns[:5])})")
    how = "ICC(1,1)"
    rater = None
    if spec.source == "perturbation" and "kind" in table.columns:
        original = table["kind"].astype(str) == "original"
        table = table.loc[~original]
        how += f"; {int(original.sum())} unperturbed row(s) (kind 'original') left out"
    elif spec.source == "repeats":
        rater = next((c for c in ("rater", "session") if c in table.columns), None)
        how = f"ICC(2,1), shared {rater!r}" if rater else "ICC(1,1) (no rater/session column: repeats taken as independent)"
    known = set(table[case].astype(str))
    shared = [f for f in features if f in table.columns]
    notes.append(f"select.robustness: features kept when their ICC {spec.statistic} > {spec.icc} over the "
                 f"repeats of each training fold's patients ({how}; {where}: {len(known & set(ids))} case(s) of "
                 f"this table, {len(set(ids) - known)} without repeats; {len(shared)} of {len(features)} features "
                 f"assessed, the others kept unassessed)")
    return cfg, RobustnessFilter(table.reset_index(drop=True), case=case, rater=rater, threshold=spec.icc,
                                 statistic=spec.statistic, ids=ids)


class StudyNote(UserWarning):
    """A default that changed what a run uses (rows, columns, folds), said once when the Study is made."""


def column_hint(name, columns) -> str:
    """``did you mean 'outcome'?`` for a misspelled column (case or a few letters off), else the first columns."""
    import difflib

    cols = [str(c) for c in columns]
    same_case = [c for c in cols if c.lower() == str(name).lower()]
    close = same_case or difflib.get_close_matches(str(name), cols, n=3, cutoff=0.75)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return f"columns: {cols[:20]}" + (f" ... ({len(cols)} in all)" if len(cols) > 20 else "")


def _names(values, k: int = 10) -> str:
    values = [str(v) for v in values]
    return f"{values[:k]}{f' ... ({len(values)} in all)' if len(values) > k else ''}"


def _outer_plan(cfg: Settings, groups, notes: list) -> SplitPlan:
    o = cfg.cv.outer
    plan, note = outer_plan(o.kind, o.n_splits, o.n_repeats, int(cfg.random_state), groups=groups,
                            groups_name=cfg.groups)
    if note:
        notes.append(note)
    return plan


def _balance_for_categorical(cfg: Settings, categorical: list, notes: list) -> Settings:
    """SMOTE and ADASYN interpolate between patients, which turns a one-hot category into fractions (a sex
    of 0.37): with categorical columns SMOTE becomes SMOTENC (said), ADASYN is refused."""
    method = cfg.balance.method
    if not categorical or method not in ("smote", "adasyn"):
        return cfg
    if method == "adasyn":
        raise ValueError(f"balance.method 'adasyn' would interpolate the categorical column(s) {_names(categorical)}; "
                         "use smotenc, random_over, or no balancing")
    cfg = cfg.replace({"balance.method": "smotenc"})
    notes.append(f"balance.method 'smote' became 'smotenc' because of {len(categorical)} categorical column(s) "
                 f"{_names(categorical)}: SMOTE would interpolate their one-hot codes")
    return cfg


def _resolve_model(cfg: Settings, task: Task, notes: list) -> Settings:
    """``model.name: auto`` becomes the outcome type's default model (said); null ``model.params`` /
    ``model.search`` become the model's own (the registry's)."""
    from .models import MODELS

    cfg, note = resolve_model(cfg, task)
    if note:
        notes.append(note)
    name = cfg.model.name
    if note and cfg.balance.method != "none" and cfg.impute.method == "none" and MODELS[name].handles_missing:
        raise ConfigError(f"balance.method needs complete data (model.name auto is {name} for a {task.name} outcome, "
                          "which keeps missing values): set impute.method (median, knn or surrogate_tree)")
    spec = MODELS.get(name)
    if spec is not None:  # parameters the model does not have: one line naming them, before any fit
        from .models import make_model

        stops = {k: v for k, v in cfg.model.params.items() if k == "early_stopping_rounds"}  # another class
        try:
            est = make_model(name, stops, task=task)
        except ValueError:  # the model does not serve this outcome: _check_model_serves says so
            return cfg
        import inspect

        if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(type(est).__init__).parameters.values()):
            return cfg  # the class takes any keyword (XGBoost passes them to its booster)
        known = set(est.get_params())
        given = {*cfg.model.params, *cfg.model.search} - {"n_jobs", "random_state"}
        unknown = sorted(given - known)
        if unknown:
            how = " (model.name auto)" if note else ""
            raise ConfigError(f"model.params/model.search {unknown} are not parameters of {name}{how}; name the model "
                              f"they belong to (e.g. model.name: xgboost) or drop them")
    return cfg


def _check_model_serves(name: str, task: Task) -> None:
    from .models import MODELS

    if name in MODELS and not MODELS[name].serves(task):
        valid = sorted(n for n, spec in MODELS.items() if spec.serves(task))
        raise ValueError(f"model {name!r} does not handle {task.name} outcomes; models that do: {valid}")


def _index_and_check(table: pd.DataFrame, cfg: Settings) -> tuple[pd.DataFrame, str]:
    from .io import check_unique_columns

    check_unique_columns(table.columns, "the table")
    df = table.copy()
    id_col, target = cfg.id, cfg.target
    if id_col in df.columns:
        df = df.set_index(id_col)
    elif df.index.name != id_col:
        raise ValueError(f"id column {id_col!r} not found; {column_hint(id_col, df.columns)}")
    for col in target_columns(cfg):
        if col not in df.columns:
            role = "target" if isinstance(target, str) else next(k for k, v in target.items() if v == col)
            raise ValueError(f"{role} column {col!r} not found; {column_hint(col, df.columns)}")
    batch, grp = cfg.batch, cfg.groups
    if batch is not None and batch not in df.columns:
        raise ValueError(f"batch column {batch!r} not found (set batch: null when there is none); "
                         f"{column_hint(batch, df.columns)}")
    if grp is not None and grp not in df.columns:
        raise ValueError(f"groups column {grp!r} not found; {column_hint(grp, df.columns)}")
    if cfg.harmonize.method == "combat" and batch is None:
        raise ValueError("harmonize.method is 'combat' but no batch column is configured (set batch:)")
    if grp is None and df.index.has_duplicates:
        dup = df.index[df.index.duplicated(keep=False)].unique()
        raise ValueError(f"id column {id_col!r} holds {len(dup)} duplicated id(s): {_names(dup)}; one row per case, "
                         "or set groups (the patient column) when a patient has several rows (lesions, scans)")
    return df, target


def _feature_columns(df: pd.DataFrame, cfg: Settings) -> list:
    batch, grp = cfg.batch, cfg.groups
    reserved = set(target_columns(cfg)) | {c for c in (batch, grp) if c}
    exclude = set(cfg.features.exclude or [])
    unknown = exclude - set(df.columns)
    if unknown:
        raise ValueError(f"features.exclude names columns not in the table: {sorted(unknown)}")
    include = cfg.features.include
    if include is None:
        cols = [c for c in df.columns if c not in reserved | exclude]
    elif isinstance(include, str):
        rx = compile_user_pattern(include, "features.include")
        cols = [c for c in df.columns if rx.search(str(c)) and c not in reserved | exclude]
    else:
        missing = [c for c in include if c not in df.columns]
        if missing:
            raise ValueError(f"features.include names columns not in the table: {missing}")
        cols = [c for c in include if c not in reserved | exclude]
    if not cols:
        raise ValueError("no feature columns left after removing id/target/batch/groups/exclude")
    if batch is None:
        sitey = [c for c in cols if str(c).lower() in _SITE_LIKE]
        if sitey:
            warnings.warn(f"column(s) {sitey} are used as model features; if they name the site or scanner, set "
                          f"batch: {sitey[0]} (or --batch {sitey[0]}) to keep them out", stacklevel=3)
    return cols


def _check_feature_values(df: pd.DataFrame, features: list, notes: list) -> None:
    """Refuse what a model cannot use silently; note what carries no information.

    A text column whose values are mostly numbers holds junk ("<0.5", "n.d.") that would otherwise turn a
    lab value into a many-level category; infinite values have no place in a feature. Constant and empty
    columns are kept (harmless) and named."""
    for c in features:
        s = df[c]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            obs = s.dropna().astype(str).str.strip()
            num = pd.to_numeric(obs, errors="coerce")
            if len(obs) >= 5 and num.notna().mean() >= 0.8 and num.isna().any():
                junk = sorted(obs[num.isna()].unique().tolist())
                raise ValueError(f"column {c!r} is numeric but holds {int(num.isna().sum())} non-numeric value(s) "
                                 f"{junk[:5]}: clean them (radiomix.merge reads 'n.d.'-style values as missing) "
                                 "or exclude the column (features.exclude)")
        elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            if np.isinf(s.to_numpy(dtype=float, na_value=np.nan)).any():
                ids = df.index[np.isinf(s.to_numpy(dtype=float, na_value=np.nan))]
                raise ValueError(f"column {c!r} holds infinite values (ids {_names(ids, 5)}); only missing values "
                                 "(empty cells) are accepted")
    empty = [c for c in features if df[c].isna().all()]
    constant = [c for c in features if c not in empty and df[c].nunique(dropna=True) <= 1]
    if empty:
        notes.append(f"{len(empty)} feature column(s) have no value at all and carry no information: {_names(empty)}")
    if constant:
        notes.append(f"{len(constant)} feature column(s) are constant and carry no information: {_names(constant)}")


def _model_input(df: pd.DataFrame, cols: list, cfg: Settings) -> pd.DataFrame:
    """The feature columns (text -> categorical, bool -> float) plus the batch column for ComBat."""
    batch = cfg.batch
    keep = cols + ([batch] if cfg.harmonize.method == "combat" else [])
    X = df[keep].copy()
    for c in cols:
        if X[c].dtype == bool:
            X[c] = X[c].astype(float)
        elif not pd.api.types.is_numeric_dtype(X[c]) and not isinstance(X[c].dtype, pd.CategoricalDtype):
            X[c] = X[c].astype("category")
    if batch is not None and batch in X.columns:
        X[batch] = X[batch].astype(str)
    return X


def _resolve_columns(spec, columns: list, what: str) -> list:
    """A list of columns or a regular expression, against ``columns``."""
    if spec is None:
        return []
    if isinstance(spec, str):
        rx = compile_user_pattern(spec, what)
        return [c for c in columns if rx.search(str(c))]
    missing = [c for c in spec if c not in columns]
    if missing:
        raise ValueError(f"{what} names columns that are not feature columns of the table: {_names(missing)}")
    return list(spec)


def _blocks(features: pd.DataFrame, attrs: dict, cfg: Settings) -> tuple[dict, list]:
    """Column blocks and the numeric columns that fit none.

    The extraction/merge record (``attrs``) decides, else pyradiomics names; ``features.groups`` in the
    config may name (override) the radiomic, clinical and genetic blocks by list or regex. Non-numeric
    columns outside every block are clinical (extractors write numbers); numeric ones are ``unassigned``
    (and modelled with the clinical block, as before, but said)."""
    from .tables import column_groups

    probe = features.copy()
    probe.attrs = attrs
    groups = column_groups(probe)
    cols = list(features.columns)
    for name, spec in (cfg.features.groups or {}).items():
        if name in ("radiomic", "clinical", "genetic"):
            groups[name] = _resolve_columns(spec, cols, f"features.groups.{name}")
    blocks = {k: [c for c in v if c in cols] for k, v in groups.items()}
    assigned = set(blocks["radiomic"]) | set(blocks["clinical"]) | set(blocks["genetic"])
    rest = [c for c in cols if c not in assigned]
    numeric = [c for c in rest if pd.api.types.is_numeric_dtype(features[c]) or features[c].dtype == bool]
    blocks["clinical"] = blocks["clinical"] + rest
    return blocks, numeric


def _harmonized_columns(cfg: Settings, X: pd.DataFrame, features: list, categorical: list, blocks: dict,
                        unassigned: list, notes: list) -> tuple[list, list]:
    """The columns ComBat harmonizes (``harmonize.features``) and those ``harmonize.exclude`` keeps out."""
    h = cfg.harmonize
    if h.method != "combat":
        return [], []
    covs = set(h.covariates or [])
    numeric = [c for c in features if c not in categorical and c not in covs]
    excluded = [c for c in _resolve_columns(h.exclude or None, features, "harmonize.exclude") if c in numeric]
    spec = h.features
    if spec == "radiomic":
        harmonized = [c for c in blocks["radiomic"] if c in numeric and c not in excluded]
        loose = [c for c in unassigned if c in numeric and c not in excluded]
        if loose or not harmonized:
            raise ValueError(
                f"ComBat would harmonize {len(harmonized)} radiomic column(s) and leave {len(loose)} numeric "
                f"column(s) that fit no block raw beside them: {_names(loose)}. A half-harmonized table reveals the "
                "site. Set harmonize.features: all (every numeric feature column), name the radiomic columns in "
                "features.groups.radiomic (list or regex), or keep columns out with harmonize.exclude")
    elif spec == "all":
        harmonized = [c for c in numeric if c not in excluded]
    else:
        harmonized = [c for c in _resolve_columns(spec, features, "harmonize.features") if c not in excluded]
        bad = [c for c in harmonized if c not in numeric]
        if bad:
            raise ValueError(f"harmonize.features names columns ComBat cannot harmonize (non-numeric or "
                             f"covariates): {_names(bad)}")
    if not harmonized:
        raise ValueError("harmonize.method is 'combat' but no column is left to harmonize")
    left = [c for c in numeric if c not in harmonized and c not in excluded]
    msg = f"ComBat harmonizes {len(harmonized)} column(s) (harmonize.features: {spec if isinstance(spec, str) else 'list'})"
    if excluded:
        msg += f"; {len(excluded)} kept out by harmonize.exclude: {_names(excluded)}"
    if left:
        msg += f"; {len(left)} other numeric feature column(s) are not harmonized: {_names(left)}"
    notes.append(msg)
    return harmonized, excluded
