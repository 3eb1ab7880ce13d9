"""One case (image + mask, one or several regions) -> feature rows with pyradiomics.

Features are exactly what ``RadiomicsFeatureExtractor.execute`` returns for the same parameter file and
the same image/mask grids (tests compare them bit for bit). radiomix only skips work whose output
pyradiomics would throw away or that radiomix does more cheaply elsewhere:

- pyradiomics' own diagnostics (``additionalInfo``) hash and scan the full decoded image and mask; radiomix
  switches them off, hashes the input *files* once (for cache and provenance) and computes its own
  diagnostics on the region's bounding box only;
- when resampling is enabled, pyradiomics resamples only a box around the ROI, but SimpleITK's B-spline
  interpolator first prefilters the *whole* image (in double precision: 600 MB for a 512x512x300 CT).
  For integer images (CT in HU) radiomix crops the image to that box plus :data:`CROP_MARGIN` voxels and
  then calls pyradiomics' own ``resampleImage`` with the full mask, so the grid is pyradiomics' own. The
  prefilter's boundary influence decays by 0.27 per voxel (cubic B-spline) and is gone after 64 voxels;
  what remains is rounding of the cropped image's origin (~1e-12 voxel), which the cast back to the
  integer pixel type removes. The crop is skipped where that cast could not hide it: float images
  (normalized MR, PET), and grids where resampled points fall exactly on original voxels in every axis.

Hostile inputs fail their case (one line in the errors table) before they cost time or memory: headers are
read first (:func:`check_headers`: decompressed size, 2D/3D scalar voxels, the mask's grid against the
image's), and a float image's NaN/Inf voxels fail the case where they would reach a feature
(:func:`check_finite`): pyradiomics returns garbage or a cryptic error for them.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from .images import (
    GeometryError,
    ImageError,
    check_grid,
    check_image_size,
    check_regular,
    check_series_folder,
    check_voxel_type,
    count_nonfinite,
    image_geometry,
    read_header,
    read_image,
)
from .images import max_image_bytes as resolve_max_bytes
from .labels import parse_labels
from .masks import MaskError, Region, load_regions, mask_kind, roi_summary
from .params import ExtractionParams, extractor, load_params

__all__ = ["Task", "run_task", "extract_case", "plain_value", "pyradiomics_features", "check_headers",
           "read_case_image", "nonfinite_reach", "check_finite", "CROP_MARGIN"]

#: Voxels kept around the resampling box when cropping before B-spline resampling (see module doc).
CROP_MARGIN = 64
_CROP_INTERPOLATORS = {"sitkNearestNeighbor", "sitkLinear", "sitkBSpline", "sitkBSpline1", "sitkBSpline2",
                       "sitkBSpline3", "sitkBSpline4", "sitkBSpline5", "sitkGaussian", "sitkLabelGaussian",
                       "sitkHammingWindowedSinc", "sitkCosineWindowedSinc", "sitkWelchWindowedSinc",
                       "sitkLanczosWindowedSinc", "sitkBlackmanWindowedSinc"}
_ROI_MESSAGES = ("Size of the ROI is too small", "too few dimensions", "only contains 1 segmented voxel",
                 "No labels found", "not present in mask")


@dataclass
class Task:
    """One case and modality: what a worker needs, all plain and picklable."""

    case: str
    modality: str
    image: str
    mask: str
    regions: list  # [(region name, label)], [] = parameter file's label / the only DICOM segment
    params: ExtractionParams
    key: str = ""
    hashes: dict = field(default_factory=dict)
    size: int = 0
    tolerance: float = 0.01
    pyradiomics_diagnostics: bool = False
    threads: int | None = None  # SimpleITK threads in the worker (None: SimpleITK's default)
    max_image_bytes: float | None = None  # limit on one decompressed image or mask (None: max_image_bytes())


def plain_value(v):
    """Diagnostics values as JSON/Parquet-friendly scalars (a tuple becomes its text)."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, str) or v is None:
        return v
    if isinstance(v, (tuple, list, np.ndarray)):
        return "(" + ", ".join(f"{x:.6g}" if isinstance(x, float) else str(x) for x in np.asarray(v).tolist()) + ")"
    return str(v)


def _to_float(v):
    try:
        return float(np.asarray(v))
    except (TypeError, ValueError):
        return np.nan


