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
0..k-1. A whole tree grows in one compiled call (:func:`_grow_nodes`: rpart's recursion on an explicit
stack, every node's rows a slice of per-predictor sorted row lists that are split in place). The loops are
numba-compiled when numba is importable and plain Python otherwise (same results, much slower).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

try:  # numba is optional: without it the same loops run as plain Python.
    from numba import njit as _numba_njit

    def _njit(fn=None, **options):
        """numba's njit, cached on disk and without the GIL; ``options`` add to those."""
        if fn is None:
            return lambda f: _numba_njit(cache=True, nogil=True, **options)(f)
        return _numba_njit(cache=True, nogil=True)(fn)

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is absent
    HAVE_NUMBA = False

    def _njit(fn=None, **options):
        return fn if fn is not None else (lambda f: f)

# Kernels that only other kernels call: no Python-callable wrappers to compile.
_inner = _njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)


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


@_inner
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


@_inner
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


@_inner
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


@_inner
def _cut_bounds(ls, inv, k, first, n_cuts, bound):
    """Every cut's score ``ls**2 * (1/n_left + 1/n_right)`` by multiplications only, within 4 ulps of the
    score :func:`_best_splits` divides out (``inv[j] = 1/j``). Returns the largest."""
    for i in range(first, n_cuts):
        bound[i] = ls[i] * ls[i] * (inv[i + 1] + inv[np.uint64(k - i - 1)])
    m0 = 0.0
    m1 = 0.0
    m2 = 0.0
    m3 = 0.0
    i = first
    while i + 4 <= n_cuts:  # four running maxima, not one chain of dependent comparisons
        m0 = bound[i] if bound[i] > m0 else m0
        m1 = bound[i + 1] if bound[i + 1] > m1 else m1
        m2 = bound[i + 2] if bound[i + 2] > m2 else m2
        m3 = bound[i + 3] if bound[i + 3] > m3 else m3
        i += 4
    while i < n_cuts:
        m0 = bound[i] if bound[i] > m0 else m0
        i += 1
    return max(max(m0, m1), max(m2, m3))


@_inner
def _anova_levels(x, y, rows, k, nc, edge, grandmean, right_wt, countn, wts, sums, val, order, tsplit, csplit_f):
    """Best split of a categorical predictor for anova (levels ordered by their mean); writes the side of
    each level to ``csplit_f`` and returns the between-group sum of squares."""
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
                    csplit_f[cc] = -tsplit[cc] if flip else tsplit[cc]
    return best


@_inner
def _gini_cut(x, y, rows, k, edge, n_classes, left, lwt, right, rwt, best):
    """Best cut of a continuous predictor for gini, starting from every row on the right (``right``,
    ``rwt``) and the node's impurity ``best``: returns (impurity, position of the last row sent left,
    direction)."""
    where = 0
    dirn = LEFT
    rtot = k
    ltot = 0
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
    return best, where, dirn


@_inner
def _next_level(ordered, order, t, gray, nc):
    """The next level to change sides: the ordered scan, or the classic Gray code sequence (-1: done)."""
    if ordered:
        return order[t] if t < nc else -1
    c = 0
    while c < nc:
        if gray[c] == 1:
            gray[c] = 2
            return c
        elif gray[c] == 2:
            gray[c] = 1
        c += 1
    return -1


@_inner
def _gini_levels(x, y, rows, k, nc, edge, n_classes, left, lwt, right, rwt, best, ccnt, countn, wts, val, order,
                 tsplit, gray, csplit_f):
    """Best split of a categorical predictor for gini (every subset of the levels, or the levels ordered by
    their share of the first class); writes the side of each level to ``csplit_f`` and returns the impurity."""
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
        t = _order_levels(nc, countn, val, order)
    else:
        for c in range(nc):
            gray[c] = 1 if countn[c] != 0 else 0
    rtot = k
    ltot = 0
    while True:
        c = _next_level(ordered, order, t, gray, nc)
        if c < 0:
            break
        t += 1
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
                    csplit_f[cc] = tsplit[cc] if lmean < rmean else -tsplit[cc]
    return best


