"""CART with rpart's surrogate splits: the numeric core behind :mod:`radiomix.impute`.

This follows R's ``rpart`` (Therneau & Atkinson; C sources ``bsplit.c``, ``anova.c``, ``gini.c``,
``surrogate.c``, ``choose_surg.c``, ``nodesplit.c``, ``partition.c``, ``pred_rpart.c``) closely enough
that, on the same data and settings, it grows the same tree: same primary split variable and cut point at
every node, same surrogates in the same order with the same agreement, adjusted agreement and counts, and
the same predictions. The parts of rpart's semantics that matter:

* A node's split is searched on the rows where that predictor is observed. The improvement is computed on
  that subset only (anova: between-group sum of squares / the node's total sum of squares, which includes
  rows missing the predictor; gini: impurity decrease in case counts), so a predictor with many missing
  values is implicitly penalised. Ties go to the predictor that comes first.
* Both children must hold at least ``minbucket`` of those observed rows; a node is split only when it
  holds at least ``minsplit`` rows (counting rows that reached it through surrogates).
* Surrogates: for each other predictor, the cut (or category map) that best reproduces the primary
  split's left/right assignment of rows observed on both, with at least two rows sent each way.
  Agreement = concordant rows / rows with the primary observed; "adjusted agreement"
  (agree - majority) / (1 - majority) measures the gain over sending everyone the majority way.
  Only surrogates with adjusted agreement > 0 are kept, ranked by agreement (ties: first predictor).
* Rows missing the primary go down the first surrogate they have; with ``usesurrogate=2`` rows missing
  every surrogate follow the majority (at fit: the side the primary sent more rows to; at predict: the
  child with more training rows, as ``predict.rpart`` does); with a 50/50 tie they stay in the node.
* Complexity pruning happens while growing, exactly as rpart's ``partition()``: a split is kept only if
  the subtree below it lowers the risk (anova: sum of squares; class: misclassified count) by more than
  ``cp`` times the root risk per split.

Everything runs on a feature-major float matrix with NaN for missing; categorical predictors hold codes
0..k-1. The inner loops are numba-compiled when numba is importable and plain Python otherwise (same
results, much slower).
"""

from __future__ import annotations

import numpy as np

try:  # numba is optional: without it the same loops run as plain Python.
    from numba import njit as _numba_njit

    def _njit(fn):
        return _numba_njit(cache=True, nogil=True)(fn)

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is absent
    HAVE_NUMBA = False

    def _njit(fn):
        return fn


__all__ = ["grow_tree", "Tree", "HAVE_NUMBA", "LEFT", "RIGHT"]

LEFT = -1
RIGHT = 1
# rpart cannot number nodes deeper than 30 levels (node ids are C ints); neither do we.
MAX_DEPTH = 30
# Multiclass gini on an unordered predictor tries every subset of its levels (as rpart does); beyond
# this many observed levels, levels are ordered by their share of the first class instead.
_MAX_SUBSET_LEVELS = 16


# --------------------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------------------


@_njit
def _node_eval(y, rows, m, n_classes, counts):
    """rpart's eval: anova -> (mean, sum of squares); class -> (class, misclassified count)."""
    if n_classes == 0:
        s = 0.0
        for i in range(m):
            s += y[rows[i]]
        mean = s / m
        ss = 0.0
        for i in range(m):
            d = y[rows[i]] - mean
            ss += d * d
        return mean, ss
    for c in range(n_classes):
        counts[c] = 0.0
    for i in range(m):
        counts[int(y[rows[i]])] += 1.0
    best = 0
    for c in range(1, n_classes):
        # ginidev picks the class with the smallest loss; the first one on ties.
        if counts[c] > counts[best]:
            best = c
    return float(best), m - counts[best]


@_njit
def _gini_impurity(left, lwt, right, rwt, n_classes):
    temp = 0.0
    lmean = 0.0
    rmean = 0.0
    for j in range(n_classes):
        p = left[j] / lwt
        temp += lwt * p * (1.0 - p)
        lmean += p * j
        p = right[j] / rwt
        temp += rwt * p * (1.0 - p)
        rmean += p * j
    return temp, lmean, rmean


@_njit
def _order_levels(ncat, countn, val, order):
    """graycode_init2: empty levels first, then the others by ``val`` (stable); returns #empty."""
    k = 0
    for i in range(ncat):
        if countn[i] == 0:
            for j in range(i - 1, k - 1, -1):
                order[j + 1] = order[j]
                val[j + 1] = val[j]
            order[k] = i
            k += 1
        else:
            temp = val[i]
            j = i - 1
            while j >= k and val[j] > temp:
                order[j + 1] = order[j]
                val[j + 1] = val[j]
                j -= 1
            val[j + 1] = temp
            order[j + 1] = i
    return k


