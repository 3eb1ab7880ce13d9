"""Masks -> one label image per region on the image's voxel grid.

A mask is a label image (NIfTI, NRRD, MHA, a DICOM series folder), a DICOM-SEG (read with highdicom) or a
DICOM RTSTRUCT (contours rasterized here onto the image grid). Each requested region becomes
``(region, mask, label_value)`` with ``mask`` on exactly the image's grid, ready for pyradiomics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .images import (
    ImageError,
    ImageHeader,
    align_mask,
    check_image_size,
    count_nonfinite,
    format_geometry,
    image_geometry,
    is_dicom_file,
    read_image,
)

__all__ = ["Region", "mask_kind", "load_regions", "MaskError"]

SEG_UID = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_UID = "1.2.840.10008.5.1.4.1.1.481.3"


class MaskError(ValueError):
    """A requested region cannot be taken from the mask (absent label, empty mask, unknown ROI name)."""

    def __init__(self, message: str, stage: str = "mask"):
        super().__init__(message)
        self.stage = stage


@dataclass
class Region:
    """One region of interest of a case, on the image grid."""

    name: str  # "" when the case has a single, unnamed region
    label: int | str | None  # as asked in the manifest (None: parameter file's label)
    mask: object = None  # SimpleITK label image on the image grid
    value: int = 1  # label value of the region inside ``mask``
    notes: list = field(default_factory=list)
    error: Exception | None = None
    stats: dict | None = None  # label value -> voxel count and bounding box (see label_stats)


def _dicom_file_in(path: Path) -> Path | None:
    """The single DICOM file of a folder holding one SEG/RTSTRUCT, else None."""
    files = [p for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")]
    dicoms = [p for p in files if is_dicom_file(p)]
    if len(dicoms) == 1:
        return dicoms[0]
    return None


def mask_kind(path: str | os.PathLike) -> tuple[str, Path]:
    """``("labelmap"|"seg"|"rtstruct", path)`` for a mask path (a file, a series folder, or a folder with
    a single DICOM-SEG/RTSTRUCT file)."""
    path = Path(path)
    cand = _dicom_file_in(path) if path.is_dir() else path
    if cand is not None and is_dicom_file(cand):
        import pydicom

        ds = pydicom.dcmread(cand, stop_before_pixels=True, specific_tags=["SOPClassUID", "Modality"])
        sop, mod = str(getattr(ds, "SOPClassUID", "")), str(getattr(ds, "Modality", ""))
        if sop == SEG_UID or mod == "SEG":
            return "seg", cand
        if sop == RTSTRUCT_UID or mod == "RTSTRUCT":
            return "rtstruct", cand
    return "labelmap", path


def as_label_image(mask, label_channel: int = 0):
    """A scalar unsigned-integer label image holding the same values pyradiomics would see.

    pyradiomics casts every mask to UInt32; a smaller unsigned type with the same values gives the same
    features with up to 4x less memory, so non-negative integer masks keep (or shrink to) 8/16 bits.
    """
    import SimpleITK as sitk

    if mask.GetNumberOfComponentsPerPixel() > 1:  # segmentation stored as a vector image (3D Slicer)
        n = mask.GetNumberOfComponentsPerPixel()
        if label_channel >= n:
            raise MaskError(f"mask has {n} channels; label_channel {label_channel} does not exist")
        mask = sitk.VectorIndexSelectionCast(mask, int(label_channel))
    pid = mask.GetPixelID()
    if pid in (sitk.sitkUInt8, sitk.sitkUInt16, sitk.sitkUInt32):
        return mask
    if pid in (sitk.sitkInt8, sitk.sitkInt16, sitk.sitkInt32, sitk.sitkInt64, sitk.sitkUInt64):
        mm = sitk.MinimumMaximumImageFilter()
        mm.Execute(mask)
        if mm.GetMinimum() >= 0 and mm.GetMaximum() < 65536:
            return sitk.Cast(mask, sitk.sitkUInt8 if mm.GetMaximum() < 256 else sitk.sitkUInt16)
    return sitk.Cast(mask, sitk.sitkUInt32)  # what pyradiomics does (floats truncate, negatives wrap)


def label_stats(mask) -> dict[int, dict]:
    """Per label value: voxel count and bounding box ``(x, y, z, size_x, size_y, size_z)``."""
    import SimpleITK as sitk

    f = sitk.LabelShapeStatisticsImageFilter()
    f.ComputePerimeterOff()
    f.ComputeFeretDiameterOff()
    f.ComputeOrientedBoundingBoxOff()
    f.Execute(mask)
    return {int(v): {"voxels": int(f.GetNumberOfPixels(v)), "bbox": tuple(int(b) for b in f.GetBoundingBox(v))}
            for v in f.GetLabels()}


def load_regions(mask_path, image, regions: list[tuple[str, int | str]], *, default_label: int = 1,
                 tolerance: float = 0.01, label_channel: int = 0, max_bytes: float | None = None) -> list[Region]:
    """Read the mask of a case and return one :class:`Region` per requested region.

    ``regions``: ``[(name, label), ...]`` from the manifest (empty: the parameter file's label, or the
    only segment/ROI of a DICOM mask). Errors that concern one region are stored in ``Region.error``;
    errors about the whole mask (unreadable, larger than ``max_bytes`` decompressed, geometry beyond
    tolerance) are raised.
    """
    if not isinstance(mask_path, (str, os.PathLike)):  # a SimpleITK label image given directly
        return labelmap_regions(mask_path, image, regions, default_label=default_label, tolerance=tolerance,
                                label_channel=label_channel)
    kind, path = mask_kind(mask_path)
    if kind == "labelmap":
        try:
            mask = read_image(path, max_bytes=max_bytes)
        except Exception as err:
            raise MaskError(f"mask not readable: {err}", stage="read_mask") from err
        return labelmap_regions(mask, image, regions, default_label=default_label, tolerance=tolerance,
                                label_channel=label_channel, name=Path(path).name)
    if kind == "seg":
        _check_seg_size(path, max_bytes)
        return _seg_regions(path, image, regions, tolerance)
    return _rtstruct_regions(path, image, regions)


def labelmap_regions(mask, image, regions, *, default_label: int = 1, tolerance: float = 0.01,
                     label_channel: int = 0, name: str = "the mask") -> list[Region]:
    """Regions of a label image: checked onto the image grid, each label looked up."""
    bad = count_nonfinite(mask)
    if bad:  # a cast to integer labels would turn them into arbitrary values
        raise MaskError(f"{name} has {bad} non-finite voxel(s) (NaN/Inf); a mask holds whole-number labels: "
                        "fix the mask file", stage="read_mask")
    mask = as_label_image(mask, label_channel)
    try:
        mask, note = align_mask(image, mask, tolerance)
    except ValueError as err:
        raise MaskError(str(err), stage="geometry") from err
    stats = label_stats(mask)
    out = []
    for reg, lab in regions or [("", default_label)]:
        r = Region(reg, lab, mask=mask, notes=[note] if note else [], stats=stats)
        if isinstance(lab, str):
            r.error = MaskError(f"label {lab!r} is a name, but {name} is a label image; names select "
                                "segments of a DICOM-SEG or ROIs of an RTSTRUCT")
        elif not stats:
            r.error = MaskError("mask is empty (no non-zero voxel)")
        elif int(lab) not in stats:
            r.error = MaskError(f"label {lab} not in mask; labels present: {sorted(stats)}")
        else:
            r.value = int(lab)
        out.append(r)
    return out


# --------------------------------------------------------------------------------------------- DICOM-SEG
def _check_seg_size(path: Path, max_bytes: float | None) -> None:
    """Refuse a DICOM-SEG whose frames would take more than ``max_bytes`` once decoded (one byte a voxel)."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Rows", "Columns", "NumberOfFrames"])
        size = (int(ds.Columns), int(ds.Rows), int(getattr(ds, "NumberOfFrames", 1) or 1))
    except Exception as err:
        raise MaskError(f"DICOM-SEG not readable: {err}", stage="read_mask") from err
    # highdicom decodes the frames to one uint8 per voxel; only the size matters here, not the geometry
    head = ImageHeader(path=str(path), size=size, spacing=(1.0,) * 3, origin=(0.0,) * 3, direction=(),
                       pixel_id=1, pixel_type="8-bit unsigned integer", components=1, voxel_bytes=1)
    try:
        check_image_size(head, max_bytes)
    except ImageError as err:
        raise MaskError(str(err), stage="read_mask") from err


