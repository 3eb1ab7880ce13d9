"""Estimates a reviewer can trust: no patient on both sides of any split, calibrated probabilities after
resampling, unseen sites handled on purpose (issue: trustworthy estimates on multi-centre data)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from radiomix.metrics import Resampler
from radiomix.model_selection import IndexGroupKFold, SearchPlan, inner_split
from radiomix.model_selection.validation import nested_cv, nested_cv_table
from radiomix.study import make_study


def _lesions(n_patients=40, per=3, seed=0, n_features=5):
    """Patients with several lesions each: lesions of one patient are near copies, labels are random per patient."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_patients, n_features))
    rows = np.repeat(np.arange(n_patients), per)
    X = base[rows] + 0.01 * rng.normal(size=(len(rows), n_features))
    t = pd.DataFrame(X, columns=[f"f{i}" for i in range(n_features)])
    t["y"] = rng.integers(0, 2, n_patients)[rows]
    t["patient"] = [f"P{r:03d}" for r in rows]
    t["id"] = [f"L{i:04d}" for i in range(len(rows))]
    return t


def _disjoint(train, test, groups):
    g = np.asarray(groups)
    return not (set(g[train]) & set(g[test]))


KNN1 = {"target": "y", "model": {"name": "knn", "params": {"n_neighbors": 1}, "search": {}}, "bootstrap": 0,
        "final_model": False, "impute": {"method": "median"}}


# ---------------------------------------------------------------------------------------------- splitters
def test_outer_folds_never_split_a_patient():
    t = _lesions()
    study = make_study(t, {**KNN1, "groups": "patient", "cv": {"outer": {"n_repeats": 3}}}, verbose=False)
    assert study.outer.kind == "grouped"          # stratified became grouped because groups is set
    folds = study.outer_folds()
    assert len(folds) == 15
    assert all(_disjoint(f.train, f.test, study.groups) for f in folds)


def test_inner_folds_never_split_a_patient():
    t = _lesions()
    g = t["patient"].to_numpy()
    split = inner_split(SearchPlan(inner_splits=3), groups=g, seed=1)
    X = t[["f0"]]
    for train, test in split.cv.split(X, t["y"], split.groups):
        assert _disjoint(train, test, g)
    sites = np.repeat(["A", "B", "C", "D"], 30)
    loso = inner_split(SearchPlan(inner_splits=3), groups=g, sites=sites, leave_site_out=True)
    assert loso.description == "leave-one-site-out over 4 training sites"
    for train, test in loso.cv.split(X, t["y"], loso.groups):
        assert len(set(sites[test])) == 1 and sites[test][0] not in set(sites[train])
    two = inner_split(SearchPlan(inner_splits=3), groups=g, sites=sites[:60], leave_site_out=True)
    assert "only 2 training site(s)" in two.description and two.groups is not None


def test_site_folds_deal_training_sites_into_inner_folds():
    """cv.inner.kind site_folds: n_splits folds, each site (and so each patient) whole in one of them, every
    site held out once; with fewer sites than folds it falls back and says so; stratified ignores sites."""
    t = _lesions()
    g = t["patient"].to_numpy()
    sites = np.repeat(["A", "B", "C", "D", "E"], 24)
    X = t[["f0"]]
    split = inner_split(SearchPlan(inner_splits=3, inner_kind="site_folds"), groups=g, sites=sites,
                        leave_site_out=True, seed=2)
    assert split.description == "5 training sites dealt into 3 folds, stratified on the outcome"
    held = []
    for train, test in split.cv.split(X, t["y"], split.groups):
        assert not set(sites[test]) & set(sites[train]) and _disjoint(train, test, g)
        held += sorted(set(sites[test]))
    assert sorted(held) == list("ABCDE") and len(list(split.cv.split(X, t["y"], split.groups))) == 3
    few = inner_split(SearchPlan(inner_splits=3, inner_kind="site_folds"), groups=g, sites=sites[:48])
    assert "only 2 training site(s)" in few.description and few.groups is not None
    plain = inner_split(SearchPlan(inner_splits=3, inner_kind="stratified"), sites=sites, leave_site_out=True)
    assert plain.description == "3-fold stratified" and plain.groups is None
    assert "dealt into 3 folds" in SearchPlan(inner_kind="site_folds").inner_description("leave_site_out")
    # with 3 training sites (the Keek table under leave-site-out) the folds are leave-one-site-out's, so the
    # documented numbers of params/train_multisite.yaml do not move
    three = sites[:72]
    a = inner_split(SearchPlan(inner_splits=3), sites=three, leave_site_out=True, seed=4)
    b = inner_split(SearchPlan(inner_splits=3, inner_kind="site_folds"), sites=three, leave_site_out=True, seed=4)
    fold_sets = [sorted(tuple(te) for _, te in s.cv.split(X[:72], t["y"][:72], s.groups)) for s in (a, b)]
    assert fold_sets[0] == fold_sets[1]


