"""The synthetic cohort is deterministic and its documented signals are really there."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from radiomix.datasets import DEFAULT_SITES, NOISE_COLUMNS, SIGNAL_COLUMNS, _render_case, make_cohort


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
