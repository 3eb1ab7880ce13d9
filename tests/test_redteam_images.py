"""Hostile images and masks (issue #24, "Tables and images"): each fails its own case with one line in the
errors table (the other cases finish), cheaply and before it costs time or memory, and valid inputs give the
same features as before. Every fixture is built here, small, with SimpleITK/numpy."""

import os
import subprocess
import sys
import textwrap
import time
import warnings
import zlib

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from radiomix.cli import main
from radiomix.extraction import extract, robustness
from radiomix.extraction.images import check_series_folder, read_image
from radiomix.extraction.manifest import ManifestError
from radiomix.extraction.params import extractor, load_params

#: case id -> (what is wrong, what radiomix does).
CASES = {
    "all-nan-image": ("float image whose voxels are all NaN",
                      "the case fails (stage nonfinite): names the case, the image and the ROI's voxel count"),
    "nan-in-roi": ("NaN voxels inside the mask", "the case fails: names the case, the image and how many of the "
                   "ROI's voxels are NaN/Inf"),
    "inf-in-roi": ("+Inf and -Inf voxels inside the mask", "the case fails, as for NaN"),
    "nan-outside-roi": ("NaN voxels only outside the mask",
                        "original image without resampling/normalization: extracted (the features are bit-identical "
                        "to a finite background); with resampling, normalization or filters, which carry them into "
                        "the ROI's features: the case fails naming the count and the step"),
    "image-usr": ("image: /usr (a system folder)", "the case is refused in milliseconds, before anything is hashed: "
                  "names the folder"),
    "folder-no-dicom": ("image folder without DICOM files", "the case is refused before hashing: names the folder"),
    "folder-too-big": ("folder of more than 100,000 files or nested more than 3 levels deep",
                       "the case is refused after a bounded scan: names the folder and the limit"),
    "nrrd-bomb": ("2 MB gzip NRRD whose header declares 1400x1400x300 float32 (2.2 GiB)",
                  "the case is refused from the header, before decompression (peak memory stays low); "
                  "max_image_bytes= or RADIOMIX_MAX_IMAGE_BYTES raises the 2 GiB limit"),
    "mask-bomb": ("the same NRRD as the mask", "the case is refused from the mask's header"),
    "dicom-series-too-large": ("DICOM series whose rows x columns x files exceed the limit",
                               "the case is refused before the series is read"),
    "dicom-no-preamble": ("DICOM series whose files lack the 128-byte preamble (ACR-NEMA style)",
                          "accepted as a series folder and read, as before"),
    "image-device": ("image: /dev/zero (a device: reading it never ends)", "the case is refused: 'not a regular file'"),
    "mask-pipe": ("mask: a named pipe (opening it waits for a writer)", "the case is refused: 'not a regular file'"),
    "image-4d": ("4D image (time series)", "the case is refused from the header: 'take one volume out of it'"),
    "complex-image": ("image of complex voxels", "the case is refused: 'radiomics needs real values'"),
    "mask-nonfinite": ("float mask holding NaN/Inf", "the case is refused: names the mask file and the count"),
    "mask-4d": ("mask with more dimensions than the image", "the case is refused from the headers, naming both grids"),
    "valid-inputs": ("valid float and integer images", "features bit-identical to pyradiomics' own"),
    "robustness-nan": ("NaN inside the mask under radiomix robustness",
                       "that case's perturbations fail (stage nonfinite); the other cases finish"),
}

PARAMS = "ct-original"
SPACING = (1.0, 1.0, 2.0)
ORIGINAL_ONLY = {"imageType": {"Original": {}}, "setting": {"binWidth": 25, "label": 1}}
EXPECTED = {  # refused case -> (stage, words its message holds)
    "all-nan-image": ("nonfinite", ["case all-nan-image", "all_nan.nrrd", "all 784 voxels of the ROI"]),
    "nan-in-roi": ("nonfinite", ["case nan-in-roi", "nan_in.nrrd", "3 of the 784 voxels of the ROI"]),
    "inf-in-roi": ("nonfinite", ["case inf-in-roi", "inf_in.nrrd", "2 of the 784 voxels of the ROI"]),
    "nan-outside-roi": ("nonfinite", ["case nan-outside-roi", "nan_out.nrrd", "outside the ROI", "resampling"]),
    "image-usr": ("read_image", ["/usr", "not a DICOM series folder"]),
    "folder-no-dicom": ("read_image", ["no_dicom", "not a DICOM series folder"]),
    "nrrd-bomb": ("read_image", ["bomb.nrrd", "1400x1400x300", "over the limit", "RADIOMIX_MAX_IMAGE_BYTES"]),
    "mask-bomb": ("read_mask", ["bomb.nrrd", "over the limit"]),
    "image-device": ("read_image", ["/dev/zero: not a regular file"]),
    "mask-pipe": ("read_mask", ["pipe.nrrd: not a regular file"]),
    "image-4d": ("read_image", ["image_4d.nii.gz", "4 dimensions", "2D or 3D"]),
    "complex-image": ("read_image", ["complex.nrrd", "complex voxel values"]),
    "mask-nonfinite": ("read_mask", ["mask_nan.nrrd", "2 non-finite voxel(s)"]),
    "mask-4d": ("geometry", ["the mask has 4 dimensions, the image 3", "size 20x20x10x2"]),
}


