"""Writing a benchmark's summary: CSV/Parquet tables, a markdown summary, and an HTML page (offline, images
embedded) with the critical-difference diagram and per-table dot plots."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from .summary import ALPHA, TIE_MARGIN

__all__ = ["write_outputs", "summary_markdown", "cd_diagram", "dot_plot"]


def _md_table(df: pd.DataFrame, floats: str = "{:.3f}") -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in df.iterrows():
        cells = []
        for v in row:
            if isinstance(v, (float, np.floating)):
                cells.append("" if not np.isfinite(v) else floats.format(v))
            else:
                cells.append(str(v).replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _overall_view(summary) -> pd.DataFrame:
    ov = summary.overall.copy()
    cols = ["method", "kind", "mean_auc", "median_auc", "mean_rank", "median_seconds", "n_ok", "n_refused",
            "n_error", "n_timeout"]
    view = ov[cols].copy()
    for ref in summary.references:
        wtl = summary.wtl[summary.wtl["reference"] == ref].set_index("method") if len(summary.wtl) else None
        view[f"W/T/L vs {ref}"] = [
            (f"{int(wtl.loc[m, 'wins'])}/{int(wtl.loc[m, 'ties'])}/{int(wtl.loc[m, 'losses'])}"
             if wtl is not None and m in wtl.index else "") for m in view["method"]]
        col = f"tables_worse_than_{ref}"
        view[f"sig. worse than {ref}"] = [("" if m == ref or col not in ov.columns or pd.isna(v) else str(int(v)))
                                          for m, v in zip(ov["method"], ov.get(col, pd.Series(np.nan, ov.index)))]
    return view


def summary_markdown(summary) -> str:
    """The benchmark's summary as markdown: per method over the complete tables, the Friedman test, the Nemenyi
    critical difference and its groups, Wilcoxon-Holm against each reference, and what was left out."""
    s = summary.settings
    plan = s.get("plan", {})
    n = len(summary.scores)
    out = [f"# radiomix benchmark: {len(s.get('tables', []))} table(s) x {len(s.get('methods', {}))} method(s)", ""]
    if plan:
        out += [f"Outer folds: {plan.get('outer')} {plan.get('n_splits')}-fold x {plan.get('n_repeats')} repeat(s), "
                f"seed {plan.get('random_state')}, the same folds for every method of a table; metric: AUC of each "
                f"outer fold's held-out rows, averaged over folds (95 % CI: corrected resampled t); time limit "
                f"{plan.get('time_limit')} s per table x method.", ""]
    out += [f"Statistics over the {n} table(s) where every method ran; ranks 1 = best. Tie margin {TIE_MARGIN} AUC; "
            f"'sig. worse' = tables where the method is worse than the reference by the corrected resampled t-test "
            f"over the paired folds (p < {ALPHA}).", "", _md_table(_overall_view(summary)), ""]
    fr = summary.friedman
    if fr and np.isfinite(fr.get("chi2", np.nan)):
        out += [f"Friedman test: chi2 = {fr['chi2']:.2f}, p = {fr['p']:.3g} (Iman-Davenport F = {fr['F']:.2f}, "
                f"p = {fr['p_F']:.3g}), {fr['N']} tables, {fr['k']} methods. Nemenyi critical difference "
                f"(alpha {ALPHA}): {summary.cd:.2f} mean ranks.", ""]
        if summary.cliques:
            out += ["Groups whose mean ranks differ by less than the CD (not distinguishable): " +
                    "; ".join("{" + ", ".join(g) + "}" for g in summary.cliques), ""]
    if len(summary.wilcoxon):
        w = summary.wilcoxon.copy()
        out += ["Paired Wilcoxon signed-rank tests over tables (Holm-adjusted over all comparisons):", "",
                _md_table(w, "{:.3g}"), ""]
    if len(summary.per_table):
        wide = summary.per_table.pivot(index="table", columns="method", values="auc")
        wide = wide.reindex(columns=list(summary.overall["method"])).reset_index()
        out += ["AUC per table (mean over outer folds; empty: the method did not run):", "", _md_table(wide), ""]
    if summary.incomplete:
        out += [f"Left out of the statistics ({len(summary.incomplete)} table(s), not every method ran):", ""]
        out += [f"- {t}: {', '.join(v)}" for t, v in summary.incomplete.items()] + [""]
    bad = summary.per_table[summary.per_table["status"] != "ok"]
    if len(bad):
        out += ["Refused, failed or timed out:", ""] + [f"- {r.table} x {r.method}: {r.status}: {r.message}"
                                                        for r in bad.itertuples()] + [""]
    return "\n".join(out)


def cd_diagram(mean_ranks: pd.Series, cd: float, cliques: list, title: str = ""):
    """Demšar's critical-difference diagram: the mean-rank axis (1 = best, left), each method at its mean rank,
    a bar joining methods whose mean ranks differ by less than ``cd``, the CD drawn above the axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = mean_ranks.sort_values()
    k = len(r)
    half = (k + 1) // 2
    height = 1.6 + 0.32 * max(half, k - half) + 0.18 * len(cliques)
    fig, ax = plt.subplots(figsize=(9, height))
    lo, hi = 1, max(k, 2)
    ax.set_xlim(lo - 0.3, hi + 0.3)
    ax.set_ylim(-0.32 * (max(half, k - half) + 1) - 0.2 * len(cliques) - 0.3, 0.8)
    ax.axis("off")
    ax.hlines(0, lo, hi, color="k", lw=1)
    for t in range(lo, hi + 1):
        ax.vlines(t, 0, 0.08, color="k", lw=1)
        ax.text(t, 0.14, str(t), ha="center", va="bottom", fontsize=9)
    if np.isfinite(cd):
        ax.hlines(0.55, lo, lo + cd, color="k", lw=1.5)
        ax.vlines([lo, lo + cd], 0.5, 0.6, color="k", lw=1.5)
        ax.text(lo + cd / 2, 0.62, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9)
    for i, (name, rank) in enumerate(r.items()):
        left = i < half
        level = (i + 1) if left else (k - i)
        y = -0.32 * level - 0.2 * len(cliques)
        x_text = lo - 0.2 if left else hi + 0.2
        ax.plot([rank, rank, x_text], [0, y, y], color="k", lw=0.8)
        ax.text(x_text + (-0.05 if left else 0.05), y, f"{name} ({rank:.2f})", ha="right" if left else "left",
                va="center", fontsize=9)
    for j, group in enumerate(cliques):
        a, b = r[group[0]], r[group[-1]]
        y = -0.12 - 0.18 * j
        ax.hlines(y, a - 0.03, b + 0.03, color="tab:red", lw=3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.subplots_adjust(left=0.22, right=0.78)
    return fig


def dot_plot(per_table: pd.DataFrame, methods: list):
    """One row per table, one marker per method at its mean AUC with its 95 % interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = per_table[per_table["status"] == "ok"]
    tables = sorted(per_table["table"].unique(), key=str)
    fig, ax = plt.subplots(figsize=(10, max(2.6, 0.32 * len(tables) + 1.6)))
    offsets = np.linspace(-0.3, 0.3, max(len(methods), 1))
    cmap = plt.get_cmap("tab10")
    for j, m in enumerate(methods):
        sub = ok[ok["method"] == m].set_index("table")
        ys = [i + offsets[j] for i, t in enumerate(tables) if t in sub.index]
        xs = [sub.loc[t, "auc"] for t in tables if t in sub.index]
        lo = [sub.loc[t, "auc"] - sub.loc[t, "ci_low"] for t in tables if t in sub.index]
        hi = [sub.loc[t, "ci_high"] - sub.loc[t, "auc"] for t in tables if t in sub.index]
        ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", ms=4, lw=0.8, color=cmap(j % 10), label=m)
    ax.axvline(0.5, color="0.6", ls="--", lw=0.8)
    ax.set_yticks(range(len(tables)))
    ax.set_yticklabels(tables, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("AUC (mean over outer folds, 95 % CI)")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(methods), 4), frameon=False)
    fig.tight_layout()
    return fig


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def write_outputs(out: Path, summary) -> dict:
    """Write ``results.csv``/``results.parquet`` (per table x method, fold scores left in the result files),
    ``overall.csv``, ``summary.md``, ``cd_diagram.png``, ``per_table.png`` and ``benchmark.html`` into ``out``;
    add them to the folder's marker. Returns name -> path."""
    import warnings

    from ..io import atomic_write_bytes, atomic_write_text, write_table
    from ..outputs import record_files

    files = {"results_csv": out / "results.csv", "overall_csv": out / "overall.csv"}
    write_table(summary.per_table, files["results_csv"], index=False)
    write_table(summary.overall, files["overall_csv"], index=False)
    files["results_parquet"] = write_table(summary.per_table, out / "results.parquet", index=False)
    md = summary_markdown(summary)
    files["summary_md"] = atomic_write_text(out / "summary.md", md)
    images = {}
    methods = list(summary.overall["method"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # matplotlib's layout notes are not the user's business
        if len(summary.scores) and len(methods) >= 2:
            images["cd_diagram.png"] = _png(cd_diagram(summary.ranks.mean(), summary.cd, summary.cliques,
                                                       f"Mean ranks over {len(summary.scores)} tables"))
        if len(summary.per_table):
            images["per_table.png"] = _png(dot_plot(summary.per_table, methods))
    for name, data in images.items():
        files[name] = atomic_write_bytes(out / name, data)
    files["html"] = atomic_write_text(out / "benchmark.html", page(summary, md, images))
    results = out / "results"
    record_files(out, list(files.values()) + ([results] if results.exists() else []))
    return files


def page(summary, md: str, images: dict) -> str:
    """The HTML page: the summary's tables and text, the CD diagram and the dot plot (embedded, offline)."""
    body = []
    for block in md.split("\n\n"):
        lines = block.strip().splitlines()
        if not lines:
            continue
        if lines[0].startswith("# "):
            body.append(f"<h1>{html.escape(lines[0][2:])}</h1>")
        elif lines[0].startswith("|"):
            rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines if not ln.startswith("|---")]
            head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
            cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
        elif lines[0].startswith("- "):
            body.append("<ul>" + "".join(f"<li>{html.escape(ln[2:])}</li>" for ln in lines) + "</ul>")
        else:
            body.append(f"<p>{html.escape(' '.join(lines))}</p>")
    for name, data in images.items():
        alt = "critical-difference diagram" if name.startswith("cd") else "AUC per table and method"
        body.append(f'<figure><img alt="{alt}" style="max-width:100%" '
                    f'src="data:image/png;base64,{base64.b64encode(data).decode()}"><figcaption>{alt}</figcaption>'
                    "</figure>")
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.4}"
             "table{border-collapse:collapse;font-size:0.85em;margin:1em 0}td,th{border:1px solid #ccc;"
             "padding:0.2em 0.5em;text-align:right}td:first-child,th:first-child{text-align:left}")
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>radiomix benchmark</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
