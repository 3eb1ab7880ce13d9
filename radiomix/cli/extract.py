"""``radiomix extract`` and ``radiomix merge``: thin commands over radiomix.extract and radiomix.merge."""

from __future__ import annotations

import re
import sys
import time
import warnings
from pathlib import Path

import click

from .console import console


def _params_arg(values: tuple[str, ...]):
    """``-p ct`` -> "ct"; ``-p ct=CT.yaml -p pet=PET.yaml`` -> {"ct": ..., "pet": ...}; a bare value beside
    ``MOD=FILE`` ones applies to the other modalities."""
    mapping, plain = {}, []
    for v in values:
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9.-]*)=(.+)$", v)
        if m and not Path(v).exists():
            mapping[m.group(1)] = m.group(2)
        else:
            plain.append(v)
    if len(plain) > 1:
        raise click.BadParameter(f"several parameter files without a modality: {plain}; write MOD=FILE",
                                 param_hint="--params")
    if not mapping:
        return plain[0] if plain else "ct"
    if plain:
        mapping["*"] = plain[0]
    return mapping


@click.command()
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@click.option("--params", "-p", multiple=True, default=("ct",), show_default=True,
              help="pyradiomics parameter file or preset (ct, ct-original, mr); per modality: -p ct=CT.yaml "
                   "-p pet=PET.yaml.")
@click.option("--out", "-o", type=click.Path(dir_okay=False),
              help="Output table (.parquet, .csv or .tsv), written atomically; sidecars <stem>.diagnostics.csv, "
                   ".errors.csv, .provenance.json go next to it. Required unless --check.")
@click.option("--jobs", "-j", default=1, show_default=True, help="Local worker processes (-1 = all cores).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler address (e.g. tcp://10.0.0.5:8786): run the cases on that cluster.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Cache of finished cases: a re-run (also after a crash or kill) skips them.")
@click.option("--label", default=None,
              help="Label(s) for every case, overriding the manifest: 2, '1;2', 'tumor=1;node=2', or a DICOM "
                   "ROI/segment name.")
@click.option("--prefix", default=None, help="Prefix for feature columns, e.g. 'ct'.")
@click.option("--regions", type=click.Choice(["columns", "rows"]), default="columns", show_default=True,
              help="Several regions per case: region-named columns, or one row per case and region.")
@click.option("--drop-failed", is_flag=True, help="Leave failed cases out of the table (default: rows of NaN).")
@click.option("--geometry-tolerance", type=float, default=0.01, show_default=True,
              help="Mask voxels may lie this far (image voxels) off the image lattice and be resampled "
                   "nearest-neighbour onto it; beyond, the case fails. 'inf' resamples any mask.")
@click.option("--pyradiomics-diagnostics", is_flag=True,
              help="Run pyradiomics unmodified with its own diagnostics (image hashes...); slower.")
@click.option("--allow-failures", is_flag=True, help="Exit 0 even when some cases failed.")
@click.option("--check", "check_only", is_flag=True,
              help="Only validate the manifest and write a geometry QA table (<stem>.qa.csv); no extraction.")
