"""Time-to-event metrics, written from their definitions and vectorised: Kaplan-Meier, the Breslow baseline
hazard, Harrell's and Uno's concordance, cumulative/dynamic time-dependent AUC, the Brier score and its
integral, and the log-rank statistic.

A survival target is an ``(n, 2)`` float array: column 0 the follow-up time (> 0), column 1 the event
indicator (1 = event, 0 = censored); :func:`surv_array` builds one, :func:`split_surv` checks and splits it.

Conventions (those of R ``survival::concordance`` and scikit-survival, against which the tests check):

* a pair ``(i, j)`` is comparable when ``i`` had the event and ``t_i < t_j``, or ``t_i == t_j`` and ``j`` was
  censored (a censored patient at the event's time is taken to have lived longer); two events at the same
  time are not comparable;
* a higher risk score means a shorter expected survival; risks within ``tied_tol`` count one half;
* inverse-probability-of-censoring weights use the Kaplan-Meier estimate ``G`` of the censoring distribution
  from a reference (training) sample, with events ordered before censorings at a tied time, evaluated at
  ``t`` itself (right-continuous); beyond the last reference time ``G`` keeps its last value.

Every statistic that is a ratio of pair sums (concordance, AUC) is also available for many bootstrap
resamples at once: a resample is a vector of counts ``c`` and the statistic is ``c' N c / c' D c`` for the
pair matrices ``N`` and ``D`` computed once (:class:`PairStatistic`).

``blocks`` (an integer label per patient; None: one block) restricts every pair statistic to pairs of
patients in the same block, pooled over blocks (sum of concordant weight over sum of comparable weight). Out of
fold, the block is the outer fold: each fold's risks come from a different model, whose scale and offset are
arbitrary, so a pair across folds compares two models rather than two patients (adding a constant to one
fold's risks changes no ranking inside it, but it would change a C that pools pairs across folds).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["surv_array", "split_surv", "kaplan_meier", "step_at", "censoring_weights", "breslow",
           "harrell_c", "uno_c", "uno_pairs", "cumulative_dynamic_auc", "brier_score", "integrated_brier_score",
           "logrank", "PairStatistic", "concordance_pairs", "auc_pairs", "default_horizons", "default_tau",
           "CensoringWarning"]

TIED_TOL = 1e-8


def surv_array(time, event) -> np.ndarray:
    """The ``(n, 2)`` survival target of follow-up ``time`` and ``event`` (1 = event, 0 = censored)."""
    return np.column_stack([np.asarray(time, dtype=float), np.asarray(event, dtype=float)])


def split_surv(y, owner: str = "survival target") -> tuple[np.ndarray, np.ndarray]:
    """``(time, event)`` of a survival target (``(n, 2)``: time, event), checked: finite times > 0 and a
    0/1 event."""
    y = np.asarray(y, dtype=float)
    if y.ndim != 2 or y.shape[1] != 2:
        raise ValueError(f"{owner}: expected an (n, 2) array of (time, event), got shape {y.shape}")
    time, event = y[:, 0], y[:, 1]
    if not np.isfinite(time).all() or (time <= 0).any():
        raise ValueError(f"{owner}: follow-up times must be finite and > 0")
    if not np.isin(event, (0.0, 1.0)).all():
        raise ValueError(f"{owner}: the event indicator must be 0 (censored) or 1 (event)")
    return time, event.astype(bool)


# ------------------------------------------------------------------------------------ non-parametric
def kaplan_meier(time, event, *, reverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate at each distinct time: ``(times, S(times))``, right-continuous.

    ``reverse=True`` estimates the censoring distribution: censorings are the "events" and, at a time with
    both, the events leave the risk set first (a patient censored at an event time was still at risk).
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    times, inv = np.unique(time, return_inverse=True)
    n_obs = np.bincount(inv, minlength=len(times))
    n_evt = np.bincount(inv, weights=event.astype(float), minlength=len(times))
    at_risk = len(time) - np.concatenate([[0], np.cumsum(n_obs)[:-1]])
    if reverse:
        d, n = n_obs - n_evt, at_risk - n_evt
    else:
        d, n = n_evt, at_risk.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(d > 0, 1.0 - d / np.where(n > 0, n, 1), 1.0)
    return times, np.cumprod(step)


def step_at(times: np.ndarray, values: np.ndarray, t, before: float = 1.0) -> np.ndarray:
    """A right-continuous step function (``values`` from each of ``times`` on) at ``t``; ``before`` ahead of
    the first time, the last value after the last."""
    idx = np.searchsorted(times, np.asarray(t, dtype=float), side="right") - 1
    out = np.where(idx >= 0, values[np.clip(idx, 0, None)], before)
    return out


def censoring_weights(ref_time, ref_event, t) -> np.ndarray:
    """``G(t)``: the Kaplan-Meier probability of remaining uncensored at ``t``, estimated on the reference
    sample ``(ref_time, ref_event)`` (the training patients)."""
    times, g = kaplan_meier(ref_time, ref_event, reverse=True)
    return step_at(times, g, t)


def breslow(time, event, risk) -> tuple[np.ndarray, np.ndarray]:
    """Breslow's estimate of the baseline cumulative hazard of a proportional-hazards model with linear
    predictor ``risk`` (``exp(risk)`` the hazard ratio): ``(event_times, H0(event_times))``, with
    ``H0(t) = sum_{t_k <= t} d_k / sum_{j: t_j >= t_k} exp(risk_j)``."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    risk = np.asarray(risk, dtype=float)
    shift = risk.max()
    e = np.exp(risk - shift)
    times, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=event.astype(float), minlength=len(times))
    s = np.bincount(inv, weights=e, minlength=len(times))
    at_risk = np.cumsum(s[::-1])[::-1]
    keep = d > 0
    return times[keep], np.cumsum(d[keep] / at_risk[keep]) * np.exp(-shift)


