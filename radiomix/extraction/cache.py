"""The on-disk cache of finished cases: one JSON file per case and modality, written atomically.

A file's name is the SHA-256 of everything that determines its features: the SHA-256 of the image and
mask files, the parameter file's text, the regions asked for, the geometry tolerance, and the versions
of pyradiomics, SimpleITK, PyWavelets and numpy. Changing any of them changes the key, so the case is
recomputed; the old file is simply no longer read. Writes go to a temporary file that is renamed into
place, so a run killed at any moment leaves either a complete entry or none.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from ..io import atomic_write_text

__all__ = ["CACHE_FORMAT", "ResultCache", "software_versions", "task_key"]

#: Bump when the content or meaning of a cache entry changes; old entries are then ignored.
#: 2: cases whose image holds NaN/Inf voxels the features would read are now errors (format 1 could hold
#: finite-looking features computed from them).
CACHE_FORMAT = 2


def software_versions() -> dict:
    """Versions of everything that computes features (part of every cache key and of provenance)."""
    import numpy
    import pywt
    import radiomics
    import SimpleITK as sitk

    from .. import __version__

    return {"radiomix": __version__, "pyradiomics": str(radiomics.__version__),
            "SimpleITK": sitk.Version().VersionString(), "PyWavelets": pywt.__version__, "numpy": numpy.__version__}


def task_key(*, image_sha256: str, mask_sha256: str, params_sha256: str, regions, tolerance: float,
             pyradiomics_diagnostics: bool, versions: dict) -> str:
    """Cache key of one case and modality (see the module docstring for what goes in)."""
    blob = json.dumps({
        "format": CACHE_FORMAT, "image": image_sha256, "mask": mask_sha256, "params": params_sha256,
        "regions": [[str(n), str(v)] for n, v in regions], "tolerance": float(tolerance),
        "pyradiomics_diagnostics": bool(pyradiomics_diagnostics),
        # radiomix's own version is left out on purpose: a release that does not change features should
        # not throw away days of extraction; CACHE_FORMAT is bumped when it does.
        "versions": {k: v for k, v in versions.items() if k != "radiomix"},
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResultCache:
    """Finished cases under ``root`` (``root/v<format>/<key[:2]>/<key>.json``)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser()
        self.dir = self.root / f"v{CACHE_FORMAT}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._sweep_temporaries()

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The cached result, or None (absent, or unreadable: then it is recomputed and rewritten)."""
        p = self.path(key)
        try:
            with open(p) as fh:
                data = json.load(fh)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None
        if data.get("key") != key:
            return None
        return data

    def put(self, key: str, result: dict) -> Path:
        """Store a finished case atomically."""
        payload = dict(result)
        payload["key"] = key
        payload["cached_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        return atomic_write_text(self.path(key), json.dumps(payload, allow_nan=True))

    def _sweep_temporaries(self, older_than_s: float = 3600):
        # Temporaries of killed runs; recent ones may belong to a run going on right now.
        now = time.time()
        for tmp in self.dir.glob("*/.*.tmp"):
            try:
                if now - tmp.stat().st_mtime > older_than_s:
                    tmp.unlink()
            except OSError:
                pass
