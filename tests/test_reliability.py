"""ICC and CCC (radiomix.reliability) against their oracles.

* ICC: ``pingouin.intraclass_corr`` (tests/oracles/icc_pingouin.py) on a synthetic table with rater effects
  and missing values and on real CT radiomics perturbed into 4 repeats; stored in
  tests/fixtures/reliability/icc_pingouin.csv, and re-run live when pingouin is installed.
* CCC: Lin's formula written out per feature below (mean-squared-deviation form, Lin 2000 standard error)
  and a value computed by hand.
"""

from __future__ import annotations

import importlib.util
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from radiomix.reliability import ICC_FORMS, ReliabilityWarning, ccc, icc

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixtures" / "reliability" / "icc_pingouin.csv"
_spec = importlib.util.spec_from_file_location("icc_pingouin_oracle", HERE / "oracles" / "icc_pingouin.py")
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)

CASE, RATER = oracle.CASE, oracle.RATER
# pingouin (McGraw & Wong) name -> radiomix (Shrout & Fleiss) name.
PG_TO_SF = {"ICC(1,1)": "ICC(1,1)", "ICC(A,1)": "ICC(2,1)", "ICC(C,1)": "ICC(3,1)",
            "ICC(1,k)": "ICC(1,k)", "ICC(A,k)": "ICC(2,k)", "ICC(C,k)": "ICC(3,k)"}
STATS = ["icc", "ci_low", "ci_high", "F", "df1", "df2", "p_value"]


def _stored(name: str) -> pd.DataFrame:
    ref = pd.read_csv(FIXTURE)
    ref = ref[ref["table"] == name].copy()
    ref["form"] = ref["type"].map(PG_TO_SF)
    return ref


def _quiet_icc(table, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReliabilityWarning)
        return icc(table, **kw)


def _assert_equals_reference(table: pd.DataFrame, ref: pd.DataFrame, rater=RATER) -> None:
    """Every form of radiomix's icc equals the reference rows (pingouin) to 1e-10."""
    feats = list(ref["feature"].unique())
    sums = ref.groupby("feature", sort=False)["input_sum"].first()
    got_sums = table[feats].sum()
    assert np.allclose(got_sums[feats], sums[feats], rtol=1e-12, atol=0), \
        "the rebuilt input table differs from the one the fixture was written from; rerun tests/oracles/icc_pingouin.py"
    for form in ICC_FORMS:
        got = _quiet_icc(table, case=CASE, rater=rater, features=feats, form=form)
        exp = ref[ref["form"] == form].set_index("feature").loc[feats]
        assert got.attrs["form"] == form
        np.testing.assert_allclose(got["icc"], exp["icc"], rtol=0, atol=1e-10, err_msg=form)
        np.testing.assert_allclose(got[["ci_low", "ci_high"]], exp[["ci_low", "ci_high"]], rtol=0, atol=1e-10,
                                   err_msg=form)
        np.testing.assert_allclose(got[["F", "df1", "df2"]], exp[["F", "df1", "df2"]], rtol=1e-10, atol=0,
                                   err_msg=form)
        np.testing.assert_allclose(got["p_value"], exp["p_value"], rtol=1e-8, atol=1e-14, err_msg=form)


# ------------------------------------------------------------------------------------ pingouin oracle
def test_fixture_holds_every_form_for_both_tables():
    ref = pd.read_csv(FIXTURE)
    assert set(ref["table"]) == {"synthetic", "keek_perturbed"}
    assert ref.groupby("table")["type"].nunique().eq(6).all()
    assert ref.groupby("table")["feature"].nunique().to_dict() == {"synthetic": 8, "keek_perturbed": 50}
    assert ref["icc"].notna().all() and ref["ci_low"].lt(ref["icc"]).all() and ref["ci_high"].gt(ref["icc"]).all()


def test_icc_equals_stored_pingouin_on_synthetic_table_with_rater_effects_and_missing_values():
    _assert_equals_reference(oracle.synthetic_table(), _stored("synthetic"))


def test_icc_equals_stored_pingouin_on_perturbed_real_table(shared_data):
    table = oracle.perturbed_table(shared_data / "tables" / "keek2020_hnscc_multicenter" / "Keek2020.csv")
    _assert_equals_reference(table, _stored("keek_perturbed"))


def _live(table: pd.DataFrame, name: str) -> pd.DataFrame:
    return oracle.pingouin_rows(table, name).assign(form=lambda d: d["type"].map(PG_TO_SF))