@_njit
def _best_splits(Xt, y, ncat, S, nnm, m, active, node_risk, edge, n_classes,
                 improve, split, direction, csplit):
    """bsplit + the anova/gini split functions, for every active predictor of one node.

    Writes each predictor's best improvement (0 when it cannot split), cut point and direction (the
    side ``x < cut`` goes to) or, for a categorical predictor, the side of each level (0 = absent).
    """
    p = Xt.shape[0]
    maxcat = csplit.shape[1]
    K = max(n_classes, 1)
    left = np.zeros(K)
    right = np.zeros(K)
    ccnt = np.zeros((K, max(maxcat, 1)))
    countn = np.zeros(max(maxcat, 1), dtype=np.int64)
    wts = np.zeros(max(maxcat, 1))
    sums = np.zeros(max(maxcat, 1))
    val = np.zeros(max(maxcat, 1))
    order = np.zeros(max(maxcat, 1), dtype=np.int64)
    tsplit = np.zeros(max(maxcat, 1), dtype=np.int64)
    gray = np.zeros(max(maxcat, 1), dtype=np.int64)
    for f in range(p):
        improve[f] = 0.0
        if not active[f]:
            continue
        k = nnm[f]
        rows = S[f]
        x = Xt[f]
        nc = ncat[f]
        if k == 0:
            continue
        if nc == 0 and x[rows[0]] == x[rows[k - 1]]:
            continue  # constant: no place to split
        if n_classes == 0:
            # ---------------- anova ----------------
            right_sum = 0.0
            right_wt = 0.0
            for i in range(k):
                right_sum += y[rows[i]]
                right_wt += 1.0
            grandmean = right_sum / right_wt
            if nc == 0:
                left_sum = 0.0
                left_wt = 0.0
                left_n = 0
                right_n = k
                right_sum = 0.0  # deviations from the grand mean sum to zero
                best = 0.0
                where = 0
                dirn = LEFT
                i = 0
                while right_n > edge:
                    left_wt += 1.0
                    right_wt -= 1.0
                    left_n += 1
                    right_n -= 1
                    temp = y[rows[i]] - grandmean
                    left_sum += temp
                    right_sum -= temp
                    if x[rows[i + 1]] != x[rows[i]] and left_n >= edge:
                        temp = left_sum * left_sum / left_wt + right_sum * right_sum / right_wt
                        if temp > best:
                            best = temp
                            where = i
                            dirn = LEFT if left_sum < right_sum else RIGHT
                    i += 1
                improve[f] = best / node_risk
                if best > 0:
                    direction[f] = dirn
                    split[f] = (x[rows[where]] + x[rows[where + 1]]) / 2.0
            else:
                for c in range(nc):
                    sums[c] = 0.0
                    countn[c] = 0
                    wts[c] = 0.0
                for i in range(k):
                    c = int(x[rows[i]])
                    countn[c] += 1
                    wts[c] += 1.0
                    sums[c] += y[rows[i]] - grandmean
                for c in range(nc):
                    if countn[c] > 0:
                        tsplit[c] = RIGHT
                        val[c] = sums[c] / wts[c]
                    else:
                        tsplit[c] = 0
                        val[c] = 0.0
                    order[c] = c
                nempty = _order_levels(nc, countn, val, order)
                left_wt = 0.0
                left_sum = 0.0
                right_sum = 0.0
                left_n = 0
                right_n = k
                best = 0.0
                for t in range(nempty, nc):
                    c = order[t]
                    tsplit[c] = LEFT
                    left_n += countn[c]
                    right_n -= countn[c]
                    left_wt += wts[c]
                    right_wt -= wts[c]
                    left_sum += sums[c]
                    right_sum -= sums[c]
                    if left_n >= edge and right_n >= edge:
                        temp = left_sum * left_sum / left_wt + right_sum * right_sum / right_wt
                        if temp > best:
                            best = temp
                            flip = (left_sum / left_wt) > (right_sum / right_wt)
                            for cc in range(nc):
                                csplit[f, cc] = -tsplit[cc] if flip else tsplit[cc]
                improve[f] = best / node_risk
        else:
            # ---------------- gini ----------------
            for j in range(n_classes):
                left[j] = 0.0
                right[j] = 0.0
            lwt = 0.0
            rwt = 0.0
            rtot = 0
            ltot = 0
            for i in range(k):
                j = int(y[rows[i]])
                rwt += 1.0
                right[j] += 1.0
                rtot += 1
            total_ss = 0.0
            for j in range(n_classes):
                pj = right[j] / rwt
                total_ss += rwt * pj * (1.0 - pj)
            best = total_ss
            if nc == 0:
                where = 0
                dirn = LEFT
                i = 0
                while rtot > edge:
                    j = int(y[rows[i]])
                    rwt -= 1.0
                    lwt += 1.0
                    rtot -= 1
                    ltot += 1
                    right[j] -= 1.0
                    left[j] += 1.0
                    if ltot >= edge and x[rows[i + 1]] != x[rows[i]]:
                        temp, lmean, rmean = _gini_impurity(left, lwt, right, rwt, n_classes)
                        if temp < best:
                            best = temp
                            where = i
                            dirn = LEFT if lmean < rmean else RIGHT
                    i += 1
                improve[f] = total_ss - best
                if improve[f] > 0:
                    direction[f] = dirn
                    split[f] = (x[rows[where]] + x[rows[where + 1]]) / 2.0
            else:
                for c in range(nc):
                    wts[c] = 0.0
                    countn[c] = 0
                    for j in range(n_classes):
                        ccnt[j, c] = 0.0
                for i in range(k):
                    j = int(y[rows[i]])
                    c = int(x[rows[i]])
                    wts[c] += 1.0
                    countn[c] += 1
                    ccnt[j, c] += 1.0
                nobs = 0
                for c in range(nc):
                    order[c] = c
                    if wts[c] == 0:
                        tsplit[c] = 0
                        val[c] = 0.0
                    else:
                        val[c] = ccnt[0, c] / wts[c]
                        tsplit[c] = RIGHT
                        nobs += 1
                ordered = n_classes == 2 or nobs > _MAX_SUBSET_LEVELS
                t = 0
                if ordered:
                    nempty = _order_levels(nc, countn, val, order)
                    t = nempty
                else:
                    for c in range(nc):
                        gray[c] = 1 if countn[c] != 0 else 0
                while True:
                    # Next level to change sides: the ordered scan, or the classic Gray code sequence.
                    if ordered:
                        if t >= nc:
                            break
                        c = order[t]
                        t += 1
                    else:
                        c = 0
                        while c < nc:
                            if gray[c] == 1:
                                gray[c] = 2
                                break
                            elif gray[c] == 2:
                                gray[c] = 1
                            c += 1
                        if c >= nc:
                            break
                    if tsplit[c] == LEFT:
                        tsplit[c] = RIGHT
                        rwt += wts[c]
                        lwt -= wts[c]
                        rtot += countn[c]
                        ltot -= countn[c]
                        for j in range(n_classes):
                            right[j] += ccnt[j, c]
                            left[j] -= ccnt[j, c]
                    else:
                        tsplit[c] = LEFT
                        rwt -= wts[c]
                        lwt += wts[c]
                        rtot -= countn[c]
                        ltot += countn[c]
                        for j in range(n_classes):
                            right[j] -= ccnt[j, c]
                            left[j] += ccnt[j, c]
                    if ltot >= edge and rtot >= edge:
                        temp, lmean, rmean = _gini_impurity(left, lwt, right, rwt, n_classes)
                        if temp < best:
                            best = temp
                            for cc in range(nc):
                                csplit[f, cc] = tsplit[cc] if lmean < rmean else -tsplit[cc]
                improve[f] = total_ss - best
    return 0


