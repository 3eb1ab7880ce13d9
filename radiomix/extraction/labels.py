"""Label values and region names: manifest ``label`` cells, label voxel counts of a mask."""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["label_counts", "mask_label_counts", "sanitize_region", "parse_labels"]


def label_counts(arr: np.ndarray) -> dict[int, int]:
    """Voxel count of every non-zero label value in an integer label array."""
    if arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    if arr.size and arr.dtype.kind in "ui" and arr.min() >= 0 and arr.max() < 1 << 20:
        counts = np.bincount(arr.ravel())  # O(n), much faster than np.unique's sort on a 512x512x300 mask
        nz = np.flatnonzero(counts)
        return {int(v): int(counts[v]) for v in nz if v != 0}
    vals, counts = np.unique(arr[arr != 0], return_counts=True)
    return {int(v): int(c) for v, c in zip(vals, counts)}


def mask_label_counts(mask) -> dict[int, int]:
    """Voxel count of every non-zero label value in a SimpleITK label image (see :func:`label_counts`)."""
    import SimpleITK as sitk

    return label_counts(sitk.GetArrayViewFromImage(mask))


def sanitize_region(name: str) -> str:
    """A region name usable inside a feature column name: runs of anything but letters, digits, ``.`` and
    ``-`` become ``-`` (``"GTV 1"`` -> ``"GTV-1"``); an empty result becomes ``"roi"``."""
    out = re.sub(r"[^A-Za-z0-9.-]+", "-", str(name).strip()).strip("-")
    return out or "roi"


def parse_labels(value) -> list[tuple[str, int | str]]:
    """Parse a manifest ``label`` cell into ``[(region_name, label), ...]``.

    ``1`` -> ``[("label1", 1)]``; ``"1;2"`` or ``"1,2"`` -> two regions; ``"tumor=1;node=2"`` names them;
    a text label (RTSTRUCT ROI name or DICOM-SEG segment label, e.g. ``"GTV-1"``) is kept as text. Empty
    -> ``[]`` (the parameter file's ``label``, or the only segment of a DICOM mask). Raises ValueError
    for a cell it cannot read.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"label {value!r} is not a label value")
    if isinstance(value, (int, np.integer)):
        return [(f"label{int(value)}", int(value))]
    if isinstance(value, (float, np.floating)):
        if float(value).is_integer():
            return [(f"label{int(value)}", int(value))]
        raise ValueError(f"label {value!r} is not an integer")
    text = str(value).strip()
    if not text:
        return []
    parts = [p.strip() for p in re.split(r"[;|]", text)]
    if len(parts) == 1 and "," in text and all(re.fullmatch(r"-?\d+(\.0+)?", p.strip()) for p in text.split(",")):
        parts = [p.strip() for p in text.split(",")]
    out, seen = [], set()
    for p in parts:
        if not p:
            raise ValueError(f"label {text!r} has an empty part")
        name, _, val = p.partition("=") if "=" in p else ("", "", p)
        name, val = name.strip(), val.strip()
        if not val:
            raise ValueError(f"label {text!r}: region {name!r} has no value")
        num = re.fullmatch(r"-?\d+(\.0+)?", val)
        lab: int | str = int(float(val)) if num else val
        region = sanitize_region(name) if name else (f"label{lab}" if num else sanitize_region(val))
        if region in seen:
            raise ValueError(f"label {text!r} names region {region!r} twice")
        seen.add(region)
        out.append((region, lab))
    return out