def test_stacking_splitter_never_splits_a_patient():
    t = _lesions()
    codes = pd.factorize(t["patient"])[0]
    cv = IndexGroupKFold(codes, 3, True, 0)
    sub = t.iloc[np.arange(0, 120, 2)][["f0", "f1"]]      # a training fold keeps the table's positions as index
    ysub = t["y"].to_numpy()[np.arange(0, 120, 2)]
    for train, test in cv.split(sub, ysub):
        assert _disjoint(sub.index[train], sub.index[test], t["patient"].to_numpy())
    with pytest.raises(TypeError, match="DataFrame"):
        next(cv.split(sub.to_numpy(), ysub))


def test_late_fusion_stacking_is_built_with_the_patient_splitter():
    t = _lesions()
    t["age"] = np.random.default_rng(1).normal(60, 10, len(t))
    cfg = {**KNN1, "groups": "patient", "fusion": {"mode": "late", "blocks": ["radiomic", "clinical"]},
           "features": {"groups": {"radiomic": r"^f", "clinical": ["age"]}}}
    study = make_study(t, cfg, verbose=False)
    stack = study.pipeline.named_steps["model"]
    assert isinstance(stack.cv, IndexGroupKFold)
    np.testing.assert_array_equal(stack.cv.group_codes, pd.factorize(t["patient"])[0])


def test_calibration_folds_never_split_a_patient():
    # The probability correction and the threshold are learned on inner out-of-fold predictions whose folds
    # are the grouped inner folds (finalize gets the same splitter as the search).
    from sklearn.linear_model import LogisticRegression

    from radiomix.model_selection.calibration import RecalibratedClassifier

    t = _lesions()
    seen = []

    class Spy(LogisticRegression):
        def fit(self, X, y, sample_weight=None):
            seen.append(np.asarray(X[:, 0]).round(6).tolist())
            return super().fit(X, y)

    X, y, g = t[["f0", "f1"]].to_numpy(), t["y"].to_numpy(), t["patient"].to_numpy()
    RecalibratedClassifier(Spy(), method="sigmoid", cv=3).fit(X, y, groups=g)
    f0_patient = dict(zip(X[:, 0].round(6), g))
    for fitted in seen[:3]:                         # the three out-of-fold fits, then the full refit
        train_patients = {f0_patient[v] for v in fitted}
        held_out = set(g) - train_patients
        assert held_out and all(np.sum(g == p) == 3 for p in held_out)
        assert not any(f0_patient[v] in held_out for v in fitted)


def test_bootstrap_resamples_whole_patients():
    t = _lesions(n_patients=30)
    y, g = t["y"].to_numpy(), t["patient"].to_numpy()
    res = Resampler(y, g)
    rng = np.random.default_rng(0)
    for scheme in ("stratified", "simple"):
        for _ in range(50):
            idx = res.draw(rng, scheme)
            counts = pd.Series(g[idx]).value_counts()
            # every drawn patient comes with all 3 lesions, as many times as the patient was drawn
            assert (counts % 3 == 0).all()
            assert len(idx) == len(y) and set(y[idx]) == {0, 1}


