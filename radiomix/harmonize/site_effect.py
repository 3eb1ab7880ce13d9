"""Site-effect diagnostics: how well the site can still be predicted from the features (cross-validated AUC,
Kruskal-Wallis tests) before and after harmonization."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..patterns import compile_user_pattern
from ._support import ComBatWarning, as_list, numeric_matrix, sorted_levels

__all__ = ["SiteEffect", "site_effect", "compare_site_effect", "plot_site_effect"]


@dataclass
class SiteEffect:
    """How well the site can be told apart from the features (see :func:`site_effect`)."""

    auc_mean: float
    auc_sd: float
    fold_auc: np.ndarray
    kruskal: pd.DataFrame = field(repr=False)
    n_sites: int = 0
    alpha: float = 0.05

    @property
    def frac_significant(self) -> float:
        """Fraction of features whose Benjamini-Hochberg-adjusted Kruskal-Wallis p-value is below alpha."""
        p = self.kruskal["p_fdr"].to_numpy()
        p = p[np.isfinite(p)]
        return float(np.mean(p < self.alpha)) if p.size else np.nan

    def summary(self) -> dict:
        p = self.kruskal["pvalue"].to_numpy()
        return {"site_auc_mean": self.auc_mean, "site_auc_sd": self.auc_sd, "n_sites": self.n_sites,
                "n_features": len(self.kruskal), "kw_frac_significant": self.frac_significant,
                "kw_median_p": float(np.nanmedian(p)) if np.isfinite(p).any() else np.nan}


def _site_inputs(X, batch, features, exclude=None):
    """(feature frame, site labels) for the diagnostics."""
    if isinstance(X, pd.DataFrame):
        df = X
    else:
        df = pd.DataFrame(np.asarray(X))
    drop = set(as_list(exclude, "exclude"))
    if isinstance(batch, (str, int, np.integer)) and not isinstance(batch, bool) and batch in df.columns:
        sites = df[batch].to_numpy(dtype=object)
        drop.add(batch)
    else:
        sites = np.asarray(batch, dtype=object)
        if sites.shape != (len(df),):
            raise ValueError(f"batch must be a column of X or one label per row ({len(df)}), got shape {sites.shape}")
    if pd.isna(sites).any():
        raise ValueError("site labels have missing values")
    if features is None:
        feats = [c for c in df.columns if c not in drop and pd.api.types.is_numeric_dtype(df[c])
                 and not pd.api.types.is_bool_dtype(df[c])]
    elif isinstance(features, str) and features not in df.columns:
        pattern = compile_user_pattern(features, "features")
        feats = [c for c in df.columns if c not in drop and pattern.search(str(c))]
    else:
        feats = as_list(features, "features")
    if not feats:
        raise ValueError("no feature columns for the site-effect diagnostics")
    return pd.DataFrame(numeric_matrix(df, feats, "feature"), columns=feats, index=df.index), sites


def _site_model(model, random_state):
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "logistic":
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=1.0, tol=1e-3, max_iter=1000, random_state=random_state)
    elif model == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        clf = RandomForestClassifier(n_estimators=200, random_state=random_state)
    elif hasattr(model, "fit"):
        from sklearn.base import clone

        clf = clone(model)
    else:
        raise ValueError(f"model must be 'logistic', 'random_forest' or a classifier, got {model!r}")
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), clf)


def site_effect(X, batch="site", features=None, *, exclude=None, harmonizer=None, model="logistic", cv=5,
                alpha=0.05, random_state=0) -> SiteEffect:
    """Measure the site effect left in a table: cross-validated site AUC and per-feature Kruskal-Wallis tests.

    Parameters
    ----------
    X : DataFrame or array
        The table (before or after harmonization).
    batch : str or array-like, default="site"
        Site column of X, or one site label per row.
    features : list, str or None
        Columns to use (list or regular expression); None: every numeric column except ``batch`` and
        ``exclude`` (as ``ComBat()`` harmonizes them). Leave covariates such as age out (``exclude``): they may differ between sites
        legitimately and are not harmonized.
    exclude : list, optional
        Columns never used as features (e.g. covariates, the outcome).
    harmonizer : transformer, optional
        E.g. ``ComBat(batch="site")``: fitted inside each training fold and applied to the held-out fold
        before the site classifier, which measures the site information a model would find in new,
        harmonized rows. Requires ``batch`` to be a column of the DataFrame X. Without it, X is taken as
        is. Note that a table harmonized on *all* rows gives a below-chance AUC (often 0.3-0.4 with many
        features): ComBat forces every site's mean to the same value, so the held-out rows of a site lie
        on the opposite side of that site's training mean; use ``harmonizer`` for an unbiased figure.
        The Kruskal-Wallis tests use ``harmonizer.fit_transform(X)``.
    model : {"logistic", "random_forest"} or classifier, default="logistic"
        Classifier predicting the site, preceded by median imputation and standardisation (all refitted
        inside each fold). Logistic regression sees the per-site shifts ComBat removes; tree ensembles
        also find differences ComBat does not touch (distribution shape, site-specific values of
        discrete or heavy-tailed features), so expect them to stay well above 0.5.
    cv : int, default=5
        Stratified folds (reduced to the size of the smallest site when needed).
    alpha : float, default=0.05
        Level for the fraction of features with a site effect (Benjamini-Hochberg adjusted).
    random_state : int, default=0

    Returns
    -------
    SiteEffect
        ``auc_mean``/``auc_sd`` over folds (one-vs-rest macro AUC for more than two sites; 0.5 = the
        site cannot be predicted), ``fold_auc``, and ``kruskal`` (per feature: statistic, pvalue,
        p_fdr).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiomix.harmonize import ComBat, site_effect
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(80, 4)), columns=list("abcd"))
    >>> X["site"] = np.repeat(["A", "B"], 40)
    >>> X.loc[X.site == "B", ["a", "b"]] += 3
    >>> bool(site_effect(X, "site").auc_mean > 0.9)
    True
    >>> bool(site_effect(X, "site", harmonizer=ComBat(batch="site")).auc_mean < 0.7)
    True
    """
    from scipy.stats import false_discovery_control, kruskal
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_validate

    F, sites = _site_inputs(X, batch, features, exclude)
    levels, codes = np.unique(sites.astype(str), return_inverse=True)
    if len(levels) < 2:
        raise ValueError("site_effect needs at least two sites")
    n_splits = int(min(cv, np.bincount(codes).min()))
    if n_splits < 2:
        raise ValueError("every site needs at least two rows for cross-validation")
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    scoring = "roc_auc" if len(levels) == 2 else "roc_auc_ovr"
    pipe = _site_model(model, random_state)
    data = F.to_numpy()
    if harmonizer is not None:
        if not (isinstance(X, pd.DataFrame) and isinstance(batch, str) and batch in X.columns):
            raise ValueError("with a harmonizer, X must be a DataFrame and batch the name of its site column")
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import Pipeline

        pick = ColumnTransformer([("features", "passthrough", list(F.columns))])
        pipe = Pipeline([("harmonize", clone(harmonizer)), ("features", pick), *pipe.steps])
        data = X
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ComBatWarning)
            H = clone(harmonizer).fit_transform(X)
        F, _ = _site_inputs(H, batch, list(F.columns))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ComBatWarning)
        res = cross_validate(pipe, data, codes, cv=folds, scoring=scoring)
    aucs = np.asarray(res["test_score"], dtype=float)

    V = F.to_numpy()
    stat = np.full(V.shape[1], np.nan)
    pval = np.full(V.shape[1], np.nan)
    groups = [codes == k for k in range(len(levels))]
    for j in range(V.shape[1]):
        samples = [V[g, j][~np.isnan(V[g, j])] for g in groups]
        samples = [s for s in samples if s.size]
        if len(samples) < 2 or np.ptp(np.concatenate(samples)) == 0:
            continue
        stat[j], pval[j] = kruskal(*samples)
    p_fdr = np.full_like(pval, np.nan)
    ok = np.isfinite(pval)
    if ok.any():
        p_fdr[ok] = false_discovery_control(pval[ok])
    table = pd.DataFrame({"statistic": stat, "pvalue": pval, "p_fdr": p_fdr}, index=pd.Index(F.columns, name="feature"))
    return SiteEffect(float(aucs.mean()), float(aucs.std(ddof=1)) if aucs.size > 1 else 0.0, aucs, table,
                      len(levels), alpha)


def _is_transformer(obj) -> bool:
    return hasattr(obj, "fit") and hasattr(obj, "transform") and not isinstance(obj, pd.DataFrame)


def compare_site_effect(before, after, batch="site", features=None, **kwargs) -> pd.DataFrame:
    """Site effect before and after harmonization, one row each (see :func:`site_effect` for arguments).

    ``after`` is either the harmonized table or an unfitted harmonizer such as ``ComBat(batch="site")``;
    a harmonizer is fitted inside the cross-validation folds of ``before`` (the unbiased figure).

    Returns
    -------
    DataFrame indexed ``["before", "after"]`` with columns site_auc_mean, site_auc_sd, n_sites,
    n_features, kw_frac_significant, kw_median_p.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiomix.harmonize import ComBat, compare_site_effect
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(90, 6)), columns=[f"f{i}" for i in range(6)])
    >>> X["site"] = np.repeat(["A", "B", "C"], 30)
    >>> X.loc[X.site == "C", "f0"] += 2
    >>> table = compare_site_effect(X, ComBat(batch="site"), "site")
    >>> list(table.index), bool(table.loc["after", "site_auc_mean"] < table.loc["before", "site_auc_mean"])
    (['before', 'after'], True)
    """
    rows = {"before": site_effect(before, batch, features, **kwargs).summary()}
    if _is_transformer(after):
        rows["after"] = site_effect(before, batch, features, harmonizer=after, **kwargs).summary()
    else:
        rows["after"] = site_effect(after, batch, features, **kwargs).summary()
    return pd.DataFrame.from_dict(rows, orient="index")


def plot_site_effect(before, after, batch="site", features=None, *, exclude=None, titles=("before ComBat",
                     "after ComBat"), figsize=(10, 4.5)):
    """PCA scatter of the rows coloured by site, before and after harmonization side by side.

    ``after`` is the harmonized table or a harmonizer (fitted on all rows of ``before`` for the picture).
    Each panel is its own PCA of the median-imputed, standardised features. Returns a
    :class:`matplotlib.figure.Figure` (not attached to pyplot, so no GUI backend is needed; nothing is
    written to disk: call ``fig.savefig(...)`` yourself).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiomix.harmonize import ComBat, plot_site_effect
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(60, 5)), columns=[f"f{i}" for i in range(5)])
    >>> X["site"] = np.repeat(["A", "B"], 30)
    >>> fig = plot_site_effect(X, ComBat(batch="site"), "site")
    >>> len(fig.axes)
    2
    """
    from matplotlib.figure import Figure
    from sklearn.decomposition import PCA
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if _is_transformer(after):
        from sklearn.base import clone

        after = clone(after).fit_transform(before)
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, df, title in zip(axes, (before, after), titles):
        F, sites = _site_inputs(df, batch, features, exclude)
        pca = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), PCA(n_components=2))
        Z = pca.fit_transform(F.to_numpy())
        ev = pca[-1].explained_variance_ratio_
        for lv in sorted_levels(sites):
            sel = sites == lv
            ax.scatter(Z[sel, 0], Z[sel, 1], s=14, alpha=0.75, label=str(lv))
        ax.set_title(title)
        ax.set_xlabel(f"PC1 ({ev[0]:.0%})")
        ax.set_ylabel(f"PC2 ({ev[1]:.0%})")
    axes[1].legend(title="site", fontsize="small", loc="best")
    return fig
