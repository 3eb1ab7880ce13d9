"""Engines that run tasks: in this process, in local worker processes (loky), or on a Dask cluster.

Every engine calls ``fn(task)`` (which never raises) and hands each result to ``on_result`` in the calling
process as soon as it arrives, so the caller can write it to the cache before the next one finishes.
Tasks are started largest first so that one big case does not finish the run alone, and a worker holds
one case at a time.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Sequence

__all__ = ["run_tasks", "effective_workers"]


def effective_workers(n_jobs: int | None) -> int:
    """``n_jobs`` as a worker count: -1 = all cores (of this process's CPU affinity), -2 = all but one."""
    try:
        n_cpu = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n_cpu = os.cpu_count() or 1
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, n_cpu + 1 + n_jobs)
    return int(n_jobs)


class _Progress:
    """A rich progress bar with done / failed / cached counts and an ETA; silent when disabled."""

    def __init__(self, total: int, enabled: bool, title: str, cached: int = 0):
        self.total, self.enabled = total, enabled
        self.done, self.failed, self.cached = cached, 0, cached
        self._bar = None
        if enabled and total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn(f"[bold]{title}[/]"), BarColumn(), MofNCompleteColumn(),
                TextColumn("failed: {task.fields[failed]}"), TextColumn("cached: {task.fields[cached]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(title, total=total, completed=cached, failed=0, cached=cached)

    def advance(self, failed: bool):
        self.done += 1
        self.failed += bool(failed)
        if self._bar is not None:
            self._bar.update(self._task, advance=1, failed=self.failed)

    def close(self):
        if self._bar is not None:
            self._bar.stop()


def _crash_result(task, message: str) -> dict:
    return {"case": task.case, "modality": task.modality, "key": task.key, "features": {}, "diagnostics": [],
            "warnings": [], "seconds": 0.0,
            "errors": [{"id": task.case, "modality": task.modality, "region": "*", "stage": "worker",
                        "error": "WorkerCrashed", "message": message, "traceback": ""}]}


def run_tasks(tasks: Sequence, fn: Callable, on_result: Callable, *, n_jobs: int = 1, scheduler=None,
              progress: bool = True, title: str = "extracting", cached: int = 0) -> dict:
    """Run ``fn`` over ``tasks`` (largest ``task.size`` first); returns engine facts for provenance."""
    tasks = sorted(tasks, key=lambda t: -getattr(t, "size", 0))
    bar = _Progress(len(tasks) + cached, progress, title, cached=cached)

    def deliver(task, res):
        on_result(task, res)
        if isinstance(res, dict):
            bar.advance(bool(res.get("errors")))
        else:  # QA rows
            bar.advance(any(r.get("status") == "error" for r in res))

    t0 = time.perf_counter()
    try:
        if scheduler is not None:
            info = _run_dask(tasks, fn, deliver, scheduler)
        else:
            workers = min(effective_workers(n_jobs), max(1, len(tasks)))
            if workers == 1 or len(tasks) <= 1:
                for t in tasks:
                    deliver(t, fn(t))
                info = {"engine": "in-process", "workers": 1}
            else:
                info = _run_local(tasks, fn, deliver, workers)
    finally:
        bar.close()
    info["wall_seconds"] = round(time.perf_counter() - t0, 3)
    return info


def _run_local(tasks, fn, deliver, workers: int) -> dict:
    """Local worker processes (loky). A worker that dies (out of memory, segfault) fails only its case:
    the cases that were running beside it are re-run one at a time to find the culprit."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    from joblib.executor import get_memmapping_executor
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    def get_executor():
        # joblib's own reusable loky pool: shared with joblib.Parallel elsewhere in the process (a second,
        # separate loky singleton would break it) and kept warm between calls.
        return get_memmapping_executor(workers, timeout=120)

    for t in tasks:
        t.threads = 1  # one SimpleITK thread per worker: the workers already use the cores
    queue = deque(tasks)
    suspects: deque = deque()  # tasks that were running when a worker died: each re-run alone
    in_flight: dict = {}
    crashes = 0
    executor = get_executor()
    while queue or suspects or in_flight:
        limit = 1 if suspects or any(s for _, s in in_flight.values()) else workers + 1
        while len(in_flight) < limit and (suspects or queue):
            is_suspect = bool(suspects)
            t = suspects.popleft() if is_suspect else queue.popleft()
            in_flight[executor.submit(fn, t)] = (t, is_suspect)
        done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
        for fut in done:
            t, was_suspect = in_flight.pop(fut)
            try:
                res = fut.result()
            except (BrokenProcessPool, TerminatedWorkerError) as err:
                crashes += 1
                if was_suspect:
                    deliver(t, _crash_result(t, f"the worker process died while extracting this case "
                                                f"({type(err).__name__}: out of memory? a crash in a C library?)"))
                else:
                    suspects.append(t)
                for other, (ot, os_) in list(in_flight.items()):  # the pool is gone: they died too
                    in_flight.pop(other)
                    if os_:
                        deliver(ot, _crash_result(ot, "the worker process died while extracting this case"))
                    else:
                        suspects.append(ot)
                executor = get_executor()
                break
            deliver(t, res)
    return {"engine": "local processes (loky)", "workers": workers, "worker_crashes": crashes}


def _run_dask(tasks, fn, deliver, scheduler) -> dict:
    """Dask distributed: ``scheduler`` is a ``distributed.Client`` or a scheduler address."""
    try:
        from distributed import Client, as_completed
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("scheduler= needs Dask: pip install 'radiomix[dask]' (dask[distributed])") from err

    own = not isinstance(scheduler, Client)
    client = Client(scheduler) if own else scheduler
    try:
        for t in tasks:
            t.threads = 1
        futures = {}
        for t in tasks:
            f = client.submit(fn, t, pure=False, priority=int(getattr(t, "size", 0)) // (1 << 20),
                              key=f"radiomix-{t.key[:16] or 'task'}-{len(futures)}")
            futures[f] = t
        n_workers = len(client.scheduler_info().get("workers", {}))
        for f in as_completed(list(futures)):
            t = futures.pop(f)
            try:
                res = f.result()
            except Exception as err:  # KilledWorker, lost connection...
                res = _crash_result(t, f"Dask task failed: {type(err).__name__}: {err}")
            deliver(t, res)
            f.release()
        return {"engine": "dask", "scheduler": str(client.scheduler.address), "workers": n_workers}
    finally:
        if own:
            client.close()


def run_cached(tasks: Sequence, fn: Callable, cache_dir, *, key_of: Callable, prepare: Callable | None = None,
               n_jobs: int = 1, scheduler=None, progress: bool = True, title: str = "extracting"):
    """Take what the result cache in ``cache_dir`` (if any) holds for ``tasks`` (by ``task.key``; marked
    ``cached``), run the others through :func:`run_tasks` and cache their error-free results. ``key_of(task)``
    names a result; ``prepare(task, result)`` completes a fresh result before it is cached. Returns ``(results
    by key_of, engine facts, number taken from the cache)``."""
    from .cache import ResultCache

    cache = ResultCache(cache_dir) if cache_dir is not None else None
    results: dict = {}
    todo = []
    for t in tasks:
        hit = cache.get(t.key) if (cache is not None and t.key) else None
        if hit is not None:
            hit["cached"] = True
            results[key_of(t)] = hit
        else:
            todo.append(t)
    n_cached = len(tasks) - len(todo)

    def on_result(task, res):
        if prepare is not None:
            prepare(task, res)
        res["cached"] = False
        if cache is not None and task.key and not res["errors"]:
            cache.put(task.key, res)
        results[key_of(task)] = res

    engine = run_tasks(todo, fn, on_result, n_jobs=n_jobs, scheduler=scheduler, progress=progress, title=title,
                       cached=n_cached)
    return results, engine, n_cached
