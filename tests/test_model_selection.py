"""Model selection: nested CV (your own Pipeline and the config path), thresholds, and the metrics it reports:
equal to scikit-learn's metric functions, honest under random labels."""

import numpy as np
import pandas as pd
import pytest
from _refs import best_youden_j, delong_se, hanley_mcneil_se, youden_j
from scipy.stats import norm
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer

from radiomix.config import load_config
from radiomix.metrics import binary_metrics, bootstrap_ci, roc_auc
from radiomix.model_selection import youden_threshold
from radiomix.model_selection.validation import nested_cv_pipeline
from radiomix.pipeline import build_pipeline, search_space


def test_roc_auc_equals_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.random(300) + 0.3 * y, 1)  # many ties
    assert roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)


def test_binary_metrics_equal_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = np.clip(rng.random(200) * 0.7 + 0.3 * y, 0, 1)
    lab = (p >= youden_threshold(y, p)).astype(int)
    m = binary_metrics(y, p, lab)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, lab))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, lab))
    assert m["sensitivity"] == pytest.approx(skm.recall_score(y, lab))
    assert m["specificity"] == pytest.approx(skm.recall_score(y, lab, pos_label=0))
    assert m["ppv"] == pytest.approx(skm.precision_score(y, lab))
    assert m["npv"] == pytest.approx(skm.precision_score(y, lab, pos_label=0))
    assert m["f1"] == pytest.approx(skm.f1_score(y, lab))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p))
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, p))
    # Youden's threshold maximises sensitivity + specificity - 1 on these data.
    fpr, tpr, _ = skm.roc_curve(y, p)
    assert m["sensitivity"] + m["specificity"] - 1 == pytest.approx((tpr - fpr).max())


def _config(**kw):
    settings = {"search.n_candidates": 4, "bootstrap": 300, "model.name": "xgboost",
                "model.params": {"n_estimators": 60, "tree_method": "hist"}}
    return load_config(None, target="target", id="id", batch=None, **{**settings, **kw})


@pytest.fixture(scope="module")
def breast():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


def test_nested_cv_breast_cancer(breast):
    X, y = breast
    cfg = _config()
    res = nested_cv_pipeline(build_pipeline(cfg), X, y, param_distributions=search_space(cfg), n_candidates=4,
                    n_bootstrap=300, progress=False, random_state=0)
    s = res.summary
    assert s["auc"]["estimate"] >= 0.97
    # The reported metrics equal scikit-learn's on the saved out-of-fold predictions.
    oof = res.oof
    assert len(oof) == len(y) and oof["id"].nunique() == len(y)
    assert s["auc"]["estimate"] == pytest.approx(skm.roc_auc_score(oof["y"], oof["proba"]))
    assert s["sensitivity"]["estimate"] == pytest.approx(skm.recall_score(oof["y"], oof["label"]))
    assert s["brier"]["estimate"] == pytest.approx(skm.brier_score_loss(oof["y"], oof["proba"]))
    assert oof.groupby("fold")["threshold"].nunique().eq(1).all()       # one threshold per outer fold
    assert oof["threshold"].nunique() > 1                               # chosen per fold, not one global value
    assert len(res.folds) == 5 and res.folds["params"].map(len).gt(0).all()
    # CI widths against analytic standard errors of each metric's resampling scheme: within each class for
    # AUC (DeLong), sensitivity and specificity (binomial); patients freely for accuracy and Brier.
    yy, p, lab = oof["y"].to_numpy(), oof["proba"].to_numpy(), oof["label"].to_numpy()
    n1, n0, n = int(yy.sum()), int((1 - yy).sum()), len(yy)
    sens, spec = skm.recall_score(yy, lab), skm.recall_score(yy, lab, pos_label=0)
    acc = skm.accuracy_score(yy, lab)
    se = {"auc": delong_se(yy, p), "sensitivity": np.sqrt(sens * (1 - sens) / n1),
          "specificity": np.sqrt(spec * (1 - spec) / n0), "accuracy": np.sqrt(acc * (1 - acc) / n),
          "brier": ((p - yy) ** 2).std(ddof=1) / np.sqrt(n)}
    for m, e in se.items():
        width = s[m]["ci_high"] - s[m]["ci_low"]
        assert width == pytest.approx(2 * norm.ppf(0.975) * e, rel=0.25), (m, width, e)


