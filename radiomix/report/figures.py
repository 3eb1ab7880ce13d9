"""Figures of a ``radiomix train`` run: ROC, precision-recall, calibration, decision curve, confusion matrix,
SHAP bar and beeswarm, low-dimensional views, ROC per block and feature-selection stability.

All plots are drawn on :class:`matplotlib.figure.Figure` objects (no pyplot state), so they are safe in
notebooks and worker processes. :func:`radiomix.report.document.png_bytes` turns one into PNG bytes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .document import fmt_number

__all__ = ["new_figure", "roc_figure", "pr_figure", "calibration_figure", "decision_curve_figure",
           "confusion_figure", "shap_bar_figure", "shap_beeswarm_figure", "low_dim_plot", "blocks_roc_figure",
           "selection_figure"]


def new_figure(w=5.0, h=4.0):
    """An empty matplotlib Figure (constrained layout, 110 dpi), not attached to pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=110, layout="constrained")


def roc_figure(y, p, *, n_bootstrap: int = 500, random_state: int = 0, title: str = "ROC curve"):
    """ROC curve of out-of-fold predictions with a 95 % percentile-bootstrap band (patients resampled
    within each class; true-positive rate interpolated on a common false-positive-rate grid)."""
    from sklearn.metrics import roc_curve

    from ..metrics import roc_auc

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
    fig = new_figure()
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
    fig = new_figure()
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
    from ..metrics import calibration as cal
    from ..metrics import reliability_curve

    rel = reliability or reliability_curve(y, p, n_bins)
    c = calibration or cal(y, p)
    fig = new_figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="ideal")
    ax.plot(rel["mean_predicted"], rel["fraction_positive"], "o-", lw=2,
            label=f"intercept {fmt_number(c['intercept'], '{:.2f}')}, slope {fmt_number(c['slope'], '{:.2f}')}")
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
    fig = new_figure()
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
    fig = new_figure(4, 3.5)
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
    fig = new_figure(6, 0.3 * len(imp) + 1.2)
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
    fig = new_figure(7, 0.35 * len(feats) + 1.4)
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
    fig = new_figure(5.5, 4.5)
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


def blocks_roc_figure(y, blocks: dict, p, fused_auc, title: str = "ROC per block"):
    """ROC curve of each block's out-of-fold probabilities (late fusion) and of the fused one.

    ``blocks`` maps a block name to ``(probabilities, AUC estimate)``; ``p`` and ``fused_auc`` are the
    fused model's."""
    from sklearn.metrics import roc_curve

    fig = new_figure()
    ax = fig.add_subplot()
    for b, (pb, auc_b) in blocks.items():
        f, t, _ = roc_curve(y, pb)
        ax.plot(f, t, label=f"{b} ({fmt_number(auc_b)})")
    f, t, _ = roc_curve(y, p)
    ax.plot(f, t, color="black", lw=2, label=f"fused ({fmt_number(fused_auc)})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=title)
    ax.legend(fontsize=8)
    return fig


def selection_figure(freq: pd.DataFrame, title: str = "selection stability"):
    """Horizontal bars of how often each feature was selected over the outer folds (a ``frequency``
    column, as from :func:`radiomix.select.selection_frequency`), first row on top."""
    fig = new_figure()
    ax = fig.add_subplot()
    ax.barh(range(len(freq))[::-1], freq["frequency"].to_numpy(), color="#4c72b0")
    ax.set_yticks(range(len(freq))[::-1], [str(i) for i in freq.index], fontsize=7)
    ax.set(xlabel="fraction of outer folds selecting the feature", xlim=(0, 1), title=title)
    return fig


def robustness_figure(table: pd.DataFrame, threshold: float | None = None, title: str = "Feature robustness (ICC)"):
    """Box plots of each feature's ICC (median over the outer folds) by feature class and by image filter
    (a :func:`radiomix.select.robustness_summary` table), with the selection threshold as a line."""
    fig = new_figure(9.0, 4.0)
    for k, (col, label) in enumerate((("feature_class", "feature class"), ("image_filter", "image filter"))):
        ax = fig.add_subplot(1, 2, k + 1)
        groups = table.groupby(col, sort=True)["icc"]
        names = list(groups.groups)
        ax.boxplot([g.dropna().to_numpy() for _, g in groups], vert=False, showfliers=False)
        ax.set_yticks(range(1, len(names) + 1), [f"{n} ({len(groups.get_group(n))})" for n in names], fontsize=7)
        if threshold is not None:
            ax.axvline(threshold, color="#c44e52", linestyle="--", linewidth=1)
        ax.set(xlabel="ICC (median over outer folds)", title=f"{title}: by {label}")
        ax.set_xlim(min(0.0, float(table["icc"].min()) - 0.05), 1.0)
    fig.tight_layout()
    return fig
