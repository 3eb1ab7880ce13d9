"""Image perturbations for feature robustness, in the spirit of Zwanenburg et al. (2019).

Zwanenburg A, Leger S, Agolli L, et al. *Assessing robustness of radiomic features by image perturbation.*
Sci Rep 9, 614 (2019). Instead of test-retest scans, each case's image and mask are perturbed several times
and the features are extracted from every perturbed version; a feature whose values keep the cases apart
under these perturbations (high ICC) is robust.

Each perturbation is a chain of steps, always applied in this order (a step whose parameter is zero is the
identity and is skipped):

``rotation`` and ``translation`` (one resampling)
    A rigid transform about the ROI's centroid: a rotation by ``angle_deg`` about the slice normal (in-plane,
    the default) or about a random axis (``rotation_axis: random``), and a translation by a fraction of the
    voxel spacing along each image axis (sub-voxel: it moves the sampling lattice, not the anatomy). The
    image is resampled with cubic B-splines; the mask is resampled as a float with linear interpolation and
    thresholded at 0.5, so partial volume decides the new border.
``resample``
    (in the same resampling) the image is put on an isotropic grid of ``spacing_mm`` voxels covering the same
    extent: another acquisition resolution. Not in the default chain.
``noise``
    Gaussian noise of SD ``noise_factor`` x the image's own noise level (:func:`estimate_noise_sd`) is added.
``supervoxel``
    Zwanenburg's contour randomisation: the image around the ROI is cut into supervoxels (SLIC, about
    ``supervoxels`` of them inside the ROI); each supervoxel joins the new ROI with a probability equal to
    the fraction of it that lies in the ROI, so the expected volume is unchanged. Not in the default chain.
``volume``
    The ROI grows (dilation) or shrinks (erosion) by ``volume_change`` of its volume: voxels are added (or
    removed) in order of their Euclidean distance in mm to the ROI (to the background), ties within a
    distance level broken by how much ROI surrounds them, until the target voxel count is met. The achieved
    change is recorded (it differs from the target only by rounding to whole voxels).

Integer images (CT in HU) are rounded back to their pixel type after the perturbation, like a scan; float
images stay float. To keep big CTs cheap, a perturbed image is first cropped to the ROI's bounding box plus
:data:`~radiomix.extraction.case.CROP_MARGIN` voxels (and room for the rotation) on each side.

The unperturbed original is perturbation ``p00`` (kind ``"original"``); it is extracted exactly as
:func:`radiomix.extraction.extract` does. It is kept in the table for reference but is **not** one of the
repeated measurements: ICC should be computed on the perturbed rows (``kind != "original"``) only, because
the original is not a draw from the perturbation distribution (it has, for one, less noise).

Where this differs from Zwanenburg's implementation (MIRP): MIRP rotates about the centre of the image grid
and takes angles and translations from lists in its settings, where radiomix rotates about the ROI's
centroid and draws every parameter uniformly per case and perturbation (seeded, see
:func:`draw_perturbations`); MIRP's noise estimate filters the whole image with a coif1 high-pass, radiomix
uses the Haar diagonal detail inside the body; supervoxel contour randomisation, part of Zwanenburg's
recommended chains, is available here but left out of the default chain.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from .cache import software_versions
from .case import CROP_MARGIN, check_finite, nonfinite_reach, pyradiomics_features, read_case_image
from .core import hash_inputs, plan_tasks
from .engines import run_cached
from .manifest import ManifestError
from .masks import MaskError, Region, label_stats, load_regions
from .params import ExtractionParams, extractor

__all__ = ["STEPS", "PERTURBATION_COLUMNS", "ORIGINAL_KIND", "PerturbationSpec", "Perturbation",
           "perturbation_spec", "draw_perturbations", "apply_perturbation", "estimate_noise_sd", "robustness",
           "run_perturbation", "PerturbationTask"]

#: The steps a chain may hold, in the order they are applied.
STEPS = ("rotation", "translation", "resample", "noise", "supervoxel", "volume")
#: ``kind`` of the unperturbed original (perturbation ``p00``).
ORIGINAL_KIND = "original"
#: The columns of the long table between the case id and the features.
PERTURBATION_COLUMNS = ("perturbation", "kind", "angle_deg", "translation_mm", "translation_x_mm",
                        "translation_y_mm", "translation_z_mm", "spacing_mm", "noise_sd", "volume_change_target",
                        "volume_change")
#: Bump when a perturbation's result changes for the same parameters; cached results are then recomputed.
PERTURB_FORMAT = 1
_MAD_TO_SD = 0.6744897501960817  # median |N(0, 1)|
_ERROR_COLUMNS = ["id", "perturbation", "stage", "error", "message", "traceback"]


# --------------------------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class PerturbationSpec:
    """What each perturbation of a case does, and the ranges its parameters are drawn from (uniformly).

    Parameters
    ----------
    chain : tuple of str
        Steps every perturbation applies (see :data:`STEPS`; the module docstring describes each). Default:
        rotation, translation, noise and volume adaptation, Zwanenburg's chains with dilation/erosion as the
        contour change.
    angle_deg : (low, high)
        Rotation angle in degrees.
    rotation_axis : {"slice", "random"}
        ``"slice"``: about the slice normal (in-plane rotation, the default); ``"random"``: about an axis
        drawn uniformly on the sphere.
    translation_fraction : (low, high)
        Translation along each image axis as a fraction of that axis' voxel spacing.
    spacing_mm : (low, high)
        Isotropic voxel size of the ``resample`` step, in mm.
    noise_factor : float
        SD of the added noise in units of the image's estimated noise SD.
    volume_change : (low, high)
        Relative ROI volume change of the ``volume`` step (``0.1``: grow by 10 %).
    supervoxels : int
        About how many supervoxels the ROI is cut into by the ``supervoxel`` step.
    """

    chain: tuple = ("rotation", "translation", "noise", "volume")
    angle_deg: tuple = (-10.0, 10.0)
    rotation_axis: str = "slice"
    translation_fraction: tuple = (-0.5, 0.5)
    spacing_mm: tuple = (1.0, 2.0)
    noise_factor: float = 1.0
    volume_change: tuple = (-0.1, 0.1)
    supervoxels: int = 25

    def to_dict(self) -> dict:
        """The spec as plain lists and numbers (for JSON and YAML)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def perturbation_spec(spec=None) -> PerturbationSpec:
    """A validated :class:`PerturbationSpec` from ``None`` (the defaults), a dict of overrides, a YAML/JSON
    file of overrides, or a spec; unknown keys and bad values raise ValueError naming them."""
    if isinstance(spec, PerturbationSpec):
        return _validated(spec)
    if spec is None:
        return PerturbationSpec()
    if isinstance(spec, (str, os.PathLike)):
        spec = _read_spec_file(Path(spec))
    if not isinstance(spec, dict):
        raise TypeError(f"spec must be a dict, a YAML/JSON file or a PerturbationSpec, got {type(spec).__name__}")
    names = [f.name for f in fields(PerturbationSpec)]
    unknown = sorted(set(spec) - set(names))
    if unknown:
        raise ValueError(f"perturbation spec has unknown key(s) {unknown}; known: {names}")
    return _validated(PerturbationSpec(**spec))


