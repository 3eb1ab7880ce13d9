"""The synthetic cohort is deterministic and its documented signals are really there."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from radiomix.datasets import (
    DEFAULT_SITES,
    NOISE_COLUMNS,
    SIGNAL_COLUMNS,
    SIGNALS,
    TARGET_COLUMNS,
    TARGETS,
    _draw_targets,
    _render_case,
    make_cohort,
)


@pytest.fixture(scope="module")
def big():
    # Tables only: 3,000 patients make the associations unambiguous in milliseconds.
    return make_cohort(3000, 3, images=False, random_state=7)


def test_tables_are_deterministic():
    a = make_cohort(60, 3, images=False, random_state=3)
    b = make_cohort(60, 3, images=False, random_state=3)
    c = make_cohort(60, 3, images=False, random_state=4)
    for name in ("clinical", "genetic", "truth", "manifest"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not a.clinical["age"].equals(c.clinical["age"])


def test_images_are_deterministic(tmp_path):
    import SimpleITK as sitk

    a = make_cohort(6, 3, out_dir=tmp_path / "a", random_state=11)
    make_cohort(6, 3, out_dir=tmp_path / "b", random_state=11)
    for rel in a.manifest["image"].tolist() + a.manifest["mask"].tolist():
        ia, ib = sitk.ReadImage(str(tmp_path / "a" / rel)), sitk.ReadImage(str(tmp_path / "b" / rel))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(ia), sitk.GetArrayFromImage(ib))
        assert ia.GetSpacing() == ib.GetSpacing() and ia.GetOrigin() == ib.GetOrigin()
    assert (tmp_path / "a" / "manifest.csv").read_text() == (tmp_path / "b" / "manifest.csv").read_text()
    # Manifest convention: id, image, mask, site with paths relative to the manifest.
    assert list(a.manifest.columns) == ["id", "image", "mask", "site"]
    im = sitk.ReadImage(str(tmp_path / "a" / a.manifest["image"][0]))
    assert im.GetPixelID() == sitk.sitkInt16
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "a" / a.manifest["mask"][0]))).max() == 1


def test_prevalence_and_case_mix(big):
    y = big.clinical["outcome"]
    assert abs(y.mean() - 0.30) < 0.03
    by_site = big.clinical.assign(site=big.truth["site"]).groupby("site")["outcome"].mean()
    # Sites see different case mixes: the referral centre (site_C) has the highest prevalence.
    assert by_site["site_C"] - by_site["site_A"] > 0.08


def test_documented_signals_are_real(big):
    df = big.clinical.merge(big.genetic, on="id", how="left")
    y = df["outcome"]

    def auc(col, sign=1):
        ok = df[col].notna()
        return roc_auc_score(y[ok], sign * df.loc[ok, col])

    stage_num = df["stage"].cat.codes.replace(-1, np.nan)
    df = df.assign(stage_num=stage_num)
    assert auc("ldh") > 0.60
    assert auc("albumin", -1) > 0.60
    assert auc("stage_num") > 0.65
    assert auc("mut_TP53") > 0.55
    assert auc("expr_HIF1A") > 0.57  # n=3000: the AUC standard error is ~0.011
    assert auc("expr_VEGFA") > 0.53  # indirect, through its correlation with HIF1A
    for col in ["hemoglobin", "crp"] + NOISE_COLUMNS["genetic"]:
        assert abs(auc(col) - 0.5) < 0.05, col
    assert set(SIGNAL_COLUMNS["clinical"]) <= set(big.clinical.columns)


def test_missingness_patterns(big):
    cl, tr = big.clinical, big.truth
    assert cl.loc[tr["site"] == "site_C", "crp"].isna().all()  # one site never measures CRP
    assert cl.loc[tr["site"] != "site_C", "crp"].notna().all()
    old = cl["age"] > 70
    assert cl.loc[old, "albumin"].isna().mean() > 0.3 > 0.1 > cl.loc[~old, "albumin"].isna().mean()  # MAR
    assert 0.07 < cl["ldh"].isna().mean() < 0.13  # MCAR
    assert 0.12 < 1 - len(big.genetic) / len(cl) < 0.18  # missing modality


def test_site_changes_the_intensity_distribution():
    # The same patient (anatomy, lesion) rendered by two scanners.
    a_img, a_mask, _, _ = _render_case(0.5, 0.5, DEFAULT_SITES[0], 123)
    c_img, c_mask, _, _ = _render_case(0.5, 0.5, DEFAULT_SITES[2], 123)
    lung_a = a_img[:, 20:60, 2:20].astype(float)
    lung_c = c_img[:, 20:60, 2:20].astype(float)
    # Site C: offset -20 HU and scale 0.94 on ~-850 HU lung, and noisier.
    assert lung_c.mean() - lung_a.mean() > 20
    def noise_sd(img):  # robust high-pass noise estimate (vessel edges are rare outliers)
        from scipy.ndimage import gaussian_filter

        res = img - gaussian_filter(img, sigma=(0, 2, 2))
        return 1.4826 * np.median(np.abs(res - np.median(res)))

    assert noise_sd(lung_c) > 1.5 * noise_sd(lung_a)
    # Same lesion, similar physical volume despite different grids (thick slices lose some edge slices).
    va = a_mask.sum() * np.prod(DEFAULT_SITES[0].spacing)
    vc = c_mask.sum() * np.prod(DEFAULT_SITES[2].spacing)
    assert 0.0 < (va - vc) / va < 0.25


@pytest.mark.slow
def test_lesion_features_follow_severity(demo_features):
    feats, cohort = demo_features
    sev = cohort.truth.set_index("id").loc[feats.index, "severity"]
    y = cohort.truth.set_index("id").loc[feats.index, "outcome"]
    rho = {c: spearmanr(feats[c], sev).statistic for c in SIGNAL_COLUMNS["radiomic_examples"]}
    assert rho["original_shape_MeshVolume"] > 0.85  # size grows with severity
    assert rho["original_shape_Sphericity"] < -0.25  # irregularity grows with severity
    assert rho["original_glszm_ZoneEntropy"] > 0.4  # heterogeneity grows with severity
    # At the sharp thin-slice site, first-order spread follows the heterogeneity too.
    a = (feats["site"] == "site_A").to_numpy()
    assert spearmanr(feats.loc[a, "original_firstorder_InterquartileRange"], sev[a]).statistic > 0.5
    # A texture feature alone separates outcomes.
    assert roc_auc_score(y, feats["original_glszm_ZoneEntropy"]) > 0.65
    # Site changes the measured intensity distribution (partial volume, offset): median lesion HU by site.
    med = feats.groupby("site")["original_firstorder_Median"].median()
    assert med["site_A"] - med["site_C"] > 30


# ---- further outcomes (targets=): survival, ordinal grade, marker from the binary outcome's eta ----

_TRUTH_COLS = ["id", "site", "severity", "risk", "outcome", "intercept", "case_seed"]
_CLIN_COLS = ["id", "age", "sex", "ldh", "albumin", "crp", "hemoglobin", "stage", "outcome"]


@pytest.fixture(scope="module")
def cohorts600():
    # Tables only (images=False renders nothing): the documented n = 600 cohorts, seeds 0..2, every signal.
    return {(sig, seed): make_cohort(600, 3, images=False, random_state=seed, signal=sig, targets=TARGETS)
            for sig in SIGNALS for seed in range(3)}


def _fingerprint(c) -> str:
    import hashlib

    h = hashlib.sha256()
    for df in (c.clinical, c.genetic, c.manifest, c.truth[_TRUTH_COLS]):
        h.update(df.to_csv(index=False).encode())
    return h.hexdigest()


def test_default_cohort_unchanged_by_targets():
    a = make_cohort(150, 3, images=False, random_state=0)
    # The default cohort's tables as they were before targets= existed (same draws, same columns).
    assert _fingerprint(a) == "7d41d92ee875987521ff31cba53d7abb2b62635ae78352985cc04dce152b4c1c"
    assert list(a.clinical.columns) == _CLIN_COLS and list(a.truth.columns[:7]) == _TRUTH_COLS
    for sig in SIGNALS:
        d = make_cohort(80, 3, images=False, random_state=5, signal=sig)
        for targets in [TARGETS, ("survival",), ("regression", "multiclass")]:
            b = make_cohort(80, 3, images=False, random_state=5, signal=sig, targets=targets)
            pd.testing.assert_frame_equal(d.genetic, b.genetic)
            pd.testing.assert_frame_equal(d.manifest, b.manifest)
            pd.testing.assert_frame_equal(d.truth, b.truth)  # the truth holds every outcome whatever targets
            kept = [c for c in d.clinical.columns if c in b.clinical.columns]
            pd.testing.assert_frame_equal(d.clinical[kept], b.clinical[kept])
            want = [c for t in TARGETS if t in targets for c in TARGET_COLUMNS[t]]
            assert list(b.clinical.columns) == _CLIN_COLS[:-1] + want


def test_target_columns_dtypes_and_completeness(cohorts600):
    c = cohorts600[("mixed", 0)]
    cl, tr = c.clinical, c.truth
    assert cl["os_days"].dtype == np.float64 and cl["os_event"].dtype == np.int64
    assert cl["marker"].dtype == np.float64 and cl["outcome"].dtype == np.int64
    assert set(cl["grade"]) == {"G1", "G2", "G3"} and cl["grade"].map(type).eq(str).all()
    cols = [c for t in TARGETS for c in TARGET_COLUMNS[t]]
    assert cl[cols].notna().all().all()  # missingness never touches the outcomes
    assert (cl["os_days"] > 0).all() and (cl["os_days"] == cl["os_days"].round()).all()
    assert set(cl["os_event"]) == {0, 1}
    # os_days / os_event follow from the latent event and censoring times
    t, cens = tr["os_event_days"], tr["os_censor_days"]
    np.testing.assert_array_equal(cl["os_event"], (t <= cens).astype(int))
    np.testing.assert_array_equal(cl["os_days"], np.maximum(1, np.round(np.minimum(t, cens))))
    np.testing.assert_array_equal(cens, np.minimum(tr["os_admin_days"], tr["os_dropout_days"]))
    assert tr["os_admin_days"].between(365, 1826).all()
    # eta is the binary outcome's linear predictor
    np.testing.assert_allclose(tr["risk"], 1 / (1 + np.exp(-(tr["intercept"] + tr["eta"]))))


@pytest.mark.parametrize("signal", SIGNALS)
def test_survival_events_follow_up_and_truth_concordance(cohorts600, signal):
    from radiomix.outcomes.survival.metrics import harrell_c, kaplan_meier

    for seed in range(3):
        cl, tr = cohorts600[(signal, seed)].clinical, cohorts600[(signal, seed)].truth
        assert 0.54 < cl["os_event"].mean() < 0.65  # measured 0.57-0.59
        # reverse Kaplan-Meier median follow-up (censoring is the "event"); administrative follow-up 1-5 years
        times, g = kaplan_meier(cl["os_days"], cl["os_event"] > 0, reverse=True)
        follow_up = times[np.flatnonzero(g <= 0.5)[0]] / 365.25
        assert 2.5 < follow_up < 3.5  # measured 2.9-3.1
        assert 1.8 < tr["os_event_days"].median() / 365.25 < 2.6  # uncensored median, measured 2.0-2.3
        # a higher eta means a higher hazard: Harrell's C of -eta against the observed survival
        c_index = harrell_c(cl["os_days"], cl["os_event"] > 0, tr["eta"])
        assert 0.72 < c_index < 0.83, (seed, c_index)  # measured 0.74-0.80


def test_survival_model_is_the_documented_weibull():
    from radiomix.models.survival import CoxPH
    from radiomix.outcomes.survival.metrics import harrell_c, surv_array

    eta = np.random.default_rng(0).normal(0.3, 2.0, 20_000)  # the scale of eta in every signal mode
    d = _draw_targets(eta, np.random.default_rng(1))
    np.testing.assert_allclose(d["os_lp"], 0.6 * (eta - eta.mean()))
    # T exp(lp / 1.5) is the event time at the mean eta: Weibull, shape 1.5, median 800 days
    t0 = d["os_event_days"] * np.exp(d["os_lp"] / 1.5)
    q25, q50, q75 = np.quantile(t0, [0.25, 0.5, 0.75])
    assert abs(q50 - 800) < 25
    assert q75 / q25 == pytest.approx((np.log(4) / np.log(4 / 3)) ** (1 / 1.5), rel=0.05)  # 2.85 (shape 1: 4.8)
    assert 0.57 < d["os_event"].mean() < 0.62
    k = 5_000  # Harrell's C is computed on all pairs: 20,000 rows would take 8 GB of pair matrices
    assert 0.75 < harrell_c(d["os_days"][:k], d["os_event"][:k] > 0, eta[:k]) < 0.80
    cox = CoxPH(alpha=0.0).fit(eta[:, None], surv_array(d["os_days"], d["os_event"]))
    assert cox.coef_[0] == pytest.approx(0.6, abs=0.04)  # the documented log-hazard ratio


def test_grade_shares_and_order(cohorts600):
    for key, c in cohorts600.items():
        share = c.clinical["grade"].value_counts(normalize=True)
        assert abs(share["G1"] - 0.45) < 0.05 and abs(share["G2"] - 0.35) < 0.05, key  # measured 0.44-0.46, 0.32-0.36
        assert abs(share["G3"] - 0.20) < 0.04, key  # measured 0.19-0.23
    big = make_cohort(20_000, 3, images=False, random_state=1, targets=("multiclass",))
    share = big.clinical["grade"].value_counts(normalize=True)
    np.testing.assert_allclose(share[["G1", "G2", "G3"]], [0.45, 0.35, 0.20], atol=0.01)
    mean_eta = big.truth.groupby("grade")["eta"].mean()
    assert mean_eta["G1"] + 1 < mean_eta["G2"] < mean_eta["G3"] - 1  # ordinal in eta
    tr = big.truth
    assert (tr["grade_cut_G2"] < tr["grade_cut_G3"]).all()
    np.testing.assert_array_equal(tr["grade"] == "G3", tr["grade_latent"] > tr["grade_cut_G3"])


def test_marker_r2_of_truth(cohorts600):
    from sklearn.metrics import r2_score

    for (signal, seed), c in cohorts600.items():
        r2 = r2_score(c.clinical["marker"], c.truth["marker_mean"])
        assert 0.36 < r2 < 0.54, (signal, seed, r2)  # measured 0.38-0.51
        np.testing.assert_allclose(c.truth["marker_mean"], 250 + 20 * c.truth["eta"])
    big = make_cohort(20_000, 3, images=False, random_state=2, targets=("regression",))
    assert 0.43 < r2_score(big.clinical["marker"], big.truth["marker_mean"]) < 0.48  # documented: about 0.45


def test_unknown_target_is_an_error():
    with pytest.raises(ValueError, match="survival.*multiclass.*regression") as err:
        make_cohort(20, 2, images=False, targets=("binary", "cox"))
    assert "'binary'" in str(err.value) and "cox" in str(err.value)
    with pytest.raises(ValueError, match="targets"):
        make_cohort(20, 2, images=False, targets=())
    # a single name is taken as a one-element tuple
    assert "outcome" not in make_cohort(20, 2, images=False, targets="survival").clinical.columns