# ---------------------------------------------------------------------------------------------- canaries
def test_random_labels_with_sibling_lesions_score_chance_only_when_grouped():
    # 40 patients x 3 near-identical lesions, random labels, 1-NN: a split that separates a patient's lesions
    # lets 1-NN find the sibling and score ~1.0. With groups every split keeps patients whole: AUC ~0.5 on
    # average over 20 seeds (one seed spreads about +-0.09).
    aucs = []
    for seed in range(20):
        t = _lesions(seed=seed)
        res = nested_cv_table(t, {**KNN1, "groups": "patient"}, progress=False, verbose=False)
        aucs.append(res.summary["auc"]["estimate"])
    assert abs(np.mean(aucs) - 0.5) < 0.05, np.mean(aucs)
    leaky = [nested_cv_table(_lesions(seed=s), KNN1, progress=False, verbose=False).summary["auc"]["estimate"]
             for s in range(3)]
    assert np.mean(leaky) > 0.9                       # the same data, lesions treated as patients


# ---------------------------------------------------------------------------------------------- calibration
def _imbalanced(n=3000, prevalence=0.15, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    lp = X[:, 0] + 0.7 * X[:, 1] - 0.5 * X[:, 2]
    # intercept chosen so that the prevalence is ~15 %
    from scipy.optimize import brentq

    b0 = brentq(lambda b: np.mean(1 / (1 + np.exp(-(b + lp)))) - prevalence, -10, 5)
    y = (rng.random(n) < 1 / (1 + np.exp(-(b0 + lp)))).astype(int)
    t = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)]).assign(y=y, id=[f"p{i}" for i in range(n)])
    return t


@pytest.mark.slow
def test_smote_keeps_probabilities_calibrated():
    t = _imbalanced()
    cfg = {"target": "y", "model": {"name": "logistic", "params": {"C": 1.0}, "search": {}},
           "balance": {"method": "smote"}, "impute": {"method": "median"}, "bootstrap": 0, "final_model": False}
    study = make_study(t, cfg, verbose=False)
    assert study.search.correction == "sigmoid"       # SMOTE: recalibrated on inner OOF of unresampled rows
    res = nested_cv(study, progress=False)
    # SMOTE ran: every fold's pipeline holds a fitted SMOTE step, and its raw probabilities are inflated.
    raw_means = []
    for model, test, *_ in res.models:
        pipe = model.estimator_
        assert "balance" in pipe.named_steps and hasattr(pipe.named_steps["balance"], "sampling_strategy_")
        raw_means.append(pipe.predict_proba(study.X.iloc[test])[:, 1].mean())
    prev = t["y"].mean()
    assert np.mean(raw_means) > prev + 0.15           # what the uncorrected model would report
    mean_p = res.oof["proba"].mean()
    cal = res.summary["calibration"]
    assert abs(mean_p - prev) < 0.02, (mean_p, prev)
    assert abs(cal["intercept"]) < 0.1 and 0.8 <= cal["slope"] <= 1.25, cal


def test_random_oversampling_gets_the_exact_prevalence_shift():
    t = _imbalanced(n=1500, seed=2)
    cfg = {"target": "y", "model": {"name": "logistic", "params": {"C": 1.0}, "search": {}},
           "balance": {"method": "random_over"}, "impute": {"method": "median"}, "bootstrap": 0,
           "final_model": False}
    study = make_study(t, cfg, verbose=False)
    assert study.search.correction == "prevalence"
    res = nested_cv(study, progress=False)
    assert abs(res.oof["proba"].mean() - t["y"].mean()) < 0.02


