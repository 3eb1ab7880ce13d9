"""Merging radiomic, clinical and genetic tables: typing, id reports, column groups."""

import numpy as np
import pandas as pd
import pytest

from radiomix.tables import column_groups, merge


@pytest.fixture()
def tables():
    rad = pd.DataFrame({"id": ["a", "b", "c"], "site": ["s1", "s1", "s2"],
                        "original_shape_MeshVolume": [1.0, 2.0, 3.0],
                        "ct_log-sigma-2-0-mm-3D_glcm_Contrast": [0.1, 0.2, 0.3]})
    cli = pd.DataFrame({"id": ["a", "b", "d"], "age": ["61", "no data", "70"], "stage": ["II", "N/A", "IV"],
                        "outcome": [0, 1, 1]})
    gen = pd.DataFrame({"id": ["a", "c"], "mut_TP53": [1, 0]})
    return rad, cli, gen


def test_merge_types_reports_and_groups(tables, capsys):
    rad, cli, gen = tables
    out = merge(rad, clinical=cli, genetic=gen)
    assert list(out.index) == ["a", "b", "c", "d"]  # outer: nobody dropped
    assert out["age"].dtype == float and np.isnan(out.loc["b", "age"])  # "no data" -> missing, numeric
    assert isinstance(out["stage"].dtype, pd.CategoricalDtype) and pd.isna(out.loc["b", "stage"])
    g = column_groups(out)
    assert g["radiomic"] == ["original_shape_MeshVolume", "ct_log-sigma-2-0-mm-3D_glcm_Contrast"]
    assert g["clinical"] == ["age", "stage", "outcome"] and g["genetic"] == ["mut_TP53"]
    rep = out.attrs["radiomix"]["id_report"]
    assert rep == {"radiomic": ["d"], "clinical": ["c"], "genetic": ["b", "d"]}
    assert "no row in the genetic table" in capsys.readouterr().err


def test_merge_inner_and_overrides(tables):
    rad, cli, gen = tables
    out = merge(rad, clinical=cli, genetic=gen, how="inner", categorical=["outcome"], verbose=False)
    assert list(out.index) == ["a"]
    assert isinstance(out["outcome"].dtype, pd.CategoricalDtype)


def test_merge_refuses_duplicates_and_clashes(tables):
    rad, cli, _ = tables
    with pytest.raises(ValueError, match=r"duplicate ids in column 'id': \['a'\]"):
        merge(rad, clinical=pd.concat([cli, cli.head(1)]))
    with pytest.raises(ValueError, match="'site' appears in both"):
        merge(rad, clinical=cli.assign(site="x"))
    with pytest.raises(ValueError, match="declared numeric but holds non-numeric"):
        merge(rad, clinical=cli, numeric=["stage"])


def test_column_groups_fallback_without_attrs(tables):
    rad, cli, gen = tables
    out = merge(rad, clinical=cli, genetic=gen, verbose=False)
    plain = pd.DataFrame(out.to_dict())  # attrs lost
    assert column_groups(plain)["radiomic"] == ["original_shape_MeshVolume", "ct_log-sigma-2-0-mm-3D_glcm_Contrast"]


def test_merge_reads_recorded_groups_back_from_parquet(tables, tmp_path):
    from radiomix.io import read_table, write_table

    rad, cli, gen = tables
    out = merge(rad, clinical=cli, genetic=gen, verbose=False)
    write_table(out, tmp_path / "t.parquet", metadata=out.attrs["radiomix"])
    back = read_table(tmp_path / "t.parquet")
    assert column_groups(back) == column_groups(out)
    assert back.attrs["radiomix"]["types"] == {"age": "numeric", "stage": "categorical", "outcome": "numeric",
                                               "mut_TP53": "numeric"}


def test_merge_missing_values_numeric_ids_and_no_overlap(tables):
    rad, cli, _ = tables
    cli = cli.assign(stage=["II", "pending", "IV"])
    out = merge(rad, clinical=cli, missing_values=["pending"], verbose=False)
    assert out["stage"].isna().sum() == 2  # "pending" (b) and the radiomic-only c
    nums = pd.DataFrame({"pid": [1.0, 2.0, np.nan], "x": [1, 2, 3]}).dropna()
    r2 = pd.DataFrame({"pid": ["1", "2"], "original_firstorder_Mean": [0.5, 0.6]})
    assert list(merge(r2, clinical=nums, on="pid", verbose=False).index) == ["1", "2"]  # 1.0 -> "1"
    with pytest.raises(ValueError, match="no id in common"):
        merge(rad, clinical=cli.assign(id=["x", "y", "z"]), verbose=False)
    with pytest.raises(ValueError, match="on= keys must be"):
        merge(rad, clinical=cli, on={"clinic": "id"})


