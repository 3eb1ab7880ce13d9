"""radiomix.ibsi: the pyradiomics -> IBSI tag mapping, the comparison at the references' precision, and the
IBSI 1 digital phantom's matches pinned (``../shared/data/ibsi``: the phantoms and the IBSI reference tables).

The phantom tests need ../shared/data: they fail under ``CI=true`` without it and are skipped elsewhere (the
``shared_data`` fixture of conftest.py).
"""

import math

import numpy as np
import pandas as pd
import pytest

from radiomix.extraction import load_params
from radiomix.ibsi import (
    CONFIGURATIONS,
    DEVIATIONS,
    FEATURE_CLASSES,
    IBSI_TAGS,
    NOT_IN_IBSI,
    configuration,
    conformance,
    ibsi_tags,
    matches_reference,
    pyradiomics_settings,
    read_reference,
    reference_digits,
    run_conformance,
    summarize,
)

#: The IBSI tags pyradiomics 3.1 matches on the digital phantom (no image processing), 99 of 102 mapped.
DIGITAL_MATCHES = frozenset({
    'morph_volume', 'morph_vol_approx', 'morph_area_mesh', 'morph_av', 'morph_sphericity', 'morph_diam',
    'morph_pca_maj_axis', 'morph_pca_elongation', 'morph_pca_flatness', 'stat_mean', 'stat_var',
    'stat_skew', 'stat_median', 'stat_min', 'stat_p10', 'stat_p90', 'stat_max', 'stat_iqr', 'stat_range',
    'stat_mad', 'stat_rmad', 'stat_energy', 'stat_rms', 'ih_entropy', 'ih_uniformity',
    'cm_joint_max_3D_avg', 'cm_joint_avg_3D_avg', 'cm_joint_var_3D_avg', 'cm_joint_entr_3D_avg',
    'cm_diff_avg_3D_avg', 'cm_diff_var_3D_avg', 'cm_diff_entr_3D_avg', 'cm_sum_avg_3D_avg',
    'cm_sum_entr_3D_avg', 'cm_energy_3D_avg', 'cm_contrast_3D_avg', 'cm_inv_diff_3D_avg',
    'cm_inv_diff_norm_3D_avg', 'cm_inv_diff_mom_3D_avg', 'cm_inv_diff_mom_norm_3D_avg', 'cm_inv_var_3D_avg',
    'cm_corr_3D_avg', 'cm_auto_corr_3D_avg', 'cm_clust_tend_3D_avg', 'cm_clust_shade_3D_avg',
    'cm_clust_prom_3D_avg', 'cm_info_corr1_3D_avg', 'cm_info_corr2_3D_avg', 'rlm_sre_3D_avg',
    'rlm_lre_3D_avg', 'rlm_lgre_3D_avg', 'rlm_hgre_3D_avg', 'rlm_srlge_3D_avg', 'rlm_srhge_3D_avg',
    'rlm_lrlge_3D_avg', 'rlm_lrhge_3D_avg', 'rlm_glnu_3D_avg', 'rlm_glnu_norm_3D_avg', 'rlm_rlnu_3D_avg',
    'rlm_rlnu_norm_3D_avg', 'rlm_r_perc_3D_avg', 'rlm_gl_var_3D_avg', 'rlm_rl_var_3D_avg',
    'rlm_rl_entr_3D_avg', 'szm_sze_3D', 'szm_lze_3D', 'szm_lgze_3D', 'szm_hgze_3D', 'szm_szlge_3D',
    'szm_szhge_3D', 'szm_lzlge_3D', 'szm_lzhge_3D', 'szm_glnu_3D', 'szm_glnu_norm_3D', 'szm_zsnu_3D',
    'szm_zsnu_norm_3D', 'szm_z_perc_3D', 'szm_gl_var_3D', 'szm_zs_var_3D', 'szm_zs_entr_3D', 'ngl_lde_3D',
    'ngl_hde_3D', 'ngl_lgce_3D', 'ngl_hgce_3D', 'ngl_ldlge_3D', 'ngl_ldhge_3D', 'ngl_hdlge_3D',
    'ngl_hdhge_3D', 'ngl_glnu_3D', 'ngl_dcnu_3D', 'ngl_dcnu_norm_3D', 'ngl_gl_var_3D', 'ngl_dc_var_3D',
    'ngl_dc_entr_3D', 'ngt_coarseness_3D', 'ngt_contrast_3D', 'ngt_busyness_3D', 'ngt_complexity_3D',
    'ngt_strength_3D',
})
DIGITAL_DEVIATIONS = frozenset({"stat_kurt", "morph_pca_min_axis", "morph_pca_least_axis"})