@_njit
def _surrogate_scores(Xt, ncat, S, nnm, active, pvar, tempy, tleft, tright, sur_agree,
                      agreement, adj, split, direction, csplit):
    """choose_surg for every active predictor but the primary one.

    ``tempy[row]`` is where the primary sends the row (LEFT/RIGHT, 0 when the primary is missing).
    """
    p = Xt.shape[0]
    maxcat = max(csplit.shape[1], 1)
    left = np.zeros(maxcat, dtype=np.int64)
    right = np.zeros(maxcat, dtype=np.int64)
    lwt = np.zeros(maxcat)
    rwt = np.zeros(maxcat)
    for f in range(p):
        agreement[f] = 0.0
        adj[f] = 0.0
        if f == pvar or not active[f]:
            continue
        k = nnm[f]
        rows = S[f]
        x = Xt[f]
        nc = ncat[f]
        success = False
        agree = 0.0
        majority = 0.0
        total_wt = 0.0
        if nc == 0:
            ll = 0
            rl = 0
            llwt = 0.0
            rlwt = 0.0
            lastx = 0.0
            for i in range(k - 1, -1, -1):  # start with everyone sent left
                r = rows[i]
                lastx = x[r]
                if tempy[r] == LEFT:
                    ll += 1
                    llwt += 1.0
                elif tempy[r] == RIGHT:
                    rl += 1
                    rlwt += 1.0
            agree = llwt if llwt > rlwt else rlwt
            majority = agree
            total_wt = llwt + rlwt
            lr = 0
            rr = 0
            lrwt = 0.0
            rrwt = 0.0
            d = LEFT
            cut = lastx
            i = 0
            # March up the sorted values; at least two rows must go each way.
            while ll + rl >= 2 and i < k:
                r = rows[i]
                xr = x[r]
                if lr + rr >= 2 and xr != lastx:
                    if llwt + rrwt > agree:
                        success = True
                        agree = llwt + rrwt
                        d = RIGHT
                        cut = (xr + lastx) / 2.0
                    elif lrwt + rlwt > agree:
                        success = True
                        agree = lrwt + rlwt
                        d = LEFT
                        cut = (xr + lastx) / 2.0
                if tempy[r] == LEFT:
                    ll -= 1
                    lr += 1
                    llwt -= 1.0
                    lrwt += 1.0
                elif tempy[r] == RIGHT:
                    rl -= 1
                    rr += 1
                    rlwt -= 1.0
                    rrwt += 1.0
                lastx = xr
                i += 1
            split[f] = cut
            direction[f] = d
        else:
            for c in range(nc):
                left[c] = 0
                right[c] = 0
                lwt[c] = 0.0
                rwt[c] = 0.0
            for i in range(k):
                r = rows[i]
                c = int(x[r])
                if tempy[r] == LEFT:
                    left[c] += 1
                    lwt[c] += 1.0
                elif tempy[r] == RIGHT:
                    right[c] += 1
                    rwt[c] += 1.0
            llwt = 0.0
            rrwt = 0.0
            for c in range(nc):
                llwt += lwt[c]
                rrwt += rwt[c]
            if llwt > rrwt:
                defdir = LEFT
                majority = llwt
            else:
                defdir = RIGHT
                majority = rrwt
            total_wt = llwt + rrwt
            agree = 0.0
            lcount = 0
            rcount = 0
            for c in range(nc):
                if left[c] == 0 and right[c] == 0:
                    csplit[f, c] = 0
                elif lwt[c] < rwt[c] or (lwt[c] == rwt[c] and defdir == RIGHT):
                    agree += rwt[c]
                    csplit[f, c] = RIGHT
                    lcount += left[c]
                    rcount += right[c]
                else:
                    agree += lwt[c]
                    csplit[f, c] = LEFT
                    lcount += right[c]
                    rcount += left[c]
            # rpart's own test (it counts discordant and concordant rows, not rows sent each way).
            success = lcount > 1 and rcount > 1
        if not success:
            continue
        if sur_agree == 0:  # denominator: every row the primary sends somewhere
            total_wt = tleft + tright
            majority = tleft if tleft > tright else tright
        agreement[f] = agree / total_wt
        maj = majority / total_wt
        adj[f] = (agreement[f] - maj) / (1.0 - maj)
    return 0


