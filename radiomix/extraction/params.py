"""pyradiomics parameter sets: loading, validation, and the per-process extractor objects."""

from __future__ import annotations

import copy
import hashlib
import logging
import os
from dataclasses import dataclass

import yaml

from .._resources import resolve_params_file

__all__ = ["ExtractionParams", "load_params"]


@dataclass(frozen=True)
class ExtractionParams:
    """A pyradiomics parameter set with the text and hash that go into provenance and cache keys."""

    settings: dict
    text: str
    sha256: str
    source: str = "<dict>"

    def provenance(self) -> dict:
        return {"params_source": self.source, "params_sha256": self.sha256, "params_text": self.text}


def load_params(params, *, base: str | os.PathLike | None = None) -> ExtractionParams:
    """Load pyradiomics parameters from a preset name (``ct``, ``ct-original``, ``mr``), a YAML/JSON file,
    a dict, or an :class:`ExtractionParams`. The file is validated by pyradiomics' own schema.

    ``base``: folder that a relative file name is looked up in first (the manifest's folder).
    """
    if isinstance(params, ExtractionParams):
        return params
    if isinstance(params, dict):
        text = yaml.safe_dump(params, sort_keys=True)
        settings, source = params, "<dict>"
    else:
        path = None
        if base is not None and not os.path.isabs(str(params)):
            cand = os.path.join(str(base), str(params))
            if os.path.isfile(cand):
                path = cand
        from pathlib import Path

        path = Path(path) if path else resolve_params_file(params)
        from ..safeyaml import YAMLInputError, load_yaml

        try:  # size, alias, depth and duplicate-key limits; plain YAML tags only
            settings = load_yaml(path, what="pyradiomics parameter file") or {}
        except YAMLInputError as err:
            raise ValueError(f"invalid pyradiomics parameters: {err}") from None
        text = path.read_text()
        source = str(path)
    if not isinstance(settings, dict):
        raise ValueError(f"invalid pyradiomics parameters ({source}): expected a mapping, got {type(settings).__name__}")
    p = ExtractionParams(settings=settings, text=text, sha256=hashlib.sha256(text.encode()).hexdigest(), source=source)
    extractor(p)  # validate now, before any case runs, so a bad key fails the run once and clearly
    return p


_EXTRACTORS: dict[tuple, object] = {}


def quiet_pyradiomics():
    import radiomics

    radiomics.setVerbosity(logging.ERROR)
    logging.getLogger("radiomics").setLevel(logging.ERROR)


def extractor(params: ExtractionParams, *, info: bool = True, resample: bool = True, normalize: bool = True):
    """The pyradiomics extractor for a parameter set, built once per process.

    ``info=False`` switches pyradiomics' own diagnostics off (radiomix collects cheaper ones itself);
    ``resample=False``/``normalize=False`` give the variant that runs on an image radiomix has already
    resampled/normalized exactly as pyradiomics would have.
    """
    key = (params.sha256, info, resample, normalize)
    ex = _EXTRACTORS.get(key)
    if ex is not None:
        return ex
    if info and resample and normalize:
        quiet_pyradiomics()
        from radiomics.featureextractor import RadiomicsFeatureExtractor

        try:
            ex = RadiomicsFeatureExtractor(copy.deepcopy(params.settings))
        except Exception as err:  # pykwalify's SchemaError lists the offending key
            raise ValueError(f"invalid pyradiomics parameters ({params.source}): {err}") from err
    else:
        base = extractor(params)
        ex = copy.copy(base)  # shares enabled image types / features, which execute() only reads
        ex.settings = dict(base.settings)
        if not info:
            ex.settings["additionalInfo"] = False
        if not resample:
            ex.settings["interpolator"] = None
            ex.settings["resampledPixelSpacing"] = None
        if not normalize:
            ex.settings["normalize"] = False
    _EXTRACTORS[key] = ex
    return ex