def _interpolator_name(value) -> str | None:
    import SimpleITK as sitk

    if isinstance(value, str):
        return value
    for name in _CROP_INTERPOLATORS:
        if getattr(sitk, name, None) == value:
            return name
    return None


_INTEGER_PIXELS = ("8-bit signed integer", "8-bit unsigned integer", "16-bit signed integer",
                   "16-bit unsigned integer", "32-bit signed integer", "32-bit unsigned integer")


def _on_lattice_everywhere(bb, sp, rs, pad, size) -> bool:
    """True when, in every axis, some resampled point falls exactly on an original voxel centre.

    There the B-spline returns an original (integer) voxel value give or take rounding, and the cast back
    to integers could turn 99.999999999 into 99 instead of 100: the crop's rounding must not play then.
    """
    nd = len(sp)
    ratio = sp / rs  # pyradiomics' spacingRatio
    lo = np.maximum(np.floor((bb[:nd] - 0.5) * ratio - pad), 0)
    hi = np.minimum(np.ceil((bb[:nd] + bb[nd:] - 0.5) * ratio + pad), np.ceil(size * ratio) - 1)
    for ax in range(nd):
        k = np.arange(lo[ax], hi[ax] + 1)
        pos = 0.5 * (rs[ax] - sp[ax]) / sp[ax] + k / ratio[ax]  # resampled centres in original voxels
        if not np.any(np.abs(pos - np.round(pos)) < 1e-6):
            return False
    return True


def _crop_box(image, bbox, settings) -> tuple[list[int], list[int]] | None:
    """Index and size of the image region pyradiomics' resampling can read, plus CROP_MARGIN; None when
    the image should not be cropped (see the module docstring)."""
    nd = image.GetDimension()
    rs = settings.get("resampledPixelSpacing")
    if rs is None or len(rs) != nd or image.GetPixelIDTypeAsString() not in _INTEGER_PIXELS:
        return None
    sp = np.asarray(image.GetSpacing(), float)
    rs = np.where(np.asarray(rs, float) == 0, sp, np.asarray(rs, float))
    ratio = rs / sp  # one resampled voxel in original voxels
    pad = float(settings.get("padDistance", 5) or 0)
    bb = np.asarray(bbox)
    if _on_lattice_everywhere(bb, sp, rs, pad, np.asarray(image.GetSize())):
        return None
    lo = np.floor(bb[:nd] - 0.5 - (pad + 2) * ratio) - CROP_MARGIN
    hi = np.ceil(bb[:nd] + bb[nd:] - 0.5 + (pad + 2) * ratio) + CROP_MARGIN
    size = np.asarray(image.GetSize())
    lo = np.clip(lo, 0, size - 1).astype(int)
    hi = np.clip(hi, 0, size - 1).astype(int)
    if np.all(lo == 0) and np.all(hi == size - 1):
        return None
    return lo.tolist(), (hi - lo + 1).tolist()


def pyradiomics_features(image, region: Region, params: ExtractionParams, *, exact: bool = False):
    """Features (and extra diagnostics) of one region; raises what pyradiomics raises."""
    import SimpleITK as sitk
    from radiomics import imageoperations

    ex = extractor(params)
    value = region.value
    if exact:  # pyradiomics exactly as configured, with its own diagnostics
        res = ex.execute(image, region.mask, label=value)
        feats = {k: _to_float(v) for k, v in res.items() if not k.startswith("diagnostics_")}
        diag = {k: plain_value(v) for k, v in res.items() if k.startswith("diagnostics_")}
        return feats, diag
    settings = dict(ex.settings)
    settings["label"] = value
    mask = region.mask
    bbox = (region.stats or {}).get(value, {}).get("bbox")
    normalize = bool(settings.get("normalize", False))
    resample = settings.get("interpolator") is not None and settings.get("resampledPixelSpacing") is not None
    diag = {}
    if resample and not normalize and bbox is not None \
            and _interpolator_name(settings["interpolator"]) in _CROP_INTERPOLATORS:
        box = _crop_box(image, bbox, settings)
        if box is not None:
            image = sitk.RegionOfInterest(image, box[1], box[0])
        # pyradiomics' own resampling, with the full mask: the grid is derived from the mask only.
        image, mask = imageoperations.resampleImage(image, mask, **settings)
        diag["resampled_size"] = plain_value(image.GetSize())
        diag["resampled_spacing"] = plain_value(image.GetSpacing())
        diag["cropped_before_resampling"] = box is not None
        ex = extractor(params, info=False, resample=False)
    elif not resample and set(ex.enabledImagetypes) == {"Original"} and bbox is not None:
        # Original image only, no resampling: pyradiomics crops to the ROI's box anyway.
        if normalize:
            image = imageoperations.normalizeImage(image, **settings)
        nd = image.GetDimension()
        lo = np.maximum(np.asarray(bbox[:nd]) - 1, 0)
        hi = np.minimum(np.asarray(bbox[:nd]) + np.asarray(bbox[nd:]), np.asarray(image.GetSize()) - 1)
        size = (hi - lo + 1).tolist()
        image = sitk.RegionOfInterest(image, size, lo.tolist())
        mask = sitk.RegionOfInterest(mask, size, lo.tolist())
        ex = extractor(params, info=False, normalize=False)
    else:
        ex = extractor(params, info=False)
    res = ex.execute(image, mask, label=value)
    return {k: _to_float(v) for k, v in res.items() if not k.startswith("diagnostics_")}, diag