@_njit
def _pick_primary(improve, active, iscale):
    """The first predictor with the largest improvement, among those rpart keeps: above 1e-10 of the
    largest improvement seen so far in the whole tree (``iscale[0]``, updated), which screens rounding."""
    best = -1
    for f in range(improve.shape[0]):
        if not active[f]:
            continue
        imp = improve[f]
        if imp > iscale[0]:
            iscale[0] = imp
        if imp > iscale[0] * 1e-10 and (best < 0 or imp > improve[best]):
            best = f
    return best


@_njit
def _rank_surrogates(agreement, adj, active, pvar, maxsur):
    """insert_split for surrogates: keep at most ``maxsur`` with adjusted agreement > 0, by agreement,
    an earlier predictor first on ties."""
    out = np.empty(maxsur, dtype=np.int64)
    k = 0
    for f in range(agreement.shape[0]):
        if f == pvar or not active[f] or not adj[f] > 1e-10:
            continue
        pos = k
        while pos > 0 and agreement[f] > agreement[out[pos - 1]]:
            pos -= 1
        if pos >= maxsur:
            continue
        last = min(k, maxsur - 1)
        for q in range(last, pos, -1):
            out[q] = out[q - 1]
        out[pos] = f
        if k < maxsur:
            k += 1
    return out[:k]


@_njit
def _route_primary(Xt, rows, m, feat, cut, dirn, cmap, is_cat, side):
    """Side of every node row by the primary split (0 when missing or an absent level)."""
    x = Xt[feat]
    nl = 0
    nr = 0
    for i in range(m):
        r = rows[i]
        v = x[r]
        if np.isnan(v):
            side[r] = 0
        elif is_cat:
            side[r] = cmap[int(v)]
        else:
            side[r] = dirn if v < cut else -dirn
        if side[r] == LEFT:
            nl += 1
        elif side[r] == RIGHT:
            nr += 1
    return nl, nr


@_njit
def _route_surrogates(Xt, ncat, rows, m, side, sfeat, scut, sdir, scmap, scount, usesurrogate, lastsur):
    """nodesplit: rows the primary could not place go down their first usable surrogate, then (2) the
    majority side. Returns the numbers sent left and right by this step."""
    nl = 0
    nr = 0
    ns = sfeat.shape[0]
    for i in range(m):
        r = rows[i]
        if side[r] != 0:
            continue
        if usesurrogate > 0:
            for s in range(ns):
                f = sfeat[s]
                v = Xt[f, r]
                if np.isnan(v):
                    continue
                if ncat[f] > 0:
                    d = scmap[s, int(v)]
                    if d == 0:
                        continue
                else:
                    d = sdir[s] if v < scut[s] else -sdir[s]
                scount[s] += 1
                side[r] = d
                break
        if side[r] == 0 and usesurrogate == 2 and lastsur != 0:
            side[r] = lastsur
        if side[r] == LEFT:
            nl += 1
        elif side[r] == RIGHT:
            nr += 1
    return nl, nr


