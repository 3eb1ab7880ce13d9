"""Report sections of a survival run: the summary line, the data, the metrics with their CIs, Kaplan-Meier
curves of the out-of-fold risk groups, the time-dependent AUC at each horizon, calibration at each horizon
and the per-fold table. The verdict, baselines, sites, selection, SHAP, checklist and config sections are
shared with binary runs (:mod:`radiomix.report.sections`)."""

from __future__ import annotations

import html

import pandas as pd

from .document import Document, fmt_estimate, fmt_number, headline_text, table_html
from .figures import new_figure
from .run import RunRecord
from .sections import (
    baselines_section,
    checklist_section,
    config_section,
    report_section,
    robustness_section,
    selection_section,
    shap_section,
    sites_section,
    task_folds_section,
    verdict_section,
)

__all__ = ["survival_header", "SURVIVAL_REGISTRY", "km_figure", "td_auc_figure", "calibration_horizons_figure"]


HARRELL = "Harrell's C"


def survival_header(doc: Document, run: RunRecord, title: str | None = None) -> None:
    """Heading and one line: time and event columns, model, out-of-fold C-index with CI, patients, events."""
    s, cfg = run.summary, run.config
    t = cfg.get("target", {})
    doc.raw(f"<h1>{html.escape(title or f'radiomix run: {run.name}')}</h1>")
    doc.text(f"Survival outcome: time {t.get('time', '?')}, event {t.get('event', '?')}; model "
             f"{cfg.get('model', {}).get('name', '?')}; out-of-fold {headline_text(s, HARRELL, s['c_index'])} over "
             f"{s.get('n_samples', len(run.pooled))} patients ({s.get('n_events', '?')} events).")


@report_section("data", "Data")
def survival_data_section(doc: Document, run: RunRecord) -> None:
    """Patients, events, censoring, follow-up and feature columns."""
    p = run.pooled
    data = run.metrics.get("data", {})
    n_ev = int(p["event"].sum())
    doc.text(f"{len(p)} patients, {n_ev} events ({n_ev / len(p):.0%}), {len(p) - n_ev} censored; follow-up "
             f"{fmt_number(p['time'].min())}-{fmt_number(p['time'].max())} (median {fmt_number(p['time'].median())}); "
             f"{data.get('n_features', '?')} feature columns "
             f"({', '.join(f'{k}: {v}' for k, v in data.get('column_groups', {}).items())}).")
    for note in data.get("notes", []):
        doc.text(note, cls="note")


@report_section("metrics", "Out-of-fold performance")
def survival_metrics_section(doc: Document, run: RunRecord) -> None:
    """Harrell's and Uno's C, integrated Brier score, AUC and Brier score at each horizon, with 95% CIs."""
    s = run.summary
    sv = s["survival"]
    rows = [{"metric": "Harrell's C", "estimate": s["c_index"]["estimate"], "95% CI": fmt_estimate(s["c_index"])},
            {"metric": f"Uno's C (truncated at {fmt_number(sv['tau'])}, {sv['tau_from']})",
             "estimate": s["uno_c"]["estimate"], "95% CI": fmt_estimate(s["uno_c"])},
            {"metric": f"integrated Brier score ({fmt_number(sv['ibs_grid'][0])}-{fmt_number(sv['ibs_grid'][1])})",
             "estimate": s["ibs"]["estimate"], "95% CI": fmt_estimate(s["ibs"])}]
    for h, a in s["td_auc"].items():
        rows.append({"metric": f"AUC at t = {h}", "estimate": a["estimate"] if a["estimable"] else None,
                     "95% CI": fmt_estimate(a) if a["estimable"] else f"not estimable ({a['cases']} cases, "
                                                             f"{a['controls']} controls; needs {sv['min_cases']})"})
    for h, b in s["brier_at"].items():
        rows.append({"metric": f"Brier score at t = {h}", "estimate": b["estimate"], "95% CI": fmt_estimate(b)})
    doc.raw(table_html(pd.DataFrame(rows)))
    f = s["c_index_folds"]
    doc.text(f"Per outer fold: C-index {fmt_number(f['mean'])} +- {fmt_number(f['sd'])} over {f['n']} folds. "
             f"Horizons: {sv['horizons_from']}. Censoring weights: {sv['censoring_weights']}. CIs: "
             f"{run.settings.get('ci_method', 'bootstrap')}, drawn within event status.", cls="note")


