"""Figures and a self-contained HTML report of a ``radiomix train`` run folder.

:func:`write_report` reads what :func:`radiomix.train.train` wrote (``metrics.json``, ``folds.csv``,
``oof_predictions.csv``, ``config.resolved.yaml``, ``model.skops``) and writes ``report.html``: one file,
plots embedded as base64 PNG, no scripts, fonts or styles fetched from anywhere, so it opens offline and
can be mailed or archived. The same plots are saved as PNG in ``run_dir/figures/``.

All plots are drawn on :class:`matplotlib.figure.Figure` objects (no pyplot state), so they are safe in
notebooks and worker processes.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_report", "low_dim_plot", "roc_figure", "pr_figure", "calibration_figure",
           "decision_curve_figure", "confusion_figure", "shap_bar_figure", "shap_beeswarm_figure"]

METRIC_LABELS = {"auc": "AUC", "accuracy": "Accuracy", "balanced_accuracy": "Balanced accuracy",
                 "sensitivity": "Sensitivity", "specificity": "Specificity", "ppv": "PPV", "npv": "NPV",
                 "f1": "F1", "brier": "Brier score"}

SECTIONS = ("data", "metrics", "roc", "precision-recall", "calibration", "decision-curve", "confusion",
            "folds", "sites", "blocks", "selection", "site-effect", "shap", "config")


def _figure(w=5.0, h=4.0):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=110, layout="constrained")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ figures
def _pooled(oof: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: the true class and the out-of-fold probability averaged over repeats."""
    return oof.groupby("id", sort=False).agg(y=("y", "first"), proba=("proba", "mean"))


def roc_figure(y, p, *, n_bootstrap: int = 500, random_state: int = 0, title: str = "ROC curve"):
    """ROC curve of out-of-fold predictions with a 95 % percentile-bootstrap band (patients resampled
    within each class; true-positive rate interpolated on a common false-positive-rate grid)."""
    from sklearn.metrics import roc_curve

    from .evaluate import roc_auc

    y, p = np.asarray(y).astype(int), np.asarray(p, float)
    grid = np.linspace(0, 1, 101)
    fpr, tpr, _ = roc_curve(y, p)
    rng = np.random.default_rng(random_state)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    curves = np.empty((n_bootstrap, grid.size))
    for b in range(n_bootstrap):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        f, t, _ = roc_curve(y[idx], p[idx])
        curves[b] = np.interp(grid, f, t)
    fig = _figure()
    ax = fig.add_subplot()
    if n_bootstrap:
        ax.fill_between(grid, np.percentile(curves, 2.5, axis=0), np.percentile(curves, 97.5, axis=0),
                        color="tab:blue", alpha=0.2, lw=0, label="95% bootstrap band")
    ax.plot(fpr, tpr, color="tab:blue", lw=2, label=f"out-of-fold (AUC {roc_auc(y, p):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    return fig


def pr_figure(y, p, title: str = "Precision-recall"):
    """Precision-recall curve with the prevalence (a no-skill model) as reference."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    y = np.asarray(y).astype(int)
    prec, rec, _ = precision_recall_curve(y, p)
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(rec, prec, lw=2, label=f"average precision {average_precision_score(y, p):.3f}")
    ax.axhline(y.mean(), ls="--", color="grey", lw=1, label=f"prevalence {y.mean():.2f}")
    ax.set(xlabel="recall (sensitivity)", ylabel="precision (PPV)", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower left", fontsize=8)
    return fig


def calibration_figure(y, p, *, reliability: dict | None = None, calibration: dict | None = None,
                       n_bins: int = 10, title: str = "Calibration"):
    """Reliability curve (quantile bins) with the calibration intercept and slope, over a histogram of
    the predicted probabilities."""
    from .evaluate import calibration as cal
    from .evaluate import reliability_curve

    rel = reliability or reliability_curve(y, p, n_bins)
    c = calibration or cal(y, p)
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="ideal")
    ax.plot(rel["mean_predicted"], rel["fraction_positive"], "o-", lw=2,
            label=f"intercept {_f(c['intercept'], '{:.2f}')}, slope {_f(c['slope'], '{:.2f}')}")
    ax2 = ax.twinx()
    counts = ax2.hist(np.asarray(p, float), bins=20, range=(0, 1), color="grey", alpha=0.25)[0]
    ax2.set_ylim(0, 4 * max(counts.max(), 1))  # the histogram stays in the bottom quarter
    ax2.set_yticks([])
    ax.set(xlabel="predicted probability", ylabel="observed fraction positive", title=title, xlim=(0, 1),
           ylim=(0, 1.01))
    ax.legend(loc="upper left", fontsize=8)
    return fig


def decision_curve_figure(curve: dict, title: str = "Decision curve"):
    """Net benefit of the model, treat-all and treat-none over threshold probabilities."""
    t = np.asarray(curve["threshold"])
    nb, al = np.asarray(curve["net_benefit"]), np.asarray(curve["treat_all"])
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(t, nb, lw=2, label="model")
    ax.plot(t, al, color="tab:orange", lw=1, label="treat all")
    ax.axhline(0, color="grey", lw=1, label="treat none")
    ax.set(xlabel="threshold probability", ylabel="net benefit", title=title,
           ylim=(min(-0.05, float(np.nanmin(nb)) - 0.02), max(float(np.nanmax(al)), float(np.nanmax(nb))) + 0.05))
    ax.legend(fontsize=8)
    return fig


def confusion_figure(y, labels, title: str = "Confusion matrix"):
    """Counts of true vs predicted class at each fold's chosen threshold."""
    y, labels = np.asarray(y).astype(int), np.asarray(labels).astype(int)
    m = np.array([[np.sum((y == a) & (labels == b)) for b in (0, 1)] for a in (0, 1)])
    fig = _figure(4, 3.5)
    ax = fig.add_subplot()
    ax.imshow(m, cmap="Blues")
    for a in (0, 1):
        for b in (0, 1):
            ax.text(b, a, str(m[a, b]), ha="center", va="center", fontsize=14,
                    color="white" if m[a, b] > m.max() / 2 else "black")
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["0", "1"], yticklabels=["0", "1"],
           xlabel="predicted", ylabel="true", title=title)
    return fig


