"""One case -> one feature row with pyradiomics, and the local (process) engine over a manifest.

Features are exactly what ``radiomics.featureextractor.RadiomicsFeatureExtractor.execute`` returns for the
same parameter file; radiomix only moves pyradiomics' ``diagnostics_*`` entries into a separate table, adds
provenance, isolates failures per case and runs cases in parallel.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .. import __version__
from .._resources import resolve_params_file
from ..io import file_sha256, read_image, read_manifest

__all__ = ["ExtractionParams", "load_params", "extract_case", "extract"]


@dataclass(frozen=True)
class ExtractionParams:
    """A pyradiomics parameter set with the text and hash that go into provenance."""

    settings: dict
    text: str
    sha256: str
    source: str = "<dict>"

    def provenance(self) -> dict:
        return {"params_source": self.source, "params_sha256": self.sha256, "params_text": self.text}


def load_params(params) -> ExtractionParams:
    """Load pyradiomics parameters from a preset name (``ct``, ``ct-original``, ``mr``), a YAML/JSON file,
    a dict, or an :class:`ExtractionParams`. The file is validated by pyradiomics' own schema."""
    if isinstance(params, ExtractionParams):
        return params
    if isinstance(params, dict):
        text = yaml.safe_dump(params, sort_keys=True)
        settings, source = params, "<dict>"
    else:
        path = resolve_params_file(params)
        text = path.read_text()
        settings, source = yaml.safe_load(text) or {}, str(path)
    p = ExtractionParams(settings=settings, text=text, sha256=hashlib.sha256(text.encode()).hexdigest(), source=source)
    _extractor(p)  # validate now, before any case runs, so a bad key fails the run once and clearly
    return p


_EXTRACTORS: dict[str, object] = {}


def _quiet_pyradiomics():
    import radiomics

    radiomics.setVerbosity(logging.ERROR)
    logging.getLogger("radiomics").setLevel(logging.ERROR)


def _extractor(params: ExtractionParams):
    """One pyradiomics extractor per parameter set and process (building one re-validates the schema)."""
    ex = _EXTRACTORS.get(params.sha256)
    if ex is None:
        _quiet_pyradiomics()
        from radiomics.featureextractor import RadiomicsFeatureExtractor

        try:
            ex = RadiomicsFeatureExtractor(dict(params.settings))
        except Exception as err:  # pykwalify's SchemaError lists the offending key
            raise ValueError(f"invalid pyradiomics parameters ({params.source}): {err}") from err
        _EXTRACTORS[params.sha256] = ex
    return ex


def _to_float(v):
    try:
        return float(np.asarray(v))
    except (TypeError, ValueError):
        return np.nan


def extract_case(image, mask, params, *, label: int | None = None) -> tuple[dict, dict]:
    """Extract one case. ``image``/``mask`` are paths (NIfTI, NRRD, MHA, DICOM folder) or SimpleITK images.

    Returns ``(features, diagnostics)``: feature name -> float in pyradiomics' order, and pyradiomics'
    ``diagnostics_*`` entries (versions, image/mask geometry) kept apart from the features.
    """
    params = load_params(params)
    ex = _extractor(params)
    img = image if not isinstance(image, (str, os.PathLike)) else read_image(image)
    msk = mask if not isinstance(mask, (str, os.PathLike)) else read_image(mask)
    kwargs = {} if label is None else {"label": int(label)}
    result = ex.execute(img, msk, **kwargs)
    features, diagnostics = {}, {}
    for k, v in result.items():
        if k.startswith("diagnostics_"):
            diagnostics[k] = v if isinstance(v, (str, int, float)) else str(v)
        else:
            features[k] = _to_float(v)
    return features, diagnostics


def _run_case(case_id: str, image: str, mask: str, params: ExtractionParams, label, single_thread: bool) -> dict:
    """Worker body: never raises, so one broken case cannot take the batch down."""
    t0 = time.perf_counter()
    out = {"id": case_id, "features": None, "diagnostics": {}, "error": None, "hashes": {}}
    stage = "hash"
    try:
        if single_thread:
            import SimpleITK as sitk

            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        out["hashes"] = {"image_sha256": file_sha256(image), "mask_sha256": file_sha256(mask)}
        stage = "read"
        img, msk = read_image(image), read_image(mask)
        stage = "extract"
        out["features"], out["diagnostics"] = extract_case(img, msk, params, label=label)
    except Exception as err:
        msg = str(err).strip().splitlines()
        out["error"] = {
            "id": case_id,
            "stage": stage,
            "error": type(err).__name__,
            "message": msg[-1] if msg else repr(err),
            "traceback": traceback.format_exc(limit=4),
        }
    out["seconds"] = time.perf_counter() - t0
    return out


@dataclass
class _Tally:
    done: int = 0
    failed: int = 0
    results: list = field(default_factory=list)