@_inner
def _best_splits(Xt, y, ncat, S, a, nnm, active, node_risk, edge, n_classes, improve, split, direction, csplit,
                 cut_scratch, level_f, level_i, class_scratch, ccnt):
    """bsplit + the anova/gini split functions, for every active predictor of one node.

    Writes each predictor's best improvement (0 when it cannot split), cut point and direction (the
    side ``x < cut`` goes to) or, for a categorical predictor, the side of each level (0 = absent). The
    node's rows sorted on predictor ``f`` are ``S[f, a:]`` (observed ones first, ``nnm[f]`` of them). The
    rest is scratch: (4, rows + 1) (the last row ``1/j``), (3, levels), (4, levels), (2, classes) and (classes, levels).
    """
    left, right = class_scratch[0], class_scratch[1]
    wts, sums, val = level_f[0], level_f[1], level_f[2]
    countn, order, tsplit, gray = level_i[0], level_i[1], level_i[2], level_i[3]
    ls, rs, q, inv = cut_scratch[0], cut_scratch[1], cut_scratch[2], cut_scratch[3]
    for f in range(Xt.shape[0]):
        improve[f] = 0.0
        if not active[f]:
            continue
        k = nnm[f]
        rows = S[f, a:]
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
                # rpart's loop over the cuts, in passes: the running sums (sequential, in the same order)...
                n_cuts = k - edge  # the loop runs while more than ``edge`` rows are on the right
                first = max(edge - 1, 0)  # ... and scores the cuts with at least ``edge`` rows on the left
                left_sum = 0.0
                right_sum = 0.0  # deviations from the grand mean sum to zero
                for i in range(n_cuts):
                    temp = y[rows[i]] - grandmean
                    left_sum += temp
                    right_sum -= temp
                    ls[i] = left_sum
                    rs[i] = right_sum
                # ... then the first cut (between two different values) with the largest score. Dividing
                # out every score is most of the work, so each cut first gets a bound by multiplications,
                # within a few ulps of its score (rs == -ls exactly). Once some valid cut's bound is within
                # 1e-13 of the largest bound, every cut with the best score has one within 1e-12: only those
                # are divided out. Otherwise, or outside the range with neither underflow nor overflow (where
                # the few-ulps argument holds), every valid cut is.
                top = _cut_bounds(ls, inv, k, first, n_cuts, q)
                shortlist = 1e-290 < top < 1e290
                floor = top * (1.0 - 1e-12) if shortlist else -np.inf
                best = 0.0
                where = 0
                for _ in range(2):
                    certain = not shortlist
                    for i in range(first, n_cuts):
                        if q[i] >= floor and x[rows[i + 1]] != x[rows[i]]:
                            certain = certain or q[i] >= top * (1.0 - 1e-13)
                            temp = ls[i] * ls[i] / (i + 1.0) + rs[i] * rs[i] / (k - i - 1.0)
                            if temp > best:
                                best = temp
                                where = i
                    if certain:
                        break
                    best = 0.0  # the shortlist is not certain to hold the best cut: score them all
                    where = 0
                    shortlist = False
                    floor = -np.inf
                dirn = LEFT if ls[where] < rs[where] else RIGHT
                improve[f] = best / node_risk
                if best > 0:
                    direction[f] = dirn
                    split[f] = (x[rows[where]] + x[rows[where + 1]]) / 2.0
            else:
                best = _anova_levels(x, y, rows, k, nc, edge, grandmean, right_wt, countn, wts, sums, val, order,
                                     tsplit, csplit[f])
                improve[f] = best / node_risk
        else:
            # ---------------- gini ----------------
            for j in range(n_classes):
                left[j] = 0.0
                right[j] = 0.0
            rwt = 0.0
            for i in range(k):
                j = int(y[rows[i]])
                rwt += 1.0
                right[j] += 1.0
            total_ss = 0.0
            for j in range(n_classes):
                pj = right[j] / rwt
                total_ss += rwt * pj * (1.0 - pj)
            if nc == 0:
                best, where, dirn = _gini_cut(x, y, rows, k, edge, n_classes, left, 0.0, right, rwt, total_ss)
                improve[f] = total_ss - best
                if improve[f] > 0:
                    direction[f] = dirn
                    split[f] = (x[rows[where]] + x[rows[where + 1]]) / 2.0
            else:
                best = _gini_levels(x, y, rows, k, nc, edge, n_classes, left, 0.0, right, rwt, total_ss, ccnt, countn,
                                    wts, val, order, tsplit, gray, csplit[f])
                improve[f] = total_ss - best
    return 0


@_inner
def _surrogate_levels(x, rows, k, nc, tempy, left, right, lwt, rwt, csplit_f):
    """choose_surg for a categorical predictor: each level goes the way most of its rows go. Returns
    (success, agree, majority, total)."""
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
            csplit_f[c] = 0
        elif lwt[c] < rwt[c] or (lwt[c] == rwt[c] and defdir == RIGHT):
            agree += rwt[c]
            csplit_f[c] = RIGHT
            lcount += left[c]
            rcount += right[c]
        else:
            agree += lwt[c]
            csplit_f[c] = LEFT
            lcount += right[c]
            rcount += left[c]
    # rpart's own test (it counts discordant and concordant rows, not rows sent each way).
    return lcount > 1 and rcount > 1, agree, majority, total_wt


@_inner
def _surrogate_scores(Xt, ncat, S, a, m, nnm, active, pvar, tempy, nl, nr, sur_agree,
                      agreement, adj, split, direction, csplit, level_f, level_i):
    """choose_surg for every active predictor but the primary one.

    ``tempy[row]`` is where the primary sends the row (LEFT/RIGHT, 0 when the primary is missing); it sends
    ``nl`` of the node's ``m`` rows left and ``nr`` right. ``level_f``, ``level_i``: scratch of shape
    (2+, levels).
    """
    left, right, lwt, rwt = level_i[0], level_i[1], level_f[0], level_f[1]
    for f in range(Xt.shape[0]):
        agreement[f] = 0.0
        adj[f] = 0.0
        if f == pvar or not active[f]:
            continue
        rows = S[f, a:]
        k = nnm[f]
        if ncat[f] == 0:
            x = Xt[f]
            # Start with everyone sent left: the rows of each side less those missing x.
            ll = nl
            rl = nr
            for i in range(k, m):
                t = tempy[rows[i]]
                ll -= t == LEFT
                rl -= t == RIGHT
            lastx = x[rows[0]] if k > 0 else 0.0
            agree_n = ll if ll > rl else rl
            majority = float(agree_n)
            total_wt = float(ll + rl)
            lr = 0
            rr = 0
            success = False
            d = LEFT
            cut = lastx
            i = 0
            # March up the sorted values; at least two rows must go each way. The counts move without
            # branches: the primary's side of a row is unpredictable.
            while ll + rl >= 2 and i < k:
                r = rows[i]
                xr = x[r]
                if lr + rr >= 2 and xr != lastx:
                    if ll + rr > agree_n:
                        success = True
                        agree_n = ll + rr
                        d = RIGHT
                        cut = (xr + lastx) / 2.0
                    elif lr + rl > agree_n:
                        success = True
                        agree_n = lr + rl
                        d = LEFT
                        cut = (xr + lastx) / 2.0
                t = tempy[r]
                tl = t == LEFT
                tr = t == RIGHT
                ll -= tl
                lr += tl
                rl -= tr
                rr += tr
                lastx = xr
                i += 1
            split[f] = cut
            direction[f] = d
            agree = float(agree_n)
        else:
            success, agree, majority, total_wt = _surrogate_levels(Xt[f], rows, k, ncat[f], tempy, left, right, lwt,
                                                                   rwt, csplit[f])
        if not success:
            continue
        if sur_agree == 0:  # denominator: every row the primary sends somewhere
            total_wt = float(nl) + float(nr)
            majority = float(nl) if nl > nr else float(nr)
        agreement[f] = agree / total_wt
        maj = majority / total_wt
        adj[f] = (agreement[f] - maj) / (1.0 - maj)
    return 0