def shap_bar_figure(importance: pd.DataFrame, top: int = 15, title: str = "Mean |SHAP|"):
    """Horizontal bars of mean |SHAP| (``ShapResult.importance()``), largest on top."""
    imp = importance.head(top).iloc[::-1]
    fig = _figure(6, 0.3 * len(imp) + 1.2)
    ax = fig.add_subplot()
    ax.barh([str(i) for i in imp.index], imp["mean_abs_shap"], color="tab:blue")
    ax.set(xlabel="mean |SHAP value|", title=title)
    ax.tick_params(axis="y", labelsize=8)
    return fig


def shap_beeswarm_figure(result, top: int = 15, title: str = "SHAP values per patient", random_state: int = 0):
    """One row of dots per feature (top by mean |SHAP|): each dot a patient's SHAP value, coloured by
    the feature's value (rank within the feature, blue low, red high; grey for text or missing)."""
    imp = result.importance().head(top)
    feats = list(imp.index[::-1])
    rng = np.random.default_rng(random_state)
    fig = _figure(7, 0.35 * len(feats) + 1.4)
    ax = fig.add_subplot()
    sc = None
    for row, f in enumerate(feats):
        s = result.values[f].to_numpy(float)
        x = pd.to_numeric(result.data[f], errors="coerce").to_numpy(float) \
            if pd.api.types.is_numeric_dtype(result.data[f]) else np.full(len(s), np.nan)
        ok = np.isfinite(x)
        c = np.full(len(s), np.nan)
        if ok.sum() > 1:
            c[ok] = pd.Series(x[ok]).rank(pct=True).to_numpy()
        jitter = rng.uniform(-0.3, 0.3, len(s))
        ax.scatter(s[~ok], row + jitter[~ok], s=8, color="grey", alpha=0.6)
        sc = ax.scatter(s[ok], row + jitter[ok], s=8, c=c[ok], cmap="coolwarm", vmin=0, vmax=1, alpha=0.8)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(range(len(feats)), feats, fontsize=8)
    ax.set(xlabel=f"SHAP value ({result.output})", title=title)
    if sc is not None:
        cb = fig.colorbar(sc, ax=ax, ticks=[0, 1], aspect=30)
        cb.ax.set_yticklabels(["low", "high"])
        cb.set_label("feature value")
    return fig


