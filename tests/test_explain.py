"""SHAP explanations: additivity against the models' margin output, names mapped back to input columns."""

import warnings

import numpy as np
import pandas as pd
import pytest

from radiomix.explain import (
    explain_model,
    fold_shap,
    nested_cv_shap,
    source_columns,
    transform_for_model,
    unwrap_correction,
)


def _table(n=90, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"original_firstorder_F{i}" for i in range(6)])
    X["age"] = rng.normal(60, 10, n)
    X["sex"] = rng.choice(["F", "M"], n)
    X["stage"] = rng.choice(["I", "II", "III"], n)
    X.loc[rng.choice(n, 8, replace=False), "original_firstorder_F1"] = np.nan
    logit = 1.5 * X["original_firstorder_F0"] - 0.8 * X["original_firstorder_F2"].fillna(0) + (X["sex"] == "M")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit + 0.5))).astype(int)
    return X.assign(id=[f"p{i:03d}" for i in range(n)], outcome=y, site=rng.choice(["A", "B"], n))


FAST = {"target": "outcome", "batch": "site", "search": {"n_candidates": 2}, "cv": {"outer": {"n_splits": 3}},
        "bootstrap": 0, "final_model": False}
XGB = {**FAST, "model": {"name": "xgboost", "params": {"n_estimators": 30, "tree_method": "hist", "nthread": 1},
                         "search": {"max_depth": [2, 3]}}}
LOGIT = {**FAST, "impute": {"method": "median"}, "select": {"mrmr": 5}, "balance": {"method": "smote"},
         "harmonize": {"method": "combat", "covariates": ["age"]},
         "model": {"name": "logistic", "params": {"C": 0.5}, "search": {"C": [0.1, 1.0]}}}


def _study(cfg, table):
    from radiomix.study import make_study

    return make_study(table, cfg)


def _model_input(cfg, table):
    study = _study(cfg, table)
    return study.X.set_axis(study.ids)


def _margin(pipe, X):
    from radiomix.model_selection.calibration import RecalibratedClassifier, logit

    if isinstance(pipe, RecalibratedClassifier):  # SMOTE + sigmoid correction: the corrected log-odds
        return logit(pipe.predict_proba(X)[:, 1])
    model = pipe.steps[-1][1]
    Xt = transform_for_model(pipe, X)
    if hasattr(model, "get_booster"):
        return model.predict(Xt, output_margin=True)
    return model.decision_function(Xt)


@pytest.mark.parametrize("cfg", [XGB, LOGIT], ids=["xgboost", "combat+logistic+mrmr+smote"])
def test_fold_shap_sums_to_margin(cfg):
    table = _table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = nested_cv_shap(_study(cfg, table))
    assert len(res.models) == 3 and res.output == "log-odds"
    assert set(res.values.columns) <= set(table.columns)          # names exist in the input table
    assert "sex" in res.values.columns and "site" not in res.values.columns
    X = _model_input(cfg, table)
    total = res.base_values + res.values.sum(axis=1)
    for k, (pipe, test) in enumerate(res.models):
        margin = _margin(pipe, X.iloc[test])
        got = total.xs(k, level="fold").to_numpy()
        np.testing.assert_allclose(got, margin, rtol=1e-4, atol=1e-4)
    ids = res.values.index.get_level_values("id")
    assert ids.is_unique and set(ids) == set(table["id"])  # every patient exactly once
    imp = res.importance()
    assert imp.index[0] in {"original_firstorder_F0", "sex", "original_firstorder_F2"}
    assert imp.loc["original_firstorder_F0", "direction"] > 0.5
    # The selection, read directly from each fold's fitted mRMR step (a RecalibratedClassifier, used with
    # SMOTE, is unwrapped to the pipeline it corrects).
    cols = list(res.values.columns)
    used = []
    for model, _ in res.models:
        pipe = unwrap_correction(model)[0]
        names = (source_columns(list(pipe.named_steps["mrmr"].get_feature_names_out()), cols)
                 if "mrmr" in pipe.named_steps else cols)
        used.append({c: c in set(names) for c in cols})
    used = pd.DataFrame(used)
    np.testing.assert_allclose(imp["selected_fraction"], used.mean()[imp.index])
    np.testing.assert_array_equal(res.selected.to_numpy(), used[list(res.selected.columns)].to_numpy())
    assert ("mrmr" in unwrap_correction(res.models[0][0])[0].named_steps) == (cfg is LOGIT)
    if cfg is LOGIT:  # ComBat drops the batch column; mRMR keeps 5 of 9 columns: unselected features have SHAP exactly 0 in that fold
        assert not used.all().all()  # some columns really were left out in some fold
        for (_r, k), row in res.selected.iterrows():
            dropped = [c for c in row.index if not row[c]]
            assert (res.values.xs(k, level="fold")[dropped] == 0).all().all()
    tidy = res.tidy(top=3)
    assert list(tidy.columns) == ["repeat", "fold", "patient", "feature", "value", "shap", "base_value"]
    assert tidy.groupby("patient").size().max() == 3
    again = fold_shap(res, X)
    pd.testing.assert_frame_equal(again.values, res.values)  # a ShapResult's models explained again
    _check_save_load(res)