def test_nested_cv_is_deterministic(breast):
    X, y = breast
    cfg = _config()
    kw = dict(param_distributions=search_space(cfg), n_candidates=2, n_bootstrap=50, progress=False, random_state=3)
    a = nested_cv_pipeline(build_pipeline(cfg), X.iloc[:200], y[:200], **kw)
    b = nested_cv_pipeline(build_pipeline(cfg), X.iloc[:200], y[:200], n_jobs=2, **kw)
    pd.testing.assert_frame_equal(a.oof, b.oof)


def test_random_labels_score_chance():
    # Leakage canary (the full-pipeline version with mRMR is in test_train.py): pure-noise features and
    # random labels must give out-of-fold AUC near 0.5.
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 200)), columns=[f"f{i}" for i in range(200)])
    y = rng.integers(0, 2, 120)
    cfg = _config(model={"name": "logistic", "params": {}, "search": {"C": [0.01, 0.1, 1.0]}})
    res = nested_cv_pipeline(build_pipeline(cfg), X, y, param_distributions=search_space(cfg), n_candidates=3,
                    n_repeats=2, n_bootstrap=0, progress=False, random_state=0)
    assert abs(res.summary["auc"]["estimate"] - 0.5) < 0.1


def test_bootstrap_ci_width_matches_delong_and_hanley_mcneil():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 150)
    p = np.clip(0.3 * y + rng.random(150) * 0.7, 0, 1)
    lab = (p >= 0.5).astype(int)
    lo, hi = bootstrap_ci(y, p, lab, n_boot=1000, random_state=0)["auc"]
    auc, z = skm.roc_auc_score(y, p), norm.ppf(0.975)
    assert hi - lo == pytest.approx(2 * z * delong_se(y, p), rel=0.15)
    assert hi - lo == pytest.approx(2 * z * hanley_mcneil_se(auc, int(y.sum()), int((1 - y).sum())), rel=0.25)
    assert abs((lo + hi) / 2 - auc) < 0.25 * delong_se(y, p)                                 # centred


def test_bootstrap_ci_repeats_and_proportion_widths():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 150)
    p = np.clip(0.3 * y + rng.random(150) * 0.7, 0, 1)
    lab = (p >= 0.5).astype(int)
    one = bootstrap_ci(y, p, lab, n_boot=300, random_state=0)
    three = bootstrap_ci(y, np.vstack([p, p, p]), np.vstack([lab, lab, lab]), n_boot=300, random_state=0)
    for m in one:  # identical repeats: averaging over repeats must not change anything
        assert three[m] == pytest.approx(one[m], abs=1e-12), m
    ci = bootstrap_ci(y, p, lab, n_boot=1000, random_state=0)
    n1, n0, n = int(y.sum()), int((1 - y).sum()), len(y)
    for m, s, k in (("sensitivity", skm.recall_score(y, lab), n1),
                    ("specificity", skm.recall_score(y, lab, pos_label=0), n0),
                    ("accuracy", skm.accuracy_score(y, lab), n)):
        assert ci[m][1] - ci[m][0] == pytest.approx(2 * 1.96 * np.sqrt(s * (1 - s) / k), rel=0.2), m


def test_prevalence_dependent_cis_are_wider_than_with_a_frozen_prevalence():
    # PPV depends on the prevalence: resampling patients freely lets it vary, as in a new sample; a
    # class-stratified bootstrap freezes it and gives a too-narrow interval.
    from radiomix.metrics import Resampler

    rng = np.random.default_rng(5)
    y = (rng.random(400) < 0.15).astype(int)
    p = np.clip(0.25 * y + rng.random(400) * 0.75, 0, 1)
    lab = (p >= 0.5).astype(int)
    free = bootstrap_ci(y, p, lab, n_boot=1000, random_state=0)["ppv"]
    res, brng, frozen = Resampler(y), np.random.default_rng(0), []
    for _ in range(1000):
        idx = res.draw(brng, "stratified")
        frozen.append(binary_metrics(y[idx], p[idx], lab[idx])["ppv"])
    lo, hi = np.nanpercentile(frozen, [2.5, 97.5])
    assert (free[1] - free[0]) > 1.05 * (hi - lo)