@_njit
def _split_sorts(Xt, S, m, side, nleft, nright):
    """Split the node's per-predictor sorted row lists into its children's, keeping the order."""
    p = S.shape[0]
    SL = np.empty((p, nleft), dtype=np.int64)
    SR = np.empty((p, nright), dtype=np.int64)
    nnl = np.zeros(p, dtype=np.int64)
    nnr = np.zeros(p, dtype=np.int64)
    for f in range(p):
        a = 0
        b = 0
        for i in range(m):
            r = S[f, i]
            sd = side[r]
            if sd == LEFT:
                SL[f, a] = r
                a += 1
                if not np.isnan(Xt[f, r]):
                    nnl[f] += 1
            elif sd == RIGHT:
                SR[f, b] = r
                b += 1
                if not np.isnan(Xt[f, r]):
                    nnr[f] += 1
    return SL, SR, nnl, nnr


@_njit
def _restrict_sorts(Xt, S_all, member, m):
    """Rows of the presorted lists that belong to the training set, in order, with observed counts."""
    p, n = S_all.shape
    S = np.empty((p, m), dtype=np.int64)
    nnm = np.zeros(p, dtype=np.int64)
    for f in range(p):
        a = 0
        for i in range(n):
            r = S_all[f, i]
            if member[r]:
                S[f, a] = r
                a += 1
                if not np.isnan(Xt[f, r]):
                    nnm[f] += 1
    return S, nnm


@_njit
def _predict_nodes(Xt, ncat, left, right, feature, threshold, direction, cmap, sur_ptr, sur_feature,
                   sur_threshold, sur_direction, sur_cmap, n_node, usesurrogate):
    """pred_rpart: the node (index) each row ends in."""
    n = Xt.shape[1]
    out = np.empty(n, dtype=np.int64)
    for r in range(n):
        node = 0
        while left[node] >= 0:
            f = feature[node]
            v = Xt[f, r]
            d = 0
            if not np.isnan(v):
                if ncat[f] > 0:
                    c = int(v)
                    d = cmap[node, c] if c < cmap.shape[1] else 0
                else:
                    d = direction[node] if v < threshold[node] else -direction[node]
            if d == 0 and usesurrogate > 0:
                for s in range(sur_ptr[node], sur_ptr[node + 1]):
                    g = sur_feature[s]
                    v = Xt[g, r]
                    if np.isnan(v):
                        continue
                    if ncat[g] > 0:
                        c = int(v)
                        d = sur_cmap[s, c] if c < sur_cmap.shape[1] else 0
                    else:
                        d = sur_direction[s] if v < sur_threshold[s] else -sur_direction[s]
                    if d != 0:
                        break
            if d == 0 and usesurrogate > 1:
                nl = n_node[left[node]]
                nr = n_node[right[node]]
                if nl > nr:
                    d = LEFT
                elif nr > nl:
                    d = RIGHT
            if d == LEFT:
                node = left[node]
            elif d == RIGHT:
                node = right[node]
            else:
                break  # stays here: predicted by this internal node
        out[r] = node
    return out


# --------------------------------------------------------------------------------------------------
# tree growing (rpart's partition()) and the fitted tree
# --------------------------------------------------------------------------------------------------


class _Node:
    __slots__ = ("id", "n", "value", "counts", "risk", "complexity", "feature", "threshold", "direction",
                 "cmap", "improve", "count", "surrogates", "majority", "left", "right", "rows")

    def __init__(self, node_id):
        self.id = node_id
        self.left = self.right = None
        self.feature = -1
        self.surrogates = []
        self.complexity = 0.0


