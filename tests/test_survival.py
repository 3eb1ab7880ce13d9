"""Survival metrics and models against independent oracles: R ``survival`` (Harrell's C, coxph with Efron and
Breslow ties, Breslow baseline hazard, score tests, log-rank) and scikit-survival (Uno's C, cumulative/dynamic
AUC, Brier and integrated Brier score, penalized Cox), on fixtures written by tests/oracles/ and live."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiomix.models.survival import CoxPH, XGBSurvival
from radiomix.outcomes.survival import metrics as M
from radiomix.select import MRMRSelector
from radiomix.select._relevance import cox_score_rows as _cox_score_rows

FIX = Path(__file__).parent / "fixtures" / "survival"
ORACLES = Path(__file__).parent / "oracles"
NAMES = ("synthetic", "horng")


def _data(name):
    d = pd.read_csv(FIX / f"{name}.csv")
    return d, d["time"].to_numpy(float), d["event"].to_numpy(bool), d["risk"].to_numpy(float)


def _json(name):
    return json.loads((FIX / name).read_text())


# ------------------------------------------------------------------------------------------ metrics
@pytest.mark.parametrize("name", NAMES)
def test_harrell_c_equals_r_and_sksurv(name):
    d, t, e, r = _data(name)
    got = M.harrell_c(t, e, r)
    assert got == pytest.approx(_json(f"r_{name}.json")["harrell"]["c_index"], abs=1e-12)
    assert got == pytest.approx(_json(f"sksurv_{name}.json")["harrell"]["c_index"], abs=1e-12)
    for k in range(5):
        m = d["fold"].to_numpy() == k
        assert M.harrell_c(t[m], e[m], r[m]) == pytest.approx(
            _json(f"r_{name}.json")["harrell_by_fold"][f"fold{k}"]["c_index"], abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_uno_c_equals_sksurv_pooled_and_with_training_censoring(name):
    d, t, e, r = _data(name)
    ref = _json(f"sksurv_{name}.json")
    tau = ref["params"]["tau"]
    assert M.uno_c(t, e, r, tau=tau) == pytest.approx(ref["uno"]["c_index"], abs=1e-10)
    for k in range(5):
        te = d["fold"].to_numpy() == k
        got = M.uno_c(t[te], e[te], r[te], ref_time=t[~te], ref_event=e[~te], tau=tau)
        assert got == pytest.approx(ref["uno_by_fold"][f"fold{k}"]["c_index"], abs=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_cumulative_dynamic_auc_equals_sksurv(name):
    _, t, e, r = _data(name)
    ref = _json(f"sksurv_{name}.json")["cd_auc"]
    np.testing.assert_allclose(M.cumulative_dynamic_auc(t, e, r, ref["times"]), ref["auc"], atol=1e-10)


def test_brier_and_integrated_brier_equal_sksurv():
    d, t, e, _ = _data("synthetic")
    ref = _json("sksurv_synthetic.json")["brier"]
    S = d[ref["columns"]].to_numpy()
    np.testing.assert_allclose(M.brier_score(t, e, S, ref["times"]), ref["brier"], atol=1e-12)
    assert M.integrated_brier_score(t, e, S, ref["times"]) == pytest.approx(ref["ibs"], abs=1e-12)


def test_censoring_distribution_equals_sksurv():
    _, t, e, _ = _data("synthetic")
    ref = _json("sksurv_synthetic.json")["censoring_km"]
    times = np.asarray(ref["time"], float)
    finite = np.isfinite(times)
    np.testing.assert_allclose(M.censoring_weights(t, e, times[finite]), np.asarray(ref["G"])[finite], atol=1e-12)


def test_metrics_live_against_sksurv_on_random_data_with_ties():
    sk = pytest.importorskip("sksurv.metrics")
    from sksurv.util import Surv

    rng = np.random.default_rng(3)
    n = 250
    tt = np.round(rng.exponential(300, n)) + 1
    cc = np.round(rng.uniform(50, 900, n))
    t, e = np.minimum(tt, cc), tt <= cc
    r = np.round(-np.log(tt) + rng.normal(0, 1, n), 1)
    y = Surv.from_arrays(e, t)
    assert M.harrell_c(t, e, r) == pytest.approx(sk.concordance_index_censored(e, t, r)[0], abs=1e-12)
    tau = np.quantile(t[e], 0.8)
    assert M.uno_c(t, e, r, tau=tau) == pytest.approx(sk.concordance_index_ipcw(y, y, r, tau=tau)[0], abs=1e-10)
    hs = np.quantile(t[e], [0.3, 0.6])
    np.testing.assert_allclose(M.cumulative_dynamic_auc(t, e, r, hs), sk.cumulative_dynamic_auc(y, y, r, hs)[0],
                               atol=1e-10)


def test_bootstrap_replicates_equal_the_metric_on_the_resampled_rows():
    """The count-vector form of a resample gives what the oracle computes on the rows drawn (repeats kept)."""
    sk = pytest.importorskip("sksurv.metrics")
    _, t, e, r = _data("synthetic")
    rng = np.random.default_rng(0)
    counts = rng.multinomial(len(t), np.full(len(t), 1 / len(t)), size=4)
    got = M.concordance_pairs(t, e, r).resampled(counts)
    for c, g in zip(counts, got):
        rows = np.repeat(np.arange(len(t)), c)
        assert g == pytest.approx(sk.concordance_index_censored(e[rows], t[rows], r[rows])[0], abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_logrank_equals_r_survdiff(name):
    d, t, e, r = _data(name)
    ref = _json(f"r_{name}.json")["logrank"]
    assert M.logrank(t, e, d["fold"]) == pytest.approx(ref["folds"], rel=1e-9)
    assert M.logrank(t, e, (r > np.median(r)).astype(int)) == pytest.approx(ref["median_split"], rel=1e-9)


# ------------------------------------------------------------------------------------------- models
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_unpenalized_cox_equals_r_coxph(name, ties):
    d = pd.read_csv(FIX / f"{name}.csv")
    ref = _json(f"r_{name}.json")[f"cox_{ties}"]
    xs = ref["covariates"]
    d = d.dropna(subset=xs)
    m = CoxPH(alpha=0, ties=ties).fit(d[xs], M.surv_array(d["time"], d["event"]))
    np.testing.assert_allclose(m.coef_, [ref["coef"][x] for x in xs], atol=1e-6)
    assert m.log_likelihood_ == pytest.approx(ref["loglik"], abs=1e-6)
    if ties == "breslow" and "basehaz_breslow" in ref:  # Breslow baseline cumulative hazard (R ctype = 1)
        H = M.step_at(m.baseline_times_, m.baseline_cumhaz_, ref["basehaz_times"], before=0.0)
        # radiomix's baseline is that of the average training patient (risk centred by offset_); R's is at x = 0
        np.testing.assert_allclose(H * np.exp(-m.offset_), ref["basehaz_breslow"], rtol=1e-6)


def test_penalized_cox_equals_sksurv():
    """Ridge: sksurv's CoxPHSurvivalAnalysis minimises -loglik + alpha/2 ||b||^2 (our alpha * n); elastic net:
    CoxnetSurvivalAnalysis has glmnet's scaling, as CoxPH (Breslow ties)."""
    lm = pytest.importorskip("sksurv.linear_model")
    from sksurv.util import Surv

    d = pd.read_csv(FIX / "synthetic.csv")
    X = d[["x1", "x2", "x3"]].to_numpy()
    Z = (X - X.mean(0)) / X.std(0)
    y = M.surv_array(d["time"], d["event"])
    ys = Surv.from_arrays(d["event"].astype(bool), d["time"])
    n = len(d)
    ours = CoxPH(alpha=0.05, ties="breslow").fit(Z, y).coef_
    ref = lm.CoxPHSurvivalAnalysis(alpha=0.05 * n, ties="breslow", tol=1e-12).fit(Z, ys).coef_
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    ours = CoxPH(alpha=0.05, l1_ratio=0.7, ties="breslow").fit(Z, y).coef_
    net = lm.CoxnetSurvivalAnalysis(alphas=[0.05], l1_ratio=0.7, tol=1e-12, max_iter=100000).fit(Z, ys)
    np.testing.assert_allclose(ours, net.coef_[:, 0], atol=1e-5)


