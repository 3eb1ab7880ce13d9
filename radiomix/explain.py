"""SHAP explanations of fitted radiomix pipelines, mapped back to the input feature names.

SHAP values are computed for the model step of a Pipeline, in the space of the features that enter it
(every step but the last applied to ``X``: after ComBat, imputation, encoding, scaling and selection;
samplers skipped, see :func:`transform_for_model`). Each transformed column is then mapped back to the input
column it came from: a one-hot column (``sex_F``) and a missingness indicator (``missingindicator_LDH``)
belong to their source column, and the SHAP values of all columns of one source are **summed** (SHAP
values are additive, so the sum is the source column's contribution). The value shown for a feature is
the patient's input value (before harmonization or scaling).

Explainers: ``TreeExplainer`` for XGBoost and scikit-learn tree ensembles (XGBoost: log-odds, forests:
probability of class 1), ``LinearExplainer`` for linear models (log-odds for logistic regression: the
values sum with the base value to ``decision_function``), and a permutation explainer on the probability of
class 1 for anything else (SVM, kNN, PLS-DA, recalibrated models). Background data for the linear and
permutation explainers are the (transformed) training rows of each model.

Three entry points:

* :func:`nested_cv_shap` fits the outer-fold models exactly as :func:`radiomix.evaluate.nested_cv` does
  (same folds, searches and seeds for a ``random_state``) and explains each on its own test patients;
* :func:`fold_shap` explains models you already have: a list of ``(fitted_pipeline, test_index)`` pairs
  (optionally ``(pipeline, test_index, train_index)``);
* :func:`explain_model` explains a final :class:`radiomix.model.RadiomixModel` on a table.

All return a :class:`ShapResult`; ``.importance()`` aggregates across folds (mean |SHAP|, how often a
feature survived selection, direction of effect) and ``.tidy()`` gives per-patient explanations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .steps import transform_for_model, unwrap_correction

#: ``_estimator_type`` of estimators that predict a risk score (scikit-survival's convention, which radiomix's
#: survival models follow): explained on their risk, not as classifiers or regressors.
RISK_ESTIMATOR_TYPES = ("survival",)

__all__ = ["ShapResult", "fold_shap", "nested_cv_shap", "explain_model", "explain_pipeline", "source_columns",
           "transform_for_model", "unwrap_correction"]


def _spearman_directions(data: pd.DataFrame, values: pd.DataFrame, used_rows: pd.DataFrame) -> dict:
    """Per column: Spearman's correlation of the feature's input value and its SHAP value over the rows whose
    model used it (NaN for categorical or constant features, or fewer than 3 such rows). Columns used on every
    row without missing values (the common case) are done at once: Pearson's correlation of average ranks, which
    is Spearman's rho (scipy's ``spearmanr``, the oracle in the tests)."""
    from scipy.stats import rankdata, spearmanr

    direction, full = {}, []
    for c in values.columns:
        x = pd.to_numeric(data[c], errors="coerce") if _is_numeric(data[c]) else None
        used = used_rows[c].to_numpy(bool)
        if x is None or used.sum() < 3:
            direction[c] = np.nan
            continue
        ok = used & x.notna().to_numpy()
        if ok.all():
            full.append(c)
            continue
        xs, ss = x.to_numpy(float)[ok], values[c].to_numpy(float)[ok]
        if ok.sum() < 3 or np.ptp(xs) == 0 or np.ptp(ss) == 0:
            direction[c] = np.nan
            continue
        direction[c] = float(spearmanr(xs, ss).statistic)
    if full:
        rx = rankdata(data[full].apply(pd.to_numeric, errors="coerce").to_numpy(float), axis=0)
        rs = rankdata(values[full].to_numpy(float), axis=0)
        rx, rs = rx - rx.mean(axis=0), rs - rs.mean(axis=0)
        den = np.sqrt((rx ** 2).sum(axis=0) * (rs ** 2).sum(axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.where(den > 0, (rx * rs).sum(axis=0) / np.where(den > 0, den, 1.0), np.nan)
        direction.update({c: float(r) for c, r in zip(full, rho)})
    return {c: direction[c] for c in values.columns}


@dataclass
class ShapResult:
    """SHAP values of one or several fitted models, per patient and input feature.

    values : DataFrame, one row per explained patient and fold (index: ``repeat, fold, id``), one column
        per input feature; a feature that did not enter a fold's model (removed by selection) has SHAP 0.
    data : DataFrame of the same shape: the patients' input values (numeric columns as numbers,
        categorical ones as text).
    base_values : Series (same index): the explainer's expected value; ``base + values.sum(axis=1)`` is
        the model output (``output``: ``"log-odds"`` or ``"probability"``).
    selected : DataFrame, one row per fold (index ``repeat, fold``), one boolean column per input feature:
        did the feature (or one of its encoded columns) enter that fold's model?
    explainer : the SHAP explainer type used per fold.
    models : for :func:`nested_cv_shap`, the fitted fold models as ``(pipeline, test_index)`` pairs.
    """

    values: pd.DataFrame
    data: pd.DataFrame
    base_values: pd.Series
    selected: pd.DataFrame
    output: str
    explainer: list = field(default_factory=list)
    models: list = field(default_factory=list)

    def __repr__(self) -> str:
        n_folds = len(self.selected)
        return (f"ShapResult({len(self.values)} explained rows, {self.values.shape[1]} features, {n_folds} "
                f"model(s), output {self.output})")

    def importance(self) -> pd.DataFrame:
        """Per input feature, sorted by ``mean_abs_shap``.

        ``mean_abs_shap``: mean |SHAP| over all explained rows (0 where a fold dropped the feature);
        ``sd_fold``: standard deviation across folds of each fold's mean |SHAP|; ``selected_fraction``:
        fraction of folds whose model used the feature; ``direction``: Spearman correlation of the
        feature's input value and its SHAP value over the rows whose model used it (positive: higher
        values raise the predicted risk; NaN for categorical or constant features).
        """
        absv = self.values.abs()
        per_fold = absv.groupby(level=["repeat", "fold"]).mean()
        sel_rows = self.selected.reindex(self.values.index.droplevel("id"))
        sel_rows.index = self.values.index
        direction = _spearman_directions(self.data, self.values, sel_rows)
        out = pd.DataFrame({
            "mean_abs_shap": absv.mean(),
            "sd_fold": per_fold.std(ddof=1) if len(per_fold) > 1 else np.nan,
            "selected_fraction": self.selected.mean(),
            "direction": pd.Series(direction),
        })
        out.index.name = "feature"
        return out.sort_values("mean_abs_shap", ascending=False)

    def save(self, folder, prefix: str = "shap") -> dict:
        """Write ``{prefix}.parquet`` (SHAP values, index columns ``repeat, fold, id`` and the base value),
        ``{prefix}_data.parquet`` (the explained inputs) and ``{prefix}_folds.parquet`` (which features each
        fold's model used), each atomically; features no fold used (SHAP 0 everywhere) are left out. The
        output units and explainers are kept in the values file's metadata. Returns ``{name: path}``; read
        back with :meth:`load`."""
        from pathlib import Path

        from .io import write_table

        folder = Path(folder)
        keep = [c for c in self.values.columns if bool(self.selected[c].any()) or bool(self.values[c].ne(0).any())]
        vals = self.values[keep].copy()
        vals.insert(0, "base_value", self.base_values.reindex(vals.index).to_numpy(float))
        vals.columns = ["base_value"] + [f"shap:{c}" for c in keep]
        data = self.data[keep].copy()
        for c in data.columns:
            if not _is_numeric(data[c]):
                data[c] = data[c].astype("string")
        meta = {"output": self.output, "explainer": list(self.explainer), "features": keep}
        return {prefix: write_table(vals.reset_index(), folder / f"{prefix}.parquet", metadata=meta, index=False),
                f"{prefix}_data": write_table(data.reset_index(drop=True), folder / f"{prefix}_data.parquet",
                                              index=False),
                f"{prefix}_folds": write_table(self.selected[keep].reset_index(), folder / f"{prefix}_folds.parquet",
                                               index=False)}

    @classmethod
    def load(cls, folder, prefix: str = "shap") -> ShapResult:
        """Read what :meth:`save` wrote (no fitted models: ``models`` is empty)."""
        import json
        from pathlib import Path

        import pyarrow.parquet as pq

        folder = Path(folder)
        table = pq.read_table(folder / f"{prefix}.parquet")
        meta = json.loads((table.schema.metadata or {}).get(b"radiomix", b"{}"))
        vals = table.to_pandas().set_index(["repeat", "fold", "id"])
        feats = meta.get("features") or [c[len("shap:"):] for c in vals.columns if c.startswith("shap:")]
        base = vals["base_value"]
        values = vals[[f"shap:{c}" for c in feats]]
        values.columns = feats
        data = pq.read_table(folder / f"{prefix}_data.parquet").to_pandas()
        data.index = values.index
        for c in data.columns:
            if isinstance(data[c].dtype, pd.StringDtype):
                data[c] = data[c].astype(object).where(data[c].notna(), None)
        folds = pq.read_table(folder / f"{prefix}_folds.parquet").to_pandas().set_index(["repeat", "fold"])
        return cls(values=values, data=data[feats], base_values=base, selected=folds[feats].astype(bool),
                   output=meta.get("output", ""), explainer=list(meta.get("explainer", [])))

    def tidy(self, top: int | None = None) -> pd.DataFrame:
        """Per-patient explanations, one row per explained row and feature: ``repeat, fold, patient,
        feature, value, shap, base_value`` (``top``: only each patient's ``top`` largest |SHAP|)."""
        v = self.values.stack(future_stack=True).rename("shap")
        d = self.data.astype(object).stack(future_stack=True).rename("value")
        out = pd.concat([d, v], axis=1).reset_index()
        out.columns = ["repeat", "fold", "patient", "feature", "value", "shap"]
        out["base_value"] = self.base_values.reindex(
            pd.MultiIndex.from_frame(out[["repeat", "fold", "patient"]])).to_numpy()
        if top is not None:
            out = (out.assign(_a=out["shap"].abs()).sort_values(["repeat", "fold", "patient", "_a"],
                                                                ascending=[True, True, True, False])
                   .groupby(["repeat", "fold", "patient"], sort=False).head(top).drop(columns="_a"))
        return out.reset_index(drop=True)


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


# ------------------------------------------------------------------------------------------- mapping
def source_columns(output_names, input_columns) -> list[str]:
    """The input column each transformed column comes from.

    Exact names map to themselves; ``missingindicator_<col>`` maps to ``<col>``; a one-hot column
    ``<col>_<level>`` maps to the longest input column name ``<col>`` it starts with. A name matching
    nothing (a column a custom step created) is kept as its own feature.
    """
    inputs = [str(c) for c in input_columns]
    known = set(inputs)
    by_len = sorted(inputs, key=len, reverse=True)
    out = []
    for name in map(str, output_names):
        if name in known:
            out.append(name)
            continue
        if name.startswith("missingindicator_") and name[len("missingindicator_"):] in known:
            out.append(name[len("missingindicator_"):])
            continue
        out.append(next((c for c in by_len if name.startswith(c + "_")), name))
    return out


# ---------------------------------------------------------------------------------------- explainers
def _split(pipeline):
    """(pre-processing part or None, final estimator)."""
    pipeline = unwrap_correction(pipeline)[0]
    if hasattr(pipeline, "steps"):
        pre = pipeline[:-1] if len(pipeline.steps) > 1 else None
        return pre, pipeline.steps[-1][1]
    return None, pipeline


def _kind(model) -> str:
    from sklearn.ensemble import StackingClassifier

    if isinstance(model, StackingClassifier):
        raise ValueError("late fusion (a StackingClassifier) is not supported by radiomix.explain yet; "
                         "explain each block's pipeline (model.named_estimators_[block]) on its own")
    name = type(model).__module__ + "." + type(model).__name__
    if name.startswith("xgboost."):
        return "xgboost"
    from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    if isinstance(model, (RandomForestClassifier, ExtraTreesClassifier, DecisionTreeClassifier,
                          GradientBoostingClassifier)):
        return "tree"
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier

    if isinstance(model, (LogisticRegression, LinearDiscriminantAnalysis, RidgeClassifier, SGDClassifier)) \
            and np.ndim(model.coef_) == 2 and model.coef_.shape[0] == 1:
        return "linear"
    return "permutation"


def _explain_matrix(model, Xt: pd.DataFrame, background: pd.DataFrame, random_state=0, max_background=50):
    """SHAP values (n, p), base values (n,), output scale and explainer name for one model on ``Xt``."""
    import shap
    from sklearn.base import is_regressor

    if getattr(model, "_estimator_type", None) in RISK_ESTIMATOR_TYPES:
        return _explain_survival(model, Xt, background, random_state, max_background)
    if is_regressor(model):
        return _explain_regression(model, Xt, background, random_state, max_background)
    kind = _kind(model)
    if kind == "xgboost":
        ex = shap.TreeExplainer(model)
        sv = np.asarray(ex.shap_values(Xt), float)
        base = np.full(len(Xt), float(np.ravel(ex.expected_value)[-1]))
        return sv, base, "log-odds", "TreeExplainer"
    if kind == "tree":
        ex = shap.TreeExplainer(model)
        sv = np.asarray(ex.shap_values(Xt.to_numpy(float)), float)
        if sv.ndim == 3:  # (n, p, classes): the positive class
            sv = sv[:, :, 1]
        base = np.full(len(Xt), float(np.ravel(ex.expected_value)[-1]))
        return sv, base, "probability", "TreeExplainer"
    if kind == "linear":
        bg = background.to_numpy(float)
        ex = shap.LinearExplainer((model.coef_, model.intercept_), bg)
        sv = np.asarray(ex.shap_values(Xt.to_numpy(float)), float).reshape(len(Xt), Xt.shape[1])
        base = np.full(len(Xt), float(np.ravel(ex.expected_value)[0]))
        return sv, base, "log-odds", "LinearExplainer"
    cols = list(Xt.columns)
    bg = background
    if len(bg) > max_background:
        bg = bg.sample(max_background, random_state=random_state)

    named = hasattr(model, "feature_names_in_")

    def f(a):
        a = pd.DataFrame(a, columns=cols).astype(Xt.dtypes.to_dict()) if named else a
        return model.predict_proba(a)[:, 1]

    ex = shap.PermutationExplainer(f, shap.maskers.Independent(bg.to_numpy(float), max_samples=len(bg)),
                                   seed=random_state)
    exp = ex(Xt.to_numpy(float), max_evals=2 * Xt.shape[1] + 1 if Xt.shape[1] > 0 else 10, silent=True)
    return np.asarray(exp.values, float), np.asarray(exp.base_values, float).ravel(), "probability", \
        "PermutationExplainer"


def _permutation(f, Xt: pd.DataFrame, background: pd.DataFrame, random_state, max_background):
    """Permutation SHAP of a function of the model's input rows (an array)."""
    import shap

    bg = background if len(background) <= max_background else background.sample(max_background,
                                                                                  random_state=random_state)
    ex = shap.PermutationExplainer(f, shap.maskers.Independent(bg.to_numpy(float)), seed=random_state)
    exp = ex(Xt.to_numpy(float), max_evals=2 * Xt.shape[1] + 1 if Xt.shape[1] > 0 else 10, silent=True)
    return np.asarray(exp.values, float), np.asarray(exp.base_values, float).ravel()


def _as_input(model, Xt: pd.DataFrame):
    """A function turning an array of rows back into what ``model`` was fitted on (named columns or not)."""
    if not hasattr(model, "feature_names_in_"):
        return lambda a: a
    cols, dtypes = list(Xt.columns), Xt.dtypes.to_dict()
    return lambda a: pd.DataFrame(a, columns=cols).astype(dtypes)


def _explain_regression(model, Xt: pd.DataFrame, background: pd.DataFrame, random_state=0, max_background=50):
    """SHAP values of a regression model's prediction: TreeExplainer for XGBoost and tree ensembles, exact
    linear SHAP for linear models, permutation SHAP of ``predict`` otherwise."""
    import shap
    from sklearn.ensemble import ExtraTreesRegressor, GradientBoostingRegressor, RandomForestRegressor

    name = type(model).__module__
    if name.startswith("xgboost.") or isinstance(model, (RandomForestRegressor, ExtraTreesRegressor,
                                                         GradientBoostingRegressor)):
        ex = shap.TreeExplainer(model)
        sv = np.asarray(ex.shap_values(Xt.to_numpy(float)), float)
        return sv, np.full(len(Xt), float(np.ravel(ex.expected_value)[-1])), "prediction", "TreeExplainer"
    coef = getattr(model, "coef_", None)
    if coef is not None and np.ndim(coef) == 1 and np.ndim(getattr(model, "intercept_", 0.0)) == 0:
        ex = shap.LinearExplainer((np.asarray(coef, float), float(model.intercept_)), background.to_numpy(float))
        sv = np.asarray(ex.shap_values(Xt.to_numpy(float)), float).reshape(len(Xt), Xt.shape[1])
        return sv, np.full(len(Xt), float(np.ravel(ex.expected_value)[0])), "prediction", "LinearExplainer"
    to_input = _as_input(model, Xt)
    sv, base = _permutation(lambda a: np.asarray(model.predict(to_input(a)), float).ravel(), Xt, background,
                            random_state, max_background)
    return sv, base, "prediction", "PermutationExplainer"


def _explain_class(model, Xt: pd.DataFrame, background: pd.DataFrame, c: int, random_state=0, max_background=50):
    """SHAP values of one class of a multiclass model: its softmax margin (XGBoost: TreeExplainer; multinomial
    linear models: exact linear SHAP of the class's linear predictor), else permutation SHAP of its probability."""
    import shap

    _kind(model)  # refuses late fusion
    if type(model).__module__.startswith("xgboost."):
        ex = shap.TreeExplainer(model)
        sv = np.asarray(ex.shap_values(Xt.to_numpy(float)), float)
        sv = sv[:, :, c] if sv.ndim == 3 else sv
        return sv, np.full(len(Xt), float(np.ravel(ex.expected_value)[c])), "class margin (softmax logit)", \
            "TreeExplainer"
    coef = getattr(model, "coef_", None)
    if coef is not None and np.ndim(coef) == 2 and coef.shape[0] > 1:
        ex = shap.LinearExplainer((np.asarray(coef[c], float), float(model.intercept_[c])), background.to_numpy(float))
        sv = np.asarray(ex.shap_values(Xt.to_numpy(float)), float).reshape(len(Xt), Xt.shape[1])
        return sv, np.full(len(Xt), float(np.ravel(ex.expected_value)[0])), "class margin (softmax logit)", \
            "LinearExplainer"
    to_input = _as_input(model, Xt)
    sv, base = _permutation(lambda a: model.predict_proba(to_input(a))[:, c], Xt, background, random_state,
                            max_background)
    return sv, base, "class probability", "PermutationExplainer"


def _explain_survival(model, Xt: pd.DataFrame, background: pd.DataFrame, random_state=0, max_background=50):
    """SHAP values of a survival model's risk score: exact linear SHAP of a Cox model's log hazard ratio
    (``coef_``), TreeExplainer of XGBoost's margin (Cox: log hazard ratio; AFT: minus log time, the sign
    flipped so higher means higher risk as ``predict`` does), permutation SHAP of ``predict`` otherwise."""
    import shap

    if hasattr(model, "coef_"):
        bg = background.to_numpy(float)
        ex = shap.LinearExplainer((np.asarray(model.coef_, float), -float(getattr(model, "offset_", 0.0))), bg)
        sv = np.asarray(ex.shap_values(Xt.to_numpy(float)), float).reshape(len(Xt), Xt.shape[1])
        return sv, np.full(len(Xt), float(np.ravel(ex.expected_value)[0])), "log-hazard", "LinearExplainer"
    if hasattr(model, "booster_"):
        ex = shap.TreeExplainer(model.booster_)
        sign = 1.0 if model.objective == "survival:cox" else -1.0
        sv = sign * np.asarray(ex.shap_values(Xt.to_numpy(float)), float)
        base = np.full(len(Xt), sign * float(np.ravel(ex.expected_value)[-1]))
        return sv, base, ("log-hazard" if sign > 0 else "minus log time"), "TreeExplainer"
    to_input = _as_input(model, Xt)
    sv, base = _permutation(lambda a: np.asarray(model.predict(to_input(a)), float), Xt, background, random_state,
                            max_background)
    return sv, base, "risk score", "PermutationExplainer"


def explain_pipeline(pipeline, X: pd.DataFrame, background: pd.DataFrame | None = None, *, features=None,
                     random_state: int = 0, class_index: int | None = None):
    """SHAP values of one fitted Pipeline on the rows of ``X``, summed per input column.

    Returns ``(values, base_values, selected, output, explainer)``: ``values`` a DataFrame (rows of ``X``,
    one column per input feature: ``features`` or ``X``'s columns), ``selected`` the input features that
    entered the model. ``background`` (input rows, default ``X``) is the reference data of the linear and
    permutation explainers.

    A model with a probability correction (:class:`radiomix.calibration.RecalibratedClassifier`) is
    explained through the pipeline it corrects: a logit-linear correction (sigmoid, prevalence) of a
    log-odds explanation is exact (values times the slope, base value ``a + b * base``), so base + sum is the
    corrected log-odds; otherwise the output is labelled as before the correction. ``class_index`` (multiclass
    models) explains that class's output: its margin for XGBoost and linear models, its probability otherwise.
    """
    features = [str(c) for c in (features if features is not None else X.columns)]
    pipeline, correction = unwrap_correction(pipeline)
    model = _split(pipeline)[1]
    Xt = transform_for_model(pipeline, X)
    Bt = Xt if background is None else transform_for_model(pipeline, background)
    if class_index is not None:
        sv, base, output, name = _explain_class(model, Xt, Bt, class_index, random_state=random_state)
    else:
        sv, base, output, name = _explain_matrix(model, Xt, Bt, random_state=random_state)
    if correction is not None:
        if correction.logit_linear and output == "log-odds":
            sv, base = sv * correction.slope_, correction.intercept_ + correction.slope_ * base
        else:
            output = f"{output} before the {correction.method} correction"
    src = source_columns(Xt.columns, features)
    M = pd.DataFrame(sv, index=X.index, columns=range(sv.shape[1])).T.groupby(np.asarray(src), sort=False).sum().T
    extra = [c for c in M.columns if c not in features]
    values = M.reindex(columns=features + extra, fill_value=0.0)
    return values, base, set(src), output, name


# ---------------------------------------------------------------------------------------- entry points
def _input_data(X: pd.DataFrame, features) -> pd.DataFrame:
    d = X.reindex(columns=features)
    for c in d.columns:
        if not _is_numeric(d[c]):
            d[c] = d[c].astype(object).where(d[c].notna(), None).map(lambda v: v if v is None else str(v))
    return d


def fold_shap(cv_result_or_models, X: pd.DataFrame, *, ids=None, features=None, random_state: int = 0,
              class_index: int | None = None) -> ShapResult:
    """SHAP values of each outer-fold model on its own test rows.

    Parameters
    ----------
    cv_result_or_models : list, ShapResult or any object with a ``models`` list
        ``(fitted_pipeline, test_index)`` or ``(fitted_pipeline, test_index, train_index)`` tuples, or
        ``(pipeline, test_index, train_index, repeat, fold)``, or a :class:`ShapResult` with ``models``
        (from :func:`nested_cv_shap`), or a :class:`radiomix.evaluate.NestedCVResult` (its fold models; one
        without models, e.g. built from saved files, is refused with a pointer to :func:`nested_cv_shap`). Indices are positions in ``X``; the training rows (default: all
        rows not in the test fold) are the background of the linear and permutation explainers.
    X : DataFrame
        The feature table the models were trained on (as passed to the pipeline).
    ids : array-like, optional
        Patient ids (default: ``X``'s index as text).
    features : list of str, optional
        Input features to report (default: ``X``'s columns except a ComBat batch column, which ComBat
        drops).
    class_index : int, optional
        Multiclass models: explain this class (code in the model's class order).
    """
    models = getattr(cv_result_or_models, "models", cv_result_or_models)
    if models is None or not isinstance(models, (list, tuple)) or \
            (not models and not isinstance(cv_result_or_models, (list, tuple))):
        raise TypeError(f"fold_shap needs (fitted_pipeline, test_index) pairs or a result carrying .models; got "
                        f"{type(cv_result_or_models).__name__} without fitted models. A nested_cv result keeps its fold models "
                        "(result.models) only in the session that ran it: use radiomix.explain.nested_cv_shap(study) "
                        "to refit them")
    models = list(models)
    if not models:
        raise ValueError("no fitted models to explain")
    ids = np.asarray(ids if ids is not None else X.index).astype(str)
    if features is None:
        drop = set()
        for m in models:
            pre, _ = _split(m[0])
            for step in (pre.named_steps.values() if pre is not None else []):
                if getattr(step, "drop_batch", False) and getattr(step, "batch", None) in X.columns:
                    drop.add(step.batch)
        features = [str(c) for c in X.columns if c not in drop]
    Xr = X.reset_index(drop=True)
    Xr.columns = [str(c) for c in Xr.columns]
    frames, bases, data, sel_rows, kinds, outputs = [], [], [], [], [], set()
    for k, m in enumerate(models):
        pipe, test = m[0], np.asarray(m[1])
        train = np.asarray(m[2]) if len(m) > 2 and m[2] is not None else np.setdiff1d(np.arange(len(X)), test)
        repeat, fold = (int(m[3]), int(m[4])) if len(m) > 4 else (0, k)
        vals, base, used, output, name = explain_pipeline(pipe, Xr.iloc[test], Xr.iloc[train], features=features,
                                                          random_state=random_state, class_index=class_index)
        idx = pd.MultiIndex.from_arrays([np.full(len(test), repeat), np.full(len(test), fold), ids[test]],
                                        names=["repeat", "fold", "id"])
        vals.index = idx
        frames.append(vals)
        bases.append(pd.Series(base, index=idx))
        d = _input_data(Xr.iloc[test], vals.columns)
        d.index = idx
        data.append(d)
        sel_rows.append(pd.Series({c: c in used for c in vals.columns}, name=(repeat, fold)))
        kinds.append(name)
        outputs.add(output)
    values = pd.concat(frames).fillna(0.0)
    selected = pd.DataFrame(sel_rows).reindex(columns=values.columns, fill_value=False).astype(bool)
    selected.index = pd.MultiIndex.from_tuples(selected.index, names=["repeat", "fold"])
    return ShapResult(values=values, data=pd.concat(data).reindex(columns=values.columns),
                      base_values=pd.concat(bases), selected=selected, output="/".join(sorted(outputs)),
                      explainer=kinds, models=[(m[0], m[1]) for m in models])


def nested_cv_shap(study) -> ShapResult:
    """Fit the outer-fold models of a :class:`radiomix.study.Study` and explain each on its own test patients.

    Each fold is fitted by :func:`radiomix.evaluate.fit_outer_fold`, as in :func:`radiomix.evaluate.nested_cv`
    (same folds, searches, corrections and seeds), so the models are the ones whose predictions ``nested_cv``
    scored (without a time budget). The
    fitted models are kept in ``result.models``. (A finished ``nested_cv`` result already holds its fold
    models: ``fold_shap(result.models, study.X)`` explains them without refitting.)
    """
    from .model_selection.validation import fit_outer_fold

    models = []
    for f in study.outer_folds():
        models.append((fit_outer_fold(study, f).model, f.test, f.train, f.repeat, f.fold))
    # A Study from your own Pipeline has no column roles: report X's columns less a batch column ComBat drops.
    features = study.columns.features if study.columns.target is not None else None
    res = fold_shap(models, study.X, ids=study.ids, features=features, random_state=study.random_state)
    res.models = [(m[0], m[1]) for m in models]
    return res


def explain_model(model, table: pd.DataFrame, *, background: pd.DataFrame | None = None,
                  random_state: int = 0) -> ShapResult:
    """SHAP values of a final :class:`radiomix.model.RadiomixModel` for the patients of ``table``.

    ``table`` goes through ``model.check_table`` (the columns the model needs; ids from the id column);
    ``background`` (default ``table``) is the reference of the linear and permutation explainers: pass
    the training table to explain new patients against the training population. Rows get ``repeat``
    and ``fold`` 0.
    """
    X, ids = model.check_table(table)
    bg = X if background is None else model.check_table(background)[0]
    vals, base, used, output, name = explain_pipeline(model.pipeline, X, bg, features=model.features,
                                                      random_state=random_state)
    idx = pd.MultiIndex.from_arrays([np.zeros(len(X), int), np.zeros(len(X), int), ids], names=["repeat", "fold", "id"])
    vals.index = idx
    d = _input_data(X, vals.columns)
    d.index = idx
    sel = pd.DataFrame([{c: c in used for c in vals.columns}],
                       index=pd.MultiIndex.from_tuples([(0, 0)], names=["repeat", "fold"]))
    return ShapResult(values=vals, data=d, base_values=pd.Series(base, index=idx), selected=sel, output=output,
                      explainer=[name], models=[(model.pipeline, np.arange(len(X)))])
