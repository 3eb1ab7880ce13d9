"""ComBat's arithmetic on arrays (rows = samples, columns = features; NaN = missing): least squares on
observed values, the pooled standardisation, the parametric and non-parametric empirical-Bayes priors, the
adjustment. Follows R's ``sva::ComBat`` and ``neuroCombat`` step by step."""

from __future__ import annotations

import warnings

import numpy as np

from ._support import ComBatWarning

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



def ols_observed(D: np.ndarray, Y: np.ndarray, M: np.ndarray) -> np.ndarray:
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


def batch_stats(S: np.ndarray, M: np.ndarray | None):
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


def eb_one_batch(n, xbar, ss, g_hat, d_hat, *, parametric, eb, mean_only):
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


def unadjustable(Y: np.ndarray, M: np.ndarray, idx: list, complete: bool, mean_only: bool) -> np.ndarray:
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


def pooled_model(D, C, Y, M, skip, idx, counts, ref, complete):
    """Pooled OLS fit and residual variance of the features not in ``skip``.

    Features whose pooled variance is zero or not finite (or whose coefficients are not finite) are marked
    in ``skip`` (in place) and dropped. Returns ``(A, B, grand, mod, var_pooled, YA, MA)``: the adjusted
    feature indices, the coefficients (batch rows then covariate rows), the grand mean, the covariate
    effect per row, the pooled variance, and the values and observed mask of the adjusted features.
    """
    K = len(idx)
    A = np.flatnonzero(~skip)
    YA, MA = (Y, M) if A.size == Y.shape[1] else (Y[:, A], M[:, A])
    B = ols_observed(D, YA, MA) if A.size else np.zeros((D.shape[1], 0))
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


def site_estimates(stats: list, ref, mean_only: bool):
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


def adjust(Y, mod, grand, var_pooled, gamma, delta):
    """Apply the location/scale adjustment; gamma/delta are per row (n x F) or broadcastable."""
    sd = np.sqrt(var_pooled)
    z = (Y - grand - mod) / sd
    return (z - gamma) / np.sqrt(delta) * sd + grand + mod