class _Grower:
    def __init__(self, Xt, y, ncat, n_classes, active, *, min_split, min_bucket, cp, max_depth,
                 max_surrogates, use_surrogates, surrogate_style):
        self.Xt = Xt
        self.y = y
        self.ncat = ncat
        self.n_classes = n_classes
        self.active = active
        self.min_split = min_split
        self.edge = min_bucket
        self.cp = cp
        self.maxnode = 2 ** max_depth - 1
        self.maxsur = max_surrogates
        self.usesur = use_surrogates
        self.sur_agree = surrogate_style
        self.iscale = np.zeros(1)  # largest improvement seen so far (rpart's rp.iscale)
        p, n = Xt.shape
        self.maxcat = max(int(ncat.max()) if p else 0, 1)
        self.side = np.zeros(n, dtype=np.int8)
        self.where = np.zeros(n, dtype=np.int64)
        self._counts = np.zeros(max(n_classes, 1))
        self._imp = np.zeros(p)
        self._spl = np.zeros(p)
        self._dir = np.zeros(p, dtype=np.int64)
        self._cs = np.zeros((p, self.maxcat), dtype=np.int64)
        self._sadj = np.zeros(p)
        self._sagr = np.zeros(p)

    def _eval(self, node, rows):
        value, risk = _node_eval(self.y, rows, rows.shape[0], self.n_classes, self._counts)
        node.value = value
        node.risk = risk
        node.n = rows.shape[0]
        node.counts = self._counts[: self.n_classes].copy() if self.n_classes else None

    def grow(self, S, nnm, rows):
        root = _Node(1)
        self._eval(root, rows)
        root.complexity = root.risk
        self.alpha = self.cp * root.risk
        self.where[rows] = 1
        self._partition(root, S, nnm, rows)
        self._cap_complexity(root, root.complexity)
        return root

    def _cap_complexity(self, me, parent):
        # make_cp_list: a node goes no later than its parent when the tree is pruned, so its reported
        # complexity is at most its parent's.
        if me.complexity > parent:
            me.complexity = parent
        me_cp = max(me.complexity, self.alpha)
        if me.left is not None:
            self._cap_complexity(me.left, me_cp)
            self._cap_complexity(me.right, me_cp)

    def _leaf(self, me):
        me.complexity = self.alpha
        me.left = me.right = None
        me.feature = -1
        me.surrogates = []
        return 0, me.risk

    def _partition(self, me, S, nnm, rows):
        """rpart's partition(): returns (number of splits kept below, risk of the kept leaves)."""
        nodenum = me.id
        m = rows.shape[0]
        if nodenum > 1:
            self._eval(me, rows)
            tempcp = min(me.risk, me.complexity)
        else:
            tempcp = me.risk
        if me.n < self.min_split or tempcp <= self.alpha or nodenum > self.maxnode:
            return self._leaf(me)

        Xt = self.Xt
        _best_splits(Xt, self.y, self.ncat, S, nnm, m, self.active, me.risk, self.edge, self.n_classes,
                     self._imp, self._spl, self._dir, self._cs)
        best = _pick_primary(self._imp, self.active, self.iscale)
        if best < 0:
            return self._leaf(me)
        f = int(best)
        me.feature = f
        me.improve = float(self._imp[f])
        me.count = int(nnm[f])
        is_cat = self.ncat[f] > 0
        if is_cat:
            me.cmap = self._cs[f, : self.ncat[f]].astype(np.int8).copy()
            me.threshold = np.nan
            me.direction = 0
        else:
            me.cmap = np.zeros(0, dtype=np.int8)
            me.threshold = float(self._spl[f])
            me.direction = int(self._dir[f])

        side = self.side
        cmap = me.cmap.astype(np.int64) if is_cat else np.zeros(1, dtype=np.int64)
        nl, nr = _route_primary(Xt, rows, m, f, me.threshold, me.direction, cmap, is_cat, side)
        me.majority = RIGHT if nl < nr else (LEFT if nl > nr else 0)

        me.surrogates = []
        if self.maxsur > 0:
            # Computed even when no row misses the primary: they are used for new rows at predict time.
            self._find_surrogates(me, S, nnm, rows, float(nl), float(nr))
        me.surrogates = [s + (0,) for s in me.surrogates]
        if nl + nr < m:
            ns = len(me.surrogates)
            sfeat = np.array([s[0] for s in me.surrogates], dtype=np.int64)
            scut = np.array([s[1] for s in me.surrogates], dtype=np.float64)
            sdir = np.array([s[2] for s in me.surrogates], dtype=np.int64)
            scmap = np.zeros((ns, self.maxcat), dtype=np.int64)
            for i, s in enumerate(me.surrogates):
                if s[3] is not None:
                    scmap[i, : s[3].shape[0]] = s[3]
            scount = np.zeros(ns, dtype=np.int64)
            al, ar = _route_surrogates(Xt, self.ncat, rows, m, side, sfeat, scut, sdir, scmap, scount,
                                       self.usesur, me.majority)
            nl += al
            nr += ar
            me.surrogates = [(s[0], s[1], s[2], s[3], s[4], s[5], int(scount[i]))
                             for i, s in enumerate(me.surrogates)]

        SL, SR, nnl, nnr = _split_sorts(Xt, S, m, side, nl, nr)
        # Every row list of S holds the same rows; take the children's from the first one.
        rows_l = SL[0] if SL.shape[0] else SL.reshape(-1)
        rows_r = SR[0] if SR.shape[0] else SR.reshape(-1)
        rows_l = np.sort(rows_l)
        rows_r = np.sort(rows_r)
        self.where[rows_l] = 2 * nodenum
        self.where[rows_r] = 2 * nodenum + 1
        side[rows] = 0

        me.left = _Node(2 * nodenum)
        me.left.complexity = tempcp - self.alpha
        left_split, left_risk = self._partition(me.left, SL, nnl, rows_l)
        tempcp = (me.risk - left_risk) / (left_split + 1)
        tempcp2 = me.risk - me.left.risk
        if tempcp < tempcp2:
            tempcp = tempcp2
        if tempcp > me.complexity:
            tempcp = me.complexity
        me.right = _Node(2 * nodenum + 1)
        me.right.complexity = tempcp - self.alpha
        right_split, right_risk = self._partition(me.right, SR, nnr, rows_r)

        # My own complexity, allowing children that collapse before I do (as rpart computes it).
        tempcp = (me.risk - (left_risk + right_risk)) / (left_split + right_split + 1)
        if me.right.complexity > me.left.complexity:
            if tempcp > me.left.complexity:
                left_risk = me.left.risk
                left_split = 0
                tempcp = (me.risk - (left_risk + right_risk)) / (left_split + right_split + 1)
                if tempcp > me.right.complexity:
                    right_risk = me.right.risk
                    right_split = 0
        elif tempcp > me.right.complexity:
            right_split = 0
            right_risk = me.right.risk
            tempcp = (me.risk - (left_risk + right_risk)) / (left_split + right_split + 1)
            if tempcp > me.left.complexity:
                left_risk = me.left.risk
                left_split = 0
        me.complexity = (me.risk - (left_risk + right_risk)) / (left_split + right_split + 1)
        if me.complexity <= self.alpha:
            # All was in vain: the subtree does not pay for itself.
            me.left = me.right = None
            me.feature = -1
            me.surrogates = []
            self.where[rows] = nodenum
            return 0, me.risk
        return left_split + right_split + 1, left_risk + right_risk

    def _find_surrogates(self, me, S, nnm, rows, tleft, tright):
        _surrogate_scores(self.Xt, self.ncat, S, nnm, self.active, me.feature, self.side, tleft, tright,
                          self.sur_agree, self._sagr, self._sadj, self._spl, self._dir, self._cs)
        out = []
        for f in _rank_surrogates(self._sagr, self._sadj, self.active, me.feature, self.maxsur):
            f = int(f)
            if self.ncat[f] > 0:
                out.append((f, np.nan, 0, self._cs[f, : self.ncat[f]].astype(np.int8).copy(),
                            float(self._sagr[f]), float(self._sadj[f])))
            else:
                out.append((f, float(self._spl[f]), int(self._dir[f]), None, float(self._sagr[f]),
                            float(self._sadj[f])))
        me.surrogates = out


