"""Small generated CT-like cases (image + lesion mask) for tests, examples and benchmarks.

Not a simulator: a chest-like slab (body, two lungs, correlated noise in HU, int16) with one lobulated
lesion, written as NIfTI/NRRD/MHA. Enough to exercise extraction at realistic sizes without data files.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["ct_case", "write_case"]


def ct_case(shape=(64, 64, 24), spacing=(0.8, 0.8, 2.5), lesion_radius_mm: float = 9.0, seed: int = 0,
            origin=(0.0, 0.0, 0.0), n_labels: int = 1):
    """``(image, mask)`` SimpleITK images of one CT-like case (``shape`` is x, y, z).

    ``n_labels > 1`` adds more lesions with label values 2, 3, ... (for multi-region tests).
    """
    import SimpleITK as sitk
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    nx, ny, nz = shape
    sx, sy, sz = spacing
    y, x = np.meshgrid(np.arange(ny) * sy, np.arange(nx) * sx, indexing="ij", sparse=True)
    cx, cy = nx * sx / 2, ny * sy / 2
    body = ((x - cx) / (0.46 * nx * sx)) ** 2 + ((y - cy) / (0.36 * ny * sy)) ** 2 < 1
    lung_l = ((x - cx + 0.2 * nx * sx) / (0.17 * nx * sx)) ** 2 + ((y - cy) / (0.26 * ny * sy)) ** 2 < 1
    lung_r = ((x - cx - 0.2 * nx * sx) / (0.17 * nx * sx)) ** 2 + ((y - cy) / (0.26 * ny * sy)) ** 2 < 1
    hu = np.full((nz, ny, nx), -1000.0, dtype=np.float32)
    hu[:, body] = 40.0
    hu[:, lung_l | lung_r] = -850.0
    noise = rng.normal(0, 1, hu.shape).astype(np.float32)
    noise = ndimage.gaussian_filter(noise, sigma=(0.6, 1.2, 1.2))
    noise *= 25.0 / max(float(noise.std()), 1e-6)
    hu += noise
    mask = np.zeros(hu.shape, dtype=np.uint8)
    for lab in range(1, n_labels + 1):
        r = lesion_radius_mm * (1.0 if lab == 1 else 0.6)
        lx = cx + (0.2 * nx * sx) * (1 if lab % 2 else -1) + rng.uniform(-0.03, 0.03) * nx * sx
        ly = cy + rng.uniform(-0.05, 0.05) * ny * sy + (lab - 1) * 0.12 * ny * sy
        lz = nz * sz / 2 + rng.uniform(-0.1, 0.1) * nz * sz
        # Work in the lesion's bounding box only: full-volume temporaries would cost GBs at 512x512x300.
        lo = [max(0, int((c - 1.3 * r) / d) - 1) for c, d in ((lz, sz), (ly, sy), (lx, sx))]
        hi = [min(n, int((c + 1.3 * r) / d) + 2) for c, d, n in ((lz, sz, nz), (ly, sy, ny), (lx, sx, nx))]
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        bz, by, bx = np.meshgrid(*[np.arange(a, b) * d for a, b, d in zip(lo, hi, (sz, sy, sx))], indexing="ij")
        d = np.sqrt((bx - lx) ** 2 + (by - ly) ** 2 + (bz - lz) ** 2)
        theta = np.arctan2(by - ly, bx - lx)
        lobes = 1 + 0.15 * np.sin(3 * theta + rng.uniform(0, 6)) * np.cos((bz - lz) / max(r, 1))
        inside = d < r * lobes
        tex = ndimage.gaussian_filter(rng.normal(0, 1, inside.shape).astype(np.float32), 1.5)
        sub = hu[box]
        sub[inside] = 20.0 + 10.0 * lab + 120.0 * tex[inside]
        mask[box][inside] = lab
    image = sitk.GetImageFromArray(np.clip(np.round(hu), -1024, 3071).astype(np.int16))
    m = sitk.GetImageFromArray(mask)
    for im in (image, m):
        im.SetSpacing(tuple(float(s) for s in spacing))
        im.SetOrigin(tuple(float(o) for o in origin))
    return image, m


def write_case(folder: str | os.PathLike, name: str, *, suffix: str = ".nii.gz", **kwargs) -> tuple[Path, Path]:
    """Write :func:`ct_case` as ``<name>_image<suffix>`` and ``<name>_mask<suffix>``; returns both paths."""
    import SimpleITK as sitk

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    image, mask = ct_case(**kwargs)
    ip, mp = folder / f"{name}_image{suffix}", folder / f"{name}_mask{suffix}"
    sitk.WriteImage(image, str(ip), useCompression=suffix != ".mha")
    sitk.WriteImage(mask, str(mp), useCompression=True)
    return ip, mp