def test_bootstrap_auc_ci_covers_the_true_auc_95_percent_of_the_time():
    # Binormal scores: true AUC = Phi(d / sqrt 2). Measured coverage ~0.95 (an 80 % interval gives ~0.79).
    from radiomix.metrics import bootstrap_auc

    rng = np.random.default_rng(0)
    d, n1, n0, reps = 1.0, 40, 60, 120
    true_auc = norm.cdf(d / np.sqrt(2))
    y = np.r_[np.ones(n1, int), np.zeros(n0, int)]
    hits = 0
    for _ in range(reps):
        p = np.r_[rng.normal(d, 1, n1), rng.normal(0, 1, n0)]
        lo, hi = bootstrap_auc(y, p[None, :], 100, rng)
        hits += lo <= true_auc <= hi
    assert 0.87 <= hits / reps <= 0.995


@pytest.mark.parametrize("seed", range(5))
def test_youden_threshold_reaches_the_brute_force_maximum(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    p = np.round(np.clip(rng.random(200) * 0.7 + 0.3 * y, 0, 1), 2)      # many ties
    t = youden_threshold(y, p)
    m = binary_metrics(y, p, (p >= t).astype(int))
    assert m["sensitivity"] + m["specificity"] - 1 == pytest.approx(best_youden_j(y, p), abs=1e-12)


def _draw(n, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"original_firstorder_F{i}" for i in range(6)])
    y = (rng.random(n) < 1 / (1 + np.exp(-X.iloc[:, 0]))).astype(int)
    return X.assign(id=[f"s{seed}_{i}" for i in range(n)], outcome=y)


_LOGIT1 = {"target": "outcome", "model": {"name": "logistic", "params": {"C": 1.0}, "search": {}},
           "search": {"n_candidates": 1}, "bootstrap": 0}


def test_final_threshold_is_youden_on_inner_out_of_fold_predictions():
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from radiomix.model import fit_final_model
    from radiomix.study import make_study

    study = make_study(_draw(300, 0), _LOGIT1, verbose=False)
    model = fit_final_model(study)
    p = cross_val_predict(clone(model.pipeline), study.X, study.y, method="predict_proba",
                          cv=StratifiedKFold(5, shuffle=True, random_state=0))[:, 1]   # default inner CV
    assert youden_j(study.y, p, model.threshold) == pytest.approx(best_youden_j(study.y, p), abs=1e-12)
    assert not np.isin(model.threshold, p)          # a midpoint between two scores, never a score itself


