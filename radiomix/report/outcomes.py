"""Report sections of multiclass and regression runs: the summary line, the data, the metrics with CIs, ROC
curves per class and the confusion matrix (multiclass), observed against predicted values (regression), and the
per-fold table. The verdict, baselines, sites, selection, SHAP, checklist and config sections are shared with
binary runs (:mod:`radiomix.report.sections`)."""

from __future__ import annotations

import html

import numpy as np
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

__all__ = ["outcome_header", "MULTICLASS_REGISTRY", "REGRESSION_REGISTRY", "roc_classes_figure",
           "confusion_matrix_figure", "observed_predicted_figure"]

_LABELS = {"auc_macro": "macro one-vs-rest AUC", "auc_micro": "micro one-vs-rest AUC",
           "balanced_accuracy": "balanced accuracy", "accuracy": "accuracy", "brier": "Brier score (multiclass)",
           "r2": "R2", "rmse": "RMSE", "mae": "MAE", "calibration_intercept": "calibration-in-the-large",
           "calibration_slope": "calibration slope"}


def outcome_header(doc: Document, run: RunRecord, title: str | None = None) -> None:
    """Heading and one line: target, model, headline metric with CI, patients."""
    s, cfg = run.summary, run.config
    task = _task(run)
    doc.raw(f"<h1>{html.escape(title or f'radiomix run: {run.name}')}</h1>")
    doc.text(f"{cfg.get('task', '?').capitalize()} outcome {cfg.get('target', '?')}, model "
             f"{cfg.get('model', {}).get('name', '?')}, out-of-fold "
             f"{headline_text(s, _label(task, task.headline), s[task.headline])} over "
             f"{s.get('n_samples', len(run.pooled))} patients.")


def _task(run: RunRecord):
    from ..outcomes import DEFAULT_TASK, get_task

    return get_task(run.settings.get("task", DEFAULT_TASK))


def _label(task, metric: str) -> str:
    return _LABELS.get(metric, task.headline_label if metric == task.headline else metric)


@report_section("data", "Data")
def outcome_data_section(doc: Document, run: RunRecord) -> None:
    """Patients per class (multiclass) or the target's distribution (regression), and the feature columns."""
    s, data = run.summary, run.metrics.get("data", {})
    doc.text(f"{s.get('n_samples', len(run.pooled))} patients ({data.get('n_dropped_missing_target', 0)} dropped for a "
             f"missing outcome), {data.get('n_features', '?')} feature columns "
             f"({', '.join(f'{k}: {v}' for k, v in data.get('column_groups', {}).items())}).")
    if "classes" in s:
        doc.raw(table_html(pd.DataFrame({"class": list(s["classes"]), "patients": list(s["classes"].values())})))
    elif "target" in s:
        doc.raw(table_html(pd.DataFrame([s["target"]])))
    for note in data.get("notes", []):
        doc.text(note, cls="note")


@report_section("metrics", "Out-of-fold performance")
def outcome_metrics_section(doc: Document, run: RunRecord) -> None:
    """Every metric of the task with its 95% CI; per class for multiclass."""
    s, task = run.summary, _task(run)
    shown = [*task.metrics, *(m for m in _LABELS if m not in task.metrics)]
    rows = [{"metric": _label(task, m), "estimate": s[m]["estimate"], "95% CI": fmt_estimate(s[m])}
            for m in shown if m in s and isinstance(s[m], dict) and "estimate" in s[m]]
    doc.raw(table_html(pd.DataFrame(rows)))
    if "per_class" in s:
        doc.raw(table_html(pd.DataFrame(s["per_class"]).T.rename_axis("class").reset_index()))
    f = s.get(f"{task.headline}_folds")
    if f:
        doc.text(f"Per outer fold: {_label(task, task.headline)} {fmt_number(f['mean'])} +- {fmt_number(f['sd'])} "
                 f"over {f['n']} folds. CIs: {run.settings.get('ci_method', 'bootstrap')}.", cls="note")