def logrank(time, event, groups) -> float:
    """The log-rank chi-square statistic (k - 1 degrees of freedom) comparing the survival of ``groups``."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    labels, g = np.unique(np.asarray(groups), return_inverse=True)
    k = len(labels)
    if k < 2:
        return 0.0
    times, inv = np.unique(time, return_inverse=True)
    m = len(times)
    obs_all = np.zeros((m, k))
    evt_all = np.zeros((m, k))
    np.add.at(obs_all, (inv, g), 1.0)
    np.add.at(evt_all, (inv, g), event.astype(float))
    n_gk = obs_all[::-1].cumsum(axis=0)[::-1]   # at risk per group at each time
    n_t = n_gk.sum(axis=1)
    d_t = evt_all.sum(axis=1)
    live = (d_t > 0) & (n_t > 1)
    n_gk, n_t, d_t, evt = n_gk[live], n_t[live], d_t[live], evt_all[live]
    expected = n_gk * (d_t / n_t)[:, None]
    o_minus_e = (evt - expected).sum(axis=0)[:-1]
    f = (d_t * (n_t - d_t) / (n_t ** 2 * (n_t - 1)))
    p = n_gk[:, :-1]
    V = np.diag((f[:, None] * p * n_t[:, None]).sum(axis=0)) - np.einsum("t,ti,tj->ij", f, p, p)
    if not live.any():
        return 0.0  # no event where two or more patients were at risk: nothing to compare
    # pinv: a group with nobody at risk at any event time makes V singular (its degree of freedom is void)
    return float(o_minus_e @ np.linalg.pinv(V) @ o_minus_e)


# ---------------------------------------------------------------------------------- pair statistics
@dataclass
class PairStatistic:
    """A statistic ``sum_ij N_ij / sum_ij D_ij`` over pairs of patients (rows ``rows`` of the sample against
    all of it), with its value for bootstrap resamples given as count vectors."""

    rows: np.ndarray     # the sample positions of N's and D's rows
    N: np.ndarray        # (len(rows), n) weighted concordance
    D: np.ndarray        # (len(rows), n) weighted comparability

    @property
    def value(self) -> float:
        den = self.D.sum()
        return float(self.N.sum() / den) if den > 0 else np.nan

    def by_block(self, blocks) -> dict:
        """The statistic within each block (``{label: value}``, NaN where a block has no comparable pair), for
        pair matrices built with the same ``blocks``: every pair of a row lies in that row's block."""
        b = np.asarray(blocks)[self.rows]
        num, den = self.N.sum(axis=1), self.D.sum(axis=1)
        out = {}
        for k in np.unique(np.asarray(blocks)):
            d = den[b == k].sum()
            out[k.item() if hasattr(k, "item") else k] = float(num[b == k].sum() / d) if d > 0 else np.nan
        return out

    def resampled(self, counts: np.ndarray, chunk: int = 256) -> np.ndarray:
        """The statistic for each row of ``counts`` ((B, n): how often each patient is drawn)."""
        counts = np.atleast_2d(np.asarray(counts, dtype=float))
        out = np.empty(len(counts))
        for a in range(0, len(counts), chunk):
            c = counts[a:a + chunk]
            ci = c[:, self.rows]
            num = ((ci @ self.N) * c).sum(axis=1)
            den = ((ci @ self.D) * c).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[a:a + chunk] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
        return out


