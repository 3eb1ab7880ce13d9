"""Radiomic feature extraction: one case -> one row with pyradiomics; local and Dask engines; the cache.

Public API: :func:`extract` (a manifest -> a feature table), :func:`check` (manifest validation and
geometry QA), :func:`extract_case` (one image + mask), :func:`load_params`, :func:`write_extraction`;
:func:`read_manifest` (:mod:`.manifest`), :func:`read_image` (:mod:`.images`, with the geometry checks) and
:func:`parse_labels` (:mod:`.labels`); :func:`robustness` (perturbed versions of every case, the long table
for feature robustness) with :func:`draw_perturbations`, :func:`apply_perturbation`, :func:`estimate_noise_sd`
and :class:`Perturbation`/:class:`PerturbationSpec` (:mod:`.perturb`).
"""

from .case import extract_case
from .core import check, extract, sidecar_paths, write_extraction
from .images import read_image
from .labels import parse_labels
from .manifest import ManifestError, read_manifest
from .params import ExtractionParams, load_params
from .perturb import (
    Perturbation,
    PerturbationSpec,
    apply_perturbation,
    draw_perturbations,
    estimate_noise_sd,
    perturbation_spec,
    robustness,
)

__all__ = ["extract", "check", "extract_case", "load_params", "write_extraction", "sidecar_paths",
           "ExtractionParams", "ManifestError", "read_manifest", "read_image", "parse_labels", "robustness",
           "draw_perturbations", "apply_perturbation", "estimate_noise_sd", "perturbation_spec", "Perturbation",
           "PerturbationSpec"]