def _seg_regions(path: Path, image, regions, tolerance) -> list[Region]:
    try:
        import highdicom as hd
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise MaskError("reading DICOM-SEG masks needs highdicom: pip install highdicom", stage="read_mask") from err
    import SimpleITK as sitk

    try:
        seg = hd.seg.segread(str(path))
    except Exception as err:
        raise MaskError(f"DICOM-SEG not readable: {err}", stage="read_mask") from err
    numbers = {int(d.segment_number): str(d.segment_label) for d in seg.SegmentSequence}
    listing = ", ".join(f"{n} {lab!r}" for n, lab in numbers.items())
    if not regions:
        if len(numbers) != 1:
            raise MaskError(f"DICOM-SEG holds {len(numbers)} segments ({listing}); say which in the manifest's "
                            "label column (number or label, several separated by ';')")
        n = next(iter(numbers))
        regions = [("", n)]
    out = []
    for name, lab in regions:
        r = Region(name, lab)
        if isinstance(lab, str):
            found = [n for n, s in numbers.items() if s == lab] or [n for n, s in numbers.items() if s.lower() == lab.lower()]
            if len(found) != 1:
                r.error = MaskError(f"segment {lab!r} {'not in' if not found else 'ambiguous in'} DICOM-SEG; "
                                    f"segments: {listing}")
                out.append(r)
                continue
            number = found[0]
        else:
            number = int(lab)
            if number not in numbers:
                r.error = MaskError(f"segment {number} not in DICOM-SEG; segments: {listing}")
                out.append(r)
                continue
        try:
            vol = seg.get_volume(segment_numbers=[number], combine_segments=True, relabel=True, dtype=np.uint8)
        except Exception as err:
            r.error = MaskError(f"DICOM-SEG segment {number}: frames do not form a volume ({err})", stage="read_mask")
            out.append(r)
            continue
        m = vol.to_simpleitk() if hasattr(vol, "to_simpleitk") else None
        if m is None:  # pragma: no cover - old highdicom
            raise MaskError("highdicom >= 0.26 is needed to read DICOM-SEG volumes", stage="read_mask")
        m = sitk.Cast(m, sitk.sitkUInt8)
        try:
            m, note = align_mask(image, m, tolerance, quiet_lattice=True)
        except ValueError as err:
            r.error = MaskError(f"DICOM-SEG segment {number}: {err}", stage="geometry")
            out.append(r)
            continue
        r.mask, r.value = m, 1
        if note:
            r.notes.append(note)
        r.stats = label_stats(m)
        if not r.stats:
            r.error = MaskError(f"DICOM-SEG segment {number} ({numbers[number]!r}) is empty")
        out.append(r)
    return out