# pingouin 0.7 calls DataFrame.dropna(inplace=True), which pandas 3.1 deprecates.
@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_icc_equals_pingouin_live_on_synthetic_table():
    pytest.importorskip("pingouin")
    synth = oracle.synthetic_table()
    _assert_equals_reference(synth, _live(synth, "synthetic"))


@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_icc_equals_pingouin_live_on_perturbed_real_table(shared_data):
    pytest.importorskip("pingouin")
    real = oracle.perturbed_table(shared_data / "tables" / "keek2020_hnscc_multicenter" / "Keek2020.csv")
    _assert_equals_reference(real, _live(real, "keek_perturbed"))


@pytest.mark.parametrize("form", ["ICC(1,1)", "ICC(1,k)"])
def test_one_way_forms_without_rater_column_equal_pingouin(form):
    """Without a rater column the repeats' order is arbitrary; the one-way forms must not depend on it."""
    table = oracle.synthetic_table().drop(columns=RATER).sample(frac=1, random_state=3)
    ref = _stored("synthetic")
    exp = ref[ref["form"] == form].set_index("feature")
    got = _quiet_icc(table, case=CASE, form=form)
    np.testing.assert_allclose(got[STATS], exp.loc[got.index, STATS], rtol=1e-10, atol=1e-12)


def test_missing_values_drop_cases_per_feature_as_pingouin_omit():
    table = oracle.synthetic_table()
    with pytest.warns(ReliabilityWarning, match=r"2 feature\(s\) have missing values.*up to 4 of 40 cases"):
        got = icc(table, case=CASE, rater=RATER, form="ICC2")
    assert got.loc["miss_a", "n_cases"] == 36 and got.loc["miss_b", "n_cases"] == 37
    assert got.drop(index=["miss_a", "miss_b"])["n_cases"].eq(40).all()


# ------------------------------------------------------------------------------------ design and form
def test_auto_picks_icc2_with_shared_raters_and_says_so():
    res = _quiet_icc(oracle.synthetic_table(), case=CASE, rater=RATER)
    assert res.attrs["form"] == "ICC(2,1)"
    assert "absolute agreement" in res.attrs["design"] and "'rater'" in res.attrs["design"]
    assert res.attrs["n_repeats"] == 3 and res.attrs["confidence"] == 0.95


def test_auto_picks_icc1_without_raters_or_with_case_specific_labels():
    table = oracle.synthetic_table()
    no_rater = _quiet_icc(table.drop(columns=RATER), case=CASE)
    assert no_rater.attrs["form"] == "ICC(1,1)" and "no rater column" in no_rater.attrs["design"]
    own = table.assign(rater=table[CASE] + "-" + table[RATER])  # perturbation ids drawn per case
    res = _quiet_icc(own, case=CASE, rater=RATER)
    assert res.attrs["form"] == "ICC(1,1)" and "differ between cases" in res.attrs["design"]
    pd.testing.assert_frame_equal(res, no_rater, check_like=True, check_exact=False, rtol=1e-12)


def test_two_way_form_without_shared_raters_is_refused():
    table = oracle.synthetic_table().drop(columns=RATER)
    with pytest.raises(ValueError, match="needs raters shared by all cases"):
        icc(table, case=CASE, features=["good"], form="ICC3")
    with pytest.raises(ValueError, match="form='ICC4' is not one of"):
        icc(oracle.synthetic_table(), case=CASE, rater=RATER, features=["good"], form="ICC4")


def test_forced_form_is_recorded():
    res = icc(oracle.synthetic_table(), case=CASE, rater=RATER, features=["good"], form="ICC(C,1)")
    assert res.attrs["form"] == "ICC(3,1)"
    assert res.attrs["design"].startswith("ICC(3,1): two-way mixed effects, consistency")
    assert "form='ICC(C,1)' as requested" in res.attrs["design"]