def _check_save_load(res, tmp=None):
    import tempfile
    from pathlib import Path

    from radiomix.explain import ShapResult

    with tempfile.TemporaryDirectory() as d:
        files = res.save(Path(d), "heldout")
        assert sorted(p.name for p in files.values()) == ["heldout.parquet", "heldout_data.parquet",
                                                          "heldout_folds.parquet"]
        back = ShapResult.load(Path(d), "heldout")
    kept = [c for c in res.values.columns if res.selected[c].any() or res.values[c].ne(0).any()]
    pd.testing.assert_frame_equal(back.values, res.values[kept], check_names=False)
    pd.testing.assert_series_equal(back.base_values, res.base_values.astype(float), check_names=False)
    pd.testing.assert_frame_equal(back.selected, res.selected[kept], check_names=False)
    assert back.output == res.output and back.explainer == res.explainer
    for c in kept:  # inputs: numbers stay numbers, text stays text (None for missing)
        if pd.api.types.is_numeric_dtype(res.data[c]):
            np.testing.assert_allclose(back.data[c].to_numpy(float), res.data[c].to_numpy(float))
        else:
            assert back.data[c].tolist() == res.data[c].tolist()
    pd.testing.assert_frame_equal(back.importance(), res.importance()[lambda d: d.index.isin(kept)])


def test_nested_cv_result_is_refused_with_a_pointer():
    from radiomix.model_selection.validation import NestedCVResult

    with pytest.raises(TypeError, match="nested_cv_shap"):
        fold_shap(NestedCVResult(oof=pd.DataFrame(), folds=pd.DataFrame(), summary={}), pd.DataFrame())


def test_same_folds_and_models_as_nested_cv():
    from radiomix.model_selection.validation import nested_cv

    table = _table()
    cv = nested_cv(_study(LOGIT, table), progress=False)
    res = nested_cv_shap(_study(LOGIT, table))
    X = _model_input(LOGIT, table)
    for k, (pipe, test) in enumerate(res.models):
        o = cv.oof[cv.oof["fold"] == k].set_index("id")
        ids = X.index[test]
        np.testing.assert_allclose(pipe.predict_proba(X.iloc[test])[:, 1], o.loc[ids, "proba"], rtol=1e-10)


def test_pairs_with_sampler_and_forest():
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import Pipeline
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    table = _table()
    X = table[[f"original_firstorder_F{i}" for i in (0, 2, 3)] + ["age"]]
    y = table["outcome"].to_numpy()
    pairs = [(Pipeline([("scale", StandardScaler()), ("smote", SMOTE(random_state=0)),
                        ("model", RandomForestClassifier(n_estimators=20, random_state=0))])
              .set_output(transform="pandas").fit(X.iloc[tr], y[tr]), te)
             for tr, te in StratifiedKFold(3, shuffle=True, random_state=0).split(X, y)]
    res = fold_shap(pairs, X, ids=table["id"])
    assert res.output == "probability" and res.explainer == ["TreeExplainer"] * 3
    total = res.base_values + res.values.sum(axis=1)
    for k, (p, te) in enumerate(pairs):
        # SMOTE (last before the model) is skipped: the same rows come out as went in
        assert len(transform_for_model(p, X.iloc[te])) == len(te)
        np.testing.assert_allclose(total.xs(k, level="fold"), p.predict_proba(X.iloc[te])[:, 1], atol=1e-6)