def extract(
    manifest,
    params="ct",
    *,
    n_jobs: int = 1,
    label: int | None = None,
    prefix: str | None = None,
    progress: bool = True,
    return_details: bool = False,
):
    """Extract radiomic features for every case of a manifest; a failing case does not stop the others.

    Parameters
    ----------
    manifest : path or DataFrame
        One row per case with columns ``id``, ``image``, ``mask`` (paths relative to the manifest file
        resolve against its folder) and optionally ``label`` (per-case label value) and any other columns
        (``site``, ...), which are passed through to the output in front of the features.
    params : str, path, dict or ExtractionParams
        Preset name (``"ct"``, ``"ct-original"``, ``"mr"``), a pyradiomics parameter file, or a dict.
    n_jobs : int
        Worker processes; ``-1`` uses all cores. Larger images are scheduled first.
    label : int, optional
        Label value of the region (default: the manifest's ``label`` column, else the parameter file's).
    prefix : str, optional
        Prefix for feature columns (e.g. ``"ct"`` gives ``ct_original_glcm_Contrast``).
    progress : bool
        Show a progress bar (cases done / failed / ETA) on stderr.
    return_details : bool
        Also return the diagnostics table (pyradiomics' ``diagnostics_*`` values per case) and the errors
        table (``id, stage, error, message``).

    Returns
    -------
    DataFrame indexed by case id (index name ``id``): passthrough columns, then features. A failed case is
    a row of NaN features. ``df.attrs["radiomix"]`` holds ``provenance`` (versions, parameter text and
    hash, per-case input hashes) and ``errors``. With ``return_details=True``:
    ``(features, diagnostics, errors)``.
    """
    params = load_params(params)
    mf = read_manifest(manifest)
    reserved = {"id", "image", "mask", "label"}
    passthrough = [c for c in mf.columns if c not in reserved]
    cases = []
    for cid, row in mf.iterrows():
        case_label = label
        if case_label is None and "label" in mf.columns and pd.notna(row["label"]):
            case_label = int(row["label"])
        cases.append((str(cid), row["image"], row["mask"], case_label))
    # Largest images first so that one big case does not finish the run alone.
    cases.sort(key=lambda c: -os.path.getsize(c[1]) if os.path.isfile(c[1]) else 0)

    from joblib import Parallel, delayed, effective_n_jobs

    workers = effective_n_jobs(n_jobs)
    jobs = [delayed(_run_case)(cid, im, mk, params, lab, workers > 1) for cid, im, mk, lab in cases]
    tally = _Tally()
    t0 = time.perf_counter()
    if workers == 1:
        stream = (j[0](*j[1], **j[2]) for j in jobs)
    else:
        stream = Parallel(n_jobs=workers, return_as="generator_unordered")(jobs)
    if progress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn("[bold]extracting[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("failed: {task.fields[failed]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=False,
        ) as bar:
            task = bar.add_task("extract", total=len(cases), failed=0)
            for res in stream:
                _collect(tally, res)
                bar.update(task, advance=1, failed=tally.failed)
    else:
        for res in stream:
            _collect(tally, res)
    wall = time.perf_counter() - t0

    by_id = {r["id"]: r for r in tally.results}
    feature_cols: list[str] = []
    seen: set[str] = set()
    for cid in mf.index:  # column order from the first successful case in manifest order
        feats = by_id[str(cid)]["features"]
        if feats:
            for k in feats:
                if k not in seen:
                    seen.add(k)
                    feature_cols.append(k)
    rows = np.full((len(mf), len(feature_cols)), np.nan)
    col_pos = {c: j for j, c in enumerate(feature_cols)}
    for i, cid in enumerate(mf.index):
        feats = by_id[str(cid)]["features"] or {}
        for k, v in feats.items():
            rows[i, col_pos[k]] = v
    names = [f"{prefix}_{c}" for c in feature_cols] if prefix else feature_cols
    features = pd.concat(
        [mf[passthrough].reset_index(drop=True), pd.DataFrame(rows, columns=names)], axis=1
    )
    features.index = pd.Index([str(c) for c in mf.index], name="id")

    errors = pd.DataFrame(
        [by_id[str(c)]["error"] for c in mf.index if by_id[str(c)]["error"]],
        columns=["id", "stage", "error", "message", "traceback"],
    )
    diagnostics = pd.DataFrame([{"id": str(c), **by_id[str(c)]["diagnostics"]} for c in mf.index]).set_index("id")
    import radiomics

    provenance = {
        "radiomix_version": __version__,
        "pyradiomics_version": str(radiomics.__version__),
        **params.provenance(),
        "prefix": prefix,
        "n_cases": len(mf),
        "n_failed": int(len(errors)),
        "wall_seconds": round(wall, 3),
        "inputs": {str(c): by_id[str(c)]["hashes"] for c in mf.index},
    }
    features.attrs["radiomix"] = {
        "provenance": provenance,
        "errors": errors.drop(columns="traceback").to_dict("records"),
    }
    if return_details:
        return features, diagnostics, errors
    return features


def _collect(tally: _Tally, res: dict):
    tally.results.append(res)
    tally.done += 1
    if res["error"]:
        tally.failed += 1


def write_extraction(features: pd.DataFrame, out: str | os.PathLike, diagnostics=None, errors=None) -> dict[str, Path]:
    """Write features (Parquet/CSV by suffix, atomically) plus sidecars ``<stem>.diagnostics.csv``,
    ``<stem>.errors.csv`` and ``<stem>.provenance.json`` next to it."""
    import json

    from ..io import atomic_write_text, write_table

    out = Path(out)
    meta = features.attrs.get("radiomix", {})
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    paths = {"features": write_table(features, out, metadata=meta.get("provenance"))}
    prov_path = out.with_name(f"{stem}.provenance.json")
    paths["provenance"] = atomic_write_text(prov_path, json.dumps(meta.get("provenance", {}), indent=2, default=str))
    if diagnostics is not None:
        paths["diagnostics"] = write_table(diagnostics, out.with_name(f"{stem}.diagnostics.csv"))
    if errors is not None:
        paths["errors"] = write_table(errors, out.with_name(f"{stem}.errors.csv"), index=False)
    return paths