@click.option("--overwrite", is_flag=True, help="Replace --out (and its sidecars) if they exist.")
@click.option("--max-image-bytes", type=float, default=None, metavar="BYTES",
              help="Largest decompressed image or mask accepted, checked from the file header before reading "
                   "(default 2 GiB or RADIOMIX_MAX_IMAGE_BYTES; 'inf' for no limit).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def extract(manifest, params, out, jobs, scheduler, cache_dir, label, prefix, regions, drop_failed,
            geometry_tolerance, pyradiomics_diagnostics, allow_failures, check_only, overwrite, max_image_bytes,
            quiet):
    """Extract radiomic features for every case of MANIFEST (CSV/TSV/Parquet).

    \b
    MANIFEST layouts:
      id, image, mask[, label, site, ...]             one modality
      id, image_ct, image_pet, mask (or mask_ct, ...)  several modalities side by side
      id, modality, image, mask[, label]              one row per case and modality

    A failing case becomes a row of missing values plus a line in <stem>.errors.csv; the others finish.
    The exit code is 1 when a case failed, unless --allow-failures.
    """
    from ..extraction import check, sidecar_paths, write_extraction
    from ..extraction import extract as run
    from ..extraction.manifest import ManifestError
    from ..interrupts import raise_if_interrupted
    from ..io import write_table

    con = console()
    params_arg = _params_arg(params)
    targets = [sidecar_paths(out)["qa"]] if check_only and out else \
        [Path(manifest).with_name(Path(manifest).stem + ".qa.csv")] if check_only else \
        [out, *(p for k, p in sidecar_paths(out).items() if k != "qa")] if out else []
    _check_targets(targets, overwrite, inputs=[manifest])
    if check_only:
        try:
            qa = check(manifest, params_arg, label=label, n_jobs=jobs, geometry_tolerance=geometry_tolerance,
                       progress=not quiet, max_image_bytes=max_image_bytes)
        except (ManifestError, ValueError, FileNotFoundError) as err:
            raise click.ClickException(str(err)) from err
        target = sidecar_paths(out)["qa"] if out else Path(manifest).with_name(Path(manifest).stem + ".qa.csv")
        write_table(qa, target)
        n = qa["status"].value_counts()
        con.print(f"manifest OK: {qa.index.nunique()} cases; geometry QA: {n.get('ok', 0)} ok, "
                  f"{n.get('warning', 0)} warning(s), {n.get('error', 0)} error(s) -> {target}")
        for cid, r in qa[qa["status"] != "ok"].head(20).iterrows():
            where = "/".join(str(x) for x in (cid, r.get("modality"), r.get("region")) if x and x == x)
            con.print(f"  [{'red' if r['status'] == 'error' else 'yellow'}]{r['status']}[/] {where}: {r['message']}")
        if (qa["status"] == "error").any() and not allow_failures:
            sys.exit(1)
        return
    if not out:
        raise click.UsageError("--out is required (or use --check)")
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # printed below, once, with the summary
            feats, diag, errors = run(manifest, params_arg, n_jobs=jobs, scheduler=scheduler, cache_dir=cache_dir,
                                      label=label, prefix=prefix, regions=regions, drop_failed=drop_failed,
                                      geometry_tolerance=geometry_tolerance,
                                      pyradiomics_diagnostics=pyradiomics_diagnostics, progress=not quiet,
                                      return_details=True, max_image_bytes=max_image_bytes)
    except (ManifestError, ValueError, FileNotFoundError, ImportError) as err:
        raise click.ClickException(str(err)) from err
    raise_if_interrupted()  # a Ctrl-C a worker or library swallowed: nothing is written
    _check_targets(targets, overwrite, inputs=[manifest])  # nothing appeared meanwhile
    paths = write_extraction(feats, out, diagnostics=diag, errors=errors)
    meta = feats.attrs["radiomix"]
    prov = meta["provenance"]
    n_feat = len(meta["groups"]["radiomic"])
    wall = time.perf_counter() - t0
    con.print(f"[green]wrote[/] {paths['features']} ({len(feats)} rows x {n_feat} features) in {wall:.0f} s; "
              f"{prov['n_computed']} computed, {prov['n_cached']} from cache"
              + (f" ({prov['n_computed'] / wall * 60:.1f} cases/min)" if prov["n_computed"] and wall > 0 else ""))
    for w in meta.get("warnings", [])[:5]:
        con.print(f"[yellow]warning:[/] {w}")
    if len(meta.get("warnings", [])) > 5:
        con.print(f"[yellow]... {len(meta['warnings']) - 5} more warnings in {paths.get('diagnostics')}[/]")
    for mod, cases in (prov.get("missing_modalities") or {}).items():
        con.print(f"[yellow]note:[/] {len(cases)} case(s) have no {mod} image (left as missing values)")
    if len(errors):
        n_cases = errors["id"].nunique()
        fate = "dropped from the table" if drop_failed else "rows of missing values"
        con.print(f"[red]{n_cases} case(s) failed[/] ({len(errors)} error(s), {fate}; see {paths['errors']}):")
        for _, e in errors.head(10).iterrows():
            where = "/".join(x for x in (e["id"], e["modality"], e["region"]) if x and x != "*")
            con.print(f"  {where}: {e['stage']}: {e['error']}: {e['message'][:300]}")
        if len(errors) > 10:
            con.print(f"  ... {len(errors) - 10} more")
        if not allow_failures:
            sys.exit(1)


