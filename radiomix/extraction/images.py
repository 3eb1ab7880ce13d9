"""Images and their voxel grids: reading (SimpleITK, DICOM series folders), geometry, putting a mask on
the image's grid."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .labels import mask_label_counts

__all__ = ["GeometryError", "is_dicom_file", "read_image", "image_geometry", "format_geometry", "grid_deviation",
           "same_grid", "align_mask"]


class GeometryError(ValueError):
    """An image and its mask do not describe the same voxel grid (beyond the tolerance)."""


def is_dicom_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is a file with the DICOM preamble (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def read_image(path: str | os.PathLike):
    """Read an image or mask with SimpleITK: NIfTI, NRRD, MHA/MHD, or a DICOM series folder."""
    import SimpleITK as sitk

    path = Path(path)
    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        series = reader.GetGDCMSeriesIDs(str(path))
        if not series:
            raise ValueError(f"{path}: folder holds no DICOM image series")
        if len(series) > 1:
            raise ValueError(f"{path}: folder holds {len(series)} DICOM series; give one series per folder")
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path), series[0]))
        return reader.Execute()
    if not path.exists():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:  # SimpleITK's message is a C++ trace; keep its gist
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        gist = next((ln for ln in lines if "Description" in ln or "Unable" in ln), lines[-1] if lines else "")
        raise ValueError(f"{path}: not a readable image ({gist})") from err


# --------------------------------------------------------------------------------------------- geometry
def image_geometry(img) -> dict:
    """Size, spacing, origin and direction of a SimpleITK image (plain tuples)."""
    return {"size": tuple(int(s) for s in img.GetSize()), "spacing": tuple(img.GetSpacing()),
            "origin": tuple(img.GetOrigin()), "direction": tuple(img.GetDirection())}


def format_geometry(g: Mapping) -> str:
    """One line describing a grid, e.g. ``size 512x512x120, spacing 0.7x0.7x2.5 mm, origin (...)``."""
    def fmt(v, nd=4):
        return "x".join(f"{x:.{nd}g}" for x in v)

    d = np.asarray(g["direction"], float)
    ident = d.size and np.allclose(d, np.eye(int(math.isqrt(d.size))).ravel())
    direction = "identity" if ident else "(" + ", ".join(f"{x:.3g}" for x in d) + ")"
    return (f"size {fmt(g['size'])}, spacing {fmt(g['spacing'])} mm, origin ("
            + ", ".join(f"{x:.5g}" for x in g["origin"]) + f"), direction {direction}")


def _index_map(img_ref, img):
    """Affine map (A, b) from ``img`` voxel index to ``img_ref`` continuous voxel index."""
    nd = img.GetDimension()
    def mat(im):
        return np.asarray(im.GetDirection(), float).reshape(nd, nd) @ np.diag(im.GetSpacing())

    m_ref_inv = np.linalg.inv(mat(img_ref))
    a = m_ref_inv @ mat(img)
    b = m_ref_inv @ (np.asarray(img.GetOrigin(), float) - np.asarray(img_ref.GetOrigin(), float))
    return a, b


def grid_deviation(image, mask) -> float:
    """How far (in image voxels) the mask's voxel centres fall from the image's voxel lattice.

    0 for a mask on the image grid or on a shifted/cropped/flipped copy of it; large when spacing or
    direction differ. Measured at the corners of the mask grid, where an affine mismatch is largest.
    """
    if image.GetDimension() != mask.GetDimension():
        return math.inf
    a, b = _index_map(image, mask)
    p = np.round(a)
    if not (np.all(np.abs(p).sum(axis=0) == 1) and np.all(np.abs(p).sum(axis=1) == 1)):
        return math.inf  # not a (signed) permutation of the image axes: a different grid
    size = np.asarray(mask.GetSize()) - 1
    corners = np.array(np.meshgrid(*[[0, s] for s in size], indexing="ij")).reshape(len(size), -1)
    mapped = a @ corners + b[:, None]
    return float(np.max(np.abs(mapped - np.round(mapped))))


def same_grid(a, b, tol: float = 1e-9) -> bool:
    """True when two images share size and (to ``tol`` relative) spacing, origin and direction."""
    if a.GetSize() != b.GetSize():
        return False
    sp = np.asarray(a.GetSpacing())
    return (np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=tol, atol=0)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=tol * float(sp.min()))
            and np.allclose(a.GetDirection(), b.GetDirection(), rtol=0, atol=tol))


def align_mask(image, mask, tolerance: float = 0.01, *, quiet_lattice: bool = False):
    """Put ``mask`` on ``image``'s voxel grid; returns ``(mask, note)``, ``note`` is ``None`` or a warning text.

    - Same grid: returned unchanged.
    - Mask voxel centres within ``tolerance`` (in image voxels) of the image lattice (float jitter in
      the header, a cropped or padded mask, flipped axes): resampled nearest-neighbour onto the image,
      which moves no voxel by more than ``tolerance``; the note says so.
    - Beyond the tolerance (different spacing or orientation): :class:`GeometryError` naming both grids.
      ``tolerance=inf`` resamples any mask nearest-neighbour instead.

    Mask voxels of a label that would fall outside the image raise :class:`GeometryError` as well.
    ``quiet_lattice=True`` gives no note when the mask sits exactly on the image lattice (a DICOM-SEG stores
    only the frames that hold the segment: putting it back on the full grid is expected and exact).
    """
    import SimpleITK as sitk

    if same_grid(image, mask):
        return mask, None
    gi, gm = image_geometry(image), image_geometry(mask)
    dev = grid_deviation(image, mask)
    if not dev <= tolerance:
        raise GeometryError(
            f"mask grid does not match the image grid (mask voxels are {dev:.3g} image voxels off the image "
            f"lattice; tolerance {tolerance:g}). image: {format_geometry(gi)}; mask: {format_geometry(gm)}. "
            "Resample the mask onto the image, or raise geometry_tolerance (inf = always resample)")
    before = mask_label_counts(mask)
    out = sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID())
    after = mask_label_counts(out)
    lost = {k: v - after.get(k, 0) for k, v in before.items() if v - after.get(k, 0) > 0}
    if lost:
        desc = ", ".join(f"label {k}: {n} of {before[k]} voxels" for k, n in lost.items())
        raise GeometryError(f"mask lies (partly) outside the image ({desc} outside). image: {format_geometry(gi)}; "
                            f"mask: {format_geometry(gm)}")
    if quiet_lattice and dev < 1e-3:
        return out, None
    return out, (f"mask grid differs from the image grid ({dev:.2g} voxel off the lattice); resampled "
                 f"nearest-neighbour onto the image. mask: {format_geometry(gm)}")
