"""RobustnessFilter and select.robustness (issue #15, item 4): features kept by the ICC of the training
patients' repeated measurements only, so a test patient's perturbations never decide what is kept."""

import warnings

import numpy as np
import pandas as pd
import pytest

from radiomix.reliability import icc
from radiomix.select import RobustnessFilter, RobustnessWarning


def _cohort(n=80, seed=0, k=6):
    """A table of n patients and a perturbation table of k repeats each: 'stable*' features barely move under
    perturbation, 'fragile*' ones mostly do; the outcome depends on stable0 and fragile0. Names follow
    pyradiomics' <image type>_<class>_<feature> (the feature part has no underscore)."""
    rng = np.random.default_rng(seed)
    ids = [f"P{i:03d}" for i in range(n)]
    truth = rng.normal(size=(n, 6))
    names = [f"original_firstorder_stable{i}" for i in range(3)] + \
            [f"wavelet-HHH_glcm_fragile{i}" for i in range(3)]
    table = pd.DataFrame(truth, columns=names)
    table.insert(0, "id", ids)
    table["age"] = rng.normal(60, 8, n).round()
    lp = 1.2 * truth[:, 0] + 1.2 * truth[:, 3]
    table["outcome"] = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    rows = []
    for j in range(k):
        noise = rng.normal(size=(n, 6)) * np.array([0.1, 0.1, 0.1, 1.5, 1.5, 1.5])
        rep = pd.DataFrame(truth + noise, columns=names)
        rep.insert(0, "perturbation", f"p{j + 1:02d}")
        rep.insert(0, "id", ids)
        rows.append(rep)
    return table, pd.concat(rows, ignore_index=True)