def test_permutation_explainer_for_knn():
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    table = _table()
    X = table[[f"original_firstorder_F{i}" for i in range(4)]].fillna(0)
    y = table["outcome"].to_numpy()
    tr, te = train_test_split(np.arange(len(X)), test_size=10, random_state=0, stratify=y)
    pipe = make_pipeline(StandardScaler(), KNeighborsClassifier(7)).fit(X.iloc[tr], y[tr])
    res = fold_shap([(pipe, te, tr)], X)
    assert res.explainer == ["PermutationExplainer"]
    np.testing.assert_allclose(res.base_values + res.values.sum(axis=1), pipe.predict_proba(X.iloc[te])[:, 1],
                               atol=1e-6)


def test_final_model_and_one_hot_mapping():
    from radiomix.model import fit_final_model

    table = _table()
    cfg = {**LOGIT, "select": {"mrmr": None}, "final_model": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit_final_model(_study(cfg, table))
        res = explain_model(model, table)
    X, _ = model.check_table(table)
    from radiomix.model_selection.calibration import RecalibratedClassifier, logit

    assert isinstance(model.pipeline, RecalibratedClassifier)           # SMOTE: corrected on inner OOF
    pipe, slope = model.pipeline.estimator_, model.pipeline.slope_
    np.testing.assert_allclose(res.base_values + res.values.sum(axis=1),
                               logit(model.pipeline.predict_proba(X)[:, 1]), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.base_values + res.values.sum(axis=1),
                               model.pipeline.intercept_ + slope * pipe.steps[-1][1].decision_function(
                                   transform_for_model(pipe, X)), rtol=1e-6, atol=1e-8)
    # stage is one-hot encoded (3 columns): its SHAP is the sum of those columns' SHAP
    Xt = transform_for_model(pipe, X)
    onehot = [c for c in Xt.columns if c.startswith("stage_")]
    assert len(onehot) == 3
    coef = pd.Series(pipe.steps[-1][1].coef_[0], index=Xt.columns)
    centred = Xt[onehot] - Xt[onehot].mean()
    np.testing.assert_allclose(res.values["stage"].to_numpy(), slope * (centred * coef[onehot]).sum(axis=1),
                               atol=1e-10)
    tidy = res.tidy()
    assert set(tidy["feature"]) <= set(table.columns) and set(tidy["patient"]) == set(table["id"])
    assert tidy.loc[tidy["feature"] == "stage", "value"].isin(["I", "II", "III"]).all()


def test_source_columns():
    cols = ["sex", "sex_at_birth", "LDH", "a"]
    assert source_columns(["sex_F", "sex_at_birth_M", "missingindicator_LDH", "LDH", "new"], cols) == \
        ["sex", "sex_at_birth", "LDH", "LDH", "new"]


def test_importance_direction_is_spearman_per_feature():
    """The vectorized direction (ranks at once for fully used columns) equals scipy's spearmanr column by column,
    with a missing value, a constant, a categorical column and a feature one fold dropped."""
    from scipy.stats import spearmanr

    from radiomix.explain import ShapResult

    rng = np.random.default_rng(0)
    n = 40
    idx = pd.MultiIndex.from_tuples([(0, k // 20, f"p{k}") for k in range(n)], names=["repeat", "fold", "id"])
    data = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": 1.0,
                         "d": rng.choice(["x", "y"], n), "e": rng.normal(size=n)}, index=idx)
    data.loc[data.index[3], "b"] = np.nan
    values = pd.DataFrame(rng.normal(size=(n, 5)), columns=list("abcde"), index=idx)
    values["a"] = 0.5 * data["a"] + rng.normal(0, 0.3, n)
    selected = pd.DataFrame(True, index=pd.MultiIndex.from_tuples([(0, 0), (0, 1)], names=["repeat", "fold"]),
                            columns=list("abcde"))
    selected.loc[(0, 1), "e"] = False
    values.loc[values.index.get_level_values("fold") == 1, "e"] = 0.0
    imp = ShapResult(values=values, data=data, base_values=pd.Series(0.0, index=idx), selected=selected,
                     output="log-odds").importance()["direction"]
    ok_b = data["b"].notna()
    assert imp["a"] == pytest.approx(spearmanr(data["a"], values["a"]).statistic)
    assert imp["b"] == pytest.approx(spearmanr(data["b"][ok_b], values["b"][ok_b]).statistic)
    assert imp["e"] == pytest.approx(spearmanr(data["e"][:20], values["e"][:20]).statistic)
    assert np.isnan(imp["c"]) and np.isnan(imp["d"])
    assert imp["a"] > 0.5