def test_horng_real_messy_tables(shared_data, capsys):
    # 206 CaPTk feature rows (UTF-8 BOM before 'SubjectID'), a clinical export whose id column is unnamed
    # and uses 'no data', and a CT-acquisition table whose ids sometimes carry a trailing 'L'.
    d = shared_data / "tables" / "horng_nsclc_radiogenomics_captk"

    def strip_l(s):
        return s[:-1] if len(s) > 7 and s.endswith("L") else s

    out = merge(d / "Sandy-Captk.csv", clinical=[d / "clinical-demographics.csv", (d / "Sandy-CT-parameters.csv", "clc")],
                on={"radiomic": "SubjectID", "clinical": "id"}, normalize_ids=strip_l, coerce_radiomic=True)
    err = capsys.readouterr().err
    meta = out.attrs["radiomix"]
    assert out.index.name == "id" and len(out) == 209 and meta["n_dropped"] == 0
    g = meta["groups"]
    assert len(g["radiomic"]) == 102 and g["radiomic"][0] == "T1_ED_Intensity_CoefficientOfVariation"
    assert "event" in g["clinical"] and "Manufacturer" in g["clinical"] and not g["genetic"]
    rep = meta["id_report"]
    # Clinical has AMC-024 without features; the CT table has 2 scans nobody else has and lacks 2 patients.
    assert rep == {"radiomic": ["AMC-024", "AMC-025", "R01-147"], "clinical": ["AMC-025", "R01-147"],
                   "clinical[2]": ["AMC-005", "R01-114"]}
    assert "unnamed first column is used as the id" in err
    assert "numeric columns are taken as radiomic" in err and "3 id(s) have no row in the radiomic table" in err
    assert "'T1_ED_Morphologic_Eccentricity': 1 non-numeric cell(s) ['#NAME?'] read as missing" in err
    assert out[g["radiomic"]].dtypes.eq(float).all()
    t = meta["types"]
    assert t["age"] == "numeric" and out["age"].isna().sum() == 48 + 2  # + the 2 CT-only scans
    assert t["solid-subsolid"] == "categorical" and "primary uncertain-would exclude" in err
    assert t["alk"] == "categorical" and t["ethnicity"] == "categorical" and t["Manufacturer"] == "categorical"
    assert pd.isna(out.loc["AMC-005", "solid-subsolid"])  # "no data" -> missing
    assert out.loc["AMC-024", g["radiomic"]].isna().all()  # kept, with missing features
    fixed = merge(d / "Sandy-Captk.csv", clinical=d / "clinical-demographics.csv", on={"radiomic": "SubjectID"},
                  numeric=["solid-subsolid"], missing_values=["primary uncertain-would exclude"],
                  categorical=["histology"], how="inner", verbose=False)
    notes = fixed.attrs["radiomix"]["notes"]  # without coerce_radiomic the '#NAME?' cells stay, reported
    assert any("'T1_ED_Morphologic_Eccentricity' holds 1 non-numeric cell(s) ['#NAME?']; kept as text" in n for n in notes)
    assert len(fixed.attrs["radiomix"]["groups"]["radiomic"]) == 102
    assert len(fixed) == 206 and fixed.attrs["radiomix"]["n_dropped"] == 1
    assert fixed["solid-subsolid"].dtype == float and isinstance(fixed["histology"].dtype, pd.CategoricalDtype)
    without = merge(d / "Sandy-Captk.csv", clinical=(d / "Sandy-CT-parameters.csv", "clc"), on={"radiomic": "SubjectID"},
                    verbose=False)
    assert len(without.attrs["radiomix"]["id_report"]["clinical"]) == 206 - 167  # the 'L' ids do not match
    with pytest.raises(ValueError, match="duplicate ids"):
        merge(d / "Sandy-Captk.csv", clinical=(d / "Sandy-CT-parameters.csv", "clc"), on={"radiomic": "SubjectID"},
              normalize_ids=lambda s: s[:5], verbose=False)


