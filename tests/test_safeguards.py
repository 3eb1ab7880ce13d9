"""Safeguards: baselines under the same folds, a paired bootstrap of the difference, DeLong against R pROC."""

import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiomix.safeguards import (
    compare_with_baselines,
    delong_test,
    detect_volume_column,
    paired_bootstrap_difference,
)

FIX = Path(__file__).resolve().parent / "fixtures" / "proc"
ORACLE = Path(__file__).resolve().parent / "oracles" / "delong_proc.R"


def _check_delong(ref: pd.DataFrame):
    data = pd.read_csv(FIX / "delong_input.csv")
    for _, r in ref.iterrows():
        d = data[data["case"] == r["case"]]
        got = delong_test(d["y"], d["p1"], d["p2"])
        assert got["auc1"] == pytest.approx(r["auc1"], abs=1e-12)
        assert got["auc2"] == pytest.approx(r["auc2"], abs=1e-12)
        assert got["z"] == pytest.approx(r["z"], abs=1e-6)
        assert got["p_value"] == pytest.approx(r["p_value"], abs=1e-6)


def test_delong_equals_proc_roc_test_fixture():
    _check_delong(pd.read_csv(FIX / "delong_proc.csv"))


@pytest.mark.r_oracle
def test_delong_equals_proc_roc_test_live(rscript, tmp_path):
    out = tmp_path / "delong.csv"
    res = subprocess.run([rscript, str(ORACLE), str(FIX / "delong_input.csv"), str(out)], capture_output=True,
                         text=True)
    if res.returncode != 0 and "there is no package called" in res.stderr:
        pytest.skip("R package pROC not installed")
    assert res.returncode == 0, res.stderr
    _check_delong(pd.read_csv(out))
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(FIX / "delong_proc.csv"), rtol=1e-10)


@pytest.mark.parametrize("cols, expected", [
    (["original_shape_MeshVolume", "original_shape_VoxelVolume", "x"], "original_shape_MeshVolume"),
    (["ct_original_shape_VoxelVolume", "x"], "ct_original_shape_VoxelVolume"),
    (["Shape_volume", "Shape_surface"], "Shape_volume"),
    (["morph_volume", "morph_area_mesh"], "morph_volume"),
])
def test_volume_column_detected_by_name(cols, expected):
    assert detect_volume_column(cols)[0] == expected


def test_volume_column_ambiguous_or_missing():
    with pytest.raises(ValueError, match="several volume columns"):
        detect_volume_column(["morph_vol", "morph_volume"])
    # a multi-modal table is a set of candidates, not an ambiguity: the first by the documented order
    assert detect_volume_column(["pet_original_shape_MeshVolume", "ct_original_shape_MeshVolume"])[0] \
        == "ct_original_shape_MeshVolume"
    with pytest.raises(LookupError, match="safeguards.volume"):
        detect_volume_column(["a", "b"])
    assert detect_volume_column(["a", "tumour_ml"], "tumour_ml")[1].startswith("named")


