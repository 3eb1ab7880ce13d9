"""Printing a run's results: metrics with CIs, safeguards, the verdict, a model file's provenance."""

from __future__ import annotations

from .console import console, escape_markup, safe_text

__all__ = ["print_summary", "print_provenance", "print_verdict", "print_safeguards"]


def print_provenance(path, model) -> None:
    """The model file's SHA-256 and its training provenance, to compare with what its authors published."""
    from ..model import model_file_sha256

    v = dict(getattr(model, "versions", {}) or {})
    con = console()
    con.print(f"model file SHA-256 {model_file_sha256(path)} (compare it with the hash the model's authors published)",
              highlight=False)
    # Everything below comes from the file: escaped, so it cannot forge the line above or break rich.
    con.print(f"trained {safe_text(v.pop('trained', '?'))} on data SHA-256 "
              f"{safe_text(getattr(model, 'data_sha256', None) or '?')}; "
              + ", ".join(f"{safe_text(k)} {safe_text(val)}" for k, val in v.items()), highlight=False)


def print_outcome_summary(summary: dict, scope: str = "out-of-fold performance") -> None:
    """Multiclass or regression metrics with CIs, per-class or calibration lines, per-site results."""
    from rich.table import Table

    names = (("auc_macro", "macro AUC (one vs rest)"), ("auc_micro", "micro AUC"), ("balanced_accuracy",
             "balanced accuracy"), ("accuracy", "accuracy"), ("brier", "Brier (multiclass)"), ("r2", "R2"),
             ("rmse", "RMSE"), ("mae", "MAE"))
    h = summary.get("headline") or {}
    pooled_is_secondary = h.get("aggregation") == "mean per site"
    t = Table(title=f"{scope} (95% bootstrap CI)" + (
        f"; secondary: these pool every site's predictions, the headline is the {h.get('name')}"
        if pooled_is_secondary else ""))
    for col, just in (("metric", "left"), ("estimate", "right"), ("95% CI", "right")):
        t.add_column(col, justify=just)
    for m, label in names:
        if m in summary:
            s = summary[m]
            t.add_row(label, f"{s['estimate']:.3f}", f"{s['ci_low']:.3f} - {s['ci_high']:.3f}")
    console().print(t)
    key, label = ("auc_macro", "macro AUC") if "auc_macro" in summary else ("r2", "R2")
    f = summary.get(f"{key}_folds")
    if f:
        console().print(f"{label} per outer fold: {f['mean']:.3f} +- {f['sd']:.3f} (mean +- sd over {f['n']} folds)")
    for c, pc in (summary.get("per_class") or {}).items():
        console().print(f"  class {safe_text(c):<12} n={pc['n']:<4} sensitivity {pc['sensitivity']:.3f}, PPV {pc['ppv']:.3f}, "
                         f"AUC {pc['auc']:.3f}", highlight=False)
    if "r2" in summary:
        c = summary["calibration"]
        console().print(f"calibration-in-the-large {c['intercept']:.3g}, slope {c['slope']:.3f}", highlight=False)
    for site, s in (summary.get("per_site") or {}).items():
        console().print(f"  site {safe_text(site):<12} n={s['n']:<4} {label} {s[key]:.3f}")


def print_survival_summary(summary: dict, scope: str = "out-of-fold performance") -> None:
    from rich.table import Table

    sv = summary["survival"]
    t = Table(title=f"{scope}, survival (95% bootstrap CI)")
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
    console().print(t)
    if "c_index_folds" not in summary:  # an external cohort
        console().print(f"censoring weights: {sv['censoring_weights']}", highlight=False)
        return
    f = summary["c_index_folds"]
    console().print(f"C-index per outer fold: {f['mean']:.3f} +- {f['sd']:.3f} (mean +- sd over {f['n']} folds); "
                     f"horizons: {sv['horizons_from']}", highlight=False)
    rg = summary["risk_groups"]
    g = rg["groups"]
    console().print(f"risk groups (out of fold; cut-off: median risk of each training fold): low n={g['low']['n']} "
                     f"({g['low']['events']} events), high n={g['high']['n']} ({g['high']['events']} events); "
                     "log-rank p of cross-validated groups is not valid: see the permutation test", highlight=False)
    lr = (summary.get("permutation") or {}).get("risk_groups_logrank")
    if lr:
        console().print(f"risk groups: log-rank chi-square {lr['observed_chi2']:.2f}, permutation p = "
                         f"{lr['p_value']:.3f}", highlight=False)
    for site, s in (summary.get("per_site") or {}).items():
        console().print(f"  site {safe_text(site):<12} n={s['n']:<4} events={s['n_events']:<4} "
                         f"C-index {s['c_index']:.3f}")


