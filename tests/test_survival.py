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

from radiomix.select import MRMRSelector, _cox_score_rows
from radiomix.survival import metrics as M
from radiomix.survival.models import CoxPH, XGBSurvival

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
        np.testing.assert_allclose(H, ref["basehaz_breslow"], rtol=1e-6)


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