def test_messy_exports_without_shared_data(tmp_path, capsys):
    # The quirks of the Horng CaPTk / clinical / CT exports, written here so they are tested without
    # ../shared/data: a BOM before the id header, Excel's '#NAME?' in a feature, an unnamed id column,
    # 'no data', and ids with a trailing scan letter.
    rng = np.random.default_rng(0)
    ids = [f"R01-{i:03d}" for i in range(1, 9)]
    rad = pd.DataFrame({"SubjectID": ids, "T1_A_Mean": rng.normal(size=8), "T1_A_Ecc": rng.normal(size=8)})
    rad["T1_A_Ecc"] = rad["T1_A_Ecc"].astype(object)
    rad.loc[2, "T1_A_Ecc"] = "#NAME?"  # Excel error in a feature
    (tmp_path / "rad.csv").write_text(rad.to_csv(index=False), encoding="utf-8-sig")  # BOM before the id
    cli = pd.DataFrame({"age": ["61", "no data", "70", "55", "48", "66", "72", "59", "80"],
                        "stage": ["II", "IV", "no data", "I", "I", "III", "II", "IV", "I"]},
                       index=pd.Index(ids + ["R01-999"]))
    cli.to_csv(tmp_path / "cli.csv")  # unnamed id column
    ct = pd.DataFrame({"clc": [i + "L" if k % 2 else i for k, i in enumerate(ids)], "kVp": [120] * 8})
    ct.to_csv(tmp_path / "ct.csv", index=False)  # ids with a trailing 'L'

    def strip_l(s):
        return s[:-1] if len(s) > 7 and s.endswith("L") else s

    out = merge(tmp_path / "rad.csv", clinical=[tmp_path / "cli.csv", (tmp_path / "ct.csv", "clc")],
                on={"radiomic": "SubjectID", "clinical": "id"}, normalize_ids=strip_l, coerce_radiomic=True)
    err = capsys.readouterr().err
    meta = out.attrs["radiomix"]
    assert len(out) == 9 and meta["groups"]["radiomic"] == ["T1_A_Mean", "T1_A_Ecc"]
    assert "unnamed first column is used as the id" in err and "'#NAME?'" in err
    assert np.isnan(out.loc["R01-003", "T1_A_Ecc"]) and out["T1_A_Ecc"].dtype == float
    assert out["age"].dtype == float and out["age"].isna().sum() == 1
    assert meta["types"]["stage"] == "categorical" and pd.isna(out.loc["R01-003", "stage"])
    assert meta["id_report"]["radiomic"] == ["R01-999"] and out["kVp"].notna().sum() == 8  # 'L' ids matched
    without = merge(tmp_path / "rad.csv", clinical=(tmp_path / "ct.csv", "clc"), on={"radiomic": "SubjectID"},
                    verbose=False)
    assert len(without.attrs["radiomix"]["id_report"]["clinical"]) == 4  # without normalize_ids they do not


def test_merge_cli_with_per_group_ids(shared_data, tmp_path):
    import json

    from click.testing import CliRunner

    from radiomix.cli import main

    d = shared_data / "tables" / "horng_nsclc_radiogenomics_captk"
    out = tmp_path / "t.parquet"
    res = CliRunner().invoke(main, ["merge", str(d / "Sandy-Captk.csv"), "--clinical", str(d / "clinical-demographics.csv"),
                                    "--on", "id", "--on", "radiomic=SubjectID", "--how", "left",
                                    "--missing", "primary uncertain-would exclude", "--numeric", "solid-subsolid",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    groups = json.loads((tmp_path / "t.groups.json").read_text())
    assert len(groups["groups"]["radiomic"]) == 102 and groups["n_dropped"] == 1
    assert len(pd.read_parquet(out)) == 206


def test_feature_name_parts_reads_pyradiomics_names_behind_prefixes():
    from radiomix.tables import feature_name_parts

    assert feature_name_parts("wavelet-HHH_glcm_Contrast") == ("wavelet-HHH", "glcm")
    assert feature_name_parts("log-sigma-2-0-mm-3D_firstorder_Mean") == ("log-sigma-2-0-mm-3D", "firstorder")
    assert feature_name_parts("ct_lesion2_original_shape_MeshVolume") == ("original", "shape")
    assert feature_name_parts("age") == ("other", "other")
    assert feature_name_parts("original_firstorder_not_a_feature") == ("other", "other")


def test_outputs_get_the_mode_the_umask_gives_not_mkstemps_0600(tmp_path):
    """Files written atomically (tables, run records, reports) are readable by the group and others when the
    umask allows it, as a plain open() would make them (mkstemp alone makes 0600)."""
    import os
    import stat

    from radiomix.io import FILE_MODE, atomic_write_text, write_table

    mask = os.umask(0o022)
    os.umask(mask)
    assert FILE_MODE == 0o666 & ~mask
    p = atomic_write_text(tmp_path / "a.txt", "x")
    t = write_table(pd.DataFrame({"id": ["a"], "x": [1.0]}), tmp_path / "t.parquet")
    for f in (p, t):
        assert stat.S_IMODE(f.stat().st_mode) == FILE_MODE
    assert FILE_MODE & stat.S_IRGRP or mask & 0o040         # readable by the group unless the umask forbids it
