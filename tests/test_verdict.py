"""The verdict (radiomix.verdict) and the synthetic cohorts that must tell signal beyond volume from volume."""

import warnings

import numpy as np
import pandas as pd
import pytest

from radiomix.verdict import events_per_feature, verdict, volume_correlations


def _b(model, base, lo, hi, headline="pooled AUC"):
    return {"model": model, "baseline": base, "difference": model - base, "ci_low": lo, "ci_high": hi,
            "headline": headline, "beats_baseline": lo > 0, "description": "x"}


def test_verdict_sentence_and_rows():
    s = {"baselines": {"volume": _b(0.80, 0.70, 0.04, 0.16), "clinical": _b(0.80, 0.78, -0.03, 0.07)}}
    v = verdict(s)
    assert v["sentence"].startswith("On pooled AUC (model minus baseline, paired bootstrap), the model beats "
                                    "tumour volume alone; it is not shown to beat the clinical variables alone")
    assert "+0.020, 95% CI -0.030 to +0.070" in v["sentence"] and "add anything to tumour volume" not in v["sentence"]
    assert [r["status"] for r in v["rows"]] == ["ok", "caution"] and not v["beats_all"]

    s = {"baselines": {"volume": _b(0.60, 0.70, -0.18, -0.02, "mean per-site AUC")},
         "permutation": {"p_value": 0.31, "mc_se": 0.046, "n_permutations": 99},
         "case_mix": {"auc": 0.66, "cv": "5-fold stratified"},
         "events_per_feature": {"events": 40, "candidate_features": 1000, "model_features": 20,
                                "per_candidate_feature": 0.04, "per_model_feature": 2.0, "warning": "small"},
         "volume_correlation": [{"feature": "f1", "spearman_volume": 0.93, "volume_surrogate": True,
                                 "is_volume": False, "selected_fraction": 1.0},
                                {"feature": "f2", "spearman_volume": 0.1, "volume_surrogate": False,
                                 "is_volume": False, "selected_fraction": 0.5}]}
    v = verdict(s)
    assert v["sentence"].startswith("On mean per-site AUC")
    assert "is worse than tumour volume alone (-0.100, 95% CI -0.180 to -0.020)" in v["sentence"]
    assert "It has not been shown to add anything to tumour volume." in v["sentence"]
    assert "p = 0.310 (not distinguishable from chance)" in v["sentence"]
    status = {r["check"]: r["status"] for r in v["rows"]}
    assert status == {"vs tumour volume alone": "fail", "permutation test of the whole nested CV": "fail",
                      "site alone predicts the outcome (case mix)": "caution",
                      "events per candidate / per model feature": "caution",
                      "selected features correlated with volume (|rho| >= 0.8)": "caution"}
    assert "1 of 2 selected features" in v["rows"][-1]["result"] and "f1 +0.93" in v["rows"][-1]["value"]
    assert verdict({})["sentence"].startswith("No baseline applied")
    both = verdict({"baselines": {"volume": _b(0.8, 0.7, 0.02, 0.2), "clinical": _b(0.8, 0.6, 0.1, 0.3)}})
    assert "the model beats tumour volume alone and the clinical variables alone." in both["sentence"]
    assert both["beats_all"]


class _FakeStudy:
    def __init__(self, X, y, groups=None, features=None):
        from types import SimpleNamespace

        from radiomix.outcomes import task_of_array

        self.X, self.y, self.groups = X, np.asarray(y), groups
        self.task = task_of_array(self.y)
        self.columns = SimpleNamespace(features=list(features if features is not None else X.columns))


class _FakeCV:
    def __init__(self, selected):
        self.folds = pd.DataFrame({"selected": selected})