def _read_spec_file(path: Path) -> dict:
    from ..safeyaml import load_yaml

    if not path.is_file():
        raise FileNotFoundError(f"perturbation spec not found: {path}")
    data = load_yaml(path, what="perturbation spec") or {}  # limits: size, aliases, depth; one-line errors
    if not isinstance(data, dict):
        raise ValueError(f"{path}: perturbation spec must be a mapping of settings, got {type(data).__name__}")
    return data


def _validated(spec: PerturbationSpec) -> PerturbationSpec:
    spec = PerturbationSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in asdict(spec).items()})
    chain = (spec.chain,) if isinstance(spec.chain, str) else tuple(spec.chain)
    bad = [s for s in chain if s not in STEPS]
    if bad or not chain:
        raise ValueError(f"perturbation chain {list(chain)} must list one or more of {list(STEPS)}; unknown: {bad}")
    checks = {"angle_deg": (-180.0, 180.0), "translation_fraction": (-10.0, 10.0), "spacing_mm": (1e-3, 1e3),
              "volume_change": (-0.9, 10.0)}
    for name, (lo, hi) in checks.items():
        rng = getattr(spec, name)
        if not (isinstance(rng, tuple) and len(rng) == 2 and all(isinstance(v, (int, float)) for v in rng)
                and lo <= rng[0] <= rng[1] <= hi):
            raise ValueError(f"perturbation spec {name}={rng!r} must be [low, high] with {lo} <= low <= high <= {hi}")
    if spec.rotation_axis not in ("slice", "random"):
        raise ValueError(f"perturbation spec rotation_axis={spec.rotation_axis!r} must be 'slice' or 'random'")
    if not (isinstance(spec.noise_factor, (int, float)) and 0 <= spec.noise_factor <= 100):
        raise ValueError(f"perturbation spec noise_factor={spec.noise_factor!r} must be a number in [0, 100]")
    if not (isinstance(spec.supervoxels, int) and spec.supervoxels >= 2):
        raise ValueError(f"perturbation spec supervoxels={spec.supervoxels!r} must be an integer >= 2")
    return PerturbationSpec(**{**asdict(spec), "chain": tuple(s for s in STEPS if s in chain)})


# --------------------------------------------------------------------------------------------- drawing
@dataclass(frozen=True)
class Perturbation:
    """The parameters of one perturbation of one case (see the module docstring for the steps).

    ``rotation_axis`` and ``translation_fraction`` are along the image's own axes (i, j, k); ``seed`` drives
    the noise and the supervoxel draws. The default is the identity: the unperturbed original.
    """

    name: str = "p00"
    steps: tuple = ()
    angle_deg: float = 0.0
    rotation_axis: tuple = (0.0, 0.0, 1.0)
    translation_fraction: tuple = (0.0, 0.0, 0.0)
    spacing_mm: float | None = None
    noise_factor: float = 0.0
    supervoxels: int = 0
    volume_change: float = 0.0
    seed: int = 0

    @property
    def kind(self) -> str:
        """The steps joined by ``+``, or ``"original"``."""
        return "+".join(self.steps) or ORIGINAL_KIND

    @property
    def moves_grid(self) -> bool:
        """True when the image is resampled (rotation, translation or new voxel size)."""
        return bool(self.angle_deg) or any(self.translation_fraction) or self.spacing_mm is not None


