"""The sections of the run report, one function each, in report order (:data:`REGISTRY`).

Every section function has the signature ``section(doc: Document, run: RunRecord) -> None``: it appends one
``<section id=...>`` (its id and title are the function's ``section_id`` and ``title``) to ``doc``, so it
can be written, or tested, alone on a fresh :class:`~radiomix.report.document.Document`.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Callable

import pandas as pd

from .document import Document, fmt_number, headline_text, table_html
from .figures import (
    blocks_roc_figure,
    calibration_figure,
    confusion_figure,
    decision_curve_figure,
    low_dim_plot,
    pr_figure,
    robustness_figure,
    roc_figure,
    selection_figure,
    shap_bar_figure,
    shap_beeswarm_figure,
)
from .run import RunRecord

__all__ = ["METRIC_LABELS", "REGISTRY", "SECTIONS", "header", "data_section", "metrics_section", "roc_section",
           "precision_recall_section", "calibration_section", "decision_curve_section", "confusion_section",
           "folds_section", "sites_section", "blocks_section", "selection_section", "robustness_section",
           "site_effect_section",
           "shap_section", "config_section", "baselines_section", "verdict_section", "checklist_section"]

METRIC_LABELS = {"auc": "AUC", "accuracy": "Accuracy", "balanced_accuracy": "Balanced accuracy",
                 "sensitivity": "Sensitivity", "specificity": "Specificity", "ppv": "PPV", "npv": "NPV",
                 "f1": "F1", "brier": "Brier score"}

SectionFunction = Callable[[Document, RunRecord], None]


def _section(sid: str, title: str) -> Callable[[SectionFunction], SectionFunction]:
    """Wrap a section body in ``<section id=sid><h2>title</h2> ... </section>``."""
    def wrap(body: SectionFunction) -> SectionFunction:
        @functools.wraps(body)
        def section(doc: Document, run: RunRecord) -> None:
            doc.section(sid, title)
            body(doc, run)
            doc.end()

        section.section_id, section.title = sid, title
        return section

    return wrap


def header(doc: Document, run: RunRecord, title: str | None = None) -> None:
    """The page heading and a one-line summary (target, model, out-of-fold AUC with CI, patients)."""
    auc, cfg = run.summary["auc"], run.config
    doc.raw(f"<h1>{html.escape(title or f'radiomix run: {run.name}')}</h1>")
    doc.text(f"Target {cfg.get('target', '?')}, model {cfg.get('model', {}).get('name', '?')}, out-of-fold "
             f"{headline_text(run.summary, 'AUC', auc)} over {run.summary.get('n_samples', len(run.pooled))} patients.")


_STATUS_MARK = {"ok": "ok", "caution": "caution", "fail": "NOT MET", "info": ""}


#: The section decorator, for task-specific section modules (radiomix.report.survival).
report_section = _section


@_section("verdict", "Verdict: does the model beat the obvious?")
def verdict_section(doc: Document, run: RunRecord) -> None:
    """One sentence and a small table: each baseline (difference, CI), the permutation p-value, the case mix,
    events per feature and the selected features' correlation with volume (``summary["verdict"]``)."""
    v = run.summary.get("verdict")
    if not v:
        doc.text("This run has no verdict (written before radiomix recorded one, or with safeguards off).", cls="note")
        return
    doc.raw(f"<p><strong>{html.escape(v['sentence'])}</strong></p>")
    if v["rows"]:
        doc.raw(table_html(pd.DataFrame([{**r, "status": _STATUS_MARK.get(r["status"], r["status"])}
                                         for r in v["rows"]])))
    doc.text("Baselines share the run's outer folds and patients; each difference is model minus baseline in the "
             f"run's headline metric ({v.get('headline', 'AUC')}) with a 95% CI from a paired bootstrap over patients "
             "(details in the Baselines section). The permutation test, when run (safeguards.permutations), refits the "
             "whole nested procedure on outcomes permuted within site.", cls="note")


