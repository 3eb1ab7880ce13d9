"""Perturbation robustness (radiomix.extraction.perturb) and repeated-measure manifests, on tiny generated
images: draws, each perturbation step against what it promises, the long table, cache, failures, CLI."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from radiomix.extraction import (
    Perturbation,
    apply_perturbation,
    draw_perturbations,
    estimate_noise_sd,
    extract,
    perturbation_spec,
    read_manifest,
    robustness,
)
from radiomix.extraction import perturb as perturb_module
from radiomix.extraction.manifest import ManifestError
from radiomix.extraction.perturb import PERTURBATION_COLUMNS
from radiomix.extraction.synthetic import write_case

PARAMS = "ct-original"
#: A spec under which every drawn perturbation is the identity.
IDENTITY = {"angle_deg": [0, 0], "translation_fraction": [0, 0], "noise_factor": 0.0, "volume_change": [0, 0]}


def _sphere(spacing=(0.8, 0.8, 2.0), radius=8, noise_sd=20.0, seed=0):
    """A 24^3 int16 image (gradient + bright sphere + white noise) and its sphere mask."""
    z, y, x = np.mgrid[:24, :24, :24]
    inside = ((z - 12) ** 2 + (y - 12) ** 2 + (x - 11.5) ** 2) < radius ** 2
    arr = 40 + 0.5 * x + 60 * inside + np.random.default_rng(seed).normal(0, noise_sd, inside.shape)
    img = sitk.GetImageFromArray(np.rint(arr).astype(np.int16))
    img.SetSpacing(spacing)
    msk = sitk.GetImageFromArray(inside.astype(np.uint8))
    msk.CopyInformation(img)
    return img, msk


def _voxels(mask) -> int:
    return int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """Four small CT-like cases on disk, and a manifest frame of the first three."""
    root = tmp_path_factory.mktemp("perturb")
    rows = []
    for i in range(4):
        ip, mp = write_case(root, f"c{i}", seed=i, shape=(32, 32, 10), spacing=(1.0, 1.0, 2.5), lesion_radius_mm=6.0)
        rows.append({"id": f"c{i}", "image": str(ip), "mask": str(mp), "site": "A"})
    return root, pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------- draws
def test_draws_are_seeded_per_case_and_stable():
    a = draw_perturbations(5, 0, "P001")
    assert a == draw_perturbations(5, 0, "P001")
    assert [p.name for p in a] == ["p01", "p02", "p03", "p04", "p05"]
    assert draw_perturbations(3, 0, "P001") == a[:3]  # more perturbations keep the first ones
    assert a != draw_perturbations(5, 1, "P001") and a != draw_perturbations(5, 0, "P002")
    for p in a:
        assert -10 <= p.angle_deg <= 10 and all(-0.5 <= f <= 0.5 for f in p.translation_fraction)
        assert -0.1 <= p.volume_change <= 0.1 and p.noise_factor == 1.0 and p.spacing_mm is None
        assert p.kind == "rotation+translation+noise+volume" and p.rotation_axis == (0.0, 0.0, 1.0)
    # switching a step on leaves the other steps' draws alone
    b = draw_perturbations(5, 0, "P001", {"chain": ["rotation", "translation", "noise", "volume", "resample"]})
    assert [p.angle_deg for p in b] == [p.angle_deg for p in a] and all(1 <= p.spacing_mm <= 2 for p in b)
    assert [p.volume_change for p in b] == [p.volume_change for p in a]


def test_spec_overrides_and_errors(tmp_path):
    f = tmp_path / "spec.yaml"
    f.write_text("chain: [noise, rotation]\nangle_deg: [-3, 3]\nrotation_axis: random\n")
    spec = perturbation_spec(f)
    assert spec.chain == ("rotation", "noise") and spec.angle_deg == (-3, 3)
    p = draw_perturbations(1, 0, "x", spec)[0]
    assert p.volume_change == 0 and p.translation_fraction == (0.0, 0.0, 0.0)
    assert abs(np.linalg.norm(p.rotation_axis) - 1) < 1e-5
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['angle'\]"):
        perturbation_spec({"angle": [0, 1]})
    with pytest.raises(ValueError, match="unknown: \\['blur'\\]"):
        perturbation_spec({"chain": ["blur"]})
    with pytest.raises(ValueError, match="volume_change"):
        perturbation_spec({"volume_change": [0.2, 0.1]})


# --------------------------------------------------------------------------------------------- the steps
@pytest.mark.parametrize("sd", [5.0, 15.0, 30.0])
def test_noise_estimate_recovers_known_noise(sd):
    img, _ = _sphere(noise_sd=sd, seed=int(sd))
    arr = sitk.GetArrayFromImage(img)
    arr[:, :, :6] = -1024  # padding outside the field of view carries no noise and must not count
    padded = sitk.GetImageFromArray(arr)
    assert estimate_noise_sd(padded) == pytest.approx(sd, rel=0.15)


def test_added_noise_has_the_estimated_sd():
    img, msk = _sphere(noise_sd=20.0)
    p = Perturbation(name="p01", steps=("noise",), noise_factor=1.0, seed=3)
    out, mask, applied = apply_perturbation(img, msk, p)
    assert applied["noise_sd"] == pytest.approx(estimate_noise_sd(img))
    diff = sitk.GetArrayFromImage(out).astype(float) - sitk.GetArrayFromImage(img)
    assert diff.std() == pytest.approx(applied["noise_sd"], rel=0.05)
    assert out.GetPixelID() == img.GetPixelID() and _voxels(mask) == _voxels(msk)
    again, _, _ = apply_perturbation(img, msk, p)
    assert np.array_equal(sitk.GetArrayFromImage(again), sitk.GetArrayFromImage(out))


@pytest.mark.parametrize("target", [-0.15, -0.1, -0.05, 0.05, 0.1, 0.2])
def test_volume_change_meets_its_target(target):
    from scipy import ndimage

    img, msk = _sphere()
    p = Perturbation(name="p01", steps=("volume",), volume_change=target)
    _, mask, applied = apply_perturbation(img, msk, p)
    n0, n1 = _voxels(msk), _voxels(mask)
    assert applied["volume_change"] == pytest.approx((n1 - n0) / n0)
    assert abs(applied["volume_change"] - target) < 1.0 / n0 + 1e-9  # to the voxel
    old, new = sitk.GetArrayFromImage(msk).astype(bool), sitk.GetArrayFromImage(mask).astype(bool)
    assert (new >= old).all() if target > 0 else (new <= old).all()  # dilation / erosion, nothing else
    assert ndimage.label(new)[1] == 1


@pytest.mark.parametrize("angle,axis", [(5.0, (0.0, 0.0, 1.0)), (10.0, (0.0, 0.0, 1.0)), (-8.0, (0.6, 0.0, 0.8))])
def test_rotation_keeps_the_roi_volume(angle, axis):
    img, msk = _sphere(spacing=(1.0, 1.0, 1.0))
    p = Perturbation(name="p01", steps=("rotation", "translation"), angle_deg=angle, rotation_axis=axis,
                     translation_fraction=(0.3, -0.2, 0.1))
    out, mask, applied = apply_perturbation(img, msk, p)
    assert _voxels(mask) / _voxels(msk) == pytest.approx(1.0, abs=0.03)
    assert applied["translation_x_mm"] == pytest.approx(0.3)
    assert not np.array_equal(sitk.GetArrayFromImage(out), sitk.GetArrayFromImage(img))
    assert out.GetSize() == img.GetSize() and mask.GetSize() == img.GetSize()


def test_resampling_and_supervoxels():
    img, msk = _sphere()
    p = Perturbation(name="p01", steps=("resample",), spacing_mm=1.5)
    out, mask, _ = apply_perturbation(img, msk, p)
    assert out.GetSpacing() == (1.5, 1.5, 1.5) and mask.GetSize() == out.GetSize()
    mm3 = _voxels(mask) * 1.5 ** 3 / (_voxels(msk) * 0.8 * 0.8 * 2.0)
    assert mm3 == pytest.approx(1.0, abs=0.05)
    ratios = []
    for seed in range(6):
        q = Perturbation(name="p01", steps=("supervoxel",), supervoxels=25, seed=seed)
        _, m, _ = apply_perturbation(img, msk, q)
        a, b = sitk.GetArrayFromImage(msk).astype(bool), sitk.GetArrayFromImage(m).astype(bool)
        assert 2 * (a & b).sum() / (a.sum() + b.sum()) > 0.8  # Dice: a variant of the same contour
        ratios.append(b.sum() / a.sum())
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.1)  # the volume is kept on average
    assert len(set(ratios)) > 1


def test_identity_returns_the_inputs():
    img, msk = _sphere()
    out, mask, applied = apply_perturbation(img, msk, Perturbation())
    assert out is img and mask is msk and applied["volume_change"] == 0 and applied["noise_sd"] == 0


# --------------------------------------------------------------------------------------------- robustness
def test_long_table_shape_and_original_equals_extract(cases):
    _, mf = cases
    t = robustness(mf.iloc[:3], PARAMS, n_perturbations=3, seed=0, progress=False)
    feats = t.attrs["radiomix"]["groups"]["radiomic"]
    assert list(t.columns[: 1 + len(PERTURBATION_COLUMNS)]) == ["id", *PERTURBATION_COLUMNS]
    assert len(t) == 3 * 4 and list(t["perturbation"][:4]) == ["p00", "p01", "p02", "p03"]
    assert (t.loc[t.perturbation == "p00", "kind"] == "original").all()
    ex = extract(mf.iloc[:3], PARAMS, progress=False)
    assert feats == [c for c in ex.columns if c != "site"]  # named exactly as extract names them
    orig = t[t.kind == "original"].set_index("id")[feats]
    assert np.array_equal(orig.to_numpy(), ex[feats].to_numpy())
    pert = t[t.kind != "original"]
    assert pert[feats].notna().all().all() and (pert["noise_sd"] > 0).all()
    assert np.allclose(pert["volume_change"], pert["volume_change_target"], atol=0.01)
    assert not np.allclose(pert[feats].to_numpy(), np.repeat(orig.to_numpy(), 3, axis=0))
    prov = t.attrs["radiomix"]["provenance"]
    assert prov["seed"] == 0 and prov["spec"]["chain"] == ["rotation", "translation", "noise", "volume"]
    assert "ICC(1,1)" in prov["design"]


def test_zero_perturbations_reproduce_the_original_exactly(cases):
    _, mf = cases
    t = robustness(mf.iloc[:2], PARAMS, n_perturbations=2, spec=IDENTITY, progress=False)
    feats = t.attrs["radiomix"]["groups"]["radiomic"]
    ex = extract(mf.iloc[:2], PARAMS, progress=False)
    for pert in ("p01", "p02"):
        rows = t[t.perturbation == pert].set_index("id")[feats]
        assert np.array_equal(rows.to_numpy(), ex[feats].to_numpy())


def test_determinism_and_independence_of_cases(cases):
    _, mf = cases
    two = robustness(mf.iloc[:2], PARAMS, n_perturbations=2, seed=7, include_original=False, progress=False)
    again = robustness(mf.iloc[:2], PARAMS, n_perturbations=2, seed=7, include_original=False, progress=False)
    pd.testing.assert_frame_equal(two, again)
    three = robustness(mf.iloc[[2, 0, 1]], PARAMS, n_perturbations=2, seed=7, include_original=False, progress=False)
    same = three[three.id != "c2"].sort_values(["id", "perturbation"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(same[two.columns], two)
    other = robustness(mf.iloc[:2], PARAMS, n_perturbations=2, seed=8, include_original=False, progress=False)
    assert not np.allclose(other["angle_deg"], two["angle_deg"])


def test_cache_resumes_without_running_anything(cases, tmp_path, monkeypatch):
    _, mf = cases
    first = robustness(mf.iloc[:2], PARAMS, n_perturbations=2, cache_dir=tmp_path / "cache", progress=False)
    assert first.attrs["radiomix"]["provenance"]["n_computed"] == 6
    calls = []
    real = perturb_module.run_perturbation
    monkeypatch.setattr(perturb_module, "run_perturbation", lambda task: calls.append(task) or real(task))
    second = robustness(mf.iloc[:2], PARAMS, n_perturbations=2, cache_dir=tmp_path / "cache", progress=False)
    prov = second.attrs["radiomix"]["provenance"]
    assert calls == [] and prov["n_computed"] == 0 and prov["n_cached"] == 6
    pd.testing.assert_frame_equal(first, second)
    # a new seed draws new perturbations: those are computed, the originals (p00) come from the cache
    robustness(mf.iloc[:2], PARAMS, n_perturbations=2, seed=1, cache_dir=tmp_path / "cache", progress=False)
    assert sorted((t.case, t.perturbation.name) for t in calls) == [(c, p) for c in ("c0", "c1") for p in ("p01", "p02")]


@pytest.mark.slow
def test_local_processes_and_dask_give_the_same_table(cases):
    distributed = pytest.importorskip("distributed")
    _, mf = cases
    here = robustness(mf.iloc[:2], PARAMS, n_perturbations=2, progress=False)
    local = robustness(mf.iloc[:2], PARAMS, n_perturbations=2, n_jobs=2, progress=False)
    assert local.attrs["radiomix"]["provenance"]["engine_engine"] == "local processes (loky)"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        remote = robustness(mf.iloc[:2], PARAMS, n_perturbations=2, scheduler=cl.scheduler_address, progress=False)
    assert remote.attrs["radiomix"]["provenance"]["engine_engine"] == "dask"
    pd.testing.assert_frame_equal(local, here)
    pd.testing.assert_frame_equal(remote, here)


def test_a_failing_case_is_reported_and_the_others_come_back(cases):
    root, mf = cases
    bad = sitk.ReadImage(mf.loc[3, "mask"]) * 2  # label 2 only: label 1 is absent
    sitk.WriteImage(bad, str(root / "bad_mask.nii.gz"))
    frame = pd.concat([mf.iloc[:2], mf.iloc[[3]].assign(mask=str(root / "bad_mask.nii.gz"))], ignore_index=True)
    with pytest.warns(UserWarning, match=r"3 of 9 \(case, perturbation\) tasks failed"):
        t, errors = robustness(frame, PARAMS, n_perturbations=2, progress=False, return_details=True)
    feats = t.attrs["radiomix"]["groups"]["radiomic"]
    assert set(errors["id"]) == {"c3"} and list(errors["perturbation"]) == ["p00", "p01", "p02"]
    assert (errors["stage"] == "mask").all() and errors["message"].str.contains("label 1 not in mask").all()
    assert t.loc[t.id == "c3", feats].isna().all().all() and t.loc[t.id != "c3", feats].notna().all().all()
    assert t.attrs["radiomix"]["provenance"]["n_failed"] == 3


def test_robustness_refuses_repeats_and_several_modalities(cases):
    _, mf = cases
    rep = pd.concat([mf.iloc[:2].assign(session="1"), mf.iloc[:2].assign(session="2")], ignore_index=True)
    with pytest.raises(ManifestError, match="repeated measurements"):
        robustness(rep, PARAMS, n_perturbations=2, progress=False)
    wide = mf.iloc[:2].rename(columns={"image": "image_ct"}).assign(image_pet=mf["image"].iloc[:2].to_numpy())
    with pytest.raises(ManifestError, match="takes one: run it once per modality"):
        robustness(wide, PARAMS, n_perturbations=2, progress=False)


# --------------------------------------------------------------------------------------------- repeats
def test_repeated_measure_manifests(cases):
    _, mf = cases
    rep = pd.concat([mf.iloc[:2].assign(session=1), mf.iloc[[1, 0]].assign(session=2)], ignore_index=True)
    read = read_manifest(rep)
    assert list(read.columns[:3]) == ["id", "session", "modality"] and read.attrs["manifest"]["repeats"] == ["session"]
    f, diag, errors = extract(rep, PARAMS, progress=False, return_details=True)
    assert list(f.index) == ["c0", "c1", "c1", "c0"] and list(f["session"]) == ["1", "1", "2", "2"]
    assert list(f.columns[:2]) == ["session", "site"] and "session" not in f.attrs["radiomix"]["groups"]["radiomic"]
    assert f.attrs["radiomix"]["provenance"]["n_cases"] == 2 and list(diag["session"]) == ["1", "1", "2", "2"]
    ex = extract(mf.iloc[:2], PARAMS, progress=False)
    feats = [c for c in ex.columns if c != "site"]
    np.testing.assert_array_equal(f[f.session == "1"][feats].to_numpy(), ex[feats].to_numpy())
    bad = cases[0] / "label2_only.nii.gz"
    sitk.WriteImage(sitk.ReadImage(mf.loc[1, "mask"]) * 2, str(bad))
    rep.loc[2, "mask"] = str(bad)  # c1, session 2 fails alone
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f, _, errors = extract(rep, PARAMS, progress=False, return_details=True)
    assert list(errors[["id", "session"]].itertuples(index=False, name=None)) == [("c1", "2")]
    assert f[feats].isna().all(axis=1).tolist() == [False, False, True, False]
    raters = pd.concat([rep.assign(rater="A"), rep.assign(rater="B")], ignore_index=True)
    assert len(read_manifest(raters)) == 8 and read_manifest(raters).attrs["manifest"]["repeats"] == ["session", "rater"]


def test_duplicate_ids_without_repeat_columns_stay_an_error(cases):
    _, mf = cases
    dup = pd.concat([mf.iloc[:2], mf.iloc[[1]]], ignore_index=True)
    with pytest.raises(ManifestError) as err:
        read_manifest(dup)
    msg = str(err.value)
    assert "duplicate ids: ['c1']" in msg and "'session'" in msg and "'rater'" in msg
    twice = pd.concat([mf.iloc[:2].assign(session=1), mf.iloc[[1]].assign(session=1)], ignore_index=True)
    with pytest.raises(ManifestError, match=r"duplicate \(id, session\) rows: \[\('c1', '1'\)\]"):
        read_manifest(twice)
    with pytest.raises(ManifestError, match="row\\(s\\) have an empty 'rater'"):
        read_manifest(mf.iloc[:2].assign(rater=["A", None]))


# --------------------------------------------------------------------------------------------- CLI
def test_cli_writes_three_files(cases, tmp_path):
    from radiomix.cli import main

    _, mf = cases
    manifest = tmp_path / "manifest.csv"
    mf.iloc[:3].to_csv(manifest, index=False)
    out = tmp_path / "rob"
    res = CliRunner().invoke(main, ["robustness", str(manifest), "-p", PARAMS, "--n", "2", "--seed", "3",
                                    "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["icc.csv", "perturbations.json", "perturbations.parquet",
                                                     "radiomix-run.json"]
    table = pd.read_parquet(out / "perturbations.parquet")
    assert len(table) == 9 and list(table.columns[:3]) == ["id", "perturbation", "kind"]
    icc = pd.read_csv(out / "icc.csv", index_col=0)
    meta = json.loads((out / "perturbations.json").read_text())
    assert len(icc) == len(table.columns) - 1 - len(PERTURBATION_COLUMNS)
    assert meta["seed"] == 3 and meta["icc_form"] == "ICC(1,1)" and "pyradiomics" in meta["versions"]
    assert meta["spec"]["angle_deg"] == [-10.0, 10.0] and meta["n_perturbations"] == 2
    assert "ICC(1,1)" in res.output


def test_cli_bad_manifest_exits_2_with_one_line(cases, tmp_path):
    from radiomix.cli import main

    _, mf = cases
    manifest = tmp_path / "manifest.csv"
    mf.drop(columns="mask").to_csv(manifest, index=False)
    out = tmp_path / "rob"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = CliRunner().invoke(main, ["robustness", str(manifest), "--n", "2", "--out", str(out), "-q"])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "lacks required column" in lines[0] and "'mask'" in lines[0]
    assert not out.exists()
