"""ComBat harmonization as a leak-free scikit-learn transformer, and site-effect diagnostics.

:class:`ComBat` removes additive and multiplicative site (scanner, centre, batch) effects from feature
columns while preserving the effects of declared covariates (Johnson, Li & Rabinovic 2007; Fortin et al.
2017/2018). ``fit`` estimates everything from the training rows only; ``transform`` applies those estimates
to new rows using each row's own covariates, so ComBat can sit inside a cross-validated Pipeline without
leaking information from the test fold.

The arithmetic follows R's ``sva::ComBat`` and the ``neuroCombat`` packages step by step (same design
matrix, same pooled standardisation, same empirical-Bayes priors and the same stopping rule for the
parametric iteration), so outputs agree with both to ~1e-12; the tests check this against the published
reference outputs and against both packages run live. The non-parametric prior is vectorised (and computed
in the log domain, which also avoids the underflow that makes neuroCombat return NaN for large batches).

:func:`site_effect`, :func:`compare_site_effect` and :func:`plot_site_effect` measure how well the site can
still be predicted from the features (cross-validated AUC, Kruskal-Wallis tests) before and after
harmonization.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from .patterns import compile_user_pattern

__all__ = ["ComBat", "ComBatWarning", "SiteEffect", "site_effect", "compare_site_effect", "plot_site_effect"]

#: An unseen site estimated at transform time from fewer rows than this gets a warning.
FEW_ROWS = 10

# The parametric EB iteration: sva/neuroCombat's tolerance; the cap only guards against non-convergence.
_CONV = 1e-4
_MAX_ITER = 10_000
# Working memory for one block of the non-parametric likelihood matrix (features x features): small
# enough to stay in cache, so memory stays O(features) whatever the number of features.
_CHUNK_BYTES = 2 * 2**20
# sva::ComBat switches the pooled variance to rowVars (denominator n-1) for *every* feature as soon as the
# matrix holds one missing value anywhere; radiomix keeps the mean of squared residuals over the observed
# values (the no-missing formula). The tests flip this to reproduce sva's missing-value output exactly.
_SVA_NA_VARIANCE = False


class ComBatWarning(UserWarning):
    """Harmonization went ahead but with a documented fallback (mean-only, pass-through, few rows...)."""


# --------------------------------------------------------------------------------------------------------
# Array core (rows = samples, columns = features; NaN = missing)
# --------------------------------------------------------------------------------------------------------


def _ols_observed(D: np.ndarray, Y: np.ndarray, M: np.ndarray) -> np.ndarray:
    """OLS coefficients (p x F) of each column of Y on D, using only that column's observed rows (sva's Beta.NA)."""
    p = D.shape[1]
    B = np.empty((p, Y.shape[1]))
    full = M.all(axis=0)
    if full.any():
        # Normal equations as in sva (solve(crossprod(design), ...)) so rounding matches the references.
        B[:, full] = np.linalg.solve(D.T @ D, D.T @ Y[:, full])
    part = np.flatnonzero(~full)
    if part.size:
        Mp = M[:, part]
        Yp = np.where(Mp, Y[:, part], 0.0)
        # One Gram matrix per feature (its observed rows), all at once: mask^T @ vec(d d^T).
        G = (Mp.T.astype(float) @ (D[:, :, None] * D[:, None, :]).reshape(len(D), p * p)).reshape(-1, p, p)
        r = (D.T @ Yp).T[..., None]
        try:
            B[:, part] = np.linalg.solve(G, r)[..., 0].T
        except np.linalg.LinAlgError:
            # A covariate level without observed values for some feature: minimum-norm solution there.
            for j, f in enumerate(part):
                rows = Mp[:, j]
                B[:, f] = np.linalg.lstsq(D[rows], Y[rows, f], rcond=None)[0]
    return B


def _batch_stats(S: np.ndarray, M: np.ndarray | None):
    """Observed count, mean and sum of squared deviations per column (the sufficient statistics of ComBat);
    ``M`` is the observed-value mask, None when nothing is missing."""
    if M is None:
        mean = S.mean(axis=0)
        return np.full(S.shape[1], float(len(S))), mean, ((S - mean) ** 2).sum(axis=0)
    n = M.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(M, S, 0.0).sum(axis=0) / n
        ss = (np.where(M, S - mean, 0.0) ** 2).sum(axis=0)
    return n, mean, ss


def _aprior(d):
    m, s2 = d.mean(), d.var(ddof=1)
    return (2 * s2 + m**2) / s2


def _bprior(d):
    m, s2 = d.mean(), d.var(ddof=1)
    return (m * s2 + m**3) / s2


def _postmean(g_hat, g_bar, n, d_star, t2):
    return (t2 * n * g_hat + d_star * g_bar) / (t2 * n + d_star)


def _postvar(sum2, n, a, b):
    return (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)


def _it_sol(n, xbar, ss, g_hat, d_hat, g_bar, t2, a, b):
    """Parametric EB fixed point for one batch, all features at once (sva's it.sol)."""
    g_old, d_old = g_hat, d_hat
    for _ in range(_MAX_ITER):
        g_new = _postmean(g_hat, g_bar, n, d_old, t2)
        # sum((x - g)^2) over the observed values, from the sufficient statistics.
        sum2 = ss + n * (xbar - g_new) ** 2
        d_new = _postvar(sum2, n, a, b)
        # sva/neuroCombat divide by g_old without abs(), so only positive g drive the stopping rule; kept
        # verbatim because the iteration count is what makes the outputs agree to 1e-12 rather than 1e-5.
        with np.errstate(invalid="ignore", divide="ignore"):
            change = max(np.nanmax(np.abs(g_new - g_old) / g_old, initial=-np.inf),
                         np.nanmax(np.abs(d_new - d_old) / d_old, initial=-np.inf))
        g_old, d_old = g_new, d_new
        if not change > _CONV:
            break
    else:
        warnings.warn(f"parametric empirical Bayes did not converge in {_MAX_ITER} iterations", ComBatWarning,
                      stacklevel=4)
    return g_new, d_new


def _int_eprior(n, xbar, ss, g_hat, d_hat):
    """Non-parametric EB for one batch (sva's int.eprior), vectorised over features.

    For feature i the posterior is a likelihood-weighted average of the other features' (gamma, delta):
    L_ik = (2 pi d_k)^(-n_i/2) exp(-sum_j (x_ij - g_k)^2 / (2 d_k)). The sum over samples is
    ss_i + n_i (xbar_i - g_k)^2, so the whole matrix costs O(F^2) instead of O(F^2 n); it is evaluated in
    the log domain and normalised per row, which leaves the weights unchanged but cannot underflow.
    """
    F = g_hat.size
    usable = np.isfinite(d_hat) & (d_hat > 0) & np.isfinite(g_hat)
    g = np.where(usable, g_hat, 0.0)
    d = np.where(usable, d_hat, 1.0)
    half_log2pid = 0.5 * np.log(2 * np.pi * d)
    inv2d = 0.5 / d
    g_star, d_star = np.empty(F), np.empty(F)
    # Blocks small enough to stay in cache; the result does not depend on the block size.
    chunk = max(1, _CHUNK_BYTES // (8 * F))
    for start in range(0, F, chunk):
        stop = min(F, start + chunk)
        nb = n[start:stop, None]
        L = xbar[start:stop, None] - g[None, :]
        np.square(L, out=L)
        L *= -nb
        L -= ss[start:stop, None]
        L *= inv2d[None, :]
        L -= nb * half_log2pid[None, :]
        if not usable.all():
            L[:, ~usable] = -np.inf
        rows = np.arange(stop - start)
        L[rows, start + rows] = -np.inf  # leave feature i out of its own prior
        top = L.max(axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):
            L -= top
        # exp() takes a slow path for results that underflow; weights below e^-700 of the largest one
        # cannot move the sums, so they are floored there and the excluded entries zeroed afterwards.
        np.maximum(L, -700.0, out=L)
        np.exp(L, out=L)
        L[rows, start + rows] = 0.0
        if not usable.all():
            L[:, ~usable] = 0.0
        # einsum rather than a BLAS product: interleaving small multi-threaded BLAS calls with these
        # element-wise passes made the loop 3-10x slower on a busy 2-core machine (threads spin-wait).
        wsum = L.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            g_star[start:stop] = np.einsum("ij,j->i", L, g) / wsum
            d_star[start:stop] = np.einsum("ij,j->i", L, d) / wsum
    return g_star, d_star


def _eb_one_batch(n, xbar, ss, g_hat, d_hat, *, parametric, eb, mean_only):
    """(gamma*, delta*, priors) for one batch from its sufficient statistics over the adjusted features."""
    F = g_hat.size
    priors = {"gamma_bar": np.nan, "t2": np.nan, "a_prior": np.nan, "b_prior": np.nan}
    if mean_only:
        d_hat = np.ones(F)
    if not eb:
        return g_hat, d_hat, priors
    g_bar, t2 = g_hat.mean(), g_hat.var(ddof=1)
    priors.update(gamma_bar=g_bar, t2=t2)
    if not parametric:
        g_star, d_star = _int_eprior(n, xbar, ss, g_hat, d_hat)
        return g_star, (np.ones(F) if mean_only else d_star), priors
    if mean_only:
        # sva/neuroCombat use n = 1 and delta = 1 here (not the batch size); kept for agreement.
        return _postmean(g_hat, g_bar, 1, 1, t2), np.ones(F), priors
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = _aprior(d_hat), _bprior(d_hat)
    priors.update(a_prior=a, b_prior=b)
    if not (np.isfinite(a) and np.isfinite(b)):
        return None, None, priors
    g_star, d_star = _it_sol(n, xbar, ss, g_hat, d_hat, g_bar, t2, a, b)
    return g_star, d_star, priors


def _unadjustable(Y: np.ndarray, M: np.ndarray, idx: list, complete: bool, mean_only: bool) -> np.ndarray:
    """Mask of the features ComBat cannot adjust.

    Those with no observed value in a site, constant within a site, or (unless ``mean_only``) with a single
    observed value in a site that has several rows.
    """
    F = Y.shape[1]
    skip = np.zeros(F, dtype=bool)
    for rows in idx:
        Yk = Y[rows]
        if complete:
            nk = np.full(F, len(rows))
            lo, hi = Yk.min(axis=0), Yk.max(axis=0)
        else:
            Mk = M[rows]
            nk = Mk.sum(axis=0)
            lo = np.where(Mk, Yk, np.inf).min(axis=0)
            hi = np.where(Mk, Yk, -np.inf).max(axis=0)
        skip |= nk == 0
        if len(rows) > 1:
            skip |= (nk >= 2) & (lo == hi)
            if not mean_only:
                skip |= nk == 1
    return skip


def _pooled_model(D, C, Y, M, skip, idx, counts, ref, complete):
    """Pooled OLS fit and residual variance of the features not in ``skip``.

    Features whose pooled variance is zero or not finite (or whose coefficients are not finite) are marked
    in ``skip`` (in place) and dropped. Returns ``(A, B, grand, mod, var_pooled, YA, MA)``: the adjusted
    feature indices, the coefficients (batch rows then covariate rows), the grand mean, the covariate
    effect per row, the pooled variance, and the values and observed mask of the adjusted features.
    """
    K = len(idx)
    A = np.flatnonzero(~skip)
    YA, MA = (Y, M) if A.size == Y.shape[1] else (Y[:, A], M[:, A])
    B = _ols_observed(D, YA, MA) if A.size else np.zeros((D.shape[1], 0))
    grand = B[ref] if ref is not None else (counts / len(Y)) @ B[:K]
    mod = C @ B[K:]
    resid = YA - D @ B
    R = resid[idx[ref]] if ref is not None else resid
    with np.errstate(invalid="ignore", divide="ignore"):
        if complete:
            var_pooled = (R**2).mean(axis=0)
        elif _SVA_NA_VARIANCE:
            var_pooled = np.nanvar(R, axis=0, ddof=1)
        else:
            MR = MA[idx[ref]] if ref is not None else MA
            var_pooled = (np.where(MR, R, 0.0) ** 2).sum(axis=0) / MR.sum(axis=0)
    bad = ~(np.isfinite(var_pooled) & (var_pooled > 0)) | ~np.isfinite(B).all(axis=0)
    if bad.any():
        skip[A[bad]] = True
        keep = ~bad
        A, B, grand, mod, var_pooled = A[keep], B[:, keep], grand[keep], mod[:, keep], var_pooled[keep]
        YA, MA = YA[:, keep], MA[:, keep]
    return A, B, grand, mod, var_pooled, YA, MA


def _site_estimates(stats: list, ref, mean_only: bool):
    """Per-site shift and scale before empirical Bayes (relative to the reference site when there is one)."""
    K = len(stats)
    gamma_hat = np.vstack([s[1] for s in stats])
    if ref is not None:
        gamma_hat[np.arange(K) != ref] -= gamma_hat[ref]
    with np.errstate(invalid="ignore", divide="ignore"):
        delta_hat = np.vstack([ss / (n - 1) for n, _, ss in stats])
    if mean_only:
        delta_hat[:] = 1.0
    return gamma_hat, delta_hat


def _adjust(Y, mod, grand, var_pooled, gamma, delta):
    """Apply the location/scale adjustment; gamma/delta are per row (n x F) or broadcastable."""
    sd = np.sqrt(var_pooled)
    z = (Y - grand - mod) / sd
    return (z - gamma) / np.sqrt(delta) * sd + grand + mod


# --------------------------------------------------------------------------------------------------------
# Column handling
# --------------------------------------------------------------------------------------------------------


def _as_list(v, what):
    if v is None:
        return []
    if isinstance(v, (str, int, np.integer)):
        return [v]
    try:
        return list(v)
    except TypeError as err:
        raise TypeError(f"{what} must be a column name or a list of column names, got {v!r}") from err


def _sorted_levels(values) -> list:
    levels = list(pd.unique(pd.Series(values).dropna()))
    try:
        return sorted(levels)
    except TypeError:
        return sorted(levels, key=str)


def _is_number_dtype(t) -> bool:
    # dtype.kind covers NumPy, nullable and Arrow-backed dtypes alike, and is much cheaper than the
    # pandas.api.types predicates over thousands of columns. Booleans ('b') are not numbers here.
    return getattr(t, "kind", "O") in "iuf"


def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


def _numeric_matrix(X: pd.DataFrame, cols: list, what: str) -> np.ndarray:
    sub = X[cols]
    dtypes = sub.dtypes
    numeric = np.array([_is_number_dtype(t) for t in dtypes], dtype=bool)
    if numeric.all():
        out = sub.to_numpy(dtype=float, na_value=np.nan)
    else:
        out = np.empty((len(X), len(cols)))
        out[:, numeric] = sub.iloc[:, np.flatnonzero(numeric)].to_numpy(dtype=float, na_value=np.nan)
    for j in np.flatnonzero(~numeric):
        c = cols[j]
        s = X[c]
        if _is_categorical(s):
            try:
                s = pd.to_numeric(s.astype(object), errors="raise")
            except (ValueError, TypeError) as err:
                raise ValueError(f"{what} column {c!r} is not numeric (dtype {X[c].dtype})") from err
        out[:, j] = s.to_numpy(dtype=float, na_value=np.nan)
    bad = np.isinf(out)
    if bad.any():
        c = cols[int(np.flatnonzero(bad.any(axis=0))[0])]
        raise ValueError(f"{what} column {c!r} holds infinite values; only NaN is accepted as missing")
    return out


def _same_labels(a, b) -> bool:
    """True when covariate ``a`` is the label ``b`` itself or a one-to-one relabelling of a discrete label."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if b.ndim != 1 or len(a) != len(b):
        return False
    a, b = pd.Series(a), pd.Series(b)
    if a.equals(b) or (a.astype(str) == b.astype(str)).all():
        return True
    nb = b.nunique(dropna=False)
    if nb > min(20, len(b) // 2):
        return False  # a continuous label: only exact equality counts
    ca, _ = pd.factorize(a, use_na_sentinel=False)
    cb, _ = pd.factorize(b, use_na_sentinel=False)
    return bool(np.array_equal(ca, cb))


# --------------------------------------------------------------------------------------------------------
# The transformer
# --------------------------------------------------------------------------------------------------------


class ComBat(TransformerMixin, BaseEstimator):
    """ComBat harmonization of feature columns across sites, fitted on training rows only.

    Parameters
    ----------
    batch : str or int, default="site"
        Column holding the site/scanner/batch label. For a NumPy array, the column index.
    covariates : list of str, optional
        Columns whose effects are preserved (e.g. age, sex, tumour stage). Never the outcome being
        predicted: :meth:`transform` needs the covariates of the rows it harmonizes, so a label
        covariate would need the test label (see ``target``).
    categorical : list of str, optional
        Covariates to treat as categorical (one-hot, first level dropped). Non-numeric and boolean
        covariates are categorical anyway; the remaining numeric covariates enter linearly.
    features : list of str, str or None, default=None
        Columns to harmonize. None (the scikit-learn convention: the estimator works on what it is given):
        every numeric column other than ``batch``, ``covariates`` and ``target``; non-numeric columns are
        passed through unchanged, and a warning names them. ``"radiomic"``: the radiomic columns recorded by
        :func:`radiomix.tables.merge` / :func:`radiomix.extract`, or else those with pyradiomics names
        (:func:`radiomix.tables.column_groups`) -- an explicit choice, refused when other numeric columns
        would stay unharmonized beside them unless they are listed in ``exclude``. A list, or a regular
        expression (``re.search`` on the column name), names the columns.
    exclude : list of str or str, optional
        Columns never harmonized (a list or a regular expression), e.g. shape features, which measure
        anatomy and carry case-mix signal that ComBat without an outcome covariate would remove. They are
        returned unchanged and listed in ``excluded_features_``.
    parametric : bool, default=True
        Parametric (normal / inverse-gamma) or non-parametric empirical-Bayes priors.
    eb : bool, default=True
        Shrink the per-site estimates with empirical Bayes; False uses the per-site means and variances.
    mean_only : bool, default=False
        Adjust the site means only (no scaling). Switched on automatically, with a warning, when a site
        has a single training row, as sva does.
    ref_batch : label, optional
        Reference site: its rows are returned unchanged and the other sites are mapped onto it.
    unseen : {"error", "estimate"}, default="error"
        What :meth:`transform` does with a site absent from training. "error" raises, naming the site.
        "estimate" keeps the fitted pooled model (coefficients, pooled variance, covariate effects) and
        estimates that site's shift and scale from its own rows in the frame being transformed, with the
        same empirical Bayes as ``fit``: the prior hyperparameters come from that site's own features,
        exactly as ``fit`` derives each training site's prior from its own features (ComBat's priors are
        per site, describing how *that* scanner shifts the features, so the training sites' priors would
        describe other scanners). Transform all rows of a new site in one call; with fewer than
        :data:`FEW_ROWS` rows a warning is issued, and a single row gets a mean-only adjustment. A site with
        fewer than ``min_unseen_rows`` rows is refused: its shift and scale would be estimated from too few
        patients (the same patient alone, with 4 or with 19 site-mates gets very different values).
    min_unseen_rows : int, default=10
        Fewest rows of an unseen site that ``unseen="estimate"`` accepts in one ``transform`` call.
    target : str or list of str, optional
        Name(s) of the outcome column(s) (a label; a survival time and event), if the frame holds them: they
        are never harmonized, and naming one as a covariate raises.
    drop_batch : bool, default=False
        Drop the batch column from the output. By default every input column is kept (covariates and
        other columns unchanged) so that ComBat drops into a Pipeline before imputation and selection.

    Attributes
    ----------
    batches_ : ndarray
        Training sites (sorted); rows of the per-site arrays below follow this order.
    batch_counts_ : ndarray of int
        Training rows per site.
    features_ : list
        Harmonized columns.
    excluded_features_ : list
        Columns kept out by ``exclude``.
    passthrough_features_ : list
        Features returned unchanged: constant within a training site (as in sva), without observed values
        in a site, with zero pooled variance, or (without ``mean_only``) with a single observed value in
        some site. A :class:`ComBatWarning` names them.
    covariates_, categorical_, continuous_ : list
        Covariates as used; ``categories_`` maps each categorical covariate to its levels (the first is
        the reference level).
    grand_mean_, var_pooled_ : ndarray of shape (n_features,)
        Pooled (or reference-site) mean and residual variance per feature (NaN for pass-through features).
    covariate_coef_ : ndarray of shape (n_covariate_columns, n_features)
        Covariate effects; ``covariate_columns_`` names the design columns.
    gamma_hat_, delta_hat_, gamma_star_, delta_star_ : ndarray of shape (n_batches, n_features)
        Per-site shift and scale, before and after empirical Bayes (standardised units; 0 and 1 for
        pass-through features and the reference site).
    priors_ : dict of ndarray
        Per-site hyperparameters ``gamma_bar``, ``t2``, ``a_prior``, ``b_prior`` (arrays in ``batches_``
        order; NaN where unused).
    mean_only_ : bool
        Whether the mean-only model was used.
    n_features_in_, feature_names_in_
        As in scikit-learn (all input columns, not only the harmonized ones).

    Notes
    -----
    * Input: a DataFrame (recommended), returned as a DataFrame with the same index, columns and
      ``attrs``, the feature columns harmonized (float). A NumPy array is accepted with ``batch`` (and
      ``covariates``) given as column indices and returns an array. ``set_output(transform="pandas")``
      works for both.
    * Missing feature values are allowed: every estimate uses the observed values of each feature (as
      sva does) and NaN cells stay NaN for a later imputer. The output has no NaN that the input lacked.
      With missing values, sva's pooled variance divides by n-1 (for every feature); radiomix keeps the
      mean of squared residuals, so outputs agree with sva exactly only on complete data.
    * Missing batch or covariate values raise; so do unknown categorical levels at transform time.
    * The non-parametric prior uses all features of a site (O(features^2) memory, processed in blocks).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiomix.harmonize import ComBat
    >>> rng = np.random.default_rng(0)
    >>> site = np.repeat(["A", "B", "C"], 20)
    >>> X = pd.DataFrame(rng.normal(size=(60, 5)), columns=[f"f{i}" for i in range(5)])
    >>> X.iloc[20:40] = X.iloc[20:40] * 2 + 3                 # site B: shifted and scaled
    >>> X["site"], X["age"] = site, rng.uniform(40, 80, 60)
    >>> combat = ComBat(batch="site", covariates=["age"], features=r"^f")
    >>> Xh = combat.fit_transform(X)
    >>> bool(Xh.groupby("site")["f0"].mean().std() < X.groupby("site")["f0"].mean().std())
    True
    """

    def __init__(self, batch="site", covariates=None, categorical=None, features=None, parametric=True, eb=True,
                 mean_only=False, ref_batch=None, unseen="error", target=None, drop_batch=False, exclude=None,
                 min_unseen_rows=10):
        self.batch = batch
        self.covariates = covariates
        self.categorical = categorical
        self.features = features
        self.exclude = exclude
        self.min_unseen_rows = min_unseen_rows
        self.parametric = parametric
        self.eb = eb
        self.mean_only = mean_only
        self.ref_batch = ref_batch
        self.unseen = unseen
        self.target = target
        self.drop_batch = drop_batch

    # ---- input handling ------------------------------------------------------------------------------

    def _frame(self, X, reset: bool):
        """(DataFrame view of X, whether X was an array); checks names/width against fit when not reset."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.columns.has_duplicates:
                dup = list(X.columns[X.columns.duplicated()].unique()[:5])
                raise ValueError(f"duplicate column names: {dup}")
            if len(X) == 0:
                raise ValueError("ComBat needs at least one row (got 0 samples)")
            return X, False
        arr = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)
        return pd.DataFrame(arr), True

    def _columns(self, X: pd.DataFrame, array_input: bool):
        """Resolve batch, covariates, categorical covariates and features against the columns of X."""
        cols = list(X.columns)
        colset = set(cols)
        batch = self.batch
        if batch not in colset:
            if array_input:
                raise ValueError(f"with array input, batch must be a column index in 0..{len(cols) - 1}, got {batch!r}")
            raise ValueError(f"batch column {batch!r} is not in the table; its columns start {cols[:8]}")
        covs = _as_list(self.covariates, "covariates")
        cats = _as_list(self.categorical, "categorical")
        for c in covs:
            if c not in cols:
                raise ValueError(f"covariate column {c!r} is not in the table")
            if c == batch:
                raise ValueError(f"column {c!r} is the batch column; it cannot also be a covariate")
        if len(set(covs)) < len(covs):
            raise ValueError(f"covariates are listed twice: {covs}")
        for c in cats:
            if c not in covs:
                raise ValueError(f"categorical column {c!r} is not one of the covariates {covs}")
        targets = [] if self.target is None else [self.target] if isinstance(self.target, str) else list(self.target)
        for target in targets:
            if target in covs:
                raise ValueError(
                    f"the outcome {target!r} is listed as a covariate: the label must never be a covariate in a "
                    "predictive pipeline (transform would need the outcome of the rows being predicted)")
        excluded = {batch, *covs, *targets}
        user_excluded = self._excluded_columns(cols, colset)
        excluded |= set(user_excluded)
        spec = self.features
        if spec is None:
            if array_input:
                # An array has no dtypes per column to go by: every other column is a feature.
                feats = [c for c in cols if c not in excluded]
            else:
                feats = [c for c, t in X.dtypes.items() if c not in excluded and _is_number_dtype(t)]
                other = [c for c in cols if c not in excluded and c not in set(feats)]
                if other:
                    warnings.warn(f"ComBat: {len(other)} non-numeric column(s) are passed through unharmonized: "
                                  f"{other[:10]}{' ...' if len(other) > 10 else ''}", ComBatWarning, stacklevel=4)
        elif isinstance(spec, str) and spec == "radiomic" and spec not in colset:
            feats = self._radiomic_columns(X, excluded)
        elif isinstance(spec, str) and spec not in colset:
            pattern = compile_user_pattern(spec, "ComBat features")
            feats = [c for c in cols if c not in excluded and pattern.search(str(c))]
            if not feats:
                raise ValueError(f"no column matches the features pattern {spec!r}")
        else:
            feats = _as_list(spec, "features")
            for c in feats:
                if c not in colset:
                    raise ValueError(f"feature column {c!r} is not in the table")
                if c in excluded:
                    role = "batch" if c == batch else "target" if c in targets else "covariate"
                    raise ValueError(f"column {c!r} is the {role} column; it cannot also be harmonized")
            if len(set(feats)) < len(feats):
                raise ValueError("features are listed twice")
        if not feats:
            raise ValueError(f"no feature columns to harmonize: the table has {len(cols)} feature(s) (columns), "
                             "none of them radiomic or numeric other than the batch, covariate and target columns")
        return batch, covs, cats, feats

    def _excluded_columns(self, cols: list, colset: set) -> list:
        spec = self.exclude
        if spec is None:
            return []
        if isinstance(spec, str) and spec not in colset:
            pattern = compile_user_pattern(spec, "ComBat exclude")
            return [c for c in cols if pattern.search(str(c))]
        out = _as_list(spec, "exclude")
        missing = [c for c in out if c not in colset]
        if missing:
            raise ValueError(f"exclude names columns that are not in the table: {missing[:10]}")
        return out

    def _radiomic_columns(self, X: pd.DataFrame, excluded: set) -> list:
        """``features="radiomic"``: the recorded (or pyradiomics-named) radiomic block, refused when other
        numeric columns would be left unharmonized beside it."""
        from .tables import column_groups

        groups = column_groups(X)
        feats = [c for c in groups["radiomic"] if c not in excluded]
        if not feats:
            raise ValueError("features='radiomic': the table has no recorded radiomic block (radiomix.merge / "
                             "radiomix.extract) and no column with a pyradiomics name; name the columns to "
                             "harmonize, or use features=None for every numeric column")
        assigned = set(feats) | set(groups["clinical"]) | set(groups["genetic"]) | excluded
        loose = [c for c, t in X.dtypes.items() if c not in assigned and _is_number_dtype(t)]
        if loose:
            raise ValueError(
                f"features='radiomic' would harmonize {len(feats)} radiomic column(s) and leave {len(loose)} "
                f"numeric column(s) that fit no block raw beside them: {loose[:10]}{' ...' if len(loose) > 10 else ''}."
                " A partly harmonized table reveals the site; harmonize every feature (features=None), or list "
                "those columns in exclude")
        return feats

    def _batch_labels(self, X: pd.DataFrame) -> np.ndarray:
        b = X[self.batch]
        if b.isna().any():
            rows = list(X.index[b.isna().to_numpy()][:5])
            raise ValueError(f"batch column {self.batch!r} has missing values (rows {rows})")
        return b.to_numpy(dtype=object)

    def _covariate_design(self, X: pd.DataFrame) -> np.ndarray:
        """Covariate part of the design matrix for the rows of X (fitted encoding)."""
        blocks = []
        for c in self.covariates_:
            s = X[c]
            if s.isna().any():
                rows = list(X.index[s.isna().to_numpy()][:5])
                raise ValueError(f"covariate column {c!r} has missing values (rows {rows}); impute or drop them "
                                 "before ComBat")
            if c in self.categories_:
                levels = self.categories_[c]
                vals = s.to_numpy(dtype=object)
                known = pd.Index(levels).get_indexer(vals)
                if (known < 0).any():
                    new = _sorted_levels(vals[known < 0])[:5]
                    raise ValueError(f"covariate column {c!r} has levels not seen in fit: {new} "
                                     f"(fitted levels {levels})")
                blocks.append((known[:, None] == np.arange(1, len(levels))[None, :]).astype(float))
            else:
                blocks.append(_numeric_matrix(X, [c], "covariate"))
        if not blocks:
            return np.zeros((len(X), 0))
        return np.hstack(blocks)

    # ---- fit -----------------------------------------------------------------------------------------

    def _validate_params(self):
        if self.unseen not in ("error", "estimate"):
            raise ValueError(f"unseen must be 'error' or 'estimate', got {self.unseen!r}")
        if not isinstance(self.min_unseen_rows, (int, np.integer)) or isinstance(self.min_unseen_rows, bool) \
                or self.min_unseen_rows < 1:
            raise ValueError(f"min_unseen_rows must be a positive integer, got {self.min_unseen_rows!r}")
        for name in ("parametric", "eb", "mean_only", "drop_batch"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def fit(self, X, y=None):
        """Estimate the pooled model and the per-site location/scale parameters from the rows of X.

        Parameters
        ----------
        X : DataFrame or array of shape (n_samples, n_columns)
            Training rows with the batch, covariate and feature columns.
        y : array-like, optional
            Ignored except for a leakage guard: if a covariate equals ``y`` (or is a one-to-one
            relabelling of a discrete ``y``), fitting raises.

        Returns
        -------
        self
        """
        self._validate_params()
        X, array_input = self._frame(X, reset=True)
        batch, covs, cats, feats = self._columns(X, array_input)
        if y is not None:
            for c in covs:
                if _same_labels(X[c], y):
                    raise ValueError(
                        f"covariate {c!r} equals the target y: the label must never be a covariate in a "
                        "predictive pipeline (transform would need the outcome of the rows being predicted)")

        if len(X) < 2:
            raise ValueError(f"ComBat needs at least 2 samples, got n_samples = {len(X)}")
        codes, ref = self._fit_batches(X, batch)
        K = len(self.batches_)
        C = self._fit_covariates(X, covs, cats)

        batch_design = (codes[:, None] == np.arange(K)[None, :]).astype(float)
        if ref is not None:
            batch_design[:, ref] = 1.0
        D = np.hstack([batch_design, C])
        self._check_confounding(D, batch_design, C, covs)
        self._fit_mean_only(batch)

        Y = _numeric_matrix(X, feats, "feature")
        self.features_ = feats
        self.excluded_features_ = self._excluded_columns(list(X.columns), set(X.columns))
        M = ~np.isnan(Y)
        idx = [np.flatnonzero(codes == k) for k in range(K)]
        complete = bool(M.all())

        # Features ComBat cannot adjust are passed through unchanged and kept out of the priors.
        skip = _unadjustable(Y, M, idx, complete, self.mean_only_)
        A, B, grand, mod, var_pooled, YA, MA = _pooled_model(D, C, Y, M, skip, idx, self.batch_counts_, ref, complete)

        S = (YA - grand - mod) / np.sqrt(var_pooled)
        stats = [_batch_stats(S[idx[k]], None if complete else MA[idx[k]]) for k in range(K)]
        gamma_hat, delta_hat = _site_estimates(stats, ref, self.mean_only_)
        gamma_star, delta_star, priors = self._shrink(stats, gamma_hat, delta_hat, ref, A.size, batch)
        bad = ~(np.isfinite(gamma_star).all(axis=0) & np.isfinite(delta_star).all(axis=0) & (delta_star > 0).all(axis=0))
        if bad.any():
            skip[A[bad]] = True
            keep = ~bad
            A, B, grand, var_pooled = A[keep], B[:, keep], grand[keep], var_pooled[keep]
            gamma_hat, delta_hat = gamma_hat[:, keep], delta_hat[:, keep]
            gamma_star, delta_star = gamma_star[:, keep], delta_star[:, keep]

        self._store_fit(batch, skip, A, grand, var_pooled, B[K:], (gamma_hat, delta_hat, gamma_star, delta_star),
                        priors, ref)
        return self

    def _fit_batches(self, X: pd.DataFrame, batch) -> tuple[np.ndarray, int | None]:
        """Set ``batches_``, ``batch_counts_`` and ``ref_batch_``; return each row's batch code and the reference's."""
        labels = self._batch_labels(X)
        self.batches_ = np.asarray(_sorted_levels(labels), dtype=object)
        K = len(self.batches_)
        if K < 2:
            raise ValueError(f"ComBat needs at least two batches; column {batch!r} holds only {list(self.batches_)}")
        codes = pd.Index(self.batches_).get_indexer(labels)
        self.batch_counts_ = np.bincount(codes, minlength=K)
        if self.ref_batch is not None:
            hit = [k for k, b in enumerate(self.batches_) if b == self.ref_batch]
            if not hit:
                raise ValueError(f"ref_batch {self.ref_batch!r} is not a level of batch column {batch!r} "
                                 f"(levels {list(self.batches_)})")
            ref = hit[0]
        else:
            ref = None
        self.ref_batch_ = None if ref is None else self.batches_[ref]
        return codes, ref

    def _fit_covariates(self, X: pd.DataFrame, covs: list, cats: list) -> np.ndarray:
        """Fit the covariate encoding (``covariates_``, ``categories_``...); return the covariate design."""
        self.covariates_ = covs
        self.categories_ = {}
        for c in covs:
            if c in cats or _is_categorical(X[c]):
                self.categories_[c] = _sorted_levels(X[c])
        self.categorical_ = [c for c in covs if c in self.categories_]
        self.continuous_ = [c for c in covs if c not in self.categories_]
        C = self._covariate_design(X)
        self.covariate_columns_ = []
        for c in covs:
            if c in self.categories_:
                self.covariate_columns_ += [f"{c}={lv}" for lv in self.categories_[c][1:]]
            else:
                self.covariate_columns_.append(str(c))
        return C

    def _fit_mean_only(self, batch) -> None:
        """Set ``mean_only_``, switching to mean-only (with a warning) when a site has a single training row."""
        self.mean_only_ = bool(self.mean_only)
        K = len(self.batches_)
        singles = [self.batches_[k] for k in range(K) if self.batch_counts_[k] == 1]
        if singles and not self.mean_only:
            self.mean_only_ = True
            warnings.warn(f"batch {batch!r}: site(s) {singles[:5]} have a single training row, so their scale "
                          "cannot be estimated; using mean-only ComBat (as sva does)", ComBatWarning, stacklevel=3)

    def _shrink(self, stats: list, gamma_hat, delta_hat, ref, n_adjustable: int, batch):
        """Empirical-Bayes estimates per site: ``(gamma_star, delta_star, priors)`` (a dict per site)."""
        K = len(stats)
        eb = bool(self.eb)
        if eb and n_adjustable < 2:
            eb = False
            warnings.warn(f"only {n_adjustable} adjustable feature(s): empirical Bayes needs at least two, so the "
                          "per-site estimates are used without shrinkage", ComBatWarning, stacklevel=3)
        gamma_star, delta_star = gamma_hat.copy(), delta_hat.copy()
        priors = []
        for k in range(K):
            n, xbar, ss = stats[k]
            if k == ref:
                gs, ds, pr = gamma_hat[k], delta_hat[k], {}
            else:
                gs, ds, pr = _eb_one_batch(n, xbar, ss, gamma_hat[k], delta_hat[k], parametric=self.parametric,
                                           eb=eb, mean_only=self.mean_only_)
                if gs is None:
                    warnings.warn(f"batch {batch!r}, site {self.batches_[k]!r}: the inverse-gamma prior is "
                                  "degenerate (all feature variances equal); no shrinkage for this site",
                                  ComBatWarning, stacklevel=3)
                    gs, ds = gamma_hat[k], delta_hat[k]
            gamma_star[k], delta_star[k] = gs, ds
            priors.append(pr)
        if ref is not None:
            gamma_star[ref], delta_star[ref] = 0.0, 1.0
        return gamma_star, delta_star, priors

    def _store_fit(self, batch, skip, A, grand, var_pooled, coef, site_params: tuple, priors: list, ref) -> None:
        """Set the fitted attributes, expanding the adjusted features' estimates to all features."""
        gamma_hat, delta_hat, gamma_star, delta_star = site_params
        feats = self.features_
        F = len(feats)
        self._adjusted = A
        self.passthrough_features_ = [feats[j] for j in np.flatnonzero(skip)]
        if self.passthrough_features_:
            warnings.warn(f"batch {batch!r}: {len(self.passthrough_features_)} feature(s) cannot be harmonized "
                          f"(constant within a site, no or too few observed values in a site, or zero pooled "
                          f"variance) and are passed through unchanged: {self.passthrough_features_[:8]}",
                          ComBatWarning, stacklevel=3)

        def full(a, fill):
            out = np.full(a.shape[:-1] + (F,), fill, dtype=float)
            out[..., A] = a
            return out

        self.grand_mean_ = full(grand, np.nan)
        self.var_pooled_ = full(var_pooled, np.nan)
        self.covariate_coef_ = full(coef, np.nan)
        self.gamma_hat_ = full(gamma_hat, 0.0)
        self.delta_hat_ = full(delta_hat, 1.0)
        self.gamma_star_ = full(gamma_star, 0.0)
        self.delta_star_ = full(delta_star, 1.0)
        # A dict of arrays (one value per batch, in batches_ order), not a DataFrame, so that skops can
        # persist a fitted pipeline.
        self.priors_ = {k: np.array([float(pr.get(k, np.nan)) for pr in priors]) for k in ("gamma_bar", "t2", "a_prior", "b_prior")}
        self._ref = ref

    def _check_confounding(self, D, batch_design, C, covs):
        if np.linalg.matrix_rank(D) == D.shape[1]:
            return
        if C.shape[1] and np.linalg.matrix_rank(C) < C.shape[1]:
            raise ValueError(f"the covariates {covs} are confounded with each other (collinear design); "
                             "remove one or more of them")
        col = 0
        for c in covs:
            width = len(self.categories_[c]) - 1 if c in self.categories_ else 1
            sub = np.hstack([batch_design, C[:, col:col + width]])
            if np.linalg.matrix_rank(sub) < sub.shape[1]:
                raise ValueError(f"covariate {c!r} is confounded with batch {self.batch!r} (it is constant within "
                                 "sites or determined by the site); remove it")
            col += width
        raise ValueError(f"the covariates {covs} are jointly confounded with batch {self.batch!r}; remove some")

    # ---- transform -----------------------------------------------------------------------------------

    def transform(self, X):
        """Harmonize the feature columns of X with the fitted estimates.

        Each row uses its own site's fitted shift/scale and its own covariate values. Rows of the
        reference site are returned unchanged. Sites absent from training raise, or are estimated from
        their rows in X when ``unseen="estimate"``.

        Parameters
        ----------
        X : DataFrame or array of shape (n_samples, n_columns)
            Same columns as in ``fit``.

        Returns
        -------
        DataFrame (for DataFrame input) or ndarray with the harmonized feature columns.
        """
        check_is_fitted(self, "gamma_star_")
        X, array_input = self._frame(X, reset=False)
        labels = self._batch_labels(X)
        codes = pd.Index(self.batches_).get_indexer(labels)
        new_sites = _sorted_levels(labels[codes < 0])
        if new_sites and self.unseen == "error":
            raise ValueError(f"batch column {self.batch!r}: site(s) {new_sites[:10]} were not seen in fit "
                             f"(fitted sites {list(self.batches_)}); pass unseen='estimate' to estimate them "
                             "from their own rows")
        for site in new_sites:
            n_site = int(np.sum((labels == site) & (codes < 0)))
            if n_site < self.min_unseen_rows:
                raise ValueError(
                    f"batch column {self.batch!r}: unseen site {site!r} has {n_site} row(s) here; estimating its "
                    f"ComBat shift and scale needs at least {self.min_unseen_rows} rows of that site in one call "
                    "(min_unseen_rows). Transform all of the site's rows together, or apply a model trained "
                    "without harmonization")
        C = self._covariate_design(X)
        Y = _numeric_matrix(X, self.features_, "feature")
        A = self._adjusted
        full = A.size == Y.shape[1]
        YA = Y if full else Y[:, A]
        out = np.array(YA)
        if A.size:
            grand, vp = self.grand_mean_[A], self.var_pooled_[A]
            # Covariate effect of each row from its own covariates (a scalar 0 when there are none).
            mod = C @ self.covariate_coef_[:, A] if C.shape[1] else np.zeros((1, A.size))
            gamma, delta = self.gamma_star_[:, A], self.delta_star_[:, A]
            for k in np.unique(codes[codes >= 0]):
                if k == self._ref:
                    continue  # the reference site is returned as it came
                rows = np.flatnonzero(codes == k)
                out[rows] = _adjust(YA[rows], mod[rows] if len(mod) > 1 else mod, grand, vp, gamma[k], delta[k])
            for site in new_sites:
                rows = np.flatnonzero(pd.Series(labels).eq(site).to_numpy() & (codes < 0))
                out[rows] = self._estimate_unseen(site, YA[rows], mod[rows] if len(mod) > 1 else mod, grand, vp)
        if full:
            H = out
        else:
            H = Y.copy()
            H[:, A] = out
        # NaN propagates through the arithmetic, so equal counts mean no observed value became NaN.
        if np.isnan(H).sum() != np.isnan(Y).sum():  # pragma: no cover - guarded by the pass-through rules
            raise RuntimeError("ComBat produced NaN for an observed value; please report this")
        return self._assemble(X, H, array_input)

    def _estimate_unseen(self, site, Y, mod, grand, vp):
        """Adjust the rows of one unseen site, estimating its shift/scale against the fitted pooled model."""
        n_rows = len(Y)
        if n_rows < FEW_ROWS:
            warnings.warn(f"batch {self.batch!r}: unseen site {site!r} is estimated from {n_rows} row(s) "
                          f"(< {FEW_ROWS}); its ComBat estimates are noisy", ComBatWarning, stacklevel=4)
        S = (Y - grand - mod) / np.sqrt(vp)
        M = ~np.isnan(S)
        n, xbar, ss = _batch_stats(S, M)
        g_hat = xbar - (self.gamma_hat_[self._ref, self._adjusted] if self._ref is not None else 0.0)
        mean_only = self.mean_only_ or n_rows == 1
        with np.errstate(invalid="ignore", divide="ignore"):
            d_hat = np.ones_like(xbar) if mean_only else ss / (n - 1)
        # Features with no observed value here stay as they are (all NaN anyway); features whose spread
        # cannot be estimated at this site (one value, or constant) get an unshrunk shift only.
        usable = n > 0
        shift_only = usable & ~(np.isfinite(d_hat) & (d_hat > 0))
        pool = usable & ~shift_only
        g_star = np.where(usable, g_hat, 0.0)
        d_star = np.where(pool, d_hat, 1.0)
        eb = bool(self.eb) and pool.sum() >= 2
        if pool.any():
            gs, ds, _ = _eb_one_batch(n[pool], xbar[pool], ss[pool], g_hat[pool], d_hat[pool],
                                      parametric=self.parametric, eb=eb, mean_only=mean_only)
            if gs is None:
                gs, ds = g_hat[pool], d_hat[pool]
            g_star[pool], d_star[pool] = gs, ds
        ok = np.isfinite(g_star) & np.isfinite(d_star) & (d_star > 0)
        g_star, d_star = np.where(ok, g_star, 0.0), np.where(ok, d_star, 1.0)
        return _adjust(Y, mod, grand, vp, g_star, d_star)

    def _assemble(self, X: pd.DataFrame, H: np.ndarray, array_input: bool):
        new = pd.DataFrame(H, index=X.index, columns=pd.Index(self.features_, dtype=X.columns.dtype))
        rest = X.drop(columns=self.features_)
        out = pd.concat([rest, new], axis=1)[[c for c in X.columns if not (self.drop_batch and c == self.batch)]]
        if array_input:
            return out.to_numpy()
        out.attrs = dict(X.attrs)
        return out

    def get_feature_names_out(self, input_features=None):
        """Output column names: the input columns, less the batch column when ``drop_batch``."""
        check_is_fitted(self, "gamma_star_")
        names = _check_feature_names_in(self, input_features)
        if not self.drop_batch:
            return names
        if hasattr(self, "feature_names_in_"):
            drop = str(self.batch)
        else:
            drop = f"x{self.batch}"
        return np.asarray([n for n in names if n != drop], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags


# --------------------------------------------------------------------------------------------------------
# Diagnostics
# --------------------------------------------------------------------------------------------------------


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
    drop = set(_as_list(exclude, "exclude"))
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
        feats = _as_list(features, "features")
    if not feats:
        raise ValueError("no feature columns for the site-effect diagnostics")
    return pd.DataFrame(_numeric_matrix(df, feats, "feature"), columns=feats, index=df.index), sites


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
        for lv in _sorted_levels(sites):
            sel = sites == lv
            ax.scatter(Z[sel, 0], Z[sel, 1], s=14, alpha=0.75, label=str(lv))
        ax.set_title(title)
        ax.set_xlabel(f"PC1 ({ev[0]:.0%})")
        ax.set_ylabel(f"PC2 ({ev[1]:.0%})")
    axes[1].legend(title="site", fontsize="small", loc="best")
    return fig