def _table_overview(doc: Document, run: RunRecord) -> None:
    """Missing values per column group of the training table, and PCA/t-SNE views of its radiomic columns."""
    from ..tables import column_groups

    df_table = run.table
    groups = column_groups(df_table)
    rows = []
    for g, cols in groups.items():
        cols = [c for c in cols if c in df_table.columns]
        if cols:
            miss = df_table[cols].isna()
            rows.append({"group": g, "columns": len(cols), "missing cells": f"{miss.to_numpy().mean():.1%}",
                         "patients with any missing": f"{miss.any(axis=1).mean():.1%}",
                         "columns with any missing": int(miss.any(axis=0).sum())})
    if rows:
        doc.text("Missing values per column group (whole table, before imputation):")
        doc.raw(table_html(pd.DataFrame(rows)))
    target = run.config.get("target")
    rad = [c for c in groups.get("radiomic", []) if c in df_table.columns]
    if target in df_table.columns and len(rad) >= 2:
        view = df_table[rad].assign(**{target: df_table[target].astype(str)})
        for method in ("pca", "tsne"):
            doc.figure(low_dim_plot(view, target, method, title=f"radiomic features ({method.upper()}), by {target}"),
                       f"view_{method}", f"{method.upper()} of the radiomic features coloured by outcome")


@_section("data", "Data")
def data_section(doc: Document, run: RunRecord) -> None:
    """Patients per class (and per site), feature columns; with the table, missingness and 2-D views."""
    y, oof = run.y, run.oof
    data = run.metrics.get("data", {})
    classes = data.get("classes", ["0", "1"])
    bal = pd.DataFrame({"class": [f"{classes[0]} (negative)", f"{classes[-1]} (positive)"],
                        "patients": [int((y == 0).sum()), int((y == 1).sum())]})
    bal["fraction"] = bal["patients"] / bal["patients"].sum()
    doc.text(f"{len(run.pooled)} patients with an outcome ({data.get('n_dropped_missing_target', 0)} dropped for a "
             f"missing outcome), {data.get('n_features', '?')} feature columns "
             f"({', '.join(f'{k}: {v}' for k, v in data.get('column_groups', {}).items())}).")
    doc.raw(table_html(bal))
    if data.get("positive_class") is not None:
        doc.text(f"Positive class: {data['positive_class']}.", cls="note")
    if data.get("unassigned"):
        u = data["unassigned"]
        doc.text(f"{len(u)} numeric column(s) fit no block (no extraction/merge record, no pyradiomics name, not named "
                 f"in features.groups) and were modelled with the clinical block: {', '.join(map(str, u[:20]))}"
                 f"{' ...' if len(u) > 20 else ''}.", cls="note")
    if data.get("harmonized"):
        ex = data.get("harmonize_excluded") or []
        doc.text(f"ComBat harmonized {len(data['harmonized'])} column(s)"
                 + (f"; kept out by harmonize.exclude: {', '.join(map(str, ex[:20]))}{' ...' if len(ex) > 20 else ''}"
                    if ex else "") + ".", cls="note")
    if data.get("notes"):
        doc.text("What the run decided by default (also printed by radiomix train and kept in metrics.json):")
        doc.raw("<ul>" + "".join(f"<li>{html.escape(str(n))}</li>" for n in data["notes"]) + "</ul>")
    run_warnings = run.metrics.get("warnings") or []
    if run_warnings:
        doc.text(f"Warnings during the run ({len(run_warnings)} distinct, each shown once with its count; also in "
                 "warnings.txt):")
        doc.raw(table_html(pd.DataFrame(run_warnings)[["category", "source", "count", "message"]]))
    if "site" in oof.columns:
        per_site = oof.groupby("id").first().groupby("site").agg(patients=("y", "size"), positive=("y", "sum"))
        per_site["fraction positive"] = per_site["positive"] / per_site["patients"]
        doc.raw(table_html(per_site.reset_index()))
    if run.table is not None:
        _table_overview(doc, run)


def _ci_table(summary: dict, resampling: dict | None = None) -> pd.DataFrame:
    rows = []
    for m, lab in METRIC_LABELS.items():
        if m in summary:
            s = summary[m]
            row = {"metric": lab, "estimate": s["estimate"], "95% CI low": s["ci_low"], "95% CI high": s["ci_high"]}
            if resampling:
                row["bootstrap resamples"] = resampling.get(m, "")
            rows.append(row)
    return pd.DataFrame(rows)


