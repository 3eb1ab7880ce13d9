"""``radiomix`` command line: a thin shell over the public API (extract, merge, train, demo)."""

from __future__ import annotations

import re
import sys
import time

import click

from . import __version__


def _table_options(fn):
    """--decimal and --encoding for commands that read tables (Excel exports: ';' and a decimal comma)."""
    fn = click.option("--encoding", default=None, help="Text encoding of the table(s), e.g. latin-1 (default UTF-8).")(fn)
    return click.option("--decimal", default=None, help="Decimal mark of the table(s), e.g. ',' for Excel exports.")(fn)


def _read(path, decimal=None, encoding=None):
    from .io import read_table

    return read_table(path, decimal=decimal, encoding=encoding)


def _console():
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)  # long lines (hashes, paths) are never broken by inserted newlines


def one_line(err: BaseException) -> str:
    """An exception as one line of text (line breaks and repeated spaces collapsed)."""
    text = " ".join(str(err).split("\n")).strip() or type(err).__name__
    return " ".join(text.split())


class InputError(click.ClickException):
    """Bad input (a table, a config, a model file, an output path): one line, exit status 2."""

    exit_code = 2


#: Errors that come from what the user gave radiomix, reported in one line with exit status 2.
INPUT_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, PermissionError, IsADirectoryError,
                NotADirectoryError, FileExistsError, UnicodeDecodeError)


#: Control characters (C0, DEL, C1) and Unicode bidirectional overrides: a text read from a file (a model's
#: provenance, a column name) could move the cursor, recolour or rewrite what the terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe_text(text) -> str:
    """``text`` as it may be printed to a terminal through rich: control characters (ANSI escapes, carriage
    returns, bidirectional overrides) shown as ``\\xNN`` and rich markup escaped."""
    from rich.markup import escape

    return escape(_CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), str(text)))


def _exit_interrupted(ctx=None):
    click.echo("radiomix: interrupted; no partial output was left as if complete", err=True)
    sys.exit(130)


class RadiomixGroup(click.Group):
    """The ``radiomix`` group: input errors become one line with exit status 2 (the traceback only with
    ``--debug``), Ctrl-C ends with status 130 after the command has cleaned up its partial output, also when a
    library swallowed the interrupt (:mod:`radiomix.interrupts`) or it came while click parsed the arguments."""

    def main(self, *args, **kwargs):
        from .interrupts import catch_interrupts, interrupted

        with catch_interrupts():
            try:
                rv = super().main(*args, standalone_mode=False, **kwargs)
            except click.exceptions.Abort as err:
                if isinstance(err.__context__, KeyboardInterrupt) or interrupted():
                    _exit_interrupted()
                click.echo("Aborted!", err=True)
                sys.exit(1)
            except click.ClickException as err:
                err.show()
                sys.exit(err.exit_code)
            except KeyboardInterrupt:
                _exit_interrupted()
            if interrupted():
                _exit_interrupted()
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx):
        from .interrupts import interrupted

        debug = bool(ctx.params.get("debug"))
        try:
            try:
                return super().invoke(ctx)
            except click.exceptions.Exit:
                raise
            except Exception:
                if interrupted():  # a library turned Ctrl-C into its own error (XGBoostError is a ValueError)
                    _exit_interrupted()
                raise
        except click.exceptions.Exit:
            raise
        except click.UsageError:
            raise
        except click.ClickException as err:
            if debug and err.__cause__ is not None:
                raise err.__cause__ from None
            err.exit_code = 2 if err.exit_code == 1 else err.exit_code
            err.message = one_line(err.message)
            raise
        except KeyboardInterrupt:
            _exit_interrupted()
        except INPUT_ERRORS as err:
            if debug:
                raise
            raise InputError(f"{one_line(err)} (--debug shows the traceback)") from err


@click.group(cls=RadiomixGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="radiomix")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
def main(debug):
    """radiomix: images + masks -> radiomic features -> harmonized, imputed, selected -> nested-CV models.

    \b
    Start with:  radiomix demo --out radiomix_demo
    """


@main.command()
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
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler address (e.g. tcp://10.0.0.5:8786): outer folds, baselines and permutations "
                   "run on that cluster.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Run folder: must be new, empty, or an earlier radiomix run (with --overwrite).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it holds an earlier radiomix run (and nothing else).")