def check_headers(image, mask, *, tolerance: float = 0.01, max_bytes: float | None = None) -> None:
    """Refuse a case from its files' headers alone, before any voxel is decompressed.

    A folder must be a DICOM series folder (:func:`~radiomix.extraction.images.check_series_folder`); an image
    file must declare a 2D or 3D scalar image whose voxels fit in ``max_bytes`` once decompressed, a label-map
    mask file voxels that fit too, and the mask's grid must fit the image's within ``tolerance`` (the rule of
    :func:`~radiomix.extraction.images.align_mask`, so a mask refused here would be refused after reading
    too). DICOM series, DICOM-SEG and RTSTRUCT masks are checked while they are read; SimpleITK images given
    in place of paths are not checked here. Raises :class:`ImageError` (stage ``read_image``) or
    :class:`MaskError` (``read_mask``, ``geometry``).
    """
    head = None
    if isinstance(image, (str, os.PathLike)):
        if os.path.isdir(image):
            check_series_folder(image)
        elif os.path.exists(image):  # a missing file is reported by the reader, as before
            head = read_header(image)
            check_voxel_type(head, image)
            check_image_size(head, max_bytes)
    if not isinstance(mask, (str, os.PathLike)):
        return
    try:
        check_regular(mask)
        if os.path.isdir(mask):
            check_series_folder(mask)
        kind, path = mask_kind(mask)
        if kind != "labelmap" or path.is_dir() or not path.exists():
            return
    except ImageError as err:
        raise MaskError(f"mask: {err}", stage="read_mask") from err
    try:
        mask_head = read_header(path)
    except ImageError as err:
        raise MaskError(f"mask not readable: {err}", stage="read_mask") from err
    try:
        check_image_size(mask_head, max_bytes)
    except ImageError as err:
        raise MaskError(f"mask: {err}", stage="read_mask") from err
    if head is not None:
        try:
            check_grid(head, mask_head, tolerance)
        except GeometryError as err:
            raise MaskError(str(err), stage="geometry") from err


def nonfinite_reach(params: ExtractionParams) -> list[str]:
    """Which steps of these parameters carry an image's voxels outside the ROI into its features (so that a
    NaN or Inf there reaches a feature); ``[]`` when features read the ROI's own voxels only.

    Measured (tests/test_redteam_images.py): with the original image only, no resampling and no
    normalization, features are bit-identical whatever the voxels outside the ROI hold, NaN included.
    B-spline resampling prefilters the whole image (one NaN anywhere makes every voxel NaN); so does
    normalization (whole-image mean and SD), LoG (a recursive Gaussian) and Square/SquareRoot/Logarithm/
    Exponential (scaled by the image's maximum); Wavelet and the other filters spread a NaN to its neighbours.
    """
    ex = extractor(params)
    s = ex.settings
    reach = []
    if s.get("interpolator") is not None and s.get("resampledPixelSpacing") is not None:
        reach.append(f"resampling ({_interpolator_name(s['interpolator']) or s['interpolator']})")
    if s.get("normalize"):
        reach.append("normalization")
    filters = sorted(set(ex.enabledImagetypes) - {"Original"})
    if filters:
        reach.append("filters (" + ", ".join(filters) + ")")
    return reach


