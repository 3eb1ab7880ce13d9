"""``radiomix benchmark``: radiomix configurations and scikit-learn reference procedures on many tables, the same
outer folds for every method of a table, with honest multi-table statistics.

>>> from radiomix.benchmark import run_benchmark                        # doctest: +SKIP
>>> res = run_benchmark(["tables/"], ["default", "l1_logistic", "random_forest"], "bench/")  # doctest: +SKIP
>>> res.summary.overall                                                 # doctest: +SKIP

Each (table, method) pair runs in its own worker process under a time limit and leaves one result file
``results/TABLE/METHOD.json`` keyed by the table's content hash, the method's resolved configuration (with the
library versions) and the folds; a rerun into the same folder reuses every result whose key still matches, so an
interrupted or killed benchmark resumes where it stopped and gives the same numbers. What a benchmark scores is the
procedure: radiomix configs run their nested CV (inner search, threshold, every learned step in the training
fold) without the safeguards, SHAP, report and final model a ``radiomix train`` run adds.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .methods import REFERENCES, Method, error_line, resolve_methods, table_hash
from .runner import (
    BENCHMARK_KIND,
    BenchmarkPlan,
    discover_tables,
    folds_key,
    load_table,
    plan_folds,
    run_tasks,
)
from .summary import ALPHA, TIE_MARGIN, BenchmarkSummary, summarize

__all__ = ["run_benchmark", "BenchmarkResult", "BenchmarkPlan", "BenchmarkSummary", "Method", "REFERENCES",
           "resolve_methods", "summarize", "load_results", "TIE_MARGIN", "ALPHA"]


@dataclass
class BenchmarkResult:
    """A finished benchmark: its folder, the result dicts, the summary, the files written and how many results
    were reused from an earlier run (``reused``) or computed now (``computed``)."""

    out: Path
    results: list
    summary: BenchmarkSummary
    files: dict = field(default_factory=dict)
    reused: int = 0
    computed: int = 0


def _open_folder(out, inputs) -> Path:
    """A benchmark folder: created with its marker when absent or empty; an earlier benchmark folder is resumed;
    anything else is refused (radiomix never writes into a folder it did not create)."""
    from radiomix import __version__

    from ..io import atomic_write_text
    from ..outputs import MARKER, OutputError, read_marker

    out = Path(os.path.abspath(out))
    if out.exists() and not out.is_dir():
        raise OutputError(f"benchmark folder {out} is a file; choose a folder name")
    for p in inputs:
        try:
            Path(p).resolve().relative_to(out.resolve())
            raise OutputError(f"input {p} lies inside the benchmark folder {out}; choose another folder")
        except ValueError:
            pass
    if out.is_dir() and any(out.iterdir()):
        marker = read_marker(out)
        if marker is None:
            raise OutputError(f"benchmark folder {out} exists and holds files radiomix did not write; choose a new "
                              "or empty folder")
        if marker.get("kind") != BENCHMARK_KIND:
            raise OutputError(f"folder {out} holds a radiomix {marker.get('kind')!r} output, not a benchmark; "
                              "choose another folder")
        return out
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / MARKER, json.dumps({"kind": BENCHMARK_KIND, "files": [], "version": __version__,
                                                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=2))
    return out


def load_results(out) -> list[dict]:
    """Every result dict under ``out/results`` (a benchmark folder)."""
    return [json.loads(p.read_text()) for p in sorted(Path(out, "results").glob("*/*.json"))]


def run_benchmark(tables, methods, out, *, plan: BenchmarkPlan | None = None, n_jobs: int = 1,
                  progress: bool = True, retry_timeouts: bool = False, write: bool = True, scheduler=None,
                  **plan_settings) -> BenchmarkResult:
    """Run ``methods`` on every table of ``tables`` into the benchmark folder ``out`` and summarize.

    Parameters
    ----------
    tables : list of paths
        Table files (CSV/TSV/Parquet, gzip allowed) or folders of them; each table's name is its file name.
    methods : list of :class:`Method` or str
        Radiomix configs and references (words as :func:`resolve_methods` reads them: ``default``, ``multisite``,
        a config path, ``NAME=PATH``, or a name in :data:`REFERENCES`). The references are the methods every other
        is compared with.
    out : path
        The benchmark folder: ``results/TABLE/METHOD.json`` (one per pair, the resume cache), ``results.csv`` /
        ``results.parquet`` (per table x method), ``overall.csv``, ``summary.md``, ``benchmark.html`` and the
        figures. An earlier benchmark folder is resumed: results whose key (table hash, method, folds) still
        matches are reused, not recomputed.
    plan : :class:`BenchmarkPlan`, optional
        Roles (``target``, ``id``, ``groups``, ``batch``), outer folds (default 5-fold stratified, 2 repeats, seed 0;
        grouped when ``groups`` is given; ``outer='leave_site_out'`` with ``batch``) and the per-pair
        ``time_limit`` (seconds; a pair past it is stopped and recorded as a timeout). Or give its fields as
        keyword arguments.
    n_jobs : int
        Pairs run at the same time, each in its own process with one thread (-1: every core).
    retry_timeouts : bool
        Run again the pairs recorded as timeouts (e.g. with a longer time limit).
    scheduler : distributed.Client or str, optional
        Run the pairs on a Dask cluster (a client or a scheduler address) instead of local processes; the
        workers must be able to read the table paths. The time limit is then checked by each pair after each
        outer fold (a Dask task cannot be stopped from outside). Needs ``radiomix[dask]``.
    """
    plan = plan or BenchmarkPlan(**plan_settings)
    methods = [m if isinstance(m, Method) else resolve_methods([m])[0] for m in methods]
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be unique: {names}")
    found = discover_tables(tables)
    prepared, refused = {}, {}
    for tname, path in found:  # every table is read and split before anything is written
        try:
            table, y, _ = load_table(path, plan)
            prepared[tname] = (path, table, y, plan_folds(table, y, plan))
        except ValueError as err:
            refused[tname] = error_line(err)
    if not prepared:
        first = next(iter(refused.items()), None)
        raise ValueError(f"every table was refused before any fit; the first: {first[0]}: {first[1]}"
                         if first else "no table to benchmark")
    out = _open_folder(out, [p for _, p in found])
    _check_plan(out, plan)
    n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else max(1, int(n_jobs))
    tasks, outcomes, results_paths, reused = [], {}, [], 0
    for tname, path in found:
        if tname in refused:
            _record_refused(out, tname, methods, refused[tname])
            results_paths += [out / "results" / tname / f"{m.name}.json" for m in methods]
            continue
        path, table, y, folds = prepared[tname]
        outcomes[tname] = y
        base = {"table": table_hash(table), "folds": folds_key(folds), "roles": plan.roles()}
        for m in methods:
            key = json.dumps({**base, "method": m.key()}, sort_keys=True)
            rpath = out / "results" / tname / f"{m.name}.json"
            results_paths.append(rpath)
            old = _read(rpath)
            if old is not None and old.get("key") == key and (old["status"] != "timeout" or not retry_timeouts):
                reused += 1
                continue
            rpath.parent.mkdir(parents=True, exist_ok=True)
            tasks.append({"table": tname, "method": m.name, "kind": m.kind, "key": key, "path": str(path),
                          "method_obj": m, "plan": plan.__dict__, "result_path": str(rpath)})
    if reused and progress:
        import sys

        print(f"benchmark: {reused} result(s) reused from {out} (same table, method and folds), "
              f"{len(tasks)} to compute", file=sys.stderr, flush=True)
    if scheduler is not None:
        from .runner import run_tasks_dask

        run_tasks_dask(tasks, scheduler, progress=progress)
    else:
        run_tasks(tasks, n_jobs=n_jobs, progress=progress, time_limit=plan.time_limit)
    results = [r for r in (_read(p) for p in results_paths) if r is not None]
    settings = {"plan": plan.__dict__, "methods": {m.name: m.kind for m in methods},
                "references": [m.name for m in methods if m.kind == "reference"], "tables": [n for n, _ in found],
                "n_jobs": n_jobs}
    summary = summarize(results, settings["references"], outcomes=outcomes, settings=settings)
    files = {}
    if write:
        from .render import write_outputs

        files = write_outputs(out, summary)
    return BenchmarkResult(out=out, results=results, summary=summary, files=files, reused=reused,
                           computed=len(tasks))


def _check_plan(out: Path, plan: BenchmarkPlan) -> None:
    """A benchmark folder holds one plan (roles and outer folds): a rerun with another is refused, so results
    made on other folds are never mixed or replaced. The time limit may change."""
    from ..io import atomic_write_text
    from ..outputs import OutputError, record_files

    path = out / "benchmark.json"
    mine = {k: v for k, v in plan.__dict__.items() if k != "time_limit"}
    old = _read(path)
    if old is not None:
        theirs = {k: v for k, v in old.get("plan", {}).items() if k != "time_limit"}
        if theirs != mine:
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise OutputError(f"benchmark folder {out} was made with other settings ({', '.join(f'{k}={theirs.get(k)!r}' for k in diff)}); "
                              "choose a new folder to benchmark with these")
        return
    atomic_write_text(path, json.dumps({"plan": plan.__dict__}, indent=2))
    record_files(out, [path])


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None  # a damaged result is recomputed


def _record_refused(out: Path, tname: str, methods, message: str) -> None:
    from ..io import atomic_write_text

    for m in methods:
        p = out / "results" / tname / f"{m.name}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(p, json.dumps({"table": tname, "method": m.name, "kind": m.kind, "key": None,
                                         "status": "refused", "message": message, "folds": [], "seconds": 0.0}))