def test_unbalanced_design_error_names_the_case():
    table = oracle.synthetic_table()
    short = table.drop(index=table.index[(table[CASE] == "S07") & (table[RATER] == "R2")])
    with pytest.raises(ValueError, match=r"unbalanced design.*most cases have 3.*'S07' has 2"):
        icc(short, case=CASE, rater=RATER, features=["good"])
    with pytest.raises(ValueError, match=r"'S07' has 2"):
        icc(short.drop(columns=RATER), case=CASE, features=["good"])
    swapped = table.copy()
    swapped.loc[(swapped[CASE] == "S11") & (swapped[RATER] == "R3"), RATER] = "R9"
    with pytest.raises(ValueError, match=r"1 case\(s\) were not measured by the same raters.*'S11' lacks \['R3'\]"):
        icc(swapped, case=CASE, rater=RATER, features=["good"])
    dup = table.copy()
    dup.loc[(dup[CASE] == "S05") & (dup[RATER] == "R3"), RATER] = "R1"
    with pytest.raises(ValueError, match=r"case 'S05' has rater 'R1' more than once"):
        icc(dup, case=CASE, rater=RATER, features=["good"])


def test_non_numeric_columns_are_named_when_left_out():
    table = oracle.synthetic_table().assign(site="A")
    with pytest.warns(ReliabilityWarning, match=r"1 non-numeric column\(s\).*\['site'\]"):
        res = icc(table.drop(columns=["miss_a", "miss_b"]), case=CASE, rater=RATER)
    assert "site" not in res.index and len(res) == 6


def test_constant_feature_gives_nan_and_a_warning():
    table = oracle.synthetic_table().drop(columns=["miss_a", "miss_b"]).assign(flat=0.1, flat2=-3.0)
    with pytest.warns(ReliabilityWarning, match=r"2 constant feature\(s\) have no ICC \(NaN\): \['flat', 'flat2'\]"):
        res = icc(table, case=CASE, rater=RATER, form="ICC1")
    assert res.loc[["flat", "flat2"], ["icc", "ci_low", "ci_high", "F", "p_value"]].isna().all().all()
    assert res.drop(index=["flat", "flat2"])["icc"].notna().all()


# ------------------------------------------------------------------------------------ vectorisation
@pytest.mark.parametrize("form", ["ICC1", "ICC2", "ICC3k"])
def test_vectorised_equals_one_feature_at_a_time(form):
    table = oracle.synthetic_table()
    table.loc[[7, 8], "good"] = np.nan  # a third missing-value pattern
    whole = _quiet_icc(table, case=CASE, rater=RATER, form=form)
    shuffled = table.sample(frac=1, random_state=0)
    for feat in whole.index:
        one = _quiet_icc(shuffled[[RATER, feat, CASE]], case=CASE, rater=RATER, features=[feat], form=form)
        pd.testing.assert_series_equal(one.loc[feat], whole.loc[feat], check_exact=False, rtol=1e-12)


def test_thousands_of_features_run_fast():
    rng = np.random.default_rng(0)
    n, k, p = 100, 10, 2000
    truth = rng.normal(size=(n, 1, p))
    values = truth + rng.normal(0, 0.2, (1, k, p)) + rng.normal(0, 0.5, (n, k, p))
    table = pd.DataFrame(values.reshape(n * k, p), columns=[f"f{j}" for j in range(p)])
    table.insert(0, RATER, np.tile(np.arange(k), n))
    table.insert(0, CASE, np.repeat(np.arange(n), k))
    start = time.perf_counter()
    res = icc(table, case=CASE, rater=RATER)
    print(f"\nicc: {p} features x {n} cases x {k} repeats in {time.perf_counter() - start:.3f} s")
    # Expected ICC(2,1) = 1 / (1 + 0.2**2 + 0.5**2) = 0.775.
    assert res["icc"].between(0.5, 0.95).all() and abs(res["icc"].mean() - 1 / 1.29) < 0.01