# ---------------------------------------------------------------------------------------------- unseen sites
def test_one_new_site_patient_is_refused_or_scored_without_harmonization():
    from radiomix.train import train

    rng = np.random.default_rng(0)
    n = 120
    t = pd.DataFrame(rng.normal(size=(n, 4)), columns=[f"original_firstorder_F{i}" for i in range(4)])
    t["site"] = np.repeat(["A", "B", "C"], 40)
    t["original_firstorder_F0"] += np.repeat([0.0, 1.0, -1.0], 40)
    t["y"] = (rng.random(n) < 1 / (1 + np.exp(-t["original_firstorder_F1"]))).astype(int)
    t["id"] = [f"p{i}" for i in range(n)]
    cfg = {"target": "y", "batch": "site", "harmonize": {"method": "combat", "unseen": "estimate"},
           "model": {"name": "logistic", "params": {}, "search": {}}, "bootstrap": 0, "impute": {"method": "median"},
           "cv": {"outer": {"n_splits": 3}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = train(t, cfg, progress=False, report=False)
    model = run.model
    assert model.unharmonized is not None
    one = t.iloc[[0]].assign(site="Z", id="new1")
    with pytest.raises(ValueError, match=r"site\(s\) \['Z'\] .* at least 10 per site .* --unseen-site unharmonized"):
        model.predict(one)
    out = model.predict(one, unseen_site="unharmonized")
    assert not out["harmonized"].iloc[0]
    alt = model.unharmonized
    expected = alt.pipeline.predict_proba(one[alt.features])[:, 1]
    np.testing.assert_allclose(out["proba"], expected)
    many = t.iloc[:12].assign(site="Z")                 # enough rows: ComBat estimates the new site
    assert model.predict(many)["harmonized"].all()


def test_cli_positive_class_and_notes_printed_once(tmp_path):
    import json

    from click.testing import CliRunner

    from radiomix.cli import main

    rng = np.random.default_rng(3)
    n = 90
    t = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    t["y"] = np.where(rng.random(n) < 1 / (1 + np.exp(-2 * t["a"])), "N+", "N-")
    t["id"] = [f"p{i}" for i in range(n)]
    t.to_csv(tmp_path / "t.csv", index=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"model": {"name": "logistic", "params": {}, "search": {}}, "bootstrap": 100,
                               "final_model": False, "impute": {"method": "median"}}))
    res = CliRunner().invoke(main, ["train", str(tmp_path / "t.csv"), "--config", str(cfg), "--target", "y",
                                    "--positive", "N+", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["data"]["positive_class"] == "N+" and m["summary"]["auc"]["estimate"] > 0.75   # a ~ N+ positive
    assert res.output.count("fit no block") == 1                  # a, b, c: said once, as a note
    assert any("fit no block" in n for n in m["data"]["notes"])


def test_smote_with_categorical_columns_becomes_smotenc_and_never_makes_fractional_categories():
    rng = np.random.default_rng(4)
    n = 300
    t = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    t["sex"] = rng.choice(["F", "M"], n)
    t["y"] = (rng.random(n) < 0.2).astype(int)
    t["id"] = [f"p{i}" for i in range(n)]
    cfg = {"target": "y", "model": {"name": "logistic", "params": {}, "search": {}}, "impute": {"method": "median"},
           "balance": {"method": "smote"}, "bootstrap": 0, "final_model": False}
    with pytest.warns(UserWarning, match="'smote' became 'smotenc'"):
        study = make_study(t, cfg)
    assert study.config.balance.method == "smotenc"
    pipe = study.build_pipeline()
    from sklearn.base import clone

    sampler = clone(pipe.named_steps["balance"])
    Xt = pipe[:-1][: list(pipe.named_steps).index("balance")].fit_transform(study.X, study.y)
    Xr, yr = sampler.fit_resample(Xt, study.y)
    assert len(Xr) > len(Xt) and set(Xr["sex"].dropna()) <= {"F", "M"}     # synthetic rows keep real levels
    with pytest.raises(ValueError, match="adasyn.*categorical"):
        make_study(t, {**cfg, "balance": {"method": "adasyn"}}, verbose=False)