def km_figure(groups: dict, title: str = "Kaplan-Meier, out-of-fold risk groups"):
    fig = new_figure(5.5, 4.0)
    ax = fig.add_subplot()
    for g, colour in (("low", "tab:blue"), ("high", "tab:red")):
        d = groups[g]
        if d["n"]:
            ax.step([0] + d["km_time"], [1.0] + d["km_surv"], where="post", color=colour,
                    label=f"{g} risk (n={d['n']}, {d['events']} events)")
    ax.set_xlabel("time")
    ax.set_ylabel("survival probability")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="lower left")
    return fig


@report_section("km", "Risk groups (Kaplan-Meier)")
def km_section(doc: Document, run: RunRecord) -> None:
    """Kaplan-Meier curves of the out-of-fold low- and high-risk groups; the permutation p-value when run."""
    rg = run.summary["risk_groups"]
    doc.figure(km_figure(rg["groups"]), "km_risk_groups", "Kaplan-Meier curves of the out-of-fold risk groups")
    rows = [{"group": g, "patients": d["n"], "events": d["events"], "median survival": d["median_survival"]}
            for g, d in rg["groups"].items()]
    doc.raw(table_html(pd.DataFrame(rows)))
    doc.text(f"Cut-off: {rg['rule']}. Log-rank chi-square {fmt_number(rg['logrank_chi2'])}: {rg['note']}.",
             cls="note")
    perm = run.summary.get("permutation")
    if perm and perm.get("risk_groups_logrank"):
        lr = perm["risk_groups_logrank"]
        doc.text(f"Permutation p-value of the risk groups' log-rank chi-square ({fmt_number(lr['observed_chi2'])}; "
                 f"{perm['n_permutations']} refits of the whole procedure on permuted outcomes): "
                 f"p = {fmt_number(lr['p_value'])}.")
    else:
        doc.text("No permutation p-value of the risk groups in this run (safeguards.permutations: 0).", cls="note")


def td_auc_figure(td: dict, title: str = "Time-dependent AUC (cumulative/dynamic)"):
    fig = new_figure(5.0, 3.6)
    ax = fig.add_subplot()
    est = [(float(h), a) for h, a in td.items() if a["estimable"]]
    if est:
        x = [h for h, _ in est]
        y = [a["estimate"] for _, a in est]
        lo = [a["estimate"] - a["ci_low"] for _, a in est]
        hi = [a["ci_high"] - a["estimate"] for _, a in est]
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o-", capsize=4)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("horizon")
    ax.set_ylabel("AUC(t)")
    ax.set_ylim(0.3, 1.0)
    ax.set_title(title)
    return fig


@report_section("td-auc", "Time-dependent AUC")
def td_auc_section(doc: Document, run: RunRecord) -> None:
    """Cumulative/dynamic AUC at each horizon with its 95% CI (not-estimable horizons named)."""
    td = run.summary["td_auc"]
    doc.figure(td_auc_figure(td), "td_auc", "time-dependent AUC at each horizon")
    gone = [h for h, a in td.items() if not a["estimable"]]
    if gone:
        doc.text(f"Not estimable (too few cases or controls): t = {', '.join(gone)}.", cls="note")


def calibration_horizons_figure(cal: dict, title: str = "Calibration at each horizon"):
    fig = new_figure(4.5, 4.2)
    ax = fig.add_subplot()
    for h, c in cal.items():
        ax.plot([g["predicted"] for g in c["groups"]], [g["observed"] for g in c["groups"]], "o-", label=f"t = {h}")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set_xlabel("mean predicted survival")
    ax.set_ylabel("observed survival (Kaplan-Meier)")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return fig


@report_section("calibration-horizons", "Calibration at the horizons")
def calibration_horizons_section(doc: Document, run: RunRecord) -> None:
    """Mean predicted S(t) against Kaplan-Meier S(t) by thirds of out-of-fold risk, at each horizon."""
    cal = run.summary["calibration_horizons"]
    doc.figure(calibration_horizons_figure(cal), "calibration_horizons", "calibration at each horizon")
    rows = [{"horizon": h, "risk third": g["group"], "patients": g["n"], "predicted S(t)": g["predicted"],
             "observed S(t)": g["observed"]} for h, c in cal.items() for g in c["groups"]]
    doc.raw(table_html(pd.DataFrame(rows)))


#: Sections of a survival report, in order.
SURVIVAL_REGISTRY = tuple((f.section_id, f.title, f) for f in (
    verdict_section, survival_data_section, survival_metrics_section, baselines_section, km_section,
    td_auc_section, calibration_horizons_section, task_folds_section, sites_section, selection_section, robustness_section,
    shap_section, checklist_section, config_section))