@_inner
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


@_inner
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


@_inner
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


@_inner
def _route_surrogates(Xt, ncat, rows, m, side, SI, SF, SC, lo, hi, usesurrogate, lastsur):
    """nodesplit: rows the primary could not place go down their first usable surrogate (rows ``lo:hi`` of
    the surrogate tables, see :func:`_grow_nodes`), then (2) the majority side. Returns the numbers sent
    left and right by this step and counts the rows each surrogate placed."""
    nl = 0
    nr = 0
    for i in range(m):
        r = rows[i]
        if side[r] != 0:
            continue
        if usesurrogate > 0:
            for s in range(lo, hi):
                f = SI[s, 0]
                v = Xt[f, r]
                if np.isnan(v):
                    continue
                if ncat[f] > 0:
                    d = SC[s, int(v)]
                    if d == 0:
                        continue
                else:
                    d = SI[s, 1] if v < SF[s, 0] else -SI[s, 1]
                SI[s, 2] += 1
                side[r] = d
                break
        if side[r] == 0 and usesurrogate == 2 and lastsur != 0:
            side[r] = lastsur
        if side[r] == LEFT:
            nl += 1
        elif side[r] == RIGHT:
            nr += 1
    return nl, nr


@_inner
def _split_sorts(S, R, a, m, nnm, active, side, where, lnode, rnode, nnl, nnr, buf, nleft, grow_left, grow_right):
    """Send a node's rows to its children, in place and keeping every order.

    ``S[f, a:a + m]`` (rows sorted on predictor ``f``, observed first) becomes the left child's ``nleft``
    rows then the right child's; rows the node keeps (side 0) drop out. Only the lists of a child that may
    split are written (``grow_left``, ``grow_right``): a leaf never reads them. ``R[a:a + m]`` (the node's
    rows, ascending) becomes left rows, right rows, then the kept rows: the node still holds all of them for
    ``where`` if its split is undone. Writes the children's observed counts and ``where``, and clears
    ``side``.
    """
    p = S.shape[0]
    M = buf.shape[0]
    for f in range(p):
        if not active[f] or not (grow_left or grow_right):
            continue
        k = nnm[f]
        w = a
        b = 0
        # Branch-free stable partition: every row is written both ways, only its own side advances.
        for i in range(k):
            r = S[f, a + i]
            sd = side[r]
            S[f, w] = r
            buf[b] = r
            w += sd == LEFT
            b += sd == RIGHT
        nnl[f] = w - a
        nnr[f] = b
        if grow_right:
            for i in range(k, m):
                r = S[f, a + i]
                sd = side[r]
                S[f, w] = r
                buf[b] = r
                w += sd == LEFT
                b += sd == RIGHT
            for i in range(b):
                S[f, a + nleft + i] = buf[i]
        else:
            for i in range(k, m):
                r = S[f, a + i]
                S[f, w] = r
                w += side[r] == LEFT
    w = a
    b = 0
    kept = 0
    for i in range(m):
        r = R[a + i]
        sd = side[r]
        side[r] = 0
        if sd == LEFT:
            R[w] = r
            w += 1
            where[r] = lnode
        elif sd == RIGHT:
            buf[b] = r
            b += 1
            where[r] = rnode
        else:
            kept += 1
            buf[M - kept] = r
    for i in range(b):
        R[w + i] = buf[i]
    for i in range(kept):
        R[w + b + i] = buf[M - 1 - i]
    return 0


@_njit
def _restrict_sorts(Xt, S_all, active, member):
    """The training rows and their sorted lists.

    ``member`` (the candidate rows) loses the rows with no observed active predictor, as in ``na.rpart``.
    Returns the presorted lists ``S_all`` (missing values last) restricted to the training rows, in order;
    each predictor's number of observed training rows (the first ones of its list); the training rows.
    """
    p, n = S_all.shape
    if p > 0:
        for r in range(n):
            if member[r]:
                seen = False
                for f in range(p):  # usually the first predictor settles it
                    if active[f] and not np.isnan(Xt[f, r]):
                        seen = True
                        break
                member[r] = seen
    m = 0
    for r in range(n):
        m += member[r]
    rows = np.zeros(m, dtype=np.int64)
    m = 0
    for r in range(n):
        if member[r]:
            rows[m] = r
            m += 1
    # One spare column: every row is written, only members advance (no branch on membership).
    S = np.zeros((p, m + 1), dtype=np.int64)
    nnm = np.zeros(p, dtype=np.int64)
    for f in range(p):
        n_obs = n  # the missing values come last
        while n_obs > 0 and np.isnan(Xt[f, S_all[f, n_obs - 1]]):
            n_obs -= 1
        a = 0
        for i in range(n_obs):
            r = S_all[f, i]
            S[f, a] = r
            a += member[r]
        nnm[f] = a
        for i in range(n_obs, n):
            r = S_all[f, i]
            S[f, a] = r
            a += member[r]
    return S, nnm, rows


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