def check_finite(image, region: Region, *, reach: list[str], case: str | None = None, path=None,
                 n_image: int | None = None) -> None:
    """Fail a region whose features would read NaN/Inf voxels of ``image`` (:class:`ImageError`, stage
    ``nonfinite``): any inside the ROI; any in the whole image when ``reach`` (:func:`nonfinite_reach`) lists a
    step that spreads them. ``n_image``: the whole image's count when already known. Integer images pass at
    once (they cannot hold either)."""
    if image.GetPixelIDTypeAsString() not in ("32-bit float", "64-bit float"):
        return
    st = (region.stats or {}).get(int(region.value))
    if st is None:
        return
    who = (f"case {case}: " if case is not None else "") + ("image" if path is None else f"image {path}")
    label = f"label {region.value}" + (f", region {region.name}" if region.name else "")
    inside = count_nonfinite(image, region.mask, region.value, st["bbox"])
    if inside:
        share = f"all {inside}" if inside == st["voxels"] else f"{inside} of the {st['voxels']}"
        raise ImageError(f"{who} has non-finite values (NaN/Inf) in {share} voxels of the ROI "
                         f"({label}); radiomics features of such voxels are meaningless. Fix the image (or the "
                         "mask) so that every ROI voxel holds a number", stage="nonfinite")
    if not reach:
        return
    outside = (count_nonfinite(image) if n_image is None else n_image) - inside
    if outside:
        raise ImageError(f"{who} has {outside} non-finite voxel(s) (NaN/Inf) outside the ROI ({label}), which "
                         f"reach the ROI's features through {' and '.join(reach)}. Replace them in the image "
                         "(e.g. with the background value), or extract the original image only, without "
                         "resampling or normalization (they then do not matter)", stage="nonfinite")


def _error(task: Task, region: str, stage: str, err: BaseException) -> dict:
    msg = [ln for ln in str(err).strip().splitlines() if ln.strip()]
    message = " ".join(m.strip() for m in msg) if msg else repr(err)
    if stage == "extract" and any(s in message for s in _ROI_MESSAGES):
        stage = "roi"
    return {"id": task.case, "modality": task.modality, "region": region, "stage": stage,
            "error": type(err).__name__, "message": message[:2000],
            "traceback": "".join(traceback.format_exception(err, limit=-4))}


def read_case_image(image, mask, *, tolerance: float = 0.01, max_bytes: float | None = None):
    """The image of a case, read only after :func:`check_headers` passed for it and its mask, and checked to
    be a 2D or 3D scalar image (``image`` may be a SimpleITK image already). Raises :class:`ImageError`,
    :class:`MaskError` (a mask refused from its header) or what the reader raises."""
    limit = resolve_max_bytes(max_bytes)
    check_headers(image, mask, tolerance=tolerance, max_bytes=limit)
    img = read_image(image, max_bytes=limit) if isinstance(image, (str, os.PathLike)) else image
    check_voxel_type(img, image if isinstance(image, (str, os.PathLike)) else None)
    return img


