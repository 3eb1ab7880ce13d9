"""Geometry QA of a manifest without extracting features (``radiomix extract --check``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .case import Task, plain_value
from .images import (
    check_image_size,
    check_regular,
    check_series_folder,
    check_voxel_type,
    grid_deviation,
    image_geometry,
    read_header,
    read_image,
)
from .masks import MaskError, labelmap_regions, load_regions, mask_kind, roi_summary
from .params import extractor

__all__ = ["qa_task"]


def _geometry_only(path: str, max_bytes: float | None = None):
    """A zero UInt8 image with the geometry of ``path``, read from the header alone (DICOM series: read);
    refused like an extraction would refuse it (too large, not 2D/3D scalar) before anything is allocated."""
    import SimpleITK as sitk

    p = Path(path)
    if p.is_dir():
        return read_image(p, max_bytes=max_bytes)
    head = read_header(p)
    check_image_size(head, max_bytes)
    check_voxel_type(head, p)
    ref = sitk.Image([int(s) for s in head.size], sitk.sitkUInt8)
    ref.SetSpacing(head.spacing)
    ref.SetOrigin(head.origin)
    ref.SetDirection(head.direction)
    return ref


def _agreement(image, mask) -> dict:
    gi, gm = image_geometry(image), image_geometry(mask)
    same_dim = len(gi["size"]) == len(gm["size"])
    return {
        "mask_size": plain_value(gm["size"]), "mask_spacing": plain_value(gm["spacing"]),
        "same_grid": gi == gm,
        "origin_diff_mm": float(np.max(np.abs(np.subtract(gi["origin"], gm["origin"])))) if same_dim else np.nan,
        "spacing_diff_rel": float(np.max(np.abs(np.subtract(gi["spacing"], gm["spacing"]) / np.asarray(gi["spacing"]))))
        if same_dim else np.nan,
        "direction_diff": float(np.max(np.abs(np.subtract(gi["direction"], gm["direction"])))) if same_dim else np.nan,
        "grid_offset_voxels": grid_deviation(image, mask),
    }


def qa_task(task: Task) -> list[dict]:
    """QA rows (one per region) for one case and modality; never raises."""
    base = {"id": task.case, "modality": task.modality}
    try:
        settings = extractor(task.params).settings
        min_size = settings.get("minimumROISize")
        image = _geometry_only(task.image, task.max_image_bytes)
    except Exception as err:
        return [{**base, "region": "*", "status": "error", "stage": "read_image", "message": f"{type(err).__name__}: {err}"}]
    gi = image_geometry(image)
    base.update(image_size=plain_value(gi["size"]), image_spacing=plain_value(gi["spacing"]))
    rows = []
    try:
        check_regular(task.mask)
        if Path(task.mask).is_dir():
            check_series_folder(task.mask)
        kind, path = mask_kind(task.mask)
        base["mask_kind"] = kind
        if kind == "labelmap":
            raw = read_image(path, max_bytes=task.max_image_bytes)
            base.update(_agreement(image, raw))
            regions = labelmap_regions(raw, image, task.regions, default_label=int(settings.get("label", 1)),
                                       tolerance=task.tolerance, label_channel=int(settings.get("label_channel", 0) or 0),
                                       name=Path(path).name)
        else:
            regions = load_regions(task.mask, image, task.regions, tolerance=task.tolerance,
                                   max_bytes=task.max_image_bytes)
    except MaskError as err:
        return [{**base, "region": "*", "status": "error", "stage": err.stage, "message": str(err)}]
    except Exception as err:
        return [{**base, "region": "*", "status": "error", "stage": "read_mask", "message": f"{type(err).__name__}: {err}"}]
    for r in regions:
        row = {**base, "region": r.name, "label": plain_value(r.label if r.label is not None else r.value)}
        if r.stats is not None:
            row["labels_present"] = plain_value(sorted(r.stats))
        problems, notes = [], list(r.notes)
        if r.error is not None:
            problems.append(str(r.error))
            row["stage"] = getattr(r.error, "stage", "mask")
        else:
            s = roi_summary(None, r.mask, r.value, r.stats)
            row.update({k: plain_value(v) for k, v in s.items()})
            row["roi_in_image"] = True
            if s.get("roi_empty_slices_inside"):
                notes.append(f"mask covers only some slices of its range: {s['roi_empty_slices_inside']} empty "
                             f"slice(s) between the first and last of {s['roi_slices'] + s['roi_empty_slices_inside']}")
            if min_size is not None and s["roi_voxels"] <= int(min_size):
                notes.append(f"ROI has {s['roi_voxels']} voxels; pyradiomics needs more than minimumROISize="
                             f"{min_size} (counted after resampling)")
            if s.get("roi_components", 1) > 1:
                notes.append(f"ROI has {s['roi_components']} separate parts")
        row["status"] = "error" if problems else ("warning" if notes else "ok")
        row["message"] = " | ".join(problems + notes)
        rows.append(row)
    if not rows:  # pragma: no cover - load_regions always returns one region or raises
        rows.append({**base, "region": "*", "status": "error", "message": "no region"})
    return rows