def _concordance_kernel(r_rows: np.ndarray, r_all: np.ndarray, tied_tol: float) -> np.ndarray:
    diff = r_rows[:, None] - r_all[None, :]
    return np.where(np.abs(diff) <= tied_tol, 0.5, (diff > 0).astype(float))


def _same_block(blocks, rows: np.ndarray, n: int):
    """``(len(rows), n)``: whether each pair lies in one block (True everywhere when ``blocks`` is None)."""
    if blocks is None:
        return True
    b = np.asarray(blocks)
    if b.shape != (n,):
        raise ValueError(f"blocks: expected one label per patient ({n}), got shape {b.shape}")
    return b[rows][:, None] == b[None, :]


def concordance_pairs(time, event, risk, weights=None, *, tau=None, tied_tol: float = TIED_TOL,
                      blocks=None) -> PairStatistic:
    """The pair matrices of Harrell's C (``weights`` None) or of a weighted C (Uno: ``1/G(t_i)^2``), over
    events before ``tau`` (all when None), and pairs within the same ``blocks`` label (None: all pairs)."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    risk = np.asarray(risk, dtype=float)
    use = event if tau is None else event & (time < tau)
    rows = np.flatnonzero(use)
    ti = time[rows][:, None]
    comparable = (ti < time[None, :]) | ((ti == time[None, :]) & ~event[None, :])
    comparable &= _same_block(blocks, rows, len(time))
    w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=float)[rows]
    D = comparable * w[:, None]
    N = D * _concordance_kernel(risk[rows], risk, tied_tol)
    return PairStatistic(rows, N, D)


def harrell_c(time, event, risk, *, tied_tol: float = TIED_TOL, blocks=None) -> float:
    """Harrell's concordance index of ``risk`` (higher = shorter survival), over pairs within the same
    ``blocks`` label (None: all pairs)."""
    return concordance_pairs(time, event, risk, tied_tol=tied_tol, blocks=blocks).value


def _ipcw(time, event, ref_time, ref_event):
    """``1/G(t_i)`` for events (0 for censored rows, and for events where G is 0: said)."""
    g = censoring_weights(ref_time, ref_event, time)
    event = np.asarray(event, bool)
    lost = event & ~(g > 0)
    if lost.any():
        warnings.warn(f"{int(lost.sum())} event(s) at or after the last censoring of the reference (training) "
                      "patients, where their censoring survival is 0: they get no weight in Uno's C / the "
                      "time-dependent AUC (truncate earlier: survival.tau, survival.horizons)", CensoringWarning,
                      stacklevel=3)
    return np.where(event & (g > 0), 1.0 / np.where(g > 0, g, 1.0), 0.0)


class CensoringWarning(UserWarning):
    """Inverse-probability-of-censoring weights undefined for some patients (censoring survival 0)."""


def uno_c(time, event, risk, *, ref_time=None, ref_event=None, tau=None, tied_tol: float = TIED_TOL,
          blocks=None) -> float:
    """Uno's IPCW concordance up to ``tau``, with the censoring distribution of the reference sample (the
    training patients; default: this sample), over pairs within the same ``blocks`` label (None: all pairs)."""
    return uno_pairs(time, event, risk, ref_time=ref_time, ref_event=ref_event, tau=tau, tied_tol=tied_tol,
                     blocks=blocks).value


def uno_pairs(time, event, risk, *, ref_time=None, ref_event=None, tau=None, tied_tol: float = TIED_TOL,
              blocks=None) -> PairStatistic:
    """The pair matrices of Uno's C (:func:`uno_c`)."""
    ref_time = time if ref_time is None else ref_time
    ref_event = event if ref_event is None else ref_event
    w = _ipcw(time, event, ref_time, ref_event) ** 2
    return concordance_pairs(time, event, risk, w, tau=tau, tied_tol=tied_tol, blocks=blocks)