def test_cox_survival_function_and_xgboost_cox_recover_the_signal():
    rng = np.random.default_rng(0)
    n = 400
    X = rng.normal(size=(n, 6))
    lp = X[:, 0] - 0.5 * X[:, 1]
    tt = rng.exponential(np.exp(-lp)) * 500 + 1
    cc = rng.uniform(100, 1500, n)
    y = M.surv_array(np.minimum(tt, cc), tt <= cc)
    cox = CoxPH(alpha=0.0).fit(X, y)
    assert cox.coef_[0] == pytest.approx(1.0, abs=0.15) and cox.coef_[1] == pytest.approx(-0.5, abs=0.15)
    S = cox.predict_survival(X[:3], [10, 100, 1000])
    assert (np.diff(S, axis=1) <= 0).all()
    # S(t|x) = exp(-H0(t) exp(lp)): the patient with the higher risk has the lower survival at every time
    order = np.argsort(cox.predict(X[:3]))
    assert (np.diff(S[order], axis=0) <= 0).all()
    for objective in ("survival:cox", "survival:aft"):
        m = XGBSurvival(objective=objective, n_estimators=100, random_state=0).fit(X[:300], y[:300])
        assert M.harrell_c(y[300:, 0], y[300:, 1] > 0, m.predict(X[300:])) > 0.7


