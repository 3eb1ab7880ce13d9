"""Extraction over a manifest: plan the tasks, run them (cache, engines), assemble the feature table.

Features are exactly what ``radiomics.featureextractor.RadiomicsFeatureExtractor.execute`` returns for the
same parameter file; radiomix moves diagnostics into a separate table, adds provenance, isolates failures
per case, caches finished cases and runs cases in parallel (see :mod:`radiomix.extraction.case` for the
work it skips).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..io import file_sha256, input_size
from .cache import software_versions, task_key
from .case import Task, extract_case, run_task
from .engines import run_cached, run_tasks
from .images import ImageError, check_series_folder
from .images import max_image_bytes as resolve_max_bytes
from .labels import parse_labels
from .manifest import ManifestError, read_manifest
from .params import ExtractionParams, extractor, load_params

__all__ = ["ExtractionParams", "load_params", "extract_case", "extract", "check", "write_extraction", "sidecar_paths",
           "plan_tasks", "hash_inputs"]

_PARAM_KEYS = {"imageType", "featureClass", "setting", "voxelSetting"}
ERROR_COLUMNS = ["id", "modality", "region", "stage", "error", "message", "traceback"]


# --------------------------------------------------------------------------------------------- planning
def _is_params_mapping(params) -> bool:
    """A {modality: params} mapping, as opposed to one pyradiomics parameter dict."""
    return isinstance(params, Mapping) and not isinstance(params, ExtractionParams) and bool(params) \
        and not (set(params) & _PARAM_KEYS)


def plan_tasks(manifest, params, *, label=None, tolerance: float = 0.01, pyradiomics_diagnostics: bool = False,
               max_image_bytes: float | None = None):
    """Validate everything and build one :class:`Task` per case and modality; raise ManifestError listing
    every problem at once. Returns ``(manifest frame, tasks, modalities with several regions)``.

    ``max_image_bytes`` (None: :func:`~radiomix.extraction.images.max_image_bytes`, i.e. the environment
    variable ``RADIOMIX_MAX_IMAGE_BYTES`` or 2 GiB) is resolved here, once, and travels with every task.

    With repeated measurements (``session``/``rater`` columns) each (case, session, rater) is a unit of its
    own: its ``id`` in the returned frame and its tasks' ``case`` is a label ``<id>/session=<s>/rater=<r>``,
    and ``attrs["manifest"]["units"]`` maps each label back to ``(id, session, rater)`` values.
    """
    mf, problems = read_manifest(manifest, return_problems=True)
    mf = _unit_labels(mf, problems)
    try:
        limit = resolve_max_bytes(max_image_bytes)
    except ValueError as err:
        problems.append(str(err))
        limit = None
    meta = mf.attrs["manifest"]
    base = meta.get("base")
    loaded: dict[str, ExtractionParams] = {}

    def get_params(source, where):
        key = source if isinstance(source, (str, os.PathLike)) else id(source)
        if key in loaded:
            return loaded[key]
        try:
            p = load_params(source, base=base)
        except (ValueError, FileNotFoundError, OSError) as err:
            problems.append(f"{where}: {err}")
            p = None
        loaded[key] = p
        return p

    mapping = params if _is_params_mapping(params) else None
    if mapping is not None:
        unknown = sorted(set(mapping) - set(meta["modalities"]) - {"*", "default"})
        if unknown:
            problems.append(f"params given for modalities {unknown} that the manifest does not have "
                            f"(it has {meta['modalities']})")
    label_override = None
    if label is not None:
        try:
            label_override = parse_labels(label)
        except ValueError as err:
            problems.append(f"label argument: {err}")
    tasks: list[Task] = []
    for _, row in mf.iterrows():
        case, mod = row["id"], row["modality"]
        where = f"case {case}" + (f" ({mod})" if mod else "")
        if row.get("params") is not None and not (isinstance(row["params"], float) and np.isnan(row["params"])):
            if os.path.isabs(row["params"]) and not os.path.exists(row["params"]):
                p = None  # reported by read_manifest already
            else:
                p = get_params(row["params"], f"{where}: params {row['params']!r}")
        elif mapping is not None:
            src = mapping.get(mod, mapping.get("*", mapping.get("default")))
            if src is None:
                problems.append(f"{where}: no parameters for modality {mod!r}; params has {sorted(mapping)}")
                p = None
            else:
                p = get_params(src, f"params for modality {mod!r}")
        else:
            p = get_params(params, "params")
        try:
            regions = label_override if label_override is not None else parse_labels(row.get("label"))
        except ValueError:
            regions = []  # already reported by read_manifest
        tasks.append(Task(case=case, modality=mod, image=row["image"], mask=row["mask"], regions=list(regions),
                          params=p, tolerance=float(tolerance), pyradiomics_diagnostics=bool(pyradiomics_diagnostics),
                          max_image_bytes=limit))
    if problems:
        raise ManifestError(problems)
    # Region names enter column names only for a modality where some case has several regions.
    multi = {m for m in meta["modalities"] if any(len(t.regions) > 1 for t in tasks if t.modality == m)}
    for t in tasks:
        if t.modality in multi:
            if not t.regions:
                default = int(extractor(t.params).settings.get("label", 1))
                t.regions = [(f"label{default}", default)]
        else:
            t.regions = [("", lab) for _, lab in t.regions]
    return mf, tasks, multi


def _unit_labels(mf: pd.DataFrame, problems: list[str]) -> pd.DataFrame:
    """Repeated measurements: the ``id`` of each row replaced by its (case, session, rater) unit label."""
    meta = dict(mf.attrs["manifest"])
    repeats = meta.get("repeats") or []
    meta["units"] = {}
    if not repeats:
        mf.attrs["manifest"] = meta
        return mf
    labels = mf["id"].astype(str)
    for c in repeats:
        labels = labels + f"/{c}=" + mf[c].astype(str)
    keys = [tuple(x) for x in mf[["id", *repeats]].itertuples(index=False)]
    meta["units"] = dict(zip(labels, keys))
    if len(meta["units"]) != len(set(keys)):
        problems.append(f"case ids and {repeats} values give ambiguous labels (an id containing '/{repeats[0]}='?)")
    out = mf.copy()
    out["id"] = labels.to_numpy()
    out.index = pd.Index(out["id"].tolist())
    out.attrs["manifest"] = meta
    return out


def _split_units(features, diagnostics, errors, meta):
    """Repeated measurements: unit labels back to the case id, with the ``session``/``rater`` columns in
    front (features, diagnostics) or after ``id`` (errors)."""
    units, repeats = meta["units"], meta["repeats"]
    idx = features.index
    labels = idx.get_level_values("id") if isinstance(idx, pd.MultiIndex) else idx
    ids = [units[u][0] for u in labels]
    if isinstance(idx, pd.MultiIndex):
        features.index = pd.MultiIndex.from_arrays([ids, *[idx.get_level_values(n) for n in idx.names[1:]]],
                                                   names=idx.names)
    else:
        features.index = pd.Index(ids, name="id")
    for j, c in reversed(list(enumerate(repeats, start=1))):
        features.insert(0, c, [units[u][j] for u in labels])
        if len(errors):
            errors.insert(1, c, [units[u][j] for u in errors["id"]])
        if len(diagnostics):
            diagnostics.insert(0, c, [units[u][j] for u in diagnostics.index])
    if len(errors):
        errors["id"] = [units[u][0] for u in errors["id"]]
    if len(diagnostics):
        diagnostics.index = pd.Index([units[u][0] for u in diagnostics.index], name="id")
    return features, diagnostics, errors


def _safe_to_hash(path: str) -> bool:
    """False for what must not be hashed: a folder that :func:`~radiomix.extraction.images.check_series_folder`
    refuses (hashing it could read a whole file system: ``image: /usr``) and anything that is neither a folder
    nor a regular file (``/dev/zero`` never ends). Its case is refused, naming the path, when it runs."""
    if not os.path.isdir(path):
        return os.path.isfile(path) or not os.path.exists(path)
    try:
        check_series_folder(path)
    except ImageError:
        return False
    return True


def hash_inputs(tasks: list[Task], versions: dict, n_threads: int = 4) -> None:
    """SHA-256 of every input file (once per file, in threads: hashlib releases the GIL), cache keys, sizes.

    A folder is hashed only when it passes the bounded DICOM-folder scan; one that fails gets no hash (its
    task no cache key) and its case fails when run, naming the folder."""
    paths = sorted({p for t in tasks for p in (t.image, t.mask)})

    def one(p):
        if not _safe_to_hash(p):
            return p, None, 0
        try:
            return p, file_sha256(p), input_size(p)
        except OSError:
            return p, None, 0

    with ThreadPoolExecutor(max_workers=min(n_threads, max(1, len(paths)))) as pool:
        found = {p: (h, s) for p, h, s in pool.map(one, paths)}
    for t in tasks:
        (hi, si), (hm, sm) = found[t.image], found[t.mask]
        t.hashes = {"image_sha256": hi, "mask_sha256": hm}
        t.size = si + sm
        t.key = task_key(image_sha256=hi, mask_sha256=hm, params_sha256=t.params.sha256, regions=t.regions,
                         tolerance=t.tolerance, pyradiomics_diagnostics=t.pyradiomics_diagnostics,
                         versions=versions) if hi and hm else ""


def _expected_names(params: ExtractionParams, value: int) -> list[str]:
    """Feature names these parameters produce, from a small synthetic sphere (used only when every case of
    a modality/region failed, so that the table keeps its columns)."""
    import SimpleITK as sitk

    from .masks import Region, label_stats

    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:40, :40, :40]
    sphere = ((z - 20) ** 2 + (y - 20) ** 2 + (x - 20) ** 2) < 100
    img = sitk.GetImageFromArray((rng.normal(40, 30, sphere.shape) + 60 * sphere).astype(np.int16))
    msk = sitk.GetImageFromArray(sphere.astype(np.uint8) * np.uint8(value))
    try:
        from .case import pyradiomics_features

        feats, _ = pyradiomics_features(img, Region("", value, mask=msk, value=value, stats=label_stats(msk)), params)
        return list(feats)
    except Exception:
        return []


# --------------------------------------------------------------------------------------------- extract
def extract(
    manifest,
    params="ct",
    *,
    n_jobs: int = 1,
    scheduler=None,
    cache_dir: str | os.PathLike | None = None,
    label: int | str | None = None,
    prefix: str | None = None,
    regions: str = "columns",
    drop_failed: bool = False,
    geometry_tolerance: float = 0.01,
    pyradiomics_diagnostics: bool = False,
    max_image_bytes: float | None = None,
    progress: bool = True,
    return_details: bool = False,
):
    """Extract radiomic features for every case of a manifest; a failing case does not stop the others.

    Parameters
    ----------
    manifest : path (CSV, TSV, Parquet) or DataFrame
        One row per case (``id, image, mask``), several modalities side by side (``id, image_ct,
        image_pet, mask`` or ``mask_ct, mask_pet``) or one row per case and modality (``id, modality,
        image, mask``); optional ``label`` (one or several label values or DICOM ROI/segment names,
        ``"1;2"``, ``"tumor=1;node=2"``), ``params`` (parameter file per row) and any other columns
        (``site``...), passed through in front of the features. Repeated measurements of a case (test-retest
        scans, several observers' masks): rows with the same ``id`` told apart by a ``session`` and/or
        ``rater`` column. See :func:`radiomix.extraction.manifest.read_manifest`.
    params : str, path, dict, ExtractionParams, or a mapping {modality: any of these}
        Preset name (``"ct"``, ``"ct-original"``, ``"mr"``), a pyradiomics parameter file, or a dict.
        A manifest ``params`` column overrides it per row.
    n_jobs : int
        Local worker processes; ``-1`` uses all cores. Larger cases start first.
    scheduler : str or distributed.Client, optional
        Run on a Dask cluster instead (a scheduler address such as ``"tcp://10.0.0.5:8786"`` or a
        ``Client``). Same results as local processes; workers need radiomix installed and read the image
        paths themselves (shared file system).
    cache_dir : path, optional
        Keep every finished case there (atomically, keyed by the hashes of its input files, its parameters
        and the pyradiomics version). A re-run, also after the process was killed, skips cached cases and
        recomputes those whose inputs or parameters changed.
    label : int or str, optional
        Label(s) for every case, overriding the manifest's ``label`` column.
    prefix : str, optional
        Prefix for feature columns (e.g. ``"ct"`` gives ``ct_original_glcm_Contrast``). Multi-modal
        manifests always prefix the modality (``ct_..., pet_...``) and, where a case has several regions,
        the region (``ct_label2_...``); ``prefix`` then goes in front of both.
    regions : {"columns", "rows"}
        Several regions per case: region-named columns on one row per case (default), or one row per case
        and region (index ``id, region``).
    drop_failed : bool
        Drop the rows of cases that have any error (default: keep them as rows of missing values).
    geometry_tolerance : float
        How far (in image voxels) a mask's voxel centres may lie from the image's voxel lattice and still be
        resampled nearest-neighbour onto the image (with a warning); beyond it the case fails naming both
        geometries. ``inf`` resamples any mask.
    pyradiomics_diagnostics : bool
        Run pyradiomics unmodified, with its own ``diagnostics_*`` (image hashes, full-image statistics).
        Same features, slower.
    max_image_bytes : float, optional
        Refuse (per case, from the file header, before decompressing anything) an image or mask whose voxels
        would take more bytes than this; default: the environment variable ``RADIOMIX_MAX_IMAGE_BYTES``, else
        2 GiB. ``inf`` lifts the limit. (A 2 MB gzip NRRD can declare 2.4 GB of voxels.)
    progress : bool
        Show a progress bar (cases done / failed / cached / ETA) on stderr.
    return_details : bool
        Also return the diagnostics table (one row per case, modality and region) and the errors table
        (``id, modality, region, stage, error, message, traceback``).

    Returns
    -------
    DataFrame indexed by case id (index name ``id``): passthrough columns, then features; with repeated
    measurements one row per (case, session, rater), the ``session``/``rater`` columns first (the index then
    repeats the case id; the errors and diagnostics tables carry the same columns). A failed case is
    a row of NaN features with the same columns as a successful one. ``df.attrs["radiomix"]`` holds
    ``provenance`` (versions, parameter text and hash, per-case input hashes, engine), ``errors`` and the
    column ``groups``. With ``return_details=True``: ``(features, diagnostics, errors)``.
    """
    if regions not in ("columns", "rows"):
        raise ValueError(f"regions must be 'columns' or 'rows', got {regions!r}")
    mf, tasks, multi = plan_tasks(manifest, params, label=label, tolerance=geometry_tolerance,
                                  pyradiomics_diagnostics=pyradiomics_diagnostics, max_image_bytes=max_image_bytes)
    meta = mf.attrs["manifest"]
    versions = software_versions()
    hash_inputs(tasks, versions)
    results, engine, n_cached = run_cached(tasks, run_task, cache_dir, key_of=lambda t: (t.case, t.modality),
                                           n_jobs=n_jobs, scheduler=scheduler, progress=progress)
    features, diagnostics, errors = _assemble(mf, tasks, results, multi, prefix=prefix, regions=regions)
    warn_lines = [w for t in tasks for w in results[(t.case, t.modality)].get("warnings", [])]
    failed_cases = sorted(set(errors["id"])) if len(errors) else []
    dropped = failed_cases if drop_failed else []
    features = _drop_cases(features, dropped) if dropped else features
    if meta["repeats"]:
        features, diagnostics, errors = _split_units(features, diagnostics, errors, meta)
    provenance = {
        "radiomix_version": __version__,
        "pyradiomics_version": versions["pyradiomics"],
        "versions": versions,
        **_params_provenance(tasks, meta["layout"]),
        "manifest_layout": meta["layout"],
        "modalities": meta["modalities"],
        "prefix": prefix,
        "regions": regions,
        "geometry_tolerance": geometry_tolerance,
        "pyradiomics_diagnostics": pyradiomics_diagnostics,
        "max_image_bytes": tasks[0].max_image_bytes,
        "n_cases": len({k[0] for k in meta["units"].values()}) if meta["repeats"] else int(mf["id"].nunique()),
        "repeats": meta["repeats"],
        "n_tasks": len(tasks),
        "n_failed": int(len(failed_cases)),
        "n_errors": int(len(errors)),
        "n_cached": n_cached,
        "n_computed": len(tasks) - n_cached,
        "n_warnings": len(warn_lines),
        "dropped_failed_cases": dropped,
        "missing_modalities": _missing_modalities(mf, tasks),
        "cache_dir": str(Path(cache_dir).resolve()) if cache_dir is not None else None,
        **{f"engine_{k}": v for k, v in engine.items()},
        "inputs": _input_hashes(tasks),
    }
    features.attrs["radiomix"] = {
        "provenance": provenance,
        "errors": errors.drop(columns="traceback").to_dict("records"),
        "groups": {"radiomic": [c for c in features.columns if c not in meta["passthrough"]
                                and c not in meta["repeats"]], "clinical": [],
                   "genetic": []},
        "warnings": warn_lines,
    }
    if warn_lines:
        warnings.warn(_warning_text(warn_lines), UserWarning, stacklevel=2)
    if return_details:
        return features, diagnostics, errors
    return features


def _warning_text(warn_lines: list[str]) -> str:
    """The first three warnings of a run, and how many more there are."""
    more = f" (and {len(warn_lines) - 3} more; see the diagnostics table)" if len(warn_lines) > 3 else ""
    return "; ".join(warn_lines[:3]) + more


def _drop_cases(features: pd.DataFrame, cases: list) -> pd.DataFrame:
    """``features`` without the rows of ``cases`` (index ``id``, or ``id, region``)."""
    level = features.index.get_level_values("id") if isinstance(features.index, pd.MultiIndex) else features.index
    return features.loc[~level.isin(cases)]


def _params_provenance(tasks: list[Task], layout: str) -> dict:
    """Provenance of the parameters: the first parameter set's, all of them when they differ, and which
    modality used which (by hash)."""
    params_used = {}
    for t in tasks:
        params_used.setdefault(t.params.sha256, t.params)
    by_modality = {}
    for t in tasks:
        by_modality.setdefault(t.modality, t.params.sha256)
    first = next(iter(params_used.values()))
    return {
        **first.provenance(),
        "params": {sha: p.provenance() for sha, p in params_used.items()} if len(params_used) > 1 else None,
        "params_by_modality": by_modality if layout != "single" else None,
    }


def _input_hashes(tasks: list[Task]) -> dict[str, dict]:
    """Per case: ``[<modality>_]image_sha256`` and ``[<modality>_]mask_sha256``."""
    inputs: dict[str, dict] = {}
    for t in tasks:
        pre = f"{t.modality}_" if t.modality else ""
        inputs.setdefault(t.case, {}).update({f"{pre}image_sha256": t.hashes["image_sha256"],
                                              f"{pre}mask_sha256": t.hashes["mask_sha256"]})
    return inputs


def _missing_modalities(mf: pd.DataFrame, tasks: list[Task]) -> dict[str, list]:
    """Wide layout: for each modality the cases that lack it (modalities every case has are left out)."""
    meta = mf.attrs["manifest"]
    acquired = {(t.case, t.modality) for t in tasks}
    missing_mod = {m: [c for c in dict.fromkeys(mf["id"]) if (c, m) not in acquired]
                   for m in meta["modalities"] if meta["layout"] == "wide"}
    return {m: c for m, c in missing_mod.items() if c}


def _assemble(mf, tasks, results, multi, *, prefix, regions):
    meta = mf.attrs["manifest"]
    cases = list(dict.fromkeys(mf["id"]))
    passthrough = meta["passthrough"]
    pass_rows = mf.drop_duplicates("id").set_index("id")[passthrough] if passthrough else None
    by_rows = regions == "rows"

    def group_of(mod, reg):  # which block of columns a (modality, region) goes to
        return (mod,) if by_rows else (mod, reg)

    def colname(group, feat):
        parts = [prefix] if prefix else []
        parts += [p for p in group if p]
        return "_".join(parts + [feat])

    # Column blocks: modalities in manifest order, regions in first-seen order, features as pyradiomics
    # orders them, taken from the first successful case in manifest order.
    blocks: dict[tuple, list[str]] = {}
    seen: dict[tuple, set] = {}
    row_keys: list = []
    for t in tasks:
        for reg, _ in t.regions:
            blocks.setdefault(group_of(t.modality, reg), [])
            seen.setdefault(group_of(t.modality, reg), set())
    for c in cases:
        for t in (t for t in tasks if t.case == c):
            res = results[(t.case, t.modality)]
            for reg, feats in res["features"].items():
                g = group_of(t.modality, reg)
                blocks.setdefault(g, [])
                s = seen.setdefault(g, set())
                for k in feats:
                    if k not in s:
                        s.add(k)
                        blocks[g].append(k)
    for g, names in blocks.items():
        if not names:  # every case failed there: keep the columns all the same
            t = next(t for t in tasks if t.modality == g[0] and (by_rows or any(r == g[1] for r, _ in t.regions)))
            value = next((v for _, v in t.regions if isinstance(v, int)), None)
            value = value if value is not None else int(extractor(t.params).settings.get("label", 1))
            blocks[g] = _expected_names(t.params, value)
    if by_rows:
        for c in cases:
            regs = []
            for t in tasks:
                if t.case == c:
                    for reg, _ in t.regions:
                        if reg not in regs:
                            regs.append(reg)
            row_keys += [(c, r) for r in regs]
    else:
        row_keys = cases
    col_index, names = {}, []
    for g, feats in blocks.items():
        for f in feats:
            col_index[(g, f)] = len(names)
            names.append(colname(g, f))
    row_pos = {k: i for i, k in enumerate(row_keys)}
    values = np.full((len(row_keys), len(names)), np.nan)
    err_rows, diag_rows = [], []
    for t in tasks:
        res = results[(t.case, t.modality)]
        for reg, feats in res["features"].items():
            g = group_of(t.modality, reg)
            i = row_pos[(t.case, reg) if by_rows else t.case]
            for k, v in feats.items():
                values[i, col_index[(g, k)]] = np.nan if v is None else v
        for e in res["errors"]:
            err_rows.append({c: e.get(c, "") for c in ERROR_COLUMNS})
        for d in res["diagnostics"]:
            diag_rows.append({"id": t.case, "modality": t.modality, "cached": bool(res.get("cached")), **d})
        if not res["diagnostics"] and not res["errors"]:
            diag_rows.append({"id": t.case, "modality": t.modality, "cached": bool(res.get("cached"))})
    feats_df = pd.DataFrame(values, columns=names)
    if by_rows:
        index = pd.MultiIndex.from_tuples(row_keys, names=["id", "region"])
        pt = pass_rows.loc[[c for c, _ in row_keys]].reset_index(drop=True) if passthrough else None
    else:
        index = pd.Index(cases, name="id")
        pt = pass_rows.loc[cases].reset_index(drop=True) if passthrough else None
    features = pd.concat([pt, feats_df], axis=1) if pt is not None else feats_df
    features.index = index
    errors = pd.DataFrame(err_rows, columns=ERROR_COLUMNS)
    diagnostics = pd.DataFrame(diag_rows)
    if len(diagnostics):
        diagnostics = diagnostics.set_index("id")
    return features, diagnostics, errors


# --------------------------------------------------------------------------------------------- check
def check(manifest, params="ct", *, label: int | str | None = None, n_jobs: int = 1,
          geometry_tolerance: float = 0.01, max_image_bytes: float | None = None,
          progress: bool = False) -> pd.DataFrame:
    """Validate a manifest (all problems at once, :class:`~radiomix.extraction.manifest.ManifestError`) and return a geometry
    QA table without extracting anything: one row per case, modality and region with image and mask
    size and spacing, whether their grids agree (origin, spacing, direction, offset in voxels), the label
    values present, ROI voxel count and slices (and empty slices inside the ROI's range), and ``status``
    (``ok``, ``warning`` or ``error``) with a ``message``.
    """
    from .qa import qa_task

    mf, tasks, _ = plan_tasks(manifest, params, label=label, tolerance=geometry_tolerance, pyradiomics_diagnostics=False,
                              max_image_bytes=max_image_bytes)
    rows: dict[tuple, list] = {}

    def on_result(task, res):
        rows[(task.case, task.modality)] = res

    for t in tasks:  # a refused folder is not walked here; qa_task reports it
        t.size = sum(input_size(p) if _safe_to_hash(p) else 0 for p in (t.image, t.mask))
    run_tasks(tasks, qa_task, on_result, n_jobs=n_jobs, progress=progress, title="checking")
    out = [r for t in tasks for r in rows[(t.case, t.modality)]]
    return pd.DataFrame(out).set_index("id")


# --------------------------------------------------------------------------------------------- writing
def sidecar_paths(out: str | os.PathLike) -> dict[str, Path]:
    """Where :func:`write_extraction` puts the sidecars of ``out``."""
    out = Path(out)
    name = out.name
    for suf in (".parquet", ".pq", ".csv.gz", ".tsv.gz", ".csv", ".tsv", ".txt"):
        if name.lower().endswith(suf):
            name = name[: -len(suf)]
            break
    return {k: out.with_name(f"{name}.{k}{ext}") for k, ext in
            (("diagnostics", ".csv"), ("errors", ".csv"), ("provenance", ".json"), ("qa", ".csv"))}


def write_extraction(features: pd.DataFrame, out: str | os.PathLike, diagnostics=None, errors=None) -> dict[str, Path]:
    """Write features (Parquet/CSV by suffix, atomically) plus sidecars ``<stem>.diagnostics.csv``,
    ``<stem>.errors.csv`` and ``<stem>.provenance.json`` next to it (Parquet also carries the provenance
    in its schema metadata)."""
    from ..io import atomic_write_text, write_table

    out = Path(out)
    meta = features.attrs.get("radiomix", {})
    side = sidecar_paths(out)
    paths = {}
    prov = meta.get("provenance", {})
    paths["provenance"] = atomic_write_text(side["provenance"], json.dumps(prov, indent=2, default=str))
    if diagnostics is not None:
        paths["diagnostics"] = write_table(diagnostics, side["diagnostics"])
    if errors is not None:
        paths["errors"] = write_table(errors, side["errors"], index=False)
    # The feature table last: when it exists, its sidecars are complete.
    paths["features"] = write_table(features, out, metadata={"provenance": prov, "groups": meta.get("groups")}
                                    if prov else None)
    return paths