class Tree:
    """A fitted surrogate-split tree in flat arrays (preorder, as rpart's ``frame``).

    Attributes
    ----------
    node_id : ndarray of int
        rpart's node numbers (root 1, children ``2k`` and ``2k + 1``).
    children_left, children_right : ndarray of int
        Index of each node's children, -1 for leaves.
    feature : ndarray of int
        Primary split predictor, -1 for leaves.
    threshold, direction : ndarray
        Continuous primary split: rows with ``x < threshold`` go to ``direction`` (-1 left, +1 right).
    cmap : ndarray of shape (n_nodes, max_categories)
        Categorical primary split: side of each level (-1 left, +1 right, 0 level absent from the node).
    n_node_samples, value, risk, complexity, improve, count
        Rows in the node; its mean (regression) or class (classification); its risk (sum of squares or
        misclassified count); rpart's complexity (not scaled); the primary split's improvement and number
        of rows observed on it.
    class_counts : ndarray of shape (n_nodes, n_classes) or None
    surrogates : list of list of dict
        Per node, the surrogate splits in the order they are tried, with ``feature``, ``threshold``,
        ``direction``, ``cmap``, ``agreement``, ``adj`` and ``count`` (training rows they placed).
    """

    def __init__(self, root, ncat, n_classes, use_surrogates, where):
        nodes = []

        def walk(nd):
            nodes.append(nd)
            if nd.left is not None:
                walk(nd.left)
                walk(nd.right)

        walk(root)
        index = {id(nd): i for i, nd in enumerate(nodes)}
        k = len(nodes)
        maxcat = max(int(ncat.max()) if ncat.size else 0, 1)
        self.ncat = ncat
        self.n_classes = n_classes
        self.use_surrogates = use_surrogates
        self.node_count = k
        self.node_id = np.array([nd.id for nd in nodes], dtype=np.int64)
        self.children_left = np.array([index[id(nd.left)] if nd.left is not None else -1 for nd in nodes],
                                      dtype=np.int64)
        self.children_right = np.array([index[id(nd.right)] if nd.right is not None else -1 for nd in nodes],
                                       dtype=np.int64)
        leaf = self.children_left < 0
        self.feature = np.array([nd.feature if not lf else -1 for nd, lf in zip(nodes, leaf)], dtype=np.int64)
        self.threshold = np.array([nd.threshold if not lf else np.nan for nd, lf in zip(nodes, leaf)])
        self.direction = np.array([nd.direction if not lf else 0 for nd, lf in zip(nodes, leaf)], dtype=np.int64)
        self.cmap = np.zeros((k, maxcat), dtype=np.int64)
        for i, nd in enumerate(nodes):
            if not leaf[i] and nd.cmap.size:
                self.cmap[i, : nd.cmap.size] = nd.cmap
        self.improve = np.array([nd.improve if not lf else np.nan for nd, lf in zip(nodes, leaf)])
        self.count = np.array([nd.count if not lf else 0 for nd, lf in zip(nodes, leaf)], dtype=np.int64)
        self.n_node_samples = np.array([nd.n for nd in nodes], dtype=np.int64)
        self.value = np.array([nd.value for nd in nodes], dtype=np.float64)
        self.risk = np.array([nd.risk for nd in nodes], dtype=np.float64)
        self.complexity = np.array([nd.complexity for nd in nodes], dtype=np.float64)
        self.class_counts = np.array([nd.counts for nd in nodes]) if n_classes else None
        self.surrogates = [
            [dict(feature=s[0], threshold=s[1], direction=s[2], cmap=s[3], agreement=s[4], adj=s[5], count=s[6])
             for s in (nd.surrogates if not leaf[i] else [])]
            for i, nd in enumerate(nodes)
        ]
        counts = [len(s) for s in self.surrogates]
        self.sur_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        flat = [s for ss in self.surrogates for s in ss]
        self.sur_feature = np.array([s["feature"] for s in flat], dtype=np.int64)
        self.sur_threshold = np.array([s["threshold"] for s in flat], dtype=np.float64)
        self.sur_direction = np.array([s["direction"] for s in flat], dtype=np.int64)
        self.sur_cmap = np.zeros((len(flat), maxcat), dtype=np.int64)
        for i, s in enumerate(flat):
            if s["cmap"] is not None:
                self.sur_cmap[i, : s["cmap"].size] = s["cmap"]
        # Node index of every training row (rpart's ``where``).
        pos = {int(v): i for i, v in enumerate(self.node_id)}
        self.train_where = np.array([pos.get(int(w), -1) for w in where], dtype=np.int64)

    @property
    def max_depth(self):
        return int(np.floor(np.log2(self.node_id.max()))) if self.node_count else 0

    def apply(self, Xt):
        """Index of the node every column of the feature-major matrix ``Xt`` ends in."""
        # A tree loaded from a memory map has read-only arrays; small copies beat another compilation.
        arrays = [np.require(a, requirements=["C", "W"]) for a in (
            self.ncat, self.children_left, self.children_right, self.feature, self.threshold, self.direction,
            self.cmap, self.sur_ptr, self.sur_feature, self.sur_threshold, self.sur_direction, self.sur_cmap,
            self.n_node_samples)]
        return _predict_nodes(np.require(Xt, np.float64, ["C", "W"]), *arrays, self.use_surrogates)