def test_events_per_feature_counts_the_smaller_class_and_patients():
    y = [1] * 30 + [0] * 70
    X = pd.DataFrame(np.zeros((100, 400)), columns=[f"f{i}" for i in range(400)])
    with pytest.warns(UserWarning, match="small sample for the feature count"):
        e = events_per_feature(_FakeStudy(X, y), _FakeCV([["f1"] * 5, ["f2"] * 3, ["f3"] * 4]))
    assert (e["events"], e["event_class"], e["candidate_features"], e["model_features"]) == (30, "1", 400, 4)
    assert e["per_candidate_feature"] == pytest.approx(0.075) and e["per_model_feature"] == pytest.approx(7.5)
    # with groups (3 rows per patient), events are patients
    g = np.repeat(np.arange(40), 3)
    yg = np.repeat([1] * 15 + [0] * 25, 3)
    X2 = pd.DataFrame(np.zeros((120, 1)), columns=["a"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 15 events for one feature: no warning
        e = events_per_feature(_FakeStudy(X2, yg, groups=g), None)
    assert e["events"] == 15 and e["warning"] is None


def test_volume_correlations_flags_surrogates():
    rng = np.random.default_rng(0)
    vol = np.exp(rng.normal(8, 1, 200))
    X = pd.DataFrame({"original_shape_MeshVolume": vol,
                      "original_shape_SurfaceArea": vol ** (2 / 3) * (1 + 0.02 * rng.normal(size=200)),
                      "original_glcm_Contrast": rng.normal(size=200), "sex": rng.choice(["F", "M"], 200)})
    cv = _FakeCV([["original_shape_SurfaceArea", "original_glcm_Contrast", "sex_M"],
                  ["original_shape_SurfaceArea", "original_shape_MeshVolume"]])
    rows = volume_correlations(_FakeStudy(X, np.zeros(200)), cv, "original_shape_MeshVolume")
    by = {r["feature"]: r for r in rows}
    assert set(by) == {"original_shape_SurfaceArea", "original_glcm_Contrast", "sex", "original_shape_MeshVolume"}
    assert by["original_shape_SurfaceArea"]["volume_surrogate"] and by["original_shape_SurfaceArea"][
        "selected_fraction"] == 1.0
    assert by["original_shape_SurfaceArea"]["spearman_volume"] > 0.95
    assert not by["original_glcm_Contrast"]["volume_surrogate"] and abs(by["original_glcm_Contrast"][
        "spearman_volume"]) < 0.2
    assert by["original_shape_MeshVolume"]["is_volume"] and not by["original_shape_MeshVolume"]["volume_surrogate"]
    assert np.isnan(by["sex"]["spearman_volume"]) and by["sex"]["selected_fraction"] == 0.5
    assert rows[0]["feature"] in {"original_shape_MeshVolume", "original_shape_SurfaceArea"}  # sorted by |rho|


@pytest.mark.parametrize("signal", ["volume", "beyond_volume"])
def test_cohort_signal_modes(signal):
    from sklearn.linear_model import LogisticRegression

    from radiomix.datasets import make_cohort

    c = make_cohort(4000, 3, images=False, random_state=3, signal=signal)
    t = c.truth
    assert {"size", "heterogeneity"} <= set(t.columns) and (t["signal"] == signal).all()
    assert abs(np.corrcoef(t["size"], t["heterogeneity"])[0, 1]) < 0.05        # independent latents
    X = t[["size", "heterogeneity"]].to_numpy()
    coef = LogisticRegression(C=1e6, max_iter=1000).fit(X, t["outcome"]).coef_[0]
    if signal == "volume":   # nothing but size drives the outcome
        assert coef[0] == pytest.approx(1.8, abs=0.2) and abs(coef[1]) < 0.1
    else:
        assert coef[0] == pytest.approx(0.8, abs=0.15) and coef[1] == pytest.approx(2.0, abs=0.25)
    # genetic columns carry no signal in these modes
    g = c.genetic.merge(t[["id", "outcome"]], on="id")
    assert abs(np.corrcoef(g["mut_TP53"], g["outcome"])[0, 1]) < 0.06


def test_cohort_default_stream_unchanged_and_lesion_latents_separate():
    import numpy as np

    from radiomix.datasets import _lesion_geometry, make_cohort

    a = make_cohort(80, 3, images=False, random_state=5)
    b = make_cohort(80, 3, images=False, random_state=5, signal="beyond_volume")
    # the same patients (the clinical draws come before the extra latent; missingness is drawn after it)
    pd.testing.assert_frame_equal(a.clinical[["id", "age", "sex"]], b.clinical[["id", "age", "sex"]])
    both = a.clinical["ldh"].notna() & b.clinical["ldh"].notna()
    np.testing.assert_array_equal(a.clinical["ldh"][both], b.clinical["ldh"][both])
    np.testing.assert_array_equal(a.truth["severity"], b.truth["size"])
    assert "size" not in a.truth.columns
    # size moves the radius only; heterogeneity moves texture, lobulation and necrosis only
    g = {k: _lesion_geometry(s, h, np.random.default_rng(1)) for k, (s, h) in
         {"base": (0.0, 0.0), "big": (1.5, 0.0), "het": (0.0, 1.5)}.items()}
    assert g["big"]["radius"] > g["base"]["radius"] == g["het"]["radius"]
    assert g["big"]["tex_amp"] == g["base"]["tex_amp"] < g["het"]["tex_amp"]
    assert g["big"]["irregularity"] == g["base"]["irregularity"] < g["het"]["irregularity"]
    assert not g["big"]["necrosis"] and g["het"]["necrosis"]
    # the two-latent cohorts' coarse lesions: heterogeneous ones are less dense; size does not change density
    c = {k: _lesion_geometry(s, h, np.random.default_rng(1), coarse=True) for k, (s, h) in
         {"base": (0.0, 0.0), "big": (1.5, 0.0), "het": (0.0, 1.5)}.items()}
    assert c["big"]["base_hu"] == c["base"]["base_hu"] > c["het"]["base_hu"] + 25
    assert c["base"]["radius"] == g["base"]["radius"] and c["base"]["base_hu"] < g["base"]["base_hu"]
    assert np.all(np.linalg.norm(c["base"]["tex_k"], axis=1) < np.linalg.norm(g["base"]["tex_k"], axis=1))
    with pytest.raises(ValueError, match="signal must be one of"):
        make_cohort(20, 2, images=False, signal="texture")


def _cal_row(summary):
    rows = [r for r in verdict(summary)["rows"] if r["check"].startswith("calibration")]
    assert len(rows) <= 1
    return rows[0] if rows else None


@pytest.mark.parametrize("slope, intercept, status, words", [
    (2.5, 0.1, "caution", ["under-confident", "2.50 > 1.25", "less regularisation", "calibration.recalibrate"]),
    (0.6, 0.0, "caution", ["over-confident", "0.60 < 0.8", "more regularisation, fewer features"]),
    (1.0, 0.7, "caution", ["predicted risks too low on average (intercept +0.70"]),
    (1.0, -0.7, "caution", ["predicted risks too high on average (intercept -0.70"]),
    (1.26, 0.0, "caution", ["under-confident"]),
    (0.79, 0.0, "caution", ["over-confident"]),
    (1.25, 0.5, "ok", ["within range"]),
    (0.8, -0.5, "ok", ["within range"]),
    (1.0, 0.1, "ok", ["within range"]),
])
def test_verdict_calibration_row_binary(slope, intercept, status, words):
    row = _cal_row({"auc": {"estimate": 0.7}, "calibration": {"intercept": intercept, "slope": slope}})
    assert row is not None and row["status"] == status, row
    assert all(w in row["result"] for w in words), row["result"]
    assert row["value"] == f"slope {slope:.2f}, intercept {intercept:+.3g}"
    if status == "ok":
        assert "regularisation" not in row["result"] and "recalibrate" not in row["result"]


def test_verdict_calibration_row_by_outcome_type():
    # regression: the slope rule applies, the intercept is in outcome units (no threshold), no recalibration advice
    reg = {"r2": {"estimate": 0.3}, "calibration_intercept": {"estimate": 12.0},
           "calibration": {"intercept": 12.0, "slope": 1.0, "what": "calibration-in-the-large ..."}}
    assert _cal_row(reg)["status"] == "ok" and "outcome units" in _cal_row(reg)["value"]
    reg["calibration"]["slope"] = 0.5
    row = _cal_row(reg)
    assert row["status"] == "caution" and "over-confident" in row["result"] and "recalibrate" not in row["result"]
    # an explicit scale wins over the guess
    assert _cal_row({"calibration": {"intercept": 0.9, "slope": 1.0, "scale": "logit"},
                     "calibration_intercept": {}})["status"] == "caution"
    # survival / multiclass summaries carry no calibration slope: no row
    assert _cal_row({"c_index": {"estimate": 0.7}, "calibration_horizons": {"365": {}}}) is None
    assert _cal_row({"auc": {"estimate": 0.7}, "calibration": {"intercept": 0.0, "slope": np.nan}}) is None


def test_verdict_calibration_row_from_real_probabilities():
    """Probabilities whose log-odds are shrunk by 2.5 (under-confident) and by 0.5 (over-confident): radiomix's
    calibration() recovers the slope (checked against an unpenalized sklearn logistic fit) and the verdict flags it."""
    from sklearn.linear_model import LogisticRegression

    from radiomix.metrics import calibration

    rng = np.random.default_rng(0)
    lp = rng.normal(0, 1.5, 4000)
    y = (rng.random(lp.size) < 1 / (1 + np.exp(-lp))).astype(int)
    for shrink, word in ((2.5, "under-confident"), (0.5, "over-confident"), (1.0, "within range")):
        p = 1 / (1 + np.exp(-lp / shrink))
        cal = calibration(y, p)
        ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10000).fit((lp / shrink)[:, None], y).coef_[0, 0]
        assert cal["slope"] == pytest.approx(ref, rel=1e-4) and cal["slope"] == pytest.approx(shrink, rel=0.12)
        row = _cal_row({"auc": {"estimate": 0.8}, "calibration": cal})
        assert word in row["result"] and row["status"] == ("ok" if shrink == 1.0 else "caution")


def test_verdict_several_volume_baselines():
    """One volume baseline per modality/mask (names "volume:<prefix>"): each is a volume baseline (fail when not
    beaten, the "add anything to tumour volume" sentence when any is not beaten)."""
    v = verdict({"baselines": {"volume:CT": _b(0.80, 0.70, 0.04, 0.16), "volume:PET": _b(0.80, 0.78, -0.03, 0.07)}})
    assert {r["check"]: r["status"] for r in v["rows"]} == {"vs CT tumour volume alone": "ok",
                                                            "vs PET tumour volume alone": "fail"}
    assert "beats CT tumour volume alone; it is not shown to beat PET tumour volume alone" in v["sentence"]
    assert v["sentence"].endswith("It has not been shown to add anything to tumour volume.")
    v = verdict({"baselines": {"volume:CT": _b(0.80, 0.70, 0.04, 0.16), "volume:PET": _b(0.80, 0.7, 0.01, 0.2)}})
    assert "add anything" not in v["sentence"] and v["beats_all"]