# ------------------------------------------------------------------------------------ CCC
def _ccc_textbook(x: np.ndarray, y: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Lin (1989): 1 - mean squared deviation / its value under independence; SE as Lin (2000)."""
    n = len(x)
    sx2, sy2 = np.var(x), np.var(y)
    msd = np.mean((x - y) ** 2)
    rho = 1 - msd / (sx2 + sy2 + (x.mean() - y.mean()) ** 2)
    r = np.corrcoef(x, y)[0, 1]
    u = (x.mean() - y.mean()) / (sx2 * sy2) ** 0.25
    se_rho = np.sqrt(((1 - r**2) * rho**2 * (1 - rho**2) / r**2 + 2 * rho**3 * (1 - rho) * u**2 / r
                      - rho**4 * u**4 / (2 * r**2)) / (n - 2))
    se_z = se_rho / (1 - rho**2)
    zq = stats.norm.ppf(0.5 + confidence / 2)
    z = 0.5 * np.log((1 + rho) / (1 - rho))
    return rho, np.tanh(z - zq * se_z), np.tanh(z + zq * se_z)


def test_ccc_equals_lin_formula_per_feature():
    rng = np.random.default_rng(7)
    n, p = 50, 30
    x = rng.normal(5, 2, (n, p))
    y = x * rng.uniform(0.7, 1.3, p) + rng.normal(0, rng.uniform(0.1, 3, p), (n, p)) + rng.normal(0, 1, p)
    cases = [f"P{i}" for i in range(n)]
    cols = [f"f{j}" for j in range(p)]
    xd = pd.DataFrame(x, index=cases, columns=cols)
    yd = pd.DataFrame(y, index=cases, columns=cols).iloc[::-1, ::-1]  # matched by case id and name
    res = ccc(xd, yd, confidence=0.9)
    for j, col in enumerate(cols):
        exp = _ccc_textbook(x[:, j], y[:, j], 0.9)
        np.testing.assert_allclose(res.loc[col, ["ccc", "ci_low", "ci_high"]].to_numpy(float), exp, rtol=1e-10)
        assert res.loc[col, "pearson_r"] == pytest.approx(np.corrcoef(x[:, j], y[:, j])[0, 1], rel=1e-12)


def test_ccc_hand_example_and_missing_pairs():
    x = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, 2.0, 3.0, np.nan]})
    y = pd.DataFrame({"a": [1.5, 2.5, 3.5, 4.5], "b": [2.0, 3.0, 4.0, 9.0]})
    with pytest.warns(ReliabilityWarning, match=r"1 feature\(s\) have cases missing.*\['b'\]"):
        res = ccc(x, y)
    # a: var 5/4, shift 1/2 -> 2.5 / (2.5 + 0.25); b on its 3 complete pairs: var 2/3, shift 1 -> 4/7.
    assert res.loc["a", "ccc"] == pytest.approx(2.5 / 2.75, abs=1e-14)
    assert res.loc["b", "ccc"] == pytest.approx(4 / 7, abs=1e-14)
    assert res["n_cases"].tolist() == [4, 3]


def test_ccc_refuses_mismatched_cases_and_blanks_constant_features():
    x = pd.DataFrame({"a": [1.0, 2.0, 3.0], "c": [5.0, 5.0, 5.0]}, index=["p1", "p2", "p3"])
    with pytest.raises(ValueError, match=r"2 case\(s\) are in only one: \['p3', 'p4'\]"):
        ccc(x, x.rename(index={"p3": "p4"}))
    with pytest.warns(ReliabilityWarning, match=r"1 feature\(s\) are constant.*\['c'\]"):
        res = ccc(x, x + 0.5)
    assert np.isnan(res.loc["c", "ccc"]) and res.loc["a", "ccc"] == pytest.approx(1 / (1 + 0.25 / (4 / 3)), abs=1e-14)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_icc_equals_pingouin_on_image_perturbations_of_real_and_synthetic_ct(shared_data, tmp_path):
    """The acceptance table: radiomix robustness on the real CTs lung1/lung2 and three synthetic CT cases
    (ct-original, 3 perturbations each), then every ICC form of radiomix equal to pingouin's to 1e-10 on 25
    features (the perturbation labels taken as raters so that the two-way forms are defined too)."""
    pytest.importorskip("pingouin")
    from radiomix.extraction import robustness
    from radiomix.extraction.synthetic import write_case

    rows = [{"id": c, "image": str(shared_data / "pyradiomics" / f"{c}_image.nrrd"),
             "mask": str(shared_data / "pyradiomics" / f"{c}_label.nrrd")} for c in ("lung1", "lung2")]
    for i in range(3):
        ip, mp = write_case(tmp_path, f"syn{i}", seed=i, shape=(40, 40, 12), spacing=(1.0, 1.0, 2.5),
                            lesion_radius_mm=8.0)
        rows.append({"id": f"syn{i}", "image": str(ip), "mask": str(mp)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = robustness(pd.DataFrame(rows), "ct-original", n_perturbations=3, seed=0, progress=False)
    perturbed = table[table["kind"] != "original"]
    feats = [f for f in table.attrs["radiomix"]["groups"]["radiomic"] if perturbed[f].std() > 0][:25]
    data = perturbed[["id", "perturbation", *feats]].rename(columns={"id": CASE, "perturbation": RATER})
    _assert_equals_reference(data, _live(data, "image_perturbed"))
