"""DICOM inputs: a generated CT series with a DICOM-SEG or an RTSTRUCT gives the same features as the NIfTI
version of the same volume and mask."""

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiomix.extraction import extract
from radiomix.extraction.synthetic import ct_case

pydicom = pytest.importorskip("pydicom")

SPACING = (0.75, 0.75, 2.5)
ORIGIN = (-24.0, -30.5, 100.0)


def _uid():
    from pydicom.uid import generate_uid

    return generate_uid()


def _ct_series(arr: np.ndarray, folder, study_uid, frame_uid):
    """Write a (z, y, x) int16 array as an axial CT series; returns the datasets."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    folder.mkdir(parents=True, exist_ok=True)
    series_uid = _uid()
    out = []
    for k in range(arr.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = _uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"ct{k:03d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.Modality, ds.PatientID, ds.PatientName, ds.StudyID = "CT", "P1", "Test^Patient", "1"
        ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
        ds.StudyDate = ds.SeriesDate = "20240101"
        ds.StudyTime = ds.SeriesTime = "120000"
        ds.AccessionNumber, ds.ReferringPhysicianName, ds.PatientBirthDate, ds.PatientSex = "", "", "", "O"
        ds.Manufacturer = "radiomix-test"
        ds.ImagePositionPatient = [ORIGIN[0], ORIGIN[1], ORIGIN[2] + k * SPACING[2]]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [SPACING[1], SPACING[0]]
        ds.SliceThickness = SPACING[2]
        ds.Rows, ds.Columns = arr.shape[1], arr.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "HU"
        ds.PixelData = arr[k].astype("<i2").tobytes()
        ds.save_as(folder / f"ct{k:03d}.dcm", enforce_file_format=True)
        out.append(pydicom.dcmread(folder / f"ct{k:03d}.dcm"))
    return out


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicom")
    image, mask = ct_case(shape=(60, 52, 20), spacing=SPACING, origin=ORIGIN, seed=3, n_labels=2)
    arr, lab = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(mask)
    study, frame = _uid(), _uid()
    series = _ct_series(arr, root / "ct", study, frame)
    sitk.WriteImage(image, str(root / "image.nii.gz"))
    sitk.WriteImage(mask, str(root / "mask.nii.gz"))
    return {"root": root, "arr": arr, "lab": lab, "series": series, "image": image}


def test_dicom_series_reads_as_the_nifti_volume(volume):
    from radiomix.extraction.images import read_image

    img = read_image(volume["root"] / "ct")
    assert np.array_equal(sitk.GetArrayFromImage(img), volume["arr"])
    np.testing.assert_allclose(img.GetSpacing(), SPACING)
    np.testing.assert_allclose(img.GetOrigin(), ORIGIN)


def test_dicom_seg_equals_nifti(volume):
    hd = pytest.importorskip("highdicom")
    from pydicom.sr.codedict import codes

    lab = volume["lab"]
    descriptions = [hd.seg.SegmentDescription(
        segment_number=n, segment_label=name, segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Neoplasm, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
        for n, name in ((1, "Tumor"), (2, "Node"))]
    pixels = np.stack([lab == 1, lab == 2], axis=-1).astype(np.uint8)  # (frames, rows, cols, segments)
    seg = hd.seg.Segmentation(
        source_images=volume["series"], pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=_uid(), series_number=2, sop_instance_uid=_uid(),
        instance_number=1, manufacturer="radiomix-test", manufacturer_model_name="test", software_versions="1",
        device_serial_number="1")
    seg_path = volume["root"] / "seg.dcm"
    seg.save_as(seg_path)
    root = volume["root"]
    nifti = pd.DataFrame({"id": ["a"], "image": [str(root / "image.nii.gz")], "mask": [str(root / "mask.nii.gz")],
                          "label": ["1;2"]})
    dicom = pd.DataFrame({"id": ["a"], "image": [str(root / "ct")], "mask": [str(seg_path)], "label": ["Tumor;Node"]})
    by_number = dicom.assign(label="1;2")
    f_n = extract(nifti, "ct", progress=False)
    f_d, diag, err = extract(dicom, "ct", progress=False, return_details=True)
    assert len(err) == 0 and not diag["warnings"].any()
    # Region names differ (label1 vs Tumor): compare values block by block.
    np.testing.assert_array_equal(f_d.filter(like="Tumor_").to_numpy(), f_n.filter(like="label1_").to_numpy())
    np.testing.assert_array_equal(f_d.filter(like="Node_").to_numpy(), f_n.filter(like="label2_").to_numpy())
    f_b = extract(by_number, "ct", progress=False)
    np.testing.assert_array_equal(f_b.to_numpy(), f_n.to_numpy())
    bad = extract(dicom.assign(label="Liver"), "ct-original", progress=False, return_details=True)[2]
    assert bad.loc[0, "stage"] == "mask" and "segment 'Liver' not in DICOM-SEG; segments: 1 'Tumor', 2 'Node'" in bad.loc[0, "message"]
    two = extract(dicom.drop(columns="label"), "ct-original", progress=False, return_details=True)[2]
    assert "holds 2 segments" in two.loc[0, "message"]


def _polygon(cx, cy, r, n=40, phase=0.1):
    t = phase + np.arange(n) * 2 * np.pi / n
    return np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])


def _inside_convex(poly, px, py):
    """Voxel centres inside a convex counter-clockwise polygon (an independent oracle for the rasterizer)."""
    inside = np.ones(px.shape, bool)
    for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, axis=0)):
        inside &= (x1 - x0) * (py - y0) - (y1 - y0) * (px - x0) > 0
    return inside


def test_rtstruct_equals_nifti(volume):
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    root, image = volume["root"], volume["image"]
    nz, ny, nx = volume["arr"].shape
    yy, xx = np.mgrid[:ny, :nx]
    px, py = ORIGIN[0] + xx * SPACING[0], ORIGIN[1] + yy * SPACING[1]  # voxel centres (mm)
    mask = np.zeros((nz, ny, nx), np.uint8)
    contours = []
    for k in range(6, 14):
        r = 9.0 * np.sqrt(max(0.0, 1 - ((k - 10) / 4.5) ** 2)) + 1.0
        poly = _polygon(ORIGIN[0] + 30.1, ORIGIN[1] + 26.3, r)
        mask[k][_inside_convex(poly, px, py)] = 1
        z = ORIGIN[2] + k * SPACING[2]
        contours.append(np.column_stack([poly, np.full(len(poly), z)]).ravel().tolist())
    hole = _polygon(ORIGIN[0] + 30.1, ORIGIN[1] + 26.3, 3.0)  # a hole in slice 10: even-odd rule
    mask[10][_inside_convex(hole, px, py)] = 0
    contours.append(np.column_stack([hole, np.full(len(hole), ORIGIN[2] + 10 * SPACING[2])]).ravel().tolist())

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    meta.MediaStorageSOPInstanceUID = _uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(root / "rt.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.StructureSetLabel = "RTSTRUCT", "test"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = volume["series"][0].StudyInstanceUID, _uid()
    roi = Dataset()
    roi.ROINumber, roi.ROIName = 7, "GTV-1"
    roi.ReferencedFrameOfReferenceUID = volume["series"][0].FrameOfReferenceUID
    other = Dataset()
    other.ROINumber, other.ROIName = 8, "Body"
    ds.StructureSetROISequence = Sequence([roi, other])
    items = []
    for pts in contours:
        c = Dataset()
        c.ContourGeometricType = "CLOSED_PLANAR"
        c.NumberOfContourPoints = len(pts) // 3
        c.ContourData = [f"{v:.6f}" for v in pts]
        items.append(c)
    rc = Dataset()
    rc.ReferencedROINumber = 7
    rc.ContourSequence = Sequence(items)
    ds.ROIContourSequence = Sequence([rc])
    ds.save_as(root / "rt.dcm", enforce_file_format=True)

    m = sitk.GetImageFromArray(mask)
    m.CopyInformation(image)
    sitk.WriteImage(m, str(root / "rt_mask.nii.gz"))
    nifti = pd.DataFrame({"id": ["a"], "image": [str(root / "image.nii.gz")], "mask": [str(root / "rt_mask.nii.gz")]})
    rt_dir = root / "rt_only"
    rt_dir.mkdir()
    (rt_dir / "rt.dcm").write_bytes((root / "rt.dcm").read_bytes())  # a folder holding one RTSTRUCT works too
    dicom = pd.DataFrame({"id": ["a", "b"], "image": [str(root / "ct")] * 2, "mask": [str(root / "rt.dcm"), str(rt_dir)],
                          "label": ["GTV-1", "gtv-1"]})
    f_n = extract(nifti, "ct", progress=False)
    f_d, _, err = extract(dicom, "ct", progress=False, return_details=True)
    assert len(err) == 0
    np.testing.assert_array_equal(f_d.loc["a"].to_numpy(), f_n.loc["a"].to_numpy())
    np.testing.assert_array_equal(f_d.loc["b"].to_numpy(), f_n.loc["a"].to_numpy())
    err = extract(dicom.assign(label="Liver"), "ct-original", progress=False, return_details=True)[2]
    assert "ROI 'Liver' not in RTSTRUCT; ROIs: 7 'GTV-1', 8 'Body'" in err.loc[0, "message"]
    err = extract(dicom.assign(label="Body"), "ct-original", progress=False, return_details=True)[2]
    assert err.loc[0, "stage"] == "mask" and "no contours" in err.loc[0, "message"]