def test_paired_bootstrap_difference():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = y + rng.normal(size=300)
    same = paired_bootstrap_difference(y, p, p, n_boot=200)
    assert same["difference"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0
    noise = rng.normal(size=300)
    better = paired_bootstrap_difference(y, p, noise, n_boot=500)
    assert better["ci_low"] > 0.15                        # AUC ~0.76 vs ~0.5
    # A paired CI is narrower than the unpaired one when the two models' errors are correlated.
    close = p + 0.3 * rng.normal(size=300)
    paired = paired_bootstrap_difference(y, p, close, n_boot=500)
    assert paired["ci_high"] - paired["ci_low"] < 0.1


def _volume_cohort(n=400, seed=0, beyond=False):
    """Outcome from log volume alone, or (beyond=True) from a texture feature independent of volume."""
    rng = np.random.default_rng(seed)
    logv = rng.normal(8, 1, n)
    tex = rng.normal(size=n)
    t = pd.DataFrame({"original_shape_MeshVolume": np.exp(logv), "original_firstorder_Mean": rng.normal(size=n),
                      "original_glcm_Contrast": tex})
    lp = 2.0 * tex if beyond else 1.5 * (logv - 8)
    t["y"] = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    t["age"] = rng.normal(60, 10, n)
    t["id"] = [f"p{i}" for i in range(n)]
    t.attrs["radiomix"] = {"groups": {"radiomic": ["original_shape_MeshVolume", "original_firstorder_Mean",
                                                   "original_glcm_Contrast"], "clinical": ["age"], "genetic": []}}
    return t


CFG = {"target": "y", "model": {"name": "logistic", "params": {"C": 1.0}, "search": {}}, "impute": {"method": "median"},
       "bootstrap": 500, "final_model": False}


@pytest.mark.parametrize("beyond", [False, True])
def test_model_against_the_volume_baseline(beyond):
    from radiomix.model_selection.validation import nested_cv
    from radiomix.study import make_study

    study = make_study(_volume_cohort(beyond=beyond), CFG, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv = nested_cv(study, progress=False)
        base = compare_with_baselines(study, cv)
    assert set(base) == {"volume", "clinical"}
    v = base["volume"]
    assert "original_shape_MeshVolume" in v["description"] and "detected by name" in v["description"]
    assert v["model"] == pytest.approx(cv.summary["auc"]["estimate"], abs=1e-12)
    assert v["delong"] is None and "nested" in v["delong_note"]
    if beyond:   # texture carries the signal: the model beats log volume
        assert v["beats_baseline"] and v["ci_low"] > 0.1
    else:        # the outcome is volume: the model cannot beat it
        assert not v["beats_baseline"] and v["ci_low"] < 0 < v["ci_high"] + 0.02
    assert base["clinical"]["baseline"] == pytest.approx(0.5, abs=0.1)      # age carries no signal


def test_permutation_keeps_site_outcome_counts_and_patients_together():
    from radiomix.safeguards import _permuted  # noqa: PLC2701 - the test checks the private shuffle directly

    rng = np.random.default_rng(0)
    sites = np.repeat(["A", "B"], 30)
    groups = np.repeat(np.arange(20), 3)
    y = np.repeat(rng.integers(0, 2, 20), 3)
    moved = False
    for _ in range(20):
        yp = _permuted(y, sites, groups, rng)
        for s in ("A", "B"):
            assert yp[sites == s].sum() == y[sites == s].sum()          # each site keeps its outcome count
        assert (pd.Series(yp).groupby(groups).nunique() == 1).all()     # a patient's rows share one outcome
        moved |= not np.array_equal(yp, y)
    assert moved


def _cheap_study(beyond: bool, seed: int):
    from radiomix.study import make_study

    t = _volume_cohort(n=150, seed=seed, beyond=beyond)
    cfg = {**CFG, "bootstrap": 0, "cv": {"outer": {"n_splits": 3}}, "safeguards": {"baselines": False},
           "threshold": 0.5}
    return make_study(t.drop(columns=["age"]), cfg, verbose=False)


def test_permutation_test_separates_signal_from_noise():
    from radiomix.model_selection.validation import nested_cv
    from radiomix.safeguards import permutation_test

    signal = _cheap_study(True, 0)
    obs = nested_cv(signal, progress=False).summary["auc"]["estimate"]
    res = permutation_test(signal, obs, 19)
    assert res["p_value"] == pytest.approx(1 / 20) and res["null_auc_mean"] == pytest.approx(0.5, abs=0.08)
    noise = _cheap_study(True, 1)
    noise = type(noise)(**{**noise.__dict__, "y": np.random.default_rng(5).permutation(noise.y)})
    obs_noise = nested_cv(noise, progress=False).summary["auc"]["estimate"]
    assert permutation_test(noise, obs_noise, 19)["p_value"] > 0.1


def test_case_mix_measures_the_site_alone():
    from radiomix.safeguards import case_mix
    from radiomix.study import make_study

    t = _volume_cohort(n=300, seed=2)
    t["site"] = np.where(t["y"] == 1, np.random.default_rng(0).choice(["A", "B"], 300, p=[0.8, 0.2]),
                         np.random.default_rng(1).choice(["A", "B"], 300, p=[0.3, 0.7]))
    study = make_study(t, {**CFG, "batch": "site"}, verbose=False)
    mix = case_mix(study)
    rate = t.groupby("site")["y"].mean()
    assert mix["positive_rate_by_site"] == pytest.approx(rate.to_dict())
    # site A is enriched in positives: the site alone separates them (AUC of a two-level score)
    assert mix["auc"] > 0.65 and "stratified" in mix["cv"]
    assert case_mix(make_study(t.drop(columns="site"), CFG, verbose=False)) is None


def test_missing_volume_baseline_is_said_and_ambiguous_volume_refused_before_training():
    from radiomix.train import train

    t = _volume_cohort(n=120).rename(columns={"original_shape_MeshVolume": "size_a"})
    cfg = {**CFG, "bootstrap": 0, "final_model": False, "cv": {"outer": {"n_splits": 3}}}
    with pytest.warns(UserWarning, match="no volume baseline in this run"):
        run = train(t, cfg, progress=False, report=False)
    assert "volume" not in run.summary["baselines"]
    # one image and mask, two volume columns: ambiguous (a multi-modal table is not: see the next test)
    two = _volume_cohort(n=120).assign(morph_vol=1.0, morph_volume=2.0).drop(columns="original_shape_MeshVolume")
    import radiomix.train as tr

    calls = []
    real = tr.nested_cv
    tr.nested_cv = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        with pytest.raises(ValueError, match="several volume columns"):
            train(two, cfg, progress=False, report=False)
    finally:
        tr.nested_cv = real
    assert calls == []                                   # refused before any fitting
    # with baselines off, an ambiguous volume column only skips (and says) the correlation with volume
    with pytest.warns(UserWarning, match="not compared with tumour volume: several volume columns"):
        run = train(two, {**cfg, "safeguards": {"baselines": False}}, progress=False, report=False)
    assert "volume_correlation" not in run.summary and "baselines" not in run.summary
    assert run.summary["verdict"]["sentence"].startswith("No baseline applied")


def test_a_multi_modal_table_gets_one_volume_baseline_per_modality():
    from radiomix.train import train

    t = _volume_cohort(n=120)
    t["PET_original_shape_MeshVolume"] = t["original_shape_MeshVolume"] * 1.1
    t = t.rename(columns={"original_shape_MeshVolume": "CT_original_shape_MeshVolume"})
    cfg = {**CFG, "bootstrap": 0, "final_model": False, "cv": {"outer": {"n_splits": 3}}}
    run = train(t, cfg, progress=False, report=False)
    assert {"volume:CT", "volume:PET"} <= set(run.summary["baselines"])
    assert run.summary["baselines"]["volume:CT"]["description"].startswith("CT_original_shape_MeshVolume alone (log")


def test_permutation_test_same_result_in_parallel():
    from dataclasses import replace

    from radiomix.safeguards import permutation_test

    study = _cheap_study(True, 3)
    serial = permutation_test(study, 0.7, 6)
    parallel = permutation_test(replace(study, config=study.config.replace({"n_jobs": 2})), 0.7, 6)
    assert serial == parallel
    assert serial["null_auc_mean"] == pytest.approx(0.5, abs=0.1)


def test_paired_bootstrap_with_sites_keeps_each_site_and_its_classes():
    from radiomix.metrics import Resampler

    rng = np.random.default_rng(0)
    sites = np.repeat(["A", "B", "C"], [50, 30, 8])
    y = np.r_[rng.integers(0, 2, 50), rng.integers(0, 2, 30), [1, 0, 0, 0, 0, 0, 0, 0]]
    res = Resampler(y, strata=sites)
    for _ in range(200):
        idx = res.draw(rng, "stratified")
        for s in ("A", "B", "C"):   # every site keeps its size and its number of positives
            assert (sites[idx] == s).sum() == (sites == s).sum()
            assert y[idx][sites[idx] == s].sum() == y[sites == s].sum()
    # without strata the small site C loses its only positive in about a third of the resamples
    free = Resampler(y)
    lost = np.mean([y[i][sites[i] == "C"].sum() == 0 for i in (free.draw(rng, "stratified") for _ in range(300))])
    assert 0.2 < lost < 0.5
    # groups: whole patients, each within its site
    groups = np.repeat(np.arange(44), 2)
    yg = np.repeat(rng.integers(0, 2, 44), 2)
    sg = np.repeat(np.repeat(["A", "B"], [30, 14]), 2)
    idx = Resampler(yg, groups=groups, strata=sg).draw(rng, "stratified")
    assert (sg[idx] == "B").sum() == 28 and pd.Series(groups[idx]).value_counts().min() >= 2


def test_permutation_test_on_a_dask_cluster_gives_the_same_result():
    from dataclasses import replace

    import joblib
    from distributed import Client, LocalCluster

    from radiomix.safeguards import permutation_test

    study = _cheap_study(True, 3)
    local = permutation_test(study, 0.7, 4)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster), joblib.parallel_config(backend="dask"):
        on_dask = permutation_test(replace(study, config=study.config.replace({"n_jobs": 2})), 0.7, 4)
    assert on_dask == local


def test_permutation_refits_skip_the_threshold_without_changing_the_auc():
    """The refits' Youden threshold costs an inner cross-validation per outer fold and cannot change the AUC:
    the lean refit gives the same headline as the full one, for the same permuted outcomes."""
    from dataclasses import replace

    import numpy as np

    from radiomix.safeguards import _permutation_auc, _permuted, _without_threshold_search

    base = _cheap_study(True, 3)
    study = replace(base, search=replace(base.search, threshold="youden"))
    lean = _without_threshold_search(study)
    assert lean.search.threshold == 0.5 and lean.search.correction is None
    cfg = study.config.replace({"bootstrap": 0, "n_jobs": 1})
    yp = _permuted(study.y, study.sites, study.groups, np.random.default_rng(1))
    assert _permutation_auc(lean, yp, cfg) == _permutation_auc(study, yp, cfg)