# ------------------------------------------------------------------------------------------- precision
@pytest.mark.parametrize("value, reference, tolerance, expected", [
    (0.0123, 0.0123, 0.0, True),
    (0.01236, 0.0124, 0.0, True),      # rounds to the reference: a match, although |d| > tolerance 0
    (0.01226, 0.0124, 0.0, False),
    (0.012349, 0.0124, 0.0, False),    # just below the rounding boundary
    (-0.01214, -0.0121, 0.0, True),
    (-0.01216, -0.0121, 0.0, False),
    (1494.6, 1490.0, 0.0, True),       # an integer reference is still 3 significant figures, not units
    (1495.1, 1490.0, 0.0, False),
    (1.004, 1.0, 0.0, True),           # "1" is 1.00
    (1.006, 1.0, 0.0, False),
    (567.4, 567.0, 0.0, True),
    (567.6, 567.0, 0.0, False),
    (125256.0, 125256.0, 0.0, True),   # written with 6 digits: compared at 6
    (125300.0, 125256.0, 0.0, False),
    (1e-12, 0.0, 0.0, True),           # zero: floating-point noise only
    (1e-3, 0.0, 0.0, False),
    (556.3, 556.0, 4.0, True),         # a tolerance: |d| <= tolerance
    (560.5, 556.0, 4.0, False),
    (np.nan, 1.0, 0.0, False),
])
def test_matches_reference_at_its_precision(value, reference, tolerance, expected):
    assert matches_reference(value, reference, tolerance) is expected


@pytest.mark.parametrize("reference, digits", [(0.0121, 3), (1490.0, 3), (125256.0, 6), (5.0, 1), (0.0, 0),
                                               (-0.355, 3), (3.1e-05, 2), (0.00963, 3)])
def test_reference_digits(reference, digits):
    assert reference_digits(reference) == digits


# ------------------------------------------------------------------------------------------- mapping
def _default_pyradiomics_features() -> set[str]:
    from radiomics import getFeatureClasses

    classes = getFeatureClasses()
    return {f"original_{cls}_{name}" for cls in FEATURE_CLASSES
            for name, deprecated in classes[cls].getFeatureNames().items() if not deprecated}


def test_every_default_pyradiomics_feature_is_mapped_or_explained():
    assert set(IBSI_TAGS) | set(NOT_IN_IBSI) == _default_pyradiomics_features()
    assert not set(IBSI_TAGS) & set(NOT_IN_IBSI)
    assert set(DEVIATIONS) <= set(IBSI_TAGS)
    assert len(IBSI_TAGS) == 102


@pytest.mark.parametrize("aggregation", ["3D", "2.5D"])
def test_tags_are_one_to_one(aggregation):
    tags = list(ibsi_tags(aggregation).values())
    assert len(set(tags)) == len(tags)


def test_texture_tags_follow_the_aggregation():
    assert IBSI_TAGS["original_glcm_Contrast"] == "cm_contrast_3D_avg"
    assert ibsi_tags("2.5D")["original_glszm_ZoneEntropy"] == "szm_zs_entr_2_5D"
    assert ibsi_tags("2.5D")["original_shape_MeshVolume"] == "morph_volume"
    with pytest.raises(ValueError, match="aggregation"):
        ibsi_tags("2D")


@pytest.mark.parametrize("key", list(CONFIGURATIONS))
def test_settings_pass_pyradiomics_schema(key):
    phantom, _, name = key.partition("/")
    params = pyradiomics_settings(phantom, name)
    assert load_params(params).settings == params
    cfg = configuration(phantom, name)
    assert cfg.aggregation == ("2.5D" if params["setting"]["force2D"] else "3D")
    assert cfg.exact == (key in ("digital/none", "ct/A"))


def test_unknown_configuration_is_refused():
    with pytest.raises(ValueError, match="no IBSI configuration 'F'"):
        configuration("ct", "F")


# ------------------------------------------------------------------------------------------- conformance
def _reference(rows: dict) -> pd.DataFrame:
    return pd.DataFrame(rows, index=["reference", "tolerance"]).T.rename_axis("tag")


