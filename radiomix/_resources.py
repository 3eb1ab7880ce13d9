"""Locating files radiomix ships: pyradiomics parameter presets and default configs (``params/``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Preset name -> file in params/.
EXTRACTION_PRESETS = {"ct": "CT.yaml", "ct-original": "CT_original.yaml", "mr": "MR.yaml"}


def params_dir() -> Path:
    """The folder holding radiomix's shipped parameter files.

    Looked up in ``$RADIOMIX_PARAMS``, then the source checkout (editable installs), then
    ``<prefix>/share/radiomix/params`` (where ``pip install`` puts them).
    """
    candidates = []
    if os.environ.get("RADIOMIX_PARAMS"):
        candidates.append(Path(os.environ["RADIOMIX_PARAMS"]))
    candidates += [
        Path(__file__).resolve().parents[1] / "params",
        Path(sys.prefix) / "share" / "radiomix" / "params",
        Path(sys.base_prefix) / "share" / "radiomix" / "params",
    ]
    for c in candidates:
        if (c / "CT.yaml").is_file():
            return c
    raise FileNotFoundError(
        "radiomix's params/ folder was not found (looked in "
        + ", ".join(map(str, candidates))
        + "); reinstall radiomix or set RADIOMIX_PARAMS"
    )


def resolve_params_file(name_or_path: str | os.PathLike) -> Path:
    """A path as given when it exists, else a preset name (``ct``, ``ct-original``, ``mr``) or a file in params/."""
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    key = str(name_or_path).lower()
    if key in EXTRACTION_PRESETS:
        return params_dir() / EXTRACTION_PRESETS[key]
    shipped = params_dir() / str(name_or_path)
    if shipped.is_file():
        return shipped
    raise FileNotFoundError(
        f"parameter file {str(name_or_path)!r} not found; give a path or one of the presets "
        f"{sorted(EXTRACTION_PRESETS)}"
    )