@pytest.mark.parametrize("name", NAMES)
def test_cox_score_relevance_equals_r_score_test(name):
    d = pd.read_csv(FIX / f"{name}.csv")
    ref = _json(f"r_{name}.json")["score_test"]
    for x, chi2 in ref.items():
        sub = d.dropna(subset=[x])
        got = _cox_score_rows(sub[[x]].to_numpy().T.copy(), M.surv_array(sub["time"], sub["event"]))[0]
        assert got == pytest.approx(chi2, rel=1e-9)
    # MRMRSelector with relevance auto uses it for a (time, event) target, missing cells left out per column
    xs = list(ref)
    sel = MRMRSelector(n_features=1, relevance="auto").fit(d[xs], M.surv_array(d["time"], d["event"]))
    np.testing.assert_allclose(sel.relevance_, [ref[x] for x in xs], rtol=1e-9)
    assert sel.task_ == "survival"


@pytest.mark.r_oracle
def test_survival_r_oracle_live(rscript, tmp_path):
    for f in FIX.glob("*"):
        shutil.copy(f, tmp_path / f.name)
    res = subprocess.run([rscript, str(ORACLES / "survival_r.R"), str(tmp_path)], capture_output=True, text=True)
    if res.returncode != 0 and "there is no package called" in res.stderr:
        pytest.skip("R package survival or jsonlite not installed")
    assert res.returncode == 0, res.stderr
    for name in NAMES:
        live, stored = json.loads((tmp_path / f"r_{name}.json").read_text()), _json(f"r_{name}.json")
        assert live["harrell"]["c_index"] == pytest.approx(stored["harrell"]["c_index"], abs=1e-12)
        assert live["cox_efron"]["coef"] == pytest.approx(stored["cox_efron"]["coef"], abs=1e-9)
        assert live["score_test"] == pytest.approx(stored["score_test"], rel=1e-9)


# ------------------------------------------------------------------------------------ nested CV, CLI
def _survival_table(n=160, p=20, seed=0, signal=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    lp = X[:, 0] - 0.7 * X[:, 1] if signal else np.zeros(n)
    tt = np.round(rng.exponential(np.exp(-lp)) * 800) + 1
    cc = np.round(rng.uniform(200, 2500, n))
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(p)])
    df.insert(0, "id", [f"p{i:03d}" for i in range(n)])
    df["os_days"], df["os_event"] = np.minimum(tt, cc), (tt <= cc).astype(int)
    df["site"] = rng.choice(["A", "B", "C"], n)
    return df


_CFG = {"target": {"time": "os_days", "event": "os_event"}, "model": {"name": "coxph", "params": {},
                                                                     "search": {"alpha": [0.03, 0.3]}},
        "select": {"mrmr": 3}, "bootstrap": 0, "safeguards": {"baselines": False, "shap": False}}