def low_dim_plot(X: pd.DataFrame, color_by=None, method: str = "pca", *, random_state: int = 0, title=None):
    """Patients in two dimensions (PCA, t-SNE or, when umap-learn is installed, UMAP of the standardized numeric columns, missing values
    median-imputed), coloured by ``color_by``: a column name of ``X``, or values per row (text or few
    levels: one colour per level; numeric: a colour bar). Returns a matplotlib Figure."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    if method not in ("pca", "tsne", "umap"):
        raise ValueError(f"method must be 'pca', 'tsne' or 'umap', got {method!r}")
    X = pd.DataFrame(X)
    if isinstance(color_by, str):
        if color_by not in X.columns:
            raise ValueError(f"color_by column {color_by!r} not in X")
        color, label = X[color_by], color_by
        X = X.drop(columns=color_by)
    else:
        color, label = (pd.Series(np.asarray(color_by), index=X.index) if color_by is not None else None), ""
    num = X.select_dtypes("number")
    if num.shape[1] < 2:
        raise ValueError(f"low_dim_plot needs at least 2 numeric columns; X has {num.shape[1]}")
    Z = StandardScaler().fit_transform(SimpleImputer(strategy="median", keep_empty_features=True).fit_transform(num))
    if method == "umap":
        try:
            import umap  # optional: pip install umap-learn
        except ImportError as err:
            raise ImportError("method='umap' needs the optional package umap-learn (pip install umap-learn)") from err
        E = umap.UMAP(n_components=2, random_state=random_state).fit_transform(Z)
        axes = ["UMAP 1", "UMAP 2"]
    elif method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(2, random_state=random_state).fit(Z)
        E = pca.transform(Z)
        axes = [f"PC{i + 1} ({100 * v:.0f}% variance)" for i, v in enumerate(pca.explained_variance_ratio_)]
    else:  # t-SNE
        from sklearn.manifold import TSNE

        E = TSNE(2, perplexity=min(30.0, max(2.0, (len(Z) - 1) / 3)), random_state=random_state,
                 init="pca").fit_transform(Z)
        axes = ["t-SNE 1", "t-SNE 2"]
    fig = _figure(5.5, 4.5)
    ax = fig.add_subplot()
    if color is None:
        ax.scatter(E[:, 0], E[:, 1], s=12)
    elif pd.api.types.is_numeric_dtype(color) and color.nunique() > 10:
        sc = ax.scatter(E[:, 0], E[:, 1], s=12, c=color.to_numpy(float), cmap="viridis")
        fig.colorbar(sc, ax=ax, label=label)
    else:
        for lev in sorted(color.dropna().unique(), key=str):
            m = (color == lev).to_numpy()
            ax.scatter(E[m, 0], E[m, 1], s=12, label=str(lev))
        if color.isna().any():
            m = color.isna().to_numpy()
            ax.scatter(E[m, 0], E[m, 1], s=12, color="grey", label="missing")
        ax.legend(title=label or None, fontsize=8)
    ax.set(xlabel=axes[0], ylabel=axes[1], title=title or f"{method.upper()} of {num.shape[1]} numeric columns")
    return fig


# --------------------------------------------------------------------------------------------- HTML
_CSS = """body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right}th{background:#f3f3f3}img{max-width:100%;margin:.3em}.figs{display:flex;flex-wrap:wrap}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:.8em}.note{color:#666;font-size:.9em}"""


def _f(v, fmt="{:.3f}") -> str:
    """A number for the text (JSON null and NaN, e.g. a CI without bootstrap, read "n/a")."""
    try:
        return fmt.format(float(v)) if v is not None and np.isfinite(float(v)) else "n/a"
    except (TypeError, ValueError):
        return str(v)


def _table_html(df: pd.DataFrame, floatfmt="{:.3f}") -> str:
    df = df.map(lambda v: np.nan if v is None else v)
    return df.to_html(index=False, escape=True, border=0, na_rep="",
                      float_format=lambda v: floatfmt.format(v))


class _Doc:
    def __init__(self, figures_dir: Path | None):
        self.parts: list[str] = []
        self.figures_dir = figures_dir
        self.figures: dict[str, Path] = {}

    def section(self, sid: str, title: str):
        self.parts.append(f'<section id="{sid}"><h2>{html.escape(title)}</h2>')

    def end(self):
        self.parts.append("</section>")

    def text(self, s: str, cls: str | None = None):
        self.parts.append(f"<p{f' class={cls!r}' if cls else ''}>{html.escape(s)}</p>")

    def raw(self, s: str):
        self.parts.append(s)

    def figure(self, fig, name: str, alt: str):
        data = _png(fig)
        if self.figures_dir is not None:
            self.figures_dir.mkdir(parents=True, exist_ok=True)
            path = self.figures_dir / f"{name}.png"
            path.write_bytes(data)
            self.figures[name] = path
        b64 = base64.b64encode(data).decode("ascii")
        self.parts.append(f'<img alt="{html.escape(alt)}" title="{html.escape(name)}" '
                          f'src="data:image/png;base64,{b64}">')


def _ci_table(summary: dict) -> pd.DataFrame:
    rows = []
    for m, lab in METRIC_LABELS.items():
        if m in summary:
            s = summary[m]
            rows.append({"metric": lab, "estimate": s["estimate"], "95% CI low": s["ci_low"],
                         "95% CI high": s["ci_high"]})
    return pd.DataFrame(rows)


def write_report(run_dir: str | os.PathLike, *, table=None, out: str | os.PathLike | None = None,
                 n_bootstrap: int = 500, top: int = 15, title: str | None = None) -> Path:
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

    Sections (each a ``<section id=...>``): data, metrics, roc, precision-recall, calibration,
    decision-curve, confusion, folds, sites (when a batch column was set), blocks (late fusion), shap
    (when the model and the table are there), config.
    """
    import yaml

    run = Path(run_dir)
    for name in ("metrics.json", "oof_predictions.csv"):
        if not (run / name).is_file():
            raise FileNotFoundError(f"{run / name} not found: is {run} a folder written by radiomix train?")
    metrics = json.loads((run / "metrics.json").read_text())
    summary = metrics["summary"]
    oof = pd.read_csv(run / "oof_predictions.csv", dtype={"id": str})
    folds = pd.read_csv(run / "folds.csv") if (run / "folds.csv").is_file() else None
    cfg_text = (run / "config.resolved.yaml").read_text() if (run / "config.resolved.yaml").is_file() else ""
    cfg = yaml.safe_load(cfg_text) if cfg_text else {}
    doc = _Doc(run / "figures")
    pooled = _pooled(oof)
    y, p = pooled["y"].to_numpy(int), pooled["proba"].to_numpy(float)

    auc = summary["auc"]
    doc.raw(f"<h1>{html.escape(title or f'radiomix run: {run.name}')}</h1>")
    doc.text(f"Target {cfg.get('target', '?')}, model {cfg.get('model', {}).get('name', '?')}, out-of-fold AUC "
             f"{_f(auc['estimate'])} (95% CI {_f(auc['ci_low'])}-{_f(auc['ci_high'])}) over "
             f"{summary.get('n_samples', len(pooled))} patients.")

    # data
    doc.section("data", "Data")
    data = metrics.get("data", {})
    classes = data.get("classes", ["0", "1"])
    bal = pd.DataFrame({"class": [f"{classes[0]} (negative)", f"{classes[-1]} (positive)"],
                        "patients": [int((y == 0).sum()), int((y == 1).sum())]})
    bal["fraction"] = bal["patients"] / bal["patients"].sum()
    doc.text(f"{len(pooled)} patients with an outcome ({data.get('n_dropped_missing_target', 0)} dropped for a "
             f"missing outcome), {data.get('n_features', '?')} feature columns "
             f"({', '.join(f'{k}: {v}' for k, v in data.get('column_groups', {}).items())}).")
    doc.raw(_table_html(bal))
    if "site" in oof.columns:
        per_site = oof.groupby("id").first().groupby("site").agg(patients=("y", "size"), positive=("y", "sum"))
        per_site["fraction positive"] = per_site["positive"] / per_site["patients"]
        doc.raw(_table_html(per_site.reset_index()))
    df_table = None
    if table is not None:
        from .io import read_table
        from .tables import column_groups

        df_table = table if isinstance(table, pd.DataFrame) else read_table(table)
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
            doc.raw(_table_html(pd.DataFrame(rows)))
        target = cfg.get("target")
        rad = [c for c in groups.get("radiomic", []) if c in df_table.columns]
        if target in df_table.columns and len(rad) >= 2:
            view = df_table[rad].assign(**{target: df_table[target].astype(str)})
            for method in ("pca", "tsne"):
                doc.figure(low_dim_plot(view, target, method, title=f"radiomic features ({method.upper()}), by {target}"),
                           f"view_{method}", f"{method.upper()} of the radiomic features coloured by outcome")
    doc.end()

    # metrics
    doc.section("metrics", "Metrics with 95% confidence intervals")
    doc.raw(_table_html(_ci_table(summary)))
    s = metrics.get("settings", {})
    af = summary.get("auc_folds", {})
    doc.text(f"Pooled out-of-fold predictions ({s.get('outer', '?')} outer folds: {s.get('outer_splits', '?')} x "
             f"{s.get('n_repeats', 1)} repeat(s); inner {s.get('inner_splits', '?')} folds, {s.get('search', '?')} "
             f"search). CIs: {s.get('ci_method', 'bootstrap')} ({s.get('n_bootstrap', '?')} resamples). "
             f"Per-fold AUC {_f(af.get('mean'))} +- {_f(af.get('sd'))} over {af.get('n', '?')} folds. "
             "Decision threshold chosen inside each training fold "
             f"({s.get('threshold', '?')}).", cls="note")
    doc.end()

    doc.section("roc", "ROC curve")
    doc.figure(roc_figure(y, p, n_bootstrap=n_bootstrap), "roc", "ROC curve with bootstrap band")
    doc.end()
    doc.section("precision-recall", "Precision-recall")
    doc.figure(pr_figure(y, p), "precision_recall", "precision-recall curve")
    doc.end()
    doc.section("calibration", "Calibration")
    doc.figure(calibration_figure(y, p, reliability=summary.get("reliability"), calibration=summary.get("calibration")),
               "calibration", "reliability curve")
    doc.end()
    doc.section("decision-curve", "Decision curve")
    from .evaluate import decision_curve

    doc.figure(decision_curve_figure(summary.get("decision_curve") or decision_curve(y, p)), "decision_curve",
               "decision curve")
    doc.end()
    doc.section("confusion", "Confusion matrix")
    doc.figure(confusion_figure(oof["y"], oof["label"]), "confusion", "confusion matrix")
    thr = oof.groupby(["repeat", "fold"])["threshold"].first()
    doc.text(f"Out-of-fold labels at each fold's threshold (median {_f(thr.median())}, range "
             f"{_f(thr.min())}-{_f(thr.max())})"
             + (f"; the final model's threshold is {_f(metrics['final_model']['threshold'])}."
                if metrics.get("final_model") else "."), cls="note")
    doc.end()

    doc.section("folds", "Per-fold results")
    if folds is not None:
        cols = [c for c in ("test_site", "repeat", "fold", "n_test", "n_pos_test", "auc", "sensitivity",
                            "specificity", "brier", "threshold", "inner_score", "n_candidates", "seconds", "params")
                if c in folds.columns]
        doc.raw(_table_html(folds[cols]))
    else:
        doc.text("folds.csv not found.", cls="note")
    doc.end()

    doc.section("sites", "Per-site results")
    if summary.get("per_site"):
        doc.raw(_table_html(pd.DataFrame(summary["per_site"]).T.rename_axis("site").reset_index()))
    else:
        doc.text("No batch (site) column was configured.", cls="note")
    doc.end()

    doc.section("blocks", "Blocks (late fusion)")
    if summary.get("blocks"):
        rows = [{"block": b, "AUC": v["auc"]["estimate"], "95% CI low": v["auc"]["ci_low"],
                 "95% CI high": v["auc"]["ci_high"]} for b, v in summary["blocks"].items()]
        rows.append({"block": "fused", "AUC": auc["estimate"], "95% CI low": auc["ci_low"], "95% CI high": auc["ci_high"]})
        doc.raw(_table_html(pd.DataFrame(rows)))
        fig = _figure()
        ax = fig.add_subplot()
        from sklearn.metrics import roc_curve

        for b in summary["blocks"]:
            pb = oof.groupby("id", sort=False)[f"proba_{b}"].mean().reindex(pooled.index)
            f, t, _ = roc_curve(y, pb)
            ax.plot(f, t, label=f"{b} ({_f(summary['blocks'][b]['auc']['estimate'])})")
        f, t, _ = roc_curve(y, p)
        ax.plot(f, t, color="black", lw=2, label=f"fused ({_f(auc['estimate'])})")
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
        ax.set(xlabel="1 - specificity", ylabel="sensitivity", title="ROC per block")
        ax.legend(fontsize=8)
        doc.figure(fig, "roc_blocks", "ROC per block")
    else:
        doc.text("Early fusion: one model on all columns.", cls="note")
    doc.end()

    doc.section("selection", "Feature selection stability")
    if folds is not None and "selected" in folds.columns:
        from .select import selection_frequency

        lists = [json.loads(s) if isinstance(s, str) else s for s in folds["selected"]]
        freq = selection_frequency(lists)
        doc.text(f"How often each feature was selected over the {len(lists)} outer folds (top {top}).", cls="note")
        shown = freq.head(top)
        fig = _figure()
        ax = fig.add_subplot()
        ax.barh(range(len(shown))[::-1], shown["frequency"].to_numpy(), color="#4c72b0")
        ax.set_yticks(range(len(shown))[::-1], [str(i) for i in shown.index], fontsize=7)
        ax.set(xlabel="fraction of outer folds selecting the feature", xlim=(0, 1), title="selection stability")
        doc.figure(fig, "selection_stability", "feature selection stability")
        doc.raw(_table_html(shown.reset_index()))
    else:
        doc.text("No feature-selection step in this pipeline.", cls="note")
    doc.end()

    doc.section("site-effect", "Site effect")
    batch = cfg.get("batch")
    if df_table is None or not batch or batch not in df_table.columns:
        doc.text("Needs a batch (site) column and the training table (--table).", cls="note")
    else:
        import warnings

        from .harmonize import ComBat, compare_site_effect, plot_site_effect

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                h = cfg.get("harmonize", {})
                combat = ComBat(batch=batch, covariates=h.get("covariates") or None,
                                categorical=h.get("categorical") or None, target=cfg.get("target"))
                site_df = df_table[df_table[batch].notna()]
                cmp_ = compare_site_effect(site_df, combat, batch)
                doc.text("Cross-validated AUC of predicting the site from the radiomic features (logistic, "
                         "one-vs-rest), and the fraction of features whose distribution differs between sites "
                         "(Kruskal-Wallis, BH 5%), before ComBat and with ComBat fitted inside the folds"
                         + (" (this run harmonized with ComBat)." if h.get("method") == "combat"
                            else " (this run did not use ComBat: the 'after' row shows what it would do)."),
                         cls="note")
                doc.raw(_table_html(cmp_.reset_index()))
                doc.figure(plot_site_effect(site_df, combat, batch), "site_effect_pca",
                           "PCA of the radiomic features coloured by site, before and after ComBat")
                from .harmonize import site_effect

                kw = site_effect(combat.fit_transform(site_df), batch).kruskal
                still = kw[kw["p_fdr"] < 0.05].sort_values("p_fdr")
                doc.text(f"{len(still)} of {len(kw)} features remain site-dependent after ComBat (Kruskal-Wallis, "
                         "BH 5%): ComBat aligns per-site means and variances, not whole distributions"
                         + (f"; the {min(top, len(still))} strongest:" if len(still) else "."), cls="note")
                if len(still):
                    doc.raw(_table_html(still.head(top).reset_index()))
        except ValueError as err:
            doc.text(f"Site-effect analysis not available: {err}", cls="note")
    doc.end()

    doc.section("shap", "SHAP explanations of the final model")
    if not (run / "model.skops").is_file():
        doc.text("No final model (model.skops) in this run.", cls="note")
    elif table is None:
        doc.text("Pass the training table (write_report(run_dir, table=...), radiomix report RUN --table) to "
                 "explain the final model.", cls="note")
    else:
        import warnings

        from .explain import explain_model
        from .io import read_table
        from .model import load_model

        df = table if isinstance(table, pd.DataFrame) else read_table(table)
        model = load_model(run / "model.skops")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = explain_model(model, df)
        except ValueError as err:  # late fusion, or a table that does not fit the model
            doc.text(f"SHAP not available: {err}", cls="note")
        else:
            imp = res.importance()
            doc.figure(shap_bar_figure(imp, top), "shap_bar", "mean absolute SHAP per feature")
            doc.figure(shap_beeswarm_figure(res, top), "shap_beeswarm", "SHAP beeswarm")
            doc.text(f"{res.explainer[0]} on {len(res.values)} training patients; SHAP values in {res.output} "
                     "units; one-hot and missingness-indicator columns summed into their source column; direction: "
                     "Spearman correlation of the feature's value and its SHAP value.", cls="note")
            doc.raw(_table_html(imp.head(top).reset_index()))
    doc.end()

    doc.section("config", "Configuration and versions")
    doc.raw(_table_html(pd.DataFrame([metrics.get("versions", {})])))
    doc.raw(f"<pre>{html.escape(cfg_text)}</pre>")
    doc.end()

    body = "\n".join(doc.parts)
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title or run.name)}'
            f"</title><style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")
    from .io import atomic_write_text

    target = Path(out) if out is not None else run / "report.html"
    atomic_write_text(target, page)
    return target