def print_summary(summary: dict, folds: bool = True, scope: str = "out-of-fold performance"):
    """A run's (or, with ``scope="performance on this cohort"``, an external cohort's) metrics with CIs, then the
    safeguards and the verdict when the summary has them."""
    from rich.table import Table

    if "c_index" in summary or "r2" in summary or "auc_macro" in summary:
        (print_survival_summary if "c_index" in summary else print_outcome_summary)(summary, scope)
        print_safeguards(summary)
        print_verdict(summary.get("verdict"))
        return

    h = summary.get("headline") or {}
    pooled_is_secondary = h.get("aggregation") == "mean per site"
    t = Table(title=f"{scope} (95% bootstrap CI)" + (
        f"; secondary: these pool every site's predictions, the headline is the {h.get('name')}"
        if pooled_is_secondary else ""))
    t.add_column("metric")
    t.add_column("estimate", justify="right")
    t.add_column("95% CI", justify="right")
    for m in ("auc", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "brier"):
        s = summary[m]
        t.add_row("pooled auc" if m == "auc" and pooled_is_secondary else m, f"{s['estimate']:.3f}",
                  f"{s['ci_low']:.3f} - {s['ci_high']:.3f}")
    console().print(t)
    if folds:
        f = summary["auc_folds"]
        console().print(f"AUC per outer fold: {f['mean']:.3f} +- {f['sd']:.3f} (mean +- sd over {f['n']} folds)")
        for name, b in (summary.get("blocks") or {}).items():
            a = b["auc"]
            console().print(f"  block {safe_text(name):<10} AUC {a['estimate']:.3f} ({a['ci_low']:.3f}-{a['ci_high']:.3f})")
        for site, s in (summary.get("per_site") or {}).items():
            console().print(f"  site {safe_text(site):<12} n={s['n']:<4} AUC {s['auc']:.3f}")
        o = summary.get("optimism")
        if o:
            console().print(f"inner-CV score {o['inner_score_mean']:.3f} vs outer AUC per fold: optimism "
                             f"{o['mean']:+.3f} (mean over folds)")
        print_safeguards(summary)
        pl = summary.get("patient_level")
        if pl:
            a = pl["auc"]
            console().print(f"patient level ({pl['aggregate']} over rows, {pl['n_patients']} patients): AUC "
                             f"{a['estimate']:.3f} ({a['ci_low']:.3f}-{a['ci_high']:.3f})")
    c = summary.get("calibration")
    if c:
        console().print(f"calibration intercept {c['intercept']:.3f}, slope {c['slope']:.3f}")
    print_verdict(summary.get("verdict"))


def print_headline(summary: dict) -> None:
    """The run's one headline (``summary["headline"]``), the number the report's title, the baselines, the
    permutation test and the verdict quote: printed last, so the console's last result line is it."""
    h = summary.get("headline")
    if not h:
        return
    f = summary.get(f"{h['metric']}_folds") or {}
    folds = f"; per fold {f['mean']:.3f} +- {f['sd']:.3f}" if f.get("mean") is not None else ""
    console().print(f"[bold green]headline: {safe_text(h['name'])} {h['estimate']:.3f}[/] "
                    f"(95% CI {h['ci_low']:.3f}-{h['ci_high']:.3f}{folds})", highlight=False)


def print_safeguards(summary: dict) -> None:
    """Baselines, case mix and the permutation test, one line each."""
    for name, b in (summary.get("baselines") or {}).items():
        verdict = "beats it" if b["beats_baseline"] else "does NOT beat it"
        dec = b.get("decision") or {"ci_low": b["ci_low"], "ci_high": b["ci_high"]}
        console().print(f"baseline {safe_text(name)} ({safe_text(b['description'])}): {b['headline']} {b['baseline']:.3f} vs model "
                         f"{b['model']:.3f}; difference {b['difference']:+.3f} (refit-aware 95% CI {dec['ci_low']:+.3f} to "
                         f"{dec['ci_high']:+.3f}; paired bootstrap {b['ci_low']:+.3f} to {b['ci_high']:+.3f}): the model "
                         f"{verdict}", highlight=False)
    mix = summary.get("case_mix")
    if mix:
        console().print(f"case mix: the site alone predicts the outcome with {mix.get('metric', 'AUC')} "
                         f"{mix['auc']:.3f} ({mix['cv']}; not a baseline under the run's folds)", highlight=False)
    perm = summary.get("permutation")
    if perm:
        console().print(f"permutation test ({perm['n_permutations']} refits, outcomes permuted within site): "
                         f"p = {perm['p_value']:.3f} (Monte-Carlo SE {perm['mc_se']:.3f}); null "
                         f"{perm.get('metric', 'AUC')} mean {perm['null_auc_mean']:.3f}, 95th percentile "
                         f"{perm['null_auc_95th']:.3f}", highlight=False)


def print_verdict(v: dict | None) -> None:
    """The run's verdict (last, so it is what the user reads): the sentence, then one line per check."""
    if not v:
        return
    console().print(f"[bold]verdict:[/] {escape_markup(v['sentence'])}", highlight=False)
    for r in v["rows"]:
        mark = {"ok": "ok", "caution": "[yellow]caution[/]", "fail": "[red]NOT MET[/]"}.get(r["status"], "")
        console().print(f"  {escape_markup(r['check'])}: {escape_markup(r['result'])}; {escape_markup(r['value'])} "
                         f"{mark}", highlight=False)
