"""``radiomix robustness``: a thin command over radiomix.extraction.robustness and radiomix.reliability.icc."""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import click

from .console import console

#: The files ``radiomix robustness`` writes into its output folder.
OUTPUT_FILES = ("perturbations.parquet", "icc.csv", "perturbations.json")


@click.command()
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@click.option("--params", "-p", default="ct", show_default=True,
              help="pyradiomics parameter file or preset (ct, ct-original, mr).")
@click.option("--n", "n_perturbations", type=int, default=10, show_default=True,
              help="Perturbed versions per case (the original p00 comes on top).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the perturbation draws.")
@click.option("--spec", type=click.Path(exists=True, dir_okay=False), default=None,
              help="YAML/JSON overrides of the perturbation spec (chain, angle_deg, translation_fraction, "
                   "spacing_mm, noise_factor, volume_change, supervoxels, rotation_axis).")
@click.option("--label", default=None, help="Label of the ROI for every case, overriding the manifest.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Output folder: perturbations.parquet, icc.csv, perturbations.json.")
@click.option("--jobs", "-j", default=1, show_default=True, help="Local worker processes (-1 = all cores).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler address (e.g. tcp://10.0.0.5:8786): run the tasks on that cluster.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Cache of finished (case, perturbation) tasks: a re-run skips them.")
@click.option("--allow-failures", is_flag=True, help="Exit 0 even when some (case, perturbation) tasks failed.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it holds an earlier radiomix robustness output.")
@click.option("--max-image-bytes", type=float, default=None, metavar="BYTES",
              help="Largest decompressed image or mask accepted, checked from the file header before reading "
                   "(default 2 GiB or RADIOMIX_MAX_IMAGE_BYTES; 'inf' for no limit).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def robustness(manifest, params, n_perturbations, seed, spec, label, out, jobs, scheduler, cache_dir,
               allow_failures, overwrite, max_image_bytes, quiet):
    """Perturb every case of MANIFEST N times (rotation, translation, noise, ROI volume change; Zwanenburg et
    al. 2019), extract features from each version and rate each feature's robustness by ICC(1,1).

    \b
    Writes into OUT:
      perturbations.parquet  one row per (case, perturbation): id, perturbation, its parameters, features
      icc.csv                ICC(1,1) per feature over the perturbed rows (the original p00 left out)
      perturbations.json     spec, seed, software versions, parameters, ICC design
    The exit code is 1 when a (case, perturbation) failed, unless --allow-failures.
    """
    from ..extraction import perturbation_spec, read_manifest
    from ..extraction import robustness as run
    from ..outputs import check_output_folder

    if n_perturbations < 2:
        raise click.ClickException(f"--n {n_perturbations}: ICC needs at least 2 perturbations per case")
    t0 = time.perf_counter()
    try:
        check_output_folder(out, kind=KIND, overwrite=overwrite, inputs=[manifest, spec])
        spec_obj = perturbation_spec(spec)
        n_cases = read_manifest(manifest)["id"].nunique()
        if n_cases < 2:
            raise ValueError(f"{manifest} has {n_cases} case; ICC needs at least 2 cases")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table, errors = run(manifest, params, n_perturbations=n_perturbations, seed=seed, spec=spec_obj,
                                label=label, n_jobs=jobs, scheduler=scheduler, cache_dir=cache_dir,
                                progress=not quiet, return_details=True, max_image_bytes=max_image_bytes)
            rel = _icc(table)
    except (ValueError, FileNotFoundError, ImportError, OSError) as err:
        raise click.ClickException(str(err)) from err
    paths = _write_outputs(Path(out), table, rel, overwrite=overwrite)
    _report(table, rel, errors, caught, paths, time.perf_counter() - t0)
    if len(errors) and not allow_failures:
        sys.exit(1)


def _icc(table):
    """ICC over the perturbed rows (the original is not a draw of the perturbation distribution)."""
    from ..extraction.perturb import ORIGINAL_KIND
    from ..reliability import icc

    perturbed = table[table["kind"] != ORIGINAL_KIND]
    return icc(perturbed, case="id", features=table.attrs["radiomix"]["groups"]["radiomic"], form="auto")


#: The kind recorded in a robustness output folder's marker (:data:`radiomix.outputs.MARKER`).
KIND = "robustness"


