"""``radiomix`` command line: a thin shell over the public API (extract, merge, train, demo)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from . import __version__


def _console():
    from rich.console import Console

    return Console(stderr=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="radiomix")
def main():
    """radiomix: images + masks -> radiomic features -> harmonized, imputed, selected -> nested-CV models.

    \b
    Start with:  radiomix demo --out radiomix_demo
    """


@main.command()
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


@main.command()
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


@main.command()
@click.argument("table", type=click.Path(exists=True, dir_okay=False))
@click.option("--config", "-c", type=click.Path(exists=True, dir_okay=False),
              help="YAML config (default: params/train_default.yaml).")
@click.option("--target", help="Outcome column (overrides the config).")
@click.option("--id", "id_", help="Case-id column (overrides the config).")
@click.option("--batch", help="Site/batch column (overrides the config).")
@click.option("--groups", help="Patient/group column (overrides the config).")
@click.option("--jobs", "-j", type=int, default=None, help="Parallel outer folds (overrides the config).")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Run folder.")
def train(table, config, target, id_, batch, groups, jobs, out):
    """Nested cross-validation on TABLE; writes metrics.json, folds.csv, oof_predictions.csv and
    config.resolved.yaml into the run folder."""
    from .config import ConfigError
    from .train import train as run

    try:
        res = run(table, config, out=out, target=target, id=id_, batch=batch, groups=groups, n_jobs=jobs)
    except (ConfigError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    _print_summary(res.summary)
    _console().print(f"run folder: [bold]{out}[/]")


def _print_summary(summary: dict):
    from rich.table import Table

    t = Table(title="out-of-fold performance (95% bootstrap CI)")
    t.add_column("metric")
    t.add_column("estimate", justify="right")
    t.add_column("95% CI", justify="right")
    for m in ("auc", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "brier"):
        s = summary[m]
        t.add_row(m, f"{s['estimate']:.3f}", f"{s['ci_low']:.3f} - {s['ci_high']:.3f}")
    _console().print(t)
    f = summary["auc_folds"]
    _console().print(f"AUC per outer fold: {f['mean']:.3f} +- {f['sd']:.3f} (mean +- sd over {f['n']} folds)")


@main.command()
@click.option("--out", "-o", default="radiomix_demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the cohort, features and run.")
@click.option("--patients", "-n", default=150, show_default=True, help="Number of synthetic patients.")
@click.option("--sites", "-s", default=3, show_default=True, help="Number of sites.")
@click.option("--jobs", "-j", default=-1, show_default=True, help="Processes for rendering and extraction.")
@click.option("--seed", default=0, show_default=True, help="Random seed of the cohort and the CV.")
def demo(out, patients, sites, jobs, seed):
    """Whole path on a synthetic multi-site cohort: make cohort -> extract -> merge -> nested CV."""
    from .demo import run_demo

    t0 = time.perf_counter()
    res = run_demo(out, n_patients=patients, n_sites=sites, n_jobs=jobs, random_state=seed, console=_console())
    _print_summary(res["train"].summary)
    a = res["train"].summary["auc"]
    f = res["train"].summary["auc_folds"]
    con = _console()
    con.print(f"\n[bold green]out-of-fold AUC {a['estimate']:.3f}[/] (95% CI {a['ci_low']:.3f}-{a['ci_high']:.3f}; "
              f"per fold {f['mean']:.3f} +- {f['sd']:.3f}) in {time.perf_counter() - t0:.0f} s")
    for k, v in res["paths"].items():
        con.print(f"  {k:<12} {v}")


if __name__ == "__main__":  # pragma: no cover
    main()
