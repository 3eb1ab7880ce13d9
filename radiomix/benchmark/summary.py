"""From result files to the benchmark's tables: per table x method the headline with its interval and runtime,
paired tests against each reference on the same folds, and the multi-table statistics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..metrics import roc_auc
from .stats import (
    cliques,
    corrected_ttest,
    fold_interval,
    friedman,
    nemenyi_cd,
    rank_table,
    wilcoxon_holm,
    wins_ties_losses,
)

__all__ = ["BenchmarkSummary", "summarize", "TIE_MARGIN", "ALPHA"]

#: Two methods tie on a table when their mean AUCs differ by at most this much (stated in every output).
TIE_MARGIN = 0.02
#: Significance level of every test.
ALPHA = 0.05


@dataclass
class BenchmarkSummary:
    """``per_table``: one row per table x method; ``overall``: one row per method; ``scores``/``ranks``: the
    complete tables x methods matrices the statistics use; ``friedman``, ``cd``, ``cliques``; ``wilcoxon`` and
    ``wtl``: against each reference; ``incomplete``: tables left out of the statistics and why."""

    per_table: pd.DataFrame
    overall: pd.DataFrame
    scores: pd.DataFrame
    ranks: pd.DataFrame
    friedman: dict
    cd: float
    cliques: list
    wilcoxon: pd.DataFrame
    wtl: pd.DataFrame
    references: list
    incomplete: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


def _pooled_auc(folds: list, y_by_row: dict) -> float:
    """Mean over repeats of the AUC of the repeat's pooled out-of-fold scores."""
    out = []
    for r in sorted({f["repeat"] for f in folds}):
        idx = [i for f in folds if f["repeat"] == r for i in f["test"]]
        sc = [s for f in folds if f["repeat"] == r for s in f["scores"]]
        out.append(roc_auc(np.array([y_by_row[i] for i in idx]), np.array(sc)))
    return float(np.mean(out)) if out else float("nan")


def _row(res: dict, y: np.ndarray | None) -> dict:
    folds = res.get("folds") or []
    row = {"table": res["table"], "method": res["method"], "kind": res.get("kind", ""), "status": res["status"],
           "message": res.get("message", ""), "seconds": float(res.get("seconds", np.nan)), "n_folds": len(folds)}
    if res["status"] == "ok" and folds:
        aucs = [f["auc"] for f in folds]
        n_tr, n_te = np.mean([f["n_train"] for f in folds]), np.mean([f["n_test"] for f in folds])
        mean, lo, hi = fold_interval(aucs, n_tr, n_te)
        row.update(auc=mean, ci_low=lo, ci_high=hi,
                   pooled_auc=_pooled_auc(folds, dict(enumerate(y))) if y is not None else np.nan)
    else:
        row.update(auc=np.nan, ci_low=np.nan, ci_high=np.nan, pooled_auc=np.nan)
    return row


def summarize(results: list[dict], references, *, outcomes: dict | None = None, settings: dict | None = None,
              margin: float = TIE_MARGIN) -> BenchmarkSummary:
    """The benchmark's tables from its result dicts (one per table x method); ``references`` the methods every
    other is compared with; ``outcomes`` table -> 0/1 outcome (for the pooled AUC)."""
    outcomes = outcomes or {}
    per = pd.DataFrame([_row(r, outcomes.get(r["table"])) for r in results])
    by_pair = {(r["table"], r["method"]): r for r in results}
    references = [r for r in references if r in set(per["method"])]
    for ref in references:
        diffs, ps, worse = [], [], []
        for _, row in per.iterrows():
            a, b = by_pair[(row["table"], row["method"])], by_pair.get((row["table"], ref))
            if row["method"] == ref or b is None or a["status"] != "ok" or b["status"] != "ok":
                diffs.append(np.nan), ps.append(np.nan), worse.append(False)
                continue
            fb = {(f["repeat"], f["fold"]): f for f in b["folds"]}
            d = [f["auc"] - fb[(f["repeat"], f["fold"])]["auc"] for f in a["folds"] if (f["repeat"], f["fold"]) in fb]
            t = corrected_ttest(d, np.mean([f["n_train"] for f in a["folds"]]),
                                np.mean([f["n_test"] for f in a["folds"]]))
            diffs.append(t["mean"]), ps.append(t["p"]), worse.append(bool(t["p"] < ALPHA and t["mean"] < 0))
        per[f"diff_vs_{ref}"], per[f"p_vs_{ref}"], per[f"worse_than_{ref}"] = diffs, ps, worse
    wide = per.pivot(index="table", columns="method", values="auc")
    methods = list(dict.fromkeys(per["method"]))
    wide = wide.reindex(columns=methods)
    complete = wide.dropna()
    incomplete = {t: sorted(per[(per["table"] == t) & (per["status"] != "ok")]
                            .apply(lambda r: f"{r['method']}: {r['status']}", axis=1))
                  for t in wide.index if t not in complete.index}
    ranks = rank_table(complete) if len(complete) else complete
    fr = friedman(complete) if len(complete) else {}
    cd = nemenyi_cd(len(methods), len(complete)) if len(complete) and len(methods) >= 2 else float("nan")
    mean_ranks = ranks.mean() if len(complete) else pd.Series(np.nan, index=methods)
    wil = wilcoxon_holm(complete, references) if len(complete) >= 2 else pd.DataFrame()
    wtl = pd.concat([wins_ties_losses(complete, r, margin) for r in references], ignore_index=True) \
        if references and len(complete) else pd.DataFrame()
    overall = []
    for m in methods:
        sub = per[per["method"] == m]
        row = {"method": m, "kind": sub["kind"].iloc[0], "mean_auc": float(complete[m].mean()) if len(complete) else np.nan,
               "median_auc": float(complete[m].median()) if len(complete) else np.nan,
               "mean_rank": float(mean_ranks.get(m, np.nan)), "median_seconds": float(sub["seconds"].median()),
               "total_seconds": float(sub["seconds"].sum()),
               **{f"n_{s}": int((sub["status"] == s).sum()) for s in ("ok", "refused", "error", "timeout")}}
        for ref in references:
            if m != ref:
                row[f"tables_worse_than_{ref}"] = int(sub[f"worse_than_{ref}"].sum())
        overall.append(row)
    overall = pd.DataFrame(overall).sort_values("mean_rank", kind="mergesort").reset_index(drop=True)
    return BenchmarkSummary(per_table=per, overall=overall, scores=complete, ranks=ranks, friedman=fr, cd=cd,
                            cliques=cliques(mean_ranks, cd) if len(complete) else [], wilcoxon=wil, wtl=wtl,
                            references=references, incomplete=incomplete, settings=settings or {})
