"""Independent references for the statistics tests (numpy only; never imports radiomix)."""
import numpy as np


def delong_se(y, p):
    """DeLong (1988) standard error of the AUC from the structural components (placements)."""
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, float)
    pos, neg = p[y], p[~y]
    cmp = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = cmp.mean(axis=1), cmp.mean(axis=0)
    return float(np.sqrt(v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size))


def hanley_mcneil_se(auc, n1, n0):
    """Hanley & McNeil (1982) standard error of the AUC."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    return float(np.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0)))


def best_youden_j(y, p):
    """Brute force: Youden's J at every observed score used as the cut (label = p >= cut)."""
    y, p = np.asarray(y), np.asarray(p, float)
    return max((p[y == 1] >= c).mean() + (p[y == 0] < c).mean() - 1 for c in np.unique(p))


def youden_j(y, p, t):
    """Youden's J of the cut ``t`` (label = p >= t)."""
    y, p = np.asarray(y), np.asarray(p, float)
    return (p[y == 1] >= t).mean() + (p[y == 0] < t).mean() - 1