# Columns of the node tables grown by :func:`_grow_nodes` (one row per node, in the order nodes are made).
_NODE_ID, _NROWS, _START, _LEFT, _RIGHT, _FEATURE, _DIRECTION, _COUNT, _NSPLIT, _SUR_LO, _SUR_HI = range(11)
_VALUE, _RISK, _CP, _THRESHOLD, _IMPROVE, _KEPT_RISK = range(6)


@_inner
def _split_node(Xt, y, ncat, active, S, R, a, m, nnm, nnl, nnr, node, child, side, where, iscale, NI, NF, cmap, SI,
                SF, SC, ns, W, dirs, cs, buf, cut_scratch, level_f, level_i, class_scratch, ccnt, n_classes, edge,
                maxsur, usesur, sur_agree, min_split, maxnode):
    """The work of partition() on a node that may split: its primary split and surrogates, then its rows
    sent to the children ``child`` (left) and ``child + 1``. Returns the new number of stored surrogates,
    or -1 when no predictor splits the node."""
    imp = W[0]
    spl = W[1]
    sagr = W[2]
    sadj = W[3]
    _best_splits(Xt, y, ncat, S, a, nnm, active, NF[node, _RISK], edge, n_classes, imp, spl, dirs, cs, cut_scratch,
                 level_f, level_i, class_scratch, ccnt)
    f = _pick_primary(imp, active, iscale)
    if f < 0:
        return -1
    nc = ncat[f]
    NI[node, _FEATURE] = f
    NI[node, _COUNT] = nnm[f]
    NF[node, _IMPROVE] = imp[f]
    for c in range(cmap.shape[1]):
        cmap[node, c] = cs[f, c] if c < nc else 0
    NF[node, _THRESHOLD] = np.nan if nc > 0 else spl[f]
    NI[node, _DIRECTION] = 0 if nc > 0 else dirs[f]
    rows = R[a:a + m]
    nl, nr = _route_primary(Xt, rows, m, f, NF[node, _THRESHOLD], NI[node, _DIRECTION], cmap[node], nc > 0, side)
    majority = RIGHT if nl < nr else (LEFT if nl > nr else 0)
    NI[node, _SUR_LO] = ns
    if maxsur > 0:
        # Computed even when no row misses the primary: they are used for new rows at predict time.
        _surrogate_scores(Xt, ncat, S, a, m, nnm, active, f, side, nl, nr, sur_agree, sagr, sadj, spl, dirs, cs,
                          level_f, level_i)
        for g in _rank_surrogates(sagr, sadj, active, f, maxsur):
            nc = ncat[g]
            SI[ns, 0] = g
            SI[ns, 1] = 0 if nc > 0 else dirs[g]
            SI[ns, 2] = 0  # training rows it places, counted below
            SF[ns, 0] = np.nan if nc > 0 else spl[g]
            SF[ns, 1] = sagr[g]
            SF[ns, 2] = sadj[g]
            for c in range(SC.shape[1]):
                SC[ns, c] = cs[g, c] if c < nc else 0
            ns += 1
    NI[node, _SUR_HI] = ns
    if nl + nr < m:
        al, ar = _route_surrogates(Xt, ncat, rows, m, side, SI, SF, SC, NI[node, _SUR_LO], ns, usesur, majority)
        nl += al
        nr += ar
    # A child that will be a leaf whatever its rows (too few, or too deep) never reads its sorted lists.
    grow_left = nl >= min_split and 2 * NI[node, _NODE_ID] <= maxnode
    grow_right = nr >= min_split and 2 * NI[node, _NODE_ID] + 1 <= maxnode
    _split_sorts(S, R, a, m, nnm, active, side, where, child, child + 1, nnl, nnr, buf, nl, grow_left, grow_right)
    NI[child, _NROWS] = nl
    NI[child, _START] = a
    NI[child + 1, _NROWS] = nr
    NI[child + 1, _START] = a + nl
    return ns


@_inner
def _own_complexity(risk, left_risk, left_split, left_cp, left_own, right_risk, right_split, right_cp, right_own):
    """partition()'s complexity of a split node once both children are grown, allowing children that
    collapse before it does (as rpart computes it). ``*_own`` is a child's own risk, ``*_risk`` that of its
    kept leaves. Returns (complexity, splits kept below, risk of the kept leaves)."""
    tempcp = (risk - (left_risk + right_risk)) / (left_split + right_split + 1)
    if right_cp > left_cp:
        if tempcp > left_cp:
            left_risk = left_own
            left_split = 0
            tempcp = (risk - (left_risk + right_risk)) / (left_split + right_split + 1)
            if tempcp > right_cp:
                right_risk = right_own
                right_split = 0
    elif tempcp > right_cp:
        right_split = 0
        right_risk = right_own
        tempcp = (risk - (left_risk + right_risk)) / (left_split + right_split + 1)
        if tempcp > left_cp:
            left_risk = left_own
            left_split = 0
    cp = (risk - (left_risk + right_risk)) / (left_split + right_split + 1)
    return cp, left_split + right_split + 1, left_risk + right_risk


