"""One headline aggregation (radiomix issue #23, items 3-4): survival concordance over pairs within an outer
fold only, pooled over folds, checked against scikit-survival and a brute-force double loop; every survival
number (summary, baselines' comparison, permutation test) unchanged when each outer fold's risks are shifted by
a constant; with repeats the baselines' "model" equals the summary's headline; the other outcomes' headlines
equal scikit-learn's pooled values as before."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from radiomix.outcomes.survival import metrics as M


# ------------------------------------------------------------------------------------------ oracles
def _censored(n=240, seed=3, blocks=4):
    rng = np.random.default_rng(seed)
    tt = np.round(rng.exponential(300, n)) + 1
    cc = np.round(rng.uniform(50, 900, n))
    t, e = np.minimum(tt, cc), tt <= cc
    r = np.round(-np.log(tt) + rng.normal(0, 1, n), 1)     # rounded: tied risks
    b = rng.integers(0, blocks, n)
    return t, e, r + 10.0 * b, b                           # each block on its own scale


def _brute(t, e, r, b, w_case, case, control):
    """Sum of concordant and of comparable weight over pairs (i case, j control) of the same block."""
    num = den = 0.0
    for i in range(len(t)):
        for j in range(len(t)):
            if b[i] != b[j] or not case(i) or not control(i, j):
                continue
            den += w_case[i]
            num += w_case[i] * (1.0 if r[i] > r[j] + M.TIED_TOL else 0.5 if abs(r[i] - r[j]) <= M.TIED_TOL else 0.0)
    return num, den


def _harrell_brute(t, e, r, b):
    return _brute(t, e, r, b, np.ones(len(t)), lambda i: e[i], lambda i, j: t[i] < t[j] or (t[i] == t[j] and not e[j]))


def test_within_block_concordance_and_auc_equal_a_double_loop():
    t, e, r, b = _censored(n=150)
    harrell = _harrell_brute(t, e, r, b)
    assert M.harrell_c(t, e, r, blocks=b) == pytest.approx(harrell[0] / harrell[1], abs=1e-12)
    tau = np.quantile(t[e], 0.8)
    g = M.censoring_weights(t, e, t)
    g = np.where(g > 0, g, np.inf)   # censored rows at the end (G = 0) are never cases: no weight
    uno = _brute(t, e, r, b, 1 / g ** 2, lambda i: e[i] and t[i] < tau,
                 lambda i, j: t[i] < t[j] or (t[i] == t[j] and not e[j]))
    assert M.uno_c(t, e, r, tau=tau, blocks=b) == pytest.approx(uno[0] / uno[1], abs=1e-12)
    for h in np.quantile(t[e], [0.3, 0.6]):
        auc = _brute(t, e, r, b, 1 / g, lambda i, h=h: e[i] and t[i] <= h, lambda i, j, h=h: t[j] > h)
        assert M.cumulative_dynamic_auc(t, e, r, [h], blocks=b)[0] == pytest.approx(auc[0] / auc[1], abs=1e-12)
    # the block offsets are large: pooling pairs across blocks gives another number
    assert abs(M.harrell_c(t, e, r) - M.harrell_c(t, e, r, blocks=b)) > 0.05


def test_within_block_statistics_equal_sksurv_per_block_summed():
    sk = pytest.importorskip("sksurv.metrics")
    from sksurv.util import Surv

    t, e, r, b = _censored()
    # Harrell: sksurv's per-block counts, summed (ties in risk count one half)
    num = den = 0.0
    for k in np.unique(b):
        m = b == k
        _, conc, disc, tied, _ = sk.concordance_index_censored(e[m], t[m], r[m])
        num, den = num + conc + 0.5 * tied, den + conc + disc + tied
    assert M.harrell_c(t, e, r, blocks=b) == pytest.approx(num / den, abs=1e-12)
    # Uno and the td-AUC: each block's own value equals sksurv's on the block (censoring weights of all rows),
    # and the pooled value is their weighted mean with the blocks' comparable weight
    y = Surv.from_arrays(e, t)
    tau = np.quantile(t[e], 0.8)
    st = M.uno_pairs(t, e, r, tau=tau, blocks=b)
    per = st.by_block(b)
    weight = {k: st.D[b[st.rows] == k].sum() for k in per}
    for k in per:
        m = b == k
        assert per[k] == pytest.approx(sk.concordance_index_ipcw(y, y[m], r[m], tau=tau)[0], abs=1e-10)
    pooled = sum(per[k] * weight[k] for k in per) / sum(weight.values())
    assert st.value == pytest.approx(pooled, abs=1e-12)
    h = float(np.quantile(t[e], 0.5))
    st = M.auc_pairs(t, e, r, h, blocks=b)
    for k, v in st.by_block(b).items():
        m = b == k
        assert v == pytest.approx(sk.cumulative_dynamic_auc(y, y[m], r[m], [h])[0][0], abs=1e-10)
    # and every block's Harrell C from by_block equals harrell_c on the block's rows
    for k, v in M.concordance_pairs(t, e, r, blocks=b).by_block(b).items():
        assert v == pytest.approx(M.harrell_c(t[b == k], e[b == k], r[b == k]), abs=1e-12)


def test_blocks_of_the_wrong_length_are_refused():
    t, e, r, b = _censored(n=30)
    with pytest.raises(ValueError, match="one label per patient"):
        M.harrell_c(t, e, r, blocks=b[:-1])


# ------------------------------------------------------------------------------------- survival runs
def _survival_table(n=120, p=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    lp = X[:, 0] - 0.7 * X[:, 1]
    tt = np.round(rng.exponential(np.exp(-lp)) * 800) + 1
    cc = np.round(rng.uniform(200, 2500, n))
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(p)])
    df.insert(0, "id", [f"p{i:03d}" for i in range(n)])
    df["original_shape_MeshVolume"] = np.exp(0.5 * X[:, 0] + rng.normal(0, 1, n) + 6)
    df["os_days"], df["os_event"] = np.minimum(tt, cc), (tt <= cc).astype(int)
    df["site"] = rng.choice(["A", "B", "C"], n)
    return df


_CFG = {"target": {"time": "os_days", "event": "os_event"},
        "model": {"name": "coxph", "params": {"alpha": 0.3}, "search": {}}, "select": {"mrmr": 3},
        "batch": "site", "bootstrap": 100, "n_jobs": 1, "safeguards": {"baselines": True, "shap": False}}


def _study(table, cfg=_CFG):
    from radiomix.study import make_study

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_study(table, cfg)


def _fold_shifts(oof, seed):
    """A random constant per (repeat, fold), large enough to reorder risks across folds."""
    keys = oof[["repeat", "fold"]].drop_duplicates().itertuples(index=False)
    rng = np.random.default_rng(seed)
    return {tuple(k): float(rng.normal(0, 5)) for k in keys}


def _shifted_oof(oof, shifts):
    add = np.array([shifts[(r, f)] for r, f in zip(oof["repeat"], oof["fold"])])
    return oof.assign(risk=oof["risk"] + add)


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def test_survival_summary_is_invariant_to_per_fold_shifts_and_equals_the_oracle():
    from radiomix.model_selection.validation import fit_outer_fold

    study = _study(_survival_table())
    results = [_quiet(fit_outer_fold, study, f) for f in study.outer_folds()]
    oof, folds, summary = study.task.summarize(study, results)
    shifts = _fold_shifts(oof, 1)
    moved = [replace(res, proba=res.proba + shifts[(res.fold.repeat, res.fold.fold)],
                     threshold=res.threshold + shifts[(res.fold.repeat, res.fold.fold)]) for res in results]
    oof2, folds2, summary2 = study.task.summarize(study, moved)
    for m in ("c_index", "uno_c", "ibs"):
        for k in ("estimate", "ci_low", "ci_high"):
            assert summary2[m][k] == pytest.approx(summary[m][k], abs=1e-12), (m, k)
    for h, a in summary["td_auc"].items():
        assert a["estimable"]
        for k in ("estimate", "ci_low", "ci_high"):
            assert summary2["td_auc"][h][k] == pytest.approx(a[k], abs=1e-12)
    for s, v in summary["per_site"].items():
        assert summary2["per_site"][s]["c_index"] == pytest.approx(v["c_index"], abs=1e-12)
    np.testing.assert_allclose(folds2["c_index"], folds["c_index"], atol=1e-12)
    assert summary["c_index_folds"]["values"] == pytest.approx(folds["c_index"].tolist(), abs=1e-12)
    # oracle: concordant and comparable pairs counted fold by fold (a double loop), summed over folds
    y = study.y
    t, e = y[:, 0], y[:, 1] > 0
    pos = pd.Index(study.ids).get_indexer(oof2["id"])
    num = den = 0.0
    for _, part in oof2.groupby("fold"):
        i = pos[part.index]
        n, d = _harrell_brute(t[i], e[i], part["risk"].to_numpy(), np.zeros(len(i)))
        num, den = num + n, den + d
    assert summary2["c_index"]["estimate"] == pytest.approx(num / den, abs=1e-12)
    # the shifts matter to a C that pools pairs across folds (what the headline was before)
    risk = oof2.set_index("id")["risk"].reindex(study.ids).to_numpy()
    assert abs(M.harrell_c(t, e, risk) - summary2["c_index"]["estimate"]) > 0.02


def test_baselines_and_permutation_are_invariant_to_per_fold_shifts(monkeypatch):
    from radiomix.model_selection import validation
    from radiomix.safeguards import (
        compare_with_baselines,
        headline,
        oof_matrices,
        oof_scores,
        paired_bootstrap_difference,
        permutation_test,
        study_headline,
    )

    study = _study(_survival_table(seed=2))
    cv = _quiet(validation.nested_cv, study, progress=False)
    moved = replace(cv, oof=_shifted_oof(cv.oof, _fold_shifts(cv.oof, 7)))
    assert study_headline(study, moved) == pytest.approx(study_headline(study, cv), abs=1e-12)
    assert study_headline(study, cv) == pytest.approx(cv.summary["c_index"]["estimate"], abs=1e-12)
    # the old statistic (pooled over folds, on repeat-averaged risks) moves with the shifts
    assert abs(headline(study.y, oof_scores(moved, study.ids), task=study.task)
               - headline(study.y, oof_scores(cv, study.ids), task=study.task)) > 0.02
    a, b = (_quiet(compare_with_baselines, study, c) for c in (cv, moved))
    assert "volume" in a
    for name in a:
        for k in ("baseline", "model", "difference", "ci_low", "ci_high", "p_boot_le_0"):
            assert b[name][k] == pytest.approx(a[name][k], abs=1e-12), (name, k)
    assert a["volume"]["headline"] == "within-fold C-index"
    # the baseline's own folds shifted too: the paired bootstrap is unchanged
    P, F = oof_matrices(cv.oof, study.ids)
    P2, _ = oof_matrices(moved.oof, study.ids)
    Pb = P + 0.3 * np.random.default_rng(0).normal(size=P.shape)
    Pb2 = Pb + 3.0 * F
    d1 = paired_bootstrap_difference(study.y, P, Pb, n_boot=200, task=study.task, folds=F)
    d2 = paired_bootstrap_difference(study.y, P2, Pb2, n_boot=200, task=study.task, folds=F)
    assert d1 == pytest.approx(d2, abs=1e-12)
    assert abs(d1["difference"]) > 0   # the two predictions differ
    # permutation test: every refit's out-of-fold risks shifted by fold constants gives the same p-value
    observed = study_headline(study, cv)
    p1 = _quiet(permutation_test, study, observed, 5, random_state=3)
    real = validation.nested_cv
    seeds = iter(range(100, 200))

    def shifted_nested_cv(s, **k):
        res = real(s, **k)
        return replace(res, oof=_shifted_oof(res.oof, _fold_shifts(res.oof, next(seeds))))

    monkeypatch.setattr(validation, "nested_cv", shifted_nested_cv)
    p2 = _quiet(permutation_test, study, study_headline(study, moved), 5, random_state=3)
    assert next(seeds) == 105   # the shifted refits ran
    for k in ("observed_auc", "p_value", "null_auc_mean", "null_auc_95th"):
        assert p2[k] == pytest.approx(p1[k], abs=1e-12), k


def test_with_repeats_the_baselines_model_is_the_summary_headline():
    from radiomix.model_selection.validation import nested_cv
    from radiomix.safeguards import compare_with_baselines, headline, oof_scores, study_headline

    cfg = {**_CFG, "cv": {"outer": {"n_repeats": 2}}, "bootstrap": 50}
    study = _study(_survival_table(n=100, seed=4), cfg)
    cv = _quiet(nested_cv, study, progress=False)
    assert cv.oof["repeat"].nunique() == 2
    base = _quiet(compare_with_baselines, study, cv)
    c = cv.summary["c_index"]["estimate"]
    assert base["volume"]["model"] == pytest.approx(c, abs=1e-12)
    assert study_headline(study, cv) == pytest.approx(c, abs=1e-12)
    assert base["volume"]["headline"] == "within-fold C-index, mean over 2 repeats"
    # the repeats' average risk (an ensemble) is another number
    assert headline(study.y, oof_scores(cv, study.ids), task=study.task) != pytest.approx(c, abs=1e-6)


def test_with_repeats_a_binary_runs_baselines_quote_its_summary_auc():
    from sklearn.metrics import roc_auc_score

    from radiomix.model_selection.validation import nested_cv
    from radiomix.safeguards import compare_with_baselines, study_headline

    df = _survival_table(n=160, seed=5)
    df["y"] = (df["os_event"] == 1).astype(int)
    cfg = {"target": "y", "model": {"name": "logistic", "params": {"C": 1.0}, "search": {}}, "bootstrap": 50, "threshold": 0.5,
           "cv": {"outer": {"n_repeats": 2}}, "n_jobs": 1, "safeguards": {"shap": False}}
    study = _study(df.drop(columns=["os_days", "os_event"]), cfg)
    cv = _quiet(nested_cv, study, progress=False)
    base = _quiet(compare_with_baselines, study, cv)
    per_repeat = [roc_auc_score(part.set_index("id")["y"], part.set_index("id")["proba"])
                  for _, part in cv.oof.groupby("repeat")]
    assert base["volume"]["model"] == pytest.approx(np.mean(per_repeat), abs=1e-12)
    assert base["volume"]["model"] == pytest.approx(cv.summary["auc"]["estimate"], abs=1e-12)
    assert study_headline(study, cv) == pytest.approx(np.mean(per_repeat), abs=1e-12)


# ------------------------------------------------------------------------------------- other outcomes
@pytest.mark.parametrize("target", ["y", "marker", "grade"])
def test_other_outcomes_headline_is_the_pooled_value_as_before(target):
    from sklearn.metrics import r2_score, roc_auc_score

    from radiomix.model_selection.validation import nested_cv
    from radiomix.safeguards import headline, oof_scores, study_headline

    rng = np.random.default_rng(1)
    n = 150
    X = rng.normal(size=(n, 6))
    eta = X[:, 0] - 0.7 * X[:, 1]
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    df.insert(0, "id", [f"p{i:03d}" for i in range(n)])
    df[target] = {"y": (eta + rng.logistic(size=n) > 0).astype(int), "marker": 250 + 20 * eta + rng.normal(0, 20, n),
                  "grade": np.array(["G1", "G2", "G3"])[np.digitize(eta + rng.logistic(size=n), [-0.5, 1.0])]}[target]
    model = {"name": "elastic_net", "params": {"alpha": 0.1}, "search": {}} if target == "marker" else \
        {"name": "logistic", "params": {"C": 1.0}, "search": {}}
    study = _study(df, {"target": target, "model": model, "bootstrap": 0, "n_jobs": 1,
                        "safeguards": {"baselines": False, "shap": False}})
    cv = _quiet(nested_cv, study, progress=False)
    p = oof_scores(cv, study.ids)
    y = study.y
    oracle = (roc_auc_score(y, p) if target == "y" else r2_score(y, p) if target == "marker" else
              roc_auc_score(y, p, multi_class="ovr", average="macro"))
    got = study_headline(study, cv)
    assert got == pytest.approx(oracle, abs=1e-12)
    assert got == pytest.approx(headline(y, p, task=study.task), abs=1e-12)   # today's pooled value
    assert got == pytest.approx(cv.summary[study.task.headline]["estimate"], abs=1e-12)
    folds = rng.integers(0, 5, n)
    assert study.task.headline_score(y, p, blocks=folds) == study.task.headline_score(y, p)


def test_a_task_whose_headline_takes_no_blocks_is_scored_pooled_and_said_once():
    from dataclasses import dataclass

    from sklearn.metrics import roc_auc_score

    from radiomix.outcomes.binary import BinaryTask
    from radiomix.safeguards import repeated_headline

    @dataclass(frozen=True)
    class LegacyTask(BinaryTask):
        name: str = "legacy_binary_for_test"

        def headline_score(self, y, p):          # written before blocks= existed
            return super().headline_score(y, p)

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    P = y + rng.normal(size=(2, 80))
    F = rng.integers(0, 4, (2, 80))
    with pytest.warns(UserWarning, match="legacy_binary_for_test.*takes no blocks"):
        got = repeated_headline(y, P, F, task=LegacyTask())
    assert got == pytest.approx(np.mean([roc_auc_score(y, p) for p in P]), abs=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # said once: the second call is silent
        repeated_headline(y, P, F, task=LegacyTask())


# ------------------------------------------------------------------------------------- one headline everywhere
def test_under_leave_site_out_every_place_quotes_the_mean_per_site_auc(tmp_path):
    """The summary's headline, the console's last result line, the report's title, the baselines' model value,
    the permutation test's observed value and the verdict all give the mean per-site AUC (not the pooled AUC)."""
    import json

    from click.testing import CliRunner
    from sklearn.metrics import roc_auc_score

    from radiomix.cli import main

    rng = np.random.default_rng(4)
    n = 180
    site = np.repeat(["A", "B", "C"], n // 3)
    x = rng.normal(size=(n, 4))
    shift = {"A": -1.5, "B": 0.0, "C": 1.5}
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.2 * x[:, 0] + np.vectorize(shift.get)(site))))).astype(int)
    t = pd.DataFrame(x + np.vectorize(shift.get)(site)[:, None], columns=[f"original_firstorder_F{i}" for i in range(4)])
    t["original_shape_MeshVolume"] = np.exp(rng.normal(size=n))
    t["id"], t["site"], t["y"] = [f"p{i}" for i in range(n)], site, y
    t.to_csv(tmp_path / "t.csv", index=False)
    cfg = {"target": "y", "batch": "site", "cv": {"outer": {"kind": "leave_site_out"}}, "bootstrap": 100,
           "model": {"name": "logistic", "params": {"C": 1.0}, "search": {}}, "threshold": 0.5,
           "safeguards": {"shap": False, "permutations": 3}, "harmonize": {"method": "none"}}
    (tmp_path / "c.yaml").write_text(json.dumps(cfg))
    res = CliRunner().invoke(main, ["train", str(tmp_path / "t.csv"), "--config", str(tmp_path / "c.yaml"),
                                    "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())["summary"]
    oof = pd.read_csv(tmp_path / "run" / "oof_predictions.csv")
    per_site = oof.groupby("site").apply(lambda d: roc_auc_score(d["y"], d["proba"]), include_groups=False)
    pooled = roc_auc_score(oof["y"], oof["proba"])
    h = m["headline"]
    assert h["name"] == "mean per-site AUC" and h["estimate"] == pytest.approx(per_site.mean(), abs=1e-12)
    assert abs(per_site.mean() - pooled) > 0.02          # the two aggregations differ on this table
    assert h["ci_low"] < h["estimate"] < h["ci_high"]
    assert m["baselines"]["volume"]["model"] == pytest.approx(h["estimate"], abs=1e-12)
    assert m["permutation"]["observed_auc"] == pytest.approx(h["estimate"], abs=1e-12)
    assert m["verdict"]["headline"] == "mean per-site AUC"
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert lines[-2].startswith(f"headline: mean per-site AUC {h['estimate']:.3f}"), lines[-3:]
    assert lines[-1].startswith("run folder:")
    report = (tmp_path / "run" / "report.html").read_text()
    assert f"out-of-fold mean per-site AUC {h['estimate']:.3f}" in report


def test_the_verdict_decides_on_the_refit_aware_interval():
    from radiomix.verdict import verdict

    row = {"description": "x", "headline": "pooled AUC", "baseline": 0.60, "model": 0.66, "difference": 0.06,
           "ci_low": 0.01, "ci_high": 0.11,                        # the paired bootstrap excludes 0
           "decision": {"ci_low": -0.03, "ci_high": 0.15, "method": "refit-aware: corrected resampled t over 5 outer "
                                                                     "folds"}}
    v = verdict({"baselines": {"clinical": row}})
    assert "not shown to beat" in v["sentence"] and "refit-aware" in v["sentence"]
    assert "paired bootstrap +0.010 to +0.110" in v["rows"][0]["value"]
    v = verdict({"baselines": {"clinical": {**row, "decision": {**row["decision"], "ci_low": 0.005}}}})
    assert v["sentence"].startswith("On pooled AUC") and "beats the clinical variables alone" in v["sentence"]
    old = {k: v for k, v in row.items() if k != "decision"}   # a run saved before: the bootstrap decides
    assert "beats" in verdict({"baselines": {"clinical": old}})["sentence"]


def test_leave_site_out_refit_interval_widens_the_bootstrap_by_the_seed_variance():
    from scipy.stats import norm

    from radiomix.safeguards import seed_refit_interval

    boot = {"difference": 0.10, "ci_low": 0.04, "ci_high": 0.15}
    same = seed_refit_interval(boot, [0.10, 0.10])               # a deterministic procedure: the bootstrap's
    assert (same["ci_low"], same["ci_high"]) == pytest.approx((0.04, 0.15), abs=1e-15)
    wide = seed_refit_interval(boot, [0.10, 0.02])
    z = norm.ppf(0.975)
    v = 0.08 ** 2 / 2                                              # variance of one fit's difference from 2 fits
    assert wide["ci_low"] == pytest.approx(0.10 - np.hypot(0.06, z * np.sqrt(v)), abs=1e-12)
    assert wide["ci_high"] == pytest.approx(0.10 + np.hypot(0.05, z * np.sqrt(v)), abs=1e-12)
    assert wide["ci_low"] < 0 < wide["ci_high"]                   # the seed noise undoes the bootstrap's "beats"