def test_novelty_flags_about_one_percent_of_new_patients_and_every_outlier():
    import warnings

    from radiomix.model import fit_final_model
    from radiomix.study import make_study

    model = fit_final_model(make_study(_draw(1000, 0), _LOGIT1, verbose=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = model.predict(_draw(4000, 1))                          # never seen, same distribution
        far = model.predict(_draw(200, 2).assign(**{f"original_firstorder_F{i}": 6.0 for i in range(6)}))
    assert 0.004 < fresh["novel"].mean() < 0.03
    assert far["novel"].all()


# ------------------------------------------------------------------------------------------ groups canary
def _canary_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "groups_canary.py"
    spec = importlib.util.spec_from_file_location("groups_canary", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("entry", ["nested_cv_pipeline", "nested_cv_table", "radiomix train", "permutation refits"])
def test_groups_canary_through_every_entry_point(entry):
    """Near-identical lesions of one patient with a random patient label: grouped outer folds through every
    entry point (no patient split, AUC near 0.5); benchmarks/groups_canary.py runs 20 seeds."""
    import warnings

    canary = _canary_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = [canary.ENTRY_POINTS[entry](canary.canary(seed), seed) for seed in (0, 1)]
    assert [s for _, s in results] == [0, 0]
    assert all(a < 0.75 for a, _ in results), results


def test_the_groups_canary_detects_a_leak():
    # The same table without groups: lesions of a patient on both sides of the splits, 1-NN finds the twin.
    import warnings

    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    canary = _canary_module()
    t = canary.canary(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = nested_cv_pipeline(make_pipeline(KNeighborsClassifier(1)), t[[f"f{i}" for i in range(5)]], t["y"],
                                 ids=t["id"], n_bootstrap=0, progress=False)
    assert canary.auc(res.oof) > 0.95 and canary.patients_split(res.oof, t) > 50


def test_stratified_outer_folds_with_groups_become_grouped_and_say_so():
    from radiomix.model_selection import SplitPlan, outer_plan

    g = np.repeat(np.arange(20), 3)
    plan, note = outer_plan("stratified", 5, 2, 0, groups=g, groups_name="patient")
    assert plan.kind == "grouped" and plan.n_repeats == 2 and "'patient'" in note
    assert outer_plan("leave_site_out", 5, 3, 0)[0].n_repeats == 1
    with pytest.raises(ValueError, match="would split patients"):
        SplitPlan("stratified").folds(np.tile([0, 1], 30), groups=g)
    with pytest.raises(ValueError, match="needs groups"):
        outer_plan("grouped", 5, 1, 0)


# ------------------------------------------------------------------------------------------ refit-aware comparison
def test_corrected_resampled_ttest_reduces_to_scipys_one_sample_t_without_overlap():
    from scipy import stats

    from radiomix.model_selection.compare import corrected_resampled_ttest

    d = np.array([0.03, -0.01, 0.05, 0.02, 0.04, -0.02, 0.01, 0.06, 0.00, 0.03])
    ref = stats.ttest_1samp(d, 0.0)
    ci = ref.confidence_interval(0.95)
    res = corrected_resampled_ttest(d, n_train=1e12, n_test=1)  # n_test/n_train -> 0: no correction
    assert res["t"] == pytest.approx(ref.statistic, rel=1e-6) and res["p_value"] == pytest.approx(ref.pvalue, rel=1e-6)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-6)
    # 5-fold CV: test/train = 1/4; the variance grows by (1/J + 1/4) / (1/J) = 3.5 for J = 10
    cor = corrected_resampled_ttest(d, n_train=80, n_test=20)
    assert cor["se"] == pytest.approx(ref.statistic and d.std(ddof=1) / np.sqrt(10) * np.sqrt(3.5), rel=1e-9)
    assert cor["p_value"] > ref.pvalue and cor["df"] == 9


def test_the_refit_aware_interval_holds_its_level_where_the_bootstrap_of_fixed_scores_does_not():
    """Two runs of one procedure differing only in noise that refitting would redraw (each fold's scores are
    the truth plus fold-level noise): the paired bootstrap of the pooled predictions treats that noise as
    signal; the corrected t-test over folds rejects at about its level (Nadeau & Bengio 2003)."""
    from radiomix.model_selection.compare import refit_aware_difference
    from radiomix.outcomes import get_task
    from radiomix.safeguards import paired_bootstrap_difference

    task = get_task("binary")
    rng = np.random.default_rng(0)
    n, k, reps = 200, 5, 40
    rejected_t = rejected_boot = 0
    for r in range(reps):
        y = rng.integers(0, 2, n)
        x = y + rng.normal(scale=1.5, size=n)
        fold = rng.permutation(np.arange(n) % k)
        # fold-level refit noise: each fold's model weighs a noise direction differently
        noise = rng.normal(size=n)
        pa = x + rng.normal(scale=0.6, size=k)[fold] * noise
        pb = x + rng.normal(scale=0.6, size=k)[fold] * noise
        ids = [f"p{i}" for i in range(n)]
        oof_a = pd.DataFrame({"id": ids, "repeat": 0, "fold": fold, "proba": pa})
        oof_b = oof_a.assign(proba=pb)
        res = refit_aware_difference(task, y, oof_a, oof_b, ids, ["proba"], n_rows=n)
        rejected_t += res["ci_low"] > 0 or res["ci_high"] < 0
        boot = paired_bootstrap_difference(y, pa, pb, n_boot=300, random_state=r, task=task)
        rejected_boot += boot["ci_low"] > 0 or boot["ci_high"] < 0
    assert rejected_t <= 4, rejected_t              # level 5 %: at most 4 of 40 (binomial 95th percentile)
    assert rejected_boot > rejected_t, (rejected_boot, rejected_t)


def test_refit_aware_difference_needs_the_same_folds():
    from radiomix.model_selection.compare import refit_aware_difference
    from radiomix.outcomes import get_task

    ids = [f"p{i}" for i in range(20)]
    a = pd.DataFrame({"id": ids, "repeat": 0, "fold": np.arange(20) % 2, "proba": np.linspace(0, 1, 20)})
    b = a.assign(fold=(np.arange(20) // 10))
    with pytest.raises(ValueError, match="same outer folds"):
        refit_aware_difference(get_task("binary"), np.arange(20) % 2, a, b, ids, ["proba"], n_rows=20)
