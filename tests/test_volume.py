"""The tumour-volume column and the volume baseline's feature (radiomix.volume)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from radiomix.volume import RankScaler, VolumeColumn, volume_candidates, volume_feature, volume_study

MESH = "original_shape_MeshVolume"


# ----------------------------------------------------------------------------------------------- candidates
def test_candidates_single_column():
    got = volume_candidates([MESH, "original_glcm_Contrast", "original_shape_VoxelVolume"])
    assert got == [VolumeColumn(MESH, "detected by name (pyradiomics MeshVolume)", "")]  # most specific pattern


def test_candidates_multimodal_and_masks_in_prefix_order():
    cols = ["PET_" + MESH, "PET_original_glcm_Contrast", "CT_" + MESH, "CT_original_firstorder_Mean"]
    got = volume_candidates(cols)
    assert [(v.column, v.prefix) for v in got] == [("CT_" + MESH, "CT"), ("PET_" + MESH, "PET")]
    assert volume_candidates(list(reversed(cols))) == got          # the table's column order does not matter
    got = volume_candidates(["semi_" + MESH, "manual_" + MESH, MESH])
    assert [v.prefix for v in got] == ["", "manual", "semi"]      # unprefixed first, then alphabetical
    # a generic "Volume" after a pyradiomics stem: the stem is not part of the modality
    got = volume_candidates(["T2_original_shape_Volume", "ADC_original_shape_Volume", "ADC_original_shape_Sphericity"])
    assert [(v.column, v.prefix) for v in got] == [("ADC_original_shape_Volume", "ADC"),
                                                   ("T2_original_shape_Volume", "T2")]
    assert all(v.how == "detected by name (CaPTk Volume)" for v in got)


@pytest.mark.parametrize("cols, pattern", [
    (["morph_vol", "morph_volume", "morph_sphericity"], "IBSI morph_volume"),
    (["CT_Volume_mm3", "CT_Volume_cc", "PET_Volume"], "CaPTk Volume"),
])
def test_candidates_same_prefix_is_ambiguous(cols, pattern):
    with pytest.raises(ValueError) as err:
        volume_candidates(cols)
    msg = str(err.value)
    assert "\n" not in msg and pattern in msg
    clash = [c for c in cols if c not in ("morph_sphericity", "PET_Volume")]
    assert msg.endswith(f"set safeguards.volume: <one of {', '.join(clash)}>")


def test_candidates_explicit_and_none():
    cols = ["CT_" + MESH, "PET_" + MESH, "my_size"]
    assert volume_candidates(cols, "PET_" + MESH) == [
        VolumeColumn("PET_" + MESH, "named in the config (safeguards.volume)", "PET")]
    assert volume_candidates(cols, "my_size")[0].prefix is None
    with pytest.raises(ValueError, match="safeguards.volume names 'nope', which is not a feature column"):
        volume_candidates(cols, "nope")
    with pytest.raises(LookupError, match="no tumour-volume column found"):
        volume_candidates(["original_glcm_Contrast", "Shape_volumeDensity"])


def test_candidates_on_real_multimodal_headers(shared_data):
    """radMLBench tables with two modalities (CT + PET) and two masks (manual + semi-automatic)."""
    def header(name):
        return [c for c in pd.read_csv(shared_data / "radmlbench" / f"{name}.csv.gz", nrows=0).columns
                if c not in ("ID", "Target")]

    assert [(v.column, v.prefix) for v in volume_candidates(header("Head-Neck-PET-CT"))] == [
        ("CT_" + MESH, "CT"), ("PET_" + MESH, "PET")]
    assert [v.prefix for v in volume_candidates(header("QIN-HEADNECK"))] == ["manual", "semiauto"]


# ------------------------------------------------------------------------------------------------ transform
def test_feature_log_of_positive_volumes_keeps_missing():
    x = pd.Series([120.0, np.nan, 3400.0, 15.5], name="v")
    values, how = volume_feature(x)
    np.testing.assert_array_equal(values, [np.log(120.0), np.nan, np.log(3400.0), np.log(15.5)])
    assert how == "log: all 3 non-missing values > 0 (1 missing)"


def test_feature_zscored_column_is_kept_and_explained():
    rng = np.random.default_rng(1)
    raw = np.exp(rng.normal(8, 1, 200))
    z = (raw - raw.mean()) / raw.std(ddof=1)
    values, how = volume_feature(pd.Series(z))
    np.testing.assert_array_equal(values, z)
    n = int((z <= 0).sum())
    assert how == (f"as given: {round(100 * n / 200)} % of values <= 0 ({n} of 200), the column looks standardized "
                   "(mean 0, SD 1); log needs positive volumes")
    # centred but not unit variance, with a missing value
    values, how = volume_feature(pd.Series([-2.0, np.nan, 3.0, 5.0]))
    np.testing.assert_array_equal(values, [-2.0, np.nan, 3.0, 5.0])
    assert how == ("as given: 33 % of values <= 0 (1 of 3), the column looks centred or transformed; log needs "
                   "positive volumes (1 missing)")


def test_feature_zero_volumes_and_bad_values():
    values, how = volume_feature(pd.Series([0.0, 10.0, 20.0, 30.0]))
    np.testing.assert_array_equal(values, [0.0, 10.0, 20.0, 30.0])
    assert "25 % of values <= 0 (1 of 4), 1 volume(s) of exactly 0 (empty masks?)" in how
    values, how = volume_feature(pd.Series(["10", "n/a", 20.0, np.inf], dtype=object))
    np.testing.assert_array_equal(values, [np.log(10.0), np.nan, np.log(20.0), np.nan])
    assert how == "log: all 2 non-missing values > 0 (2 not a finite number, treated as missing)"
    with pytest.raises(ValueError, match="volume column 'v' has no numeric value"):
        volume_feature(pd.Series([np.nan, "x"], name="v"))


# ---------------------------------------------------------------------------------------------- rank scaler
def test_rank_scaler_matches_scipy_and_ignores_monotone_transforms():
    from scipy.stats import norm, percentileofscore, rankdata

    rng = np.random.default_rng(2)
    train = np.round(np.exp(rng.normal(7, 1, 60)), -1)        # rounded: ties
    test = np.r_[np.exp(rng.normal(7, 1.5, 40)), train[:5], 0.5, 1e9]
    s = RankScaler().fit(train[:, None])
    np.testing.assert_allclose(s.transform(train[:, None])[:, 0], norm.ppf((rankdata(train) - 0.5) / 60),
                               rtol=1e-12)
    want = norm.ppf(np.clip([percentileofscore(train, v, kind="mean") / 100 for v in test], 0.5 / 60, 59.5 / 60))
    np.testing.assert_allclose(s.transform(test[:, None])[:, 0], want, rtol=1e-12)
    for f in (np.log, lambda v: (v - 1100.0) / 870.0, np.sqrt):
        np.testing.assert_array_equal(RankScaler().fit(f(train)[:, None]).transform(f(test)[:, None]),
                                      s.transform(test[:, None]))
    with pytest.raises(ValueError):
        s.transform(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="expecting 1 features"):
        s.transform(np.ones((2, 2)))


# ------------------------------------------------------------------------------- baseline on a real table
def _baseline_auc(table):
    from radiomix.metrics import roc_auc
    from radiomix.model_selection.validation import nested_cv
    from radiomix.safeguards import oof_scores
    from radiomix.study import make_study

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = make_study(table, {"target": "outcome", "bootstrap": 0, "final_model": False}, verbose=False)
        base, how = volume_study(study, "Shape_volume")
        res = nested_cv(base, progress=False)
    return roc_auc(study.y, oof_scores(res, study.ids)), how, study


def _oracle_auc(study, column):
    """The baseline recomputed without radiomix.volume: per outer fold, normal scores of the training ranks
    (scipy), an sklearn logistic regression, pooled out-of-fold AUC (sklearn)."""
    from scipy.stats import norm, percentileofscore
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    x, y, p = study.X[column].to_numpy(float), study.y, np.full(len(study.y), np.nan)
    for f in study.outer_folds():
        tr, n = x[f.train], len(f.train)

        def score(v, tr=tr, n=n):
            return norm.ppf(np.clip([percentileofscore(tr, u, kind="mean") / 100 for u in v], 0.5 / n, 1 - 0.5 / n))

        m = LogisticRegression(max_iter=1000).fit(score(tr)[:, None], y[f.train])
        p[f.test] = m.predict_proba(score(x[f.test])[:, None])[:, 1]
    return roc_auc_score(y, p)


def test_keek_baseline_same_on_raw_and_standardized_tables(shared_data):
    """Acceptance (issue #23): the volume baseline of the Keek table scores the same, to 0.01 AUC, whether the
    volumes come raw (positive: the log branch) or z-scored (the as-given branch). The shared copy is itself
    z-scored (every feature mean 0, SD 1), so the raw table is rebuilt from it as 1e4 * (z + 1), all > 0."""
    t = pd.read_csv(shared_data / "tables" / "keek2020_hnscc_multicenter" / "Keek2020.csv",
                    usecols=["ID", "Target", "Shape_volume", "Shape_sphericity"])
    shipped = t.rename(columns={"ID": "id", "Target": "outcome"})
    assert abs(shipped["Shape_volume"].mean()) < 1e-9 and (shipped["Shape_volume"] <= 0).mean() > 0.6
    raw = shipped.assign(Shape_volume=1e4 * (shipped["Shape_volume"] + 1))
    assert (raw["Shape_volume"] > 0).all()
    feats = ["Shape_volume", "Shape_sphericity"]
    z = raw.assign(**{c: (raw[c] - raw[c].mean()) / raw[c].std(ddof=0) for c in feats})
    auc = {}
    for name, table in (("shipped", shipped), ("raw", raw), ("z", z)):
        auc[name], how, study = _baseline_auc(table)
        assert how.startswith("log: all 273" if name == "raw" else "as given: 70 % of values <= 0"), how
        assert auc[name] == pytest.approx(_oracle_auc(study, "Shape_volume"), abs=1e-9)
    assert abs(auc["raw"] - auc["z"]) <= 0.01 and abs(auc["raw"] - auc["shipped"]) <= 0.01, auc
    assert 0.55 < auc["raw"] < 0.65   # volume carries a weak signal for 3-year survival here


@parametrize_with_checks([RankScaler()])
def test_rank_scaler_is_a_sklearn_estimator(estimator, check):
    check(estimator)