def test_keeps_features_whose_icc_lower_bound_exceeds_the_threshold():
    table, reps = _cohort()
    X = table.set_index("id").drop(columns=["outcome"])
    with pytest.warns(RobustnessWarning, match=r"1 column\(s\) have no repeated measurements.*'age'"):
        f = RobustnessFilter(reps, case="id").fit(X)
    assert f.get_feature_names_out().tolist() == [c for c in X.columns if "fragile" not in c]
    # the ICCs are radiomix.reliability.icc's on the training cases' rows (here all of them)
    ref = icc(reps.drop(columns="perturbation"), case="id", features=list(X.columns[:6]))
    np.testing.assert_allclose(f.icc_[:6], ref["icc"].to_numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(f.ci_low_[:6], ref["ci_low"].to_numpy(), rtol=0, atol=0)
    assert f.form_ == "ICC(1,1)" and np.isnan(f.icc_[6]) and not f.assessed_[6] and f.support_[6]
    tab = f.icc_table()
    assert tab.loc["age", "kept"] and not tab.loc["wavelet-HHH_glcm_fragile0", "kept"]


def test_uses_only_the_rows_of_the_cases_it_is_fitted_on():
    """Corrupting the repeats of cases outside X changes nothing; corrupting those inside does."""
    table, reps = _cohort()
    X = table.set_index("id").drop(columns=["outcome", "age"]).iloc[:50]
    outside = ~reps["id"].isin(X.index)
    bad = reps.copy()
    bad.loc[outside, bad.columns[2:]] = np.random.default_rng(9).normal(size=(outside.sum(), 6)) * 100
    a = RobustnessFilter(reps).fit(X)
    b = RobustnessFilter(bad).fit(X)
    np.testing.assert_array_equal(a.icc_, b.icc_)
    inside = reps.copy()
    inside.loc[~outside, inside.columns[2]] = np.random.default_rng(9).normal(size=(~outside).sum()) * 100
    c = RobustnessFilter(inside).fit(X)
    assert c.icc_[0] < 0.2 and "original_firstorder_stable0" not in c.get_feature_names_out()


def test_ids_map_row_labels_to_cases():
    """Inside a radiomix Pipeline X's index holds row positions; ids maps them to case ids."""
    table, reps = _cohort()
    X = table.drop(columns=["id", "outcome", "age"])  # RangeIndex
    rows = X.iloc[10:60]
    f = RobustnessFilter(reps, ids=table["id"].to_numpy()).fit(rows)
    g = RobustnessFilter(reps).fit(rows.set_axis(table["id"].iloc[10:60]))
    np.testing.assert_array_equal(f.icc_, g.icc_)
    assert f.n_cases_ == 50 and f.n_cases_without_repeats_ == 0


def test_errors_and_warnings_name_what_is_wrong():
    table, reps = _cohort()
    X = table.set_index("id").drop(columns=["outcome", "age"])
    with pytest.raises(TypeError, match="DataFrame"):
        RobustnessFilter(reps).fit(X.to_numpy())
    with pytest.raises(ValueError, match="case column 'patient'"):
        RobustnessFilter(reps, case="patient").fit(X)
    with pytest.raises(ValueError, match="3 of the 3 training cases .* at least 10"):
        RobustnessFilter(reps).fit(X.iloc[:3])
    with pytest.raises(ValueError, match="none of the 2 columns"):
        RobustnessFilter(reps).fit(X.iloc[:, :2].set_axis(["a", "b"], axis=1))
    few = reps[reps["id"].isin(X.index[:40])]
    with pytest.warns(RobustnessWarning, match="40 of 80 training cases have no repeated measurements"):
        RobustnessFilter(few).fit(X)
    with pytest.raises(ValueError, match="no feature has an ICC ci_low above 0.999"):
        RobustnessFilter(reps, threshold=0.999).fit(X)


def _study_cfg(**robust):
    return {"target": "outcome", "model": {"name": "logistic", "params": {}, "search": {"C": [0.1, 1.0]}},
            "select": {"robustness": {"icc": 0.75, **robust}}, "search": {"n_candidates": 2},
            "cv": {"outer": {"n_splits": 4}, "inner": {"n_splits": 3}}, "bootstrap": 0, "final_model": False,
            "safeguards": {"baselines": False, "shap": False}}


def _nested(table, cfg):
    from radiomix.model_selection.validation import nested_cv
    from radiomix.study import make_study

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(table, cfg, verbose=False)
        return study, nested_cv(study, progress=False)


def test_nested_cv_never_reads_a_test_patients_perturbations():
    """Leak test: for an outer fold, corrupting its test patients' perturbation rows leaves that fold's
    out-of-fold predictions identical; corrupting its training patients' rows changes what is kept."""
    table, reps = _cohort(n=120)
    study, base = _nested(table, _study_cfg(table=reps))
    fold = study.outer_folds()[0]
    test_ids = set(study.ids[fold.test])
    bad = reps.copy()
    hit = bad["id"].isin(test_ids)
    bad.loc[hit, bad.columns[2:]] = np.random.default_rng(5).normal(size=(hit.sum(), 6)) * 50
    _, corrupted = _nested(table, _study_cfg(table=bad))
    rows = base.oof["id"].isin(test_ids) if "id" in base.oof else base.oof.index.isin(list(test_ids))
    pd.testing.assert_frame_equal(base.oof[rows], corrupted.oof[rows])
    kept = [set(s) for s in base.folds["selected"]] if "selected" in base.folds else None
    if kept is not None:
        assert all(not any("fragile" in c for c in k) for k in kept)


def test_config_records_the_design_and_refuses_a_bad_table(tmp_path):
    from radiomix.config import ConfigError
    from radiomix.study import make_study

    table, reps = _cohort()
    path = tmp_path / "perturbations.parquet"
    reps.assign(kind="perturbed").to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(table, _study_cfg(table=str(path)), verbose=False)
    assert any("select.robustness" in n and "ICC(1,1)" in n and "80 case(s)" in n for n in study.notes)
    assert "robustness" in dict(study.pipeline.steps)
    with pytest.raises((ConfigError, ValueError), match="case column 'patient'"):
        make_study(table, _study_cfg(table=str(path), case="patient"), verbose=False)
    with pytest.raises(ConfigError, match="select.robustness.icc"):
        make_study(table, _study_cfg(table=str(path), icc=1.5), verbose=False)


def test_train_writes_the_icc_table_report_section_and_a_lean_model(tmp_path):
    """radiomix train --robustness: robustness.csv (median ICC per feature over the folds), the run record,
    the report section, and a saved model that loads with the trusted types and holds no repeats table."""
    from click.testing import CliRunner

    from radiomix.cli import main
    from radiomix.model import load_model

    table, reps = _cohort()
    table.to_csv(tmp_path / "table.csv", index=False)
    reps.to_parquet(tmp_path / "perturbations.parquet")
    cfg = _study_cfg(table="unused.parquet")
    cfg.update(final_model=True)
    import yaml

    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(main, ["train", str(tmp_path / "table.csv"), "--config", str(tmp_path / "cfg.yaml"),
                                    "--robustness", str(tmp_path / "perturbations.parquet"), "-o",
                                    str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    run = tmp_path / "run"
    icc = pd.read_csv(run / "robustness.csv", index_col=0)
    assert set(icc.index) == {c for c in reps.columns if c.startswith(("original", "wavelet"))}
    assert (icc.loc[icc.index.str.contains("stable"), "kept"] == 1).all()
    assert (icc.loc[icc.index.str.contains("fragile"), "kept"] == 0).all()
    assert set(icc["feature_class"]) == {"firstorder", "glcm"} and set(icc["image_filter"]) == {"original",
                                                                                                  "wavelet-HHH"}
    import json

    rec = json.loads((run / "metrics.json").read_text())["robustness"]
    assert rec["form"] == "ICC(1,1)" and rec["kept_in_every_fold"] == 3 and rec["kept_in_no_fold"] == 3
    html = (run / "report.html").read_text()
    assert "Feature robustness" in html and "kept in every fold" in html
    model = load_model(run / "model.skops")
    step = dict(model.pipeline.steps)["robustness"]
    assert step.repeats is None and step.ids is None and step.get_feature_names_out().tolist()[:3] == \
        [f"original_firstorder_stable{i}" for i in range(3)]


def test_canary_random_labels_score_chance_with_the_robustness_filter():
    table, reps = _cohort(n=120)
    aucs = []
    for seed in range(4):
        t = table.assign(outcome=np.random.default_rng(100 + seed).permutation(table["outcome"].to_numpy()))
        _, res = _nested(t, {**_study_cfg(table=reps), "random_state": seed})
        aucs.append(res.summary["auc"]["estimate"])
    assert abs(np.mean(aucs) - 0.5) < 0.08, aucs
    _, real = _nested(table, _study_cfg(table=reps))
    assert real.summary["auc"]["estimate"] > 0.65  # the signal (stable0) is found, so the canary can tell


def test_repeats_with_shared_raters_use_the_two_way_icc():
    """source: repeats with a rater column (the same observers for every patient): ICC(2,1), said in the note."""
    from radiomix.study import make_study

    table, reps = _cohort(k=3)
    reps = reps.rename(columns={"perturbation": "rater"})  # p01..p03: the same three raters for every case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(table, _study_cfg(table=reps, source="repeats"), verbose=False)
        step = study.robustness
        fitted = RobustnessFilter(**step.get_params()).fit(study.X.iloc[:60])
    assert step.rater == "rater" and any("ICC(2,1), shared 'rater'" in n for n in study.notes)
    assert fitted.form_ == "ICC(2,1)" and "fragile" not in " ".join(fitted.get_feature_names_out())