def presort(Xt):
    """Per-predictor row order (ascending, missing last) of a feature-major matrix, for :func:`grow_tree`."""
    return np.argsort(Xt, axis=1, kind="stable").astype(np.int64)


def grow_tree(Xt, y, ncat, *, n_classes=0, rows=None, active=None, presorted=None, min_split=20,
              min_bucket=7, cp=0.01, max_depth=MAX_DEPTH, max_surrogates=5, use_surrogates=2,
              surrogate_style=0):
    """Grow an rpart tree.

    Parameters
    ----------
    Xt : ndarray of shape (n_features, n_rows), float64
        Predictors, feature-major, NaN for missing; categorical predictors hold codes ``0..k-1``.
    y : ndarray of shape (n_rows,)
        Response (class codes ``0..n_classes-1`` as floats for classification); only ``rows`` are read.
    ncat : ndarray of shape (n_features,), int
        Number of levels of each categorical predictor, 0 for continuous (and ordered) ones.
    n_classes : int
        0 for an anova (regression) tree, else the number of classes (gini).
    rows : ndarray of int, optional
        Training rows (default: all). Rows with every active predictor missing are dropped, as
        ``na.rpart`` does.
    active : ndarray of bool, optional
        Predictors the tree may use (default: all).
    presorted : ndarray, optional
        :func:`presort` of ``Xt``; saves the sort when many trees share the predictors.
    min_split, min_bucket, cp, max_depth, max_surrogates, use_surrogates, surrogate_style
        rpart.control's ``minsplit``, ``minbucket``, ``cp``, ``maxdepth``, ``maxsurrogate``,
        ``usesurrogate`` and ``surrogatestyle``.

    Returns
    -------
    Tree
    """
    # Writable C arrays only: numba compiles a separate kernel for read-only inputs.
    Xt = np.require(Xt, np.float64, ["C", "W"])
    y = np.require(y, np.float64, ["C", "W"])
    ncat = np.require(ncat, np.int64, ["C", "W"])
    p, n = Xt.shape
    active = np.ones(p, dtype=bool) if active is None else np.ascontiguousarray(active, dtype=bool)
    member = np.zeros(n, dtype=bool)
    if rows is None:
        member[:] = True
    else:
        member[np.asarray(rows, dtype=np.int64)] = True
    if p:
        # na.rpart: a row with no observed predictor cannot be placed anywhere.
        seen = ~np.isnan(Xt[active]).all(axis=0) if active.any() else np.zeros(n, dtype=bool)
        member &= seen
    rows = np.flatnonzero(member).astype(np.int64)
    if rows.size == 0:
        raise ValueError("no training rows with an observed response and at least one observed predictor")
    if presorted is None:
        presorted = presort(Xt) if p else np.zeros((0, n), dtype=np.int64)
    S, nnm = _restrict_sorts(Xt, presorted, member, rows.size)
    grower = _Grower(Xt, y, ncat, int(n_classes), active, min_split=int(min_split), min_bucket=int(min_bucket),
                     cp=float(cp), max_depth=int(min(max_depth, MAX_DEPTH)), max_surrogates=int(max_surrogates),
                     use_surrogates=int(use_surrogates), surrogate_style=int(surrogate_style))
    root = grower.grow(S, nnm, rows)
    tree = Tree(root, ncat, int(n_classes), int(use_surrogates), grower.where[rows])
    tree.train_rows = rows
    return tree