def run_task(task: Task) -> dict:
    """Worker body: extract every region of one case and modality. Never raises, so one broken case
    cannot take the batch down; errors come back as records with the stage they happened in."""
    t0 = time.perf_counter()
    out = {"case": task.case, "modality": task.modality, "key": task.key, "features": {}, "diagnostics": [],
           "errors": [], "warnings": [], "seconds": 0.0}
    if task.threads:
        import SimpleITK as sitk

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(task.threads))
    stage = "read_image"
    try:
        ex = extractor(task.params)  # also imports pyradiomics before the clock of the first region
        image = read_case_image(task.image, task.mask, tolerance=task.tolerance, max_bytes=task.max_image_bytes)
        stage = "read_mask"
        regions = load_regions(task.mask, image, task.regions, default_label=int(ex.settings.get("label", 1)),
                               tolerance=task.tolerance, label_channel=int(ex.settings.get("label_channel", 0) or 0),
                               max_bytes=task.max_image_bytes)
        reach = nonfinite_reach(task.params)
        n_nonfinite = count_nonfinite(image) if reach else None
    except (MaskError, ImageError) as err:
        out["errors"].append(_error(task, "*", err.stage, err))
        out["seconds"] = time.perf_counter() - t0
        return out
    except Exception as err:
        out["errors"].append(_error(task, "*", stage, err))
        out["seconds"] = time.perf_counter() - t0
        return out
    geo = image_geometry(image)
    base_diag = {"image_size": plain_value(geo["size"]), "image_spacing": plain_value(geo["spacing"]),
                 "image_origin": plain_value(geo["origin"]), "image_direction": plain_value(geo["direction"]),
                 "image_pixel_type": image.GetPixelIDTypeAsString()}
    for r in regions:
        t1 = time.perf_counter()
        out["warnings"].extend(f"{task.case}{'/' + task.modality if task.modality else ''}"
                               f"{'/' + r.name if r.name else ''}: {n}" for n in r.notes)
        diag = {"region": r.name, "label": plain_value(r.label if r.label is not None else r.value), **base_diag,
                "mask_resampled": bool(r.notes and any("resampled" in n for n in r.notes)),
                "warnings": " | ".join(r.notes)}
        if r.error is not None:
            out["errors"].append(_error(task, r.name, getattr(r.error, "stage", "mask"), r.error))
            out["diagnostics"].append(diag)
            continue
        try:
            diag.update({k: plain_value(v) for k, v in roi_summary(image, r.mask, r.value, r.stats).items()})
        except Exception as err:  # diagnostics must never cost a case its features
            diag["roi_summary_error"] = f"{type(err).__name__}: {err}"
        try:
            check_finite(image, r, reach=reach, case=task.case + (f" ({task.modality})" if task.modality else ""),
                         path=task.image, n_image=n_nonfinite)
            feats, extra = pyradiomics_features(image, r, task.params, exact=task.pyradiomics_diagnostics)
            diag.update(extra)
            out["features"][r.name] = feats
        except Exception as err:
            out["errors"].append(_error(task, r.name, getattr(err, "stage", "extract"), err))
        diag["seconds"] = round(time.perf_counter() - t1, 4)
        out["diagnostics"].append(diag)
        r.mask = None
    out["seconds"] = time.perf_counter() - t0
    return out


def extract_case(image, mask, params, *, label: int | str | None = None, geometry_tolerance: float = 0.01,
                 pyradiomics_diagnostics: bool = False, max_image_bytes: float | None = None) -> tuple[dict, dict]:
    """Extract one case. ``image``/``mask`` are paths (NIfTI, NRRD, MHA, DICOM folder; the mask may also
    be a DICOM-SEG or RTSTRUCT) or SimpleITK images.

    Returns ``(features, diagnostics)``: feature name -> float in pyradiomics' order, and diagnostics
    (image geometry, ROI size, resampled grid...) kept apart from the features. Raises ValueError when
    the case cannot be extracted (absent label, empty mask, mask outside the image, an image or mask larger
    than ``max_image_bytes`` decompressed (see :func:`radiomix.extract`), NaN/Inf voxels that would reach a
    feature, pyradiomics error).
    """
    params = load_params(params)
    ex = extractor(params)
    limit = resolve_max_bytes(max_image_bytes)
    img = read_case_image(image, mask, tolerance=geometry_tolerance, max_bytes=limit)
    regions = parse_labels(label) if label is not None else []
    if len(regions) > 1:
        raise ValueError("extract_case takes one label; use radiomix.extract for several regions")
    regs = load_regions(mask, img, regions, default_label=int(ex.settings.get("label", 1)),
                        tolerance=geometry_tolerance, label_channel=int(ex.settings.get("label_channel", 0) or 0),
                        max_bytes=limit)
    r = regs[0]
    if r.error is not None:
        raise r.error
    check_finite(img, r, reach=nonfinite_reach(params), path=image if isinstance(image, (str, os.PathLike)) else None)
    feats, extra = pyradiomics_features(img, r, params, exact=pyradiomics_diagnostics)
    diag = {"label": r.value, **{k: plain_value(v) for k, v in image_geometry(img).items()},
            **{k: plain_value(v) for k, v in roi_summary(img, r.mask, r.value, r.stats).items()}, **extra}
    if r.notes:
        diag["warnings"] = " | ".join(r.notes)
    return feats, diag


def task_kind(task: Task) -> str:
    """"labelmap", "seg" or "rtstruct" (for the QA table)."""
    return mask_kind(task.mask)[0]