def _case_hash(case_id) -> int:
    """A stable 64-bit number from a case id (Python's ``hash`` changes between processes)."""
    return int.from_bytes(hashlib.sha256(str(case_id).encode()).digest()[:8], "little")


def draw_perturbations(n: int, seed: int, case_id, spec=None) -> list[Perturbation]:
    """The ``n`` perturbations of one case, named ``p01``, ``p02``, ...

    Each case draws from its own generator, seeded from ``seed`` and a stable hash of ``case_id``: adding or
    removing cases never changes another case's perturbations, and the first ``n`` perturbations of a case
    stay the same when ``n`` grows. Every parameter is drawn in the same order whatever the chain (disabled
    steps are then zeroed), so enabling a step leaves the other steps' draws unchanged.

    Because every case gets its own, independent perturbations, no perturbation is shared between cases: the
    repeated measurements are a one-way design and the matching ICC is ICC(1,1).

    Examples
    --------
    >>> from radiomix.extraction.perturb import draw_perturbations
    >>> ps = draw_perturbations(3, seed=0, case_id="P001")
    >>> [p.name for p in ps], ps[0].kind
    (['p01', 'p02', 'p03'], 'rotation+translation+noise+volume')
    >>> draw_perturbations(3, 0, "P001") == ps
    True
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n={n!r} perturbations: give a whole number >= 1")
    spec = perturbation_spec(spec)
    rng = np.random.default_rng([int(seed) % 2**63, _case_hash(case_id)])
    width = max(2, len(str(int(n))))
    on = set(spec.chain)
    out = []
    for i in range(1, int(n) + 1):
        angle = float(rng.uniform(*spec.angle_deg))
        axis = rng.normal(size=3)
        frac = rng.uniform(*spec.translation_fraction, size=3)
        spacing = float(rng.uniform(*spec.spacing_mm))
        volume = float(rng.uniform(*spec.volume_change))
        p_seed = int(rng.integers(0, 2**31 - 1))
        axis = tuple(round(float(a), 6) for a in axis / np.linalg.norm(axis)) if spec.rotation_axis == "random" \
            else (0.0, 0.0, 1.0)
        out.append(Perturbation(
            name=f"p{i:0{width}d}", steps=spec.chain, angle_deg=round(angle, 4) if "rotation" in on else 0.0,
            rotation_axis=axis,
            translation_fraction=tuple(round(float(f), 4) for f in frac) if "translation" in on else (0.0, 0.0, 0.0),
            spacing_mm=round(spacing, 4) if "resample" in on else None,
            noise_factor=float(spec.noise_factor) if "noise" in on else 0.0,
            supervoxels=int(spec.supervoxels) if "supervoxel" in on else 0,
            volume_change=round(volume, 4) if "volume" in on else 0.0, seed=p_seed))
    return out


# --------------------------------------------------------------------------------------------- noise
def estimate_noise_sd(image) -> float:
    """The image's noise SD inside the body: Chang et al.'s (2000) wavelet estimate, as MIRP's ``"chang"``
    method (Zwanenburg's software) computes it.

    ``median(|HH|) / 0.6745`` over the diagonal detail coefficients ``HH`` of a one-level in-plane Haar
    transform of every slice (``(a - b - c + d) / 2`` on each 2 x 2 block of voxels). For white Gaussian noise
    of SD sigma these coefficients are N(0, sigma^2) plus whatever detail the anatomy has; the median ignores
    the few blocks on edges. Only blocks inside the body count: brighter on average than the image's Otsu
    threshold (which leaves out air and background; for CT about -470 HU, so the lungs too) and not constant
    (padding, clipped values). With fewer than 64 such blocks (a tiny image) every non-constant block counts.

    Noise that is correlated between neighbouring voxels (reconstructed CT) has less power at this finest
    scale, so the estimate is the white, finest-scale part of the noise: on the pyradiomics lung CTs
    (0.57-0.63 mm pixels) it is 2-3 HU, where the SD in 7 x 7 windows of soft tissue is 5-14 HU. Raise
    ``noise_factor`` for a stronger noise step.
    """
    import SimpleITK as sitk

    otsu = sitk.OtsuThresholdImageFilter()
    otsu.SetNumberOfHistogramBins(256)
    otsu.Execute(image)
    threshold = float(otsu.GetThreshold())
    arr = sitk.GetArrayViewFromImage(image)
    arr = arr[None] if arr.ndim == 2 else arr
    ny, nx = (arr.shape[1] // 2) * 2, (arr.shape[2] // 2) * 2
    body, varying = [], []
    for z0 in range(0, arr.shape[0], 16):  # 16 slices at a time: bounded memory on big CTs
        a = arr[z0:z0 + 16, :ny, :nx].astype(np.float32)
        b00, b01, b10, b11 = a[:, 0::2, 0::2], a[:, 0::2, 1::2], a[:, 1::2, 0::2], a[:, 1::2, 1::2]
        keep = ~((b00 == b01) & (b00 == b10) & (b00 == b11))
        hh = np.abs(b00 - b01 - b10 + b11) / 2
        inside = keep & ((b00 + b01 + b10 + b11) / 4 > threshold)
        body.append(hh[inside])
        varying.append(hh[keep])
    values = np.concatenate(body) if body else np.empty(0)
    if values.size < 64:
        values = np.concatenate(varying) if varying else np.empty(0)
    if values.size < 64:
        raise ValueError(f"cannot estimate the image noise: only {values.size} non-constant 2x2 voxel blocks")
    return float(np.median(values) / _MAD_TO_SD)


# --------------------------------------------------------------------------------------------- applying
def apply_perturbation(image, mask, p: Perturbation, *, label: int = 1, noise_sd: float | None = None):
    """Apply one perturbation to a SimpleITK image and its label mask (on the image's grid).

    Parameters
    ----------
    image, mask : SimpleITK.Image
        A 3D image and a label image on the same grid.
    p : Perturbation
        What to do (:func:`draw_perturbations`); the identity returns ``image`` and ``mask`` themselves.
    label : int
        The mask's label value of the ROI; the returned mask holds that value in the (perturbed) ROI and 0
        elsewhere.
    noise_sd : float, optional
        The image's noise SD; estimated with :func:`estimate_noise_sd` when the chain adds noise.

    Returns
    -------
    (image, mask, applied)
        The perturbed image (the input's pixel type, rounded, for integer images; float32 otherwise) and mask
        on a common grid, and what was done: ``translation_x_mm``/``_y_mm``/``_z_mm``, ``noise_sd`` (SD of
        the added noise), ``volume_change`` (achieved by the ``volume`` step), ``roi_voxels_before`` and
        ``roi_voxels`` (after).
    """
    import SimpleITK as sitk

    if image.GetDimension() != 3:
        raise ValueError(f"perturbations need a 3D image; this one has {image.GetDimension()} dimensions")
    roi = sitk.Cast(sitk.Equal(mask, int(label)), sitk.sitkUInt8)
    before = _voxels(roi)
    if before == 0:
        raise MaskError(f"mask has no voxel with label {label}")
    frac = np.asarray(p.translation_fraction, float)
    applied = {**{f"translation_{a}_mm": float(f * s) for a, f, s in zip("xyz", frac, image.GetSpacing())},
               "noise_sd": 0.0, "volume_change": 0.0, "roi_voxels_before": before, "roi_voxels": before}
    if not (p.moves_grid or p.noise_factor or p.supervoxels or p.volume_change):
        return image, mask, applied
    if p.noise_factor:
        applied["noise_sd"] = float(p.noise_factor * (estimate_noise_sd(image) if noise_sd is None else noise_sd))
    pixel_id = image.GetPixelID()
    image, roi = _crop_around(image, roi, p)
    image = sitk.Cast(image, sitk.sitkFloat32)
    if p.moves_grid:
        image, roi = _resample_rigid(image, roi, p)
    if applied["noise_sd"]:
        image = _add_noise(image, applied["noise_sd"], p.seed)
    if p.supervoxels:
        roi = _supervoxel_contour(image, roi, p.supervoxels, p.seed)
    if p.volume_change:
        roi, applied["volume_change"] = _adapt_volume(roi, p.volume_change)
    applied["roi_voxels"] = _voxels(roi)
    if applied["roi_voxels"] == 0:
        raise MaskError(f"perturbation {p.name} ({p.kind}) left the ROI empty", stage="perturb")
    return _as_pixel_type(image, pixel_id), _labelled(roi, int(label)), applied


def _voxels(roi) -> int:
    import SimpleITK as sitk

    return int(np.count_nonzero(sitk.GetArrayViewFromImage(roi)))


def _labelled(roi, label: int):
    import SimpleITK as sitk

    kind = sitk.sitkUInt8 if label < 256 else sitk.sitkUInt16 if label < 65536 else sitk.sitkUInt32
    return sitk.Cast(roi, kind) * label


def _as_pixel_type(image, pixel_id):
    """Integer inputs (CT in HU) rounded back to their type, clipped to its range; floats stay float32."""
    import SimpleITK as sitk

    ints = {sitk.sitkInt8: np.int8, sitk.sitkUInt8: np.uint8, sitk.sitkInt16: np.int16,
            sitk.sitkUInt16: np.uint16, sitk.sitkInt32: np.int32, sitk.sitkUInt32: np.uint32}
    if pixel_id not in ints:
        return image
    info = np.iinfo(ints[pixel_id])
    arr = np.clip(np.rint(sitk.GetArrayViewFromImage(image)), info.min, info.max).astype(ints[pixel_id])
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(image)
    return out


def _crop_around(image, roi, p: Perturbation):
    """Image and ROI cropped to the ROI's box plus CROP_MARGIN voxels and room for the rotation."""
    import SimpleITK as sitk

    bbox = np.asarray(label_stats(roi)[1]["bbox"])
    sp, size = np.asarray(image.GetSpacing()), np.asarray(image.GetSize())
    reach_mm = 0.5 * float(np.max(bbox[3:] * sp)) * abs(math.sin(math.radians(p.angle_deg))) + 2 * float(sp.max())
    margin = CROP_MARGIN + np.ceil(reach_mm / sp).astype(int)
    lo = np.clip(bbox[:3] - margin, 0, size - 1)
    hi = np.clip(bbox[:3] + bbox[3:] - 1 + margin, 0, size - 1)
    if np.all(lo == 0) and np.all(hi == size - 1):
        return image, roi
    idx, extent = [int(v) for v in lo], [int(v) for v in hi - lo + 1]
    return sitk.RegionOfInterest(image, extent, idx), sitk.RegionOfInterest(roi, extent, idx)


def _resample_rigid(image, roi, p: Perturbation):
    """Rotation about the ROI centroid, translation and new voxel size in one resampling (B-spline image,
    linear mask thresholded at 0.5)."""
    import SimpleITK as sitk

    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(roi)
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    axis = direction @ np.asarray(p.rotation_axis, float)
    transform = sitk.VersorRigid3DTransform()
    transform.SetCenter(stats.GetCentroid(1))
    transform.SetRotation(tuple(float(a) for a in axis / np.linalg.norm(axis)), math.radians(p.angle_deg))
    shift = np.asarray(p.translation_fraction, float) * np.asarray(image.GetSpacing())
    transform.SetTranslation(tuple(float(v) for v in direction @ shift))
    grid = _grid(image, p.spacing_mm)
    background = float(np.min(sitk.GetArrayViewFromImage(image)))
    out = sitk.Resample(image, grid, transform, sitk.sitkBSpline, background, sitk.sitkFloat32)
    soft = sitk.Resample(sitk.Cast(roi, sitk.sitkFloat32), grid, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return out, sitk.Cast(soft >= 0.5, sitk.sitkUInt8)


def _grid(image, spacing_mm: float | None):
    """The image's own grid, or an isotropic one of ``spacing_mm`` over the same extent (voxel edges aligned)."""
    import SimpleITK as sitk

    if spacing_mm is None:
        return image
    sp, size = np.asarray(image.GetSpacing()), np.asarray(image.GetSize())
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    new_size = [max(1, int(round(n * s / spacing_mm))) for n, s in zip(size, sp)]
    origin = np.asarray(image.GetOrigin()) + direction @ ((spacing_mm - sp) / 2)
    grid = sitk.Image(new_size, sitk.sitkFloat32)
    grid.SetSpacing((float(spacing_mm),) * 3)
    grid.SetOrigin(tuple(float(v) for v in origin))
    grid.SetDirection(image.GetDirection())
    return grid


def _add_noise(image, sd: float, seed: int):
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(image)
    arr += np.random.default_rng([seed, 1]).normal(0.0, sd, arr.shape).astype(np.float32)
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(image)
    return out


def _adapt_volume(roi, target: float):
    """Grow (target > 0) or shrink the ROI by ``target`` of its volume; returns the new ROI and the achieved
    relative change.

    Voxels are added (removed) in order of their Euclidean distance in mm to the ROI (to the background).
    One distance level can hold a large share of the volume (all in-plane neighbours lie at one pixel
    spacing), so within the level where the target falls, voxels with more of the ROI around them
    (a Gaussian-smoothed mask, sigma one voxel) are added first (removed last): the target is met to a voxel,
    and the new border stays smooth.
    """
    import SimpleITK as sitk
    from scipy import ndimage

    inside = sitk.GetArrayFromImage(roi).astype(bool)
    n0 = int(inside.sum())
    grow = target > 0
    candidates = ~inside if grow else inside
    dist = ndimage.distance_transform_edt(candidates, sampling=tuple(float(s) for s in reversed(roi.GetSpacing())))
    soft = ndimage.gaussian_filter(inside.astype(np.float32), sigma=1.0)
    where = np.flatnonzero(candidates)
    order = np.lexsort((-soft.ravel()[where] if grow else soft.ravel()[where], dist.ravel()[where]))
    m = min(int(round(abs(target) * n0)), where.size - (0 if grow else 1))
    new = inside.copy().ravel()
    new[where[order[:m]]] = grow
    out = sitk.GetImageFromArray(new.reshape(inside.shape).astype(np.uint8))
    out.CopyInformation(roi)
    return out, float(int(new.sum()) - n0) / n0


def _supervoxel_contour(image, roi, n_target: int, seed: int):
    """Zwanenburg's contour randomisation: each supervoxel joins the ROI with probability = its overlap."""
    import SimpleITK as sitk

    box = np.asarray(label_stats(roi)[1]["bbox"])
    sp, size = np.asarray(image.GetSpacing()), np.asarray(image.GetSize())
    volume_mm3 = _voxels(roi) * float(np.prod(sp))
    grid = np.maximum(2, np.round((volume_mm3 / n_target) ** (1 / 3) / sp)).astype(int)
    lo = np.clip(box[:3] - 2 * grid, 0, size - 1)
    hi = np.clip(box[:3] + box[3:] - 1 + 2 * grid, 0, size - 1)
    idx, extent = [int(v) for v in lo], [int(v) for v in hi - lo + 1]
    sub = sitk.RegionOfInterest(image, extent, idx)
    arr = sitk.GetArrayViewFromImage(sub)
    scale = float(np.std(arr)) or 1.0
    slic = sitk.SLICImageFilter()
    slic.SetSuperGridSize([int(g) for g in grid])
    slic.SetSpatialProximityWeight(1.0)  # on the image in SD units: intensity and distance weigh alike
    slic.SetMaximumNumberOfIterations(10)
    labels = sitk.GetArrayFromImage(slic.Execute(sitk.Cast(sub, sitk.sitkFloat32) / scale)).astype(np.int64)
    inside = sitk.GetArrayViewFromImage(sitk.RegionOfInterest(roi, extent, idx)).astype(bool)
    overlap = np.bincount(labels[inside], minlength=labels.max() + 1) / np.maximum(np.bincount(labels.ravel()), 1)
    keep = np.random.default_rng([seed, 2]).random(overlap.size) < overlap
    if not keep.any():
        keep[np.argmax(overlap)] = True
    new = np.zeros(sitk.GetArrayViewFromImage(roi).shape, dtype=np.uint8)
    new[lo[2]:hi[2] + 1, lo[1]:hi[1] + 1, lo[0]:hi[0] + 1] = keep[labels]
    out = sitk.GetImageFromArray(new)
    out.CopyInformation(roi)
    return out


# --------------------------------------------------------------------------------------------- the worker
@dataclass
class PerturbationTask:
    """One case and one perturbation: what a worker needs, all plain and picklable."""

    case: str
    image: str
    mask: str
    regions: list
    params: ExtractionParams
    perturbation: Perturbation
    modality: str = ""
    key: str = ""
    size: int = 0
    tolerance: float = 0.01
    threads: int | None = None
    max_image_bytes: float | None = None  # see Task


def run_perturbation(task: PerturbationTask) -> dict:
    """Worker body: read one case, perturb it, extract its features. Never raises; errors come back as
    records (``id, perturbation, stage, error, message, traceback``)."""
    t0 = time.perf_counter()
    out = {"case": task.case, "perturbation": task.perturbation.name, "key": task.key, "features": {},
           "applied": {}, "errors": [], "warnings": [], "seconds": 0.0}
    if task.threads:
        import SimpleITK as sitk

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(task.threads))
    stage = "read_image"
    try:
        ex = extractor(task.params)
        image = read_case_image(task.image, task.mask, tolerance=task.tolerance, max_bytes=task.max_image_bytes)
        stage = "read_mask"
        region = _one_region(task, image, ex)
        out["warnings"] = [f"{task.case}: {n}" for n in region.notes]
        check_finite(image, region, reach=_reach(task), case=task.case, path=task.image)  # stage "nonfinite"
        stage = "perturb"
        img, msk, out["applied"] = apply_perturbation(image, region.mask, task.perturbation, label=region.value)
        stage = "extract"
        perturbed = region if msk is region.mask else Region(region.name, region.label, mask=msk,
                                                              value=region.value, stats=label_stats(msk))
        out["features"], _ = pyradiomics_features(img, perturbed, task.params)
    except Exception as err:
        out["errors"].append(_error_record(task, getattr(err, "stage", stage), err))
    out["seconds"] = time.perf_counter() - t0
    return out


def _reach(task: PerturbationTask) -> list[str]:
    """What carries NaN/Inf voxels outside the ROI into the features (see :func:`nonfinite_reach`): the
    parameters' steps, and the perturbation's B-spline resampling, noise estimate or supervoxels (which read
    the image around the ROI)."""
    p = task.perturbation
    own = [f"the perturbation ({p.kind})"] if (p.moves_grid or p.noise_factor or p.supervoxels) else []
    return nonfinite_reach(task.params) + own


def _one_region(task: PerturbationTask, image, ex) -> Region:
    regions = load_regions(task.mask, image, task.regions, default_label=int(ex.settings.get("label", 1)),
                           tolerance=task.tolerance, label_channel=int(ex.settings.get("label_channel", 0) or 0),
                           max_bytes=task.max_image_bytes)
    if regions[0].error is not None:
        raise regions[0].error
    return regions[0]


def _error_record(task: PerturbationTask, stage: str, err: BaseException) -> dict:
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    return {"id": task.case, "perturbation": task.perturbation.name, "stage": stage, "error": type(err).__name__,
            "message": (" ".join(lines) or repr(err))[:2000],
            "traceback": "".join(traceback.format_exception(err, limit=-4))}


def perturbation_key(extraction_key: str, p: Perturbation) -> str:
    """Cache key of one (case, perturbation): the case's extraction key (input hashes, parameters, versions)
    and every parameter of the perturbation, its seed included; ``""`` (not cached) without the former."""
    if not extraction_key:
        return ""
    blob = json.dumps({"format": PERTURB_FORMAT, "extraction": extraction_key, "perturbation": asdict(p)},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


# --------------------------------------------------------------------------------------------- robustness
def robustness(manifest, params="ct", *, n_perturbations: int = 10, seed: int = 0, spec=None,
               include_original: bool = True, label: int | str | None = None, n_jobs: int = 1, scheduler=None,
               cache_dir: str | os.PathLike | None = None, geometry_tolerance: float = 0.01,
               max_image_bytes: float | None = None, progress: bool = True, return_details: bool = False):
    """Extract features from perturbed versions of every case: the long table for feature robustness.

    Parameters
    ----------
    manifest : path (CSV, TSV, Parquet) or DataFrame
        As for :func:`radiomix.extraction.extract`, with one image per case (one modality, no
        ``session``/``rater`` repeats) and one region per case.
    params : str, path, dict or ExtractionParams
        pyradiomics parameters (preset name, file, dict), as for ``extract``.
    n_perturbations : int
        Perturbed versions per case (``p01`` ... ; the original ``p00`` comes on top).
    seed : int
        Seed of the draws; each case draws from ``seed`` and a hash of its id (:func:`draw_perturbations`).
    spec : dict, path or PerturbationSpec, optional
        Overrides of the default :class:`PerturbationSpec` (chain and parameter ranges).
    include_original : bool
        Also extract the unperturbed original as ``p00`` (for reference; not a repeat for the ICC).
    label : int or str, optional
        Label of the ROI for every case, overriding the manifest's ``label`` column.
    n_jobs, scheduler : see ``extract``
        Each (case, perturbation) is one task on the same engines (local processes, Dask).
    cache_dir : path, optional
        The same on-disk cache as ``extract`` uses: a finished (case, perturbation) is kept under a key made of
        the inputs' hashes, the parameters, the software versions and every parameter of the perturbation
        (seed included), so a re-run, also after a crash, computes only what is missing.
    geometry_tolerance, max_image_bytes : float
        As for ``extract``.
    progress : bool
        Show the engines' progress bar.
    return_details : bool
        Also return the errors table (``id, perturbation, stage, error, message, traceback``).

    Returns
    -------
    DataFrame
        One row per (case, perturbation), cases in manifest order: ``id``, then :data:`PERTURBATION_COLUMNS`
        (``perturbation``, ``kind``, ``angle_deg``, the translation in mm (its length and its components along
        the image axes), ``spacing_mm`` (NaN: not resampled), ``noise_sd`` (SD of the added noise, image
        units), ``volume_change_target`` and the achieved ``volume_change``), then the features named exactly
        as ``extract`` names them (the manifest's passthrough columns, ``site``..., are not repeated here:
        join them on ``id``). A failed (case, perturbation) is a row of NaN features, reported in
        ``attrs["radiomix"]["errors"]`` and in a warning. ``attrs["radiomix"]`` also holds ``provenance`` (spec,
        seed, versions, parameters, engine, cache counts) and ``groups["radiomic"]`` (the feature columns).
        With ``return_details=True``: ``(table, errors)``.

    Notes
    -----
    The perturbations of each case are drawn independently, so compute ICC(1,1) (one-way random effects)
    over the rows with ``kind != "original"``: ``radiomix.reliability.icc(t[t.kind != "original"], case="id",
    features=t.attrs["radiomix"]["groups"]["radiomic"])``.
    """
    spec = perturbation_spec(spec)
    if not isinstance(n_perturbations, (int, np.integer)) or isinstance(n_perturbations, bool) or n_perturbations < 1:
        raise ValueError(f"n_perturbations={n_perturbations!r}: give a whole number >= 1")
    mf, base, _ = plan_tasks(manifest, params, label=label, tolerance=geometry_tolerance,
                             max_image_bytes=max_image_bytes)
    _check_design(mf, base)
    versions = software_versions()
    hash_inputs(base, versions)
    tasks = _perturbation_tasks(base, n_perturbations, seed, spec, include_original)
    results, engine, n_cached = run_cached(tasks, run_perturbation, cache_dir,
                                           key_of=lambda t: (t.case, t.perturbation.name), prepare=_complete,
                                           n_jobs=n_jobs, scheduler=scheduler, progress=progress, title="perturbing")
    table, errors = _long_table(tasks, results, mf.attrs["manifest"]["modalities"][0])
    warn_lines = list(dict.fromkeys(w for t in tasks for w in results[(t.case, t.perturbation.name)]["warnings"]))
    provenance = {
        "radiomix_version": __version__, "pyradiomics_version": versions["pyradiomics"], "versions": versions,
        **base[0].params.provenance(), "seed": int(seed), "n_perturbations": int(n_perturbations),
        "include_original": bool(include_original), "spec": spec.to_dict(),
        "design": "perturbations drawn independently per case (seed + hash of the case id): one-way design, "
                  "ICC(1,1) over the perturbed rows (kind != 'original')",
        "n_cases": len(base), "n_tasks": len(tasks), "n_failed": int(errors[["id", "perturbation"]].drop_duplicates()
                                                                      .shape[0]) if len(errors) else 0,
        "n_cached": n_cached, "n_computed": len(tasks) - n_cached, "geometry_tolerance": geometry_tolerance,
        "cache_dir": str(Path(cache_dir).resolve()) if cache_dir is not None else None,
        **{f"engine_{k}": v for k, v in engine.items()},
        "inputs": {t.case: dict(t.hashes) for t in base},
    }
    features = [c for c in table.columns if c != "id" and c not in PERTURBATION_COLUMNS]
    table.attrs["radiomix"] = {"provenance": provenance, "errors": errors.drop(columns="traceback").to_dict("records"),
                               "groups": {"radiomic": features, "clinical": [], "genetic": []},
                               "perturbation_columns": list(PERTURBATION_COLUMNS), "warnings": warn_lines}
    _warn(errors, len(tasks), warn_lines)
    return (table, errors) if return_details else table


def _check_design(mf: pd.DataFrame, tasks: list) -> None:
    """One image and one region per case, no repeated measurements: say what to change otherwise."""
    meta = mf.attrs["manifest"]
    problems = []
    if meta.get("repeats"):
        problems.append(f"the manifest has repeated measurements (column(s) {meta['repeats']}); perturbation "
                        "robustness takes one image per case: keep one session/rater per case")
    if len(meta["modalities"]) > 1:
        problems.append(f"the manifest has {len(meta['modalities'])} modalities {meta['modalities']}; perturbation "
                        "robustness takes one: run it once per modality")
    several = [t.case for t in tasks if len(t.regions) > 1]
    if several:
        problems.append(f"case(s) {several[:5]} have several regions; perturbation robustness takes one region "
                        "per case (pass label=...)")
    if problems:
        raise ManifestError(problems)


def _perturbation_tasks(base: list, n: int, seed: int, spec: PerturbationSpec, include_original: bool) -> list:
    tasks = []
    width = max(2, len(str(int(n))))
    for t in base:
        perts = ([Perturbation(name="p" + "0" * width)] if include_original else []) \
            + draw_perturbations(n, seed, t.case, spec)
        for p in perts:
            tasks.append(PerturbationTask(case=t.case, image=t.image, mask=t.mask, regions=list(t.regions),
                                          params=t.params, perturbation=p, modality=t.modality,
                                          key=perturbation_key(t.key, p), size=t.size, tolerance=t.tolerance,
                                          max_image_bytes=t.max_image_bytes))
    return tasks


def _complete(task, res) -> None:
    """A fresh (case, perturbation) result made whole before it is cached: engine crash records lack the
    perturbation's name, and a failed task has no warnings or applied parameters."""
    res.setdefault("warnings", [])
    res.setdefault("applied", {})
    for e in res["errors"]:
        e.setdefault("perturbation", task.perturbation.name)


def _long_table(tasks: list, results: dict, modality: str):
    """The long table (cases in manifest order, perturbations in order) and the errors table."""
    rows, feats, errors = [], [], []
    names: dict[str, None] = {}
    for t in tasks:
        res = results[(t.case, t.perturbation.name)]
        rows.append({"id": t.case, **_parameter_columns(t.perturbation, res)})
        f = {(f"{modality}_{k}" if modality else k): (np.nan if v is None else v)
             for k, v in res["features"].items()}
        names.update(dict.fromkeys(f))
        feats.append(f)
        errors += [{c: e.get(c, "") for c in _ERROR_COLUMNS} for e in res["errors"]]
    values = pd.DataFrame.from_records(feats, columns=list(names)).astype(float)
    table = pd.concat([pd.DataFrame(rows), values], axis=1)
    return table, pd.DataFrame(errors, columns=_ERROR_COLUMNS)


def _parameter_columns(p: Perturbation, res: dict) -> dict:
    applied = res.get("applied") or {}
    shift = [applied.get(f"translation_{a}_mm", np.nan) for a in "xyz"]
    ok = not res["errors"]
    return {"perturbation": p.name, "kind": p.kind, "angle_deg": p.angle_deg,
            "translation_mm": float(np.sqrt(np.sum(np.square(shift)))) if ok else np.nan,
            **{f"translation_{a}_mm": (v if ok else np.nan) for a, v in zip("xyz", shift)},
            "spacing_mm": np.nan if p.spacing_mm is None else p.spacing_mm,
            "noise_sd": applied.get("noise_sd", np.nan) if ok else np.nan,
            "volume_change_target": p.volume_change,
            "volume_change": applied.get("volume_change", np.nan) if ok else np.nan}


def _warn(errors: pd.DataFrame, n_tasks: int, warn_lines: list[str]) -> None:
    if len(errors):
        failed = errors[["id", "perturbation"]].drop_duplicates()
        warnings.warn(f"robustness: {len(failed)} of {n_tasks} (case, perturbation) tasks failed, their rows hold "
                      f"NaN features (cases {list(dict.fromkeys(failed['id']))[:5]}; first: "
                      f"{errors.iloc[0]['id']}/{errors.iloc[0]['perturbation']}: {errors.iloc[0]['message'][:200]}); "
                      "see attrs['radiomix']['errors'] or return_details=True", UserWarning, stacklevel=3)
    if warn_lines:
        more = f" (and {len(warn_lines) - 3} more)" if len(warn_lines) > 3 else ""
        warnings.warn("; ".join(warn_lines[:3]) + more, UserWarning, stacklevel=3)