def _write_outputs(out: Path, table, rel, *, overwrite: bool) -> dict[str, Path]:
    """All three files into a hidden folder beside ``out``, then moved into place: an interrupted run leaves
    no partial file behind (:class:`radiomix.outputs.staged_folder`)."""
    from ..io import write_table
    from ..outputs import staged_folder
    from ..runmeta import to_jsonable

    meta = table.attrs["radiomix"]
    prov = meta["provenance"]
    summary = {**prov, "icc_form": rel.attrs["form"], "icc_design": rel.attrs["design"],
               "icc_rows": "perturbed rows only (kind != 'original')", "n_features": len(meta["groups"]["radiomic"]),
               "errors": meta["errors"]}
    with staged_folder(out, kind=KIND, overwrite=overwrite) as tmp:
        write_table(table, tmp / OUTPUT_FILES[0], metadata={"provenance": prov, "groups": meta["groups"]}, index=False)
        write_table(rel, tmp / OUTPUT_FILES[1])
        (tmp / OUTPUT_FILES[2]).write_text(json.dumps(to_jsonable(summary), indent=2, default=str))
    return {name: out / name for name in OUTPUT_FILES}


def _report(table, rel, errors, caught, paths, wall: float) -> None:
    from rich.markup import escape

    con = console()
    prov = table.attrs["radiomix"]["provenance"]
    n_feat = len(table.attrs["radiomix"]["groups"]["radiomic"])
    for msg in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)):
        con.print(f"[yellow]warning:[/] {escape(msg)}", highlight=False)
    con.print(f"[green]wrote[/] {paths[OUTPUT_FILES[0]]} ({len(table)} rows = {prov['n_cases']} cases x "
              f"{len(table) // max(prov['n_cases'], 1)} versions, {n_feat} features) in {wall:.0f} s; "
              f"{prov['n_computed']} tasks computed, {prov['n_cached']} from cache", highlight=False)
    good = rel["icc"].notna()
    share = float((rel.loc[good, "ci_low"] > 0.75).mean()) if good.any() else float("nan")
    con.print(f"{escape(rel.attrs['design'])}", highlight=False)
    con.print(f"ICC per feature -> {paths[OUTPUT_FILES[1]]}: median {rel['icc'].median():.3f}; "
              f"{share:.0%} of {int(good.sum())} features have a 95% CI lower bound above 0.75", highlight=False)
    if len(errors):
        con.print(f"[red]{len(errors[['id', 'perturbation']].drop_duplicates())} (case, perturbation) task(s) "
                  f"failed[/] (rows of missing values; see {paths[OUTPUT_FILES[2]]}):")
        for _, e in errors.head(10).iterrows():
            con.print(f"  {e['id']}/{e['perturbation']}: {e['stage']}: {e['error']}: {escape(e['message'][:300])}",
                      highlight=False)


@click.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--config", "configs", multiple=True, metavar="KEY",
              help="Only these IBSI tests (digital/none, ct/A ... ct/E); repeatable. Default: all.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the per-feature table (CSV) here.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def ibsi(data_dir, configs, out, overwrite):
    """IBSI 1 conformance of the pyradiomics features radiomix extracts: extract the digital phantom and the
    CT phantom (configurations A-E where pyradiomics can express them) from DATA_DIR, compare with the
    consensus values at their precision, and print features mapped, matching and deviating, with the
    documented reason of each deviation.

    \b
    DATA_DIR holds ibsi_1_digital_phantom/, ibsi_1_ct_radiomics_phantom/ and reference_values/ (IBSI's
    data_sets repository layout; see radiomix.ibsi.PHANTOM_FILES).
    """
    from ..ibsi import run_conformance, summarize
    from ..outputs import check_output_file

    if out:
        check_output_file(out, overwrite=overwrite)
    try:
        table = run_conformance(data_dir, list(configs) or None)
    except (ValueError, FileNotFoundError, KeyError, OSError) as err:
        raise click.ClickException(str(err).strip("'\"")) from err
    click.echo(summarize(table).to_string(index=False))
    deviating = table[~table["match"].astype(bool)]
    for reason, rows in deviating.groupby(deviating["reason"].fillna("(no documented reason)"), sort=False):
        click.echo(f"\n{len(rows)} deviating ({', '.join(sorted(set(rows['config'])))}): {reason}")
    if out:
        from ..io import write_table

        write_table(table, out, index=False)
        click.echo(f"\nwrote {out}")


def register(group: click.Group) -> None:
    """Add ``robustness`` and ``ibsi`` to the ``radiomix`` group."""
    group.add_command(robustness)
    group.add_command(ibsi)