@_section("metrics", "Metrics with 95% confidence intervals")
def metrics_section(doc: Document, run: RunRecord) -> None:
    """Pooled out-of-fold metrics with CIs, and how they were computed."""
    s = run.settings
    af = run.summary.get("auc_folds", {})
    doc.raw(table_html(_ci_table(run.summary, s.get("ci_resampling"))))
    inner = s.get("inner") or f"{s.get('inner_splits', '?')} folds"
    doc.text(f"Pooled out-of-fold predictions ({s.get('outer', '?')} outer folds: {s.get('outer_splits', '?')} x "
             f"{s.get('n_repeats', 1)} repeat(s); inner: {inner}; {s.get('search', '?')} "
             f"search). CIs: {s.get('ci_method', 'bootstrap')} ({s.get('n_bootstrap', '?')} resamples). "
             f"Per-fold AUC {fmt_number(af.get('mean'))} +- {fmt_number(af.get('sd'))} over {af.get('n', '?')} folds. "
             "Decision threshold chosen inside each training fold "
             f"({s.get('threshold', '?')}); probability correction: {s.get('probability_correction', 'none')}"
             " (learned on inner out-of-fold predictions of rows that were not resampled).", cls="note")
    opt = run.summary.get("optimism")
    if opt:
        doc.text(f"Optimism of tuning: the chosen candidates' inner-CV score averaged {fmt_number(opt['inner_score_mean'])}"
                 f", {fmt_number(opt['mean'])} above the outer folds' AUC (sd {fmt_number(opt['sd'])} over folds; per "
                 "fold in the table of folds).", cls="note")
    pl = run.summary.get("patient_level")
    if pl:
        doc.text(f"Patient level: each patient's prediction is the {pl['aggregate']} of their rows' out-of-fold "
                 f"probabilities ({pl['n_patients']} patients, {pl['n_positive']} positive).")
        doc.raw(table_html(_ci_table(pl)))


@_section("roc", "ROC curve")
def roc_section(doc: Document, run: RunRecord) -> None:
    """ROC curve with a bootstrap band (``run.n_bootstrap`` resamples)."""
    doc.figure(roc_figure(run.y, run.p, n_bootstrap=run.n_bootstrap), "roc", "ROC curve with bootstrap band")


@_section("precision-recall", "Precision-recall")
def precision_recall_section(doc: Document, run: RunRecord) -> None:
    """Precision-recall curve."""
    doc.figure(pr_figure(run.y, run.p), "precision_recall", "precision-recall curve")


@_section("calibration", "Calibration")
def calibration_section(doc: Document, run: RunRecord) -> None:
    """Reliability curve with calibration intercept and slope (from metrics.json when there)."""
    summary = run.summary
    balance = (run.config.get("balance") or {}).get("method", "none")
    if balance != "none" and run.settings.get("probability_correction", "none") == "none":
        doc.text(f"Warning: the training folds were resampled ({balance}) and no probability correction was "
                 "applied, so the probabilities carry the resampled prevalence: calibration and decision curves "
                 "below do not describe the patients' risk.", cls="note")
    doc.figure(calibration_figure(run.y, run.p, reliability=summary.get("reliability"),
                                  calibration=summary.get("calibration")),
               "calibration", "reliability curve")


@_section("decision-curve", "Decision curve")
def decision_curve_section(doc: Document, run: RunRecord) -> None:
    """Net benefit over threshold probabilities (from metrics.json, else computed)."""
    from ..metrics import decision_curve

    doc.figure(decision_curve_figure(run.summary.get("decision_curve") or decision_curve(run.y, run.p)),
               "decision_curve", "decision curve")


@_section("confusion", "Confusion matrix")
def confusion_section(doc: Document, run: RunRecord) -> None:
    """Confusion matrix of the out-of-fold labels and the fold thresholds."""
    oof, final = run.oof, run.metrics.get("final_model")
    doc.figure(confusion_figure(oof["y"], oof["label"]), "confusion", "confusion matrix")
    thr = oof.groupby(["repeat", "fold"])["threshold"].first()
    doc.text(f"Out-of-fold labels at each fold's threshold (median {fmt_number(thr.median())}, range "
             f"{fmt_number(thr.min())}-{fmt_number(thr.max())})"
             + (f"; the final model's threshold is {fmt_number(final['threshold'])}." if final else "."),
             cls="note")


@_section("folds", "Per-fold results")
def folds_section(doc: Document, run: RunRecord) -> None:
    """The per-fold table of folds.csv."""
    folds = run.folds
    if folds is None:
        doc.text("folds.csv not found.", cls="note")
        return
    cols = [c for c in ("test_site", "repeat", "fold", "n_test", "n_pos_test", "auc", "sensitivity",
                        "specificity", "brier", "threshold", "inner_score", "optimism", "inner", "n_candidates",
                        "seconds", "params")
            if c in folds.columns]
    doc.raw(table_html(folds[cols]))


