"""Training path: leakage canary, leave-one-site-out, late fusion, calibration, final model, predict/evaluate."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

from radiomix.cli import main
from radiomix.config import ConfigError, validate_config
from radiomix.metrics import calibration, decision_curve
from radiomix.model import load_model
from radiomix.model_selection.validation import nested_cv_table
from radiomix.select import MRMRSelector
from radiomix.train import train

FAST = {"model": {"name": "logistic", "params": {"C": 0.1}, "search": {"C": [0.01, 0.1, 1.0]}},
        "search": {"n_candidates": 2}, "bootstrap": 200, "final_model": False}


def test_leakage_canary_random_labels():
    # 1,000 pure-noise features, 100 samples, random labels: mRMR + tuning inside the folds must score ~0.5,
    # while selecting the features on all data first (the classic leak) scores far higher.
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(100, 1000)), columns=[f"f{i}" for i in range(1000)])
    y = rng.integers(0, 2, 100)
    table = X.assign(id=[f"p{i}" for i in range(100)], y=y)
    cfg = {**FAST, "target": "y", "select": {"mrmr": 10}, "cv": {"outer": {"n_repeats": 2}}}
    honest = nested_cv_table(table, cfg, progress=False).summary["auc"]["estimate"]
    assert abs(honest - 0.5) < 0.1

    leaked_cols = MRMRSelector(n_features=10).fit(X, y).get_feature_names_out()
    leaky = nested_cv_table(table[list(leaked_cols) + ["id", "y"]],
                           {**FAST, "target": "y", "cv": {"outer": {"n_repeats": 2}}}, progress=False).summary["auc"]["estimate"]
    assert leaky > 0.75 and leaky - honest > 0.2


@pytest.fixture(scope="module")
def cohort_table(demo_features):
    from radiomix.tables import merge

    feats, cohort = demo_features
    return merge(feats, clinical=cohort.clinical, genetic=cohort.genetic, verbose=False).reset_index()


@pytest.mark.slow
def test_leave_one_site_out_with_combat(cohort_table, tmp_path):
    cfg = {**FAST, "target": "outcome", "batch": "site",
           "harmonize": {"method": "combat", "covariates": ["age"], "unseen": "estimate"},
           "impute": {"method": "median"}, "select": {"mrmr": 10}, "balance": {"method": "smote"},
           "cv": {"outer": {"kind": "leave_site_out"}}, "final_model": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train(cohort_table, cfg, out=tmp_path / "run", progress=False)
    folds = res.cv.folds
    assert sorted(folds["test_site"]) == ["site_A", "site_B", "site_C"]
    per_site = res.cv.summary["per_site"]
    assert set(per_site) == {"site_A", "site_B", "site_C"} and all(s["n"] == 20 for s in per_site.values())
    # Each fold's metric equals the per-site AUC computed from the saved out-of-fold predictions.
    from sklearn.metrics import roc_auc_score

    oof = pd.read_csv(tmp_path / "run" / "oof_predictions.csv")
    for _, f in folds.iterrows():
        o = oof[oof["site"] == f["test_site"]]
        assert f["auc"] == pytest.approx(roc_auc_score(o["y"], o["proba"]))
    assert res.cv.summary["auc"]["estimate"] > 0.6
    # The saved model (ComBat + imputation + mRMR + SMOTE + model) loads and reproduces its fitted predictions.
    model = load_model(tmp_path / "run" / "model.skops")
    X, _ = model.check_table(cohort_table)
    pred = model.predict(cohort_table)
    np.testing.assert_allclose(pred["proba"], res.model.pipeline.predict_proba(X)[:, 1], rtol=1e-12)


def test_late_fusion_reports_blocks(cohort_table):
    cfg = {**FAST, "target": "outcome", "batch": "site", "impute": {"method": "median"},
           "model": {"name": "logistic", "params": {"C": 0.1}, "search": {}}, "cv": {"outer": {"n_splits": 3}},
           "fusion": {"mode": "late", "blocks": ["radiomic", "clinical", "genetic"]}}
    res = nested_cv_table(cohort_table, cfg, progress=False)
    blocks = res.summary["blocks"]
    assert set(blocks) == {"radiomic", "clinical", "genetic"}
    from _refs import delong_se
    from scipy.stats import norm
    from sklearn.metrics import roc_auc_score

    oof = res.oof
    for name, b in blocks.items():
        yb, pb = oof["y"].to_numpy(), oof[f"proba_{name}"].to_numpy()
        assert b["auc"]["estimate"] == pytest.approx(roc_auc_score(yb, pb))
        width = b["auc"]["ci_high"] - b["auc"]["ci_low"]
        assert width == pytest.approx(2 * norm.ppf(0.975) * delong_se(yb, pb), rel=0.25), name
    assert {"proba_radiomic", "proba_clinical", "proba_genetic"} <= set(res.oof.columns)
    assert res.summary["auc"]["estimate"] > 0.6


def test_grouped_outer_folds_never_split_a_patient():
    rng = np.random.default_rng(1)
    n = 120
    patient = np.repeat(np.arange(40), 3)
    t = pd.DataFrame(rng.normal(size=(n, 5)), columns=list("abcde"))
    t["y"] = np.repeat(rng.integers(0, 2, 40), 3)
    t["a"] += t["y"]
    t["id"], t["patient"] = [f"l{i}" for i in range(n)], patient
    res = nested_cv_table(t, {**FAST, "target": "y", "groups": "patient", "cv": {"outer": {"kind": "grouped"}}},
                         progress=False)
    fold_of = res.oof.merge(t[["id", "patient"]], on="id").groupby("patient")["fold"].nunique()
    assert (fold_of == 1).all()


def test_calibration_and_decision_curve_against_references():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, 4000)
    y = rng.binomial(1, p)
    c = calibration(y, p)
    assert abs(c["intercept"]) < 0.1 and abs(c["slope"] - 1) < 0.1  # well calibrated by construction
    lp = np.log(p / (1 - p))
    ref = LogisticRegression(C=np.inf, max_iter=1000).fit(lp[:, None], y)
    assert c["slope"] == pytest.approx(ref.coef_[0, 0], rel=1e-4)  # lbfgs stops at its own tolerance
    over = calibration(y, 1 / (1 + np.exp(-2 * lp)))  # over-confident predictions: slope ~ 0.5
    assert over["slope"] == pytest.approx(0.5, abs=0.06)
    dc = decision_curve([1, 0, 1, 0], [0.9, 0.6, 0.3, 0.1], thresholds=[0.5])
    assert dc["net_benefit"][0] == pytest.approx(1 / 4 - 1 / 4 * 1.0)
    assert dc["treat_all"][0] == pytest.approx(0.5 - 0.5 * 1.0)


@pytest.mark.parametrize("cfg, match", [
    ({"harmonize": {"method": "combat"}}, "needs a batch column"),
    ({"batch": "site", "harmonize": {"covariates": ["outcome"]}}, "must never be a ComBat covariate"),
    ({"batch": "site", "harmonize": {"method": "combat", "unseen": "error"}, "cv": {"outer": {"kind": "leave_site_out"}}},
     "harmonize.unseen: estimate"),
    ({"balance": {"method": "smote"}, "model": {"name": "xgboost"}}, "needs complete data"),
    ({"impute": {"method": "mice"}}, r"must be one of \['none', 'median', 'knn', 'surrogate_tree'\]"),
])
def test_cross_key_rules(cfg, match):
    with pytest.raises(ConfigError, match=match):
        validate_config(cfg)


def test_refuses_a_class_smaller_than_the_folds():
    t = pd.DataFrame({"id": list("abcdefghi"), "x": range(9), "y": [0, 1, 2] * 3})
    with pytest.raises(ValueError, match="fewer than outer_splits=5; a stray value in a binary target, a rare class"):
        nested_cv_table(t, {**FAST, "target": "y"}, progress=False)


def test_train_predict_evaluate_cli(cohort_table, tmp_path):
    table = tmp_path / "table.csv"
    cohort_table.to_csv(table, index=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({**FAST, "final_model": True, "impute": {"method": "median"}}))
    run = CliRunner()
    res = run.invoke(main, ["train", str(table), "--config", str(cfg), "--target", "outcome", "--batch", "site",
                            "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    model_path = tmp_path / "run" / "model.skops"
    res = run.invoke(main, ["predict", str(model_path), str(table), "--out", str(tmp_path / "pred.csv")])
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert len(pred) == 60 and set(pred.columns) >= {"id", "proba", "label", "novelty_score", "novel"}
    model = load_model(model_path)
    # The CLI's predictions are the loaded model's own (novelty and threshold are tested in test_model_selection).
    np.testing.assert_allclose(pred["proba"], model.predict_proba(cohort_table), rtol=1e-12)

    broken = tmp_path / "broken.csv"
    cohort_table.drop(columns=["age", "original_shape_MeshVolume"]).assign(extra=1).to_csv(broken, index=False)
    res = run.invoke(main, ["predict", str(model_path), str(broken), "--out", str(tmp_path / "p2.csv")])
    assert res.exit_code != 0 and "lacks 2 column(s)" in res.output and "original_shape_MeshVolume" in res.output

    ext_a, ext_b = tmp_path / "a.csv", tmp_path / "b.csv"
    cohort_table.iloc[:30].to_csv(ext_a, index=False)
    cohort_table.iloc[30:].to_csv(ext_b, index=False)
    res = run.invoke(main, ["evaluate", str(model_path), str(ext_a), str(ext_b), "--target", "outcome",
                            "--out", str(tmp_path / "ext.json"), "--bootstrap", "200"])
    assert res.exit_code == 0, res.output
    ext = json.loads((tmp_path / "ext.json").read_text())
    assert set(ext) == {str(ext_a), str(ext_b)}
    from sklearn.metrics import roc_auc_score

    sub = cohort_table.iloc[:30]
    assert ext[str(ext_a)]["auc"]["estimate"] == pytest.approx(roc_auc_score(sub["outcome"], model.predict_proba(sub)))


def test_unseen_site_refused_when_configured(cohort_table, tmp_path):
    cfg = {**FAST, "final_model": True, "target": "outcome", "batch": "site", "impute": {"method": "median"},
           "harmonize": {"method": "combat", "unseen": "error"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train(cohort_table, cfg, progress=False)
    new = cohort_table.assign(site="site_Z")
    with pytest.raises(ValueError, match=r"site\(s\) \['site_Z'\] were not in the training data"):
        res.model.predict(new)


def test_model_params_may_set_n_jobs_and_random_state():
    from radiomix.models import make_model

    m = make_model("xgboost", {"n_jobs": 1, "random_state": 7, "n_estimators": 5}, random_state=0, n_jobs=2)
    assert m.n_jobs == 1 and m.random_state == 7
    assert make_model("random_forest", {}, n_jobs=2).n_jobs == 2


def test_cross_validate_is_a_deprecated_alias_of_nested_cv_table():
    from radiomix.model_selection import validation

    rng = np.random.default_rng(0)
    t = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"]).assign(
        y=lambda d: (d["a"] + rng.normal(size=60) > 0).astype(int), id=[f"p{i}" for i in range(60)])
    cfg = {"target": "y", "model": {"name": "logistic", "params": {}, "search": {}}, "bootstrap": 0,
           "cv": {"outer": {"n_splits": 3}}}
    with pytest.warns(DeprecationWarning, match="use radiomix.model_selection.nested_cv_table"):
        old = validation.cross_validate(t, cfg, progress=False, verbose=False)
    new = validation.nested_cv_table(t, cfg, progress=False, verbose=False)
    pd.testing.assert_frame_equal(old.oof, new.oof)