def test_survival_canary_random_times_score_half():
    """Random survival times with random censoring: out-of-fold C-index 0.5 +- 0.1 on average over seeds."""
    import warnings

    from radiomix.model_selection.validation import nested_cv
    from radiomix.study import make_study

    cs = []
    for seed in range(4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = make_study(_survival_table(seed=seed, signal=False), _CFG)
        cs.append(nested_cv(study, progress=False).summary["c_index"]["estimate"])
    assert abs(np.mean(cs) - 0.5) < 0.05, cs
    assert all(abs(c - 0.5) < 0.1 for c in cs), cs


def test_survival_nested_cv_finds_the_signal_and_never_sees_test_outcomes():
    """A real signal is found (C > 0.7); corrupting the test fold's outcomes leaves its predictions unchanged."""
    import warnings
    from dataclasses import replace

    from radiomix.model_selection.validation import fit_outer_fold, nested_cv
    from radiomix.study import make_study

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(_survival_table(seed=1), {**_CFG, "bootstrap": 50})
    res = nested_cv(study, progress=False)
    assert res.summary["c_index"]["estimate"] > 0.7
    assert res.summary["c_index"]["ci_low"] < res.summary["c_index"]["estimate"] < res.summary["c_index"]["ci_high"]
    fold = study.outer_folds()[0]
    y = study.y.copy()
    y[fold.test, 0] = 1.0 + np.arange(len(fold.test))[::-1]   # test outcomes scrambled
    y[fold.test, 1] = 1.0
    a = fit_outer_fold(study, fold)
    b = fit_outer_fold(replace(study, y=y), fold)
    np.testing.assert_array_equal(a.proba, b.proba)
    np.testing.assert_array_equal(a.extra["surv"], b.extra["surv"])


def test_survival_train_and_predict_cli(tmp_path):
    from click.testing import CliRunner

    from radiomix.cli import main

    df = _survival_table(n=120, seed=2)
    df["original_shape_MeshVolume"] = np.exp(df["f0"] + 6)
    df.to_csv(tmp_path / "t.csv", index=False)
    cfg = Path(__file__).parents[1] / "params" / "train_survival.yaml"
    r = CliRunner().invoke(main, ["train", str(tmp_path / "t.csv"), "--config", str(cfg), "--time", "os_days",
                                  "--event", "os_event", "--batch", "site", "--out", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    assert "Harrell's C" in r.output and "AUC at t=" in r.output and "baseline volume (original_shape_MeshVolume alone (log: " in r.output
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["settings"]["task"] == "survival" and set(m["summary"]["td_auc"]) and "baselines" in m["summary"]
    html = (tmp_path / "run" / "report.html").read_text()
    for needle in ("km_risk_groups", "td_auc", "calibration_horizons", "Verdict"):
        assert needle in html
    r = CliRunner().invoke(main, ["predict", str(tmp_path / "run" / "model.skops"), str(tmp_path / "t.csv"),
                                  "--out", str(tmp_path / "pred.csv")])
    assert r.exit_code == 0, r.output
    pred = pd.read_csv(tmp_path / "pred.csv")
    horizons = m["summary"]["survival"]["horizons"]
    assert {"risk", "risk_group"} <= set(pred.columns) and [f"surv_{h:g}" for h in horizons] == \
        [c for c in pred.columns if c.startswith("surv_")]
    assert (np.diff(pred[[f"surv_{h:g}" for h in horizons]].to_numpy(), axis=1) <= 0).all()
    r = CliRunner().invoke(main, ["evaluate", str(tmp_path / "run" / "model.skops"), str(tmp_path / "t.csv"),
                                  "--time", "os_days", "--event", "os_event", "--bootstrap", "50",
                                  "--out", str(tmp_path / "ext.json")])
    assert r.exit_code == 0, r.output
    ext = json.loads((tmp_path / "ext.json").read_text())[str(tmp_path / "t.csv")]
    assert ext["c_index"]["estimate"] == pytest.approx(M.harrell_c(df["os_days"], df["os_event"] > 0, pred["risk"]),
                                                       abs=1e-12)
    r = CliRunner().invoke(main, ["evaluate", str(tmp_path / "run" / "model.skops"), str(tmp_path / "t.csv"),
                                  "--target", "os_days"])
    assert r.exit_code != 0 and "--time and --event" in r.output


@pytest.mark.parametrize("change, needle", [
    (lambda d: d.assign(os_days=d["os_days"].where(d.index != 3, -5)), "<= 0"),
    (lambda d: d.assign(os_days=d["os_days"].where(d.index != 3, np.nan)), "missing or not a number"),
    (lambda d: d.assign(os_event=d["os_event"].where(d.index != 3, 2)), "must be 0 (censored) or 1"),
])
def test_survival_bad_outcome_is_one_line_error(change, needle):
    from radiomix.study import make_study

    with pytest.raises(ValueError, match=re_escape(needle)) as err:
        make_study(change(_survival_table(n=60)), _CFG)
    assert "\n" not in str(err.value) and "p003" in str(err.value)


def test_survival_config_refusals():
    from radiomix.config import ConfigError, validate_config

    t = {"time": "os_days", "event": "os_event"}
    with pytest.raises(ConfigError, match="balance.method"):
        validate_config({"target": t, "balance": {"method": "smote"}})
    with pytest.raises(ConfigError, match="target column 'os_event'"):
        validate_config({"target": t, "harmonize": {"covariates": ["os_event"]}})
    with pytest.raises(ConfigError, match="task: survival"):
        validate_config({"target": t, "task": "binary"})


def re_escape(s):
    import re

    return re.escape(s)


def test_permutation_test_gives_the_risk_groups_a_valid_p_value():
    """Signal: the log-rank chi-square of the out-of-fold risk groups beats every permutation refit; noise: it
    does not (p well above 0.05)."""
    import warnings

    from radiomix.model_selection.validation import nested_cv
    from radiomix.safeguards import permutation_test, study_headline
    from radiomix.study import make_study

    cfg = {**_CFG, "model": {"name": "coxph", "params": {"alpha": 0.3}, "search": {}}}
    for signal, check in ((True, lambda p: p <= 1 / 20), (False, lambda p: p > 1 / 20)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = make_study(_survival_table(n=100, seed=7, signal=signal), cfg)
        res = nested_cv(study, progress=False)
        perm = permutation_test(study, study_headline(study, res), 19,
                                observed_logrank=res.summary["risk_groups"]["logrank_chi2"])
        assert check(perm["risk_groups_logrank"]["p_value"]), perm
        assert check(perm["p_value"]), perm


def test_random_survival_forest_optional_extra_trains_and_round_trips(tmp_path):
    """random_survival_forest (scikit-survival, a GPL optional extra) in the pipeline: finds the signal, and the
    saved model predicts the same after loading."""
    pytest.importorskip("sksurv")
    import warnings

    from radiomix.model import fit_final_model, load_model, save_model
    from radiomix.model_selection.validation import nested_cv
    from radiomix.study import make_study

    cfg = {**_CFG, "model": {"name": "random_survival_forest", "params": {"n_estimators": 50}, "search": {}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(_survival_table(n=150, seed=3), cfg)
        assert nested_cv(study, progress=False).summary["c_index"]["estimate"] > 0.65
        model = fit_final_model(study)
    save_model(model, tmp_path / "rsf.skops")
    table = _survival_table(n=150, seed=3).head(10)
    pd.testing.assert_frame_equal(model.predict(table), load_model(tmp_path / "rsf.skops").predict(table))


def test_review_edge_cases():
    """Horizons in years keep their quartiles; log-rank with an empty group or no event is defined; a multiclass
    class absent from a leave-site-out training fold is refused naming it; a float 0/1 target is binary for the
    safeguards; lost censoring weights are said."""
    import warnings

    from radiomix.safeguards import headline
    from radiomix.study import make_study

    t = np.array([0.35, 0.5, 0.76, 0.9, 1.35, 2.0, 2.5])
    np.testing.assert_allclose(M.default_horizons(t, np.ones(7, bool)), np.quantile(t, [0.25, 0.5, 0.75]).round(2))
    assert M.logrank([1, 2, 3], [0, 0, 0], [0, 1, 1]) == 0.0
    assert np.isfinite(M.logrank([1, 2, 3, 4], [1, 1, 0, 1], [0, 0, 1, 1]))
    df = _survival_table(n=90, seed=1).drop(columns=["os_days", "os_event"])
    df["grade"] = np.where(df["site"] == "C", "G3", np.where(df["f0"] > 0, "G1", "G2"))
    with pytest.raises(ValueError, match=r"class\(es\) \['G3'\] are absent from the training rows of test site 'C'"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make_study(df, {"target": "grade", "batch": "site", "cv": {"outer": {"kind": "leave_site_out"}}})
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    assert headline(y, np.array([0.1, 0.8, 0.7, 0.3, 0.9])) == 1.0
    with pytest.warns(M.CensoringWarning, match="get no weight"):
        M.uno_c(np.array([5.0, 6.0]), np.array([True, True]), np.array([1.0, 0.0]),
                ref_time=np.array([1.0, 2.0, 3.0]), ref_event=np.array([True, True, False]))