@_section("folds", "Per-fold results")
def task_folds_section(doc: Document, run: RunRecord) -> None:
    """The per-fold table of folds.csv with every metric column (survival, multiclass and regression runs,
    whose metrics differ by task); the selected features are in the selection section."""
    if run.folds is None:
        doc.text("folds.csv not found.", cls="note")
        return
    doc.raw(table_html(run.folds[[c for c in run.folds.columns if c not in ("selected", "inner")]]))


@_section("sites", "Per-site results")
def sites_section(doc: Document, run: RunRecord) -> None:
    """Metrics per site (when a batch column was set)."""
    if run.summary.get("per_site"):
        doc.raw(table_html(pd.DataFrame(run.summary["per_site"]).T.rename_axis("site").reset_index()))
    else:
        doc.text("No batch (site) column was configured.", cls="note")


@_section("blocks", "Blocks (late fusion)")
def blocks_section(doc: Document, run: RunRecord) -> None:
    """AUC and ROC curve per block and fused (late fusion)."""
    blocks, auc = run.summary.get("blocks"), run.summary["auc"]
    if not blocks:
        doc.text("Early fusion: one model on all columns.", cls="note")
        return
    rows = [{"block": b, "AUC": v["auc"]["estimate"], "95% CI low": v["auc"]["ci_low"],
             "95% CI high": v["auc"]["ci_high"]} for b, v in blocks.items()]
    rows.append({"block": "fused", "AUC": auc["estimate"], "95% CI low": auc["ci_low"], "95% CI high": auc["ci_high"]})
    doc.raw(table_html(pd.DataFrame(rows)))
    per_block = {b: (run.oof.groupby("id", sort=False)[f"proba_{b}"].mean().reindex(run.pooled.index),
                     v["auc"]["estimate"]) for b, v in blocks.items()}
    doc.figure(blocks_roc_figure(run.y, per_block, run.p, auc["estimate"]), "roc_blocks", "ROC per block")


@_section("selection", "Feature selection stability")
def selection_section(doc: Document, run: RunRecord) -> None:
    """How often each feature was selected over the outer folds (when the pipeline selects)."""
    if run.folds is None or "selected" not in run.folds.columns:
        doc.text("No feature-selection step in this pipeline.", cls="note")
        return
    from ..select import selection_frequency

    lists = [json.loads(s) if isinstance(s, str) else s for s in run.folds["selected"]]
    freq = selection_frequency(lists)
    doc.text(f"How often each feature was selected over the {len(lists)} outer folds (top {run.top}).", cls="note")
    shown = freq.head(run.top)
    doc.figure(selection_figure(shown), "selection_stability", "feature selection stability")
    doc.raw(table_html(shown.reset_index()))


@_section("robustness", "Feature robustness")
def robustness_section(doc: Document, run: RunRecord) -> None:
    """ICC of every assessed feature over the repeated measurements of each outer fold's training patients
    (``select.robustness``), by feature class and image filter, and how robust the selected features are."""
    table, rec = run.robustness, run.metrics.get("robustness")
    if table is None or rec is None:
        doc.text("No robustness filter in this pipeline (select.robustness): the features were not screened for "
                 "reproducibility under perturbation or re-measurement.", cls="note")
        return
    doc.text(f"{rec['design']}. Each outer fold computed the ICC of {rec['n_assessed']} features from the repeats of "
             f"its training patients only and kept those with ICC {rec['statistic']} above {rec['threshold']}: "
             f"{rec['kept_in_every_fold']} kept in every fold, {rec['kept_in_no_fold']} in none. Columns without "
             "repeated measurements (clinical, genetic) were kept unassessed.")
    doc.figure(robustness_figure(table, rec["threshold"] if rec["statistic"] == "icc" else None), "robustness_icc",
               "ICC by feature class and image filter")
    if run.folds is not None and "selected" in run.folds.columns:
        lists = [json.loads(s) if isinstance(s, str) else s for s in run.folds["selected"]]
        chosen = [f for f in dict.fromkeys(f for fold in lists for f in fold) if f in table.index]
        if chosen:
            doc.text("The features the models used (selected in at least one outer fold) and their robustness:")
            doc.raw(table_html(table.loc[chosen, ["icc", "ci_low", "kept", "feature_class", "image_filter"]]
                               .head(40).reset_index()))


