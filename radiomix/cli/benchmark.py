"""``radiomix benchmark``: a thin command over radiomix.benchmark.run_benchmark."""

from __future__ import annotations

import click


@click.command()
@click.argument("tables", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--method", "-m", "methods", multiple=True, metavar="METHOD",
              help="A method to run (repeatable): 'default' (params/train_default.yaml), 'multisite', a radiomix "
                   "config path (named after its file) or NAME=PATH, or a reference: l1_logistic, random_forest, "
                   "radmlbench_grid. Default: default, l1_logistic, random_forest.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Benchmark folder (created; an earlier benchmark folder is resumed: finished results are reused).")
@click.option("--target", default="Target", show_default=True, help="Outcome column (binary) of every table.")
@click.option("--id", "id_", default="ID", show_default=True, help="Case-id column ('' for none).")
@click.option("--groups", default=None, help="Patient column: grouped outer folds (no patient on both sides).")
@click.option("--batch", default=None, help="Site column (never a feature; with --outer leave_site_out, site folds).")
@click.option("--outer", type=click.Choice(["stratified", "grouped", "leave_site_out"]), default="stratified",
              show_default=True, help="Outer folds (stratified becomes grouped with --groups).")
@click.option("--n-splits", type=int, default=5, show_default=True, help="Outer folds per repeat.")
@click.option("--n-repeats", type=int, default=2, show_default=True, help="Repeats of the outer folds.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the outer folds.")
@click.option("--time-limit", type=float, default=1800, show_default=True,
              help="Seconds per table x method; a pair past it is stopped and recorded as a timeout (0: none).")
@click.option("--jobs", "-j", type=int, default=1, show_default=True,
              help="Table x method pairs run at once, one process and one core each (-1: every core).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run the pairs on a Dask cluster (scheduler address, e.g. tcp://10.0.0.5:8786) instead of local "
                   "processes; needs radiomix[dask] and the tables readable by the workers.")
@click.option("--retry-timeouts", is_flag=True, help="Run again the pairs an earlier run recorded as timeouts.")
@click.option("--trust-module", "trusted", multiple=True, metavar="MODULE",
              help="A package whose classes a config's model.name may import (importing runs its code).")
def benchmark(tables, methods, out, target, id_, groups, batch, outer, n_splits, n_repeats, seed, time_limit, jobs,
              retry_timeouts, scheduler, trusted):
    """Compare radiomix configurations with scikit-learn reference procedures on many tables (files or folders
    of CSV/TSV/Parquet), every method on the same outer folds of a table; per table the mean AUC over folds with
    its CI and runtime, across tables mean ranks, wins/ties/losses, Friedman + Nemenyi (a CD diagram) and
    Wilcoxon-Holm against each reference. Writes OUT/summary.md, OUT/benchmark.html, OUT/results.csv and one
    result file per table x method (the resume cache)."""
    from rich.console import Console

    from ..benchmark import BenchmarkPlan, resolve_methods, run_benchmark
    from ..benchmark.render import summary_markdown

    # bad input (a method, a table, the folder) raises ValueError: one line and exit status 2 (radiomix's group)
    chosen = resolve_methods(methods or ("default", "l1_logistic", "random_forest"), trusted_modules=trusted)
    plan = BenchmarkPlan(target=target, id=id_ or None, groups=groups, batch=batch, outer=outer,
                         n_splits=n_splits, n_repeats=n_repeats, random_state=seed, time_limit=time_limit or None)
    res = run_benchmark(list(tables), chosen, out, plan=plan, n_jobs=jobs, retry_timeouts=retry_timeouts,
                        scheduler=scheduler)
    console = Console(stderr=False, soft_wrap=True)
    console.print(summary_markdown(res.summary), markup=False, highlight=False)
    console.print(f"benchmark: {res.computed} pair(s) computed, {res.reused} reused; wrote {res.files['html']}",
                  markup=False, highlight=False)


def register(group: click.Group) -> None:
    """Add the ``benchmark`` command to the ``radiomix`` group."""
    group.add_command(benchmark)