@_inner
def _finish(NI, NF, cmap, alpha, where, rows):
    """The final tree from the node tables of :func:`_grow_nodes`.

    Caps each complexity at its parent's (make_cp_list: a node goes no later than its parent when the tree
    is pruned), clears the split of every leaf, points children and the ``where`` of the training ``rows``
    at preorder positions. Returns the nodes in preorder, the surrogates in preorder and the start of each
    node's ones among them.
    """
    order = np.zeros(NI.shape[0], dtype=np.int64)
    limit = np.zeros(NI.shape[0])
    stack = np.zeros(MAX_DEPTH + 2, dtype=np.int64)
    limit[0] = NF[0, _CP]
    sp = 1
    k = 0
    while sp > 0:
        sp -= 1
        i = stack[sp]
        order[k] = i
        k += 1
        if NF[i, _CP] > limit[i]:
            NF[i, _CP] = limit[i]
        left = NI[i, _LEFT]
        if left >= 0:
            right = NI[i, _RIGHT]
            limit[left] = alpha if alpha > NF[i, _CP] else NF[i, _CP]
            limit[right] = limit[left]
            stack[sp] = right
            stack[sp + 1] = left
            sp += 2
    pos = np.zeros(NI.shape[0], dtype=np.int64)
    for j in range(k):
        pos[order[j]] = j
    sur_ptr = np.zeros(k + 1, dtype=np.int64)
    for j in range(k):
        i = order[j]
        if NI[i, _LEFT] < 0:
            NI[i, _FEATURE] = -1
            NI[i, _DIRECTION] = 0
            NI[i, _COUNT] = 0
            NI[i, _SUR_HI] = NI[i, _SUR_LO]
            NF[i, _THRESHOLD] = np.nan
            NF[i, _IMPROVE] = np.nan
            for c in range(cmap.shape[1]):
                cmap[i, c] = 0
        else:
            NI[i, _LEFT] = pos[NI[i, _LEFT]]
            NI[i, _RIGHT] = pos[NI[i, _RIGHT]]
        sur_ptr[j + 1] = sur_ptr[j] + NI[i, _SUR_HI] - NI[i, _SUR_LO]
    sur_idx = np.zeros(sur_ptr[k], dtype=np.int64)
    for j in range(k):
        i = order[j]
        for s in range(NI[i, _SUR_LO], NI[i, _SUR_HI]):
            sur_idx[sur_ptr[j] + s - NI[i, _SUR_LO]] = s
    for q in range(rows.shape[0]):
        where[rows[q]] = pos[where[rows[q]]]
    return order[:k], sur_idx, sur_ptr