# --------------------------------------------------------------------------------------------- RTSTRUCT
def _rtstruct_regions(path: Path, image, regions) -> list[Region]:
    import pydicom

    try:
        ds = pydicom.dcmread(str(path))
        rois = {int(it.ROINumber): str(it.ROIName) for it in ds.StructureSetROISequence}
        contours = {int(it.ReferencedROINumber): it for it in getattr(ds, "ROIContourSequence", [])}
    except Exception as err:
        raise MaskError(f"RTSTRUCT not readable: {err}", stage="read_mask") from err
    listing = ", ".join(f"{n} {s!r}" for n, s in rois.items())
    if not regions:
        if len(rois) != 1:
            raise MaskError(f"RTSTRUCT holds {len(rois)} ROIs ({listing}); say which in the manifest's label "
                            "column (ROI name or number, several separated by ';')")
        regions = [("", next(iter(rois.values())))]
    out = []
    for name, lab in regions:
        r = Region(name, lab)
        if isinstance(lab, str):
            found = [n for n, s in rois.items() if s == lab] or [n for n, s in rois.items() if s.lower() == lab.lower()]
        else:
            found = [int(lab)] if int(lab) in rois else []
        if len(found) != 1:
            r.error = MaskError(f"ROI {lab!r} {'not in' if not found else 'ambiguous in'} RTSTRUCT; ROIs: {listing}")
            out.append(r)
            continue
        number = found[0]
        try:
            r.mask, n_skipped = rasterize_contours(contours.get(number), image)
        except MaskError as err:
            r.error = MaskError(f"ROI {rois[number]!r}: {err}", stage=err.stage)
            out.append(r)
            continue
        r.value = 1
        if n_skipped:
            r.notes.append(f"ROI {rois[number]!r}: {n_skipped} non-planar/open contour(s) ignored")
        r.stats = label_stats(r.mask)
        if not r.stats:
            r.error = MaskError(f"ROI {rois[number]!r} has no voxel on the image grid (no closed contour inside "
                                f"the image: {format_geometry(image_geometry(image))})")
        out.append(r)
    return out