@click.option("--trust-module", "trust_modules", multiple=True, metavar="MODULE",
              help="Let model.name import classes from MODULE (importing runs its code; only for packages you trust; "
                   "repeatable; also RADIOMIX_TRUST_MODULES). A config file cannot do this.")
@_table_options
def train(table, config, target, id_, batch, groups, time_, event, positive, permutations, robustness, jobs,
          scheduler, out, overwrite, trust_modules, decimal, encoding):
    """Nested cross-validation on TABLE, then the final model refit on all rows; writes metrics.json,
    folds.csv, oof_predictions.csv, config.resolved.yaml and model.skops into the run folder. A survival
    outcome: --time and --event (or target: {time:, event:} in the config)."""
    import warnings

    from .config import ConfigError
    from .train import train as run

    if (time_ is None) != (event is None):
        raise click.UsageError("a survival outcome needs both --time and --event")
    if time_ is not None:
        if target is not None:
            raise click.UsageError("--target names a binary outcome; --time/--event a survival one: give one of them")
        target = {"time": time_, "event": event}
    from .outputs import check_output_folder
    from .train import RUN_KIND

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_output_folder(out, kind=RUN_KIND, overwrite=overwrite, inputs=[table, config, robustness])
            cfg = config
            if permutations is not None or robustness is not None:
                from .config import load_config

                cfg = load_config(config, target=target, id=id_, batch=batch, groups=groups, n_jobs=jobs,
                                  positive=positive, trusted_modules=list(trust_modules))
                if permutations is not None:
                    cfg["safeguards"]["permutations"] = permutations
                if robustness is not None:
                    cfg["select"]["robustness"] = {**(cfg["select"]["robustness"] or {}), "table": robustness}
            res = run(_read(table, decimal, encoding), cfg, out=out, overwrite=overwrite, target=target, id=id_,
                      batch=batch, groups=groups, n_jobs=jobs, positive=positive, scheduler=scheduler,
                      trusted_modules=list(trust_modules))
    except (ConfigError, ValueError, OSError) as err:  # OSError: e.g. an unreachable --scheduler
        raise click.ClickException(str(err)) from err
    _print_warnings(caught)
    _print_summary(res.summary)
    _console().print(f"run folder: [bold]{safe_text(out)}[/]")


def _print_warnings(caught) -> None:
    """Each distinct warning once, with a count; the Study's notes first, as notes."""
    from collections import Counter

    con = _console()
    counts = Counter((type(w.message).__name__, str(w.message)) for w in caught)
    for (kind, msg), n in sorted(counts.items(), key=lambda kv: kv[0][0] != "StudyNote"):
        label = "note" if kind == "StudyNote" else f"warning ({kind})"
        con.print(f"[yellow]{label}:[/] {safe_text(msg)}" + (f" [dim](x{n})[/]" if n > 1 else ""), highlight=False,
                  soft_wrap=True)


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("table", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Predictions (.csv/.parquet).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--unseen-site", type=click.Choice(["refuse", "unharmonized"]), default="refuse", show_default=True,
              help="Patients of a site ComBat cannot handle (unseen in training, or too few rows to estimate it): "
                   "refuse, or score them with the model trained without harmonization.")
@click.option("--trust", multiple=True, metavar="TYPE",
              help="Accept this type in the model file (only if you trust the file's author); repeatable.")
