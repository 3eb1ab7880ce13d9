"""Figures and a self-contained HTML report of a ``radiomix train`` run folder.

:func:`write_report` reads what :func:`radiomix.train.train` wrote (``metrics.json``, ``folds.csv``,
``oof_predictions.csv``, ``config.resolved.yaml``, ``model.skops``) and writes ``report.html``: one file,
plots embedded as base64 PNG, no scripts, fonts or styles fetched from anywhere, so it opens offline and
can be mailed or archived. The same plots are saved as PNG in ``run_dir/figures/``.

All plots are drawn on :class:`matplotlib.figure.Figure` objects (no pyplot state), so they are safe in
notebooks and worker processes.

Modules: :mod:`.figures` (the plots), :mod:`.document` (the HTML document), :mod:`.run` (:class:`RunRecord`,
a run folder read once) and :mod:`.sections` (one function per report section, :data:`SECTIONS` in order).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..outcomes import DEFAULT_TASK, get_task
from .document import Document
from .figures import (
    calibration_figure,
    confusion_figure,
    decision_curve_figure,
    low_dim_plot,
    pr_figure,
    roc_figure,
    shap_bar_figure,
    shap_beeswarm_figure,
)
from .run import RunRecord
from .sections import (
    METRIC_LABELS,
    REGISTRY,
    SECTIONS,
    blocks_section,
    calibration_section,
    checklist_section,
    config_section,
    confusion_section,
    data_section,
    decision_curve_section,
    folds_section,
    header,
    metrics_section,
    precision_recall_section,
    robustness_section,
    roc_section,
    selection_section,
    shap_section,
    site_effect_section,
    sites_section,
    verdict_section,
)

__all__ = ["write_report", "SECTIONS_BY_KEY", "HEADERS", "low_dim_plot", "roc_figure", "pr_figure", "calibration_figure",
           "decision_curve_figure", "confusion_figure", "shap_bar_figure", "shap_beeswarm_figure",
           "SECTIONS", "REGISTRY", "RunRecord", "Document", "METRIC_LABELS", "header", "data_section",
           "baselines_section", "verdict_section", "checklist_section",
           "metrics_section", "roc_section", "precision_recall_section", "calibration_section",
           "decision_curve_section", "confusion_section", "folds_section", "sites_section", "blocks_section",
           "selection_section", "robustness_section", "site_effect_section", "shap_section", "config_section"]


def write_report(run_dir: str | os.PathLike, *, table=None, out: str | os.PathLike | None = None,
                 n_bootstrap: int = 500, top: int = 15, title: str | None = None, model=None,
                 trusted=()) -> Path:
    """Write ``report.html`` (self-contained) and ``figures/*.png`` for a ``radiomix train`` run folder.

    Parameters
    ----------
    run_dir : path
        Folder written by ``radiomix.train.train(..., out=run_dir)``.
    table : DataFrame or path, optional
        The training table: with it and ``model.skops``, the report shows SHAP explanations of the final
        model (bar of mean |SHAP| and a beeswarm) and the patients per site for the whole table.
    out : path, optional
        Report file (default ``run_dir/report.html``).
    n_bootstrap : int
        Resamples of the ROC band.
    top : int
        Features shown in the SHAP plots.
    model : RadiomixModel, optional
        The final model in memory (``train`` passes it); otherwise ``model.skops`` is loaded with
        :func:`radiomix.model.load_model`, accepting the extra types in ``trusted`` (``radiomix report --trust``).

    Sections (each a ``<section id=...>``): verdict (first: baselines, permutation test, case mix, events
    per feature, selected features vs volume), data, metrics, baselines, roc, precision-recall, calibration,
    decision-curve, confusion, folds, sites (when a batch column was set), blocks (late fusion), shap
    (held-out SHAP of the outer-fold models; the final model on its training table as a labelled extra when
    the model and the table are there), checklist (TRIPOD+AI / CLEAR topics), config.
    """
    import dataclasses

    from ..io import atomic_write_text

    run = dataclasses.replace(RunRecord.load(run_dir, table=table, top=top, n_bootstrap=n_bootstrap), model=model,
                              trusted=list(trusted or ()))
    doc = Document(run.path / "figures")
    task = get_task(run.settings.get("task", DEFAULT_TASK))
    HEADERS[task.report_header](doc, run, title)
    for key in task.report_layout:  # the outcome type's sections, in its order
        SECTIONS_BY_KEY[key](doc, run)
    target = Path(out) if out is not None else run.path / "report.html"
    atomic_write_text(target, doc.page(title or run.name))
    return target


def _sections_by_key() -> dict:
    from .outcomes import (
        confusion_classes_section,
        observed_predicted_section,
        outcome_data_section,
        outcome_metrics_section,
        roc_classes_section,
    )
    from .sections import task_folds_section
    from .survival import (
        calibration_horizons_section,
        km_section,
        survival_data_section,
        survival_metrics_section,
        td_auc_section,
    )

    out = {sid: fn for sid, _, fn in REGISTRY}
    out.update({"data.outcome": outcome_data_section, "metrics.outcome": outcome_metrics_section,
                "roc-classes": roc_classes_section, "confusion-classes": confusion_classes_section,
                "observed-predicted": observed_predicted_section, "folds.task": task_folds_section,
                "data.survival": survival_data_section, "metrics.survival": survival_metrics_section,
                "km": km_section, "td-auc": td_auc_section, "calibration-horizons": calibration_horizons_section})
    return out


def _headers() -> dict:
    from .outcomes import outcome_header
    from .survival import survival_header

    return {"header": header, "header.outcome": outcome_header, "header.survival": survival_header}


#: Every report section by the key an outcome type's ``report_layout`` names it with
#: (:attr:`radiomix.outcomes.Task.report_layout`); ``HEADERS`` the report headers by ``report_header``.
SECTIONS_BY_KEY = _sections_by_key()
HEADERS = _headers()
