"""``radiomix extract`` and ``radiomix merge``: thin commands over radiomix.extract and radiomix.merge."""

from __future__ import annotations

import sys
from pathlib import Path

import click


def _console():
    from rich.console import Console

    return Console(stderr=True)


@click.command()
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@click.option("--params", "-p", default="ct", show_default=True,
              help="pyradiomics parameter file, or a preset: ct, ct-original, mr.")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False),
              help="Output table (.parquet, .csv or .tsv); sidecars <stem>.diagnostics.csv, .errors.csv, "
                   ".provenance.json go next to it.")
@click.option("--jobs", "-j", default=1, show_default=True, help="Worker processes (-1 = all cores).")
@click.option("--label", type=int, default=None, help="Mask label value (default: manifest 'label' column or params).")
@click.option("--prefix", default=None, help="Prefix for feature columns, e.g. 'ct'.")
@click.option("--allow-failures", is_flag=True, help="Exit 0 even when some cases failed.")
def extract(manifest, params, out, jobs, label, prefix, allow_failures):
    """Extract radiomic features for every case of MANIFEST (CSV/TSV/Parquet with id, image, mask[, site...]).

    A failing case becomes a row of missing values plus a line in <stem>.errors.csv; the others finish.
    """
    from .extraction import extract as run
    from .extraction import write_extraction
    from .io import ManifestError

    con = _console()
    try:
        feats, diag, errors = run(manifest, params, n_jobs=jobs, label=label, prefix=prefix, return_details=True)
    except (ManifestError, ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    paths = write_extraction(feats, out, diagnostics=diag, errors=errors)
    from .tables import column_groups

    n_feat = len(column_groups(feats)["radiomic"])
    con.print(f"[green]wrote[/] {paths['features']} ({len(feats)} cases x {n_feat} features)")
    if len(errors):
        con.print(f"[red]{len(errors)} case(s) failed[/] (see {paths['errors']}):")
        for _, e in errors.head(10).iterrows():
            con.print(f"  {e['id']}: {e['stage']}: {e['error']}: {e['message']}")
        if not allow_failures:
            sys.exit(1)


@click.command()
@click.argument("radiomics", type=click.Path(exists=True, dir_okay=False))
@click.option("--clinical", type=click.Path(exists=True, dir_okay=False), help="Clinical table.")
@click.option("--genetic", type=click.Path(exists=True, dir_okay=False), help="Genetic table.")
@click.option("--on", default="id", show_default=True, help="Case-id column shared by the tables.")
@click.option("--how", type=click.Choice(["outer", "inner", "left"]), default="outer", show_default=True,
              help="Which ids to keep: outer keeps all (missing values where a table lacks an id).")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Merged table (.parquet/.csv).")
def merge(radiomics, clinical, genetic, on, how, out):
    """Join a RADIOMICS table with clinical and genetic tables on the case id."""
    import json

    from .io import atomic_write_text, write_table
    from .tables import merge as run

    try:
        table = run(radiomics, clinical, genetic, on=on, how=how)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    meta = table.attrs["radiomix"]
    write_table(table, out, metadata=meta)
    p = Path(out)
    atomic_write_text(p.with_name(p.name[: -len(p.suffix)] + ".groups.json"), json.dumps(meta, indent=2))
    g = meta["groups"]
    _console().print(f"[green]wrote[/] {out}: {len(table)} cases; {len(g['radiomic'])} radiomic, "
                     f"{len(g['clinical'])} clinical, {len(g['genetic'])} genetic columns")




def register(group: click.Group) -> None:
    """Add the extraction-side commands to the ``radiomix`` group."""
    group.add_command(extract)
    group.add_command(merge)