def rasterize_contours(roi_contour, image):
    """Rasterize one RTSTRUCT ``ROIContourSequence`` item onto ``image``'s grid.

    A voxel is inside when its centre is inside the contour (even-odd rule across the contours of a
    slice, so holes drawn as inner contours stay empty). Contours must lie on image slices.
    Returns ``(mask, n_ignored_contours)``.
    """
    import SimpleITK as sitk
    from matplotlib.path import Path as MplPath

    nd = image.GetDimension()
    size = np.asarray(image.GetSize())
    arr = np.zeros(size[::-1], dtype=np.uint8)  # z, y, x
    skipped = 0
    items = getattr(roi_contour, "ContourSequence", None) if roi_contour is not None else None
    if not items:
        raise MaskError("RTSTRUCT ROI has no contours", stage="mask")
    if nd != 3:
        raise MaskError("RTSTRUCT masks need a 3D image", stage="mask")
    m = np.asarray(image.GetDirection(), float).reshape(3, 3) @ np.diag(image.GetSpacing())
    m_inv = np.linalg.inv(m)
    origin = np.asarray(image.GetOrigin(), float)
    for c in items:
        kind = str(getattr(c, "ContourGeometricType", "CLOSED_PLANAR"))
        pts = np.asarray(c.ContourData, float).reshape(-1, 3)
        if kind != "CLOSED_PLANAR" or len(pts) < 3:
            skipped += 1
            continue
        idx = (m_inv @ (pts - origin).T).T  # continuous (i, j, k)
        k = idx[:, 2]
        kk = int(round(float(np.mean(k))))
        if np.max(np.abs(k - kk)) > 0.25:
            raise MaskError(f"a contour lies between image slices (slice index {np.mean(k):.2f}); the RTSTRUCT "
                            f"was drawn on another series or the image is not axial: "
                            f"{format_geometry(image_geometry(image))}", stage="geometry")
        if kk < 0 or kk >= size[2]:
            raise MaskError(f"a contour lies outside the image (slice {kk} of {size[2]})", stage="geometry")
        poly = idx[:, :2]
        lo = np.maximum(np.floor(poly.min(axis=0)).astype(int), 0)
        hi = np.minimum(np.ceil(poly.max(axis=0)).astype(int), size[:2] - 1)
        if np.any(hi < lo):
            continue
        ii, jj = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="xy")
        inside = MplPath(poly).contains_points(np.column_stack([ii.ravel(), jj.ravel()])).reshape(ii.shape)
        arr[kk, lo[1]:hi[1] + 1, lo[0]:hi[0] + 1] ^= inside.astype(np.uint8)  # even-odd: holes stay empty
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(image)
    return out, skipped


def roi_summary(image, mask, value: int, stats: dict | None = None) -> dict:
    """Cheap per-region diagnostics on the original grid (computed on the ROI's bounding box only)."""
    import SimpleITK as sitk

    st = (stats or label_stats(mask)).get(int(value))
    if st is None:
        return {"roi_voxels": 0}
    bb = st["bbox"]
    nd = len(bb) // 2
    lo, sz = list(bb[:nd]), list(bb[nd:])
    # GetArrayFromImage (a copy): a view of a temporary image would outlive its memory.
    m = sitk.GetArrayFromImage(sitk.RegionOfInterest(mask, sz, lo)) == value
    img = sitk.GetArrayFromImage(sitk.RegionOfInterest(image, sz, lo)) if image is not None else None
    vox = float(np.prod(mask.GetSpacing()))
    out = {"roi_voxels": st["voxels"], "roi_volume_mm3": st["voxels"] * vox, "roi_bbox": tuple(bb)}
    if nd == 3:
        per_slice = m.reshape(m.shape[0], -1).any(axis=1)
        out["roi_slices"] = int(per_slice.sum())
        out["roi_empty_slices_inside"] = int((~per_slice).sum())  # gaps: slices left unsegmented mid-ROI
    cc = sitk.ConnectedComponentImageFilter()
    cc.FullyConnectedOn()
    cc.Execute(sitk.GetImageFromArray(m.astype(np.uint8)))
    out["roi_components"] = int(cc.GetObjectCount())
    if img is not None and img.ndim == m.ndim and m.any():
        v = img[m].astype(float)
        with np.errstate(invalid="ignore"):  # NaN/Inf voxels: the case fails on them, these stay NaN quietly
            out.update(roi_mean=float(v.mean()), roi_min=float(v.min()), roi_max=float(v.max()))
    return out

