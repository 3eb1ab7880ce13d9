"""Radiomic feature extraction: one case -> one row with pyradiomics; local process engine."""

from .core import ExtractionParams, extract, extract_case, load_params, write_extraction

__all__ = ["extract", "extract_case", "load_params", "write_extraction", "ExtractionParams"]