def _site_effect_columns(run: RunRecord, batch: str) -> tuple[list, str]:
    """The columns the site-effect panel looks at: those the run harmonized, else the table's radiomic block,
    else every numeric column but the batch, target, id and covariates."""
    from ..tables import column_groups

    table, cfg = run.table, run.config
    harmonized = [c for c in run.metrics.get("data", {}).get("harmonized") or [] if c in table.columns]
    if harmonized:
        return harmonized, f"the {len(harmonized)} harmonized columns"
    radiomic = [c for c in column_groups(table)["radiomic"] if c in table.columns]
    if radiomic:
        return radiomic, f"the {len(radiomic)} radiomic columns"
    reserved = {batch, cfg.get("target"), cfg.get("id"), cfg.get("groups"), *(cfg.get("harmonize", {}).get("covariates")
                                                                            or [])}
    numeric = [c for c in table.columns if c not in reserved and pd.api.types.is_numeric_dtype(table[c])
               and not pd.api.types.is_bool_dtype(table[c])]
    return numeric, f"the {len(numeric)} numeric columns"


def _site_effect(doc: Document, run: RunRecord, batch: str) -> None:
    """Site prediction and Kruskal-Wallis before vs with ComBat, PCA before/after, features still site-dependent."""
    from ..harmonize import ComBat, compare_site_effect, plot_site_effect, site_effect

    cfg, top = run.config, run.top
    h = cfg.get("harmonize", {})
    feats, what = _site_effect_columns(run, batch)
    combat = ComBat(batch=batch, covariates=h.get("covariates") or None,
                    categorical=h.get("categorical") or None, target=cfg.get("target"), features=feats)
    site_df = run.table[run.table[batch].notna()]
    cmp_ = compare_site_effect(site_df, combat, batch, feats)
    excluded = run.metrics.get("data", {}).get("harmonize_excluded") or []
    doc.text(f"Cross-validated AUC of predicting the site from {what} (logistic, "
             "one-vs-rest), and the fraction of features whose distribution differs between sites "
             "(Kruskal-Wallis, BH 5%), before ComBat and with ComBat fitted inside the folds"
             + (" (this run harmonized with ComBat" + (f"; {len(excluded)} column(s) kept out by harmonize.exclude: "
                                                       f"{', '.join(map(str, excluded[:10]))}" if excluded else "")
                + ")." if h.get("method") == "combat"
                else " (this run did not use ComBat: the 'after' row shows what it would do)."),
             cls="note")
    doc.raw(table_html(cmp_.reset_index()))
    doc.figure(plot_site_effect(site_df, combat, batch, feats), "site_effect_pca",
               f"PCA of {what} coloured by site, before and after ComBat")
    kw = site_effect(combat.fit_transform(site_df), batch, feats).kruskal
    still = kw[kw["p_fdr"] < 0.05].sort_values("p_fdr")
    doc.text(f"{len(still)} of {len(kw)} features remain site-dependent after ComBat (Kruskal-Wallis, "
             "BH 5%): ComBat aligns per-site means and variances, not whole distributions"
             + (f"; the {min(top, len(still))} strongest:" if len(still) else "."), cls="note")
    if len(still):
        doc.raw(table_html(still.head(top).reset_index()))


@_section("site-effect", "Site effect")
def site_effect_section(doc: Document, run: RunRecord) -> None:
    """The site effect before and after ComBat (needs a batch column and the training table)."""
    import warnings

    batch = run.config.get("batch")
    if run.table is None or not batch or batch not in run.table.columns:
        doc.text("Needs a batch (site) column and the training table (--table).", cls="note")
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _site_effect(doc, run, batch)
    except ValueError as err:
        doc.text(f"Site-effect analysis not available: {err}", cls="note")