@click.command()
@click.argument("radiomics", type=click.Path(exists=True, dir_okay=False))
@click.option("--clinical", type=click.Path(exists=True, dir_okay=False), multiple=True,
              help="Clinical table (repeat for several).")
@click.option("--genetic", type=click.Path(exists=True, dir_okay=False), multiple=True,
              help="Genetic table (repeat for several).")
@click.option("--on", multiple=True, default=("id",), show_default=True,
              help="Case-id column shared by the tables; per group: --on id --on clinical=PatientID.")
@click.option("--how", type=click.Choice(["outer", "inner", "left"]), default="outer", show_default=True,
              help="Which ids to keep: outer keeps all (missing values where a table lacks an id); inner/left "
                   "drop ids and say how many.")
@click.option("--categorical", multiple=True, help="Force a clinical/genetic column to categorical (repeat).")
@click.option("--numeric", multiple=True, help="Force a clinical/genetic column to numeric (repeat).")
@click.option("--missing", "missing_values", multiple=True,
              help="Extra text that means 'not recorded' in the clinical/genetic tables (repeat).")
@click.option("--coerce-features", is_flag=True,
              help="Read non-numeric cells of numeric radiomic columns (#NAME? ...) as missing values.")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Merged table (.parquet/.csv).")
@click.option("--overwrite", is_flag=True, help="Replace --out (and its .groups.json) if they exist.")
def merge(radiomics, clinical, genetic, on, how, categorical, numeric, missing_values, coerce_features, out,
          overwrite):
    """Join a RADIOMICS table with clinical and genetic tables on the case id.

    Ids present in one table and absent in another are reported (never silently dropped); duplicate ids
    are refused; <stem>.groups.json records which columns are radiomic, clinical and genetic.
    """
    import json

    from ..io import atomic_write_text, write_table
    from ..tables import merge as run

    p = Path(out)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    _check_targets([p, p.with_name(stem + ".groups.json")], overwrite, inputs=[radiomics, *clinical, *genetic])
    on_arg: str | dict = on[-1] if on else "id"
    if any("=" in o for o in on):
        on_arg = {"*": next((o for o in on if "=" not in o), "id"), **dict(o.split("=", 1) for o in on if "=" in o)}
    try:
        table = run(radiomics, list(clinical) or None, list(genetic) or None, on=on_arg, how=how,
                    categorical=categorical, numeric=numeric, missing_values=missing_values,
                    coerce_radiomic=coerce_features)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    meta = table.attrs["radiomix"]
    write_table(table, out, metadata=meta)
    atomic_write_text(p.with_name(stem + ".groups.json"), json.dumps(meta, indent=2, default=str))
    g = meta["groups"]
    console().print(f"[green]wrote[/] {out}: {len(table)} cases; {len(g['radiomic'])} radiomic, "
                     f"{len(g['clinical'])} clinical, {len(g['genetic'])} genetic columns")


def _check_targets(paths, overwrite: bool, inputs) -> None:
    """Refuse (one line) to replace an existing output file without --overwrite, or an input file ever."""
    from ..outputs import OutputError, check_output_file

    try:
        for p in paths:
            check_output_file(p, overwrite=overwrite, inputs=inputs)
    except OutputError as err:
        raise click.ClickException(str(err)) from None


def register(group: click.Group) -> None:
    """Add the extraction-side commands to the ``radiomix`` group."""
    group.add_command(extract)
    group.add_command(merge)