def roc_classes_figure(y, P: np.ndarray, classes, title: str = "ROC per class (one vs rest)"):
    from sklearn.metrics import roc_curve

    fig = new_figure(5.0, 4.2)
    ax = fig.add_subplot()
    for j, c in enumerate(classes):
        hit = np.asarray(y) == j
        if 0 < hit.sum() < len(hit):
            fpr, tpr, _ = roc_curve(hit, P[:, j])
            ax.plot(fpr, tpr, label=f"{c}")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=title)
    ax.legend(fontsize=8)
    return fig


def confusion_matrix_figure(confusion: dict, title: str = "Confusion matrix (most probable class)"):
    m = np.asarray(confusion["matrix"])
    k = len(confusion["classes"])
    fig = new_figure(1.2 + 0.8 * k, 1.0 + 0.7 * k)
    ax = fig.add_subplot()
    ax.imshow(m, cmap="Blues")
    for a in range(k):
        for b in range(k):
            ax.text(b, a, str(m[a, b]), ha="center", va="center", color="white" if m[a, b] > m.max() / 2 else "black")
    ax.set(xticks=range(k), yticks=range(k), xticklabels=confusion["classes"], yticklabels=confusion["classes"],
           xlabel="predicted", ylabel="true", title=title)
    return fig


@report_section("roc-classes", "ROC curves per class")
def roc_classes_section(doc: Document, run: RunRecord) -> None:
    """One-vs-rest ROC curve of each class (out-of-fold probabilities)."""
    classes = list(run.summary["classes"])
    P = run.pooled[[f"proba_{c}" for c in classes]].to_numpy(float)
    doc.figure(roc_classes_figure(run.pooled["y"].to_numpy(int), P, classes), "roc_classes", "ROC per class")


@report_section("confusion-classes", "Confusion matrix")
def confusion_classes_section(doc: Document, run: RunRecord) -> None:
    """Counts of true against most probable class."""
    doc.figure(confusion_matrix_figure(run.summary["confusion"]), "confusion_classes", "confusion matrix")


def observed_predicted_figure(y, pred, cal: dict, title: str = "Observed against predicted (out of fold)"):
    fig = new_figure(4.6, 4.4)
    ax = fig.add_subplot()
    ax.scatter(pred, y, s=10, alpha=0.6)
    lo, hi = float(min(np.min(y), np.min(pred))), float(max(np.max(y), np.max(pred)))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--", label="ideal")
    xs = np.linspace(lo, hi, 2)
    ax.plot(xs, np.mean(y) + cal["slope"] * (xs - np.mean(pred)), color="tab:red",
            label=f"calibration slope {cal['slope']:.2f}")
    ax.set(xlabel="predicted", ylabel="observed", title=title)
    ax.legend(fontsize=8)
    return fig


@report_section("observed-predicted", "Observed against predicted")
def observed_predicted_section(doc: Document, run: RunRecord) -> None:
    """Scatter of observed against out-of-fold predicted values, with the calibration line."""
    cal = run.summary["calibration"]
    doc.figure(observed_predicted_figure(run.pooled["y"].to_numpy(float), run.pooled["pred"].to_numpy(float), cal),
               "observed_predicted", "observed against predicted values")
    doc.text(f"Calibration-in-the-large {fmt_number(cal['intercept'])} (0 ideal), slope {fmt_number(cal['slope'])} "
             "(1 ideal; below 1: predictions too spread, overfitting).", cls="note")


_SHARED_HEAD = (verdict_section, outcome_data_section, outcome_metrics_section, baselines_section)
_SHARED_TAIL = (task_folds_section, sites_section, selection_section, robustness_section, shap_section, checklist_section,
                config_section)
#: Sections of a multiclass report, in order.
MULTICLASS_REGISTRY = tuple((f.section_id, f.title, f) for f in (
    *_SHARED_HEAD, roc_classes_section, confusion_classes_section, *_SHARED_TAIL))
#: Sections of a regression report, in order.
REGRESSION_REGISTRY = tuple((f.section_id, f.title, f) for f in (
    *_SHARED_HEAD, observed_predicted_section, *_SHARED_TAIL))