def _roi() -> np.ndarray:
    z, y, x = np.mgrid[:10, :20, :20]
    return (((z - 4.5) / 4) ** 2 + ((y - 9.5) / 7) ** 2 + ((x - 9.5) / 7) ** 2) < 1  # 784 voxels


def _image(arr, path, spacing=SPACING):
    img = sitk.GetImageFromArray(arr, isVector=False)
    if img.GetDimension() == 3:
        img.SetSpacing(spacing)
    sitk.WriteImage(img, str(path))
    return str(path)


def _bomb(path) -> str:
    """A gzip NRRD whose header declares 1400x1400x300 float32: 2.35 GB of zeros in 2.3 MB (gzip members of
    ten slices each, concatenated)."""
    slices = bytes(1400 * 1400 * 4 * 10)
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = c.compress(slices) + c.flush()
    head = b"NRRD0004\ntype: float\ndimension: 3\nsizes: 1400 1400 300\nspacings: 1 1 1\nendian: little\n" \
           b"encoding: gzip\n\n"
    with open(path, "wb") as fh:
        fh.write(head + member * 30)
    return str(path)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """One manifest: every hostile case beside a valid float and a valid integer case (20 x 20 x 10)."""
    d = tmp_path_factory.mktemp("redteam")
    roi = _roi()
    rng = np.random.default_rng(0)
    ok = (rng.normal(40, 30, roi.shape) + 60 * roi).astype(np.float32)
    mask = _image(roi.astype(np.uint8), d / "mask.nrrd")
    inside = np.argwhere(roi)
    nan_in, inf_in, nan_out = ok.copy(), ok.copy(), ok.copy()
    nan_in[tuple(inside[[0, 500, -1]].T)] = np.nan
    inf_in[tuple(inside[10])], inf_in[tuple(inside[20])] = np.inf, -np.inf
    nan_out[~roi] = np.nan
    (d / "no_dicom" / "sub").mkdir(parents=True)
    for i in range(3):
        (d / "no_dicom" / f"notes{i}.txt").write_text("not DICOM")
    mask_nan = roi.astype(np.float32)
    mask_nan[0, 0, 0], mask_nan[tuple(inside[0])] = np.nan, np.inf
    bomb = _bomb(d / "bomb.nrrd")
    assert os.path.getsize(bomb) < 3e6
    os.mkfifo(d / "pipe.nrrd")  # opening it for reading would wait for a writer forever
    parts = sitk.GetImageFromArray(ok)
    sitk.WriteImage(sitk.RealAndImaginaryToComplex(parts, parts), str(d / "complex.nrrd"))
    rows = {
        "valid-inputs": (_image(ok, d / "ok.nrrd"), mask),
        "valid-int": (_image(np.round(ok).astype(np.int16), d / "ok_int.nrrd"), mask),
        "all-nan-image": (_image(np.full_like(ok, np.nan), d / "all_nan.nrrd"), mask),
        "nan-in-roi": (_image(nan_in, d / "nan_in.nrrd"), mask),
        "inf-in-roi": (_image(inf_in, d / "inf_in.nrrd"), mask),
        "nan-outside-roi": (_image(nan_out, d / "nan_out.nrrd"), mask),
        "image-usr": ("/usr", mask),
        "folder-no-dicom": (str(d / "no_dicom"), mask),
        "nrrd-bomb": (bomb, mask),
        "mask-bomb": (str(d / "ok.nrrd"), bomb),
        "image-device": ("/dev/zero", mask),
        "mask-pipe": (str(d / "ok.nrrd"), str(d / "pipe.nrrd")),
        "image-4d": (_image(np.stack([ok, ok]), d / "image_4d.nii.gz"), mask),
        "complex-image": (str(d / "complex.nrrd"), mask),
        "mask-nonfinite": (str(d / "ok.nrrd"), _image(mask_nan, d / "mask_nan.nrrd")),
        "mask-4d": (str(d / "ok.nrrd"), _image(np.stack([roi, roi]).astype(np.uint8), d / "mask_4d.nii.gz")),
    }
    mf = pd.DataFrame([{"id": k, "image": i, "mask": m} for k, (i, m) in rows.items()])
    mf.to_csv(d / "manifest.csv", index=False)
    return {"dir": d, "manifest": str(d / "manifest.csv"), "rows": rows, "ok": ok, "roi": roi}