@_njit
def _grow_nodes(Xt, y, ncat, active, S, nnm, R, n_classes, min_split, edge, cp, maxnode, maxsur, usesur, sur_agree,
                maxcat):
    """rpart's partition() for the whole tree, depth first and left before right, on an explicit stack.

    ``S`` (the training rows sorted on each predictor) and ``R`` (the training rows, ascending) are split in
    place: the rows of a node are a slice ``[start, start + n)`` of both. Returns what :func:`_finish` does,
    then the node tables (columns ``_NODE_ID``... and ``_VALUE``...), every node's class counts and level
    sides, the surrogate tables (feature, direction, count; threshold, agreement, adj; level sides) and
    the node of every row (by preorder position for the training rows).
    """
    p, n = Xt.shape
    M = R.shape[0]
    cap = 2 * M + 1  # every child holds >= min_bucket >= 1 rows: at most M leaves
    K = max(n_classes, 1)
    NI = np.zeros((cap, 11), dtype=np.int64)
    for i in range(cap):  # loops, not slice assignments: those compile a costly error path
        NI[i, _LEFT] = -1
        NI[i, _RIGHT] = -1
        NI[i, _FEATURE] = -1
    NF = np.zeros((cap, 6))
    counts = np.zeros((cap, K))
    cmap = np.zeros((cap, maxcat), dtype=np.int64)
    per_node = min(maxsur, max(int(active.sum()) - 1, 0))
    scap = M * per_node + 1  # fewer than M nodes split
    SI = np.zeros((scap, 3), dtype=np.int64)
    SF = np.zeros((scap, 3))
    SC = np.zeros((scap, maxcat), dtype=np.int64)
    W = np.zeros((4, p))  # per predictor: improvement, cut, agreement, adjusted agreement
    dirs = np.zeros(p, dtype=np.int64)
    cs = np.zeros((p, maxcat), dtype=np.int64)
    buf = np.zeros(M, dtype=np.int64)
    cut_scratch = np.zeros((4, M + 1))  # the last row: 1/j
    for j in range(1, M + 1):
        cut_scratch[3, j] = 1.0 / j
    level_f = np.zeros((3, maxcat))
    level_i = np.zeros((4, maxcat), dtype=np.int64)
    class_scratch = np.zeros((2, K))
    ccnt = np.zeros((K, maxcat))
    side = np.zeros(n, dtype=np.int8)
    where = np.zeros(n, dtype=np.int64)  # node of every row (rpart's where), by creation number
    iscale = np.zeros(1)  # largest improvement seen so far (rpart's rp.iscale)
    NN = np.zeros((MAX_DEPTH + 2, p), dtype=np.int64)  # observed rows per predictor of the node at each depth
    NR = np.zeros((MAX_DEPTH + 2, p), dtype=np.int64)  # ... of the right child waiting at each depth
    for f in range(p):
        NN[0, f] = nnm[f]
    stack = np.zeros(MAX_DEPTH + 2, dtype=np.int64)
    phase = np.zeros(MAX_DEPTH + 2, dtype=np.int64)

    NI[0, _NODE_ID] = 1
    NI[0, _NROWS] = M
    NF[0, _VALUE], NF[0, _RISK] = _node_eval(y, R, M, n_classes, counts[0])
    NF[0, _CP] = NF[0, _RISK]
    alpha = cp * NF[0, _RISK]
    # Counters start as int64, not literals: numba would compile the kernels they reach once more.
    n_nodes = np.int64(1)
    ns = np.int64(0)
    sp = 1
    while sp > 0:
        d = sp - 1
        i = stack[d]
        a = NI[i, _START]
        m = NI[i, _NROWS]
        risk = NF[i, _RISK]
        if phase[d] == 0:
            if i > 0:
                NF[i, _VALUE], NF[i, _RISK] = _node_eval(y, R[a:a + m], m, n_classes, counts[i])
                risk = NF[i, _RISK]
                tempcp = NF[i, _CP] if NF[i, _CP] < risk else risk
            else:
                tempcp = risk
            got = -1
            if not (m < min_split or tempcp <= alpha or NI[i, _NODE_ID] > maxnode):
                if n_nodes + 2 > cap or ns + per_node > scap:
                    raise ValueError("tree storage exhausted (min_bucket must be >= 1)")
                got = _split_node(Xt, y, ncat, active, S, R, a, m, NN[d], NN[d + 1], NR[d], i, n_nodes, side, where,
                                  iscale, NI, NF, cmap, SI, SF, SC, ns, W, dirs, cs, buf, cut_scratch, level_f,
                                  level_i, class_scratch, ccnt, n_classes, edge, maxsur, usesur, sur_agree,
                                  min_split, maxnode)
            if got < 0:  # a leaf
                NF[i, _CP] = alpha
                NI[i, _FEATURE] = -1
                NF[i, _KEPT_RISK] = risk
                sp -= 1
                continue
            ns = got
            NI[i, _LEFT] = n_nodes
            NI[i, _RIGHT] = n_nodes + 1
            NI[n_nodes, _NODE_ID] = 2 * NI[i, _NODE_ID]
            NI[n_nodes + 1, _NODE_ID] = 2 * NI[i, _NODE_ID] + 1
            NF[n_nodes, _CP] = tempcp - alpha
            n_nodes += 2
            phase[d] = 1
            stack[d + 1] = NI[i, _LEFT]
            phase[d + 1] = 0
            sp += 1
        elif phase[d] == 1:  # left subtree done: the right child's starting complexity
            lc = NI[i, _LEFT]
            tempcp = (risk - NF[lc, _KEPT_RISK]) / (NI[lc, _NSPLIT] + 1)
            tempcp2 = risk - NF[lc, _RISK]
            if tempcp < tempcp2:
                tempcp = tempcp2
            if tempcp > NF[i, _CP]:
                tempcp = NF[i, _CP]
            NF[NI[i, _RIGHT], _CP] = tempcp - alpha
            for f in range(p):
                NN[d + 1, f] = NR[d, f]
            phase[d] = 2
            stack[d + 1] = NI[i, _RIGHT]
            phase[d + 1] = 0
            sp += 1
        else:
            lc = NI[i, _LEFT]
            rc = NI[i, _RIGHT]
            NF[i, _CP], NI[i, _NSPLIT], NF[i, _KEPT_RISK] = _own_complexity(
                risk, NF[lc, _KEPT_RISK], NI[lc, _NSPLIT], NF[lc, _CP], NF[lc, _RISK],
                NF[rc, _KEPT_RISK], NI[rc, _NSPLIT], NF[rc, _CP], NF[rc, _RISK])
            if NF[i, _CP] <= alpha:
                # All was in vain: the subtree does not pay for itself.
                NI[i, _LEFT] = -1
                NI[i, _RIGHT] = -1
                NI[i, _FEATURE] = -1
                NI[i, _NSPLIT] = 0
                NF[i, _KEPT_RISK] = risk
                for q in range(a, a + m):
                    where[R[q]] = i
            sp -= 1
    order, sur_idx, sur_ptr = _finish(NI, NF, cmap, alpha, where, R)
    return order, sur_idx, sur_ptr, NI, NF, counts, cmap, SI, SF, SC, where


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
    sur_ptr, sur_feature, sur_threshold, sur_direction, sur_cmap, sur_agreement, sur_adj, sur_count
        The surrogate splits of node ``i`` are entries ``sur_ptr[i]:sur_ptr[i + 1]`` of the other arrays, in
        the order they are tried: as for the primary split, plus agreement, adjusted agreement and the
        number of training rows they placed.
    surrogates : list of list of dict
        The same per node, with ``feature``, ``threshold``, ``direction``, ``cmap``, ``agreement``, ``adj``
        and ``count`` (built when first read).
    train_where : ndarray of int
        Node index of every training row (rpart's ``where``).
    """

    def __init__(self, grown, ncat, n_classes, use_surrogates, rows):
        order, sur_idx, sur_ptr, NI, NF, counts, cmap, SI, SF, SC, where = grown
        ints = NI[order].T.copy()  # one contiguous row per attribute
        floats = NF[order].T.copy()
        self.ncat = ncat
        self.n_classes = n_classes
        self.use_surrogates = use_surrogates
        self.node_count = int(order.shape[0])
        self.node_id = ints[_NODE_ID]
        self.children_left = ints[_LEFT]
        self.children_right = ints[_RIGHT]
        self.feature = ints[_FEATURE]
        self.threshold = floats[_THRESHOLD]
        self.direction = ints[_DIRECTION]
        self.cmap = cmap[order]
        self.improve = floats[_IMPROVE]
        self.count = ints[_COUNT]
        self.n_node_samples = ints[_NROWS]
        self.value = floats[_VALUE]
        self.risk = floats[_RISK]
        self.complexity = floats[_CP]
        self.class_counts = counts[order] if n_classes else None
        self.sur_ptr = sur_ptr
        self.sur_feature, self.sur_direction, self.sur_count = SI[sur_idx].T.copy()
        self.sur_threshold, self.sur_agreement, self.sur_adj = SF[sur_idx].T.copy()
        self.sur_cmap = SC[sur_idx]
        self.train_where = where[rows]

    @cached_property
    def surrogates(self):
        """Per node, its surrogate splits as dicts (see the class docstring)."""
        out = []
        for i in range(self.node_count):
            node = []
            for s in range(self.sur_ptr[i], self.sur_ptr[i + 1]):
                f = int(self.sur_feature[s])
                nc = int(self.ncat[f])
                node.append(dict(feature=f, threshold=np.nan if nc else float(self.sur_threshold[s]),
                                 direction=0 if nc else int(self.sur_direction[s]),
                                 cmap=self.sur_cmap[s, :nc].astype(np.int8) if nc else None,
                                 agreement=float(self.sur_agreement[s]), adj=float(self.sur_adj[s]),
                                 count=int(self.sur_count[s])))
            out.append(node)
        return out

    @property
    def max_depth(self):
        return int(np.floor(np.log2(self.node_id.max()))) if self.node_count else 0

    def apply(self, Xt):
        """Index of the node every column of the feature-major matrix ``Xt`` ends in.

        ``Xt`` must have one row per predictor the tree was grown on, and categorical rows level codes
        ``0..k-1`` or NaN: the compiled kernel indexes with both and checks neither.
        """
        Xt = np.require(Xt, np.float64, ["C", "W"])
        if Xt.ndim != 2 or Xt.shape[0] != self.ncat.shape[0]:
            raise ValueError(f"this surrogate tree was grown on {self.ncat.shape[0]} predictors; got a matrix of "
                             f"shape {Xt.shape} (one row per predictor)")
        cat = self.ncat > 0
        if cat.any():
            codes = Xt[cat]
            if not (np.isnan(codes) | ((codes >= 0) & (codes < self.cmap.shape[1]))).all():
                raise ValueError("a categorical predictor holds a value that is not a level code 0..k-1 "
                                 f"(k <= {self.cmap.shape[1]}) or missing")
        # A tree loaded from a memory map has read-only arrays; small copies beat another compilation.
        arrays = [np.require(a, requirements=["C", "W"]) for a in (
            self.ncat, self.children_left, self.children_right, self.feature, self.threshold, self.direction,
            self.cmap, self.sur_ptr, self.sur_feature, self.sur_threshold, self.sur_direction, self.sur_cmap,
            self.n_node_samples)]
        return _predict_nodes(Xt, *arrays, self.use_surrogates)

    # ------------------------------------------------------------------------------------ saved trees
    # The arrays every tree holds (int64 / float64, one entry per node or per surrogate): the kernels are
    # compiled for these dtypes and index with these values without bounds checks.
    _INT_NODE = ("node_id", "children_left", "children_right", "feature", "direction", "count", "n_node_samples")
    _FLOAT_NODE = ("threshold", "improve", "value", "risk", "complexity")
    _SURROGATE = ("sur_feature", "sur_direction", "sur_count", "sur_threshold", "sur_agreement", "sur_adj")
    _KEYS = frozenset({"ncat", "n_classes", "use_surrogates", "node_count", "cmap", "class_counts", "sur_ptr",
                       "sur_cmap", "train_where", "train_rows", *_INT_NODE, *_FLOAT_NODE, *_SURROGATE})

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("surrogates", None)  # a cache, rebuilt from the arrays when read
        return state

    def __setstate__(self, state):
        """Restore a pickled or saved tree after :meth:`validate`-ing its arrays (a file's are not trusted)."""
        if not isinstance(state, dict):
            raise ValueError(f"a surrogate tree's state must be a dict, got {type(state).__name__}")
        state = {k: v for k, v in state.items() if k != "surrogates"}
        self._check_state(state)
        self.__dict__.update(state)

    def validate(self):
        """Check that the arrays are what the compiled predictor assumes: exact dtypes and shapes, children in
        range and after their parent (each node but the root with one parent), split predictors below
        ``len(ncat)``, surrogate pointers rising within the surrogate arrays, level maps as wide as the widest
        categorical predictor. Raises ValueError naming the first problem."""
        self._check_state(self.__dict__)

    @staticmethod
    def _check_state(s):
        # train_rows is set by grow_tree after construction; surrogates is a cache.
        missing, extra = sorted(Tree._KEYS - set(s) - {"train_rows"}), sorted(set(s) - Tree._KEYS - {"surrogates"})
        if missing or extra:
            raise ValueError("surrogate tree: " + (f"missing {missing}" if missing else f"unexpected {extra}"))

        def arr(key, dtype, shape):
            a = s[key]
            if not isinstance(a, np.ndarray) or a.dtype != dtype or a.ndim != len(shape) or \
                    any(want is not None and got != want for got, want in zip(a.shape, shape)):
                got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
                raise ValueError(f"surrogate tree: {key} must be a {np.dtype(dtype)} array of shape "
                                 f"{tuple('*' if w is None else w for w in shape)}, got {got}")
            return a

        def integer(key, lo, hi=None):
            v = s[key]
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo or (hi is not None and v > hi):
                raise ValueError(f"surrogate tree: {key} must be an integer in {lo}..{hi if hi is not None else ''}, "
                                 f"got {v!r}")
            return int(v)

        ncat = arr("ncat", np.int64, (None,))
        p = ncat.shape[0]
        if (ncat < 0).any():
            raise ValueError("surrogate tree: ncat (levels per predictor) must be >= 0")
        width = max(int(ncat.max()) if p else 0, 1)
        n = integer("node_count", 1)
        n_classes = integer("n_classes", 0)
        integer("use_surrogates", 0, 2)
        for key in Tree._INT_NODE:
            arr(key, np.int64, (n,))
        for key in Tree._FLOAT_NODE:
            arr(key, np.float64, (n,))
        left, right, feature = s["children_left"], s["children_right"], s["feature"]
        idx = np.arange(n)
        leaf = left == -1
        inner = ~leaf
        bad = np.flatnonzero((leaf & (right != -1)) | (inner & ~((left > idx) & (left < n) & (right > idx)
                                                                 & (right < n) & (left != right))))
        if bad.size:
            raise ValueError(f"surrogate tree: node {bad[0]} has children {left[bad[0]]} and {right[bad[0]]}, outside "
                             f"{bad[0] + 1}..{n - 1} ({n} nodes)")
        parents = np.bincount(np.concatenate([left[inner], right[inner]]), minlength=n)
        if parents[0] != 0 or (parents[1:] != 1).any():
            raise ValueError("surrogate tree: every node but the root must have exactly one parent")
        bad = np.flatnonzero(np.where(inner, (feature < 0) | (feature >= p), feature != -1))
        if bad.size:
            raise ValueError(f"surrogate tree: node {bad[0]} splits on predictor {feature[bad[0]]}, outside "
                             f"0..{p - 1}")
        if (s["node_id"] < 1).any() or (s["node_id"] >= 2 ** 62).any():
            raise ValueError("surrogate tree: node_id must be rpart node numbers (>= 1)")
        if not np.isin(s["direction"], (-1, 0, 1)).all():
            raise ValueError("surrogate tree: direction must be -1, 0 or 1")
        cmap = arr("cmap", np.int64, (n, None))
        if cmap.shape[1] < width or not np.isin(cmap, (-1, 0, 1)).all():
            raise ValueError(f"surrogate tree: cmap must hold -1/0/+1 for at least {width} levels")
        ptr = arr("sur_ptr", np.int64, (n + 1,))
        m = ptr[-1]
        if ptr[0] != 0 or (np.diff(ptr) < 0).any():
            raise ValueError("surrogate tree: sur_ptr must rise from 0")
        for key in Tree._SURROGATE:
            arr(key, np.int64 if key in ("sur_feature", "sur_direction", "sur_count") else np.float64, (m,))
        sur_cmap = arr("sur_cmap", np.int64, (m, None))
        if ((s["sur_feature"] < 0) | (s["sur_feature"] >= p)).any() or not np.isin(s["sur_direction"], (-1, 0, 1)).all():
            raise ValueError(f"surrogate tree: surrogate predictors must lie in 0..{p - 1}, directions in -1/0/+1")
        if m and (sur_cmap.shape[1] < width or not np.isin(sur_cmap, (-1, 0, 1)).all()):
            raise ValueError(f"surrogate tree: sur_cmap must hold -1/0/+1 for at least {width} levels")
        if s["class_counts"] is not None:
            arr("class_counts", np.float64, (n, max(n_classes, 1)))
        for key in ("train_where", "train_rows") if "train_rows" in s else ("train_where",):
            a = arr(key, np.int64, (None,))
            if key == "train_where" and ((a < 0) | (a >= n)).any():
                raise ValueError("surrogate tree: train_where must hold node indices")


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
    if min_bucket < 1:  # the node storage and the split scans rely on it
        raise ValueError(f"min_bucket must be >= 1, got {min_bucket!r}")
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
    if presorted is None:
        presorted = presort(Xt) if p else np.zeros((0, n), dtype=np.int64)
    # na.rpart: a row with no observed predictor cannot be placed anywhere.
    S, nnm, rows = _restrict_sorts(Xt, presorted, active, member)
    if rows.size == 0:
        raise ValueError("no training rows with an observed response and at least one observed predictor")
    maxcat = max(int(ncat.max()) if p else 0, 1)
    maxnode = 2 ** int(min(max_depth, MAX_DEPTH)) - 1
    grown = _grow_nodes(Xt, y, ncat, active, S, nnm, rows.copy(), int(n_classes), int(min_split), int(min_bucket),
                        float(cp), maxnode, int(max_surrogates), int(use_surrogates), int(surrogate_style), maxcat)
    tree = Tree(grown, ncat, int(n_classes), int(use_surrogates), rows)
    tree.train_rows = rows
    return tree