@_section("shap", "SHAP explanations on held-out patients")
def shap_section(doc: Document, run: RunRecord) -> None:
    """SHAP of each outer-fold model on its own test patients (``shap_heldout*.parquet``); then, as a labelled
    extra, the final model on its training table (in-sample; needs model.skops and the table)."""
    if (run.path / "shap_heldout.parquet").is_file():
        from ..explain import ShapResult

        res = ShapResult.load(run.path, "shap_heldout")
        _shap_panels(doc, run, res, "shap_heldout", ("Mean |SHAP|, held-out patients", "SHAP per held-out patient"),
                     " on held-out patients",
                     f"Each outer fold's model explained on its own test patients ({len(res.values)} explanations, "
                     f"{len(res.selected)} fold models; {', '.join(sorted(set(res.explainer)))}; SHAP values in "
                     f"{res.output} units). A feature a fold's selection dropped has SHAP 0 there; 'selected_fraction' "
                     "is the share of fold models that used it. These are the explanations to report: they describe "
                     "predictions on patients the model did not see.")
    elif run.metrics.get("shap_heldout_classes"):
        from ..explain import ShapResult

        for k, c in enumerate(run.metrics["shap_heldout_classes"]):
            res = ShapResult.load(run.path, f"shap_heldout_class{k}")
            _shap_panels(doc, run, res, f"shap_heldout_class{k}", (f"Mean |SHAP|, class {c}, held-out patients",
                                                                   f"SHAP per held-out patient, class {c}"),
                         f" for class {c} on held-out patients",
                         f"Class {c}: each outer fold's model explained on its own test patients "
                         f"({', '.join(sorted(set(res.explainer)))}; SHAP values in {res.output} units).")
        return  # the final model's in-sample SHAP is not drawn per class
    else:
        doc.text("No held-out SHAP in this run (safeguards.shap: false, or SHAP could not explain the fold models).",
                 cls="note")
    _final_model_shap(doc, run)


def _final_model_shap(doc: Document, run: RunRecord) -> None:
    """Extra: SHAP of the final model on its own training patients (in-sample)."""
    import warnings

    if not (run.path / "model.skops").is_file():
        return
    if (run.config.get("safeguards") or {}).get("shap") is False:
        doc.text("The final model's in-sample SHAP is not computed either (safeguards.shap: false).", cls="note")
        return
    if run.table is None:
        doc.text("The final model's own (in-sample) SHAP needs the training table: write_report(run_dir, table=...) "
                 "or radiomix report RUN --table TABLE.", cls="note")
        return
    from ..explain import explain_model
    from ..model import load_model

    model = run.model if run.model is not None else load_model(run.path / "model.skops", trusted=run.trusted)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = explain_model(model, run.table)
    except ValueError as err:  # late fusion, or a table that does not fit the model
        doc.text(f"Final-model SHAP not available: {err}", cls="note")
        return
    doc.raw("<h3>Extra: the final model on its own training patients (in-sample)</h3>")
    _shap_panels(doc, run, res, "shap", ("Mean |SHAP|, final model, training patients",
                                         "SHAP, final model, training patients"), ", final model",
                 f"{res.explainer[0]} on {len(res.values)} training patients (in-sample: the model saw them; use the "
                 f"held-out explanations above for claims); SHAP values in {res.output} units; one-hot and "
                 "missingness-indicator columns summed into their source column; direction: Spearman correlation of "
                 "the feature's value and its SHAP value.")


def _shap_panels(doc: Document, run: RunRecord, res, name: str, titles: tuple[str, str], alt: str, note: str) -> None:
    """SHAP bar and beeswarm figures (``{name}_bar``, ``{name}_beeswarm``; ``alt`` ends their alt texts), a note
    and the top features' table."""
    imp = res.importance()
    doc.figure(shap_bar_figure(imp, run.top, title=titles[0]), f"{name}_bar", f"mean absolute SHAP per feature{alt}")
    doc.figure(shap_beeswarm_figure(res, run.top, title=titles[1]), f"{name}_beeswarm", f"SHAP beeswarm{alt}")
    doc.text(note, cls="note")
    doc.raw(table_html(imp.head(run.top).reset_index()))


@_section("checklist", "Reporting checklist (TRIPOD+AI / CLEAR topics)")
def checklist_section(doc: Document, run: RunRecord) -> None:
    """What the run can fill of a TRIPOD+AI / CLEAR-style checklist, and what the authors must provide."""
    from .checklist import checklist_rows

    doc.text("A writing aid, filled from this run: each topic says what radiomix did and recorded, and what the authors "
             "must still provide. It certifies nothing; follow the guideline documents for the full item lists.",
             cls="note")
    doc.raw(table_html(pd.DataFrame(checklist_rows(run))))


@_section("config", "Configuration and versions")
def config_section(doc: Document, run: RunRecord) -> None:
    """Package versions and the resolved configuration."""
    doc.raw(table_html(pd.DataFrame([run.metrics.get("versions", {})])))
    doc.raw(f"<pre>{html.escape(run.config_text)}</pre>")


