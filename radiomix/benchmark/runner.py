"""Running a benchmark: tables x methods on the same outer folds, one worker process per (table, method) with a
time limit, one result file per pair (resumable), progress on the console."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .methods import Refused, error_line, limit_threads, run_method

__all__ = ["BenchmarkPlan", "discover_tables", "load_table", "plan_folds", "run_tasks", "run_tasks_dask",
           "compute_pair", "BENCHMARK_KIND"]

#: The kind recorded in a benchmark folder's marker (:data:`radiomix.outputs.MARKER`).
BENCHMARK_KIND = "benchmark"
TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet")
#: The status of a (table, method) result: ok, refused (before any fit, one line), error (during a fit),
#: timeout (the per-table time limit passed; the worker was stopped).
STATUSES = ("ok", "refused", "error", "timeout")


@dataclass(frozen=True)
class BenchmarkPlan:
    """How each table is split and read: roles (``target``, ``id``, ``groups``, ``batch`` column names), the outer
    folds (``outer`` kind, ``n_splits`` x ``n_repeats``, ``random_state``) and the per-(table, method)
    ``time_limit`` in seconds (None: none)."""

    target: str = "Target"
    id: str | None = "ID"
    groups: str | None = None
    batch: str | None = None
    outer: str = "stratified"
    n_splits: int = 5
    n_repeats: int = 2
    random_state: int = 0
    time_limit: float | None = 1800.0

    def roles(self) -> dict:
        return {"target": self.target, "id": self.id, "groups": self.groups, "batch": self.batch}


def _table_name(path: Path) -> str:
    name = path.name
    for suffix in sorted(TABLE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def discover_tables(paths) -> list[tuple[str, Path]]:
    """``(name, path)`` of every table in ``paths`` (files, or folders whose CSV/TSV/Parquet files are taken in
    name order); names are the file names without suffix and must be unique."""
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.name.lower().endswith(TABLE_SUFFIXES))
            if not found:
                raise ValueError(f"folder {p} holds no table ({', '.join(TABLE_SUFFIXES)})")
            out += [(_table_name(q), q) for q in found]
        elif p.is_file():
            out.append((_table_name(p), p))
        else:
            raise ValueError(f"table {p} not found")
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"table names must be unique; repeated: {dup}")
    return out


def load_table(path, plan: BenchmarkPlan) -> tuple[pd.DataFrame, np.ndarray, list]:
    """The table (rows without an outcome left out, said), its 0/1 outcome (positive: 1/True when present, else
    the second value in sorted order, as ``radiomix train``) and the notes."""
    from ..io import read_table

    table = read_table(path) if not isinstance(path, pd.DataFrame) else path
    name = getattr(path, "name", "table")
    for role, col in plan.roles().items():
        if col is not None and col not in table.columns:
            from ..study import column_hint

            raise ValueError(f"{name}: no {role} column {col!r}; {column_hint(col, table.columns)}")
    notes = []
    missing = table[plan.target].isna()
    if missing.any():
        notes.append(f"{int(missing.sum())} row(s) without a value of {plan.target!r} left out")
        table = table.loc[~missing].reset_index(drop=True)
    values = sorted(pd.unique(table[plan.target]), key=str)
    if len(values) != 2:
        raise ValueError(f"{name}: the benchmark scores binary outcomes; {plan.target!r} has {len(values)} "
                         f"value(s): {values[:10]}")
    positive = next((v for v in values if v is True or (not isinstance(v, str) and v == 1)), values[1])
    y = (table[plan.target] == positive).to_numpy().astype(int)
    return table, y, notes


def plan_folds(table: pd.DataFrame, y: np.ndarray, plan: BenchmarkPlan):
    """The outer folds every method of a table is fitted on (:func:`radiomix.model_selection.outer_plan`: grouped
    when the plan names a groups column, leave-site-out with ``outer='leave_site_out'``)."""
    from ..model_selection.splits import outer_plan

    groups = table[plan.groups].astype(str).to_numpy() if plan.groups else None
    sites = table[plan.batch].astype(str).to_numpy() if plan.batch else None
    split, _ = outer_plan(plan.outer, plan.n_splits, plan.n_repeats, plan.random_state, groups=groups,
                          groups_name=plan.groups)
    return split.folds(y, groups=groups, sites=sites)


def folds_key(folds) -> str:
    h = hashlib.sha256()
    for f in folds:
        h.update(f"{f.repeat}:{f.fold}:{f.seed}:".encode())
        h.update(np.asarray(f.test, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------------------ workers
def _watch_parent(parent: int) -> None:
    """End this worker when the benchmark process that started it is gone (killed): no orphan keeps computing."""
    import threading

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(3)
    threading.Thread(target=watch, daemon=True).start()


def compute_pair(task: dict) -> dict:
    """One (table, method): its result dict (ok, refused, error or timeout), whatever happened."""
    t0 = time.monotonic()
    result = {k: task[k] for k in ("table", "method", "kind", "key")}
    plan = BenchmarkPlan(**task["plan"])
    try:
        table, y, notes = load_table(Path(task["path"]), plan)
        folds = plan_folds(table, y, plan)
        deadline = None if plan.time_limit is None else t0 + float(plan.time_limit)
        out = run_method(task["method_obj"], table, y, folds, roles=plan.roles(), deadline=deadline)
        result.update(status="ok", message="", notes=notes + out["notes"], warnings=out["warnings"],
                      folds=out["folds"])
    except TimeoutError as err:
        result.update(status="timeout", message=str(err), folds=[])
    except Refused as err:
        result.update(status="refused", message=str(err), folds=[])
    except Exception as err:  # any failure inside a fit is recorded, not raised: the other pairs go on
        result.update(status="error", message=error_line(err), folds=[])
    result["seconds"] = round(time.monotonic() - t0, 2)
    return result


def _worker(task: dict, parent: int) -> None:
    """One (table, method) in its own process; the result file is written atomically at the end."""
    _watch_parent(parent)
    limit_threads()
    from ..io import atomic_write_text

    atomic_write_text(Path(task["result_path"]), json.dumps(compute_pair(task), default=str))


def _on_dask(task: dict) -> dict:
    limit_threads()
    return compute_pair(task)


def run_tasks_dask(tasks: list[dict], client, *, progress: bool = True, on_result=None) -> None:
    """Run ``tasks`` on a Dask cluster (a ``distributed.Client`` or a scheduler address): each pair is one Dask
    task; results come back to this process, which writes the result files (workers need not share its disk,
    only read the tables). The time limit is checked by the pair itself after each outer fold."""
    from distributed import Client, as_completed

    from ..io import atomic_write_text

    own = isinstance(client, str)
    client = Client(client) if own else client
    bar = _Progress(len(tasks), progress)
    try:
        futures = {client.submit(_on_dask, t, pure=False, key=f"radiomix-benchmark-{t['table']}-{t['method']}-"
                                 f"{os.getpid()}"): t for t in tasks}
        for fut in as_completed(futures):
            task = futures[fut]
            result = fut.result()
            atomic_write_text(Path(task["result_path"]), json.dumps(result, default=str))
            bar.done(task, result)
            if on_result is not None:
                on_result(task, result)
    finally:
        bar.close()
        if own:
            client.close()


def run_tasks(tasks: list[dict], *, n_jobs: int = 1, progress: bool = True, time_limit: float | None = None,
              on_result=None) -> None:
    """Run ``tasks`` (dicts made by :func:`radiomix.benchmark.run_benchmark`) in up to ``n_jobs`` worker processes;
    a worker past ``time_limit`` seconds (plus 30 s of grace for its start) is stopped and recorded as a
    timeout; a worker that dies without a result is recorded as an error. ``on_result(task, result)`` is called
    as each finishes."""
    import multiprocessing as mp

    from ..io import atomic_write_text

    ctx = mp.get_context("spawn")
    pending = list(tasks)
    running: dict = {}
    bar = _Progress(len(tasks), progress)
    try:
        while pending or running:
            while pending and len(running) < max(1, n_jobs):
                task = pending.pop(0)
                proc = ctx.Process(target=_worker, args=(task, os.getpid()), daemon=True)
                proc.start()
                running[proc] = (task, time.monotonic())
            time.sleep(0.1)
            for proc, (task, started) in list(running.items()):
                late = time_limit is not None and time.monotonic() - started > time_limit + 30
                if proc.is_alive() and not late:
                    continue
                path = Path(task["result_path"])
                if late and proc.is_alive():
                    proc.terminate()
                    proc.join(5)
                    if proc.is_alive():
                        proc.kill()
                    proc.join()
                    result = {**{k: task[k] for k in ("table", "method", "kind", "key")}, "status": "timeout",
                              "message": f"stopped after the time limit of {time_limit:g} s", "folds": [],
                              "seconds": round(time.monotonic() - started, 2)}
                    atomic_write_text(path, json.dumps(result))
                else:
                    proc.join()
                    if not path.is_file():
                        result = {**{k: task[k] for k in ("table", "method", "kind", "key")}, "status": "error",
                                  "message": f"the worker ended without a result (exit code {proc.exitcode})",
                                  "folds": [], "seconds": round(time.monotonic() - started, 2)}
                        atomic_write_text(path, json.dumps(result))
                del running[proc]
                result = json.loads(path.read_text())
                bar.done(task, result)
                if on_result is not None:
                    on_result(task, result)
    finally:
        for proc in running:
            if proc.is_alive():
                proc.terminate()
        for proc in running:
            proc.join(5)
        bar.close()


class _Progress:
    """A rich bar on a terminal; otherwise one line per finished (table, method) on stderr."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.n = total, enabled and total > 0, 0
        self.bar = None
        if self.enabled and sys.stderr.isatty():
            from rich.progress import Progress

            self.bar = Progress(transient=False)
            self.bar.start()
            self.task = self.bar.add_task(f"benchmark: {total} table x method pair(s)", total=total)

    def done(self, task: dict, result: dict) -> None:
        self.n += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.advance(self.task)
            return
        aucs = [f["auc"] for f in result.get("folds", [])]
        what = (f"AUC {np.mean(aucs):.3f} over {len(aucs)} folds" if result["status"] == "ok"
                else f"{result['status']}: {result.get('message', '')[:160]}")
        print(f"benchmark {self.n}/{self.total}: {task['table']} x {task['method']}: {what} "
              f"({result.get('seconds', 0):.1f} s)", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
