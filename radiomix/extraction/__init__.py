"""Radiomic feature extraction: one case -> one row with pyradiomics; local and Dask engines; the cache.

Public API: :func:`extract` (a manifest -> a feature table), :func:`check` (manifest validation and
geometry QA), :func:`extract_case` (one image + mask), :func:`load_params`, :func:`write_extraction`.
"""

from .case import extract_case
from .core import check, extract, sidecar_paths, write_extraction
from .params import ExtractionParams, load_params

__all__ = ["extract", "check", "extract_case", "load_params", "write_extraction", "sidecar_paths",
           "ExtractionParams"]
