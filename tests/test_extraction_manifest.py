"""Manifests (single, wide and long layouts, labels, per-modality parameters), failure isolation, geometry
checks and the QA table, on small generated cases."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from radiomix.extraction import check, extract
from radiomix.extraction.labels import parse_labels
from radiomix.extraction.manifest import ManifestError, read_manifest
from radiomix.extraction.synthetic import ct_case, write_case

PARAMS = "ct-original"


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """Four small CT-like cases (two lesions each, labels 1 and 2) plus a float 'PET' image per case."""
    root = tmp_path_factory.mktemp("cases")
    out = {}
    for i in range(4):
        ip, mp = write_case(root, f"c{i}", seed=i, n_labels=2)
        img = sitk.ReadImage(str(ip))
        pet = sitk.Cast(sitk.SmoothingRecursiveGaussian(sitk.Cast(img, sitk.sitkFloat32) + 1000.0, 2.0), sitk.sitkFloat32) / 400.0
        pp = root / f"c{i}_pet.nii.gz"
        sitk.WriteImage(pet, str(pp))
        out[f"c{i}"] = {"image": ip, "mask": mp, "pet": pp}
    return root, out


def _single(cases, ids=None, **extra):
    _, c = cases
    ids = ids or list(c)
    return pd.DataFrame({"id": ids, "image": [str(c[i]["image"]) for i in ids],
                         "mask": [str(c[i]["mask"]) for i in ids], "site": ["A", "B"] * (len(ids) // 2) + ["A"] * (len(ids) % 2),
                         **extra})


PET_PARAMS = {"setting": {"binWidth": 0.05, "label": 1}, "imageType": {"Original": {}},
              "featureClass": {"firstorder": None, "glcm": ["Contrast", "JointEntropy"]}}


def test_parse_labels():
    assert parse_labels(2) == [("label2", 2)]
    assert parse_labels(2.0) == [("label2", 2)]
    assert parse_labels("1;2") == [("label1", 1), ("label2", 2)]
    assert parse_labels("1,2") == [("label1", 1), ("label2", 2)]
    assert parse_labels("tumor=1; node=2") == [("tumor", 1), ("node", 2)]
    assert parse_labels("GTV 1") == [("GTV-1", "GTV 1")]
    assert parse_labels(None) == [] and parse_labels("") == []
    for bad in ("1;;2", "a=", "1;1"):
        with pytest.raises(ValueError):
            parse_labels(bad)


def test_single_layout_keeps_plain_names_and_passthrough(cases):
    f = extract(_single(cases), PARAMS, progress=False)
    assert list(f.index) == ["c0", "c1", "c2", "c3"] and f.index.name == "id"
    assert f.columns[0] == "site" and f.columns[1].startswith("original_shape_")
    assert f.attrs["radiomix"]["groups"]["radiomic"] == list(f.columns[1:])
    p = extract(_single(cases), PARAMS, progress=False, prefix="ct")
    assert all(c.startswith("ct_original_") for c in p.columns[1:])
    np.testing.assert_array_equal(p.iloc[:, 1:].to_numpy(), f.iloc[:, 1:].to_numpy())


def test_wide_and_long_multimodal_give_the_same_table(cases, tmp_path):
    root, c = cases
    ids = list(c)
    wide = pd.DataFrame({"id": ids, "image_ct": [c[i]["image"].name for i in ids],
                         "image_pet": [c[i]["pet"].name for i in ids], "mask": [c[i]["mask"].name for i in ids],
                         "site": ["A", "B", "A", "B"]})
    wide.loc[3, "image_pet"] = None  # no PET for c3: missing values, not an error
    wpath = root / "wide.csv"  # relative paths resolve against the manifest's folder
    wide.to_csv(wpath, index=False)
    params = {"ct": PARAMS, "pet": PET_PARAMS}
    fw, _, err = extract(wpath, params, progress=False, return_details=True)
    assert len(err) == 0
    ct_cols = [x for x in fw.columns if x.startswith("ct_")]
    pet_cols = [x for x in fw.columns if x.startswith("pet_")]
    assert "ct_original_glcm_Contrast" in ct_cols and "pet_original_firstorder_Mean" in pet_cols
    assert len(pet_cols) == 18 + 2 and fw.loc["c3", pet_cols].isna().all() and fw.loc["c3", ct_cols].notna().all()
    assert fw.attrs["radiomix"]["provenance"]["missing_modalities"] == {"pet": ["c3"]}
    # the CT block equals a single-modality extraction of the CT images
    single = extract(_single(cases), PARAMS, progress=False)
    np.testing.assert_array_equal(fw[ct_cols].to_numpy(), single.iloc[:, 1:].to_numpy())

    long = pd.DataFrame([{"id": i, "modality": m, "image": str(c[i]["image" if m == "ct" else "pet"]),
                          "mask": str(c[i]["mask"]), "site": s}
                         for i, s in zip(ids, "ABAB") for m in ("ct", "pet") if not (i == "c3" and m == "pet")])
    fl = extract(long, params, progress=False)
    pd.testing.assert_frame_equal(fl, fw)


def test_regions_as_columns_and_rows(cases):
    mf = _single(cases, label=["1;2", "1;2", "1", "tumor=1"])
    mf.loc[3, "label"] = "1;2"
    f, diag, err = extract(mf, PARAMS, progress=False, return_details=True)
    assert len(err) == 0
    l1 = [x for x in f.columns if x.startswith("label1_")]
    l2 = [x for x in f.columns if x.startswith("label2_")]
    assert len(l1) == len(l2) == 105 and f.loc["c2", l2].isna().all()  # c2 asked for label 1 only
    assert set(diag["region"]) == {"label1", "label2"}
    rows = extract(mf, PARAMS, progress=False, regions="rows")
    assert rows.index.names == ["id", "region"] and len(rows) == 7
    np.testing.assert_array_equal(rows.loc[("c1", "label2")].iloc[1:].to_numpy(float),
                                  f.loc["c1", l2].to_numpy(float))
    # the per-case label of a single-region manifest does not rename columns
    one = extract(_single(cases, label=[1, 2, 1, 2]), PARAMS, progress=False)
    assert one.columns[1].startswith("original_") and one.notna().all().all()


def test_every_manifest_problem_reported_at_once(cases, tmp_path):
    mf = _single(cases)
    mf.loc[0, "image"] = "nope/missing.nii.gz"
    mf.loc[1, "mask"] = str(tmp_path / "also_missing.nii.gz")
    mf.loc[2, "id"] = "c3"
    mf["label"] = ["1", "1;;2", None, None]
    mf["params"] = [None, None, "no_such_params.yaml", None]
    with pytest.raises(ManifestError) as err:
        extract(mf, PARAMS, progress=False)
    msg = str(err.value)
    for part in ("5 problem(s)", "missing.nii.gz", "also_missing.nii.gz", "duplicate ids: ['c3']",
                 "empty part", "no_such_params.yaml"):
        assert part in msg, (part, msg)
    with pytest.raises(ManifestError, match="lacks required column"):
        extract(mf.drop(columns="mask"), PARAMS, progress=False)
    wide = pd.DataFrame({"id": ["a"], "image_ct": [str(cases[1]["c0"]["image"])], "mask_pet": ["x"]})
    with pytest.raises(ManifestError, match="no mask_ct column") as err:
        read_manifest(wide)
    assert "mask_pet" in str(err.value)
    bad_mod = pd.DataFrame({"id": ["a"], "modality": ["pet_ac"], "image": [str(cases[1]["c0"]["image"])],
                            "mask": [str(cases[1]["c0"]["mask"])]})
    with pytest.raises(ManifestError, match="may only hold letters"):
        read_manifest(bad_mod)
    with pytest.raises(ManifestError, match="invalid pyradiomics parameters"):
        extract(_single(cases), {"setting": {"binWidht": 25}}, progress=False)


def _write(img, path):
    sitk.WriteImage(img, str(path), useCompression=True)
    return str(path)


@pytest.fixture(scope="module")
def broken(cases, tmp_path_factory):
    """A manifest where every kind of bad input occurs once, beside two good cases."""
    root, c = cases
    d = tmp_path_factory.mktemp("broken")
    image, mask = ct_case(seed=7)
    ok_img, ok_mask = _write(image, d / "ok_img.nii.gz"), _write(mask, d / "ok_mask.nii.gz")
    garbage = d / "garbage.nii.gz"
    garbage.write_bytes(b"not an image at all")
    empty = _write(mask * 0, d / "empty.nii.gz")
    shifted = sitk.Image(mask)
    shifted.SetOrigin((1000.0, 0.0, 0.0))  # same lattice, far away: outside the image
    outside = _write(shifted, d / "outside.nii.gz")
    coarse = sitk.Resample(mask, [32, 32, 12], sitk.Transform(), sitk.sitkNearestNeighbor, (0, 0, 0),
                           (1.6, 1.6, 5.0), mask.GetDirection(), 0, mask.GetPixelID())
    other_grid = _write(coarse, d / "other_grid.nii.gz")
    tiny = sitk.GetArrayFromImage(mask) * 0
    tiny[12, 30, 30:32] = 1  # 3 voxels in one slice: fewer than minimumROISize after resampling
    tiny[12, 31, 30] = 1
    tiny_img = sitk.GetImageFromArray(tiny)
    tiny_img.CopyInformation(mask)
    few = _write(tiny_img, d / "few.nii.gz")
    jitter = sitk.Image(mask)
    jitter.SetOrigin((1e-4, -2e-4, 1e-4))  # header float noise: within tolerance
    jittered = _write(jitter, d / "jitter.nii.gz")
    bad_params = d / "bad_dims.yaml"  # valid schema, fails inside pyradiomics (2 spacings for a 3D image)
    bad_params.write_text("setting:\n  resampledPixelSpacing: [1, 1]\n  interpolator: sitkBSpline\n"
                          "imageType:\n  Original: {}\nfeatureClass:\n  firstorder:\n")
    rows = [("ok", ok_img, ok_mask, None, None), ("ok2", str(c["c1"]["image"]), str(c["c1"]["mask"]), None, None),
            ("unreadable", str(garbage), ok_mask, None, None), ("bad_mask", ok_img, str(garbage), None, None),
            ("empty", ok_img, empty, None, None), ("absent", ok_img, ok_mask, 3, None),
            ("outside", ok_img, outside, None, None), ("other_grid", ok_img, other_grid, None, None),
            ("few", ok_img, few, None, None), ("pyrad_error", ok_img, ok_mask, None, str(bad_params)),
            ("jitter", ok_img, jittered, None, None)]
    return pd.DataFrame(rows, columns=["id", "image", "mask", "label", "params"])


EXPECTED = {  # case -> (stage, words in the message)
    "unreadable": ("read_image", ["not a readable image", "garbage.nii.gz"]),
    "bad_mask": ("read_mask", ["mask not readable"]),
    "empty": ("mask", ["mask is empty"]),
    "absent": ("mask", ["label 3 not in mask", "labels present: [1]"]),
    "outside": ("geometry", ["outside the image", "image: size 64x64x24", "mask: size 64x64x24"]),
    "other_grid": ("geometry", ["does not match the image grid", "spacing 0.8x0.8x2.5", "spacing 1.6x1.6x5"]),
    "few": ("roi", ["too small", "minimum size"]),
    "pyrad_error": ("extract", ["Wrong dimensionality"]),
}


def test_each_bad_input_fails_alone_with_a_clear_message(broken):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f, diag, err = extract(broken, PARAMS, n_jobs=2, progress=False, return_details=True)
    errs = err.set_index("id")
    assert set(errs.index) == set(EXPECTED)
    for case, (stage, words) in EXPECTED.items():
        assert errs.loc[case, "stage"] == stage, (case, errs.loc[case].to_dict())
        for w in words:
            assert w in errs.loc[case, "message"], (case, w, errs.loc[case, "message"])
    feats = f.drop(columns=[]).astype(float)
    assert feats.loc[["ok", "ok2", "jitter"]].notna().all().all()
    assert feats.loc[list(EXPECTED)].isna().all().all()  # same columns, NaN rows
    np.testing.assert_array_equal(feats.loc["jitter"].to_numpy(), feats.loc["ok"].to_numpy())
    d = diag.reset_index().set_index("id")
    assert bool(d.loc["jitter", "mask_resampled"]) and "resampled nearest-neighbour" in d.loc["jitter", "warnings"]
    assert any("resampled nearest-neighbour" in str(w.message) for w in caught)
    assert f.attrs["radiomix"]["provenance"]["n_failed"] == len(EXPECTED)
    # the good cases are unaffected by the bad ones
    alone = extract(broken[broken["id"].isin(["ok", "ok2"])], PARAMS, progress=False)
    pd.testing.assert_frame_equal(alone.astype(float), feats.loc[["ok", "ok2"]])
    dropped = extract(broken, PARAMS, progress=False, drop_failed=True)
    assert list(dropped.index) == ["ok", "ok2", "jitter"]
    assert sorted(dropped.attrs["radiomix"]["provenance"]["dropped_failed_cases"]) == sorted(EXPECTED)


def test_all_cases_failing_keeps_the_columns(broken):
    f = extract(broken[broken["id"].isin(["empty", "absent"])], PARAMS, progress=False)
    ok = extract(broken[broken["id"] == "ok"], PARAMS, progress=False)
    assert list(f.columns) == list(ok.columns) and f.isna().all().all()


def test_check_gives_a_geometry_qa_table(broken, cases, tmp_path):
    gap = sitk.GetArrayFromImage(sitk.ReadImage(broken.loc[0, "mask"]))
    z = np.flatnonzero(gap.reshape(gap.shape[0], -1).any(axis=1))
    gap[z[len(z) // 2]] = 0  # one unsegmented slice in the middle of the ROI
    g = sitk.GetImageFromArray(gap)
    g.CopyInformation(sitk.ReadImage(broken.loc[0, "mask"]))
    gap_path = _write(g, tmp_path / "gap.nii.gz")
    mf = pd.concat([broken.drop(columns="params"),
                    pd.DataFrame([{"id": "gap", "image": broken.loc[0, "image"], "mask": gap_path}])])
    qa = check(mf, PARAMS)
    assert qa.loc["ok", "status"] == "ok" and qa.loc["ok", "roi_voxels"] > 100
    assert qa.loc["jitter", "status"] == "warning" and qa.loc["jitter", "origin_diff_mm"] > 0
    assert qa.loc["jitter", "grid_offset_voxels"] < 0.01
    assert qa.loc["gap", "status"] == "warning" and qa.loc["gap", "roi_empty_slices_inside"] == 1
    assert "only some slices" in qa.loc["gap", "message"]
    assert qa.loc["few", "status"] == "warning" and "minimumROISize" in qa.loc["few", "message"]
    for case in ("unreadable", "bad_mask", "empty", "absent", "outside", "other_grid"):
        assert qa.loc[case, "status"] == "error", case
    assert qa.loc["other_grid", "grid_offset_voxels"] > 0.01 and qa.loc["absent", "labels_present"] == "(1)"

    from radiomix.cli import main

    path = tmp_path / "m.csv"
    mf.to_csv(path, index=False)
    res = CliRunner().invoke(main, ["extract", str(path), "-p", PARAMS, "--check", "-q", "--out", str(tmp_path / "f.csv")])
    assert res.exit_code == 1, res.output
    assert "6 error(s)" in res.output and (tmp_path / "f.qa.csv").exists()
    assert not (tmp_path / "f.csv").exists()


def test_cli_exit_codes_and_sidecars(broken, tmp_path):
    from radiomix.cli import main

    path = tmp_path / "m.csv"
    broken.to_csv(path, index=False)
    out = tmp_path / "features.parquet"
    res = CliRunner().invoke(main, ["extract", str(path), "-p", PARAMS, "-o", str(out), "-j", "2", "-q"])
    assert res.exit_code == 1 and "8 case(s) failed" in res.output, res.output
    errors = pd.read_csv(tmp_path / "features.errors.csv")
    assert set(errors.columns) >= {"id", "modality", "region", "stage", "error", "message"} and len(errors) == 8
    res = CliRunner().invoke(main, ["extract", str(path), "-p", PARAMS, "-o", str(out), "-q", "--allow-failures"])
    assert res.exit_code == 2 and "--overwrite" in res.output, res.output  # the first run's files are kept
    res = CliRunner().invoke(main, ["extract", str(path), "-p", PARAMS, "-o", str(out), "-q", "--allow-failures",
                                    "--overwrite"])
    assert res.exit_code == 0, res.output
    prov = json.loads((tmp_path / "features.provenance.json").read_text())
    assert prov["n_failed"] == 8 and len(prov["inputs"]["ok"]["image_sha256"]) == 64
    assert prov["versions"]["pyradiomics"] and "params_text" in prov
    from radiomix.io import read_table

    back = read_table(out)
    assert back.attrs["radiomix"]["provenance"]["n_cases"] == 11
    assert back.attrs["radiomix"]["groups"]["radiomic"][0] == "original_shape_Elongation"


def test_cli_per_modality_params(cases, tmp_path):
    from radiomix.cli import main

    root, c = cases
    mf = pd.DataFrame({"id": ["c0", "c1"], "image_ct": [str(c["c0"]["image"]), str(c["c1"]["image"])],
                       "image_pet": [str(c["c0"]["pet"]), str(c["c1"]["pet"])],
                       "mask": [str(c["c0"]["mask"]), str(c["c1"]["mask"])]})
    path = tmp_path / "m.tsv"
    mf.to_csv(path, sep="\t", index=False)
    pet = tmp_path / "pet.yaml"
    import yaml

    pet.write_text(yaml.safe_dump(PET_PARAMS))
    out = tmp_path / "f.csv"
    res = CliRunner().invoke(main, ["extract", str(path), "-p", f"pet={pet}", "-p", PARAMS, "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    f = pd.read_csv(out, index_col="id")
    assert f.filter(like="pet_original_glcm").shape[1] == 2 and f.filter(like="ct_original_glcm").shape[1] == 22


def test_nrrd_mha_and_nifti_give_the_same_features(tmp_path):
    rows = []
    for suffix in (".nii.gz", ".nrrd", ".mha"):
        ip, mp = write_case(tmp_path, "x" + suffix.replace(".", "_"), suffix=suffix, seed=5)
        rows.append({"id": suffix, "image": str(ip), "mask": str(mp)})
    f = extract(pd.DataFrame(rows), PARAMS, n_jobs=-1, progress=False)
    assert f.notna().all().all()
    np.testing.assert_array_equal(f.loc[".mha"].to_numpy(), f.loc[".nrrd"].to_numpy())
    # NIfTI stores spacing and origin as float32 (0.8 mm -> 0.800000012 mm): resampling moves a hair.
    np.testing.assert_allclose(f.loc[".nii.gz"].to_numpy(), f.loc[".nrrd"].to_numpy(), rtol=1e-3)