def _extract(manifest, params=PARAMS, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return extract(manifest, params, return_details=True, progress=False, **kw)


@pytest.fixture(scope="module")
def api(inputs):
    return _extract(inputs["manifest"])


@pytest.fixture(scope="module")
def cli(inputs):
    out = inputs["dir"] / "cli" / "features.csv"
    res = CliRunner().invoke(main, ["extract", inputs["manifest"], "--params", PARAMS, "--out", str(out)])
    errors = pd.read_csv(out.with_name("features.errors.csv"), keep_default_na=False)
    return res, errors, pd.read_csv(out, index_col="id")


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_refused_per_case(api, cli, case):
    stage, words = EXPECTED[case]
    feats, _, errors = api
    err = errors.set_index("id")
    assert err.loc[case, "stage"] == stage, err.loc[case].to_dict()
    for w in words:
        assert w in err.loc[case, "message"], (w, err.loc[case, "message"])
    assert "\n" not in err.loc[case, "message"]
    assert feats.loc[case].isna().all()  # a row of missing values, same columns as the others
    res, cli_errors, cli_feats = cli
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    row = cli_errors.set_index("id").loc[case]
    assert row["stage"] == stage and row["message"] == err.loc[case, "message"]
    assert cli_feats.loc[case].isna().all()


def test_valid_inputs_unchanged(inputs, api, cli):
    feats, _, errors = api
    assert set(errors["id"]) == set(EXPECTED)  # exactly the hostile cases failed; the others finished
    ex = extractor(load_params(PARAMS))
    mask = sitk.ReadImage(inputs["rows"]["valid-inputs"][1])
    for case in ("valid-inputs", "valid-int"):
        ref = ex.execute(sitk.ReadImage(inputs["rows"][case][0]), mask)
        ref = {k: float(v) for k, v in ref.items() if not k.startswith("diagnostics_")}
        assert list(feats.columns) == list(ref)
        np.testing.assert_array_equal(feats.loc[case].to_numpy(float), np.array(list(ref.values())))
    cli_feats = cli[2]
    np.testing.assert_array_equal(cli_feats.loc["valid-inputs"].to_numpy(float),
                                  feats.loc["valid-inputs"].to_numpy(float))


def test_nan_outside_roi(inputs):
    """The decision, from evidence: NaN outside the ROI is harmless exactly when the features read the ROI's
    own voxels only (the original image, no resampling, no normalization); otherwise it reaches them."""
    rows = inputs["rows"]
    mf = pd.DataFrame([{"id": c, "image": rows[c][0], "mask": rows[c][1]} for c in ("valid-inputs", "nan-outside-roi")])
    feats, _, errors = _extract(mf, ORIGINAL_ONLY)
    assert errors.empty
    np.testing.assert_array_equal(feats.loc["nan-outside-roi"].to_numpy(float), feats.loc["valid-inputs"].to_numpy(float))
    # B-spline resampling (ct-original) prefilters the whole image: one NaN in a far corner poisons pyradiomics.
    corner = inputs["ok"].copy()
    corner[0, 0, 0] = np.nan
    assert not inputs["roi"][0, 0, 0]
    img, mask = sitk.GetImageFromArray(corner), sitk.ReadImage(rows["valid-inputs"][1])
    img.SetSpacing(SPACING)
    try:
        res = extractor(load_params(PARAMS)).execute(img, mask)
        reached = not all(np.isfinite(float(v)) for k, v in res.items() if not k.startswith("diagnostics_"))
    except ValueError:
        reached = True
    assert reached
    # A filter spreads a NaN next to the ROI into its features silently (wavelet, no resampling).
    wavelet = {"imageType": {"Original": {}, "Wavelet": {}}, "featureClass": {"firstorder": None},
               "setting": {"binWidth": 25, "label": 1}}
    edge = inputs["ok"].copy()
    z, y, x = np.argwhere(inputs["roi"]).min(axis=0)
    edge[z, y, x] = np.nan  # the ROI's bounding-box corner: outside the ROI, beside it
    assert not inputs["roi"][z, y, x]
    img = sitk.GetImageFromArray(edge)
    img.SetSpacing(SPACING)
    ex = extractor(load_params(wavelet))
    with_nan, clean = ex.execute(img, mask), ex.execute(sitk.ReadImage(rows["valid-inputs"][0]), mask)
    assert any(float(with_nan[k]) != float(clean[k]) for k in clean if k.startswith("wavelet"))
    path = _image(edge, inputs["dir"] / "nan_edge.nrrd")
    _, _, errors = _extract(pd.DataFrame([{"id": "edge", "image": path, "mask": rows["valid-inputs"][1]}]), wavelet)
    assert errors.loc[0, "stage"] == "nonfinite" and "filters (Wavelet)" in errors.loc[0, "message"]


def test_image_usr_refused_fast_without_hashing(inputs, monkeypatch, tmp_path):
    import radiomix.extraction.core as core

    hashed = []
    real = core.file_sha256
    monkeypatch.setattr(core, "file_sha256", lambda p: hashed.append(p) or real(p))
    manifest = tmp_path / "usr.csv"
    pd.DataFrame([{"id": "image-usr", "image": "/usr", "mask": inputs["rows"]["valid-inputs"][1]}]).to_csv(
        manifest, index=False)
    t0 = time.perf_counter()
    _, _, errors = _extract(str(manifest))
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, elapsed
    assert "/usr" not in hashed and errors.loc[0, "stage"] == "read_image"
    t0 = time.perf_counter()
    res = CliRunner().invoke(main, ["extract", str(manifest), "--params", PARAMS, "--out", str(tmp_path / "f.csv")])
    assert time.perf_counter() - t0 < 2.0 and res.exit_code == 1
    assert "not a DICOM series folder" in res.output and "Traceback" not in res.output


def test_folder_too_big(tmp_path):
    series = tmp_path / "series"
    (series / "a" / "b" / "c").mkdir(parents=True)
    dicom = b"\0" * 128 + b"DICM" + b"\0" * 16
    (series / "slice0.dcm").write_bytes(dicom)
    (series / "a" / "b" / "c" / "x.txt").write_text("3 levels down")
    assert check_series_folder(series) == 2
    (series / "a" / "b" / "c" / "d").mkdir()
    with pytest.raises(ValueError, match=r"series: folder nests subfolders more than 3 levels deep"):
        check_series_folder(series)
    with pytest.raises(ValueError, match=r"series: folder holds more than 1 files"):
        check_series_folder(series, max_files=1)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak memory read from /proc (Linux)")
def test_nrrd_bomb_memory_bounded(inputs):
    """The refusal runs in a fresh process whose peak memory is measured (the bomb would take 2.2 GiB)."""
    code = textwrap.dedent(f"""
        import warnings
        from radiomix.extraction import extract
        warnings.simplefilter("ignore")
        _, _, e = extract({inputs['manifest']!r}, "ct-original", return_details=True, progress=False)
        e = e.set_index("id")
        print(e.loc["nrrd-bomb", "stage"], e.loc["mask-bomb", "stage"])
        # VmHWM, the peak of this process's own memory: ru_maxrss would carry over the forking parent's peak
        print(next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM")) // 1024)
    """)
    env = {k: v for k, v in os.environ.items() if k != "RADIOMIX_MAX_IMAGE_BYTES"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, timeout=120)
    stages, rss_mb = out.stdout.split("\n")[:2]
    assert stages == "read_image read_mask", (out.stdout, out.stderr)
    assert int(rss_mb) < 500, (rss_mb, out.stderr)


def test_size_limit_is_configurable(inputs, monkeypatch):
    mf = pd.DataFrame([{"id": "valid-inputs", "image": inputs["rows"]["valid-inputs"][0],
                        "mask": inputs["rows"]["valid-inputs"][1]}])
    monkeypatch.setenv("RADIOMIX_MAX_IMAGE_BYTES", "10000")  # the 16 kB float image is over it
    _, _, errors = _extract(mf)
    assert errors.loc[0, "stage"] == "read_image" and "over the limit of 9.77 KiB" in errors.loc[0, "message"]
    feats, _, errors = _extract(mf, max_image_bytes=1e6)  # the keyword wins over the environment
    assert errors.empty and feats.notna().all().all()
    monkeypatch.setenv("RADIOMIX_MAX_IMAGE_BYTES", "lots")
    with pytest.raises(ManifestError, match="RADIOMIX_MAX_IMAGE_BYTES='lots' is not a number"):
        _extract(mf)


def _dicom_series(folder, arr):
    """A minimal axial CT series (int16) from a (z, y, x) array."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir()
    series = generate_uid()
    for k in range(arr.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"{k}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID, ds.SeriesInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID, series
        ds.Modality, ds.ImagePositionPatient, ds.ImageOrientationPatient = "CT", [0, 0, 2.0 * k], [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness, ds.Rows, ds.Columns = [1, 1], 2.0, arr.shape[1], arr.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = arr[k].astype("<i2").tobytes()
        ds.save_as(folder / f"{k}.dcm", enforce_file_format=True)


def test_dicom_series_too_large(inputs, tmp_path):
    pytest.importorskip("pydicom")
    arr = np.round(inputs["ok"]).astype(np.int16)
    _dicom_series(tmp_path / "ct", arr)
    assert read_image(tmp_path / "ct").GetSize() == (20, 20, 10)
    mf = pd.DataFrame([{"id": "dicom-series-too-large", "image": str(tmp_path / "ct"),
                        "mask": inputs["rows"]["valid-inputs"][1]}])
    _, _, errors = _extract(mf, max_image_bytes=arr.nbytes - 1)
    assert errors.loc[0, "stage"] == "read_image"
    assert "its 10 DICOM files declare 10 x 20x20x1 voxels" in errors.loc[0, "message"]
    feats, _, errors = _extract(mf, max_image_bytes=arr.nbytes)
    assert errors.empty and feats.notna().all().all()


def test_robustness_nan(inputs):
    rows = inputs["rows"]
    mf = pd.DataFrame([{"id": c, "image": rows[c][0], "mask": rows[c][1]} for c in ("valid-inputs", "nan-in-roi")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table, errors = robustness(mf, PARAMS, n_perturbations=1, progress=False, return_details=True)
    assert set(errors["id"]) == {"nan-in-roi"} and set(errors["stage"]) == {"nonfinite"}
    assert len(errors) == 2 and errors["message"].str.contains("3 of the 784 voxels of the ROI").all()
    feats = table.set_index("id")[table.attrs["radiomix"]["groups"]["radiomic"]]
    assert feats.loc["valid-inputs"].notna().all().all() and feats.loc["nan-in-roi"].isna().all().all()


def test_check_reports_hostile_inputs(inputs):
    from radiomix.extraction import check

    t0 = time.perf_counter()
    qa = check(inputs["manifest"], PARAMS)
    assert time.perf_counter() - t0 < 10
    for case in ("image-usr", "folder-no-dicom", "nrrd-bomb", "mask-bomb", "image-device", "mask-pipe", "image-4d",
                 "complex-image", "mask-nonfinite", "mask-4d"):
        assert qa.loc[case, "status"] == "error", (case, qa.loc[case].to_dict())
    assert (qa.loc[["valid-inputs", "valid-int"], "status"] == "ok").all()



def test_dicom_no_preamble(inputs, tmp_path):
    """Files without the preamble still make a series folder (GDCM reads them), and the same volume."""
    pydicom = pytest.importorskip("pydicom")
    arr = np.round(inputs["ok"]).astype(np.int16)
    _dicom_series(tmp_path / "ct", arr)
    for f in (tmp_path / "ct").iterdir():
        ds = pydicom.dcmread(f)
        ds.preamble, ds.file_meta = None, pydicom.dataset.FileMetaDataset()
        pydicom.dcmwrite(f, ds, implicit_vr=True, little_endian=True)
        assert f.read_bytes()[:2] == b"\x08\x00"
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read_image(tmp_path / "ct")), arr)
    mf = pd.DataFrame([{"id": "dicom-no-preamble", "image": str(tmp_path / "ct"),
                        "mask": inputs["rows"]["valid-inputs"][1]}])
    feats, _, errors = _extract(mf)
    assert errors.empty and feats.notna().all().all()
