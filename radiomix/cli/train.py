"""``radiomix train``, ``predict``, ``evaluate`` and ``demo``: thin commands over the public API."""

from __future__ import annotations

import time
import warnings

import click

from .console import console, print_warnings, read, safe_text, table_options
from .summary import print_headline, print_provenance, print_summary


@click.command()
@click.argument("table", type=click.Path(exists=True, dir_okay=False))
@click.option("--config", "-c", type=click.Path(exists=True, dir_okay=False),
              help="YAML config (default: params/train_default.yaml).")
@click.option("--target", help="Outcome column (overrides the config).")
@click.option("--id", "id_", help="Case-id column (overrides the config).")
@click.option("--batch", help="Site/batch column (overrides the config).")
@click.option("--groups", help="Patient/group column (overrides the config).")
@click.option("--time", "time_", help="Follow-up time column of a survival outcome (with --event).")
@click.option("--event", help="Event column of a survival outcome: 1 = event, 0 = censored (with --time).")
@click.option("--positive", help="Label of the positive class (overrides the config's positive).")
@click.option("--permutations", type=int, default=None,
              help="Permutation test of the whole nested CV with N permutations (overrides safeguards.permutations).")
@click.option("--robustness", type=click.Path(exists=True, dir_okay=False), default=None, metavar="TABLE",
              help="Repeated-measures table (radiomix robustness's perturbations.parquet): keep features whose ICC over "
                   "the training patients' repeats is high (select.robustness.table; other settings from the config).")
@click.option("--jobs", "-j", type=int, default=None, help="Parallel outer folds (overrides the config).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Override one config key by its dotted name, e.g. --set cv.outer.kind=grouped --set select.mrmr=10 "
                   "(VALUE read as YAML; repeatable; docs/configuration.md lists every key).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler address (e.g. tcp://10.0.0.5:8786): outer folds, baselines and permutations "
                   "run on that cluster.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Run folder: must be new, empty, or an earlier radiomix run (with --overwrite).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it holds an earlier radiomix run (and nothing else).")
@click.option("--trust-module", "trust_modules", multiple=True, metavar="MODULE",
              help="Let model.name import classes from MODULE (importing runs its code; only for packages you trust; "
                   "repeatable; also RADIOMIX_TRUST_MODULES). A config file cannot do this.")
@table_options
def train(table, config, target, id_, batch, groups, time_, event, positive, permutations, robustness, jobs,
          settings, scheduler, out, overwrite, trust_modules, decimal, encoding):
    """Nested cross-validation on TABLE, then the final model refit on all rows; writes metrics.json,
    folds.csv, oof_predictions.csv, config.resolved.yaml and model.skops into the run folder. A survival
    outcome: --time and --event (or target: {time:, event:} in the config)."""
    import warnings

    from ..config import ConfigError
    from ..train import train as run

    if (time_ is None) != (event is None):
        raise click.UsageError("a survival outcome needs both --time and --event")
    if time_ is not None:
        if target is not None:
            raise click.UsageError("--target names a binary outcome; --time/--event a survival one: give one of them")
        target = {"time": time_, "event": event}
    from ..outputs import check_output_folder
    from ..train import RUN_KIND

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_output_folder(out, kind=RUN_KIND, overwrite=overwrite, inputs=[table, config, robustness])
            # Every command-line setting is an override of the config file, applied once before the one validation.
            options = {"target": target, "id": id_, "batch": batch, "groups": groups, "n_jobs": jobs,
                       "positive": positive, "safeguards.permutations": permutations,
                       "select.robustness.table": robustness}
            overrides = {**parse_settings(settings, options), **options}
            res = run(read(table, decimal, encoding), config, out=out, overwrite=overwrite, scheduler=scheduler,
                      trusted_modules=list(trust_modules), **overrides)
    except (ConfigError, ValueError, OSError) as err:  # OSError: e.g. an unreachable --scheduler
        raise click.ClickException(str(err)) from err
    print_warnings(caught)
    print_summary(res.summary)
    print_headline(res.summary)
    console().print(f"run folder: [bold]{safe_text(out)}[/]")


def parse_settings(settings, options: dict) -> dict:
    """``--set KEY=VALUE`` pairs as dotted overrides (VALUE read as YAML, with the same limits as a config file);
    a key given twice, or also by its own option (``--target``...), is a usage error."""
    from ..config import NULL
    from ..safeyaml import YAMLInputError, load_yaml_text

    out = {}
    for item in settings:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set cv.outer.kind=grouped")
        if key in out or options.get(key) is not None:
            raise click.UsageError(f"--set {key}: this key is given twice on the command line")
        try:
            value = load_yaml_text(text, source=f"--set {key}") if text.strip() else None
        except YAMLInputError as err:
            raise click.UsageError(str(err)) from err
        out[key] = NULL if value is None else value  # --set batch=null sets null; an absent option changes nothing
    return out


@click.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("table", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Predictions (.csv/.parquet).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--unseen-site", type=click.Choice(["refuse", "unharmonized"]), default="refuse", show_default=True,
              help="Patients of a site ComBat cannot handle (unseen in training, or too few rows to estimate it): "
                   "refuse, or score them with the model trained without harmonization.")
@click.option("--trust", multiple=True, metavar="TYPE",
              help="Accept this type in the model file (only if you trust the file's author); repeatable.")
