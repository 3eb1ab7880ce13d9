"""``radiomix report``: a thin command over radiomix.report.write_report."""

from __future__ import annotations

import click


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--table", "-t", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The training table (.parquet/.csv): adds SHAP explanations of the final model.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="Report file (default RUN_DIR/report.html).")
@click.option("--bootstrap", "n_bootstrap", type=int, default=500, show_default=True,
              help="Bootstrap resamples of the ROC band.")
@click.option("--top", type=int, default=15, show_default=True, help="Features shown in the SHAP plots.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists (the run folder's own report.html is "
              "always rewritten).")
@click.option("--trust", multiple=True, metavar="TYPE",
              help="Accept this type in model.skops (only if you trust the run's author); repeatable.")
def report(run_dir, table, out, n_bootstrap, top, overwrite, trust):
    """Write a self-contained HTML report (RUN_DIR/report.html, figures in RUN_DIR/figures/) for a run
    folder written by `radiomix train`: data, metrics with CIs, ROC, precision-recall, calibration,
    decision curve, confusion matrix, folds, sites, blocks, SHAP (with --table), config and versions."""
    from pathlib import Path

    from rich.console import Console

    from ..outputs import check_output_file, record_files
    from ..report import write_report

    try:
        if out is not None:
            check_output_file(out, overwrite=overwrite, inputs=[table], what="report file")
        path = write_report(run_dir, table=table, out=out, n_bootstrap=n_bootstrap, top=top, trusted=trust)
    except (FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    record_files(run_dir, [path, Path(run_dir) / "figures"])
    Console(stderr=True, soft_wrap=True).print(f"[green]wrote[/] {path}")


def register(group: click.Group) -> None:
    """Add the ``report`` command to the ``radiomix`` group."""
    group.add_command(report)