@_table_options
def predict(model, table, out, overwrite, unseen_site, trust, decimal, encoding):
    """Apply a saved MODEL (model.skops from `radiomix train`) to TABLE.

    Checks that TABLE has the columns the model needs (missing ones are listed), ignores extra columns
    with a note, flags patients unlike any seen in training (novelty), and refuses sites the model
    cannot handle unless --unseen-site unharmonized.
    """
    import warnings

    from .io import write_table
    from .model import load_model
    from .outputs import check_output_file

    con = _console()
    check_output_file(out, overwrite=overwrite, inputs=[model, table], what="predictions file")
    try:
        m = load_model(model, trusted=list(trust))
        _print_provenance(model, m)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pred = m.predict(_read(table, decimal, encoding), unseen_site=unseen_site)
            write_table(pred, out, index=False)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    _print_warnings(caught)
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


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("tables", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--target", help="Outcome column of the external table(s).")
@click.option("--time", "time_", help="Follow-up time column (survival models, with --event).")
@click.option("--event", help="Event column, 1 = event, 0 = censored (survival models, with --time).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), help="Write all cohorts' metrics as JSON.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--bootstrap", default=2000, show_default=True, help="Bootstrap resamples for the CIs.")
@_table_options
def evaluate(model, tables, target, time_, event, out, overwrite, bootstrap, decimal, encoding):
    """Score a saved MODEL on one or several external cohorts TABLES, each separately, with the same
    metrics and 95% CIs as the nested cross-validation (at the model's own threshold). Survival models:
    --time and --event instead of --target."""
    import json
    import warnings

    from .evaluate import score_external
    from .io import atomic_write_text
    from .model import load_model
    from .runmeta import to_jsonable

    if (time_ is None) != (event is None) or (time_ is None) == (target is None):
        raise click.UsageError("give --target (binary, multiclass, regression) or both --time and --event (survival)")
    if time_ is not None:
        target = {"time": time_, "event": event}
    if out:
        from .outputs import check_output_file

        check_output_file(out, overwrite=overwrite, inputs=[model, *tables], what="metrics file")
    m = load_model(model)
    _print_provenance(model, m)
    results = {}
    for path in tables:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results[path] = score_external(m, _read(path, decimal, encoding), target, n_bootstrap=bootstrap)
        except ValueError as err:
            raise click.ClickException(f"{path}: {err}") from err
        r = results[path]
        what = f"{r['n_positive']} positive" if "n_positive" in r else f"{r['n_events']} events" if "n_events" in r \
            else m.task
        _console().rule(f"{safe_text(path)}: {r['n_samples']} patients, {safe_text(what)}")
        _print_summary(r, folds=False)
    if out:
        atomic_write_text(out, json.dumps(to_jsonable(results), indent=2))
        _console().print(f"[green]wrote[/] {safe_text(out)}")


def _print_provenance(path, model) -> None:
    """The model file's SHA-256 and its training provenance, to compare with what its authors published."""
    from .model import model_file_sha256

    v = dict(getattr(model, "versions", {}) or {})
    con = _console()
    con.print(f"model file SHA-256 {model_file_sha256(path)} (compare it with the hash the model's authors published)",
              highlight=False)
    # Everything below comes from the file: escaped, so it cannot forge the line above or break rich.
    con.print(f"trained {safe_text(v.pop('trained', '?'))} on data SHA-256 "
              f"{safe_text(getattr(model, 'data_sha256', None) or '?')}; "
              + ", ".join(f"{safe_text(k)} {safe_text(val)}" for k, val in v.items()), highlight=False)


def escape_markup(text: str) -> str:
    """``text`` with rich markup escaped and control characters shown (feature names may contain brackets)."""
    return safe_text(text)


def _print_outcome_summary(summary: dict) -> None:
    """Multiclass or regression metrics with CIs, per-class or calibration lines, per-site results."""
    from rich.table import Table

    names = (("auc_macro", "macro AUC (one vs rest)"), ("auc_micro", "micro AUC"), ("balanced_accuracy",
             "balanced accuracy"), ("accuracy", "accuracy"), ("brier", "Brier (multiclass)"), ("r2", "R2"),
             ("rmse", "RMSE"), ("mae", "MAE"))
    t = Table(title="out-of-fold performance (95% bootstrap CI)")
    for col, just in (("metric", "left"), ("estimate", "right"), ("95% CI", "right")):
        t.add_column(col, justify=just)
    for m, label in names:
        if m in summary:
            s = summary[m]
            t.add_row(label, f"{s['estimate']:.3f}", f"{s['ci_low']:.3f} - {s['ci_high']:.3f}")
    _console().print(t)
    key, label = ("auc_macro", "macro AUC") if "auc_macro" in summary else ("r2", "R2")
    f = summary.get(f"{key}_folds")
    if f:
        _console().print(f"{label} per outer fold: {f['mean']:.3f} +- {f['sd']:.3f} (mean +- sd over {f['n']} folds)")
    for c, pc in (summary.get("per_class") or {}).items():
        _console().print(f"  class {safe_text(c):<12} n={pc['n']:<4} sensitivity {pc['sensitivity']:.3f}, PPV {pc['ppv']:.3f}, "
                         f"AUC {pc['auc']:.3f}", highlight=False)
    if "r2" in summary:
        c = summary["calibration"]
        _console().print(f"calibration-in-the-large {c['intercept']:.3g}, slope {c['slope']:.3f}", highlight=False)
    for site, s in (summary.get("per_site") or {}).items():
        _console().print(f"  site {safe_text(site):<12} n={s['n']:<4} {label} {s[key]:.3f}")


def _print_survival_summary(summary: dict) -> None:
    from rich.table import Table

    sv = summary["survival"]
    t = Table(title="out-of-fold performance, survival (95% bootstrap CI)")
    for col, just in (("metric", "left"), ("estimate", "right"), ("95% CI", "right")):
        t.add_column(col, justify=just)
    labels = {"c_index": "Harrell's C", "uno_c": f"Uno's C (tau {sv['tau']:g})"}
    if "ibs_grid" in sv:
        labels["ibs"] = f"integrated Brier ({sv['ibs_grid'][0]:g}-{sv['ibs_grid'][1]:g})"
    for m, label in labels.items():
        s = summary[m]
        t.add_row(label, f"{s['estimate']:.3f}", f"{s['ci_low']:.3f} - {s['ci_high']:.3f}")
    for h, a in summary["td_auc"].items():
        t.add_row(f"AUC at t={h}", *((f"{a['estimate']:.3f}", f"{a['ci_low']:.3f} - {a['ci_high']:.3f}")
                                     if a["estimable"] else ("not estimable", f"{a['cases']} cases, {a['controls']} controls")))
    for h, b in summary["brier_at"].items():
        t.add_row(f"Brier at t={h}", f"{b['estimate']:.3f}", f"{b['ci_low']:.3f} - {b['ci_high']:.3f}")
    _console().print(t)
    if "c_index_folds" not in summary:  # an external cohort
        _console().print(f"censoring weights: {sv['censoring_weights']}", highlight=False)
        return
    f = summary["c_index_folds"]
    _console().print(f"C-index per outer fold: {f['mean']:.3f} +- {f['sd']:.3f} (mean +- sd over {f['n']} folds); "
                     f"horizons: {sv['horizons_from']}", highlight=False)
    rg = summary["risk_groups"]
    g = rg["groups"]
    _console().print(f"risk groups (out of fold; cut-off: median risk of each training fold): low n={g['low']['n']} "
                     f"({g['low']['events']} events), high n={g['high']['n']} ({g['high']['events']} events); "
                     "log-rank p of cross-validated groups is not valid: see the permutation test", highlight=False)
    lr = (summary.get("permutation") or {}).get("risk_groups_logrank")
    if lr:
        _console().print(f"risk groups: log-rank chi-square {lr['observed_chi2']:.2f}, permutation p = "
                         f"{lr['p_value']:.3f}", highlight=False)
    for site, s in (summary.get("per_site") or {}).items():
        _console().print(f"  site {safe_text(site):<12} n={s['n']:<4} events={s['n_events']:<4} "
                         f"C-index {s['c_index']:.3f}")


def _print_summary(summary: dict, folds: bool = True):
    from rich.table import Table

    if "c_index" in summary or "r2" in summary or "auc_macro" in summary:
        (_print_survival_summary if "c_index" in summary else _print_outcome_summary)(summary)
        _print_safeguards(summary)
        _print_verdict(summary.get("verdict"))
        return

    t = Table(title="out-of-fold performance (95% bootstrap CI)")
    t.add_column("metric")
    t.add_column("estimate", justify="right")
    t.add_column("95% CI", justify="right")
    for m in ("auc", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "brier"):
        s = summary[m]
        t.add_row(m, f"{s['estimate']:.3f}", f"{s['ci_low']:.3f} - {s['ci_high']:.3f}")
    _console().print(t)
    if folds:
        f = summary["auc_folds"]
        _console().print(f"AUC per outer fold: {f['mean']:.3f} +- {f['sd']:.3f} (mean +- sd over {f['n']} folds)")
        for name, b in (summary.get("blocks") or {}).items():
            a = b["auc"]
            _console().print(f"  block {safe_text(name):<10} AUC {a['estimate']:.3f} ({a['ci_low']:.3f}-{a['ci_high']:.3f})")
        for site, s in (summary.get("per_site") or {}).items():
            _console().print(f"  site {safe_text(site):<12} n={s['n']:<4} AUC {s['auc']:.3f}")
        o = summary.get("optimism")
        if o:
            _console().print(f"inner-CV score {o['inner_score_mean']:.3f} vs outer AUC per fold: optimism "
                             f"{o['mean']:+.3f} (mean over folds)")
        _print_safeguards(summary)
        pl = summary.get("patient_level")
        if pl:
            a = pl["auc"]
            _console().print(f"patient level ({pl['aggregate']} over rows, {pl['n_patients']} patients): AUC "
                             f"{a['estimate']:.3f} ({a['ci_low']:.3f}-{a['ci_high']:.3f})")
    c = summary.get("calibration")
    if c:
        _console().print(f"calibration intercept {c['intercept']:.3f}, slope {c['slope']:.3f}")
    _print_verdict(summary.get("verdict"))


def _print_safeguards(summary: dict) -> None:
    """Baselines, case mix and the permutation test, one line each."""
    for name, b in (summary.get("baselines") or {}).items():
        verdict = "beats it" if b["beats_baseline"] else "does NOT beat it"
        _console().print(f"baseline {safe_text(name)} ({safe_text(b['description'])}): {b['headline']} {b['baseline']:.3f} vs model "
                         f"{b['model']:.3f}; difference {b['difference']:+.3f} (95% CI {b['ci_low']:+.3f} to "
                         f"{b['ci_high']:+.3f}, paired bootstrap): the model {verdict}", highlight=False)
    mix = summary.get("case_mix")
    if mix:
        _console().print(f"case mix: the site alone predicts the outcome with {mix.get('metric', 'AUC')} "
                         f"{mix['auc']:.3f} ({mix['cv']}; not a baseline under the run's folds)", highlight=False)
    perm = summary.get("permutation")
    if perm:
        _console().print(f"permutation test ({perm['n_permutations']} refits, outcomes permuted within site): "
                         f"p = {perm['p_value']:.3f} (Monte-Carlo SE {perm['mc_se']:.3f}); null "
                         f"{perm.get('metric', 'AUC')} mean {perm['null_auc_mean']:.3f}, 95th percentile "
                         f"{perm['null_auc_95th']:.3f}", highlight=False)


def _print_verdict(v: dict | None) -> None:
    """The run's verdict (last, so it is what the user reads): the sentence, then one line per check."""
    if not v:
        return
    _console().print(f"[bold]verdict:[/] {escape_markup(v['sentence'])}", highlight=False)
    for r in v["rows"]:
        mark = {"ok": "ok", "caution": "[yellow]caution[/]", "fail": "[red]NOT MET[/]"}.get(r["status"], "")
        _console().print(f"  {escape_markup(r['check'])}: {escape_markup(r['result'])}; {escape_markup(r['value'])} "
                         f"{mark}", highlight=False)


@main.command()
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
    mRMR -> XGBoost in leave-one-site-out nested CV -> baselines -> held-out SHAP -> report
    (params/train_multisite.yaml)."""
    from .demo import run_demo

    t0 = time.perf_counter()
    try:
        res = run_demo(out, n_patients=patients, n_sites=sites, n_jobs=jobs, random_state=seed, signal=signal,
                       console=_console(), overwrite=overwrite)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    _print_summary(res["train"].summary)
    a = res["train"].summary["auc"]
    f = res["train"].summary["auc_folds"]
    con = _console()
    con.print(f"\n[bold green]out-of-fold AUC {a['estimate']:.3f}[/] (95% CI {a['ci_low']:.3f}-{a['ci_high']:.3f}; "
              f"per fold {f['mean']:.3f} +- {f['sd']:.3f}) in {time.perf_counter() - t0:.0f} s")
    for k, v in res["paths"].items():
        con.print(f"  {k:<12} {v}")


def _register():
    # Extraction-side commands live in their own module (extract, merge, ...).
    from . import _cli_extract, _cli_report, _cli_robustness

    _cli_extract.register(main)
    _cli_report.register(main)
    _cli_robustness.register(main)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