@table_options
def predict(model, table, out, overwrite, unseen_site, trust, decimal, encoding):
    """Apply a saved MODEL (model.skops from `radiomix train`) to TABLE.

    Checks that TABLE has the columns the model needs (missing ones are listed), ignores extra columns
    with a note, flags patients unlike any seen in training (novelty), and refuses sites the model
    cannot handle unless --unseen-site unharmonized.
    """
    import warnings

    from ..io import write_table
    from ..model import load_model
    from ..outputs import check_output_file

    con = console()
    check_output_file(out, overwrite=overwrite, inputs=[model, table], what="predictions file")
    try:
        m = load_model(model, trusted=list(trust))
        print_provenance(model, m)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pred = m.predict(read(table, decimal, encoding), unseen_site=unseen_site)
            write_table(pred, out, index=False)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    print_warnings(caught)
    if "prediction" in pred.columns or "proba" not in pred.columns and "predicted_class" in pred.columns:
        what = "predicted values" if "prediction" in pred.columns else \
            f"class probabilities {[c for c in pred.columns if c.startswith('proba_')]}"
        con.print(f"[green]wrote[/] {safe_text(out)}: {len(pred)} patients, {safe_text(what)}, "
                  f"{int(pred['novel'].sum())} flagged as novel")
        return
    if "risk" in pred.columns:  # survival: risk score, risk group, S(t) at the horizons
        surv = [c for c in pred.columns if c.startswith("surv_")]
        con.print(f"[green]wrote[/] {safe_text(out)}: {len(pred)} patients, {int((pred['risk_group'] == 'high').sum())} "
                  f"in the high-risk group (risk above {m.threshold:.3f}), survival probabilities {safe_text(surv)}, "
                  f"{int(pred['novel'].sum())} flagged as novel")
        return
    con.print(f"[green]wrote[/] {safe_text(out)}: {len(pred)} patients, {int(pred['label'].sum())} predicted positive "
              f"(threshold {m.threshold:.3f}), {int(pred['novel'].sum())} flagged as novel")


@click.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("tables", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--target", help="Outcome column of the external table(s).")
@click.option("--time", "time_", help="Follow-up time column (survival models, with --event).")
@click.option("--event", help="Event column, 1 = event, 0 = censored (survival models, with --time).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), help="Write all cohorts' metrics as JSON.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--bootstrap", default=2000, show_default=True, help="Bootstrap resamples for the CIs.")
@table_options
def evaluate(model, tables, target, time_, event, out, overwrite, bootstrap, decimal, encoding):
    """Score a saved MODEL on one or several external cohorts TABLES, each separately, with the same
    metrics and 95% CIs as the nested cross-validation (at the model's own threshold). Survival models:
    --time and --event instead of --target."""
    import json
    import warnings

    from ..io import atomic_write_text
    from ..model import load_model, score_external
    from ..runmeta import to_jsonable

    if (time_ is None) != (event is None) or (time_ is None) == (target is None):
        raise click.UsageError("give --target (binary, multiclass, regression) or both --time and --event (survival)")
    if time_ is not None:
        target = {"time": time_, "event": event}
    if out:
        from ..outputs import check_output_file

        check_output_file(out, overwrite=overwrite, inputs=[model, *tables], what="metrics file")
    m = load_model(model)
    print_provenance(model, m)
    results = {}
    for path in tables:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results[path] = score_external(m, read(path, decimal, encoding), target, n_bootstrap=bootstrap)
        except ValueError as err:
            raise click.ClickException(f"{path}: {err}") from err
        r = results[path]
        what = f"{r['n_positive']} positive" if "n_positive" in r else f"{r['n_events']} events" if "n_events" in r \
            else m.task
        console().rule(f"{safe_text(path)}: {r['n_samples']} patients, {safe_text(what)}")
        print_summary(r, folds=False, scope="performance on this external cohort")
    if out:
        atomic_write_text(out, json.dumps(to_jsonable(results), indent=2))
        console().print(f"[green]wrote[/] {safe_text(out)}")


@click.command()
@click.option("--out", "-o", default="radiomix_demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the cohort, features and run.")
@click.option("--patients", "-n", default=150, show_default=True, help="Number of synthetic patients.")
@click.option("--sites", "-s", default=3, show_default=True, help="Number of sites.")
@click.option("--jobs", "-j", default=-1, show_default=True, help="Processes for rendering and extraction.")
@click.option("--seed", default=0, show_default=True, help="Random seed of the cohort and the CV.")
@click.option("--signal", type=click.Choice(["mixed", "beyond_volume", "volume"]), default="mixed", show_default=True,
              help="Where the cohort's image signal comes from (radiomix.datasets.make_cohort).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it holds an earlier radiomix demo (and nothing else).")
def demo(out, patients, sites, jobs, seed, signal, overwrite):
    """The whole path on a synthetic multi-site cohort: make cohort -> extract -> merge -> ComBat -> imputation ->
    mRMR -> tuned L2 logistic regression in leave-one-site-out nested CV -> baselines -> held-out SHAP -> report
    (params/train_multisite.yaml)."""
    from ..demo import run_demo

    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:  # each distinct warning once, with its count
            warnings.simplefilter("always")
            warnings.filterwarnings("ignore", category=DeprecationWarning)  # libraries' own, not the user's business
            warnings.filterwarnings("always", category=DeprecationWarning, module="radiomix")
            res = run_demo(out, n_patients=patients, n_sites=sites, n_jobs=jobs, random_state=seed, signal=signal,
                           console=console(), overwrite=overwrite)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    print_warnings(caught)
    print_summary(res["train"].summary)
    con = console()
    con.print(f"demo finished in {time.perf_counter() - t0:.0f} s; files:")
    for k, v in res["paths"].items():
        con.print(f"  {k:<12} {v}")
    print_headline(res["train"].summary)




def register(group: click.Group) -> None:
    """Add train, predict, evaluate and demo to the ``radiomix`` group."""
    for command in (train, predict, evaluate, demo):
        group.add_command(command)