#: (id, title, function) of every section, in report order.
@_section("baselines", "Does the model beat the obvious? Baselines under the same folds")
def baselines_section(doc: Document, run: RunRecord) -> None:
    """Each safeguard baseline beside the model: headline metric, paired-bootstrap difference with its CI."""
    mix, perm = run.summary.get("case_mix"), run.summary.get("permutation")
    if perm:
        doc.text(f"Permutation test of the whole nested procedure ({perm['n_permutations']} refits, outcomes permuted "
                 f"within site, whole patients): p = {fmt_number(perm['p_value'])} (Monte-Carlo SE "
                 f"{fmt_number(perm['mc_se'])}); {perm.get('metric', 'AUC')} under the null: mean "
                 f"{fmt_number(perm['null_auc_mean'])}, 95th percentile {fmt_number(perm['null_auc_95th'])}.")
    if mix:
        key = next(k for k in mix if k.endswith("_by_site"))
        shown = {k: (f"{v:.0%}" if key.endswith("rate_by_site") else fmt_number(v) if not isinstance(v, str) else v)
                 for k, v in mix[key].items()}
        doc.text(f"Case mix: the site alone predicts the outcome with {mix.get('metric', 'AUC')} "
                 f"{fmt_number(mix['auc'])} ({mix['cv']}; under leave-site-out the site is constant within each test "
                 f"fold, so this is not a baseline of the run's folds). {key.replace('_', ' ')}: "
                 + ", ".join(f"{k} {v}" for k, v in shown.items()) + ".", cls="note")
    base = run.summary.get("baselines")
    if not base:
        doc.text("No baselines in this run (safeguards.baselines: false, or none applies: no volume column, "
                 "no clinical block, no ComBat).", cls="note")
        return
    rows = []
    for name, b in base.items():
        d = b.get("delong")
        dec = b.get("decision") or {"ci_low": b["ci_low"], "ci_high": b["ci_high"]}
        rows.append({"baseline": name, "what": b["description"], "metric": b["headline"], "baseline value": b["baseline"],
                     "model": b["model"], "difference": b["difference"], "refit-aware 95% CI low": dec["ci_low"],
                     "refit-aware 95% CI high": dec["ci_high"], "bootstrap 95% CI low": b["ci_low"],
                     "bootstrap 95% CI high": b["ci_high"], "model beats it": "yes" if b["beats_baseline"] else "no",
                     "DeLong p": d["p_value"] if d else None})
    beaten = [r["baseline"] for r in rows if r["model beats it"] == "yes"]
    doc.text(f"The model beats {len(beaten)} of {len(rows)} baseline(s)" + (f" ({', '.join(beaten)})" if beaten else "")
             + ": a baseline is beaten when the refit-aware 95% CI of the difference (model minus baseline) lies above "
             "0. Random-split outer folds: the corrected resampled t-test of Nadeau and Bengio over the per-fold "
             "differences, each fold a refit of both procedures; leave-site-out (a fixed partition): the paired "
             "bootstrap widened by the variance between two fits with different seeds. The paired bootstrap over "
             "patients (the same resamples for both, predictions held fixed) is shown beside it: it cannot see the "
             "variability of refitting.")
    doc.raw(table_html(pd.DataFrame(rows)))
    doc.text("DeLong's test is shown only for non-nested comparisons on independent rows (it is invalid for nested "
             "models, Demler et al. 2012, and for clustered lesions).", cls="note")
    corr = run.summary.get("volume_correlation")
    if corr:
        doc.text("Selected features and tumour volume (Welch et al. 2019): each feature selected in at least one outer "
                 "fold, how often, and its Spearman correlation with the volume column over all patients.")
        doc.raw(table_html(pd.DataFrame(corr).head(40)))


REGISTRY: tuple[tuple[str, str, SectionFunction], ...] = tuple(
    (f.section_id, f.title, f) for f in (
        verdict_section, data_section, metrics_section, baselines_section, roc_section, precision_recall_section,
        calibration_section,
        decision_curve_section, confusion_section, folds_section, sites_section, blocks_section, selection_section,
        robustness_section, site_effect_section, shap_section, checklist_section, config_section))

#: The section ids, in report order.
SECTIONS = tuple(sid for sid, _, _ in REGISTRY)
