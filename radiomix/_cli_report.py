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
def report(run_dir, table, out, n_bootstrap, top):
    """Write a self-contained HTML report (RUN_DIR/report.html, figures in RUN_DIR/figures/) for a run
    folder written by `radiomix train`: data, metrics with CIs, ROC, precision-recall, calibration,
    decision curve, confusion matrix, folds, sites, blocks, SHAP (with --table), config and versions."""
    from rich.console import Console

    from .report import write_report

    try:
        path = write_report(run_dir, table=table, out=out, n_bootstrap=n_bootstrap, top=top)
    except (FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    Console(stderr=True, soft_wrap=True).print(f"[green]wrote[/] {path}")


def register(group: click.Group) -> None:
    """Add the ``report`` command to the ``radiomix`` group."""
    group.add_command(report)