def test_conformance_rows_and_reasons():
    values = {"original_firstorder_Mean": 2.149, "original_firstorder_Kurtosis": 2.645,
              "original_glcm_Contrast": 5.1, "original_glcm_MCC": 0.44}
    ref = _reference({"stat_mean": (2.15, 0.0), "stat_kurt": (-0.355, 0.0), "cm_contrast_3D_avg": (5.32, 0.0)})
    table = conformance(values, ref, configuration("digital", "none"))
    assert list(table["tag"]) == ["stat_mean", "stat_kurt", "cm_contrast_3D_avg"]  # MCC: not in IBSI, no row
    assert list(table["match"]) == [True, False, False]
    assert table["reason"].tolist() == ["", DEVIATIONS["original_firstorder_Kurtosis"],
                                        "unexplained: pyradiomics' documented definition is IBSI's"]
    assert set(table["compared"]) == {"3 significant figures"}
    ct_b = conformance(values, ref.rename(index={"cm_contrast_3D_avg": "cm_contrast_2_5D_avg"}),
                       configuration("ct", "B"))
    assert "configuration B not expressed exactly: resampling grid" in ct_b["reason"].iloc[2]


def test_conformance_names_what_it_leaves_out_and_refuses_the_wrong_table():
    ref = _reference({"stat_mean": (2.15, 0.0)})
    with pytest.warns(UserWarning, match="1 features have no IBSI mapping.*wavelet"):
        conformance({"original_firstorder_Mean": 2.15, "wavelet-LLH_firstorder_Mean": 1.0}, ref,
                    configuration("digital", "none"))
    with pytest.raises(ValueError, match=r"no value for \['cm_contrast_3D_avg'\]"):
        conformance({"original_glcm_Contrast": 5.3}, ref, configuration("digital", "none"))
    with pytest.raises(ValueError, match="no mapped pyradiomics feature"):
        conformance({"Mean": 2.15}, ref, configuration("digital", "none"))


# ------------------------------------------------------------------------------------------- phantoms
@pytest.fixture(scope="module")
def digital(shared_data):
    return run_conformance(shared_data / "ibsi", ["digital/none"])


def test_digital_phantom_matches_are_pinned(digital):
    assert set(digital.loc[digital["match"], "tag"]) == DIGITAL_MATCHES
    assert set(digital.loc[~digital["match"], "tag"]) == DIGITAL_DEVIATIONS
    assert summarize(digital)[["mapped", "matching", "deviating"]].iloc[0].tolist() == [102, 99, 3]
    # The configuration is exact: every deviation is a documented pyradiomics definition.
    bad = digital[~digital["match"]]
    assert (bad["reason"] == bad["feature"].map(DEVIATIONS)).all()


def test_digital_phantom_deviations_are_the_documented_definitions(digital):
    row = digital.set_index("feature")
    kurt = row.loc["original_firstorder_Kurtosis"]
    assert matches_reference(kurt["value"] - 3, kurt["reference"], kurt["tolerance"])
    n = row.at["original_shape_VoxelVolume", "value"] / 2.0 ** 3  # 2 mm voxels
    assert n == 74
    for axis in ("MajorAxisLength", "MinorAxisLength", "LeastAxisLength"):
        r = row.loc[f"original_shape_{axis}"]
        assert matches_reference(r["value"] * math.sqrt(n / (n - 1)), r["reference"], r["tolerance"])


def test_ct_configuration_a_deviates_only_in_kurtosis(shared_data):
    table = run_conformance(shared_data / "ibsi", ["ct/A"])
    bad = table[~table["match"]]
    assert bad["tag"].tolist() == ["stat_kurt"] and len(table) == 102
    kurt = bad.iloc[0]
    assert matches_reference(kurt["value"] - 3, kurt["reference"], kurt["tolerance"])
    # pyradiomics' bins start at the re-segmentation bound only because the ROI reaches it: pin that.
    assert table.set_index("tag").at["stat_min", "value"] == -500


@pytest.mark.parametrize("key", list(CONFIGURATIONS))
def test_every_mapped_tag_has_a_reference_value(shared_data, key):
    cfg = CONFIGURATIONS[key]
    ref = read_reference(shared_data / "ibsi" / "reference_values" / cfg.reference_file)
    tags = list(ibsi_tags(cfg.aggregation).values())
    assert ref.loc[tags, "reference"].notna().all()