def auc_pairs(time, event, risk, horizon: float, *, ref_time=None, ref_event=None,
              tied_tol: float = TIED_TOL, blocks=None) -> PairStatistic:
    """Pair matrices of the cumulative/dynamic AUC at ``horizon``: cases had the event by then (weight
    ``1/G(t_i)``), controls are still event-free after it (and, with ``blocks``, share the case's label)."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    risk = np.asarray(risk, dtype=float)
    ref_time = time if ref_time is None else ref_time
    ref_event = event if ref_event is None else ref_event
    rows = np.flatnonzero(event & (time <= horizon))
    w = _ipcw(time, event, ref_time, ref_event)[rows]
    control = (time > horizon)[None, :] & _same_block(blocks, rows, len(time))
    D = w[:, None] * control
    N = D * _concordance_kernel(risk[rows], risk, tied_tol)
    return PairStatistic(rows, N, D)


def cumulative_dynamic_auc(time, event, risk, horizons, *, ref_time=None, ref_event=None,
                           tied_tol: float = TIED_TOL, blocks=None) -> np.ndarray:
    """Cumulative/dynamic AUC (Uno et al. 2007; Hung & Chiang 2010) of ``risk`` at each horizon, over
    case-control pairs within the same ``blocks`` label (None: all pairs)."""
    return np.array([auc_pairs(time, event, risk, h, ref_time=ref_time, ref_event=ref_event,
                               tied_tol=tied_tol, blocks=blocks).value for h in np.atleast_1d(horizons)])


def brier_losses(time, event, surv, horizons, *, ref_time=None, ref_event=None) -> np.ndarray:
    """Per-patient IPCW squared errors (Graf et al. 1999) of predicted survival ``surv`` ((n, k): S(t|x) at
    each of the k ``horizons``): shape (n, k); the Brier score is their mean over patients."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    surv = np.asarray(surv, dtype=float).reshape(len(time), -1)
    h = np.atleast_1d(np.asarray(horizons, dtype=float))
    ref_time = time if ref_time is None else ref_time
    ref_event = event if ref_event is None else ref_event
    g_obs = censoring_weights(ref_time, ref_event, time)
    g_h = censoring_weights(ref_time, ref_event, h)
    case = event[:, None] & (time[:, None] <= h[None, :])
    control = time[:, None] > h[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(case, surv ** 2 / np.where(g_obs > 0, g_obs, np.inf)[:, None], 0.0)
        b = np.where(control, (1 - surv) ** 2 / np.where(g_h > 0, g_h, np.inf)[None, :], 0.0)
    return a + b


def brier_score(time, event, surv, horizons, *, ref_time=None, ref_event=None) -> np.ndarray:
    """IPCW Brier score at each horizon (Graf et al. 1999), as scikit-survival's ``brier_score``."""
    return brier_losses(time, event, surv, horizons, ref_time=ref_time, ref_event=ref_event).mean(axis=0)


def integrated_brier_score(time, event, surv, grid, *, ref_time=None, ref_event=None) -> float:
    """The Brier score integrated over the time ``grid`` (trapezoid rule) divided by its length."""
    grid = np.asarray(grid, dtype=float)
    bs = brier_score(time, event, surv, grid, ref_time=ref_time, ref_event=ref_event)
    return float(np.trapezoid(bs, grid) / (grid[-1] - grid[0]))


def default_horizons(time, event) -> np.ndarray:
    """The quartiles (25, 50, 75 %) of the event times, to 3 significant figures (whatever the time unit)."""
    t = np.asarray(time, float)[np.asarray(event, bool)]
    q = np.quantile(t, [0.25, 0.5, 0.75])
    return np.unique([float(f"{v:.3g}") for v in q])


def default_tau(time, event) -> float:
    """Truncation time of Uno's C: the 90th percentile of the event times."""
    t = np.asarray(time, float)[np.asarray(event, bool)]
    return float(np.quantile(t, 0.9))
